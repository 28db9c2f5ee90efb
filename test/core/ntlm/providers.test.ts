/**
 * Both roles against each other, through the SecurityProvider seam: raw NTLMSSP (type 10) and SPNEGO (type 9),
 * with a password and anonymous; wrong passwords, tampered MICs and PDUs; per-direction sequence numbers; and
 * that no password or key reaches JSON, util.inspect or an error message.
 */
import { inspect } from 'node:util';
import { describe, expect, it } from 'vitest';
import { Credentials, NtlmClientOptions, NtlmServerOptions, ntowfv2 } from '../../../core/ntlm/auth';
import { AV_FLAG_MIC, AvId, Flag, MIC_OFFSET, decodeAuthenticate, decodeAvPairs, decodeChallenge, encodeChallenge } from '../../../core/ntlm/messages';
import { NtlmClientProvider, NtlmServerProvider, SpnegoClientProvider, SpnegoServerProvider } from '../../../core/ntlm/providers';
import { NegState, OID_NTLMSSP, decodeNegTokenResp, encodeMechTypeList, encodeNegTokenInit, encodeNegTokenResp } from '../../../core/ntlm/spnego';
import { AuthType, SecurityProvider, ServerSecurityProvider, TokenStep } from '../../../core/rpc/security';

const PASSWORD = 'S3cret-Pässword!';
const NOW = Date.UTC(2026, 0, 15, 12, 0, 0);
const exportedKey = Buffer.alloc(16, 0x42);

function clientOpts(creds?: Credentials): NtlmClientOptions {
  return { credentials: creds, clientChallenge: Buffer.from('0102030405060708', 'hex'), exportedSessionKey: exportedKey, nowMs: NOW, workstation: 'PXE-CLIENT' };
}
function serverOpts(over: Partial<NtlmServerOptions> = {}): NtlmServerOptions {
  return {
    serverChallenge: Buffer.from('a1b2c3d4e5f60718', 'hex'),
    nowMs: NOW,
    computerName: 'DP01',
    domainName: 'CONTOSO',
    dnsComputerName: 'dp01.contoso.test',
    accounts: [new Credentials({ domain: 'CONTOSO', user: 'svc-osd', password: PASSWORD })],
    allowAnonymous: true,
    ...over,
  };
}
const alice = () => new Credentials({ domain: 'CONTOSO', user: 'SVC-OSD', password: PASSWORD });

function okStep(s: TokenStep): { token: Buffer | undefined; established: boolean } {
  if (!s.ok) throw new Error(`${s.error.kind}: ${s.error.message}`);
  return s;
}

/** Runs the exchange as DCE/RPC would: bind, bind_ack, then auth3 (established) or alter_context (not yet). */
function handshake(client: SecurityProvider, server: ServerSecurityProvider): { legs: string[]; last: TokenStep } {
  const legs = ['bind'];
  let step = server.handleClientToken(client.initialToken());
  let toClient = okStep(step).token;
  for (let i = 0; i < 4 && !client.established; i++) {
    const c = client.handleServerToken(toClient!);
    if (!c.ok) return { legs, last: c };
    if (c.token === undefined) break;
    legs.push(c.established ? 'auth3' : 'alter_context');
    step = server.handleClientToken(c.token);
    if (!step.ok) return { legs, last: step };
    toClient = step.token;
    if (c.established) break;
  }
  return { legs, last: step };
}

/** A fake PDU: 16-byte header, stub, 8-byte sec_trailer; the signature covers all of it. */
function pdu(stub: string): { buf: Buffer; start: number; end: number; signedEnd: number } {
  const s = Buffer.from(stub);
  const buf = Buffer.concat([Buffer.alloc(16, 0x05), s, Buffer.from([10, 6, 0, 0, 0, 0, 0, 0])]);
  return { buf, start: 16, end: 16 + s.length, signedEnd: buf.length };
}

function exchangeSealed(from: SecurityProvider | ServerSecurityProvider, to: SecurityProvider | ServerSecurityProvider, text: string): string {
  const p = pdu(text);
  const sig = from.seal(p.buf, p.start, p.end, p.signedEnd);
  expect(p.buf.subarray(p.start, p.end).toString()).not.toBe(text);
  const e = to.unseal(p.buf, p.start, p.end, p.signedEnd, sig);
  if (e) throw new Error(`${e.kind}: ${e.message}`);
  return p.buf.subarray(p.start, p.end).toString();
}

const kinds = [
  { name: 'raw NTLMSSP (type 10)', client: NtlmClientProvider, server: NtlmServerProvider, authType: AuthType.WINNT },
  { name: 'SPNEGO (type 9)', client: SpnegoClientProvider, server: SpnegoServerProvider, authType: AuthType.SPNEGO },
] as const;

for (const k of kinds) {
  describe(k.name, () => {
    it('authenticates a user, both sides establish, sealed PDUs go both ways with per-direction sequence numbers', () => {
      const client = new k.client(clientOpts(alice()));
      const server = new k.server(serverOpts());
      expect(client.authType).toBe(k.authType);
      expect(server.authType).toBe(k.authType);
      const { legs, last } = handshake(client, server);
      okStep(last);
      expect(legs).toEqual(k.authType === AuthType.SPNEGO ? ['bind', 'alter_context'] : ['bind', 'auth3']);
      expect(client.established && server.established).toBe(true);
      expect(server.identity).toEqual({ user: 'SVC-OSD', domain: 'CONTOSO', anonymous: false });
      expect(client.signatureLength).toBe(16);
      for (let i = 0; i < 3; i++) expect(exchangeSealed(client, server, `request ${i}`)).toBe(`request ${i}`);
      expect(exchangeSealed(server, client, 'response 0')).toBe('response 0');
      expect(exchangeSealed(client, server, 'request 3')).toBe('request 3');
      // PKT_INTEGRITY too, on the same sequence.
      const p = pdu('signed only');
      const sig = client.sign(p.buf, p.signedEnd);
      expect(server.verify(p.buf, p.signedEnd, sig)).toBeUndefined();
      // SPNEGO spent sequence number 0 of each direction on the mechListMIC.
      expect(sig.readUInt32LE(12)).toBe(k.authType === AuthType.SPNEGO ? 5 : 4);
    });

    it('anonymous: empty user, empty NT response, LM Z(1); keys from Z(16) still seal', () => {
      const client = new k.client(clientOpts(undefined));
      const server = new k.server(serverOpts());
      const { legs, last } = handshake(client, server);
      okStep(last);
      // SPNEGO's last leg goes in alter_context even without a mechListMIC: the server answers it with its final
      // negTokenResp, and Samba refuses an auth3 whose SPNEGO leg produces a token (access_denied on the first call).
      expect(legs).toEqual(k.authType === AuthType.SPNEGO ? ['bind', 'alter_context'] : ['bind', 'auth3']);
      expect(client.established).toBe(true);
      expect(server.identity).toEqual({ user: '', domain: '', anonymous: true });
      expect(exchangeSealed(client, server, 'anon request')).toBe('anon request');
      expect(exchangeSealed(server, client, 'anon response')).toBe('anon response');
    });

    it('anonymous is refused when the server does not allow it', () => {
      const { last } = handshake(new k.client(clientOpts(undefined)), new k.server(serverOpts({ allowAnonymous: false })));
      expect(last.ok).toBe(false);
      expect(!last.ok && last.error.kind).toBe('rejected');
    });

    it('a wrong password is rejected by the server and the message names neither password', () => {
      const wrong = new Credentials({ domain: 'CONTOSO', user: 'svc-osd', password: 'not-it' });
      const server = new k.server(serverOpts());
      const { last } = handshake(new k.client(clientOpts(wrong)), server);
      expect(last.ok).toBe(false);
      if (last.ok) return;
      expect(last.error.kind).toBe('rejected');
      expect(last.error.message).not.toContain(PASSWORD);
      expect(last.error.message).not.toContain('not-it');
      expect(server.established).toBe(false);
    });

    it('an unknown user is rejected', () => {
      const bob = new Credentials({ domain: 'CONTOSO', user: 'bob', password: PASSWORD });
      const { last } = handshake(new k.client(clientOpts(bob)), new k.server(serverOpts()));
      expect(!last.ok && last.error.kind).toBe('rejected');
    });

    it('a tampered sealed PDU (header, stub or signature) is refused as bad-signature', () => {
      for (const spot of ['header', 'stub', 'sig'] as const) {
        const client = new k.client(clientOpts(alice()));
        const server = new k.server(serverOpts());
        okStep(handshake(client, server).last);
        const p = pdu('payload to protect');
        const sig = client.seal(p.buf, p.start, p.end, p.signedEnd);
        const genuine = { buf: Buffer.from(p.buf), sig: Buffer.from(sig) };
        if (spot === 'header') p.buf[3] ^= 1;
        if (spot === 'stub') p.buf[p.start + 2] ^= 1;
        if (spot === 'sig') sig[6] ^= 1;
        expect(server.unseal(p.buf, p.start, p.end, p.signedEnd, sig)?.kind).toBe('bad-signature');
        // The forged copy is dropped without spending the RC4 stream: the genuine PDU still unseals.
        expect(server.unseal(genuine.buf, p.start, p.end, p.signedEnd, genuine.sig)).toBeUndefined();
        expect(genuine.buf.subarray(p.start, p.end).toString()).toBe('payload to protect');
      }
    });

    it('a replayed or reordered PDU fails the sequence check', () => {
      const client = new k.client(clientOpts(alice()));
      const server = new k.server(serverOpts());
      okStep(handshake(client, server).last);
      const a = pdu('first');
      const sa = client.sign(a.buf, a.signedEnd);
      const b = pdu('second');
      const sb = client.sign(b.buf, b.signedEnd);
      expect(server.verify(b.buf, b.signedEnd, sb)?.kind).toBe('bad-signature');
      expect(server.verify(a.buf, a.signedEnd, sa)).toBeUndefined();
      expect(server.verify(a.buf, a.signedEnd, sa)?.kind).toBe('bad-signature');
      expect(server.verify(b.buf, b.signedEnd, sb)).toBeUndefined();
    });

    it('protection before establishment: unseal/verify give not-established, seal/sign throw', () => {
      const client = new k.client(clientOpts(alice()));
      const p = pdu('x');
      expect(client.unseal(p.buf, p.start, p.end, p.signedEnd, Buffer.alloc(16))?.kind).toBe('not-established');
      expect(client.verify(p.buf, p.signedEnd, Buffer.alloc(16))?.kind).toBe('not-established');
      expect(() => client.seal(p.buf, p.start, p.end, p.signedEnd)).toThrow(/before the security context/);
    });

    it('garbage from the server is a malformed-token error, not a throw', () => {
      const client = new k.client(clientOpts(alice()));
      client.initialToken();
      const s = client.handleServerToken(Buffer.from('not a token at all'));
      expect(!s.ok && s.error.kind).toBe('malformed-token');
    });

    it('no password or key appears in JSON, util.inspect or String() of credentials and providers', () => {
      const creds = alice();
      const client = new k.client(clientOpts(creds));
      const server = new k.server(serverOpts());
      okStep(handshake(client, server).last);
      const secrets = [PASSWORD, ntowfv2(PASSWORD, 'SVC-OSD', 'CONTOSO').toString('hex'), exportedKey.toString('hex'), '424242'];
      const views = [
        JSON.stringify(creds),
        inspect(creds, { depth: 10, showHidden: true }),
        String(creds),
        `${creds}`,
        JSON.stringify(client),
        inspect(client, { depth: 10, showHidden: true }),
        JSON.stringify(server),
        inspect(server, { depth: 10, showHidden: true }),
        JSON.stringify({ opts: clientOpts(creds) }.opts.credentials),
      ];
      for (const v of views) for (const s of secrets) expect(v).not.toContain(s);
      expect(JSON.stringify(creds)).toContain('svc-osd'.toUpperCase());
      expect(inspect(creds)).toContain('[hidden]');
    });
  });
}

describe('AUTHENTICATE details', () => {
  function run(serverOver: Partial<NtlmServerOptions> = {}) {
    const client = new NtlmClientProvider(clientOpts(alice()));
    const server = new NtlmServerProvider(serverOpts(serverOver));
    const neg = client.initialToken();
    const chal = okStep(server.handleClientToken(neg)).token!;
    const auth = okStep(client.handleServerToken(chal)).token!;
    return { client, server, neg, chal, auth };
  }

  it('uses the CHALLENGE timestamp, sets MsvAvFlags MIC, sends LM Z(24), a MIC and a 16-byte encrypted key', () => {
    const { chal, auth } = run();
    const c = decodeChallenge(chal);
    const a = decodeAuthenticate(auth);
    if (!c.ok || !a.ok) throw new Error('decode');
    const stamp = c.value.targetInfo.find((p) => p.id === AvId.TIMESTAMP)!.value;
    const temp = a.value.ntChallengeResponse.subarray(16);
    expect(temp.subarray(8, 16)).toEqual(stamp);
    expect(temp.subarray(16, 24)).toEqual(Buffer.from('0102030405060708', 'hex'));
    const pairs = decodeAvPairs(temp.subarray(28));
    if (!pairs.ok) throw new Error('pairs');
    expect(pairs.value.find((p) => p.id === AvId.FLAGS)!.value.readUInt32LE(0) & AV_FLAG_MIC).toBe(AV_FLAG_MIC);
    expect(pairs.value.find((p) => p.id === AvId.CHANNEL_BINDINGS)!.value).toEqual(Buffer.alloc(16));
    expect(a.value.lmChallengeResponse).toEqual(Buffer.alloc(24));
    expect(a.value.mic).toBeDefined();
    expect(a.value.mic).not.toEqual(Buffer.alloc(16));
    expect(a.value.encryptedRandomSessionKey.length).toBe(16);
    const want = Flag.EXTENDED_SESSIONSECURITY | Flag.NEGOTIATE_128 | Flag.KEY_EXCH | Flag.SEAL | Flag.SIGN | Flag.UNICODE;
    expect(a.value.flags & want).toBe(want);
  });

  it('a flipped MIC byte, or a flipped byte of the NEGOTIATE it covers, is rejected', () => {
    const { server, auth } = run();
    const bad = Buffer.from(auth);
    bad[MIC_OFFSET + 3] ^= 0x80;
    const s = server.handleClientToken(bad);
    expect(!s.ok && s.error).toMatchObject({ kind: 'rejected', message: 'MIC does not match' });

    const client = new NtlmClientProvider(clientOpts(alice()));
    const server2 = new NtlmServerProvider(serverOpts());
    const chal = okStep(server2.handleClientToken(client.initialToken())).token!;
    const auth2 = okStep(client.handleServerToken(chal)).token!;
    // The server saw one NEGOTIATE; a client MIC over another one (here: a different CHALLENGE) must fail.
    const otherChal = Buffer.from(chal);
    otherChal[otherChal.length - 1] ^= 1;
    const client3 = new NtlmClientProvider(clientOpts(alice()));
    client3.initialToken();
    const step3 = client3.handleServerToken(otherChal);
    expect(okStep(step3).token).not.toEqual(auth2);
    expect(server2.handleClientToken(okStep(step3).token!).ok).toBe(false);
  });

  it('without MsvAvTimestamp the client uses its own time, sends LMv2 and no MIC; the server still verifies', () => {
    const client = new NtlmClientProvider(clientOpts(alice()));
    const server = new NtlmServerProvider(serverOpts());
    const chal = okStep(server.handleClientToken(client.initialToken())).token!;
    // Rewrite the CHALLENGE without the timestamp pair (and shift the payload lengths accordingly).
    const c = decodeChallenge(chal);
    if (!c.ok) throw new Error('decode');
    const noStamp = encodeChallenge({ ...c.value, targetInfo: c.value.targetInfo.filter((p) => p.id !== AvId.TIMESTAMP) });
    const a = decodeAuthenticate(okStep(client.handleServerToken(noStamp)).token!);
    if (!a.ok) throw new Error('decode');
    expect(a.value.mic).toBeUndefined();
    expect(a.value.lmChallengeResponse.length).toBe(24);
    expect(a.value.lmChallengeResponse).not.toEqual(Buffer.alloc(24));
    const fileTime = a.value.ntChallengeResponse.readBigUInt64LE(16 + 8);
    expect(fileTime).toBe((BigInt(NOW) + 11_644_473_600_000n) * 10_000n);
  });

  it('refuses a CHALLENGE without extended session security or 128-bit keys (unsupported)', () => {
    const client = new NtlmClientProvider(clientOpts(alice()));
    const server = new NtlmServerProvider(serverOpts());
    const chal = Buffer.from(okStep(server.handleClientToken(client.initialToken())).token!);
    const flags = chal.readUInt32LE(20);
    for (const drop of [Flag.EXTENDED_SESSIONSECURITY, Flag.NEGOTIATE_128]) {
      const c = Buffer.from(chal);
      c.writeUInt32LE((flags & ~drop) >>> 0, 20);
      const s = new NtlmClientProvider(clientOpts(alice())).handleServerToken(c);
      expect(!s.ok && s.error.kind).toBe('unsupported');
    }
  });

  it('accepts a client that computed NTOWFv2 with an empty domain (3.2.5.1.2 retry with NIL)', () => {
    const noDomain = new Credentials({ domain: '', user: 'svc-osd', password: PASSWORD });
    const client = new NtlmClientProvider(clientOpts(noDomain));
    const server = new NtlmServerProvider(serverOpts());
    okStep(server.handleClientToken(okStep(client.handleServerToken(okStep(server.handleClientToken(client.initialToken())).token!)).token!));
    expect(server.established).toBe(true);
  });
});

describe('SPNEGO details', () => {
  it('negTokenInit offers NTLMSSP with the NEGOTIATE as mechToken; the server answers accept-incomplete + supportedMech', () => {
    const client = new SpnegoClientProvider(clientOpts(alice()));
    const server = new SpnegoServerProvider(serverOpts());
    const resp = decodeNegTokenResp(okStep(server.handleClientToken(client.initialToken())).token!);
    if (!resp.ok) throw new Error(resp.error.message);
    expect(resp.value.negState).toBe(NegState.ACCEPT_INCOMPLETE);
    expect(resp.value.supportedMech).toEqual(OID_NTLMSSP);
    expect(decodeChallenge(resp.value.responseToken!).ok).toBe(true);
  });

  it('a wrong client mechListMIC is rejected; the server final token carries accept-completed and its own MIC', () => {
    const client = new SpnegoClientProvider(clientOpts(alice()));
    const server = new SpnegoServerProvider(serverOpts());
    const t1 = okStep(server.handleClientToken(client.initialToken())).token!;
    const t2 = okStep(client.handleServerToken(t1)).token!;
    const r2 = decodeNegTokenResp(t2);
    if (!r2.ok) throw new Error('decode');
    expect(r2.value.mechListMIC?.length).toBe(16);
    // Tampered MIC first, against a fresh server that saw the same exchange.
    const server2 = new SpnegoServerProvider(serverOpts());
    const client2 = new SpnegoClientProvider(clientOpts(alice()));
    const u1 = okStep(server2.handleClientToken(client2.initialToken())).token!;
    const u2 = decodeNegTokenResp(okStep(client2.handleServerToken(u1)).token!);
    if (!u2.ok) throw new Error('decode');
    const mic = Buffer.from(u2.value.mechListMIC!);
    mic[5] ^= 1;
    const bad = server2.handleClientToken(encodeNegTokenResp({ ...u2.value, mechListMIC: mic }));
    expect(!bad.ok && bad.error.kind).toBe('rejected');

    const fin = decodeNegTokenResp(okStep(server.handleClientToken(t2)).token!);
    if (!fin.ok) throw new Error('decode');
    expect(fin.value.negState).toBe(NegState.ACCEPT_COMPLETED);
    expect(fin.value.mechListMIC?.length).toBe(16);
    // The client refuses a server MIC that does not verify.
    const forged = Buffer.from(fin.value.mechListMIC!);
    forged[4] ^= 1;
    const f = client.handleServerToken(encodeNegTokenResp({ ...fin.value, mechListMIC: forged }));
    expect(!f.ok && f.error.kind).toBe('bad-signature');
  });

  it('negState reject from the server is a rejected error', () => {
    const client = new SpnegoClientProvider(clientOpts(alice()));
    client.initialToken();
    const s = client.handleServerToken(encodeNegTokenResp({ negState: NegState.REJECT }));
    expect(!s.ok && s.error.kind).toBe('rejected');
  });

  it('a client offering another mechanism first gets supportedMech NTLMSSP, then must send a mechListMIC', () => {
    const krb5 = Buffer.from('2a864886f712010202', 'hex');
    for (const withMic of [true, false]) {
      const ntlm = new NtlmClientProvider(clientOpts(alice()));
      const server = new SpnegoServerProvider(serverOpts());
      const first = okStep(server.handleClientToken(encodeNegTokenInit({ mechTypes: [krb5, OID_NTLMSSP], mechToken: Buffer.from('kerberos-ish') })));
      const r1 = decodeNegTokenResp(first.token!);
      if (!r1.ok) throw new Error('decode');
      expect(r1.value).toEqual({ negState: NegState.ACCEPT_INCOMPLETE, supportedMech: OID_NTLMSSP });
      const r2 = decodeNegTokenResp(okStep(server.handleClientToken(encodeNegTokenResp({ responseToken: ntlm.initialToken() }))).token!);
      if (!r2.ok) throw new Error('decode');
      const auth = okStep(ntlm.handleServerToken(r2.value.responseToken!)).token!;
      // The raw NTLM provider's session signs the MIC the way the SPNEGO client would.
      const mechTypes = encodeMechTypeList([krb5, OID_NTLMSSP]);
      const final = encodeNegTokenResp({ responseToken: auth, ...(withMic ? { mechListMIC: ntlm.sign(mechTypes, mechTypes.length) } : {}) });
      const s = server.handleClientToken(final);
      expect(s.ok).toBe(withMic);
      if (!s.ok) expect(s.error.kind).toBe('rejected');
    }
  });

  it('a client without NTLMSSP in mechTypes is unsupported', () => {
    const server = new SpnegoServerProvider(serverOpts());
    const s = server.handleClientToken(encodeNegTokenInit({ mechTypes: [Buffer.from('2a864886f712010202', 'hex')] }));
    expect(!s.ok && s.error.kind).toBe('unsupported');
  });
});
