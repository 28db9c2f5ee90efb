/**
 * A fake network and disk for the udpcast receiver's tests: one FakeSender, receivers on their own IPv4 addresses,
 * loss per receiver link (both directions, seeded), the rendez-vous broadcast and the data group delivered to
 * every receiver that joined it, a fake clock that jumps to the next timer. Each receiver's disk takes write jobs
 * at once (or only when `diskOpen`), so the store's one write path is exercised.
 */
import { BlockStore } from '../../../core/block-store';
import { Transmit } from '../../../core/mt-client';
import { UdpcastEvent, UdpcastParams, UdpcastReceiver } from '../../../core/udpcast/receiver';
import { FakeSender, SenderOptions } from './sender-model';
import { mulberry32 } from '../../coordinator/sim';

export const SENDER_IP = '10.77.0.1';
export const BCAST = '10.77.0.255';
export const GROUP = '234.77.0.1';
export const P = 9000;


export class Node {
  readonly events: UdpcastEvent[] = [];
  joined = false;
  diskOpen = true;
  written = Buffer.alloc(0);
  writes = 0;
  /** Loss on the way in and out (0..1), and a filter that drops chosen packets. */
  lossIn = 0;
  lossOut = 0;
  dropIn: ((data: Buffer, to: Transmit['to']) => boolean) | undefined;
  dropOut: ((data: Buffer) => boolean) | undefined;
  rx: UdpcastReceiver;
  constructor(
    readonly ip: string,
    now: number,
    params: Partial<UdpcastParams> = {},
    readonly ringSlots = 4096,
    readonly ordered = false,
    rdv = BCAST,
  ) {
    this.rx = new UdpcastReceiver({ openStore: (blockSize) => BlockStore.growable({ blockSize, ringSlots, ordered }), localAddress: ip, rdvAddress: rdv, portbase: P, params }, now);
  }
  has(t: UdpcastEvent['type']): boolean {
    return this.events.some((e) => e.type === t);
  }
  event<T extends UdpcastEvent['type']>(t: T): Extract<UdpcastEvent, { type: T }> | undefined {
    return this.events.find((e) => e.type === t) as Extract<UdpcastEvent, { type: T }> | undefined;
  }
  /** Writes every job the store hands out (when the disk is open), then tells the receiver. */
  pump(now: number): void {
    const store = this.rx.store;
    if (!store || !this.diskOpen) return;
    let any = false;
    for (let job = store.takeWrite(); job; job = store.takeWrite()) {
      if (this.ordered && job.offset !== this.written.length) throw new Error(`ordered write at ${job.offset}, stream at ${this.written.length}`);
      const end = job.offset + job.bytes;
      if (end > this.written.length) {
        const next = Buffer.alloc(end);
        this.written.copy(next);
        this.written = next;
      }
      let at = job.offset;
      for (const b of job.buffers) at += b.copy(this.written, at);
      store.writeDone(job);
      this.writes++;
      any = true;
    }
    if (any) this.rx.handleWritten(now);
  }
}

export class Net {
  now = 0;
  readonly sender: FakeSender;
  readonly nodes: Node[] = [];
  private readonly rng: () => number;
  /** Receivers join the data group on `hello` (before connecting) too. */
  joinOnHello = false;
  delivered = 0;

  constructor(opts: Partial<SenderOptions> & { data: Buffer }, seed = 1) {
    this.rng = mulberry32(seed);
    this.sender = new FakeSender({ address: SENDER_IP, portbase: P, rdvAddress: BCAST, dataAddress: GROUP, blockSize: 1456, ...opts }, this.now);
  }

  /** A receiver starting now; `setup` runs before anything is delivered (loss, filters, taps). */
  add(ip: string, params: Partial<UdpcastParams> = {}, setup?: (n: Node) => void, ringSlots = 4096, ordered = false): Node {
    const n = new Node(ip, this.now, params, ringSlots, ordered);
    setup?.(n);
    this.nodes.push(n);
    this.flush();
    return n;
  }

  /** Delivers everything queued (zero latency), until nothing is left to send. */
  flush(): void {
    for (let guard = 0; guard < 10_000_000; guard++) {
      let moved = false;
      for (let t = this.sender.pollTransmit(); t; t = this.sender.pollTransmit()) {
        moved = true;
        this.fromSender(t);
      }
      for (const n of this.nodes) {
        for (let t = n.rx.pollTransmit(); t; t = n.rx.pollTransmit()) {
          moved = true;
          if (n.lossOut && this.rng() < n.lossOut) continue;
          if (n.dropOut?.(t.data)) continue;
          if (t.to.port === P + 1 && (t.to.address === SENDER_IP || t.to.address === BCAST)) this.sender.handleDatagram(t.data, { address: n.ip, port: P }, this.now);
        }
        this.drain(n);
      }
      if (!moved) return;
    }
    throw new Error('network does not settle');
  }

  private drain(n: Node): void {
    n.pump(this.now);
    for (let e = n.rx.pollEvent(); e; e = n.rx.pollEvent()) {
      n.events.push(e);
      if (e.type === 'connected' && !e.pointToPoint) n.joined = true;
      if (e.type === 'hello' && this.joinOnHello) n.joined = true;
    }
  }

  private fromSender(t: Transmit): void {
    const to = t.to;
    for (const n of this.nodes) {
      const mine = to.port === P && (to.address === n.ip || to.address === BCAST || (to.address === GROUP && n.joined));
      if (!mine) continue;
      if (n.lossIn && this.rng() < n.lossIn) continue;
      if (n.dropIn?.(t.data, to)) continue;
      this.delivered++;
      n.rx.handleDatagram(t.data, this.sender.self, this.now);
      this.drain(n);
    }
  }

  /** Runs the clock to the next timer, repeatedly, until `until` (ms) or `stop()` is true. */
  run(until: number, stop: () => boolean = () => false): void {
    this.flush();
    while (!stop()) {
      const times = [this.sender.pollTimeout(), ...this.nodes.map((n) => n.rx.pollTimeout())].filter((x): x is number => x !== undefined);
      if (!times.length) return;
      const next = Math.max(this.now, Math.min(...times));
      if (next > until) {
        this.now = until;
        return;
      }
      this.now = next;
      this.sender.handleTimeout(this.now);
      for (const n of this.nodes) {
        if ((n.rx.pollTimeout() ?? Infinity) <= this.now) n.rx.handleTimeout(this.now);
        this.drain(n);
      }
      this.flush();
    }
  }
}

/** Deterministic image bytes. */
export function image(bytes: number, seed = 7): Buffer {
  const r = mulberry32(seed);
  const b = Buffer.alloc(bytes);
  for (let i = 0; i < bytes; i++) b[i] = (r() * 256) | 0;
  return b;
}
