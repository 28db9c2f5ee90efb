/**
 * A deterministic discrete-event harness for the Coordinator: a fake clock, a packet scheduler with per-client
 * latency, and the fake clients of sim-client.ts. Used by coordinator.test.ts (and its seeded helpers by the
 * fleet simulation and the bench).
 */
import { MtPacket, decodeMt } from '../../core/codec/mt';
import { Coordinator } from './coordinator';
import { ClientHost, SimClient, SimClientOpts } from './sim-client';
import { CoordinatorConfig, CoordinatorEvent, Dest } from './types';

export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function bufferSource(data: Buffer) {
  let reads = 0;
  return {
    size: data.length,
    read(offset: number, length: number): Buffer {
      reads++;
      return data.subarray(offset, offset + length);
    },
    get reads() {
      return reads;
    },
  };
}

export interface Sent {
  t: number;
  dest: Dest;
  via: 'msi' | 'session';
  pkt?: MtPacket; // decoded MT packet (session socket)
  raw: Buffer;
}

interface Task {
  at: number;
  seq: number;
  fn: () => void;
}

export interface SimOptions extends Partial<Omit<CoordinatorConfig, 'source' | 'rng'>> {
  data: Buffer;
  seed?: number;
  start?: number;
  record?: boolean; // decode and keep every packet the coordinator sends
}

/** @internal The coordinator in a simulated network with simulated clients: tests only. */
export class Sim implements ClientHost {
  now: number;
  readonly coord: Coordinator;
  readonly clients: SimClient[] = [];
  readonly events: CoordinatorEvent[] = [];
  readonly sent: Sent[] = [];
  readonly sessionId: number;
  readonly size: number;
  readonly blockSize: number;
  readonly blockBase: number;
  readonly totalBlocks: number;
  readonly source: ReturnType<typeof bufferSource>;
  readonly rng: () => number;
  maxDataList = 0;
  private heap: Task[] = [];
  private seq = 0;
  private readonly record: boolean;

  constructor(o: SimOptions) {
    this.now = o.start ?? 1_000_000;
    this.rng = mulberry32(o.seed ?? 1);
    this.source = bufferSource(o.data);
    this.sessionId = o.sessionId ?? 0x1234;
    this.record = o.record ?? false;
    const { data: _d, seed: _s, start: _st, record: _r, ...rest } = o;
    this.coord = new Coordinator(
      {
        namespace: 'SMSNamespace',
        content: 'PKG00001',
        multicastAddr: '239.192.0.1',
        serverAddr: '10.0.0.1',
        port: 63000,
        sessionId: this.sessionId,
        ...rest,
        source: this.source,
        rng: this.rng,
      },
      this.now,
    );
    this.size = o.data.length;
    this.blockSize = o.blockSize ?? 1385;
    this.blockBase = o.blockBase ?? 1;
    this.totalBlocks = Math.ceil(this.size / this.blockSize);
  }

  at(t: number, fn: () => void): void {
    const task = { at: t, seq: this.seq++, fn };
    const h = this.heap;
    h.push(task);
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (less(h[p]!, h[i]!)) break;
      [h[p], h[i]] = [h[i]!, h[p]!];
      i = p;
    }
  }

  private pop(): Task | undefined {
    const h = this.heap;
    if (h.length === 0) return undefined;
    const top = h[0]!;
    const last = h.pop()!;
    if (h.length > 0) {
      h[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < h.length && less(h[l]!, h[m]!)) m = l;
        if (r < h.length && less(h[r]!, h[m]!)) m = r;
        if (m === i) break;
        [h[m], h[i]] = [h[i]!, h[m]!];
        i = m;
      }
    }
    return top;
  }

  addClient(opts: SimClientOpts = {}, startAt = this.now): SimClient {
    const c = new SimClient(this, opts, this.clients.length);
    this.clients.push(c);
    this.at(startAt, () => c.start());
    return c;
  }

  toCoordinator(c: SimClient, buf: Buffer): void {
    this.at(this.now + c.latency, () => {
      this.coord.handleDatagram(buf, { address: c.address, port: c.port }, this.now);
      this.drain();
    });
  }

  /** Drains the coordinator's transmit and event queues and schedules deliveries. */
  drain(): void {
    for (let e = this.coord.pollEvent(); e; e = this.coord.pollEvent()) this.events.push(e);
    for (let t = this.coord.pollTransmit(); t; t = this.coord.pollTransmit()) {
      if (this.record) {
        const d = t.via === 'session' ? decodeMt(t.data, { from: 'server' }) : undefined;
        this.sent.push({ t: this.now, dest: t.dest, via: t.via, pkt: d && d.ok ? d.value : undefined, raw: t.data });
      }
      if (t.via !== 'session') continue;
      const data = t.data;
      if (t.dest === 'multicast') {
        for (const c of this.clients) this.at(this.now + c.latency, () => c.onPacket(data));
      } else {
        const dest = t.dest;
        const c = this.clients.find((x) => x.address === dest.address && x.port === dest.port);
        if (c) this.at(this.now + c.latency, () => c.onPacket(data));
      }
    }
    const n = this.coord.dataListLength;
    if (n > this.maxDataList) this.maxDataList = n;
  }

  /** Runs the simulation until `until` (absolute ms) or until `stop()` returns true. Returns the time reached. */
  run(until: number, stop?: () => boolean): number {
    for (;;) {
      if (stop?.()) return this.now;
      const ct = this.coord.pollTimeout();
      const qt = this.heap.length ? this.heap[0]!.at : undefined;
      let next = ct;
      if (qt !== undefined && (next === undefined || qt < next)) next = qt;
      if (next === undefined || next > until) {
        this.now = until;
        return this.now;
      }
      if (next > this.now) this.now = next;
      if (ct !== undefined && ct <= this.now) {
        this.coord.handleTimeout(this.now);
        this.drain();
        continue;
      }
      const task = this.pop()!;
      task.fn();
    }
  }

  runFor(ms: number, stop?: () => boolean): number {
    return this.run(this.now + ms, stop);
  }

  /** Packets the coordinator sent with this opcode (needs record: true). */
  sentOps(op: number, since = 0): Sent[] {
    return this.sent.filter((s) => s.t >= since && s.pkt?.body.op === op);
  }
}

function less(a: Task, b: Task): boolean {
  return a.at < b.at || (a.at === b.at && a.seq < b.seq);
}
