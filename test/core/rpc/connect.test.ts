/**
 * The connect plan (core/rpc/connect.ts) driven by hand: a fake clock, server bytes written here (and Samba's real
 * bind_nak), the fake security provider. Each `it` names the protocol note it settles (#32-#36).
 */
import { describe, expect, it } from 'vitest';
import { Attempt, ConnectorEvent, RpcConnector, nextAttempt } from '../../../core/rpc/connect';
import { NDR_SYNTAX } from '../../../core/rpc/ndr';
import { Pdu, PType, decodePdu, encodePdu, encodePduLayout } from '../../../core/rpc/pdu';
import { AuthLevel, AuthType } from '../../../core/rpc/security';
import { expectOk } from '../codec/helpers';
import { FakeProvider, fakeSignature, xorInPlace } from './fake-provider';
import { SRVSVC } from './srvsvc';
import { V } from './vectors';

const STUB = Buffer.from('probe');

function ack(o: { token?: string; authType?: number; type?: 12 | 15 } = {}): Buffer {
  return encodePdu({
    type: o.type ?? PType.BIND_ACK,
    flags: 0x07,
    callId: 1,
    maxXmitFrag: 4280,
    maxRecvFrag: 4280,
    assocGroupId: 7,
    secondaryAddress: o.type === PType.ALTER_CONTEXT_RESP ? '' : '49153',
    results: [{ result: 0, reason: 0, transferSyntax: NDR_SYNTAX }],
    ...(o.token ? { auth: { authType: o.authType ?? 10, authLevel: 6, authPadLength: 0, authContextId: 1, authValue: Buffer.from(o.token) } } : {}),
  });
}
const fault = (callId: number, status: number, flags = 0x23) => encodePdu({ type: PType.FAULT, flags, callId, allocHint: 32, contextId: 0, cancelCount: 0, status });

/** A response to call 2; sealed with the fake provider's server direction when `authType` is given. */
function response(stub: Buffer, authType?: number, seq = 0, tamper = false): Buffer {
  const p: Pdu = {
    type: PType.RESPONSE,
    flags: 3,
    callId: 2,
    allocHint: stub.length,
    contextId: 0,
    cancelCount: 0,
    stub,
    ...(authType ? { auth: { authType, authLevel: 6, authPadLength: 0, authContextId: 1, authValue: Buffer.alloc(16) } } : {}),
  };
  const { pdu, dataStart, dataEnd, signedEnd } = encodePduLayout(p);
  if (authType) {
    fakeSignature(pdu, signedEnd, seq, 's2c').copy(pdu, signedEnd);
    xorInPlace(pdu, dataStart, dataEnd);
    if (tamper) pdu[dataStart]! ^= 1;
  }
  return pdu;
}

/** A connector whose provider for type 9 needs an alter_context leg (as SPNEGO does) and for 10 an auth3. */
function connector(hasCredentials: boolean, timeoutMs = 10_000) {
  const providers: FakeProvider[] = [];
  const c = new RpcConnector({
    abstractSyntax: SRVSVC,
    hasCredentials,
    timeoutMs,
    opnum: 21,
    stub: STUB,
    provider: (a) => {
      const p = new FakeProvider({ authType: a.authType, legs: a.authType === AuthType.SPNEGO ? ['LEG1', 'LEG2'] : ['CHALLENGE'] });
      providers.push(p);
      return p;
    },
  });
  return { c, providers };
}

function drain(c: RpcConnector): { sent: Pdu[]; events: ConnectorEvent[] } {
  const sent: Pdu[] = [];
  const events: ConnectorEvent[] = [];
  for (let b = c.pollSend(); b; b = c.pollSend()) sent.push(expectOk(decodePdu(Buffer.from(b))));
  for (let e = c.pollEvent(); e; e = c.pollEvent()) events.push(e);
  return { sent, events };
}

/** Connects the next attempt at `now`; returns it and what the client sent (the bind); events stay queued. */
function connectNext(c: RpcConnector, now: number): { attempt: Attempt; sent: Pdu[] } {
  const action = c.pollAction(now);
  if (!action) throw new Error('no connect action');
  c.handleConnected(action.attempt.n, now);
  const sent: Pdu[] = [];
  for (let b = c.pollSend(); b; b = c.pollSend()) sent.push(expectOk(decodePdu(Buffer.from(b))));
  return { attempt: action.attempt, sent };
}

/** Type 9's two legs: bind_ack(LEG1) → alter_context → alter_context_resp(LEG2) → auth3 → bound, probe sent. */
function bindSpnego(c: RpcConnector, n: number, now: number): Pdu[] {
  c.handleBytes(n, ack({ token: 'LEG1', authType: 9 }), now);
  expect(drain(c).sent.map((p) => p.type)).toEqual([PType.ALTER_CONTEXT]);
  c.handleBytes(n, ack({ token: 'LEG2', authType: 9, type: PType.ALTER_CONTEXT_RESP }), now);
  return drain(c).sent;
}

describe('RpcConnector: which events count as "the server rejects auth type 9" (#32)', () => {
  it('a bind_nak (Samba: authentication_type_not_recognized) → a new connection with type 10, same level', () => {
    const { c } = connector(true);
    const first = connectNext(c, 0);
    expect(first.attempt).toEqual({ n: 1, authType: 9, level: AuthLevel.PKT_PRIVACY, anonymous: false });
    expect(first.sent[0]).toMatchObject({ type: PType.BIND, auth: { authType: 9, authLevel: 6 } });
    c.handleBytes(1, V.bindNakAuthType, 1);
    expect(drain(c).events).toEqual([
      { type: 'attemptFailed', attempt: first.attempt, verdict: { kind: 'auth-type-rejected', detail: 'bind_nak authentication_type_not_recognized' } },
    ]);
    const second = connectNext(c, 2);
    expect(second.attempt).toEqual({ n: 2, authType: 10, level: AuthLevel.PKT_PRIVACY, anonymous: false });
    expect(second.sent[0]).toMatchObject({ type: PType.BIND, auth: { authType: 10, authLevel: 6 } });
    c.handleBytes(2, ack({ token: 'CHALLENGE' }), 3);
    expect(drain(c).sent.map((p) => [p.type, p.type === PType.REQUEST && p.opnum])).toEqual([
      [PType.AUTH3, false],
      [PType.REQUEST, 21],
    ]);
    c.handleBytes(2, response(Buffer.from('info'), 10), 4);
    const [done] = drain(c).events;
    expect(done).toMatchObject({ type: 'done', attempt: second.attempt, callId: 2, answer: { type: 'response', stub: Buffer.from('info') } });
  });

  it('a fault to the bind, or the provider refusing the bind_ack token, also rejects 9; a busy bind_nak does not', () => {
    const { c } = connector(true);
    connectNext(c, 0);
    c.handleBytes(1, fault(1, 0x1c00001d), 1); // nca_s_unsupported_authn_level, to the bind
    expect(drain(c).events[0]).toMatchObject({ type: 'attemptFailed', verdict: { kind: 'auth-type-rejected', status: 0x1c00001d } });
    expect(connectNext(c, 2).attempt.authType).toBe(10);

    const refused = new RpcConnector({ abstractSyntax: SRVSVC, hasCredentials: true, opnum: 21, stub: STUB, provider: (a) => new FakeProvider({ authType: a.authType, refuse: true }) });
    connectNext(refused, 0);
    refused.handleBytes(1, ack({ token: 'NEG-REJECT', authType: 9 }), 1); // e.g. SPNEGO negState reject
    expect(drain(refused).events[0]).toMatchObject({ type: 'attemptFailed', verdict: { kind: 'auth-type-rejected' } });
    expect(refused.pollAction(2)?.attempt.authType).toBe(10);

    const busy = connector(true).c;
    connectNext(busy, 0);
    busy.handleBytes(1, encodePdu({ type: PType.BIND_NAK, flags: 3, callId: 1, rejectReason: 1, versions: [{ major: 5, minor: 0 }] }), 1);
    expect(drain(busy).events).toMatchObject([{ type: 'attemptFailed', verdict: { kind: 'network' } }, { type: 'failed', verdict: { kind: 'network', detail: 'bind_nak temporary_congestion' } }]);
    expect(busy.pollAction(2)).toBeUndefined();
  });

  it('type 10 rejected as well, with credentials: failed, the last verdict (the server takes no NTLM)', () => {
    const { c } = connector(true);
    connectNext(c, 0);
    c.handleBytes(1, V.bindNakAuthType, 1);
    connectNext(c, 2);
    c.handleBytes(2, V.bindNakAuthType, 3);
    const ev = drain(c).events;
    expect(ev.map((e) => e.type)).toEqual(['attemptFailed', 'attemptFailed', 'failed']);
    expect(ev[2]).toMatchObject({ verdict: { kind: 'auth-type-rejected' }, attempts: [{ attempt: { authType: 9 } }, { attempt: { authType: 10 } }] });
    expect(c.pollAction(4)).toBeUndefined();
  });
});

describe('RpcConnector: what counts as an authentication refusal (#33)', () => {
  it('SPNEGO: a fault to the alter_context (Samba: rpc_s_sec_pkg_error) → refused; with credentials nothing else is tried', () => {
    const { c } = connector(true);
    connectNext(c, 0);
    c.handleBytes(1, ack({ token: 'LEG1', authType: 9 }), 1);
    drain(c);
    c.handleBytes(1, fault(1, 0x721), 2);
    const ev = drain(c).events;
    expect(ev).toEqual([
      { type: 'attemptFailed', attempt: { n: 1, authType: 9, level: 6, anonymous: false }, verdict: { kind: 'auth-refused', detail: 'fault rpc_s_sec_pkg_error to the alter_context', status: 0x721 } },
      { type: 'failed', attempts: [expect.anything()], verdict: { kind: 'auth-refused', detail: 'fault rpc_s_sec_pkg_error to the alter_context', status: 0x721 } },
    ]);
    expect(c.pollAction(3)).toBeUndefined();
  });

  it('after auth3 (no answer): the first call faulted with nca_s_proto_error (Samba) or access_denied (Windows), or the connection closed → refused', () => {
    for (const end of ['proto', 'denied', 'closed'] as const) {
      const { c } = connector(true);
      connectNext(c, 0);
      c.handleBytes(1, V.bindNakAuthType, 1); // straight to type 10, whose last leg is auth3
      drain(c);
      connectNext(c, 2);
      c.handleBytes(2, ack({ token: 'CHALLENGE' }), 3);
      expect(drain(c).sent.map((p) => p.type)).toEqual([PType.AUTH3, PType.REQUEST]);
      if (end === 'proto') c.handleBytes(2, fault(0, 0x1c01000b), 4); // Samba answers it with call_id 0
      if (end === 'denied') c.handleBytes(2, fault(2, 5), 4);
      if (end === 'closed') c.handleClosed(2, 4);
      const ev = drain(c).events;
      expect(ev.map((e) => e.type), end).toEqual(['attemptFailed', 'failed']);
      expect(ev[1], end).toMatchObject({ type: 'failed', verdict: { kind: 'auth-refused' } });
    }
  });

  it('a fault of the call itself (not an authentication status) is an answer, handed over with the bound client', () => {
    const { c } = connector(true);
    connectNext(c, 0);
    const sent = bindSpnego(c, 1, 1);
    expect(sent.map((p) => p.type)).toEqual([PType.AUTH3, PType.REQUEST]);
    c.handleBytes(1, fault(2, 0x1c010002, 3), 2);
    const [done] = drain(c).events;
    expect(done).toMatchObject({ type: 'done', attempt: { n: 1, authType: 9 }, answer: { type: 'fault', name: 'nca_s_op_rng_error' } });
    if (done?.type !== 'done') return;
    expect(done.client.isBound).toBe(true);
    done.client.call(21, STUB, 3);
    expect(expectOk(decodePdu(done.client.pollSend()!))).toMatchObject({ type: PType.REQUEST, callId: 3, auth: { authType: 9, authLevel: 6 } });
  });
});

describe('RpcConnector without credentials: anonymous NTLM at PKT_PRIVACY, then level NONE (#34)', () => {
  it('anonymous 9 refused → level NONE (no sec_trailer) → answered', () => {
    const { c, providers } = connector(false);
    const first = connectNext(c, 0);
    expect(first.attempt).toEqual({ n: 1, authType: 9, level: 6, anonymous: true });
    bindSpnego(c, 1, 1);
    c.handleBytes(1, fault(2, 5), 2);
    expect(drain(c).events).toMatchObject([{ type: 'attemptFailed', verdict: { kind: 'auth-refused', detail: 'fault access_denied' } }]);
    const second = connectNext(c, 3);
    expect(second.attempt).toEqual({ n: 2, authType: 0, level: AuthLevel.NONE, anonymous: false });
    expect(second.sent[0]!.auth).toBeUndefined();
    expect(second.sent[0]!.flags, 'no header signing offered without a provider').toBe(0x03);
    expect(providers).toHaveLength(1);
    c.handleBytes(2, ack(), 4);
    expect(drain(c).sent).toMatchObject([{ type: PType.REQUEST, opnum: 21, stub: STUB }]);
    c.handleBytes(2, response(Buffer.from('plain')), 5);
    expect(drain(c).events).toMatchObject([{ type: 'done', attempt: second.attempt, answer: { stub: Buffer.from('plain') } }]);
  });

  it('anonymous 9 rejected → anonymous 10 → refused → NONE → refused as well: failed, reported as the authentication refusal', () => {
    const { c } = connector(false);
    connectNext(c, 0);
    c.handleBytes(1, V.bindNakAuthType, 1);
    expect(connectNext(c, 2).attempt).toEqual({ n: 2, authType: 10, level: 6, anonymous: true });
    c.handleBytes(2, ack({ token: 'CHALLENGE' }), 3);
    c.handleBytes(2, fault(2, 0x1c01000b), 4);
    expect(connectNext(c, 5).attempt.authType).toBe(0);
    c.handleBytes(3, V.bindNakAuthType, 6);
    const ev = drain(c).events;
    expect(ev.map((e) => (e.type === 'attemptFailed' ? e.verdict.kind : e.type))).toEqual(['auth-type-rejected', 'auth-refused', 'auth-refused', 'failed']);
    expect(ev[3]).toMatchObject({ type: 'failed', verdict: { kind: 'auth-refused', detail: 'fault nca_s_proto_error' } });
  });

  it('the plan itself: 9 → 10 on rejection; refusal ends it with credentials and goes to NONE without; NONE is last', () => {
    const a9 = { n: 1, authType: 9, level: 6, anonymous: false } as const;
    const anon9 = { ...a9, anonymous: true };
    const none = { n: 3, authType: 0, level: 1, anonymous: false } as const;
    const v = (kind: 'auth-type-rejected' | 'auth-refused' | 'network' | 'protocol') => ({ kind, detail: '' });
    expect(nextAttempt(a9, v('auth-type-rejected'))).toEqual({ n: 2, authType: 10, level: 6, anonymous: false });
    expect(nextAttempt({ ...a9, authType: 10 }, v('auth-type-rejected'))).toBeUndefined();
    expect(nextAttempt(a9, v('auth-refused'))).toBeUndefined();
    expect(nextAttempt(anon9, v('auth-refused'))).toEqual({ n: 2, authType: 0, level: 1, anonymous: false });
    expect(nextAttempt({ ...anon9, authType: 10 }, v('auth-type-rejected'))).toEqual({ n: 2, authType: 0, level: 1, anonymous: false });
    for (const k of ['network', 'protocol'] as const) expect(nextAttempt(anon9, v(k)), k).toBeUndefined();
    for (const k of ['auth-type-rejected', 'auth-refused', 'network'] as const) expect(nextAttempt(none, v(k)), k).toBeUndefined();
  });
});

describe('RpcConnector: network failures and protocol failures are neither (#35)', () => {
  it('fake clock: no connection within the timeout → network, final; nothing happens a millisecond before', () => {
    const { c } = connector(false, 5000);
    expect(c.pollAction(1000)?.attempt.n).toBe(1);
    expect(c.pollTimeout()).toBe(6000);
    c.handleTimeout(5999);
    expect(drain(c).events).toEqual([]);
    c.handleTimeout(6000);
    expect(drain(c).events).toMatchObject([{ type: 'attemptFailed', verdict: { kind: 'network', detail: 'connect: no connection within 5000 ms' } }, { type: 'failed' }]);
    expect(c.pollAction(6001)).toBeUndefined();
    expect(c.pollTimeout()).toBeUndefined();
  });

  it('connect refused, closed before the bind_ack, or no bind_ack within the timeout → network, never a downgrade', () => {
    const refused = connector(false).c;
    const a = refused.pollAction(0)!.attempt;
    refused.handleConnectFailed(a.n, 1, 'ECONNREFUSED');
    expect(drain(refused).events).toMatchObject([{ verdict: { kind: 'network', detail: 'connect: ECONNREFUSED' } }, { type: 'failed' }]);

    const closed = connector(false).c;
    connectNext(closed, 0);
    closed.handleClosed(1, 1);
    expect(drain(closed).events).toMatchObject([{ verdict: { kind: 'network', detail: 'connection closed before the bind was answered' } }, { type: 'failed' }]);

    const silent = connector(false, 3000).c;
    connectNext(silent, 0);
    expect(silent.pollTimeout()).toBe(3000);
    silent.handleTimeout(3000);
    expect(drain(silent).events).toMatchObject([{ verdict: { kind: 'network' } }, { type: 'failed', verdict: { kind: 'network' } }]);
  });

  it('a sealed response that fails verification is a protocol failure: anonymous does not fall back to level NONE', () => {
    const { c } = connector(false);
    connectNext(c, 0);
    bindSpnego(c, 1, 1);
    c.handleBytes(1, response(Buffer.from('forged'), 9, 0, true), 2);
    const ev = drain(c).events;
    expect(ev.map((e) => e.type)).toEqual(['attemptFailed', 'failed']);
    expect(ev[0]).toMatchObject({ verdict: { kind: 'protocol' } });
    expect(c.pollAction(3)).toBeUndefined();
  });

  it("input from an earlier attempt's socket is ignored", () => {
    const { c } = connector(true);
    connectNext(c, 0);
    c.handleBytes(1, V.bindNakAuthType, 1);
    drain(c);
    connectNext(c, 2);
    c.handleClosed(1, 3); // the first socket's close arrives late
    c.handleBytes(1, ack({ token: 'CHALLENGE' }), 3);
    expect(drain(c)).toEqual({ sent: [], events: [] });
    c.handleBytes(2, ack({ token: 'CHALLENGE' }), 4);
    expect(drain(c).sent.map((p) => p.type)).toEqual([PType.AUTH3, PType.REQUEST]);
  });
});
