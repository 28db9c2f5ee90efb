/**
 * The sans-I/O client, driven by hand: bytes in, bytes and events out, a fake clock, a fake security provider.
 * The no-auth exchange is replayed from the Samba capture (our bytes must equal what Samba was sent).
 */
import { describe, expect, it } from 'vitest';
import { RpcClient, RpcClientOptions, RpcEvent } from '../../../core/rpc/client';
import { decodePdu, encodePdu, encodePduLayout, Pdu, PType, RequestPdu } from '../../../core/rpc/pdu';
import { NDR_SYNTAX } from '../../../core/rpc/ndr';
import { EPM_INTERFACE } from '../../../core/rpc/epm';
import { AuthLevel } from '../../../core/rpc/security';
import { expectOk } from '../codec/helpers';
import { FakeProvider, fakeSignature, xorInPlace } from './fake-provider';
import { NETR_SERVER_GET_INFO, SRVSVC, decodeNetrServerGetInfo101, encodeNetrServerGetInfo } from './srvsvc';
import { V } from './vectors';
import { WDSC_INTERFACE, WDS_RPC_MESSAGE_OPNUM, decodeWdsRpcMessageRequest, decodeWdsRpcMessageResponse, encodeWdsRpcMessageRequest, encodeWdsRpcMessageResponse } from '../../../core/rpc/wds-rpc';

function drain(c: RpcClient): { sent: Buffer[]; events: RpcEvent[] } {
  const sent: Buffer[] = [];
  const events: RpcEvent[] = [];
  for (let b = c.pollSend(); b; b = c.pollSend()) sent.push(b);
  for (let e = c.pollEvent(); e; e = c.pollEvent()) events.push(e);
  return { sent, events };
}

function bindAck(opts: { callId?: number; maxRecvFrag?: number; maxXmitFrag?: number; token?: string; type?: 12 | 15; flags?: number } = {}): Buffer {
  return encodePdu({
    type: opts.type ?? PType.BIND_ACK,
    flags: opts.flags ?? 3,
    callId: opts.callId ?? 1,
    maxXmitFrag: opts.maxXmitFrag ?? 4280,
    maxRecvFrag: opts.maxRecvFrag ?? 4280,
    assocGroupId: 0x1234,
    secondaryAddress: opts.type === PType.ALTER_CONTEXT_RESP ? '' : '49154',
    results: [{ result: 0, reason: 0, transferSyntax: NDR_SYNTAX }],
    ...(opts.token ? { auth: { authType: 10, authLevel: 6, authPadLength: 0, authContextId: 1, authValue: Buffer.from(opts.token) } } : {}),
  });
}

function response(callId: number, stub: Buffer, flags = 3, auth?: { level: number; seq: number }): Buffer {
  const p: Pdu = {
    type: PType.RESPONSE,
    flags,
    callId,
    allocHint: stub.length,
    contextId: 0,
    cancelCount: 0,
    stub,
    ...(auth ? { auth: { authType: 10, authLevel: auth.level, authPadLength: 0, authContextId: 1, authValue: Buffer.alloc(16) } } : {}),
  };
  const { pdu, dataStart, dataEnd, signedEnd } = encodePduLayout(p);
  if (auth) {
    fakeSignature(pdu, signedEnd, auth.seq, 's2c').copy(pdu, signedEnd);
    if (auth.level === AuthLevel.PKT_PRIVACY) xorInPlace(pdu, dataStart, dataEnd);
  }
  return pdu;
}

/** The server's view of a request the client sent under the fake provider: checks the signature, unseals. */
function serverOpen(pdu: Buffer, level: number, seq: number): RequestPdu {
  const p = expectOk(decodePdu(Buffer.from(pdu)));
  if (p.type !== PType.REQUEST || !p.auth) throw new Error('not a protected request');
  const b = Buffer.from(pdu);
  const signedEnd = b.length - p.auth.authValue.length;
  if (level === AuthLevel.PKT_PRIVACY) xorInPlace(b, 24, signedEnd - 8);
  expect(fakeSignature(b, signedEnd, seq, 'c2s').equals(p.auth.authValue), 'request signature').toBe(true);
  return expectOk(decodePdu(b)) as RequestPdu;
}

function bound(opts: Partial<RpcClientOptions> = {}, ack = bindAck()): RpcClient {
  const c = new RpcClient({ abstractSyntax: SRVSVC, ...opts });
  c.handleConnected(0);
  c.handleBytes(ack, 0);
  const { events } = drain(c);
  expect(events.map((e) => e.type)).toContain('bound');
  return c;
}

describe('RpcClient without authentication', () => {
  it('replays the Samba exchange byte for byte: bind, bind_ack, NetrServerGetInfo, a fault for a missing opnum', () => {
    const c = new RpcClient({ abstractSyntax: EPM_INTERFACE });
    c.handleConnected(0);
    expect(drain(c).sent).toEqual([V.bindEpm]);

    const s = new RpcClient({ abstractSyntax: SRVSVC });
    s.handleConnected(0);
    const bind = drain(s).sent;
    expect(expectOk(decodePdu(bind[0]!))).toMatchObject({ type: PType.BIND, callId: 1, contexts: [{ abstractSyntax: SRVSVC }] });
    const id = s.call(NETR_SERVER_GET_INFO, encodeNetrServerGetInfo('\\\\10.77.50.1', 101), 0);
    expect(drain(s).sent, 'a call waits for the bind_ack').toEqual([]);
    s.handleBytes(V.bindAckSrvsvc, 1);
    const afterAck = drain(s);
    expect(afterAck.events).toEqual([{ type: 'bound', maxXmitFrag: 4280, maxRecvFrag: 4280, assocGroupId: 0xa537, secondaryAddress: '', headerSigning: false }]);
    expect(afterAck.sent).toEqual([V.getInfoRequest]);
    s.handleBytes(V.getInfoResponse, 2);
    const r = drain(s).events;
    expect(r).toHaveLength(1);
    expect(r[0]).toMatchObject({ type: 'response', callId: id });
    expect(decodeNetrServerGetInfo101((r[0] as { stub: Buffer }).stub)).toMatchObject({ name: 'OSDCASTRPC', platformId: 500, werror: 0 });

    const bad = s.call(200, Buffer.alloc(0), 3);
    expect(drain(s).sent).toEqual([V.badOpnumRequest]);
    s.handleBytes(V.faultOpRng, 4);
    expect(drain(s).events).toEqual([{ type: 'fault', callId: bad, status: 0x1c010002, name: 'nca_s_op_rng_error', accessDenied: false, didNotExecute: true }]);
  });

  it('reassembles PDUs split over many TCP chunks, and several PDUs in one chunk', () => {
    const s = new RpcClient({ abstractSyntax: SRVSVC });
    s.handleConnected(0);
    s.call(NETR_SERVER_GET_INFO, encodeNetrServerGetInfo('\\\\10.77.50.1', 101), 0);
    drain(s);
    const both = Buffer.concat([V.bindAckSrvsvc, V.getInfoResponse]);
    for (let i = 0; i < both.length; i += 3) s.handleBytes(both.subarray(i, i + 3), 1);
    expect(drain(s).events.map((e) => e.type)).toEqual(['bound', 'response']);

    const t = new RpcClient({ abstractSyntax: SRVSVC });
    t.handleConnected(0);
    t.call(NETR_SERVER_GET_INFO, Buffer.alloc(8), 0);
    t.handleBytes(both, 1);
    const e = drain(t).events;
    expect(e.map((x) => x.type)).toEqual(['bound', 'response']);
    expect((e[1] as { stub: Buffer }).stub).toEqual(V.getInfoResponse.subarray(24));
  });

  it('reassembles a fragmented response by call id', () => {
    const c = bound();
    const id = c.call(5, Buffer.from('x'), 0);
    drain(c);
    c.handleBytes(Buffer.concat([response(id, Buffer.from('first,'), 1), response(id, Buffer.from('middle,'), 0)]), 1);
    expect(drain(c).events, 'nothing until the last fragment').toEqual([]);
    c.handleBytes(response(id, Buffer.from('last'), 2), 2);
    expect(drain(c).events).toEqual([{ type: 'response', callId: id, stub: Buffer.from('first,middle,last') }]);
  });

  it('fails a response that does not start with PFC_FIRST_FRAG or starts twice', () => {
    const c = bound();
    const id = c.call(5, Buffer.from('x'), 0);
    drain(c);
    c.handleBytes(response(id, Buffer.from('middle'), 0), 1);
    expect(drain(c).events).toMatchObject([{ type: 'error', code: 'protocol', callId: id, fatal: false }]);
    const id2 = c.call(5, Buffer.from('x'), 0);
    drain(c);
    c.handleBytes(Buffer.concat([response(id2, Buffer.from('a'), 1), response(id2, Buffer.from('b'), 1)]), 1);
    expect(drain(c).events).toMatchObject([{ type: 'error', code: 'protocol', callId: id2 }]);
  });

  it("fragments a request to the server's max_recv_frag, alloc_hint counting down, one call id", () => {
    const c = bound({}, bindAck({ maxRecvFrag: 1432 }));
    const stub = Buffer.from(Array.from({ length: 5000 }, (_, i) => i % 251));
    const id = c.call(0, stub, 0);
    const frags = drain(c).sent.map((b) => expectOk(decodePdu(b)) as RequestPdu);
    expect(frags.length).toBe(Math.ceil(5000 / (1432 - 24)));
    for (const [i, f] of frags.entries()) {
      expect(encodePdu(f).length).toBeLessThanOrEqual(1432);
      expect(f.callId).toBe(id);
      expect(f.opnum).toBe(0);
      expect(f.flags & 3).toBe((i === 0 ? 1 : 0) | (i === frags.length - 1 ? 2 : 0));
      expect(f.allocHint).toBe(5000 - frags.slice(0, i).reduce((n, g) => n + g.stub.length, 0));
    }
    expect(Buffer.concat(frags.map((f) => f.stub))).toEqual(stub);
  });

  it('bind_nak: a typed event naming the reason; later calls fail at once', () => {
    const c = new RpcClient({ abstractSyntax: SRVSVC });
    c.handleConnected(0);
    const queued = c.call(1, Buffer.alloc(0), 0);
    drain(c);
    c.handleBytes(V.bindNakAuthType, 1);
    const ev = drain(c).events;
    expect(ev[0]).toEqual({ type: 'bindNak', reason: 8, name: 'authentication_type_not_recognized' });
    expect(ev[1]).toMatchObject({ type: 'error', callId: queued, fatal: true });
    expect(c.pollTimeout()).toBeUndefined();
    const later = c.call(1, Buffer.alloc(0), 2);
    expect(drain(c)).toMatchObject({ sent: [], events: [{ type: 'error', callId: later, fatal: true }] });
  });

  it('a rejected presentation context is a fatal typed error naming the result', () => {
    const c = new RpcClient({ abstractSyntax: SRVSVC });
    c.handleConnected(0);
    drain(c);
    c.handleBytes(V.bindAckUnknownIf, 1);
    const [e] = drain(c).events;
    expect(e).toMatchObject({ type: 'error', code: 'context-rejected', fatal: true });
    expect((e as { message: string }).message).toContain('provider_rejection (abstract_syntax_not_supported)');
  });

  it('faults name their status; access denied is flagged', () => {
    const c = bound();
    const id = c.call(0, Buffer.alloc(4), 0);
    drain(c);
    const fault = encodePdu({ type: PType.FAULT, flags: 0x23, callId: id, allocHint: 32, contextId: 0, cancelCount: 0, status: 5 });
    c.handleBytes(fault, 1);
    expect(drain(c).events).toEqual([{ type: 'fault', callId: id, status: 5, name: 'access_denied', accessDenied: true, didNotExecute: true }]);
    const id2 = c.call(0, Buffer.alloc(4), 0);
    drain(c);
    c.handleBytes(encodePdu({ type: PType.FAULT, flags: 3, callId: 0, allocHint: 32, contextId: 0, cancelCount: 0, status: 0x1c01000b }), 1);
    expect(drain(c).events, 'call_id 0: the oldest open call').toMatchObject([{ type: 'fault', callId: id2, name: 'nca_s_proto_error' }]);
  });

  it('closed mid-call: one closed event listing the open calls', () => {
    const c = bound();
    const a = c.call(0, Buffer.alloc(4), 0);
    const b = c.call(0, Buffer.alloc(4), 0);
    drain(c);
    c.handleBytes(response(a, Buffer.from('half'), 1), 1);
    c.handleClosed(2);
    expect(drain(c).events).toEqual([{ type: 'closed', duringBind: false, pendingCallIds: [a, b] }]);
    c.handleBytes(response(a, Buffer.from('rest'), 2), 3);
    expect(drain(c).events, 'nothing after close').toEqual([]);
    const d = new RpcClient({ abstractSyntax: SRVSVC });
    d.handleConnected(0);
    const q = d.call(0, Buffer.alloc(4), 0);
    d.handleClosed(1);
    expect(drain(d).events).toEqual([{ type: 'closed', duringBind: true, pendingCallIds: [q] }]);
  });

  it('timeouts on the fake clock: the bind, then each call', () => {
    const c = new RpcClient({ abstractSyntax: SRVSVC, timeoutMs: 1000 });
    c.handleConnected(100);
    expect(c.pollTimeout()).toBe(1100);
    c.handleTimeout(1099);
    drain(c);
    c.handleTimeout(1100);
    expect(drain(c).events).toMatchObject([{ type: 'error', code: 'timeout', fatal: true }]);

    const d = bound({ timeoutMs: 1000 });
    const a = d.call(0, Buffer.alloc(4), 5000);
    const b = d.call(0, Buffer.alloc(4), 5500);
    expect(d.pollTimeout()).toBe(6000);
    d.handleTimeout(6000);
    expect(drain(d).events).toMatchObject([{ type: 'error', code: 'timeout', callId: a, fatal: false }]);
    expect(d.pollTimeout()).toBe(6500);
    d.handleBytes(response(b, Buffer.from('ok')), 6100);
    expect(drain(d).events).toMatchObject([{ type: 'response', callId: b }]);
    d.handleBytes(response(a, Buffer.from('late')), 6200);
    expect(drain(d).events).toMatchObject([{ type: 'error', code: 'protocol', fatal: false }]);
    expect(d.stats.unexpected).toBe(1);
  });

  it('drops and counts a PDU that does not decode; a stream that is not DCE/RPC is fatal', () => {
    const c = bound();
    const id = c.call(0, Buffer.alloc(4), 0);
    drain(c);
    const shutdown = Buffer.from(V.badOpnumRequest);
    shutdown[2] = 17; // PTYPE shutdown: not one we decode
    c.handleBytes(Buffer.concat([shutdown, response(id, Buffer.from('ok'))]), 1);
    expect(drain(c).events.map((e) => [e.type, 'code' in e ? e.code : ''])).toEqual([
      ['error', 'malformed'],
      ['response', ''],
    ]);
    expect(c.stats.malformed).toBe(1);
    c.handleBytes(Buffer.from('HTTP/1.1 400 Bad Request\r\n'), 2);
    expect(drain(c).events).toMatchObject([{ type: 'error', code: 'protocol', fatal: true }]);
  });
});

describe('RpcClient with a security provider', () => {
  function authBound(level: 5 | 6, legs?: string[]) {
    const provider = new FakeProvider(legs ? { legs } : {});
    const c = new RpcClient({ abstractSyntax: SRVSVC, security: { provider, level } });
    c.handleConnected(0);
    const bind = expectOk(decodePdu(drain(c).sent[0]!));
    return { c, provider, bind };
  }

  it('bind carries the first token and offers header signing; bind_ack → auth3 with the last token → bound', () => {
    const { c, bind } = authBound(AuthLevel.PKT_PRIVACY);
    expect(bind).toMatchObject({ type: PType.BIND, flags: 0x07, callId: 1, auth: { authType: 10, authLevel: 6, authContextId: 1 } });
    expect(bind.auth!.authValue.toString()).toBe('NEGOTIATE');
    c.handleBytes(bindAck({ token: 'CHALLENGE' }), 1);
    const { sent, events } = drain(c);
    const auth3 = expectOk(decodePdu(sent[0]!));
    expect(auth3).toMatchObject({ type: PType.AUTH3, callId: 1, auth: { authType: 10, authLevel: 6 } });
    expect(auth3.auth!.authValue.toString()).toBe('AUTH-1');
    expect(events.map((e) => e.type)).toEqual(['bound']);
  });

  it('PKT_PRIVACY: requests sealed and signed per fragment, responses unsealed; sequence numbers per direction', () => {
    const { c } = authBound(AuthLevel.PKT_PRIVACY);
    c.handleBytes(bindAck({ token: 'CHALLENGE', maxRecvFrag: 1432 }), 1);
    drain(c);
    const stub = Buffer.from(Array.from({ length: 3000 }, (_, i) => (i * 7) % 256));
    const id = c.call(0, stub, 0);
    const sent = drain(c).sent;
    expect(sent.length).toBeGreaterThan(2);
    const opened = sent.map((b, i) => serverOpen(b, AuthLevel.PKT_PRIVACY, i));
    for (const b of sent) {
      expect(b.length).toBeLessThanOrEqual(1432);
      const p = expectOk(decodePdu(b));
      expect((b.length - 24 - 8 - 16) % 16, 'stub + padding is a multiple of 16').toBe(0);
      expect(p.auth).toMatchObject({ authType: 10, authLevel: 6, authContextId: 1 });
    }
    expect(Buffer.concat(opened.map((p) => p.stub))).toEqual(stub);
    expect(Buffer.concat(sent.map((b) => (expectOk(decodePdu(b)) as RequestPdu).stub)).equals(stub), 'on the wire the stub is not plaintext').toBe(false);

    c.handleBytes(Buffer.concat([response(id, Buffer.from('secret '), 1, { level: 6, seq: 0 }), response(id, Buffer.from('answer'), 2, { level: 6, seq: 1 })]), 2);
    expect(drain(c).events).toEqual([{ type: 'response', callId: id, stub: Buffer.from('secret answer') }]);
  });

  it('PKT_INTEGRITY: stub in clear, signature checked both ways', () => {
    const { c } = authBound(AuthLevel.PKT_INTEGRITY);
    c.handleBytes(bindAck({ token: 'CHALLENGE' }), 1);
    drain(c);
    const id = c.call(21, Buffer.from('plain'), 0);
    const [req] = drain(c).sent;
    expect(serverOpen(req!, AuthLevel.PKT_INTEGRITY, 0).stub).toEqual(Buffer.from('plain'));
    expect((expectOk(decodePdu(req!)) as RequestPdu).stub).toEqual(Buffer.from('plain'));
    c.handleBytes(response(id, Buffer.from('signed'), 3, { level: 5, seq: 0 }), 2);
    expect(drain(c).events).toEqual([{ type: 'response', callId: id, stub: Buffer.from('signed') }]);
  });

  it('a tampered, replayed or unprotected response ends the association', () => {
    for (const bad of ['tampered', 'replayed', 'unprotected'] as const) {
      const { c } = authBound(AuthLevel.PKT_PRIVACY);
      c.handleBytes(bindAck({ token: 'CHALLENGE' }), 1);
      drain(c);
      const id = c.call(0, Buffer.from('q'), 0);
      drain(c);
      let r = response(id, Buffer.from('answer'), 3, { level: 6, seq: bad === 'replayed' ? 1 : 0 });
      if (bad === 'tampered') r[26] ^= 1;
      if (bad === 'unprotected') r = response(id, Buffer.from('answer'));
      c.handleBytes(r, 2);
      expect(drain(c).events, bad).toMatchObject([
        { type: 'error', code: 'security', fatal: true },
        { type: 'error', callId: id, fatal: true },
      ]);
    }
  });

  it('a provider refusal or a bind_ack without a token is a fatal security error', () => {
    const refused = new RpcClient({ abstractSyntax: SRVSVC, security: { provider: new FakeProvider({ refuse: true }), level: 6 } });
    refused.handleConnected(0);
    drain(refused);
    refused.handleBytes(bindAck({ token: 'CHALLENGE' }), 1);
    expect(drain(refused)).toMatchObject({ sent: [], events: [{ type: 'error', code: 'security', fatal: true }] });
    const { c } = authBound(AuthLevel.PKT_PRIVACY);
    c.handleBytes(bindAck(), 1);
    expect(drain(c).events).toMatchObject([{ type: 'error', code: 'security', fatal: true }]);
  });

  it('more than one server leg: alter_context with the next token, then bound on alter_context_resp', () => {
    const { c, provider } = authBound(AuthLevel.PKT_PRIVACY, ['LEG1', 'LEG2']);
    c.handleBytes(bindAck({ token: 'LEG1' }), 1);
    const first = drain(c);
    expect(first.events).toEqual([]);
    const alter = expectOk(decodePdu(first.sent[0]!));
    expect(alter).toMatchObject({ type: PType.ALTER_CONTEXT, callId: 1, assocGroupId: 0x1234, contexts: [{ abstractSyntax: SRVSVC }] });
    expect(alter.auth!.authValue.toString()).toBe('AUTH-1');
    c.handleBytes(bindAck({ token: 'LEG2', type: PType.ALTER_CONTEXT_RESP }), 2);
    const second = drain(c);
    expect(expectOk(decodePdu(second.sent[0]!)).type).toBe(PType.AUTH3);
    expect(second.events.map((e) => e.type)).toEqual(['bound']);
    expect(provider.seen).toEqual(['LEG1', 'LEG2']);
  });

  it('header signing: `bound` says whether the bind_ack answered PFC_SUPPORT_HEADER_SIGN; the signature covers the header either way', () => {
    for (const [flags, headerSigning] of [
      [0x07, true],
      [0x03, false],
    ] as const) {
      const { c } = authBound(AuthLevel.PKT_PRIVACY);
      c.handleBytes(bindAck({ token: 'CHALLENGE', flags }), 1);
      expect(drain(c).events).toMatchObject([{ type: 'bound', headerSigning }]);
      c.call(21, Buffer.from('q'), 2);
      const [req] = drain(c).sent;
      // NTLMv2 signs every buffer handed to GSS_WrapEx (MS-NLMP 3.4.6): a flipped header byte must not verify.
      const changed = Buffer.from(req!);
      changed[9] ^= 0x01; // auth_length's high byte: part of the header, ignored by nobody
      expect(() => serverOpen(changed, AuthLevel.PKT_PRIVACY, 0)).toThrow();
      expect(serverOpen(req!, AuthLevel.PKT_PRIVACY, 0).stub).toEqual(Buffer.from('q'));
    }
    const plain = new RpcClient({ abstractSyntax: SRVSVC });
    plain.handleConnected(0);
    expect(expectOk(decodePdu(drain(plain).sent[0]!)).flags, 'no provider: header signing not offered').toBe(0x03);
    plain.handleBytes(bindAck({ flags: 0x07 }), 1);
    expect(drain(plain).events).toMatchObject([{ type: 'bound', headerSigning: false }]);
  });

  it('a fault answering the bind or its alter_context leg is a `bindFault` naming the status (Samba: a wrong password under SPNEGO)', () => {
    const fault = (status: number) => encodePdu({ type: PType.FAULT, flags: 0x23, callId: 1, allocHint: 32, contextId: 0, cancelCount: 0, status });
    const atBind = authBound(AuthLevel.PKT_PRIVACY);
    const queued = atBind.c.call(21, Buffer.from('q'), 0);
    atBind.c.handleBytes(fault(0x1c010002), 1);
    expect(drain(atBind.c).events).toEqual([
      { type: 'bindFault', leg: 'bind', status: 0x1c010002, name: 'nca_s_op_rng_error', accessDenied: false },
      { type: 'error', code: 'protocol', message: `call ${queued} abandoned: the association failed`, callId: queued, fatal: true },
    ]);
    const atAlter = authBound(AuthLevel.PKT_PRIVACY, ['LEG1', 'LEG2']);
    atAlter.c.handleBytes(bindAck({ token: 'LEG1' }), 1);
    expect(expectOk(decodePdu(drain(atAlter.c).sent[0]!)).type).toBe(PType.ALTER_CONTEXT);
    atAlter.c.handleBytes(fault(0x721), 2);
    expect(drain(atAlter.c)).toEqual({ sent: [], events: [{ type: 'bindFault', leg: 'alter_context', status: 0x721, name: 'rpc_s_sec_pkg_error', accessDenied: true }] });
    expect(atAlter.c.pollTimeout()).toBeUndefined();
  });

  it('a WdsRpcMessage call at PKT_PRIVACY, as osdcast makes it: opnum 0, the packet sealed, the reply unsealed', () => {
    const provider = new FakeProvider();
    const c = new RpcClient({ abstractSyntax: WDSC_INTERFACE, security: { provider, level: AuthLevel.PKT_PRIVACY } });
    c.handleConnected(0);
    const bind = expectOk(decodePdu(drain(c).sent[0]!));
    expect(bind.type === PType.BIND && bind.contexts[0]!.abstractSyntax).toEqual(WDSC_INTERFACE);
    c.handleBytes(bindAck({ token: 'CHALLENGE' }), 1);
    drain(c);
    const packet = Buffer.from('an MS-WDSC request packet');
    const id = c.call(WDS_RPC_MESSAGE_OPNUM, encodeWdsRpcMessageRequest(packet), 2);
    const [req] = drain(c).sent;
    const opened = serverOpen(req!, AuthLevel.PKT_PRIVACY, 0);
    expect(opened.opnum).toBe(0);
    expect(expectOk(decodeWdsRpcMessageRequest(opened.stub))).toEqual(packet);
    expect(req!.includes(packet), 'the packet is not on the wire in clear').toBe(false);
    c.handleBytes(response(id, encodeWdsRpcMessageResponse(Buffer.from('the reply'), 0), 3, { level: 6, seq: 0 }), 3);
    const [ev] = drain(c).events;
    expect(ev!.type).toBe('response');
    expect(expectOk(decodeWdsRpcMessageResponse((ev as { stub: Buffer }).stub))).toEqual({ reply: Buffer.from('the reply'), returnValue: 0 });
  });
});
