/**
 * Fuzz targets: the udpcast codec (core/udpcast/codec.ts) and the udpcast receiver (core/udpcast/receiver.ts) on a
 * fake clock, fed sequences of sender packets (valid for a small session, mutated, from the wrong address or port,
 * random bytes), timeouts, disk writes that fail, and cancel.
 */
import fc from 'fast-check';
import { BlockStore } from '../../../core/block-store';
import { MAP_BYTES, UdpMessage, decodeUdpcast, encodeUdpcast } from '../../../core/udpcast/codec';
import { UdpcastEvent, UdpcastReceiver } from '../../../core/udpcast/receiver';
import { Mutation, bytes, ipv4, mutate, mutation, u16, u32 } from '../arbitraries/common';
import { FuzzTarget, assert, codecTarget, count, ignoredBytes, trailingIgnored } from '../target';

const i32 = fc.integer({ min: -0x8000_0000, max: 0x7fff_ffff });
const map = bytes(MAP_BYTES, MAP_BYTES);

const udpMessage: fc.Arbitrary<UdpMessage> = fc.oneof(
  fc.record({ op: fc.constant('ok' as const), slice: u32 }),
  fc.record({ op: fc.constant('retransmit' as const), slice: u32, rxmit: u32, map }),
  fc.constant({ op: 'go' as const }),
  fc.record({ op: fc.constant('connect-req' as const), capabilities: u32, rcvbuf: u32 }),
  fc.constant({ op: 'disconnect' as const }),
  fc.record({ op: fc.constant('reqack' as const), slice: u32, bytes: u32, rxmit: u32, ready: map }),
  fc.record({ op: fc.constant('connect-reply' as const), client: i32, blockSize: i32, capabilities: u32, dataAddress: ipv4 }),
  fc.record({ op: fc.constant('data' as const), slice: u32, block: u16, sliceBytes: u32, payload: bytes(80) }),
  fc.record({ op: fc.constant('fec' as const), stripes: u16, slice: u32, index: u16, sliceBytes: u32, payload: bytes(80) }),
  fc.record({ op: fc.constant('hello' as const), opcode: fc.constantFrom(0x0500, 10, 11), capabilities: u32, dataAddress: ipv4, blockSize: u16 }),
);

const ignored = ignoredBytes(decodeUdpcast, '#60', 'reserved fields, the 12 bytes after an IPv4 address, the HELLO pad');

const udpcastCodec = codecTarget<UdpMessage>({
  name: 'udpcast',
  about: 'udpcast codec (udp-sender/udp-receiver 20120424): every message both ways, liberal forms of protocol-notes #60',
  messages: udpMessage,
  encode: encodeUdpcast,
  decode: decodeUdpcast,
  exemptions: [
    ignored,
    trailingIgnored(decodeUdpcast, '#60', 'bytes after a fixed-size message are not read', ignored),
    {
      note: '#60',
      what: 'a HELLO without (all of) its 2 pad bytes',
      applies: (x, y, v) => v.op === 'hello' && x.length >= 26 && x.length < 28 && y.length === 28 && (y.subarray(0, x.length).equals(x) || ignored.applies(x, y.subarray(0, x.length), v) !== false),
    },
  ],
  extra: [fc.tuple(fc.integer({ min: 0, max: 12 }), bytes(150)).map(([op, rest]) => Buffer.concat([Buffer.from([0, op]), rest]))],
});

// ---------------------------------------------------------------------------------------------------------------
// The receiver
// ---------------------------------------------------------------------------------------------------------------

const P = 9000;
const SENDER = { address: '10.77.0.1', port: P + 1 };
const BS = 16;

/** The session's slices: byte sizes (whole blocks; only the last may be short). */
const layout = fc.tuple(fc.array(fc.integer({ min: 1, max: 6 }), { minLength: 0, maxLength: 4 }), fc.integer({ min: 0, max: BS - 1 })).map(([blocks, short]) => blocks.map((b, i) => b * BS - (i === blocks.length - 1 ? short : 0)));
type Layout = number[];

/** A sender packet: mostly right for the layout (`size` 'own': the slice's size), sometimes not; or anything. */
const senderPacket = fc.oneof(
  { weight: 1, arbitrary: fc.record({ k: fc.constant('hello' as const), caps: fc.constantFrom(9, 9, 9, 0x29, 1), opcode: fc.constantFrom(0x0500, 0x0500, 10, 11) }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('reply' as const), client: fc.constantFrom(0, 3, 9, 9, 9, -1), caps: fc.constantFrom(9, 9, 9, 0x29, 1), bs: fc.constantFrom(BS, BS, BS, 0, 70000) }) },
  { weight: 10, arbitrary: fc.record({ k: fc.constant('data' as const), slice: fc.integer({ min: 0, max: 5 }), block: fc.integer({ min: 0, max: 6 }), size: fc.oneof({ weight: 9, arbitrary: fc.constant(-1) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 7 * BS }) }) }) },
  { weight: 4, arbitrary: fc.record({ k: fc.constant('slice' as const), slice: fc.integer({ min: 0, max: 4 }), loss: fc.integer({ min: 0, max: 3 }) }) },
  { weight: 5, arbitrary: fc.record({ k: fc.constant('reqack' as const), slice: fc.integer({ min: 0, max: 5 }), size: fc.oneof({ weight: 9, arbitrary: fc.constant(-1) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 7 * BS }) }), rxmit: fc.integer({ min: 0, max: 3 }), ours: fc.oneof({ weight: 5, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }) }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('fec' as const), slice: fc.integer({ min: 0, max: 5 }) }) },
  { weight: 1, arbitrary: udpMessage.map((m) => ({ k: 'any' as const, m })) },
);
type SenderPacket = typeof senderPacket extends fc.Arbitrary<infer T> ? T : never;

const step = fc.oneof(
  { weight: 10, arbitrary: fc.record({ k: fc.constant('pkt' as const), p: senderPacket, dt: fc.integer({ min: 0, max: 400 }), from: fc.constantFrom('sender', 'sender', 'sender', 'sender', 'sender', 'sender', 'sender', 'mapped', 'port', 'other'), ms: fc.oneof({ weight: 8, arbitrary: fc.constant([] as Mutation[]) }, { weight: 1, arbitrary: fc.array(mutation, { minLength: 1, maxLength: 3 }) }) }) },
  { weight: 1, arbitrary: bytes(60).map((b) => ({ k: 'bytes' as const, b })) },
  { weight: 2, arbitrary: fc.oneof(fc.integer({ min: 0, max: 1500 }), fc.integer({ min: 0, max: 40_000 })).map((dt) => ({ k: 'time' as const, dt })) },
  { weight: 3, arbitrary: fc.record({ k: fc.constant('write' as const), n: fc.integer({ min: 1, max: 4 }), fail: fc.oneof({ weight: 6, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }) }) },
  { weight: 1, arbitrary: fc.oneof({ weight: 1, arbitrary: fc.constant({ k: 'cancel' as const }) }, { weight: 6, arbitrary: fc.constant({ k: 'time' as const, dt: 100 }) }) },
);
type Step = typeof step extends fc.Arbitrary<infer T> ? T : never;

const CLIENT = 9;

function dataPacket(slice: number, block: number, bytes: number): Buffer {
  const len = Math.max(0, Math.min(BS, bytes - block * BS));
  return encodeUdpcast({ op: 'data', slice, block, sliceBytes: bytes, payload: Buffer.alloc(len, (slice * 31 + block) & 0xff) });
}

/** The datagrams of one step (a whole slice is several). */
function wire(p: SenderPacket, lay: Layout): Buffer[] {
  const own = (slice: number, size: number) => (size >= 0 ? size : (lay[slice] ?? 0));
  switch (p.k) {
    case 'hello':
      return [encodeUdpcast({ op: 'hello', opcode: p.opcode, capabilities: p.caps, dataAddress: '234.77.0.1', blockSize: BS })];
    case 'reply':
      return [encodeUdpcast({ op: 'connect-reply', client: p.client, blockSize: p.bs, capabilities: p.caps, dataAddress: '234.77.0.1' })];
    case 'data':
      return [dataPacket(p.slice, p.block, own(p.slice, p.size))];
    case 'slice': {
      const bytes = lay[p.slice] ?? 0;
      const out: Buffer[] = [];
      for (let b = 0; b * BS < bytes; b++) if (p.loss === 0 || b % (p.loss + 1) !== 0) out.push(dataPacket(p.slice, b, bytes));
      return out;
    }
    case 'reqack': {
      const ready = Buffer.alloc(MAP_BYTES);
      if (p.ours) ready[CLIENT >> 3] = 1 << (CLIENT & 7);
      return [encodeUdpcast({ op: 'reqack', slice: p.slice, bytes: own(p.slice, p.size), rxmit: p.rxmit, ready })];
    }
    case 'fec':
      return [encodeUdpcast({ op: 'fec', stripes: 8, slice: p.slice, index: 0, sliceBytes: lay[p.slice] ?? 0, payload: Buffer.alloc(BS) })];
    case 'any':
      return [encodeUdpcast(p.m)];
  }
}

const EVENTS = new Set<UdpcastEvent['type']>(['hello', 'connected', 'started', 'refused', 'complete', 'failed', 'closed']);
const OUT_OPS = new Set<UdpMessage['op']>(['connect-req', 'ok', 'retransmit', 'disconnect']);

const udpcastReceiver: FuzzTarget<{ lay: Layout; connected: boolean; steps: Step[]; ordered: boolean; ring: number }> = {
  name: 'udpcast-receiver',
  kind: 'machine',
  about: 'core/udpcast/receiver.ts on a fake clock over a growable store: sender packet sequences, foreign sources, timeouts, failing writes, cancel',
  seen: new Map(),
  input: fc.record({ lay: layout, connected: fc.oneof({ weight: 4, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) }), steps: fc.array(step, { maxLength: 40 }), ordered: fc.boolean(), ring: fc.integer({ min: 1, max: 12 }) }),
  check({ lay, connected, steps, ordered, ring }) {
    let now = 0;
    let store: BlockStore | undefined;
    const rx = new UdpcastReceiver({ openStore: (bs) => (store = BlockStore.growable({ blockSize: bs, ringSlots: ring, ordered })), localAddress: '10.77.0.11', rdvAddress: '10.77.0.255', portbase: P }, now);
    let closed = 0;
    let ends = 0;
    let completes = 0;
    let afterClose = 0;
    const seen = this.seen;
    const drain = () => {
      for (let t = rx.pollTransmit(); t; t = rx.pollTransmit()) {
        const d = decodeUdpcast(t.data);
        assert(d.ok && OUT_OPS.has(d.value.op), 'the receiver sent something a receiver does not send', { data: t.data });
        assert(t.to.port === P + 1, 'sent to a port other than P+1', { to: t.to });
        if (closed) afterClose++;
        if (d.ok) count(seen, `sent ${d.value.op}`);
      }
      for (let e = rx.pollEvent(); e; e = rx.pollEvent()) {
        assert(EVENTS.has(e.type), 'an untyped event', { e });
        assert(!closed, 'an event after closed', { e });
        count(seen, e.type === 'failed' ? `failed ${e.kind}` : e.type === 'refused' ? `refused ${e.reason}` : `event ${e.type}`);
        if (e.type === 'closed') closed++;
        if (e.type === 'failed' || e.type === 'refused') ends++;
        if (e.type === 'complete') {
          completes++;
          assert(store?.complete && e.bytes === store.cfg.contentSize && rx.stats().endSlice !== undefined, 'complete without the end slice and every block on disk', { e, st: rx.stats() });
        }
      }
    };
    const advance = (to: number) => {
      for (let guard = 0; ; guard++) {
        assert(guard < 10_000, 'a timer loop');
        const t = rx.pollTimeout();
        if (t === undefined || t > to) break;
        assert(t >= now, 'a timeout in the past', { t, now });
        now = t;
        rx.handleTimeout(now);
        drain();
      }
      now = Math.max(now, to);
    };
    const write = (n: number, fail: boolean) => {
      if (!store) return;
      for (let i = 0; i < n; i++) {
        const j = store.takeWrite();
        if (!j) break;
        assert(j.offset === j.firstBlock * store.cfg.blockSize && j.offset + j.bytes <= store.cfg.contentSize, 'a write job outside the content', { j: { offset: j.offset, bytes: j.bytes }, size: store.cfg.contentSize });
        assert(j.buffers.reduce((a, b) => a + b.length, 0) === j.bytes, 'write buffers do not add up');
        if (fail) store.writeFailed(j);
        else store.writeDone(j);
      }
      rx.handleWritten(now);
    };
    drain();
    if (connected) rx.handleDatagram(encodeUdpcast({ op: 'connect-reply', client: CLIENT, blockSize: BS, capabilities: 9, dataAddress: '234.77.0.1' }), SENDER, now), drain();
    for (const s of steps) {
      if (s.k === 'pkt') {
        advance(now + s.dt);
        const from = s.from === 'sender' ? SENDER : s.from === 'mapped' ? { address: `::ffff:${SENDER.address}`, port: SENDER.port } : s.from === 'port' ? { address: SENDER.address, port: 12345 } : { address: '10.77.0.66', port: P + 1 };
        for (const d of wire(s.p, lay)) {
          rx.handleDatagram(s.ms.reduce(mutate, d), from, now);
          drain();
        }
      } else if (s.k === 'bytes') rx.handleDatagram(s.b, SENDER, now);
      else if (s.k === 'time') advance(now + s.dt);
      else if (s.k === 'cancel') rx.cancel(now);
      else write(s.n, s.fail);
      drain();
    }
    write(1_000_000, false);
    drain();
    const st = rx.stats();
    assert(completes <= 1 && ends <= 1 && closed <= 1 && !(completes && ends), 'more than one end', { completes, ends, closed });
    assert(afterClose === 0, 'sent after closed', { afterClose });
    if (ends) assert(closed === 1, 'a failure without closed');
    if (store) assert(store.have.count <= store.cfg.totalBlocks && store.disk.count <= store.have.count, 'the bitmaps hold more than the content');
    assert(st.knownBytes === (store?.cfg.contentSize ?? 0), 'the store does not span exactly the known slices', { st, size: store?.cfg.contentSize });
    const malformed = Object.values(st.drops.malformed).reduce<number>((a, b) => a + (b ?? 0), 0);
    assert(st.dropped === st.drops.wrongSource + malformed + st.drops.foreign + st.drops.badBlock, 'drops do not add up', { st });
    if (completes) count(seen, 'runs that completed');
  },
};

export const udpcastTargets: FuzzTarget[] = [udpcastCodec, udpcastReceiver] as FuzzTarget[];
