/**
 * Property tests (fast-check) for the server's decoders-on-input: the server connection fed arbitrary bytes, captured
 * client PDUs and mutations of a real client's PDUs, in arbitrary chunks, never throws, emits only typed events,
 * sends only PDUs that decode, and every malformed input it closes on is counted. The ept_map request decoder
 * never throws; the ept_map response encoder round-trips through the client's decoder.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { RpcClient } from '../../../core/rpc/client';
import { decodePdu } from '../../../core/rpc/pdu';
import { EPM_INTERFACE, decodeEptMapRequest, decodeEptMapResponse, encodeEptMapRequest, encodeEptMapResponse } from '../../../core/rpc/epm';
import { AuthLevel, AuthType } from '../../../core/rpc/security';
import { RpcServerConnection } from '../../../core/rpc/server';
import { WDSC_INTERFACE, encodeWdsRpcMessageRequest } from '../../../core/rpc/wds-rpc';
import { Credentials } from '../../../core/ntlm/auth';
import { NtlmClientProvider, NtlmServerProvider, SpnegoServerProvider } from '../../../core/ntlm/providers';
import { isWellFormedResult } from '../codec/helpers';
import { V } from './vectors';

const bytes = (maxLength: number) => fc.uint8Array({ maxLength }).map((a) => Buffer.from(a));
const account = new Credentials({ domain: 'D', user: 'u', password: 'p' });
const ntlmOpts = { serverChallenge: Buffer.alloc(8, 1), nowMs: 0, computerName: 'DP', domainName: 'D', accounts: [account], allowAnonymous: true };
const EVENT_TYPES = ['request', 'authenticated', 'auth-failed', 'refused', 'close'];

function newServer(): RpcServerConnection {
  return new RpcServerConnection(
    {
      interfaces: [
        { syntax: WDSC_INTERFACE, opnums: 1, minLevel: AuthLevel.NONE },
        { syntax: EPM_INTERFACE, opnums: 8, minLevel: AuthLevel.NONE },
      ],
      securityProvider: (t) => (t === AuthType.WINNT ? new NtlmServerProvider(ntlmOpts) : t === AuthType.SPNEGO ? new SpnegoServerProvider(ntlmOpts) : undefined),
      assocGroupId: 1,
      secondaryAddress: '5040',
      maxRequestBytes: 4096,
    },
    0,
  );
}

/** Feeds chunks, answers every request, and checks everything that comes out. */
function feed(s: RpcServerConnection, chunks: Buffer[]): void {
  for (const ch of chunks) {
    s.handleBytes(ch, 1);
    for (let e = s.pollEvent(); e; e = s.pollEvent()) {
      expect(EVENT_TYPES).toContain(e.type);
      if (e.type === 'request') s.respond(e.callId, Buffer.alloc(8));
    }
    for (let b = s.pollSend(); b; b = s.pollSend()) expect(decodePdu(b).ok).toBe(true);
  }
  s.handleTimeout(1e12);
  expect(s.closed).toBe(true);
}

/** What a real client sends for an NTLM PKT_PRIVACY bind and one call, as raw PDUs. */
function clientPdus(): Buffer[] {
  const c = new RpcClient({
    abstractSyntax: WDSC_INTERFACE,
    security: { provider: new NtlmClientProvider({ credentials: account, clientChallenge: Buffer.alloc(8, 2), exportedSessionKey: Buffer.alloc(16, 3), nowMs: 0 }), level: AuthLevel.PKT_PRIVACY },
  });
  const s = newServer();
  c.handleConnected(0);
  const out: Buffer[] = [];
  c.call(0, encodeWdsRpcMessageRequest(Buffer.alloc(100, 7)), 0);
  for (let i = 0; i < 6; i++) {
    for (let b = c.pollSend(); b; b = c.pollSend()) {
      out.push(Buffer.from(b));
      s.handleBytes(b, 0);
    }
    for (let b = s.pollSend(); b; b = s.pollSend()) c.handleBytes(b, 0);
    while (s.pollEvent());
  }
  return out;
}

const mutate = (pdus: Buffer[]) =>
  fc.tuple(fc.nat(pdus.length - 1), fc.array(fc.tuple(fc.nat(4000), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 6 })).map(([which, muts]) =>
    pdus.map((p, i) => {
      if (i !== which) return p;
      const b = Buffer.from(p);
      for (const [at, x] of muts) b[at % b.length] = x;
      return b;
    }),
  );

describe('rpc server fuzz', () => {
  it('arbitrary bytes and captured client PDUs in arbitrary chunks never make it throw', () => {
    const captured = [V.bindEpm, V.eptMapRequest, V.getInfoRequest, V.badOpnumRequest, V.bindNtlm, V.sealedRequest, V.signedRequest, V.alterContext];
    fc.assert(
      fc.property(fc.array(fc.oneof(bytes(60), fc.constantFrom(...captured)), { maxLength: 8 }), fc.integer({ min: 1, max: 64 }), (parts, size) => {
        const all = Buffer.concat(parts);
        const chunks: Buffer[] = [];
        for (let i = 0; i < all.length; i += size) chunks.push(all.subarray(i, i + size));
        feed(newServer(), chunks);
      }),
      { numRuns: 300 },
    );
  });

  it("mutations of a real client's NTLM PKT_PRIVACY exchange: answered, faulted or closed, and counted", () => {
    const pdus = clientPdus();
    expect(pdus.length).toBe(3); // bind, rpc_auth_3, request
    fc.assert(
      fc.property(mutate(pdus), (ps) => {
        const s = newServer();
        feed(s, ps);
        const st = s.stats;
        // Whatever happened is visible in a counter: a served request, a refusal of some kind, or (a frag_length
        // grown by the mutation) a PDU never completed, closed by the idle timeout.
        expect(st.requests + st.malformed + st.protocolErrors + st.authFailures + st.securityErrors + st.faults + st.idleCloses + st.bindNaks).toBeGreaterThan(0);
      }),
      { numRuns: 300 },
    );
  });

  it('decodeEptMapRequest never throws; ept_map requests and responses round-trip', () => {
    fc.assert(fc.property(bytes(200), (b) => isWellFormedResult(decodeEptMapRequest(b))), { numRuns: 400 });
    fc.assert(
      fc.property(fc.uuid(), fc.integer({ min: 0, max: 0xffff }), fc.integer({ min: 1, max: 0xffff }), fc.ipV4(), fc.integer({ min: 1, max: 8 }), (uuid, major, port, address, maxTowers) => {
        const iface = { uuid, major, minor: 0 };
        const q = decodeEptMapRequest(encodeEptMapRequest(iface, maxTowers));
        expect(q.ok && q.value).toEqual({ iface: { ...iface, uuid: uuid.toLowerCase() }, maxTowers });
        const r = decodeEptMapResponse(encodeEptMapResponse({ status: 0, endpoints: [{ iface, port, address }] }, maxTowers));
        expect(r.ok && r.value).toEqual({ status: 0, endpoints: [{ iface: { ...iface, uuid: uuid.toLowerCase() }, port, address }] });
      }),
      { numRuns: 300 },
    );
  });
});
