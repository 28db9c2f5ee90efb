/**
 * Independent peer check: impacket (Debian python3-impacket, run with /usr/bin/python3) recomputes what our client
 * sent and talks to our server. Skips with a printed reason when impacket is missing; fails under OSDCAST_STRICT=1.
 *  - our client -> impacket: NTProofStr, session base key, exported session key and MIC recomputed from the
 *    password; impacket unseals our client's PDU and checks its signature; our client unseals impacket's
 *    server-sealed PDU.
 *  - impacket's client -> our server: impacket's AUTHENTICATE is accepted (and refused with a wrong password),
 *    and our server unseals impacket's client-sealed PDU.
 *  - SPNEGO (auth type 9): impacket's parser reads our negTokenInit; impacket's SPNEGO client (negTokenInit, then
 *    negTokenResp without mechListMIC, as its DCE/RPC client sends) authenticates against our SPNEGO server.
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Credentials } from '../../../core/ntlm/auth';
import { NtlmClientProvider, NtlmServerProvider, SpnegoClientProvider, SpnegoServerProvider } from '../../../core/ntlm/providers';
import { NegState, OID_NTLMSSP, decodeNegTokenResp } from '../../../core/ntlm/spnego';
import { canRun } from '../../support/env';

const PYTHON = '/usr/bin/python3';
const SCRIPT = join(__dirname, 'impacket_peer.py');
const probe = spawnSync(PYTHON, ['-c', 'import impacket.ntlm, Cryptodome.Cipher.ARC4'], { encoding: 'utf8' });
const available = probe.status === 0;

function peer(mode: string, input?: object): Record<string, unknown> {
  const r = spawnSync(PYTHON, [SCRIPT, mode], { input: input ? JSON.stringify(input) : '', encoding: 'utf8', timeout: 30_000 });
  if (r.status !== 0) throw new Error(`impacket peer ${mode} failed: ${r.stderr}`);
  return JSON.parse(r.stdout) as Record<string, unknown>;
}

const USER = 'svc-osd';
const DOMAIN = 'CONTOSO';
const PASSWORD = 'Pässw0rd-for-impacket';
const NOW = Date.UTC(2026, 2, 1, 8, 30);
const serverOpts = (password = PASSWORD) => ({
  serverChallenge: Buffer.from('0011223344556677', 'hex'),
  nowMs: NOW,
  computerName: 'DP01',
  domainName: DOMAIN,
  accounts: [new Credentials({ domain: DOMAIN, user: USER, password })],
  allowAnonymous: false,
});

function stubPdu(stub: string): Buffer {
  return Buffer.concat([Buffer.alloc(16, 0x05), Buffer.from(stub), Buffer.from([10, 6, 0, 0, 0, 0, 0, 0])]);
}

describe('impacket as the independent peer', () => {
  it('impacket recomputes our AUTHENTICATE (NTProofStr, keys, MIC) and both sides unseal each other', () => {
    if (!canRun(available, `impacket not importable by ${PYTHON} (Debian package python3-impacket): ${probe.stderr?.trim()}`)) return;
    const exported = Buffer.from('8f1e2d3c4b5a69788796a5b4c3d2e1f0', 'hex');
    const client = new NtlmClientProvider({
      credentials: new Credentials({ domain: DOMAIN, user: USER, password: PASSWORD }),
      clientChallenge: Buffer.from('c1c2c3c4c5c6c7c8', 'hex'),
      exportedSessionKey: exported,
      nowMs: NOW,
    });
    const server = new NtlmServerProvider(serverOpts());
    const negotiate = client.initialToken();
    const s1 = server.handleClientToken(negotiate);
    if (!s1.ok || !s1.token) throw new Error('challenge');
    const c1 = client.handleServerToken(s1.token);
    if (!c1.ok || !c1.token) throw new Error('authenticate');
    const stub = 'osdcast request stub';
    const p = stubPdu(stub);
    const start = 16;
    const end = 16 + stub.length;
    const sig = client.seal(p, start, end, p.length);

    const r = peer('verify', {
      user: USER,
      password: PASSWORD,
      domain: DOMAIN,
      negotiate: negotiate.toString('hex'),
      challenge: s1.token.toString('hex'),
      authenticate: c1.token.toString('hex'),
      clientPdu: p.toString('hex'),
      clientSig: sig.toString('hex'),
      start,
      end,
    });
    expect(r.user).toBe(USER);
    expect(r.domain).toBe(DOMAIN);
    expect(r.ntProofOk).toBe(true);
    expect(r.exportedSessionKey).toBe(exported.toString('hex'));
    expect(r.micOk).toBe(true);
    expect(Buffer.from(r.clientStub as string, 'hex').toString()).toBe(stub);
    expect(r.clientSigOk).toBe(true);

    const back = Buffer.from(r.serverPdu as string, 'hex');
    const [bs, be] = [r.serverStart as number, r.serverEnd as number];
    expect(client.unseal(back, bs, be, back.length, Buffer.from(r.serverSig as string, 'hex'))).toBeUndefined();
    expect(back.subarray(bs, be).toString()).toBe('sealed by impacket as the server');
  });

  it("our server accepts impacket's AUTHENTICATE, derives its exported key and unseals its PDU; a wrong password fails", () => {
    if (!canRun(available, `impacket not importable by ${PYTHON} (Debian package python3-impacket): ${probe.stderr?.trim()}`)) return;
    for (const password of [PASSWORD, 'wrong-password']) {
      const server = new NtlmServerProvider(serverOpts());
      const t1 = Buffer.from(peer('type1').negotiate as string, 'hex');
      const s1 = server.handleClientToken(t1);
      if (!s1.ok || !s1.token) throw new Error(`challenge: ${!s1.ok ? s1.error.message : ''}`);
      const r = peer('type3', { challenge: s1.token.toString('hex'), user: USER, password, domain: DOMAIN });
      const s2 = server.handleClientToken(Buffer.from(r.authenticate as string, 'hex'));
      if (password !== PASSWORD) {
        expect(!s2.ok && s2.error.kind).toBe('rejected');
        continue;
      }
      expect(s2.ok && s2.established).toBe(true);
      expect(server.identity).toEqual({ user: USER, domain: DOMAIN, anonymous: false });
      const p = Buffer.from(r.pdu as string, 'hex');
      const [st, en] = [r.start as number, r.end as number];
      expect(server.unseal(p, st, en, p.length, Buffer.from(r.sig as string, 'hex'))).toBeUndefined();
      expect(p.subarray(st, en).toString()).toBe('sealed by impacket as the client');
    }
  });

  it('SPNEGO: impacket reads our negTokenInit, and its SPNEGO client authenticates against our SPNEGO server', () => {
    if (!canRun(available, `impacket not importable by ${PYTHON} (Debian package python3-impacket): ${probe.stderr?.trim()}`)) return;
    const ours = new SpnegoClientProvider({ clientChallenge: Buffer.alloc(8, 7), exportedSessionKey: Buffer.alloc(16, 8), nowMs: NOW });
    const init = ours.initialToken();
    const parsed = peer('spnego-parse', { token: init.toString('hex') });
    expect(parsed.mechTypes).toEqual([OID_NTLMSSP.toString('hex')]);
    expect((parsed.mechToken as string).slice(0, 16)).toBe(Buffer.from('NTLMSSP\0', 'latin1').toString('hex'));

    const server = new SpnegoServerProvider(serverOpts());
    const s1 = server.handleClientToken(Buffer.from(peer('spnego-init').token as string, 'hex'));
    if (!s1.ok || !s1.token) throw new Error(`negTokenInit: ${!s1.ok ? s1.error.message : ''}`);
    const r = peer('spnego-type3', { token: s1.token.toString('hex'), user: USER, password: PASSWORD, domain: DOMAIN });
    expect(r.negState).toBe('01'); // accept-incomplete, as impacket read it
    expect(r.supportedMech).toBe(OID_NTLMSSP.toString('hex'));
    const s2 = server.handleClientToken(Buffer.from(r.token as string, 'hex'));
    if (!s2.ok || !s2.token) throw new Error(`negTokenResp: ${!s2.ok ? s2.error.message : ''}`);
    expect(s2.established).toBe(true);
    expect(server.identity?.user).toBe(USER);
    const fin = decodeNegTokenResp(s2.token);
    expect(fin.ok && fin.value).toEqual({ negState: NegState.ACCEPT_COMPLETED }); // no client MIC, so none back
  });
});
