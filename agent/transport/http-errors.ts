/**
 * What went wrong with an HTTP(S) request, as a kind the caller decides on (never by message text): the error
 * class, its classification from a status or a socket/TLS error, which kinds are retried, and which one is
 * reported when every URL failed.
 */
import http from 'node:http';
import { redactUrl as redact } from '../util/url';
import { parseContentRange } from './validators';

export type HttpErrorKind = 'auth' | 'not-found' | 'range' | 'server' | 'network' | 'unresolved' | 'tls' | 'timeout' | 'changed' | 'protocol';

export class HttpError extends Error {
  override name = 'HttpError';
  constructor(
    readonly kind: HttpErrorKind,
    message: string,
    readonly url: string,
    readonly status?: number,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** Worth another attempt on the same URL. */
export const RETRY_KINDS = new Set<HttpErrorKind>(['server', 'network', 'timeout']);
/** Which error to report when every URL failed: the one that tells the operator most about what to fix. */
const REPORT_PRIORITY: HttpErrorKind[] = ['changed', 'auth', 'tls', 'range', 'protocol', 'not-found', 'unresolved', 'timeout', 'server', 'network'];

/**
 * The resolver's "this name does not exist" (getaddrinfo's answer, as node reports it): not worth a retry, unlike
 * EAI_AGAIN (the name server did not answer), which stays 'network' and is retried.
 */
const NO_SUCH_NAME = new Set(['ENOTFOUND', 'EAI_NONAME', 'ENODATA', 'EAI_NODATA']);

// OpenSSL verification results (node sets err.code to these) and node's own TLS error codes.
const TLS_CODE = /^(ERR_TLS_|ERR_SSL_|ERR_OSSL_|CERT_|UNABLE_TO_|SELF_SIGNED_|DEPTH_ZERO_|HOSTNAME_MISMATCH|INVALID_PURPOSE|INVALID_CA|PATH_LENGTH_EXCEEDED)/;

function statusText(status: number): string {
  return `HTTP ${status}${http.STATUS_CODES[status] ? ` ${http.STATUS_CODES[status]}` : ''}`;
}

export function statusError(res: http.IncomingMessage, url: string): HttpError {
  const st = res.statusCode ?? 0;
  const u = redact(url);
  if (st === 401 || st === 403) {
    const schemes = ([] as string[]).concat(res.headers['www-authenticate'] ?? []).map((s) => s.split(/\s/)[0]).filter(Boolean);
    return new HttpError(
      'auth',
      `${u}: ${statusText(st)}: the distribution point wants credentials${schemes.length ? ` (WWW-Authenticate: ${schemes.join(', ')})` : ''}; ` +
        'osdcast does not support Windows-integrated authentication (NTLM/Kerberos): allow anonymous access to this content on the DP or use another URL',
      url,
      st,
    );
  }
  if (st === 404 || st === 410) return new HttpError('not-found', `${u}: ${statusText(st)}: the content is not on this server`, url, st);
  if (st === 416) {
    const cr = parseContentRange(res.headers['content-range']);
    const size = cr && 'unsatisfied' in cr ? ` (the server has ${cr.unsatisfied} bytes)` : '';
    return new HttpError('range', `${u}: ${statusText(st)}${size}`, url, st);
  }
  if (st >= 500) return new HttpError('server', `${u}: ${statusText(st)}`, url, st);
  return new HttpError('protocol', `${u}: unexpected ${statusText(st)}`, url, st);
}

/**
 * Where a request was when it failed: `'body'` once the response headers were in and the body was being read (the
 * caller knows; the error's text is never consulted).
 */
export type RequestPhase = 'request' | 'body';

export function classify(e: unknown, url: string, phase: RequestPhase = 'request'): HttpError {
  if (e instanceof HttpError) return e;
  const err = e as NodeJS.ErrnoException;
  const code = err?.code ?? '';
  const u = redact(url);
  // EPROTO on an https: URL is the TLS layer (e.g. a plain-HTTP port answering the handshake); decided by the
  // URL, never by the text of the error.
  if (TLS_CODE.test(code) || (code === 'EPROTO' && url.startsWith('https:')))
    return new HttpError(
      'tls',
      `${u}: TLS: ${err.message}${code && !err.message.includes(code) ? ` (${code})` : ''}; trust the DP's issuing CA with --ca <file>, or (only if you accept the risk) --insecure`,
      url,
      undefined,
      { cause: e },
    );
  if (NO_SUCH_NAME.has(code)) {
    let host = '';
    try {
      host = new URL(url).hostname;
    } catch {
      /* the URL was checked when the option was read; no host to name then */
    }
    return new HttpError('unresolved', `${u}: cannot resolve ${host || 'the host'}: ${code === 'ENODATA' || code === 'EAI_NODATA' ? 'no IPv4 address for this name' : 'no such host'} (${code})`, url, undefined, { cause: e });
  }
  if (code === 'ECONNRESET' && phase === 'body') return new HttpError('network', `${u}: connection reset during the body`, url, undefined, { cause: e });
  return new HttpError('network', `${u}: ${err?.message ?? String(e)}${code && !String(err?.message).includes(code) ? ` (${code})` : ''}`, url, undefined, { cause: e });
}

/** One error for all URLs' failures: the most telling kind, every message. */
export function combine(failures: HttpError[]): HttpError {
  if (failures.length === 1) return failures[0]!;
  const best = [...failures].sort((a, b) => REPORT_PRIORITY.indexOf(a.kind) - REPORT_PRIORITY.indexOf(b.kind))[0]!;
  const all = failures.map((f) => f.message).join('; ');
  return new HttpError(best.kind, `all ${failures.length} URLs failed: ${all}`, best.url, best.status, { cause: best });
}
