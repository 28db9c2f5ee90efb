/**
 * Fuzz targets: the client state machines of core/ on a fake clock, fed random sequences of valid, mutated,
 * foreign and random packets, timeouts and disk writes (the Receiver and its MT and MA clients, the MS-WDSMSI UDP
 * initiator). Checks: nothing throws; everything sent decodes; events are typed and ends come once; every write job
 * lies within the content (offset + length <= ContentSize, at the block's place, buffers adding up); no timer loop.
 */
import fc from 'fast-check';
import { MaOp, decodeMa, encodeMa } from '../../../core/codec/ma';
import { decodeMsi, encodeMsiError, encodeMsiReply, encodeMsiRequest } from '../../../core/codec/msi';
import { MtBody, Op, Sec, decodeMt, encodeMt } from '../../../core/codec/mt';
import { BlockStore } from '../../../core/block-store';
import { MaClient } from '../../../core/ma-client';
import { MsiUdpInitiator } from '../../../core/msi-client';
import { MtClient, Transmit } from '../../../core/mt-client';
import { Receiver, SessionInfo, storeFor } from '../../../core/receiver';
import { Mutation, bytes, mutate, mutation, u32 } from '../arbitraries/common';
import { mtBody, msiReply } from '../arbitraries/codec';
import { FuzzTarget, assert, count, fail } from '../target';

const SERVER = { address: '10.0.0.1', port: 64001 };
const FORGER = { address: '10.0.0.66', port: 64001 };
const SID = 0x6d19ee7e;

// ---------------------------------------------------------------------------------------------------------------
// What a server (or someone else) sends: steps
// ---------------------------------------------------------------------------------------------------------------

/** An MA packet for the data path: DATA for a block near the content's range (or anywhere), SRVCIR, garbage. */
const maPayload = fc.oneof(
  { weight: 6, arbitrary: fc.record({ k: fc.constant('data' as const), block: fc.oneof({ weight: 8, arbitrary: fc.integer({ min: -1, max: 42 }) }, { weight: 1, arbitrary: fc.maxSafeNat() }), len: fc.oneof({ weight: 8, arbitrary: fc.constant(-1) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 80 }) }), fill: fc.integer({ min: 0, max: 255 }) }) },
  { weight: 1, arbitrary: fc.constant({ k: 'srvcir' as const }) },
  { weight: 1, arbitrary: bytes(40).map((b) => ({ k: 'raw' as const, b })) },
);
type MaPayload = typeof maPayload extends fc.Arbitrary<infer T> ? T : never;

/** A server packet: the kinds that drive the client (mostly valid for the session), or any MT body. */
const serverBody = fc.oneof(
  { weight: 1, arbitrary: fc.record({ k: fc.constant('joinack' as const), clientId: fc.integer({ min: 1, max: 9 }) }) },
  { weight: 8, arbitrary: fc.record({ k: fc.constant('data' as const), op: fc.constantFrom(Op.ODATA, Op.RDATA), seq: fc.integer({ min: 0, max: 60 }), trail: fc.integer({ min: 0, max: 60 }), clientId: fc.integer({ min: 0, max: 9 }), ma: maPayload }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('poll' as const), seq: fc.integer({ min: 0, max: 20 }), backoff: fc.integer({ min: 0, max: 3000 }), ma: maPayload }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('qcc' as const), seq: fc.integer({ min: 0, max: 20 }), backoff: fc.integer({ min: 0, max: 3000 }) }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('spm' as const), seq: fc.integer({ min: 0, max: 20 }), master: fc.integer({ min: 0, max: 9 }), trail: fc.integer({ min: 0, max: 60 }), lead: fc.integer({ min: 0, max: 60 }) }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('ncf' as const), ranges: fc.array(fc.tuple(fc.integer({ min: 0, max: 60 }), fc.integer({ min: 0, max: 60 })), { maxLength: 4 }) }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('kick' as const), clientId: fc.integer({ min: 0, max: 9 }), reason: fc.integer({ min: 0, max: 3 }) }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('demote' as const), lower: u32, clientId: fc.integer({ min: 0, max: 9 }), v6: fc.boolean() }) },
  { weight: 2, arbitrary: mtBody.map((body) => ({ k: 'any' as const, body })) },
);
type ServerBody = typeof serverBody extends fc.Arbitrary<infer T> ? T : never;

const step = fc.oneof(
  { weight: 10, arbitrary: fc.record({ k: fc.constant('pkt' as const), body: serverBody, time: fc.integer({ min: 0, max: 3000 }), otherSession: fc.oneof({ weight: 12, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }), noneSec: fc.oneof({ weight: 12, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }), from: fc.constantFrom('server', 'server', 'server', 'server', 'server', 'server', 'mapped', 'forger'), ms: fc.oneof({ weight: 5, arbitrary: fc.constant([] as Mutation[]) }, { weight: 1, arbitrary: fc.array(mutation, { minLength: 1, maxLength: 3 }) }) }) },
  { weight: 1, arbitrary: bytes(120).map((b) => ({ k: 'bytes' as const, b })) },
  { weight: 3, arbitrary: fc.oneof(fc.integer({ min: 0, max: 1500 }), fc.integer({ min: 0, max: 45_000 })).map((dt) => ({ k: 'time' as const, dt })) },
  { weight: 3, arbitrary: fc.record({ k: fc.constant('write' as const), n: fc.integer({ min: 1, max: 4 }), fail: fc.oneof({ weight: 6, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }) }) },
  { weight: 1, arbitrary: fc.oneof({ weight: 1, arbitrary: fc.constant({ k: 'cancel' as const }) }, { weight: 3, arbitrary: fc.integer({ min: 0, max: 1500 }).map((dt) => ({ k: 'time' as const, dt })) }) },
);
type Step = typeof step extends fc.Arbitrary<infer T> ? T : never;

/** A session shape: small blocks, up to 40 of them, a short last block or not. */
const shape = fc.record({ blockSize: fc.integer({ min: 1, max: 48 }), totalBlocks: fc.integer({ min: 1, max: 40 }), lastShort: fc.integer({ min: 0, max: 47 }), ring: fc.integer({ min: 1, max: 12 }), base: fc.constantFrom<'auto' | 0 | 1>('auto', 'auto', 0, 1) }).map((s) => {
  const lastLen = s.blockSize - (s.lastShort % s.blockSize);
  return { ...s, contentSize: (s.totalBlocks - 1) * s.blockSize + lastLen };
});
type Shape = typeof shape extends fc.Arbitrary<infer T> ? T : never;

function maBytes(p: MaPayload, sh: Shape): Buffer {
  if (p.k === 'srvcir') return encodeMa({ op: MaOp.SRVCIR });
  if (p.k === 'raw') return p.b;
  const block = p.block < 0 ? 0 : p.block;
  // the right length for the block under either numbering, or any other
  const idx = block - (sh.base === 0 ? 0 : 1);
  const right = idx === sh.totalBlocks - 1 ? sh.contentSize - (sh.totalBlocks - 1) * sh.blockSize : sh.blockSize;
  return encodeMa({ op: MaOp.DATA, blockNumber: block, data: Buffer.alloc(p.len < 0 ? right : p.len, p.fill) });
}

function serverPacket(b: ServerBody, sh: Shape, sessionId: number, sec: number, time: number): Buffer {
  let body: MtBody;
  switch (b.k) {
    case 'joinack':
      body = { op: Op.JOINACK, clientId: b.clientId, minNackBackoff: 10, maxNackBackoff: 30, rtt: 0, clientTime: 0 };
      break;
    case 'data':
      body = { op: b.op, clientId: b.clientId, seq: b.seq, trailSeq: b.trail, data: maBytes(b.ma, sh) };
      break;
    case 'poll':
      body = { op: Op.POLL, pollSeqNo: b.seq, backoff: b.backoff, appData: maBytes(b.ma.k === 'data' ? { k: 'srvcir' } : b.ma, sh) };
      break;
    case 'qcc':
      body = { op: Op.QCC, qccSeqNo: b.seq, qcrBackoff: b.backoff };
      break;
    case 'spm':
      body = { op: Op.SPM, spmSeqNo: b.seq, masterClientId: b.master, minNackBackoff: 10, maxNackBackoff: 30, trailSeq: b.trail, leadSeq: b.lead, rtt: 5 };
      break;
    case 'ncf':
      body = { op: Op.NCF, ranges: b.ranges.map(([a, z]) => (a <= z ? [a, z] : [z, a]) as [number, number]) };
      break;
    case 'kick':
      body = { op: Op.KICK, clients: [{ clientId: b.clientId, reason: b.reason }] };
      break;
    case 'demote':
      body = { op: Op.DEMOTE, lowerSessionId: b.lower, mAddress: b.v6 ? Buffer.alloc(16, 1) : Buffer.from([239, 1, 1, 9]), mPort: 5000, uAddress: b.v6 ? Buffer.alloc(16, 2) : Buffer.from([10, 0, 0, 1]), uPort: 5001, clients: [b.clientId] };
      break;
    case 'any':
      body = b.body;
  }
  return encodeMt(body, { secMode: sec as typeof Sec.NONE, sessionId, senderTime: time });
}

// ---------------------------------------------------------------------------------------------------------------
// Checks shared by the MT-driven machines
// ---------------------------------------------------------------------------------------------------------------
const EVENT_TYPES = new Set(['joined', 'kicked', 'inactive', 'demoted', 'closed', 'complete', 'conflicting-duplicate']);

function checkTransmit(t: Transmit, what: string): void {
  const d = decodeMt(t.data, { from: 'client' });
  assert(d.ok, `${what} sent a packet that does not decode`, { data: t.data, error: d.ok ? undefined : d.error.message });
  assert(d.value.secType === Sec.CHECKSUM, `${what} sent a packet without CHECKSUM`, { data: t.data });
  assert([Op.JOIN, Op.ACK, Op.NACK, Op.QCR, Op.LEAVE, Op.POLLACK].includes(d.value.body.op as never), `${what} sent a server opcode`, { op: d.value.body.op });
  assert(typeof t.to.address === 'string' && Number.isInteger(t.to.port), `${what} sent to a malformed endpoint`, { to: t.to });
}

/** Advances the fake clock to `to`, firing every timeout due; a timer that never moves past now is a loop. */
function advance(m: { handleTimeout(now: number): void; pollTimeout(): number | undefined }, now: number, to: number, drain: () => void): number {
  for (let i = 0; ; i++) {
    const t = m.pollTimeout();
    if (t === undefined || t > to) return to;
    assert(Number.isFinite(t), 'pollTimeout is not a finite number', { t });
    if (i > 10_000) fail('timer loop: more than 10,000 timeouts without the clock moving on', { now, to, t });
    now = Math.max(now, t);
    m.handleTimeout(now);
    drain();
  }
}

/** Every write job lies inside the content, at its blocks' place; its buffers add up. Returns it. */
function checkJob(store: BlockStore, j: { offset: number; buffers: Buffer[]; firstBlock: number; count: number; bytes: number }): void {
  const { blockSize, contentSize, totalBlocks } = store.cfg;
  const sum = j.buffers.reduce((a, b) => a + b.length, 0);
  const ok =
    Number.isInteger(j.offset) &&
    j.offset >= 0 &&
    j.count >= 1 &&
    j.firstBlock >= 0 &&
    j.firstBlock + j.count <= totalBlocks &&
    j.offset === j.firstBlock * blockSize &&
    sum === j.bytes &&
    j.offset + j.bytes <= contentSize &&
    j.bytes === (j.firstBlock + j.count === totalBlocks ? contentSize - j.firstBlock * blockSize : j.count * blockSize);
  assert(ok, 'a write job outside the content or not at its blocks', { job: { offset: j.offset, firstBlock: j.firstBlock, count: j.count, bytes: j.bytes, buffers: sum }, blockSize, contentSize, totalBlocks });
}

/** A datagram is dropped at most once: into one field of `drops` (issue 11 point 3), and `dropped` follows them. */
function oneDrop(rx: Receiver, feed: () => void): void {
  const before = rx.drops();
  feed();
  const after = rx.drops();
  let moved = 0;
  for (const k of Object.keys(after) as (keyof typeof after)[]) moved += after[k] === before[k] ? 0 : after[k] - before[k] === 1 ? 1 : 2;
  assert(moved <= 1, 'one datagram moved the drops by other than one field by one', { before, after });
}

// ---------------------------------------------------------------------------------------------------------------
// Receiver (MtClient + MaClient + BlockStore)
// ---------------------------------------------------------------------------------------------------------------
const receiver: FuzzTarget<{ sh: Shape; joined: boolean; steps: Step[]; rng: number }> = {
  name: 'receiver',
  kind: 'machine',
  about: 'core/receiver.ts (MT and MA clients, BlockStore) on a fake clock: packet sequences, timeouts, writes that fail',
  seen: new Map(),
  input: fc.record({ sh: shape, joined: fc.oneof({ weight: 4, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) }), steps: fc.array(step, { maxLength: 32 }), rng: fc.double({ min: 0, max: 0.999, noNaN: true }) }),
  check({ sh, joined, steps, rng }) {
    const session: SessionInfo = { sessionId: SID, multicast: { address: '239.1.1.1', port: SERVER.port }, server: SERVER, contentSize: sh.contentSize, blockSize: sh.blockSize, totalBlocks: sh.totalBlocks };
    const store = storeFor(session, sh.ring * sh.blockSize);
    let now = 0;
    const rx = new Receiver({ session, clientName: 'PC-01', localAddress: Buffer.from([10, 0, 0, 5]), macAddress: Buffer.alloc(6, 1), store, blockBase: sh.base }, () => rng, now);
    let sid = SID;
    let server = SERVER;
    let completes = 0;
    const drain = () => {
      for (let t = rx.pollTransmit(); t; t = rx.pollTransmit()) checkTransmit(t, 'the Receiver');
      for (let e = rx.pollEvent(); e; e = rx.pollEvent()) {
        assert(EVENT_TYPES.has(e.type), 'an untyped event', { e });
        if (e.type === 'complete') completes++;
        if (e.type === 'demoted') (sid = e.sessionId), (server = { address: e.server.address, port: e.server.port });
        count(this.seen, `event ${e.type}`);
      }
    };
    drain();
    if (joined) rx.handleDatagram(serverPacket({ k: 'joinack', clientId: 7 }, sh, SID, Sec.CHECKSUM, 1), SERVER, 1), drain();
    for (const s of steps) {
      if (s.k === 'pkt') {
        now += s.time;
        now = advance(rx, now, now, drain);
        let b = serverPacket(s.body, sh, s.otherSession ? sid ^ 1 : sid, s.noneSec ? Sec.NONE : Sec.CHECKSUM, now);
        b = s.ms.reduce(mutate, b);
        const from = s.from === 'forger' ? FORGER : s.from === 'mapped' ? { address: `::ffff:${server.address}`, port: 1 } : server;
        oneDrop(rx, () => rx.handleDatagram(b, from, now));
      } else if (s.k === 'bytes') oneDrop(rx, () => rx.handleDatagram(s.b, server, now));
      else if (s.k === 'time') now = advance(rx, now, now + s.dt, drain);
      else if (s.k === 'cancel') rx.cancel(now);
      else {
        for (let i = 0; i < s.n; i++) {
          const j = store.takeWrite();
          if (!j) break;
          checkJob(store, j);
          count(this.seen, 'write jobs');
          if (s.fail && !store.stale(j)) store.writeFailed(j);
          else store.writeDone(j);
        }
        rx.handleWritten(now);
      }
      drain();
    }
    // write out the rest: every job must still be in bounds
    for (let j = store.takeWrite(); j; j = store.takeWrite()) checkJob(store, j), store.writeDone(j);
    rx.handleWritten(now);
    drain();
    const st = rx.stats();
    assert(completes <= 1, 'complete emitted more than once', { completes });
    if (completes) assert(st.allOnDisk && st.complete, 'complete without every block on disk', { st });
    assert(store.have.count <= sh.totalBlocks && store.disk.count <= store.have.count, 'the bitmaps hold more blocks than the content', { have: store.have.count, disk: store.disk.count });
    assert(st.dropped === Object.values(st.drops).reduce((x, y) => x + y, 0), 'dropped is not the sum of drops', { st });
    if (completes) count(this.seen, 'runs that completed');
  },
};

// ---------------------------------------------------------------------------------------------------------------
// MtClient alone (a fake application that releases its cache at random)
// ---------------------------------------------------------------------------------------------------------------
const mtClient: FuzzTarget<{ sh: Shape; steps: Step[]; rng: number; release: number }> = {
  name: 'mt-client',
  kind: 'machine',
  about: 'core/mt-client.ts with a fake MS-WDSMA application: packet sequences, timeouts, LEAVE; everything sent decodes',
  seen: new Map(),
  input: fc.record({ sh: shape, steps: fc.array(step, { maxLength: 32 }), rng: fc.double({ min: 0, max: 0.999, noNaN: true }), release: fc.integer({ min: 0, max: 3 }) }),
  check({ sh, steps, rng, release }) {
    let now = 0;
    let held = 0;
    const app = {
      queryCache: () => 4096,
      onData: (d: Buffer) => void (held += d.length),
      onQcc: () => encodeMa({ op: MaOp.PROGRESS, timeInSession: 1, progress: 50 }),
      onPoll: () => encodeMa({ op: MaOp.CNTCIR, progress: 50, timeInSession: 1, ranges: [[1, 2]] }),
    };
    const c = new MtClient({ sessionId: SID, clientSecMode: Sec.CHECKSUM, serverSecMode: Sec.CHECKSUM, server: SERVER, clientName: 'PC-01', localAddress: Buffer.from([10, 0, 0, 5]), macAddress: Buffer.alloc(6, 1) }, app, () => rng, now);
    let sid = SID;
    const drain = () => {
      for (let t = c.pollTransmit(); t; t = c.pollTransmit()) checkTransmit(t, 'the MT client');
      for (let e = c.pollEvent(); e; e = c.pollEvent()) {
        assert(EVENT_TYPES.has(e.type), 'an untyped event', { e });
        if (e.type === 'demoted') sid = e.sessionId;
        count(this.seen, `event ${e.type}`);
      }
    };
    drain();
    for (const s of steps) {
      if (s.k === 'pkt') {
        now = advance(c, now, now + s.time, drain);
        c.handleDatagram(s.ms.reduce(mutate, serverPacket(s.body, sh, s.otherSession ? sid ^ 1 : sid, s.noneSec ? Sec.NONE : Sec.CHECKSUM, now)), now);
      } else if (s.k === 'bytes') c.handleDatagram(s.b, now);
      else if (s.k === 'time') now = advance(c, now, now + s.dt, drain);
      else if (s.k === 'cancel') c.leave(1, now);
      else if (held > 0) {
        const n = release === 0 ? held : Math.ceil(held / (release + 1));
        c.cacheDone(n);
        held -= n;
      }
      drain();
    }
    const st = c.stats();
    assert(Object.values(st).every((v) => typeof v === 'object' || (Number.isInteger(v) && v >= 0)), 'a counter is not a non-negative integer', { st });
  },
};

// ---------------------------------------------------------------------------------------------------------------
// MaClient alone, on a BlockStore
// ---------------------------------------------------------------------------------------------------------------
const maStep = fc.oneof(
  { weight: 6, arbitrary: fc.tuple(maPayload, fc.array(mutation, { maxLength: 2 })).map(([p, ms]) => ({ k: 'data' as const, p, ms })) },
  { weight: 1, arbitrary: fc.oneof(bytes(30), fc.constant(encodeMa({ op: MaOp.SRVCIR }))).map((b) => ({ k: 'poll' as const, b })) },
  { weight: 1, arbitrary: fc.constant({ k: 'qcc' as const }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('write' as const), n: fc.integer({ min: 1, max: 4 }), fail: fc.boolean() }) },
);
const maClient: FuzzTarget<{ sh: Shape; steps: (typeof maStep extends fc.Arbitrary<infer T> ? T : never)[] }> = {
  name: 'ma-client',
  kind: 'machine',
  about: 'core/ma-client.ts on a BlockStore: DATA for any block and length, POLL and QCC answers, writes that fail',
  seen: new Map(),
  input: fc.record({ sh: shape, steps: fc.array(maStep, { maxLength: 60 }) }),
  check({ sh, steps }) {
    const store = new BlockStore({ totalBlocks: sh.totalBlocks, blockSize: sh.blockSize, contentSize: sh.contentSize, ringSlots: sh.ring });
    let released = 0;
    let taken = 0;
    const ma = new MaClient(store, { blockBase: sh.base }, (b) => void (released += b), 0);
    let now = 0;
    for (const s of steps) {
      now += 7;
      if (s.k === 'data') {
        const d = s.ms.reduce(mutate, maBytes(s.p, sh));
        taken += d.length;
        ma.onData(d, now);
      } else if (s.k === 'poll') {
        const out = ma.onPoll(s.b, now);
        const d = decodeMa(out);
        assert(d.ok && d.value.op === MaOp.CNTCIR, 'the POLL answer is not a CNTCIR', { out });
        for (const [a, z] of d.value.ranges) assert(a <= z && a >= 0 && z <= sh.totalBlocks, 'a CNTCIR range outside the content', { a, z });
      } else if (s.k === 'qcc') {
        const d = decodeMa(ma.onQcc(now));
        assert(d.ok && d.value.op === MaOp.PROGRESS && d.value.progress <= 100, 'the QCC answer is not a PROGRESS of at most 100', { d });
      } else
        for (let i = 0; i < s.n; i++) {
          const j = store.takeWrite();
          if (!j) break;
          checkJob(store, j);
          if (s.fail && !store.stale(j)) store.writeFailed(j);
          else (store.writeDone(j), (released += store.takeReleased()));
        }
    }
    for (let j = store.takeWrite(); j; j = store.takeWrite()) checkJob(store, j), store.writeDone(j), (released += store.takeReleased());
    assert(released <= taken, 'more cache released than was taken', { released, taken });
    assert(ma.progress() >= 0 && ma.progress() <= 100, 'progress outside 0..100', { p: ma.progress() });
    if (store.complete) count(this.seen, 'runs with every block on disk');
  },
};

// ---------------------------------------------------------------------------------------------------------------
// MsiUdpInitiator
// ---------------------------------------------------------------------------------------------------------------
const msiAnswer = fc.oneof(
  msiReply.map((r) => encodeMsiReply(r)),
  u32.map((e) => encodeMsiError(e)),
  fc.constant(encodeMsiRequest({ namespace: 'x', content: 'y', mac: Buffer.alloc(6) })),
  bytes(60),
);
const msiUdp: FuzzTarget<{ steps: ({ k: 'dgram'; b: Buffer; ms: Mutation[] } | { k: 'time'; dt: number })[]; tries: number }> = {
  name: 'msi-udp',
  kind: 'machine',
  about: 'core/msi-client.ts MsiUdpInitiator: answers (replies, errors, echoes, garbage, mutated) and timeouts in any order',
  seen: new Map(),
  input: fc.record({
    steps: fc.array(fc.oneof(fc.record({ k: fc.constant('dgram' as const), b: msiAnswer, ms: fc.array(mutation, { maxLength: 2 }) }), fc.record({ k: fc.constant('time' as const), dt: fc.integer({ min: 0, max: 2500 }) })), { maxLength: 16 }),
    tries: fc.integer({ min: 1, max: 6 }),
  }),
  check({ steps, tries }) {
    let now = 0;
    const m = new MsiUdpInitiator({ server: SERVER, namespace: 'WDS:G/i.wim/1', content: 'i.wim', mac: Buffer.alloc(6, 2), maxTries: tries }, now);
    let sent = 0;
    let first: unknown;
    const drain = () => {
      for (let t = m.pollTransmit(); t; t = m.pollTransmit()) {
        const d = decodeMsi(t.data);
        assert(d.ok && d.value.kind === 'request', 'the initiator sent something other than its request', { data: t.data });
        sent++;
      }
      if (m.result && first === undefined) first = m.result;
      if (first !== undefined) assert(m.result === first, 'the result changed after it was set', { first, now: m.result });
    };
    drain();
    for (const s of steps) {
      if (s.k === 'dgram') m.handleDatagram(s.ms.reduce(mutate, s.b), SERVER, now);
      else now = advance(m, now, now + s.dt, drain);
      drain();
    }
    assert(sent <= tries, 'more requests than maxTries', { sent, tries });
    const r = m.result;
    if (r) {
      assert(r.ok || ['error', 'timeout'].includes(r.kind), 'a UDP initiation result of an unknown kind', { r });
      if (r.ok) assert(r.session.totalBlocks === Math.ceil(r.session.contentSize / r.session.blockSize) && r.session.blockSize > 0, 'a session whose TotalBlocks does not cover its content', { s: r.session });
      count(this.seen, `result ${r.ok ? 'ok' : r.kind}`);
    }
  },
};

export const machineTargets: FuzzTarget[] = [receiver, mtClient, maClient, msiUdp] as FuzzTarget[];
