/**
 * Fuzz targets: the RPC state machines (client, connect plan, server connection, a sealed call through real NTLM)
 * and the MS-WDSC initiator, on a fake clock, fed arbitrary, captured and mutated bytes in arbitrary chunks.
 */
import fc from 'fast-check';
import { RpcClient } from '../../../core/rpc/client';
import { AuthLevel } from '../../../core/rpc/security';
import { Credentials } from '../../../core/ntlm/auth';
import { NtlmClientProvider, SpnegoClientProvider } from '../../../core/ntlm/providers';
import { buildInitiateRequest, encodeInitiateError, encodeInitiateReply } from '../../../core/wdsc/initiate';
import { WdscInitiator } from '../../../core/wdsc/initiator';
import { Mutation, bytes, mutate, mutation } from '../arbitraries/common';
import { reply } from '../arbitraries/wdsc';
import { REPLY, TYPES, apply, callOut, feed as feedSealed, mutation as sealedMutation } from '../arbitraries/sealed';
import { clientPdus, feed as feedServer, mutatePdus, newServer } from '../arbitraries/rpc-server';
import { FakeWdscServer } from '../../core/wdsc/fake-server';
import { SRVSVC } from '../../core/rpc/srvsvc';
import { V } from '../../core/rpc/vectors';
import { FuzzTarget, assert, count, same } from '../target';
import { driveConnector } from '../arbitraries/connect';

const CAPTURED = Object.values(V);
const chunk = fc.oneof(bytes(40), fc.constantFrom(...CAPTURED), fc.tuple(fc.constantFrom(...CAPTURED), fc.array(mutation, { minLength: 1, maxLength: 3 })).map(([v, ms]) => ms.reduce(mutate, v)));

/** test/core/rpc/fuzz.test.ts "the client", at depth: arbitrary, captured and mutated PDUs in chunks after a bind. */
const rpcClient: FuzzTarget<Buffer[]> = {
  name: 'rpc-client',
  kind: 'machine',
  about: 'core/rpc/client.ts after a bind and one call: arbitrary, captured and mutated bytes in chunks, a timeout, a close',
  seen: new Map(),
  input: fc.array(chunk, { maxLength: 8 }),
  check(chunks) {
    const c = new RpcClient({ abstractSyntax: SRVSVC });
    c.handleConnected(0);
    c.call(0, Buffer.alloc(4), 0);
    for (const ch of chunks) c.handleBytes(ch, 1);
    c.handleTimeout(1e9);
    c.handleClosed(2);
    for (let e = c.pollEvent(); e; e = c.pollEvent()) {
      assert(TYPES.includes(e.type), 'an untyped client event', { e });
      count(this.seen, `event ${e.type}`);
    }
    while (c.pollSend());
  },
};

const connectStep = fc.oneof(
  fc.record({ kind: fc.constant('bytes' as const), b: chunk }),
  fc.record({ kind: fc.constantFrom('close' as const, 'timeout' as const, 'connect' as const, 'refused' as const) }),
);
/** test/core/rpc/fuzz.test.ts "the connect plan", at depth. */
const rpcConnector: FuzzTarget<{ hasCredentials: boolean; steps: (typeof connectStep extends fc.Arbitrary<infer T> ? T : never)[] }> = {
  name: 'rpc-connector',
  kind: 'machine',
  about: 'core/rpc/connect.ts: server bytes, closes, refusals and timeouts over the attempts; at most one end, last',
  seen: new Map(),
  input: fc.record({ hasCredentials: fc.boolean(), steps: fc.array(connectStep, { maxLength: 14 }) }),
  check({ hasCredentials, steps }) {
    const events = driveConnector(hasCredentials, steps);
    for (const t of events) assert(['attemptFailed', 'done', 'failed'].includes(t), 'an untyped connect event', { t });
    const ends = events.filter((t) => t !== 'attemptFailed');
    assert(ends.length <= 1, 'more than one end', { events });
    if (ends.length) assert(events[events.length - 1] === ends[0], 'an event after the end', { events }), count(this.seen, `end ${ends[0]}`);
    assert(events.filter((t) => t === 'attemptFailed').length <= 3, 'more than 3 failed attempts (9, 10, NONE)', { events });
  },
};

/** test/core/rpc/server-fuzz.test.ts, at depth: arbitrary and captured client PDUs, and a real exchange mutated. */
const PDUS = clientPdus();
const rpcServer: FuzzTarget<{ k: 'chunks'; parts: Buffer[]; size: number } | { k: 'exchange'; ps: Buffer[] }> = {
  name: 'rpc-server',
  kind: 'machine',
  about: 'core/rpc/server.ts: arbitrary/captured client PDUs in chunks, and a real NTLM PKT_PRIVACY exchange mutated',
  seen: new Map(),
  input: fc.oneof(
    fc.record({ k: fc.constant('chunks' as const), parts: fc.array(chunk, { maxLength: 8 }), size: fc.integer({ min: 1, max: 64 }) }),
    mutatePdus(PDUS).map((ps) => ({ k: 'exchange' as const, ps })),
  ),
  check(x) {
    const s = newServer();
    if (x.k === 'chunks') {
      const all = Buffer.concat(x.parts);
      const chunks: Buffer[] = [];
      for (let i = 0; i < all.length; i += x.size) chunks.push(all.subarray(i, i + x.size));
      feedServer(s, chunks);
    } else {
      feedServer(s, x.ps);
      const st = s.stats;
      assert(st.requests + st.malformed + st.protocolErrors + st.authFailures + st.securityErrors + st.faults + st.idleCloses + st.bindNaks > 0, 'a mutated exchange left no trace in any counter', { st });
    }
    count(this.seen, x.k);
  },
};

type SealedCase = { kind: 'ntlm' | 'spnego'; level: typeof AuthLevel.PKT_PRIVACY | typeof AuthLevel.PKT_INTEGRITY; m: typeof sealedMutation extends fc.Arbitrary<infer T> ? T : never };
/** test/core/rpc/sealed-fuzz.test.ts, at depth: a protected response through real NTLM, mutated, is never delivered. */
const rpcSealed: FuzzTarget<SealedCase> = {
  name: 'rpc-sealed',
  kind: 'machine',
  about: 'RpcClient with real NTLMSSP/SPNEGO at PKT_PRIVACY/INTEGRITY: a mutated protected response is never a response',
  seen: new Map(),
  input: fc.record({ kind: fc.constantFrom('ntlm' as const, 'spnego' as const), level: fc.constantFrom(AuthLevel.PKT_PRIVACY, AuthLevel.PKT_INTEGRITY), m: sealedMutation }),
  check({ kind, level, m }) {
    const { c, response } = callOut(kind, level);
    const { bytes: b, chunks } = apply(response, m);
    const events = feedSealed(c, chunks);
    for (const e of events) assert(TYPES.includes(e.type), 'an untyped client event', { e });
    // What the client reads is the stream, not `b`: a cut PDU followed by `trailing` bytes equal to the cut ones is
    // the response unchanged (found by npm run fuzz at 905,795 runs: the signature's SeqNum 00 00 cut, 00 00 trailing).
    if (Buffer.concat(chunks).subarray(0, response.length).equals(response)) {
      // unchanged (or changes that cancel out): the response is delivered
      assert(events.some((e) => e.type === 'response' && same(e.stub, REPLY)), 'the unmutated protected response was not delivered', { events: events.map((e) => e.type) });
      count(this.seen, 'unmutated, delivered');
      return;
    }
    assert(!events.some((e) => e.type === 'response'), 'a mutated protected response was delivered', { response, mutated: b });
    const failed = events.some((e) => (e.type === 'error' && (e.callId === 2 || e.fatal)) || (e.type === 'closed' && e.pendingCallIds.includes(2)) || e.type === 'fault');
    assert(failed, 'the call did not end in a typed failure', { events: events.map((e) => e.type) });
    count(this.seen, 'mutated, refused');
  },
};

/** The WDSC initiator against the in-memory WDSC server; the server's bytes mutated, cut, split, or closed early. */
const ACCOUNT = { domain: 'CORP', user: 'svc-osd', password: 'Pa55w0rd!' };
const wdscInit: FuzzTarget<{ sec: 'none' | 9 | 10; answer: { k: 'reply'; r: Parameters<typeof encodeInitiateReply>[0] } | { k: 'error'; code: number } | { k: 'garbage'; b: Buffer }; hit: number; ms: Mutation[]; split: number; stop: number }> = {
  name: 'wdsc-initiator',
  kind: 'machine',
  about: 'core/wdsc/initiator.ts (StreamInitiator) against an in-memory WDSC server whose bytes are mutated, split or cut',
  seen: new Map(),
  input: fc.record({
    sec: fc.constantFrom<'none' | 9 | 10>('none', 'none', 9, 10),
    answer: fc.oneof(reply.map((r) => ({ k: 'reply' as const, r })), fc.integer({ min: 1, max: 0xffffffff }).map((code) => ({ k: 'error' as const, code })), bytes(80).map((b) => ({ k: 'garbage' as const, b }))),
    hit: fc.integer({ min: -1, max: 6 }),
    ms: fc.array(mutation, { minLength: 1, maxLength: 3 }),
    split: fc.integer({ min: 1, max: 64 }),
    stop: fc.integer({ min: 0, max: 12 }),
  }),
  check({ sec, answer, hit, ms, split, stop }) {
    const request = buildInitiateRequest({ namespace: 'WDS:Group/install.wim/1', content: 'install.wim', clientName: 'PC-0042', bootDevice: true }).packet;
    const opts = { credentials: new Credentials(ACCOUNT), clientChallenge: Buffer.alloc(8, 7), exportedSessionKey: Buffer.alloc(16, 9), nowMs: 1_700_000_000_000 };
    const security = sec === 'none' ? {} : { security: { provider: sec === 9 ? new SpnegoClientProvider(opts) : new NtlmClientProvider(opts), level: AuthLevel.PKT_PRIVACY } };
    const init = new WdscInitiator({ server: { address: '10.0.0.5', port: 5040 }, request, timeoutMs: 10_000, ...security }, 0);
    const server = new FakeWdscServer({ account: ACCOUNT, allowAnonymous: true, answer: () => (answer.k === 'reply' ? { reply: encodeInitiateReply(answer.r), status: 0 } : answer.k === 'error' ? { reply: encodeInitiateError(answer.code), status: 0 } : { reply: answer.b, status: 0 }) });
    let now = 1;
    init.handleConnected(now);
    let pdu = 0;
    let first: unknown;
    for (let round = 0; round < 20 && !init.pollClose() && init.result === undefined; round++) {
      for (let b = init.pollSend(); b; b = init.pollSend()) server.handleBytes(b);
      if (server.closed) break;
      for (let b = server.pollSend(); b; b = server.pollSend(), pdu++) {
        const out = pdu === hit ? ms.reduce(mutate, b) : b;
        for (let i = 0; i < out.length; i += split) init.handleBytes(out.subarray(i, i + split), now);
      }
      if (round === stop) init.handleClosed(now);
      if (init.result !== undefined && first === undefined) first = init.result;
    }
    init.handleTimeout((now += 20_000));
    init.handleClosed(now);
    while (init.pollSend());
    const r = init.result;
    assert(r !== undefined, 'no result after a close and the timeout');
    if (first !== undefined) assert(r === first, 'the result changed after it was set', { first, r });
    assert(r.ok || ['error', 'timeout', 'closed', 'refused', 'auth', 'protocol'].includes(r.kind), 'an untyped initiation result', { r });
    if (r.ok) assert(r.session.totalBlocks === Math.ceil(r.session.contentSize / r.session.blockSize), 'a session whose TotalBlocks does not cover its content', { s: r.session });
    count(this.seen, `result ${r.ok ? 'ok' : r.kind}`);
  },
};

export const rpcMachineTargets: FuzzTarget[] = [rpcClient, rpcConnector, rpcServer, rpcSealed, wdscInit] as FuzzTarget[];
