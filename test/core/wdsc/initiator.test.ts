/**
 * core/wdsc/initiator.ts: WDSMC_OP_INITIATE over DCE/RPC against an in-memory WDSC server built from core pieces,
 * on a fake clock; the typed failures (network, authentication, final Win32, protocol); the attempt plan; the
 * endpoint-mapper step; SessionInfo from the reply (its security read per protocol-notes #38).
 */
import { describe, expect, it } from 'vitest';
import { Sec } from '../../../core/codec/mt';
import { Credentials } from '../../../core/ntlm/auth';
import { Flag } from '../../../core/ntlm/messages';
import { encodeNegTokenResp } from '../../../core/ntlm/spnego';
import { NtlmClientProvider, SpnegoClientProvider } from '../../../core/ntlm/providers';
import { decodePdu, encodePdu, pduLength, PType } from '../../../core/rpc/pdu';
import { EPM_INTERFACE, EPT_S_NOT_REGISTERED, encodeTcpTower } from '../../../core/rpc/epm';
import { LeWriter, NDR_SYNTAX } from '../../../core/rpc/ndr';
import { AuthLevel, AuthType } from '../../../core/rpc/security';
import { WDSC_INTERFACE } from '../../../core/rpc/wds-rpc';
import { sessionFromWdscReply } from '../../../core/session';
import { buildInitiateRequest, encodeInitiateError, encodeInitiateReply, InitiateReply } from '../../../core/wdsc/initiate';
import { firstAttempt, nextAttempt } from '../../../core/rpc/connect';
import { EptMapLookup, verdictOf, WdscInitiator } from '../../../core/wdsc/initiator';
import { FakeServerOptions, FakeWdscServer, NCA_S_UNK_IF } from './fake-server';

const ACCOUNT = { domain: 'CORP', user: 'svc-osd', password: 'Pa55w0rd!' };
const SERVER = { address: '10.0.0.5', port: 5040 };
const REPLY: Omit<InitiateReply, 'kind'> = {
  multicastAddr: '239.0.0.111',
  multicastPort: 64132,
  serverAddr: '10.0.0.5',
  serverPort: 64132,
  sessionId: 0x6d19ee7e,
  contentSize: 1000,
  blockSize: 300,
  totalBlocks: 4,
  contentMetadata: Buffer.alloc(0),
};
const okAnswer = () => ({ reply: encodeInitiateReply(REPLY), status: 0 });

function provider(kind: 9 | 10, creds?: typeof ACCOUNT) {
  const opts = { ...(creds ? { credentials: new Credentials(creds) } : {}), clientChallenge: Buffer.alloc(8, 7), exportedSessionKey: Buffer.alloc(16, 9), nowMs: 1_700_000_000_000 };
  return kind === 9 ? new SpnegoClientProvider(opts) : new NtlmClientProvider(opts);
}

function initiator(sec: { kind?: 9 | 10; creds?: typeof ACCOUNT; none?: boolean } = {}, now = 0) {
  const request = buildInitiateRequest({ namespace: 'WDS:Group/install.wim/1', content: 'install.wim', clientName: 'PC-0042', bootDevice: true }).packet;
  return new WdscInitiator({ server: SERVER, request, timeoutMs: 10_000, ...(sec.none ? {} : { security: { provider: provider(sec.kind ?? 9, sec.creds), level: AuthLevel.PKT_PRIVACY } }) }, now);
}

/** Moves bytes both ways, in pieces of 7 (any split must do), until nothing moves or the initiator is done. */
function run(init: WdscInitiator, server: FakeWdscServer, now = 1): void {
  init.handleConnected(now);
  for (let moved = true; moved && !init.pollClose(); ) {
    moved = false;
    for (let b = init.pollSend(); b; b = init.pollSend()) {
      server.handleBytes(b);
      moved = true;
    }
    if (server.closed) return init.handleClosed(now);
    for (let b = server.pollSend(); b; b = server.pollSend()) {
      for (let i = 0; i < b.length; i += 7) init.handleBytes(b.subarray(i, i + 7), now);
      moved = true;
    }
  }
}

const serve = (o: Partial<FakeServerOptions> = {}) => new FakeWdscServer({ account: ACCOUNT, answer: okAnswer, ...o });

describe('WdscInitiator against an in-memory WDSC server', () => {
  it('NTLMv2 under SPNEGO at PKT_PRIVACY: the request arrives whole, the reply becomes the SessionInfo', () => {
    const s = serve();
    const init = initiator({ creds: ACCOUNT });
    run(init, s);
    expect(init.result).toEqual({ ok: true, session: sessionFromWdscReply({ kind: 'reply', ...REPLY }) });
    expect(init.pollClose()).toBe(true);
    expect(s.identity).toEqual({ user: 'svc-osd', domain: 'CORP', anonymous: false });
    expect(s.requests).toEqual([{ namespace: 'WDS:Group/install.wim/1', content: 'install.wim', client: 'PC-0042', cap: 5 }]);
    const r = init.result!;
    if (!r.ok) throw new Error(r.message);
    expect(r.session).toMatchObject({ sessionId: 0x6d19ee7e, multicast: { address: '239.0.0.111', port: 64132 }, server: { address: '10.0.0.5', port: 64132 }, contentSize: 1000, blockSize: 300, totalBlocks: 4 });
    expect(r.session.security).toEqual({ client: { mode: Sec.CHECKSUM }, server: { mode: Sec.CHECKSUM } });
  });

  it('raw NTLMSSP (type 10), anonymous NTLM, and no authentication at all each work where the server takes them', () => {
    const t10 = initiator({ kind: 10, creds: ACCOUNT });
    run(t10, serve());
    expect(t10.result?.ok).toBe(true);
    const anon = initiator({});
    const s = serve({ allowAnonymous: true });
    run(anon, s);
    expect(anon.result?.ok).toBe(true);
    expect(s.identity?.anonymous).toBe(true);
    const none = initiator({ none: true });
    run(none, serve());
    expect(none.result?.ok).toBe(true);
  });

  it('a wrong password: authentication failed or access denied, naming the server and the fault', () => {
    const init = initiator({ creds: { ...ACCOUNT, password: 'wrong' }, kind: 10 });
    run(init, serve());
    expect(init.result).toEqual({ ok: false, kind: 'auth', authTypeRejected: false, status: 0x1c01000b, message: 'authentication failed or access denied at 10.0.0.5:5040 (fault nca_s_proto_error)' });
    expect(JSON.stringify(init.result)).not.toContain('wrong');
    const closing = initiator({ creds: { ...ACCOUNT, password: 'wrong' }, kind: 10 });
    run(closing, serve({ closeOnRefusal: true }));
    expect(closing.result).toMatchObject({ ok: false, kind: 'auth', message: 'authentication failed or access denied at 10.0.0.5:5040 (connection closed by the server before the first call was answered)' });
  });

  it('bind_nak: the auth type is rejected (type 9 → 10 next); busy is a network failure', () => {
    const nak = initiator({ creds: ACCOUNT });
    run(nak, serve({ authTypes: [10] }));
    expect(nak.result).toEqual({ ok: false, kind: 'auth', authTypeRejected: true, message: 'authentication failed or access denied at 10.0.0.5:5040 (bind_nak authentication_type_not_recognized)' });
    const busy = initiator({ creds: ACCOUNT });
    run(busy, serve({ nakReason: 1 }));
    expect(busy.result).toMatchObject({ ok: false, kind: 'closed' });
  });

  it('level NONE refused with access denied is an authentication failure; another fault is a protocol one', () => {
    const none = initiator({ none: true });
    run(none, serve({ requireAuth: true }));
    expect(none.result).toMatchObject({ ok: false, kind: 'auth', status: 5, message: 'authentication failed or access denied at 10.0.0.5:5040 (fault access_denied)' });
    const unk = initiator({ creds: ACCOUNT });
    run(unk, serve({ faultStatus: NCA_S_UNK_IF }));
    expect(unk.result).toEqual({ ok: false, kind: 'protocol', message: '10.0.0.5:5040 answered with fault nca_s_unk_if (0x1c010003)' });
  });

  it('a Win32 error is final and named like over UDP, from either channel', () => {
    const status = initiator({ creds: ACCOUNT });
    run(status, serve({ answer: () => ({ status: 2 }) }));
    expect(status.result).toEqual({ ok: false, kind: 'error', win32: 2, message: 'server refused the session: ERROR_FILE_NOT_FOUND (2)' });
    const inReply = initiator({ creds: ACCOUNT });
    run(inReply, serve({ answer: () => ({ reply: encodeInitiateError(2), status: 0 }) }));
    expect(inReply.result).toEqual(status.result);
  });

  it('a reply that does not decode is a protocol failure, counted', () => {
    const init = initiator({ creds: ACCOUNT });
    run(init, serve({ answer: () => ({ reply: Buffer.from('garbage'), status: 0 }) }));
    expect(init.result).toMatchObject({ ok: false, kind: 'protocol', message: expect.stringMatching(/^10\.0\.0\.5:5040: WDSMC_OP_INITIATE reply: /) });
    expect(init.malformed).toBe(1);
  });

  it('network: refused, unreachable, connect timeout, bind timeout, closed before the bind', () => {
    const refused = initiator();
    refused.handleConnectFailed(5, 'refused', 'ECONNREFUSED');
    expect(refused.result).toEqual({ ok: false, kind: 'refused', message: 'connection refused at 10.0.0.5:5040 (ECONNREFUSED)' });
    expect(refused.pollClose()).toBe(true);

    const slow = initiator({}, 1000);
    expect(slow.pollTimeout()).toBe(11_000);
    slow.handleTimeout(10_999);
    expect(slow.result).toBeUndefined();
    slow.handleTimeout(11_000);
    expect(slow.result).toEqual({ ok: false, kind: 'timeout', tries: 1, message: 'no connection to 10.0.0.5:5040 within 10 s' });

    const mute = initiator({}, 0);
    mute.handleConnected(500);
    expect(mute.pollSend()).toBeDefined();
    expect(mute.pollTimeout()).toBe(10_500);
    mute.handleTimeout(10_500);
    expect(mute.result).toMatchObject({ ok: false, kind: 'timeout' });

    const cut = initiator();
    cut.handleConnected(1);
    cut.handleClosed(2);
    expect(cut.result).toEqual({ ok: false, kind: 'closed', message: '10.0.0.5:5040: connection closed before the bind was answered' });
  });
});

describe("failures read by the connect plan (core/rpc/connect.ts)", () => {
  it('a wrong password with credentials ends the plan; 9 rejected moves to 10; anonymous refused moves to level NONE', () => {
    const wrong = initiator({ creds: { ...ACCOUNT, password: 'wrong' } });
    run(wrong, serve());
    const r = wrong.result!;
    if (r.ok) throw new Error('expected a failure');
    expect(nextAttempt(firstAttempt(true), verdictOf(r))).toBeUndefined();

    const nak = initiator({ creds: ACCOUNT });
    run(nak, serve({ authTypes: [10] }));
    const n = nak.result!;
    if (n.ok) throw new Error('expected a failure');
    expect(nextAttempt(firstAttempt(true), verdictOf(n))).toMatchObject({ authType: AuthType.WINNT, anonymous: false });

    const anon = initiator({});
    run(anon, serve({ allowAnonymous: false }));
    const x = anon.result!;
    if (x.ok) throw new Error('expected a failure');
    expect(x.kind).toBe('auth');
    expect(nextAttempt(firstAttempt(false), verdictOf(x))).toMatchObject({ authType: AuthType.NONE, level: AuthLevel.NONE });
  });
  it('network, protocol and final failures never lower the protection', () => {
    for (const f of [
      { ok: false as const, kind: 'refused' as const, message: 'x' },
      { ok: false as const, kind: 'timeout' as const, tries: 1, message: 'x' },
      { ok: false as const, kind: 'protocol' as const, message: 'x' },
      { ok: false as const, kind: 'error' as const, win32: 2, message: 'x' },
    ])
      expect(nextAttempt(firstAttempt(false), verdictOf(f)), f.kind).toBeUndefined();
  });
});

/** An endpoint mapper: bind_ack without auth, then an ept_map answer with the given towers. */
function epmAnswer(bytes: Buffer, towers: Buffer[], status = 0): Buffer[] {
  const out: Buffer[] = [];
  let inbox = bytes;
  while (inbox.length) {
    const n = pduLength(inbox) as number;
    const d = decodePdu(inbox.subarray(0, n));
    inbox = inbox.subarray(n);
    if (!d.ok) throw new Error('bad');
    const p = d.value;
    if (p.type === PType.BIND) {
      expect(p.contexts[0]!.abstractSyntax).toEqual(EPM_INTERFACE);
      expect(p.auth).toBeUndefined();
      out.push(encodePdu({ type: PType.BIND_ACK, flags: 3, callId: p.callId, maxXmitFrag: 4280, maxRecvFrag: 4280, assocGroupId: 1, secondaryAddress: '135', results: [{ result: 0, reason: 0, transferSyntax: NDR_SYNTAX }] }));
    } else if (p.type === PType.REQUEST) {
      const w = new LeWriter(256).bytes(Buffer.alloc(20)).u32le(towers.length).u32le(4).u32le(0).u32le(towers.length);
      towers.forEach((_t, i) => w.u32le(0x100 + i));
      for (const t of towers) w.u32le(t.length).u32le(t.length).bytes(t).align(4);
      w.u32le(status);
      out.push(encodePdu({ type: PType.RESPONSE, flags: 3, callId: p.callId, allocHint: 0, contextId: 0, cancelCount: 0, stub: w.finish() }));
    }
  }
  return out;
}

describe('EptMapLookup: the endpoint mapper names the WDSC port', () => {
  function lookup(towers: Buffer[], status = 0) {
    const l = new EptMapLookup({ server: { address: '10.0.0.5', port: 135 }, timeoutMs: 10_000 }, 0);
    l.handleConnected(1);
    for (let i = 0; i < 3 && !l.pollClose(); i++) {
      const sent: Buffer[] = [];
      for (let b = l.pollSend(); b; b = l.pollSend()) sent.push(b);
      for (const b of epmAnswer(Buffer.concat(sent), towers, status)) l.handleBytes(b, 2);
    }
    return l.result;
  }
  it('finds the WDSC interface among the towers', () => {
    const other = encodeTcpTower({ uuid: '12345778-1234-abcd-ef00-0123456789ac', major: 1, minor: 0 }, 49667, '10.0.0.5');
    expect(lookup([other, encodeTcpTower(WDSC_INTERFACE, 49712, '10.0.0.5')])).toEqual({ ok: true, port: 49712 });
  });
  it('not registered is a protocol failure naming it', () => {
    expect(lookup([], EPT_S_NOT_REGISTERED)).toEqual({ ok: false, kind: 'protocol', message: 'the endpoint mapper at 10.0.0.5:135: the WDS Control Protocol interface is not registered' });
  });
  it('refused like any stream', () => {
    const l = new EptMapLookup({ server: { address: '10.0.0.5', port: 135 }, timeoutMs: 10_000 }, 0);
    l.handleConnectFailed(1, 'refused', 'ECONNREFUSED');
    expect(l.result).toMatchObject({ ok: false, kind: 'refused' });
  });
});

describe('SessionInfo from an MS-WDSC reply (security read per protocol-notes #38)', () => {
  const key = Buffer.alloc(24, 1);
  const rsa = Buffer.alloc(148, 2);
  it('carries the reply\'s UserSid into SessionInfo (a zero-length one is no SID)', () => {
    const sid = Buffer.from('010500000000000515000000010000000200000003000000e9030000', 'hex');
    expect(sessionFromWdscReply({ kind: 'reply', ...REPLY, userSid: sid }).userSid).toEqual(sid);
    expect(sessionFromWdscReply({ kind: 'reply', ...REPLY, userSid: Buffer.alloc(0) }).userSid).toBeUndefined();
    expect(sessionFromWdscReply({ kind: 'reply', ...REPLY }).userSid).toBeUndefined();
  });

  it('addresses, ids and sizes as sent; keys per direction; no SecMode and no key: CHECKSUM both ways', () => {
    const s = sessionFromWdscReply({ kind: 'reply', ...REPLY, secMode: 0x00010002, symKey: key, signKey: rsa, hashAlgId: 0x800c, hmacAlgId: 0x8009 });
    expect(s).toMatchObject({ sessionId: REPLY.sessionId, multicast: { address: '239.0.0.111', port: 64132 }, server: { address: '10.0.0.5', port: 64132 }, contentSize: 1000, blockSize: 300, totalBlocks: 4 });
    expect(s.security).toEqual({ client: { mode: Sec.HASH, key }, server: { mode: Sec.SIGN, key: rsa }, hashAlgId: 0x800c, hmacAlgId: 0x8009 });
    expect(sessionFromWdscReply({ kind: 'reply', ...REPLY, symKey: key }).security).toEqual({ client: { mode: Sec.HASH, key }, server: { mode: Sec.HASH, key } });
    expect(sessionFromWdscReply({ kind: 'reply', ...REPLY }).security).toEqual({ client: { mode: Sec.CHECKSUM }, server: { mode: Sec.CHECKSUM } });
  });
});

describe('protocol-notes #108: a server token too large to answer', () => {
  /** An NTLM CHALLENGE of `len` bytes whose TargetInfo (one AV pair) fills all but its 48-byte head. */
  function bigChallenge(len: number): Buffer {
    const b = Buffer.alloc(len);
    b.write('NTLMSSP\0', 0, 'latin1');
    b.writeUInt32LE(2, 8);
    b.writeUInt32LE((Flag.UNICODE | Flag.EXTENDED_SESSIONSECURITY | Flag.NEGOTIATE_128 | Flag.TARGET_INFO) >>> 0, 20);
    b.writeUInt16LE(len - 48, 40);
    b.writeUInt16LE(len - 48, 42);
    b.writeUInt32LE(48, 44);
    b.writeUInt16LE(0x00ff, 48); // an AV pair of an unknown id, kept and echoed in the AUTHENTICATE
    b.writeUInt16LE(len - 48 - 8, 50);
    return b;
  }

  it('fails the association as an authentication failure instead of throwing out of handleBytes (NTLM and SPNEGO)', () => {
    // The AUTHENTICATE echoes the TargetInfo: from about 65.3 KB of CHALLENGE it no longer fits its 16-bit fields or
    // one PDU, and the encoders threw through handleBytes into the socket's 'data' listener (a process crash).
    for (const kind of [AuthType.WINNT, AuthType.SPNEGO] as const) {
      const init = initiator({ kind: kind === AuthType.SPNEGO ? 9 : 10, creds: ACCOUNT });
      init.handleConnected(0);
      const bind = decodePdu(init.pollSend()!);
      if (!bind.ok) throw new Error('no bind');
      const challenge = bigChallenge(65_400);
      const authValue = kind === AuthType.WINNT ? challenge : encodeNegTokenResp({ negState: 1, responseToken: challenge });
      const ack = encodePdu({ type: PType.BIND_ACK, flags: 3, callId: bind.value.callId, maxXmitFrag: 4280, maxRecvFrag: 4280, assocGroupId: 1, secondaryAddress: '', results: [{ result: 0, reason: 0, transferSyntax: NDR_SYNTAX }], auth: { authType: kind, authLevel: AuthLevel.PKT_PRIVACY, authPadLength: 0, authContextId: 1, authValue } });
      expect(ack.length).toBeLessThanOrEqual(0xffff);
      expect(() => init.handleBytes(ack, 1)).not.toThrow();
      expect(init.result).toMatchObject({ ok: false, kind: 'auth' });
    }
  });
});
