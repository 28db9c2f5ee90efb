/**
 * A deterministic network for whole-fleet simulations: the sans-I/O Coordinator and any number of real
 * Receivers (core/) in one process, a fake clock, per-receiver latency and independent random loss from seeded
 * PRNGs. No sockets, no timers: the same seed gives the same run.
 *
 * Sized for fleets of 10 000 (the NACK-suppression simulation, test/sim/main.ts): a multicast datagram is one
 * event that hands the coordinator's one buffer to every receiver in turn (no copy, no closure per receiver),
 * write completions due at the same instant share one event, completion is a counter, and the event queue is a
 * binary heap. The order in which receivers see events is the same as with one event per delivery.
 */
import { BlockStore, TaggedWriteJob } from '../../core/block-store';
import { Op } from '../../core/codec/mt';
import type { NackBackoff } from '../../core/nack-backoff';
import { MsiUdpInitiator } from '../../core/msi-client';
import { Receiver, storeFor } from '../../core/receiver';
import { securityFromReply } from '../../core/session';
import type { MtParams } from '../../core/mt-client';
import { Coordinator } from '../coordinator/coordinator';
import type { CoordinatorConfig } from '../coordinator/types';
import { CoordinatorSecurity } from '../coordinator/security';
import { bufferSource, mulberry32 } from '../coordinator/sim';

/** Where the simulated coordinator's session datagrams come from (its serverAddr). */
const SERVER_FROM = { address: '10.0.0.1', port: 64001 };

export interface FleetOptions {
  receivers: number;
  image: Buffer;
  seed: number;
  /** Independent loss on each receiver's downlink (multicast and unicast), 0..1. */
  loss?: number;
  /** Loss on one receiver's downlink by index (0..1), instead of `loss` (which then applies to none). */
  lossOf?: (i: number) => number;
  /** Loss on the uplink (receiver → server). */
  uplinkLoss?: number;
  latencyMs?: number;
  /**
   * Delay and reordering: every delivery (either direction) takes `latencyMs` plus a uniform draw in
   * [0, jitterMs), drawn per packet and receiver from a seeded PRNG, so later packets overtake earlier ones
   * (counted in `reordered`). With jitter each receiver's copy of a multicast datagram is its own event.
   */
  jitterMs?: number;
  cacheBytes?: number;
  /** Receivers joining at these times (ms) instead of 0, by index. */
  joinAt?: (i: number) => number;
  blockSize?: number;
  blockBase?: 0 | 1;
  /** The session's MS-WDSMT security (coordinator security.ts); CHECKSUM by default. */
  security?: CoordinatorSecurity;
  /**
   * Receivers that are pre-OS, by index (default: all when `security` is absent, none otherwise). A receiver that
   * is not gets the reply's security fields of a WDSC INITIATE without BOOT_DEVICE (`replySecurity(false)`) on
   * top of the session its UDP request found, as an RPC initiation would hand it.
   */
  preOs?: (i: number) => boolean;
  /**
   * Every n-th ODATA/RDATA the coordinator multicasts, a forger that fakes the server's address delivers a copy
   * first with its MS-WDSMA payload changed and the security data left as it was (so a HMAC or signature no
   * longer matches, and a CHECKSUM would be recomputed by any forger: see protocol-notes #20).
   */
  forgeEvery?: number;
  /** The receivers' NACK back-off draw (MtParams.nackBackoff); the core default when absent. */
  nackBackoff?: NackBackoff;
  /**
   * Do not hand NCF packets to the receivers (counted in the coordinator's stats only). Receivers ignore NCF
   * (MS-WDSMT 3.2.5.19: it only counts as received and re-arms the 30 s inactivity timer, which data packets
   * re-arm anyway), and at 10 000 receivers those deliveries are a large share of the simulation's time.
   */
  skipNcf?: boolean;
  /** The coordinator's cap on ODATA + RDATA bytes per second (its token bucket); none when absent. */
  rateBytesPerSec?: number;
  /**
   * The sender's link: everything the coordinator sends leaves through one FIFO at this many bytes per second
   * (each datagram counted with 42 bytes of UDP/IPv4/Ethernet headers), like `tc tbf` on its interface with a
   * queue large enough never to drop (the bench lab's), then `latencyMs` to each receiver. Absent: no link limit.
   */
  linkBytesPerSec?: number;
  /** Coordinator settings beyond the defaults (window sizes, ACK interval, Master Client hold...). */
  coordinator?: Partial<Pick<CoordinatorConfig, 'expMaxWindow' | 'maxWindow' | 'fwLeadEvery' | 'masterHoldMs' | 'retentionMs' | 'repeatGuard' | 'queueTargetMs'>>;
  /** The receivers' MT parameters beyond the defaults (nackBackoff above wins). */
  mtParams?: Partial<MtParams>;
  /** Measure loss → repair time per receiver (repairs, repairMsSum, repairMsMax); for small fleets. */
  trackRepair?: boolean;
}

interface Event {
  t: number;
  s: number;
  fn: () => void;
}

/** Write completions due at one instant, run in the order they were taken. */
interface WriteBatch extends Event {
  items: { n: Node; job: TaggedWriteJob }[];
}

interface Node {
  id: number;
  address: string;
  init?: MsiUdpInitiator;
  rx?: Receiver;
  store?: BlockStore;
  wakeAt: number;
  rng: () => number;
  lossRng: () => number;
  /** The highest data sequence number delivered so far (jitter runs only). */
  lastSeq: number;
  done: boolean;
  /** Per block: does the last write at that block's offset hold the source bytes? */
  good?: Uint8Array;
  doneAt: number;
}

export class Fleet {
  now = 0;
  private q: Event[] = [];
  private seqNo = 0;
  /** The event `at` queued last: a write completion due at the same instant joins it when it is a WriteBatch. */
  private lastQueued: Event | undefined;
  private doneCount = 0;
  /** Data sequence numbers at least one receiver (joined, not complete) lost, ODATA or RDATA: 1 byte each. */
  private lostSeq = new Uint8Array(1 << 14);
  /** Distinct sequence numbers in `lostSeq`. */
  lostSeqs = 0;
  /** NACK packets that reached the coordinator, with at least one range and without (Zero NACKs, 3.2.5.12.2). */
  nacksAtServer = 0;
  zeroNacksAtServer = 0;
  readonly coord: Coordinator;
  readonly nodes: Node[] = [];
  private coordWake = Infinity;
  private readonly byAddr = new Map<string, Node>();
  delivered = 0;
  lost = 0;
  /** Data packets (ODATA/RDATA) that reached a receiver after one with a higher sequence number (jitterMs). */
  reordered = 0;
  private readonly jitterRng: () => number;
  /** Forged copies delivered (counted per receiver that got one). */
  forged = 0;
  private dataPackets = 0;
  /** The source's blocks as views, shared by every receiver's check. */
  private readonly blocks: Buffer[] = [];
  /** When the sender's link (linkBytesPerSec) has sent everything queued so far, and its busy time in total. */
  private linkFreeAt = 0;
  linkBusyMs = 0;
  /** Simulated time the first ODATA/RDATA reached a receiver, or -1. */
  firstDataAt = -1;
  /**
   * With `trackRepair`: per receiver, when each data sequence number it lost was lost; repairs counts and sums
   * the time from a loss to that receiver's first copy of the sequence number (NACK → NCF → RDATA, or later).
   */
  private lostAt: Map<number, number>[] = [];
  repairs = 0;
  repairMsSum = 0;
  repairMsMax = 0;

  constructor(readonly o: FleetOptions) {
    const rng = mulberry32(o.seed);
    this.jitterRng = mulberry32(o.seed * 31 + 7);
    this.coord = new Coordinator(
      { namespace: 'WDS:Sim/img/1', content: 'img', source: bufferSource(o.image), sessionId: 0x5151, multicastAddr: '239.1.1.1', serverAddr: '10.0.0.1', port: 64001, blockSize: o.blockSize, blockBase: o.blockBase, rng, security: o.security, rateBytesPerSec: o.rateBytesPerSec, ...o.coordinator },
      0,
    );
    for (let i = 0; i < o.receivers; i++) {
      const n: Node = { id: i, address: `10.1.${i >> 8}.${i & 255}`, wakeAt: Infinity, rng: mulberry32(o.seed * 1000 + i), lossRng: mulberry32(o.seed * 7919 + i), lastSeq: -1, done: false, doneAt: -1 };
      this.nodes.push(n);
      this.byAddr.set(n.address, n);
      this.at(o.joinAt ? o.joinAt(i) : 0, () => this.start(n));
    }
  }

  private at(t: number, fn: () => void): Event {
    return this.push({ t, s: 0, fn });
  }
  private push<E extends Event>(e: E): E {
    // binary heap on (t, s)
    e.s = this.seqNo++;
    this.lastQueued = e;
    const q = this.q;
    q.push(e);
    let i = q.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (q[p]!.t < e.t || (q[p]!.t === e.t && q[p]!.s < e.s)) break;
      q[i] = q[p]!;
      i = p;
    }
    q[i] = e;
    return e;
  }
  private pop() {
    const q = this.q;
    const top = q[0]!;
    const last = q.pop()!;
    if (q.length) {
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        const better = (a: number, b: { t: number; s: number }) => q[a]!.t < b.t || (q[a]!.t === b.t && q[a]!.s < b.s);
        let cand = last;
        if (l < q.length && better(l, cand)) {
          m = l;
          cand = q[l]!;
        }
        if (r < q.length && better(r, cand)) m = r;
        if (m === i) break;
        q[i] = q[m]!;
        i = m;
      }
      q[i] = last;
    }
    return top;
  }

  private start(n: Node): void {
    n.init = new MsiUdpInitiator({ server: { address: '10.0.0.1', port: 5041 }, namespace: 'WDS:Sim/img/1', content: 'img', mac: Buffer.alloc(6, n.id & 255) }, this.now);
    this.serviceInit(n);
  }

  private latency(): number {
    const base = this.o.latencyMs ?? 1;
    return this.o.jitterMs ? base + this.jitterRng() * this.o.jitterMs : base;
  }

  /** From now to the arrival at a receiver of a datagram the coordinator sends now: the link's queue, then latency. */
  private downDelay(bytes: number): number {
    return this.linkQueue(bytes) + this.latency();
  }

  /** From now to the end of the link's transmission of a datagram queued now (0 without a link rate). */
  private linkQueue(bytes: number): number {
    const rate = this.o.linkBytesPerSec;
    if (!rate) return 0;
    const start = Math.max(this.now, this.linkFreeAt);
    const ms = ((bytes + 42) * 1000) / rate;
    this.linkFreeAt = start + ms;
    this.linkBusyMs += ms;
    return this.linkFreeAt - this.now;
  }

  private serviceInit(n: Node): void {
    const init = n.init!;
    let tx;
    while ((tx = init.pollTransmit())) {
      const data = tx.data;
      this.at(this.now + this.latency(), () => {
        this.coord.handleMsi(data, { address: n.address, port: 40000 }, this.now);
        this.serviceCoord();
      });
    }
    if (init.result) {
      if (!init.result.ok) throw new Error(`receiver ${n.id}: ${init.result.message}`);
      const preOs = this.o.preOs ? this.o.preOs(n.id) : !this.o.security;
      const session = preOs ? init.result.session : { ...init.result.session, security: securityFromReply(this.coord.replySecurity(false)) };
      n.store = storeFor(session, this.o.cacheBytes ?? 256 * 1024);
      const params = this.o.nackBackoff || this.o.mtParams ? { ...this.o.mtParams, ...(this.o.nackBackoff ? { nackBackoff: this.o.nackBackoff } : {}) } : undefined;
      n.rx = new Receiver({ session, clientName: `SIM${n.id}`, localAddress: Buffer.from(n.address.split('.').map(Number)), macAddress: Buffer.alloc(6), store: n.store, params }, n.rng, this.now);
      n.init = undefined;
      this.serviceRx(n);
      return;
    }
    const t = init.pollTimeout();
    if (t !== undefined) this.at(t, () => {
      n.init?.handleTimeout(this.now);
      if (n.init) this.serviceInit(n);
    });
  }

  private serviceRx(n: Node): void {
    const rx = n.rx!;
    let tx;
    while ((tx = rx.pollTransmit())) {
      if (this.o.uplinkLoss && n.lossRng() < this.o.uplinkLoss) continue;
      const data = tx.data;
      this.at(this.now + this.latency(), () => {
        this.countNack(data);
        this.coord.handleDatagram(data, { address: n.address, port: 40001 }, this.now);
        this.serviceCoord();
      });
    }
    let job;
    while ((job = n.store!.takeWrite())) {
      // verify every block against the source as it is "written", then complete it a little later
      let off = job.offset;
      const bs = n.store!.cfg.blockSize;
      n.good ??= new Uint8Array(n.store!.cfg.totalBlocks);
      if (this.blocks.length === 0) for (let o = 0; o < this.o.image.length; o += bs) this.blocks.push(this.o.image.subarray(o, o + bs));
      for (const b of job.buffers) {
        const want = this.blocks[off / bs];
        n.good[off / bs] = want !== undefined && b.equals(want) ? 1 : 0;
        off += b.length;
      }
      this.writeDoneLater(n, job);
    }
    let ev;
    while ((ev = rx.pollEvent())) {
      if (ev.type === 'complete') {
        n.done = true;
        n.doneAt = this.now;
        this.doneCount++;
      } else if (ev.type === 'kicked' || ev.type === 'inactive') throw new Error(`receiver ${n.id}: ${ev.type}`);
    }
    const t = rx.pollTimeout();
    if (t !== undefined && t < n.wakeAt) {
      n.wakeAt = t;
      this.at(t, () => {
        if (n.wakeAt !== t) return;
        n.wakeAt = Infinity;
        rx.handleTimeout(this.now);
        this.serviceRx(n);
      });
    }
  }

  /** Completes a write 0.05 ms from now; completions due at one instant, queued back to back, share one event. */
  private writeDoneLater(n: Node, job: TaggedWriteJob): void {
    const t = this.now + 0.05;
    const last = this.lastQueued as WriteBatch | undefined;
    if (last && last.t === t && last.items) {
      last.items.push({ n, job });
      return;
    }
    const b: WriteBatch = { t, s: 0, items: [{ n, job }], fn: () => {
      for (const { n: m, job: j } of b.items) {
        m.store!.writeDone(j);
        m.rx!.handleWritten(this.now);
        this.serviceRx(m);
      }
    } };
    this.push(b);
  }

  /** Counts NACKs on their way into the coordinator (opcode and RangeCount read in place). */
  private countNack(data: Buffer): void {
    if (data.length < 5) return;
    const body = 5 + data.readUInt16BE(3) + 13; // security header, SessionId + OpCode + SenderTime
    if (data.length < body + 22 || data[body - 9] !== Op.NACK) return;
    if (data.readUInt16BE(body + 20) > 0) this.nacksAtServer++;
    else this.zeroNacksAtServer++;
  }

  /** A data packet's ODATASeqNo, or -1 for any other packet. */
  private dataSeq(data: Buffer): number {
    const body = 5 + data.readUInt16BE(3) + 13;
    const op = data[body - 9];
    if ((op !== Op.ODATA && op !== Op.RDATA) || data.length < body + 12) return -1;
    return data.readUInt32BE(body + 4) * 0x1_0000_0000 + data.readUInt32BE(body + 8);
  }

  private noteLost(seq: number): void {
    if (seq >= this.lostSeq.length) {
      const grown = new Uint8Array(Math.max(seq + 1, this.lostSeq.length * 2));
      grown.set(this.lostSeq);
      this.lostSeq = grown;
    }
    if (this.lostSeq[seq]) return;
    this.lostSeq[seq] = 1;
    this.lostSeqs++;
  }

  /** Whether this delivery to `n` is lost (its own draw: `lossOf(i)` or `loss`). */
  private lossy(n: Node): boolean {
    const p = this.o.lossOf ? this.o.lossOf(n.id) : (this.o.loss ?? 0);
    return p > 0 && n.lossRng() < p;
  }

  /** One multicast session datagram to every receiver, in receiver order, each with its own independent loss. */
  private multicastBatch(data: Buffer): void {
    const seq = this.dataSeq(data);
    if (seq < 0 && this.o.skipNcf && data[5 + data.readUInt16BE(3) + 4] === Op.NCF) return;
    if (this.o.jitterMs) {
      // one event per receiver, each with its own delay after the link's queue
      const queued = this.linkQueue(data.length);
      for (const n of this.nodes) {
        if (!n.rx || n.done) continue;
        if (this.lossy(n)) {
          this.lost++;
          if (seq >= 0) this.noteLost(seq);
          continue;
        }
        this.at(this.now + queued + this.latency(), () => {
          if (!n.rx || n.done) return;
          if (seq >= 0 && this.firstDataAt < 0) this.firstDataAt = this.now;
          if (seq >= 0) {
            if (seq < n.lastSeq) this.reordered++;
            else n.lastSeq = seq;
          }
          this.delivered++;
          n.rx.handleDatagram(data, SERVER_FROM, this.now);
          this.serviceRx(n);
        });
      }
      return;
    }
    this.at(this.now + this.downDelay(data.length), () => {
      if (seq >= 0 && this.firstDataAt < 0) this.firstDataAt = this.now;
      for (const n of this.nodes) {
        if (!n.rx || n.done) continue;
        if (this.lossy(n)) {
          this.lost++;
          if (seq >= 0) {
            this.noteLost(seq);
            if (this.o.trackRepair) {
              const m = (this.lostAt[n.id] ??= new Map());
              if (!m.has(seq)) m.set(seq, this.now);
            }
          }
          continue;
        }
        if (this.o.trackRepair && seq >= 0) {
          const m = this.lostAt[n.id];
          const t0 = m?.get(seq);
          if (t0 !== undefined) {
            m!.delete(seq);
            const ms = this.now - t0;
            this.repairs++;
            this.repairMsSum += ms;
            if (ms > this.repairMsMax) this.repairMsMax = ms;
          }
        }
        this.delivered++;
        n.rx.handleDatagram(data, SERVER_FROM, this.now);
        this.serviceRx(n);
      }
    });
  }

  /** The forger's copy of a data packet: one MS-WDSMA payload byte changed, everything else as sent. */
  private forgery(data: Buffer): Buffer | undefined {
    if (!this.o.forgeEvery || data[2] === 0x03) return undefined; // a CHECKSUM session: nothing to forge against
    const secLen = data.readUInt16BE(3);
    const op = data[5 + secLen + 4]; // after the security header and the SessionId
    if (op !== Op.ODATA && op !== Op.RDATA) return undefined;
    if (++this.dataPackets % this.o.forgeEvery !== 0) return undefined;
    const f = Buffer.from(data);
    f[f.length - 10] ^= 0x5a; // inside the block's bytes (the packet ends with OptionsCount)
    return f;
  }

  private serviceCoord(): void {
    let tx;
    while ((tx = this.coord.pollTransmit())) {
      const data = tx.data;
      const forgedCopy = tx.via === 'session' && tx.dest === 'multicast' ? this.forgery(data) : undefined;
      if (tx.via === 'session' && tx.dest === 'multicast' && !forgedCopy) {
        this.multicastBatch(data);
        continue;
      }
      const targets = tx.dest === 'multicast' ? this.nodes : [this.byAddr.get(tx.dest.address)].filter((x): x is Node => !!x);
      const forged = forgedCopy;
      const delay = this.downDelay(data.length);
      for (const n of targets) {
        if (forged) {
          this.at(this.now + this.latency() / 2, () => {
            if (!n.rx || n.done) return;
            this.forged++;
            n.rx.handleDatagram(forged, SERVER_FROM, this.now);
            this.serviceRx(n);
          });
        }
        if (this.lossy(n)) {
          this.lost++;
          continue;
        }
        if (tx.via === 'msi') {
          this.at(this.now + delay, () => {
            if (n.init) {
              n.init.handleDatagram(data, { address: '10.0.0.1', port: 5041 }, this.now);
              this.serviceInit(n);
            }
          });
        } else {
          this.at(this.now + delay, () => {
            if (!n.rx || n.done) return;
            this.delivered++;
            n.rx.handleDatagram(data, SERVER_FROM, this.now);
            this.serviceRx(n);
          });
        }
      }
    }
    const t = this.coord.pollTimeout();
    if (t !== undefined && t < this.coordWake) {
      this.coordWake = t;
      this.at(t, () => {
        if (this.coordWake !== t) return;
        this.coordWake = Infinity;
        this.coord.handleTimeout(this.now);
        this.serviceCoord();
      });
    }
  }

  /** Blocks whose bytes on "disk" differ from the source (or were never written). */
  corrupt(n: Node): number {
    if (!n.good) return n.store ? n.store.cfg.totalBlocks : 1;
    let bad = 0;
    for (const g of n.good) if (!g) bad++;
    return bad;
  }

  /** Runs until every receiver is complete or `limitMs` of simulated time passes. */
  run(limitMs: number): void {
    this.serviceCoord();
    while (this.q.length && this.doneCount < this.nodes.length) {
      const e = this.pop();
      if (e.t > limitMs) break;
      this.now = Math.max(this.now, e.t);
      e.fn();
    }
  }
}

