/**
 * 2. The receiver's hot path without sockets: core Receiver (with storeFor()) fed the datagrams a real
 * Coordinator (test/coordinator/coordinator.ts) sent it, writes drained into memory.
 *
 * Step 1 (record, untimed): a Coordinator and a Receiver run in-process on a virtual clock; every datagram the
 * coordinator addresses to the receiver (multicast and unicast) is copied and kept with its time, and so is every
 * timer expiry of the receiver. The receiver is the Master Client, so it ACKs every ODATA as in a real
 * single-receiver session.
 * Step 2 (replay, timed): a fresh Receiver gets exactly that sequence; what it transmits is counted and dropped,
 * what the store's takeWrite() hands out is copied into an in-memory "disk" and acknowledged with writeDone() + the Receiver's handleWritten().
 */
import crypto from 'node:crypto';
import { PerformanceObserver } from 'node:perf_hooks';
import { Receiver, SessionInfo, storeFor } from '../../core/receiver';
import { Coordinator } from '../coordinator/coordinator';
import { bufferContent } from '../coordinator/http';
import { mulberry32 } from '../coordinator/sim';
import { MiB, log, nowNs, summarize, LoopResult } from './util';

const CLIENT = { address: '127.0.0.1', port: 40001 };
const GROUP = '239.192.0.1';
const PORT = 40000;
const CACHE = 64 * MiB;

interface Recording {
  session: SessionInfo;
  data: Buffer;
  /** datagram to deliver, or undefined for a receiver timer expiry */
  bufs: (Buffer | undefined)[];
  times: number[];
  dataPackets: number;
  recordSeconds: number;
}

/** Link speed of the virtual clock while recording: 100 MB/s of datagrams. */
const VIRTUAL_BYTES_PER_MS = 100_000;

export function record(sizeBytes: number, blockSize: number, seed = 1, fwLeadEvery = 0): Recording {
  const t0 = nowNs();
  const data = crypto.randomBytes(sizeBytes);
  let now = 1_000_000;
  const sessionId = 0x5eed0001;
  const coord = new Coordinator(
    { namespace: 'N', content: 'C', source: bufferContent(data), sessionId, multicastAddr: GROUP, serverAddr: '127.0.0.1', port: PORT, blockSize, rng: mulberry32(seed), fwLeadEvery },
    now,
  );
  const session: SessionInfo = {
    sessionId,
    multicast: { address: GROUP, port: PORT },
    server: { address: '127.0.0.1', port: PORT },
    contentSize: sizeBytes,
    blockSize,
    totalBlocks: coord.totalBlocks,
  };
  const store = storeFor(session, CACHE);
  const rx = new Receiver({ session, clientName: 'bench', localAddress: Buffer.from([127, 0, 0, 1]), macAddress: Buffer.alloc(6), store }, mulberry32(seed + 1), now);
  const disk = Buffer.alloc(sizeBytes);
  const bufs: (Buffer | undefined)[] = [];
  const times: number[] = [];
  let dataPackets = 0;
  const toRx: Buffer[] = [];
  const toCoord: Buffer[] = [];

  const drainRx = () => {
    for (let t = rx.pollTransmit(); t; t = rx.pollTransmit()) toCoord.push(t.data);
    for (let j = store.takeWrite(); j; j = store.takeWrite()) {
      let off = j.offset;
      for (const b of j.buffers) {
        b.copy(disk, off);
        off += b.length;
      }
      store.writeDone(j);
      rx.handleWritten(now);
    }
    while (rx.pollEvent());
  };
  const drainCoord = () => {
    for (let t = coord.pollTransmit(); t; t = coord.pollTransmit()) {
      if (t.via !== 'session') continue;
      if (t.dest === 'multicast' || (t.dest.address === CLIENT.address && t.dest.port === CLIENT.port)) toRx.push(t.data);
    }
    while (coord.pollEvent());
  };
  drainRx();
  let guard = 0;
  while (!rx.complete) {
    if (++guard > 50_000_000) throw new Error('hot-path recording does not finish');
    if (toCoord.length) {
      for (const b of toCoord.splice(0)) coord.handleDatagram(b, CLIENT, now);
      drainCoord();
      continue;
    }
    if (toRx.length) {
      const b = toRx.shift()!;
      now += b.length / VIRTUAL_BYTES_PER_MS;
      // A private copy, as dgram hands each datagram over in a buffer of its own.
      const own = Buffer.allocUnsafeSlow(b.length);
      b.copy(own);
      bufs.push(own);
      times.push(now);
      if (own[13] === 0x06 || own[13] === 0x07) dataPackets++;
      rx.handleDatagram(own, session.server, now);
      drainRx();
      continue;
    }
    const tc = coord.pollTimeout() ?? Infinity;
    const tr = rx.pollTimeout() ?? Infinity;
    const next = Math.min(tc, tr);
    if (next === Infinity) throw new Error('hot-path recording stalled (no timer, no packet)');
    if (next > now) now = next;
    if (tc <= now) {
      coord.handleTimeout(now);
      drainCoord();
    }
    if (tr <= now) {
      bufs.push(undefined);
      times.push(now);
      rx.handleTimeout(now);
      drainRx();
    }
  }
  if (!disk.equals(data)) throw new Error('hot-path recording: received image differs');
  return { session, data, bufs, times, dataPackets, recordSeconds: Number(nowNs() - t0) / 1e9 };
}

export interface ReplayResult {
  seconds: number;
  /** CPU (user + system) of this process during the replay: steadier than `seconds` on a shared machine. */
  cpuSeconds: number;
  gcMs: number;
  writeJobs: number;
  acks: number;
  transmits: number;
}

/** Replays a recording into a fresh Receiver; `writeEvery` = how many datagrams between takeWrite() drains. */
export async function replay(rec: Recording, disk: Buffer, writeEvery: number): Promise<ReplayResult> {
  const { session, bufs, times } = rec;
  let now = times[0]! - 1;
  const store = storeFor(session, CACHE);
  const rx = new Receiver({ session, clientName: 'bench', localAddress: Buffer.from([127, 0, 0, 1]), macAddress: Buffer.alloc(6), store }, mulberry32(2), now);
  store.ring.arena.fill(1); // touch the arena outside the timed part, as a long-running agent would have
  while (rx.pollTransmit());
  let writeJobs = 0;
  let transmits = 0;
  let gcMs = 0;
  const obs = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) gcMs += e.duration;
  });
  obs.observe({ entryTypes: ['gc'] });
  const drainWrites = () => {
    for (let j = store.takeWrite(); j; j = store.takeWrite()) {
      let off = j.offset;
      for (const b of j.buffers) {
        b.copy(disk, off);
        off += b.length;
      }
      store.writeDone(j);
      rx.handleWritten(now);
      writeJobs++;
    }
  };
  const c0 = process.cpuUsage();
  const t0 = nowNs();
  const n = bufs.length;
  let sinceWrite = 0;
  for (let i = 0; i < n; i++) {
    now = times[i]!;
    const b = bufs[i];
    if (b) rx.handleDatagram(b, session.server, now);
    else rx.handleTimeout(now);
    while (rx.pollTransmit()) transmits++;
    if (++sinceWrite >= writeEvery) {
      sinceWrite = 0;
      drainWrites();
    }
    while (rx.pollEvent());
  }
  drainWrites();
  const seconds = Number(nowNs() - t0) / 1e9;
  const cpu = process.cpuUsage(c0);
  const cpuSeconds = (cpu.user + cpu.system) / 1e6;
  // GC entries reach the observer asynchronously, after a timer turn.
  await new Promise((r) => setTimeout(r, 20));
  obs.disconnect();
  if (!rx.complete) throw new Error(`replay did not complete (${store.disk.count} of ${session.totalBlocks} blocks)`);
  return { seconds, cpuSeconds, gcMs, writeJobs, acks: rx.stats().mt.acksSent, transmits };
}

export interface HotPathRow {
  blockSize: number;
  imageMiB: number;
  dataPackets: number;
  datagrams: number;
  writeEvery: number;
  usPerPacket: LoopResult;
  mbps: LoopResult;
  gcPercent: number;
  writeJobs: number;
  acks: number;
  recordSeconds: number;
}

export async function runHotPath(quick: boolean): Promise<HotPathRow[]> {
  const rows: HotPathRow[] = [];
  const imageMiB = quick ? 32 : 128;
  const reps = quick ? 3 : 7;
  for (const blockSize of [1385, 8192]) {
    const rec = record(imageMiB * MiB, blockSize);
    log(`hot path ${blockSize}: recorded ${rec.bufs.length} events (${rec.dataPackets} data packets) in ${rec.recordSeconds.toFixed(1)} s`);
    const disk = Buffer.alloc(rec.data.length);
    // warm-up replay (JIT), untimed
    await replay(rec, disk, 1);
    for (const writeEvery of [1, 64]) {
      const us: number[] = [];
      const mbs: number[] = [];
      let gc = 0;
      let total = 0;
      let last: ReplayResult | undefined;
      for (let r = 0; r < reps; r++) {
        const res = await replay(rec, disk, writeEvery);
        us.push((res.seconds * 1e6) / rec.dataPackets);
        mbs.push(rec.data.length / 1e6 / res.seconds);
        gc += res.gcMs;
        total += res.seconds * 1000;
        last = res;
      }
      if (!disk.equals(rec.data)) throw new Error('replay wrote a different image');
      const row: HotPathRow = {
        blockSize,
        imageMiB,
        dataPackets: rec.dataPackets,
        datagrams: rec.bufs.filter(Boolean).length,
        writeEvery,
        usPerPacket: summarize(us),
        mbps: summarize(mbs),
        gcPercent: (100 * gc) / total,
        writeJobs: last!.writeJobs,
        acks: last!.acks,
        recordSeconds: rec.recordSeconds,
      };
      rows.push(row);
      log(`hot path ${blockSize} drain/${writeEvery}: median ${row.usPerPacket.median.toFixed(2)} µs/packet, ${row.mbps.median.toFixed(0)} MB/s, GC ${row.gcPercent.toFixed(1)} %`);
    }
  }
  return rows;
}

/**
 * `node dist/bench.cjs --hotpath [--size <MiB>] [--reps <n>] [--fw-lead-every <n>] [--block <bytes>]`: section 2's
 * replay alone, printing wall and CPU µs per data packet for each rep (for quick before/after comparisons).
 */
export async function runHotPathCli(argv: string[]): Promise<void> {
  const opt = (name: string, dflt: number) => {
    const i = argv.indexOf(name);
    return i >= 0 ? Number(argv[i + 1]) : dflt;
  };
  const size = opt('--size', 64);
  const reps = opt('--reps', 5);
  const fw = opt('--fw-lead-every', 32);
  const blockSize = opt('--block', 1385);
  const rec = record(size * MiB, blockSize, 1, fw);
  const disk = Buffer.alloc(rec.data.length);
  await replay(rec, disk, 64); // warm-up
  const wall: number[] = [];
  const cpu: number[] = [];
  for (let r = 0; r < reps; r++) {
    const res = await replay(rec, disk, 64);
    wall.push((res.seconds * 1e6) / rec.dataPackets);
    cpu.push((res.cpuSeconds * 1e6) / rec.dataPackets);
  }
  const f = (xs: number[]) => xs.map((x) => x.toFixed(2)).join(' ');
  process.stdout.write(`hot path ${size} MiB, ${blockSize}-byte blocks, fw-lead ${fw}, ${rec.dataPackets} data packets: wall µs/packet ${f(wall)} (median ${summarize(wall).median.toFixed(2)}); CPU µs/packet ${f(cpu)} (median ${summarize(cpu).median.toFixed(2)})\n`);
}
