/**
 * A deterministic network for whole-fleet simulations: the sans-I/O Coordinator and any number of real
 * Receivers (core/) in one process, a fake clock, per-receiver latency and independent random loss from seeded
 * PRNGs. No sockets, no timers: the same seed gives the same run.
 */
import { BlockStore } from '../../core/block-store';
import { Op } from '../../core/codec/mt';
import { MsiUdpInitiator } from '../../core/msi-client';
import { Receiver, storeFor } from '../../core/receiver';
import { securityFromReply } from '../../core/session';
import { Coordinator } from '../coordinator/coordinator';
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
  /** Loss on the uplink (receiver → server). */
  uplinkLoss?: number;
  latencyMs?: number;
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
  done: boolean;
  /** Per block: does the last write at that block's offset hold the source bytes? */
  good?: Uint8Array;
  doneAt: number;
}

export class Fleet {
  now = 0;
  private q: { t: number; s: number; fn: () => void }[] = [];
  private seqNo = 0;
  readonly coord: Coordinator;
  readonly nodes: Node[] = [];
  private coordWake = Infinity;
  private readonly byAddr = new Map<string, Node>();
  delivered = 0;
  lost = 0;
  /** Forged copies delivered (counted per receiver that got one). */
  forged = 0;
  private dataPackets = 0;

  constructor(readonly o: FleetOptions) {
    const rng = mulberry32(o.seed);
    this.coord = new Coordinator(
      { namespace: 'WDS:Sim/img/1', content: 'img', source: bufferSource(o.image), sessionId: 0x5151, multicastAddr: '239.1.1.1', serverAddr: '10.0.0.1', port: 64001, blockSize: o.blockSize, blockBase: o.blockBase, rng, security: o.security },
      0,
    );
    for (let i = 0; i < o.receivers; i++) {
      const n: Node = { id: i, address: `10.1.${i >> 8}.${i & 255}`, wakeAt: Infinity, rng: mulberry32(o.seed * 1000 + i), lossRng: mulberry32(o.seed * 7919 + i), done: false, doneAt: -1 };
      this.nodes.push(n);
      this.byAddr.set(n.address, n);
      this.at(o.joinAt ? o.joinAt(i) : 0, () => this.start(n));
    }
  }

  private at(t: number, fn: () => void): void {
    // binary heap on (t, s)
    const e = { t, s: this.seqNo++, fn };
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
    return this.o.latencyMs ?? 1;
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
      n.rx = new Receiver({ session, clientName: `SIM${n.id}`, localAddress: Buffer.from(n.address.split('.').map(Number)), macAddress: Buffer.alloc(6), store: n.store }, n.rng, this.now);
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
      for (const b of job.buffers) {
        n.good[off / bs] = b.equals(this.o.image.subarray(off, off + b.length)) ? 1 : 0;
        off += b.length;
      }
      const j = job;
      this.at(this.now + 0.05, () => {
        n.store!.writeDone(j);
        rx.handleWritten(this.now);
        this.serviceRx(n);
      });
    }
    let ev;
    while ((ev = rx.pollEvent())) {
      if (ev.type === 'complete') {
        n.done = true;
        n.doneAt = this.now;
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
      const targets = tx.dest === 'multicast' ? this.nodes : [this.byAddr.get(tx.dest.address)].filter((x): x is Node => !!x);
      const forged = tx.via === 'session' && tx.dest === 'multicast' ? this.forgery(data) : undefined;
      for (const n of targets) {
        if (forged) {
          this.at(this.now + this.latency() / 2, () => {
            if (!n.rx || n.done) return;
            this.forged++;
            n.rx.handleDatagram(forged, SERVER_FROM, this.now);
            this.serviceRx(n);
          });
        }
        if (this.o.loss && n.lossRng() < this.o.loss) {
          this.lost++;
          continue;
        }
        if (tx.via === 'msi') {
          this.at(this.now + this.latency(), () => {
            if (n.init) {
              n.init.handleDatagram(data, { address: '10.0.0.1', port: 5041 }, this.now);
              this.serviceInit(n);
            }
          });
        } else {
          this.at(this.now + this.latency(), () => {
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
    while (this.q.length && !this.nodes.every((n) => n.done)) {
      const e = this.pop();
      if (e.t > limitMs) break;
      this.now = Math.max(this.now, e.t);
      e.fn();
    }
  }
}

