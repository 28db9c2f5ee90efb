/**
 * The RPC client with a real NTLM provider (raw NTLMSSP or SPNEGO) paired in memory with core/rpc/server.ts at
 * PKT_PRIVACY or PKT_INTEGRITY, one call out, and the mutations of the server's protected response: shared by
 * test/core/rpc/sealed-fuzz.test.ts and the fuzz target rpc-sealed. No vitest here (the fuzz runner bundles it).
 */
import fc from 'fast-check';
import { RpcClient, RpcEvent } from '../../../core/rpc/client';
import { PType } from '../../../core/rpc/pdu';
import { AuthLevel, AuthType, SecurityProvider } from '../../../core/rpc/security';
import { RpcServerConnection } from '../../../core/rpc/server';
import { WDSC_INTERFACE, encodeWdsRpcMessageRequest, encodeWdsRpcMessageResponse } from '../../../core/rpc/wds-rpc';
import { Credentials } from '../../../core/ntlm/auth';
import { NtlmClientProvider, NtlmServerProvider, SpnegoClientProvider, SpnegoServerProvider } from '../../../core/ntlm/providers';

export const NOW = Date.UTC(2026, 3, 1, 9, 0, 0);
export const account = new Credentials({ domain: 'CONTOSO', user: 'svc-osd', password: 'Dp-Pässw0rd!' });
export const TYPES: RpcEvent['type'][] = ['bound', 'response', 'fault', 'bindNak', 'bindFault', 'error', 'closed'];
export const REPLY = encodeWdsRpcMessageResponse(Buffer.from('TpMcAddress.Address=239.0.0.1 SessionId=7 (sealed reply)'), 0);

export type Kind = 'ntlm' | 'spnego';
export type Level = typeof AuthLevel.PKT_INTEGRITY | typeof AuthLevel.PKT_PRIVACY;

export function pair(kind: Kind, level: Level): { c: RpcClient; s: RpcServerConnection } {
  const ntlmOpts = { serverChallenge: Buffer.from('5a5b5c5d5e5f6061', 'hex'), nowMs: NOW, computerName: 'DP01', domainName: 'CONTOSO', accounts: [account], allowAnonymous: false };
  const s = new RpcServerConnection(
    {
      interfaces: [{ syntax: WDSC_INTERFACE, opnums: 1, minLevel: level }],
      securityProvider: (t) => (t === AuthType.WINNT ? new NtlmServerProvider(ntlmOpts) : t === AuthType.SPNEGO ? new SpnegoServerProvider(ntlmOpts) : undefined),
      assocGroupId: 0x5040,
      secondaryAddress: '5040',
    },
    NOW,
  );
  const o = { credentials: account, clientChallenge: Buffer.from('0102030405060708', 'hex'), exportedSessionKey: Buffer.alloc(16, 0x33), nowMs: NOW };
  const provider: SecurityProvider = kind === 'ntlm' ? new NtlmClientProvider(o) : new SpnegoClientProvider(o);
  return { c: new RpcClient({ abstractSyntax: WDSC_INTERFACE, security: { provider, level }, timeoutMs: 1000 }), s };
}

/** Moves bytes both ways until quiet; the server answers every request with REPLY; its RESPONSE PDUs are held back, not delivered. */
export function pump(c: RpcClient, s: RpcServerConnection, events: RpcEvent[], held: Buffer[]): void {
  for (let round = 0; round < 100; round++) {
    let moved = false;
    for (let b = c.pollSend(); b; b = c.pollSend()) (moved = true), s.handleBytes(b, NOW);
    for (let e = s.pollEvent(); e; e = s.pollEvent()) {
      moved = true;
      if (e.type === 'request') s.respond(e.callId, REPLY);
    }
    for (let b = s.pollSend(); b; b = s.pollSend()) {
      moved = true;
      if (b[2] === PType.RESPONSE) held.push(Buffer.from(b));
      else c.handleBytes(b, NOW);
    }
    for (let e = c.pollEvent(); e; e = c.pollEvent()) (moved = true), events.push(e);
    if (!moved) return;
  }
  throw new Error('pump did not settle');
}

/** A bound client with one call out, and the server's protected response to it (not yet delivered). */
export function callOut(kind: Kind, level: Level): { c: RpcClient; response: Buffer } {
  const { c, s } = pair(kind, level);
  const events: RpcEvent[] = [];
  const held: Buffer[] = [];
  c.handleConnected(NOW);
  pump(c, s, events, held);
  if (events.map((e) => e.type).join() !== 'bound') throw new Error(`the bind gave ${JSON.stringify(events.map((e) => e.type))}, expected ["bound"]`);
  c.call(0, encodeWdsRpcMessageRequest(Buffer.from('Namespace=SMSNamespace Content=PKG00001')), NOW);
  pump(c, s, events, held);
  if (held.length !== 1) throw new Error(`${held.length} protected responses held back, expected 1`);
  return { c, response: held[0]! };
}

/** Deliver `chunks` to the client, then a timeout and a close; every event it emits. */
export function feed(c: RpcClient, chunks: Buffer[]): RpcEvent[] {
  const events: RpcEvent[] = [];
  for (const ch of chunks) c.handleBytes(ch, NOW + 1);
  for (let e = c.pollEvent(); e; e = c.pollEvent()) events.push(e);
  c.handleTimeout(NOW + 10_000);
  c.handleClosed(NOW + 10_001);
  for (let e = c.pollEvent(); e; e = c.pollEvent()) events.push(e);
  while (c.pollSend());
  return events;
}

/** Up to 6 byte changes (each really changing its byte), optionally cut short, delivered in 1-4 chunks. */
export const mutation = fc.record({
  changes: fc.array(fc.tuple(fc.nat(), fc.integer({ min: 1, max: 0xff })), { minLength: 0, maxLength: 6 }),
  cut: fc.option(fc.nat(), { nil: undefined }),
  splits: fc.array(fc.nat(), { maxLength: 3 }),
  trailing: fc.option(fc.uint8Array({ minLength: 1, maxLength: 40 }), { nil: undefined }),
});
export type Mutation = typeof mutation extends fc.Arbitrary<infer T> ? T : never;

export function apply(v: Buffer, m: Mutation): { bytes: Buffer; chunks: Buffer[] } {
  let b = Buffer.from(v);
  for (const [i, x] of m.changes) b[i % b.length] ^= x; // x != 0: the byte changes (two changes at one place may cancel)
  if (m.cut !== undefined) b = b.subarray(0, m.cut % b.length);
  const points = [...new Set(m.splits.map((p) => p % (b.length + 1)))].sort((a, z) => a - z);
  const chunks: Buffer[] = [];
  let at = 0;
  for (const p of [...points, b.length]) chunks.push(b.subarray(at, p)), (at = p);
  if (m.trailing) chunks.push(Buffer.from(m.trailing)); // bytes after the PDU: the start of another, garbage
  return { bytes: b, chunks };
}
