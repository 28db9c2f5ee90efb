import type http from 'node:http';
import { describe, expect, it } from 'vitest';
import { HttpError, HttpErrorKind, RETRY_KINDS, classify, combine, statusError } from '../../../agent/transport/http-errors';

const URL_ = 'http://user:secret@dp01.example/SMS_DP_SMSPKG$/P0100023/install.wim';
const SHOWN = 'http://***@dp01.example/SMS_DP_SMSPKG$/P0100023/install.wim';

/** The two fields statusError reads of a response. */
const res = (statusCode: number, headers: http.IncomingHttpHeaders = {}) => ({ statusCode, headers }) as http.IncomingMessage;
const errno = (message: string, code?: string) => Object.assign(new Error(message), code ? { code } : {});

describe('statusError', () => {
  it('401/403: auth, naming the schemes the server offered and what to do, never the password', () => {
    const e = statusError(res(401, { 'www-authenticate': ['Negotiate', 'NTLM realm="x"'] as unknown as string }), URL_);
    expect(e).toBeInstanceOf(HttpError);
    expect(e).toMatchObject({ kind: 'auth', status: 401, url: URL_ });
    expect(e.message).toBe(
      `${SHOWN}: HTTP 401 Unauthorized: the distribution point wants credentials (WWW-Authenticate: Negotiate, NTLM); ` +
        'osdcast does not support Windows-integrated authentication (NTLM/Kerberos): allow anonymous access to this content on the DP or use another URL',
    );
    const f = statusError(res(403, { 'www-authenticate': 'Basic realm="dp"' }), URL_);
    expect(f).toMatchObject({ kind: 'auth', status: 403 });
    expect(f.message).toMatch(/^http:\/\/\*\*\*@dp01\.example\/\S+: HTTP 403 Forbidden: the distribution point wants credentials \(WWW-Authenticate: Basic\);/);
    expect(statusError(res(403), URL_).message).toMatch(/wants credentials; osdcast/);
    for (const x of [e, f]) expect(x.message).not.toMatch(/secret|user:/);
  });

  it('404/410: not-found', () => {
    expect(statusError(res(404), URL_)).toMatchObject({ kind: 'not-found', status: 404, message: `${SHOWN}: HTTP 404 Not Found: the content is not on this server` });
    expect(statusError(res(410), URL_)).toMatchObject({ kind: 'not-found', status: 410, message: `${SHOWN}: HTTP 410 Gone: the content is not on this server` });
  });

  it('416: range, with the size the server reports when it says', () => {
    expect(statusError(res(416, { 'content-range': 'bytes */1000' }), URL_)).toMatchObject({
      kind: 'range',
      status: 416,
      message: `${SHOWN}: HTTP 416 Range Not Satisfiable (the server has 1000 bytes)`,
    });
    expect(statusError(res(416), URL_).message).toBe(`${SHOWN}: HTTP 416 Range Not Satisfiable`);
    expect(statusError(res(416, { 'content-range': 'bytes 0-1/2' }), URL_).message).toBe(`${SHOWN}: HTTP 416 Range Not Satisfiable`);
  });

  it('5xx: server (retried); anything else: protocol; a status without a reason phrase is shown bare', () => {
    expect(statusError(res(503), URL_)).toMatchObject({ kind: 'server', status: 503, message: `${SHOWN}: HTTP 503 Service Unavailable` });
    expect(statusError(res(599), URL_)).toMatchObject({ kind: 'server', message: `${SHOWN}: HTTP 599` });
    expect(statusError(res(302), URL_)).toMatchObject({ kind: 'protocol', status: 302, message: `${SHOWN}: unexpected HTTP 302 Found` });
    expect(statusError(res(418), URL_)).toMatchObject({ kind: 'protocol', message: `${SHOWN}: unexpected HTTP 418 I'm a Teapot` });
    expect(statusError({ headers: {} } as http.IncomingMessage, URL_)).toMatchObject({ kind: 'protocol', status: 0, message: `${SHOWN}: unexpected HTTP 0` });
  });
});

describe('classify', () => {
  it('an HttpError passes through unchanged', () => {
    const e = new HttpError('changed', 'x', URL_);
    expect(classify(e, URL_)).toBe(e);
    expect(classify(e, URL_, 'body')).toBe(e);
  });

  it("TLS: decided by the error's code (OpenSSL and node codes), with the remedy; the code added when the text lacks it", () => {
    const cases: [string, string][] = [
      ['UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'unable to verify the first certificate'],
      ['SELF_SIGNED_CERT_IN_CHAIN', 'self-signed certificate in certificate chain'],
      ['DEPTH_ZERO_SELF_SIGNED_CERT', 'self-signed certificate'],
      ['CERT_HAS_EXPIRED', 'certificate has expired'],
      ['ERR_TLS_CERT_ALTNAME_INVALID', "Hostname/IP does not match certificate's altnames"],
      ['ERR_SSL_WRONG_VERSION_NUMBER', 'wrong version number'],
      ['ERR_OSSL_EVP_UNSUPPORTED', 'unsupported'],
      ['HOSTNAME_MISMATCH', 'mismatch'],
    ];
    for (const [code, msg] of cases) {
      const e = classify(errno(msg, code), URL_);
      expect(e.kind, code).toBe('tls');
      expect(e.message, code).toBe(`${SHOWN}: TLS: ${msg} (${code}); trust the DP's issuing CA with --ca <file>, or (only if you accept the risk) --insecure`);
      expect(e.cause, code).toBeInstanceOf(Error);
    }
    expect(classify(errno('CERT_REVOKED: revoked', 'CERT_REVOKED'), URL_).message).toMatch(/TLS: CERT_REVOKED: revoked; trust/);
  });

  it('EPROTO is TLS on an https: URL only (decided by the URL, not the text)', () => {
    expect(classify(errno('write EPROTO 1234:error:0A00010B:SSL routines', 'EPROTO'), 'https://dp01.example/x').kind).toBe('tls');
    expect(classify(errno('write EPROTO 1234:error:0A00010B:SSL routines', 'EPROTO'), 'http://dp01.example/x').kind).toBe('network');
    // TLS-looking text without a TLS code is not TLS
    expect(classify(errno('SSL routines: certificate verify failed', 'ECONNREFUSED'), 'https://dp01.example/x').kind).toBe('network');
  });

  it('a reset while the body was read (the caller says so) is worded as such, whatever the text', () => {
    for (const text of ['aborted', 'read ECONNRESET', 'socket hang up']) {
      const e = classify(errno(text, 'ECONNRESET'), URL_, 'body');
      expect(e, text).toMatchObject({ kind: 'network', message: `${SHOWN}: connection reset during the body` });
      expect(e.cause, text).toBeInstanceOf(Error);
    }
  });

  it("a reset before the body, even one whose text is 'aborted', keeps node's text and code", () => {
    expect(classify(errno('aborted', 'ECONNRESET'), URL_)).toMatchObject({ kind: 'network', message: `${SHOWN}: aborted (ECONNRESET)` });
    expect(classify(errno('socket hang up', 'ECONNRESET'), URL_, 'request').message).toBe(`${SHOWN}: socket hang up (ECONNRESET)`);
  });

  it('other errors: network, the code appended unless the text has it; non-errors are shown as text', () => {
    expect(classify(errno('connect ECONNREFUSED 127.0.0.1:1', 'ECONNREFUSED'), URL_)).toMatchObject({ kind: 'network', message: `${SHOWN}: connect ECONNREFUSED 127.0.0.1:1` });
    expect(classify(errno('getaddrinfo EAI_AGAIN dp01', 'EAI_AGAIN'), URL_)).toMatchObject({ kind: 'network', message: `${SHOWN}: getaddrinfo EAI_AGAIN dp01` });
    expect(classify(errno('plain'), URL_).message).toBe(`${SHOWN}: plain`);
    expect(classify('a string', URL_)).toMatchObject({ kind: 'network', message: `${SHOWN}: a string` });
    expect(classify(undefined, URL_)).toMatchObject({ kind: 'network', message: `${SHOWN}: undefined` });
  });
});

describe('a name that does not resolve', () => {
  it('is its own kind, naming the host, for every "no such name" code (not EAI_AGAIN: that one is retried)', () => {
    for (const [code, why] of [['ENOTFOUND', 'no such host'], ['EAI_NONAME', 'no such host'], ['ENODATA', 'no IPv4 address for this name'], ['EAI_NODATA', 'no IPv4 address for this name']] as const) {
      const e = classify(errno(`getaddrinfo ${code} dp01.example`, code), 'http://dp01.example:8080/SMS_DP_SMSPKG$/PKG1/x.wim');
      expect(e, code).toMatchObject({ kind: 'unresolved', message: `http://dp01.example:8080/SMS_DP_SMSPKG$/PKG1/x.wim: cannot resolve dp01.example: ${why} (${code})` });
    }
    expect(RETRY_KINDS.has('unresolved')).toBe(false);
  });
});

describe('kinds', () => {
  it('only server, network and timeout are retried on the same URL', () => {
    const all: HttpErrorKind[] = ['auth', 'not-found', 'range', 'server', 'network', 'unresolved', 'tls', 'timeout', 'changed', 'protocol'];
    expect(all.filter((k) => RETRY_KINDS.has(k))).toEqual(['server', 'network', 'timeout']);
  });

  it('combine: one failure is itself; several report the most telling kind and every message', () => {
    const net = new HttpError('network', 'a: reset', 'http://a/');
    expect(combine([net])).toBe(net);
    const order: HttpErrorKind[] = ['changed', 'auth', 'tls', 'range', 'protocol', 'not-found', 'unresolved', 'timeout', 'server', 'network'];
    for (let i = 0; i < order.length - 1; i++) {
      const better = new HttpError(order[i]!, `b: ${order[i]}`, 'http://b/', 400 + i);
      const worse = new HttpError(order[i + 1]!, `c: ${order[i + 1]}`, 'http://c/');
      const c = combine([worse, better]);
      expect(c, order[i]).toMatchObject({ kind: order[i], url: 'http://b/', status: 400 + i, message: `all 2 URLs failed: c: ${order[i + 1]}; b: ${order[i]}` });
      expect(c.cause).toBe(better);
    }
  });
});
