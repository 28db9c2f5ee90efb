/**
 * The sans-I/O server against the sans-I/O client, in memory, with a fake clock and the real NTLM providers of
 * core/ntlm on both sides: bind and presentation-context negotiation, NTLMSSP (10) and SPNEGO (9) at
 * PKT_PRIVACY and PKT_INTEGRITY, wrong passwords, anonymous allowed and refused, fragmentation both ways, the
 * faults a server owes (opnum, context, access, protocol), ept_map answered, the idle timeout.
 */
import { describe, expect, it } from 'vitest';
import { RpcClient, RpcClientOptions, RpcEvent } from '../../../core/rpc/client';
import { decodePdu, encodePdu, PType } from '../../../core/rpc/pdu';
import { SyntaxId } from '../../../core/rpc/ndr';
import { EPM_INTERFACE, EPT_MAP_OPNUM, EPT_S_NOT_REGISTERED, decodeEptMapRequest, decodeEptMapResponse, encodeEptMapRequest, encodeEptMapResponse } from '../../../core/rpc/epm';
import { AuthLevel, AuthType, SecurityProvider } from '../../../core/rpc/security';
import { FaultStatus, RpcServerConnection, RpcServerEvent, RpcServerOptions } from '../../../core/rpc/server';
import { WDSC_INTERFACE, decodeWdsRpcMessageRequest, decodeWdsRpcMessageResponse, encodeWdsRpcMessageRequest, encodeWdsRpcMessageResponse } from '../../../core/rpc/wds-rpc';
import { Credentials } from '../../../core/ntlm/auth';
import { NtlmClientProvider, NtlmServerProvider, SpnegoClientProvider, SpnegoServerProvider } from '../../../core/ntlm/providers';
import { expectOk } from '../codec/helpers';
import { FakeProvider } from './fake-provider';

const NOW = Date.UTC(2026, 3, 1, 9, 0, 0);
const PASSWORD = 'Dp-Pässw0rd!';
const account = new Credentials({ domain: 'CONTOSO', user: 'svc-osd', password: PASSWORD });
const OTHER_IF: SyntaxId = { uuid: '4b324fc8-1670-01d3-1278-5a47bf6ee188', major: 3, minor: 0 };

interface ServerSetup {
  allowAnonymous?: boolean;
  minLevel?: number;
  types?: number[];
  over?: Partial<RpcServerOptions>;
}

function server(s: ServerSetup = {}): RpcServerConnection {
  const ntlmOpts = {
    serverChallenge: Buffer.from('5a5b5c5d5e5f6061', 'hex'),
    nowMs: NOW,
    computerName: 'DP01',
    domainName: 'CONTOSO',
    accounts: [account],
    allowAnonymous: s.allowAnonymous ?? false,
  };
  const types = s.types ?? [AuthType.SPNEGO, AuthType.WINNT];
  return new RpcServerConnection(
    {
      interfaces: [
        { syntax: WDSC_INTERFACE, opnums: 1, minLevel: s.minLevel ?? AuthLevel.NONE },
        { syntax: EPM_INTERFACE, opnums: 8, minLevel: AuthLevel.NONE },
      ],
      securityProvider: (t) => (!types.includes(t) ? undefined : t === AuthType.WINNT ? new NtlmServerProvider(ntlmOpts) : t === AuthType.SPNEGO ? new SpnegoServerProvider(ntlmOpts) : undefined),
      assocGroupId: 0x5040,
      secondaryAddress: '5040',
      ...s.over,
    },
    NOW,
  );
}

type Kind = 'ntlm' | 'spnego';
function provider(kind: Kind, credentials: Credentials | undefined): SecurityProvider {
  const o = { credentials, clientChallenge: Buffer.from('0102030405060708', 'hex'), exportedSessionKey: Buffer.alloc(16, 0x33), nowMs: NOW };
  return kind === 'ntlm' ? new NtlmClientProvider(o) : new SpnegoClientProvider(o);
}

function client(opts: Partial<RpcClientOptions> = {}): RpcClient {
  return new RpcClient({ abstractSyntax: WDSC_INTERFACE, ...opts });
}

interface Run {
  clientEvents: RpcEvent[];
  serverEvents: RpcServerEvent[];
  /** Every PDU, as it went over the wire, in order. */
  wire: { from: 'client' | 'server'; pdu: Buffer }[];
}

/**
 * Moves bytes both ways until both sides are quiet; answers each request with `answer` (a stub, or a fault
 * status). `chunk` splits every write into pieces of that many bytes (TCP segmentation).
 */
function pump(c: RpcClient, s: RpcServerConnection, answer: (e: Extract<RpcServerEvent, { type: 'request' }>) => Buffer | number = (e) => e.stub, run: Run = { clientEvents: [], serverEvents: [], wire: [] }, chunk = 0, now = NOW): Run {
  for (let round = 0; round < 1000; round++) {
    let moved = false;
    for (let b = c.pollSend(); b; b = c.pollSend()) {
      moved = true;
      run.wire.push({ from: 'client', pdu: Buffer.from(b) });
      if (chunk) for (let i = 0; i < b.length; i += chunk) s.handleBytes(b.subarray(i, i + chunk), now);
      else s.handleBytes(b, now);
    }
    for (let e = s.pollEvent(); e; e = s.pollEvent()) {
      moved = true;
      run.serverEvents.push(e);
      if (e.type === 'request') {
        const a = answer(e);
        if (typeof a === 'number') s.fault(e.callId, a);
        else s.respond(e.callId, a);
      }
    }
    for (let b = s.pollSend(); b; b = s.pollSend()) {
      moved = true;
      run.wire.push({ from: 'server', pdu: Buffer.from(b) });
      c.handleBytes(b, now);
    }
    for (let e = c.pollEvent(); e; e = c.pollEvent()) {
      moved = true;
      run.clientEvents.push(e);
    }
    if (!moved) return run;
  }
  throw new Error('pump did not settle');
}

function connect(c: RpcClient, s: RpcServerConnection, answer?: Parameters<typeof pump>[2]): Run {
  c.handleConnected(NOW);
  return pump(c, s, answer);
}

describe('RpcServerConnection without authentication', () => {
  it('binds the WDSC interface in NDR 2.0 and answers WdsRpcMessage', () => {
    const c = client();
    const s = server();
    const run = connect(c, s);
    expect(run.clientEvents).toEqual([{ type: 'bound', headerSigning: false, maxXmitFrag: 4280, maxRecvFrag: 4280, assocGroupId: 0x5040, secondaryAddress: '5040' }]);
    const id = c.call(0, encodeWdsRpcMessageRequest(Buffer.from('hello wdsc')), NOW);
    const r = pump(c, s, (e) => {
      expect(e.iface).toEqual(WDSC_INTERFACE);
      expect(e.opnum).toBe(0);
      expect(e.auth).toEqual({ level: AuthLevel.NONE, authType: 0 });
      const packet = expectOk(decodeWdsRpcMessageRequest(e.stub));
      return encodeWdsRpcMessageResponse(Buffer.from(`reply to ${packet.toString()}`), 0);
    });
    expect(r.clientEvents).toHaveLength(1);
    const ev = r.clientEvents[0]!;
    if (ev.type !== 'response') throw new Error(JSON.stringify(ev));
    expect(ev.callId).toBe(id);
    expect(expectOk(decodeWdsRpcMessageResponse(ev.stub))).toEqual({ reply: Buffer.from('reply to hello wdsc'), returnValue: 0 });
    expect(s.stats.requests).toBe(1);
  });

  it('rejects an interface it does not serve (provider_rejection, abstract_syntax_not_supported) and a foreign transfer syntax', () => {
    const c = client({ abstractSyntax: OTHER_IF });
    const run = connect(c, server());
    expect(run.clientEvents).toMatchObject([{ type: 'error', code: 'context-rejected', fatal: true }]);
    expect((run.clientEvents[0] as { message: string }).message).toContain('provider_rejection (abstract_syntax_not_supported)');

    // A hand-made bind offering NDR64 only for WDSC, and a second context with bind-time feature negotiation.
    const s = server();
    const ndr64 = { uuid: '71710533-beba-4937-8319-b5dbef9ccc36', major: 1, minor: 0 };
    const btfn = { uuid: '6cb71c2c-9812-4540-0300-000000000000', major: 1, minor: 0 };
    s.handleBytes(
      encodePdu({ type: PType.BIND, flags: 3, callId: 7, maxXmitFrag: 4280, maxRecvFrag: 4280, assocGroupId: 0, contexts: [{ contextId: 0, abstractSyntax: WDSC_INTERFACE, transferSyntaxes: [ndr64] }, { contextId: 1, abstractSyntax: WDSC_INTERFACE, transferSyntaxes: [btfn] }] }),
      NOW,
    );
    const ack = expectOk(decodePdu(s.pollSend()!));
    expect(ack).toMatchObject({ type: PType.BIND_ACK, callId: 7, results: [{ result: 2, reason: 2 }, { result: 3, reason: 0 }] });
  });

  it('faults an opnum out of range (nca_s_op_rng_error) and keeps the association', () => {
    const c = client();
    const s = server();
    connect(c, s);
    const bad = c.call(9, Buffer.alloc(4), NOW);
    const good = c.call(0, encodeWdsRpcMessageRequest(Buffer.from('x')), NOW);
    const r = pump(c, s, () => encodeWdsRpcMessageResponse(undefined, 2));
    expect(r.clientEvents).toEqual([
      { type: 'fault', callId: bad, status: FaultStatus.OP_RNG_ERROR, name: 'nca_s_op_rng_error', accessDenied: false, didNotExecute: true },
      { type: 'response', callId: good, stub: encodeWdsRpcMessageResponse(undefined, 2) },
    ]);
  });

  it('an interface requiring PKT_PRIVACY refuses an unauthenticated call with access denied', () => {
    const c = client();
    const s = server({ minLevel: AuthLevel.PKT_PRIVACY });
    connect(c, s);
    const id = c.call(0, encodeWdsRpcMessageRequest(Buffer.from('x')), NOW);
    const r = pump(c, s);
    expect(r.clientEvents).toEqual([{ type: 'fault', callId: id, status: 5, name: 'access_denied', accessDenied: true, didNotExecute: true }]);
    expect(r.serverEvents).toMatchObject([{ type: 'refused', code: 'policy', status: 5, fatal: false }]);
  });

  it('the application can fault a call itself, and a call is answered only once', () => {
    const c = client();
    const s = server();
    connect(c, s);
    const id = c.call(0, encodeWdsRpcMessageRequest(Buffer.from('x')), NOW);
    let seen = 0;
    const r = pump(c, s, (e) => {
      seen = e.callId;
      return FaultStatus.ACCESS_DENIED;
    });
    expect(r.clientEvents).toMatchObject([{ type: 'fault', callId: id, status: 5, didNotExecute: false }]);
    expect(s.respond(seen, Buffer.alloc(4))).toBe(false);
    expect(s.pollSend()).toBeUndefined();
  });

  it('answers ept_map with the tower of the port it is given, and ept_s_not_registered for another interface', () => {
    const c = client({ abstractSyntax: EPM_INTERFACE });
    const s = server();
    connect(c, s);
    const answer = (e: Extract<RpcServerEvent, { type: 'request' }>) => {
      expect(e.opnum).toBe(EPT_MAP_OPNUM);
      const q = expectOk(decodeEptMapRequest(e.stub));
      const mine = q.iface !== undefined && q.iface.uuid === WDSC_INTERFACE.uuid;
      return encodeEptMapResponse(mine ? { status: 0, endpoints: [{ iface: WDSC_INTERFACE, port: 49777, address: '127.0.0.1' }] } : { status: EPT_S_NOT_REGISTERED, endpoints: [] }, q.maxTowers);
    };
    const a = c.call(EPT_MAP_OPNUM, encodeEptMapRequest(WDSC_INTERFACE), NOW);
    const b = c.call(EPT_MAP_OPNUM, encodeEptMapRequest(OTHER_IF), NOW);
    const r = pump(c, s, answer);
    const stubs = new Map(r.clientEvents.map((e) => [(e as { callId: number }).callId, (e as { stub: Buffer }).stub]));
    expect(expectOk(decodeEptMapResponse(stubs.get(a)!))).toEqual({ status: 0, endpoints: [{ iface: WDSC_INTERFACE, port: 49777, address: '127.0.0.1' }] });
    expect(expectOk(decodeEptMapResponse(stubs.get(b)!))).toEqual({ status: EPT_S_NOT_REGISTERED, endpoints: [] });
  });

  it('reassembles a fragmented request and fragments a large response to the negotiated sizes', () => {
    const c = client({ maxXmitFrag: 1432, maxRecvFrag: 1500 });
    const s = server();
    connect(c, s);
    const big = Buffer.from(Array.from({ length: 10_000 }, (_, i) => i % 251));
    c.call(0, encodeWdsRpcMessageRequest(big), NOW);
    const r = pump(c, s, (e) => encodeWdsRpcMessageResponse(Buffer.concat([expectOk(decodeWdsRpcMessageRequest(e.stub)), Buffer.from('!')]), 0), undefined, 97);
    const fromServer = r.wire.filter((w) => w.from === 'server');
    expect(r.wire.filter((w) => w.from === 'client').length).toBeGreaterThan(7);
    expect(fromServer.length).toBeGreaterThan(6);
    for (const w of fromServer) expect(w.pdu.length).toBeLessThanOrEqual(1500);
    const ev = r.clientEvents.find((e) => e.type === 'response') as { stub: Buffer };
    expect(expectOk(decodeWdsRpcMessageResponse(ev.stub)).reply).toEqual(Buffer.concat([big, Buffer.from('!')]));
  });

  it('a request over maxRequestBytes is a protocol fault and closes the connection', () => {
    const c = client();
    const s = server({ over: { maxRequestBytes: 4096 } });
    connect(c, s);
    const id = c.call(0, Buffer.alloc(9000), NOW);
    const r = pump(c, s);
    expect(r.clientEvents).toMatchObject([{ type: 'fault', callId: id, status: FaultStatus.PROTO_ERROR }]);
    expect(r.serverEvents.map((e) => e.type)).toEqual(['refused', 'close']);
    expect(s.closed).toBe(true);
  });

  it('closes an idle connection at pollTimeout (fake clock)', () => {
    const s = server({ over: { idleTimeoutMs: 30_000 } });
    s.handleBytes(Buffer.alloc(0), NOW + 1000);
    expect(s.pollTimeout()).toBe(NOW + 31_000);
    s.handleTimeout(NOW + 30_999);
    expect(s.pollEvent()).toBeUndefined();
    s.handleTimeout(NOW + 31_000);
    expect(s.pollEvent()).toMatchObject({ type: 'close', reason: 'idle' });
    expect(s.pollTimeout()).toBeUndefined();
  });

  it('a second bind, a PDU type a client never sends and a garbled header each fault or close, counted', () => {
    const c = client();
    const s = server();
    connect(c, s);
    const again = Buffer.from(c['bindPdu'](PType.BIND, 3, undefined) as Buffer);
    s.handleBytes(again, NOW);
    expect(expectOk(decodePdu(s.pollSend()!))).toMatchObject({ type: PType.FAULT, status: FaultStatus.PROTO_ERROR });
    expect(s.closed).toBe(true);
    expect(s.stats.protocolErrors).toBe(1);

    const t = server();
    t.handleBytes(encodePdu({ type: PType.RESPONSE, flags: 3, callId: 4, allocHint: 0, contextId: 0, cancelCount: 0, stub: Buffer.alloc(0) }), NOW);
    expect(expectOk(decodePdu(t.pollSend()!))).toMatchObject({ type: PType.FAULT, callId: 4, status: FaultStatus.PROTO_ERROR });

    const u = server();
    u.handleBytes(Buffer.from('GET / HTTP/1.1\r\n\r\n'), NOW);
    expect(u.pollSend()).toBeUndefined();
    expect(u.pollEvent()).toMatchObject({ type: 'close', reason: 'protocol' });
    expect(u.stats.malformed).toBe(1);
  });
});

const kinds: { kind: Kind; authType: number }[] = [
  { kind: 'ntlm', authType: AuthType.WINNT },
  { kind: 'spnego', authType: AuthType.SPNEGO },
];

for (const { kind, authType } of kinds) {
  describe(`RpcServerConnection with ${kind} (auth type ${authType})`, () => {
    it('NTLMv2 at PKT_PRIVACY: authenticates the user, unseals the request, seals the response', () => {
      const c = client({ security: { provider: provider(kind, account), level: AuthLevel.PKT_PRIVACY } });
      const s = server({ minLevel: AuthLevel.PKT_PRIVACY });
      const bindRun = connect(c, s);
      expect(bindRun.clientEvents.map((e) => e.type)).toEqual(['bound']);
      expect(bindRun.serverEvents).toEqual([{ type: 'authenticated', authType, level: AuthLevel.PKT_PRIVACY, user: 'svc-osd', domain: 'CONTOSO', anonymous: false }]);
      // SPNEGO with a mechListMIC takes an alter_context leg; raw NTLMSSP ends with rpc_auth_3.
      const legs = bindRun.wire.filter((w) => w.from === 'client').map((w) => w.pdu[2]);
      expect(legs).toEqual(kind === 'spnego' ? [PType.BIND, PType.ALTER_CONTEXT] : [PType.BIND, PType.AUTH3]);

      const secret = Buffer.from('Namespace=SMSNamespace Content=PKG00001 (sealed)');
      c.call(0, encodeWdsRpcMessageRequest(secret), NOW);
      const r = pump(c, s, (e) => {
        expect(e.auth).toEqual({ level: AuthLevel.PKT_PRIVACY, authType, identity: { user: 'svc-osd', domain: 'CONTOSO', anonymous: false } });
        return encodeWdsRpcMessageResponse(Buffer.concat([Buffer.from('ok:'), expectOk(decodeWdsRpcMessageRequest(e.stub))]), 0);
      });
      for (const w of r.wire) expect(w.pdu.includes(Buffer.from('SMSNamespace')), `${w.from} PDU in clear`).toBe(false);
      const ev = r.clientEvents[0] as { type: string; stub: Buffer };
      expect(ev.type).toBe('response');
      expect(expectOk(decodeWdsRpcMessageResponse(ev.stub)).reply).toEqual(Buffer.concat([Buffer.from('ok:'), secret]));
    });

    it('PKT_INTEGRITY: signed, not sealed; a tampered request is rpc_s_sec_pkg_error and the connection closes', () => {
      const c = client({ security: { provider: provider(kind, account), level: AuthLevel.PKT_INTEGRITY } });
      const s = server({ minLevel: AuthLevel.PKT_INTEGRITY });
      connect(c, s);
      c.call(0, encodeWdsRpcMessageRequest(Buffer.from('signed only')), NOW);
      const r = pump(c, s);
      expect(r.wire.some((w) => w.from === 'server' && w.pdu.includes(Buffer.from('signed only')))).toBe(true);
      expect(r.clientEvents.map((e) => e.type)).toEqual(['response']);

      c.call(0, encodeWdsRpcMessageRequest(Buffer.from('tampered')), NOW);
      const req = c.pollSend()!;
      req[req.indexOf(Buffer.from('tampered'))] ^= 1;
      s.handleBytes(req, NOW);
      expect(expectOk(decodePdu(s.pollSend()!))).toMatchObject({ type: PType.FAULT, status: FaultStatus.SEC_PKG_ERROR });
      expect(s.closed).toBe(true);
      expect(s.stats.securityErrors).toBe(1);
    });

    it('a wrong password: bind_ack as usual, then the first request gets access denied and the connection closes', () => {
      const wrong = new Credentials({ domain: 'CONTOSO', user: 'svc-osd', password: 'not-it' });
      const c = client({ security: { provider: provider(kind, wrong), level: AuthLevel.PKT_PRIVACY } });
      const s = server({ minLevel: AuthLevel.PKT_PRIVACY });
      const bindRun = connect(c, s);
      expect(s.stats.authFailures).toBe(1);
      if (kind === 'ntlm') {
        // rpc_auth_3 has no answer: the client believes it is bound.
        expect(bindRun.clientEvents.map((e) => e.type)).toEqual(['bound']);
        expect(bindRun.serverEvents).toMatchObject([{ type: 'auth-failed', authType, kind: 'rejected' }]);
        const id = c.call(0, encodeWdsRpcMessageRequest(Buffer.from('x')), NOW);
        const r = pump(c, s);
        expect(r.clientEvents).toEqual([{ type: 'fault', callId: id, status: 5, name: 'access_denied', accessDenied: true, didNotExecute: true }]);
        expect(r.serverEvents.map((e) => e.type)).toEqual(['refused', 'close']);
      } else {
        // SPNEGO's last leg goes in alter_context, which is answered: with the access-denied fault, during the bind
        // (a typed bindFault since the client met Samba; protocol-notes #36).
        expect(bindRun.clientEvents).toMatchObject([{ type: 'bindFault', status: 5, name: 'access_denied', accessDenied: true }]);
        expect(bindRun.serverEvents.map((e) => e.type)).toEqual(['auth-failed', 'close']);
      }
      expect(s.closed).toBe(true);
    });

    it('anonymous NTLM at PKT_PRIVACY is served when allowed and refused (access denied) when not', () => {
      for (const allowAnonymous of [true, false]) {
        const c = client({ security: { provider: provider(kind, undefined), level: AuthLevel.PKT_PRIVACY } });
        const s = server({ allowAnonymous });
        const bindRun = connect(c, s);
        if (kind === 'spnego' && !allowAnonymous) {
          // SPNEGO's last leg (alter_context, protocol-notes #36) is refused during the bind.
          expect(bindRun.clientEvents).toMatchObject([{ type: 'bindFault', status: 5, accessDenied: true }]);
          expect(s.closed).toBe(true);
          continue;
        }
        const id = c.call(0, encodeWdsRpcMessageRequest(Buffer.from('anon')), NOW);
        const r = pump(c, s, (e) => {
          expect(e.auth.identity).toEqual({ user: '', domain: '', anonymous: true });
          return encodeWdsRpcMessageResponse(Buffer.from('served'), 0);
        });
        if (allowAnonymous) expect(r.clientEvents).toMatchObject([{ type: 'response', callId: id }]);
        else expect(r.clientEvents).toMatchObject([{ type: 'fault', callId: id, status: 5, accessDenied: true }]);
      }
    });

    it('an auth type the server does not offer is a bind_nak (authentication_type_not_recognized)', () => {
      const c = client({ security: { provider: provider(kind, account), level: AuthLevel.PKT_PRIVACY } });
      const s = server({ types: [authType === AuthType.WINNT ? AuthType.SPNEGO : AuthType.WINNT] });
      const run = connect(c, s);
      expect(run.clientEvents).toEqual([{ type: 'bindNak', reason: 8, name: 'authentication_type_not_recognized' }]);
      expect(run.serverEvents).toMatchObject([{ type: 'close', reason: 'bind-nak' }]);
    });
  });
}

describe('RpcServerConnection: protection rules', () => {
  it('an unprotected request on an authenticated PKT_PRIVACY association is a protocol fault', () => {
    const c = client({ security: { provider: provider('ntlm', account), level: AuthLevel.PKT_PRIVACY } });
    const s = server();
    connect(c, s);
    s.handleBytes(encodePdu({ type: PType.REQUEST, flags: 3, callId: 2, allocHint: 8, contextId: 0, opnum: 0, stub: encodeWdsRpcMessageRequest(Buffer.from('pl')) }), NOW);
    expect(expectOk(decodePdu(s.pollSend()!))).toMatchObject({ type: PType.FAULT, callId: 2, status: FaultStatus.PROTO_ERROR });
    expect(s.closed).toBe(true);
  });

  it('a request for a presentation context the bind did not accept is nca_s_unk_if', () => {
    const c = client();
    const s = server();
    connect(c, s);
    s.handleBytes(encodePdu({ type: PType.REQUEST, flags: 3, callId: 2, allocHint: 8, contextId: 5, opnum: 0, stub: Buffer.alloc(8) }), NOW);
    expect(expectOk(decodePdu(s.pollSend()!))).toMatchObject({ type: PType.FAULT, callId: 2, status: FaultStatus.UNK_IF });
    expect(s.closed).toBe(false);
  });

  it('a fake provider with an unknown auth type is refused at bind; the server never throws on its token', () => {
    const c = client({ security: { provider: new FakeProvider({ authType: 68 }), level: AuthLevel.PKT_PRIVACY } });
    const run = connect(c, server());
    expect(run.clientEvents).toEqual([{ type: 'bindNak', reason: 8, name: 'authentication_type_not_recognized' }]);
  });
});
