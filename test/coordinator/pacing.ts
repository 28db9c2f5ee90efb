/**
 * Pacing: the Data Packet List and what leaves it, MS-WDSMT 3.1.5.9.4–3.1.5.9.8 and 3.1.6.7. New ODATA leaves
 * only as the Master Client's ACKs open CurrentWindowSize (3.1.5.9.5) and, when a rate cap is set, as a token
 * bucket on `now` allows; NACKed packets still in the list go out again as RDATA after an NCF (3.1.5.9.6); the
 * Cleanup Data List timer retires acknowledged packets after the retention period (3.1.6.7). List entries hold
 * no payload: ODATA and RDATA are rebuilt from the content source, so the list holds the window, not the image.
 */
import { writeU64 } from '../../core/codec/bytes';
import { DATA_HEADER_LEN, writeDataHeader } from '../../core/codec/ma';
import { MtOption, MtOpt, Op, Range } from '../../core/codec/mt';
import { Context, U16 } from './context';

/** A packet already repeated once without an echo since goes out again anyway after this long (ACKs lost). */
const BLIND_REPEAT_MS = 1000;
/** queueTargetMs: the lowest MCRTT is kept over the last one to two of these periods. */
const RTT_BUCKET_MS = 10_000;

/** The lowest sample of the last one to two `bucketMs` periods: two buckets, the older dropped as the next starts. */
class WindowedMin {
  private prev = Infinity;
  private cur = Infinity;
  private curAt = -Infinity;
  constructor(private readonly bucketMs: number) {}

  note(v: number, now: number): void {
    const age = now - this.curAt;
    if (age >= this.bucketMs) {
      this.prev = age >= 2 * this.bucketMs ? Infinity : this.cur;
      this.cur = Infinity;
      this.curAt = now;
    }
    if (v < this.cur) this.cur = v;
  }

  get value(): number {
    return Math.min(this.prev, this.cur);
  }

  clear(): void {
    this.prev = this.cur = Infinity;
    this.curAt = -Infinity;
  }
}

/** What the pacer needs from the session (MT 3.1.1.3) and from the MA server (the blocks of the round). */
export interface PacerPeers {
  /** ODATA may flow: DataState with a Master Client. */
  sending(): boolean;
  /** MasterClientId, carried in every ODATA and RDATA. */
  masterId(): number;
  hasBlock(): boolean;
  nextBlock(): number;
  /** An SPM now (the Master Client ACKs every SPM), for a full window whose packets no ODATA asked to ACK. */
  requestAck(now: number): void;
}

/** One entry of the Data Packet List. */
interface DataEntry {
  seq: number;
  block: number;
  creationTime: number;
  lastSendTime: number;
  /** Transmissions since the last one the Master Client's ACK echoes show should have arrived (see nacked). */
  blind: number;
}

export class Pacer {
  /** CurrentWindowSize */
  window = 1;
  /** MCTrailODATASeqNo: the Master Client acknowledged every packet up to here. */
  trail = 0;
  /** MCLeadODATASeqNo: the last ODATA sent. */
  lead = 0;
  private nextOdataSeqNo = 1;
  private dataList: DataEntry[] = [];
  private dataHead = 0;
  // rate cap (token bucket)
  private tokens = 0;
  private tokensAt = 0;
  private readonly bucket: number;
  private readonly firstBlock: number;
  /** The newest ServerTime a Master Client ACK echoed: it had received a packet sent then (3.1.5.9.5). */
  private echoed = 0;
  /** ODATA_FW_LEAD_SEQ_NO: the highest ODATASeqNo an ODATA asked the Master Client to ACK. */
  private askedThrough = 0;
  /** queueTargetMs: the lowest MCRTT of the last 10-20 s. */
  private readonly rttLow = new WindowedMin(RTT_BUCKET_MS);
  /** queueTargetMs: LeadODATASeqNo when a queue-inflated MCRTT last cut the window (one cut per window of data). */
  private queueCutLead = 0;
  /** nackCut 'window': LeadODATASeqNo at the last NACK cut; the next cut waits until MCTrail passes it. */
  private nackCutLead = -1;
  /** When the window last held back a ready block (stats.windowStalls), until the next ODATA leaves. */
  private stalledAt: number | undefined;
  private readonly maHeader = Buffer.allocUnsafe(DATA_HEADER_LEN);
  /** release() stopped because the shell had no room (Context.sendRoom), not for the window or the rate. */
  roomBlocked = false;

  constructor(
    private readonly ctx: Context,
    private readonly peers: PacerPeers,
    now: number,
  ) {
    const c = ctx.cfg;
    this.firstBlock = c.blockBase;
    const wire = this.odataWireSize(c.blockSize);
    this.bucket = c.rateBytesPerSec > 0 ? Math.max(4 * wire, Math.floor(c.rateBytesPerSec / 100)) : 0;
    this.tokens = this.bucket;
    this.tokensAt = now;
  }

  get length(): number {
    return this.dataList.length - this.dataHead;
  }

  /** Session terminated: sequence numbers and the window start over. */
  reset(): void {
    this.nextOdataSeqNo = 1;
    this.trail = 0;
    this.lead = 0;
    this.window = 1;
    this.dataList = [];
    this.dataHead = 0;
    this.stalledAt = undefined;
    this.echoed = 0;
    this.queueCutLead = 0;
    this.nackCutLead = -1;
    this.masterChanged();
  }

  /** A Master Client ACK echoed `serverTime`: everything sent before it has had its chance to arrive. */
  echo(serverTime: number): void {
    if (serverTime > this.echoed) this.echoed = serverTime;
  }

  /**
   * A new Master Client: the ACK requests outstanding were addressed to the old one (ODATA ClientId), and its
   * MCRTT low (queueTargetMs) is not the new one's.
   */
  masterChanged(): void {
    this.askedThrough = 0;
    this.rttLow.clear();
  }

  /** No ODATA beyond MCTrail asked for an ACK: nothing the Master Client sends would open the window. */
  private unasked(): boolean {
    return this.askedThrough <= this.trail;
  }

  /** An ACK may name only a sequence number between MCTrail and MCLead (3.1.5.9.5). */
  accepts(seq: number): boolean {
    return seq >= this.trail && seq <= this.lead;
  }

  /**
   * 3.1.5.9.5: the window grows by 2 per packet up to ExpMaxWindowSize, then by 1 up to MaxWindowSize.
   * `rtt` is the MCRTT this ACK measured (undefined: it carried no ServerTime).
   *
   * Ours (queueTargetMs, protocol-notes #105): the window does not grow while MCRTT exceeds the lowest MCRTT of
   * the last 10-20 s by more than queueTargetMs, and above twice that it shrinks x0.75, once per window of data (not
   * again until an ACK names a packet sent after the cut). The spec's window shrinks only on a NACK, so where
   * nothing drops (the sender's own qdisc, a receiver's 32 MiB socket buffer) it grows to MaxWindowSize and all of
   * it waits in the queue: 2,048 packets are 120 ms at 200 Mbit/s. Every repair then waits behind that queue (the
   * RDATA joins its tail) while the Master Client's ACK stays at the hole, and the window stalls.
   */
  acked(seq: number, now: number, rtt?: number): void {
    const acked = seq - this.trail;
    const { expMaxWindow, maxWindow, queueTargetMs } = this.ctx.cfg;
    if (rtt !== undefined) this.rttLow.note(rtt, now);
    const queued = queueTargetMs > 0 && rtt !== undefined ? rtt - this.rttLow.value : 0;
    if (queued > 2 * queueTargetMs && seq > this.queueCutLead) {
      this.ctx.stats.windowQueueCuts++;
      this.window = Math.max(this.window * 0.75, 2);
      this.queueCutLead = this.lead;
    } else if (queued > queueTargetMs) this.ctx.stats.windowHolds++;
    else if (this.window < expMaxWindow) this.window = Math.min(this.window + acked * 2, expMaxWindow);
    else this.window = Math.min(this.window + acked, maxWindow);
    this.trail = seq;
    this.release(now);
    // The ACK answered every request and the window is still full (it shrank, or an ACK was lost): the packets in
    // flight asked for none, so without this the window would wait for the SPM timer. Once until answered.
    if (this.ctx.cfg.fwLeadEvery > 0 && this.unasked() && this.lead > this.trail && this.lead - this.trail >= Math.floor(this.window) && this.peers.sending()) {
      this.askedThrough = this.lead;
      this.ctx.stats.ackRequests++;
      this.peers.requestAck(now);
    }
  }

  /**
   * 3.1.5.9.6: the window shrinks; NCF echoes the ranges on multicast; each listed packet still in the list
   * goes out again as RDATA unless it was sent less than `repeatAfterMs` ago. A Zero NACK only shrinks.
   *
   * Not said by the spec: a packet is repeated at most once "blind", i.e. while no Master Client ACK has echoed a
   * ServerTime at or after its last transmission. MCRTT is measured from ACKs, so when a repair burst queues behind
   * the sender's own socket or a shaped link, MCRTT stays at its old small value and the client's NACKs (every
   * 2 x MCRTT) came back faster than the queue drained, so every repeat went into the same queue. Seen with
   * 8192-byte blocks (6-fragment datagrams) at 1 % fragment loss, where the receiver's IP reassembly ran out of
   * memory and nearly every datagram failed: 35 RDATA per ODATA, MCRTT up to 7.7 s. The
   * echo is the evidence that the last copy had its chance; BLIND_REPEAT_MS bounds the wait if ACKs stop.
   */
  nacked(ranges: Range[], repeatAfterMs: number, now: number): void {
    if (this.ctx.cfg.nackCut === 'nack' || this.trail > this.nackCutLead) {
      this.window = Math.max(this.window * 0.75, 2);
      this.nackCutLead = this.lead;
    } else this.ctx.stats.nackCutsSkipped++;
    if (ranges.length === 0) return;
    this.ctx.stats.ncfSent++;
    this.ctx.send('multicast', { op: Op.NCF, ranges: ranges.slice(0, U16) }, now);
    const head = this.headSeq();
    if (head === undefined) return;
    const stats = this.ctx.stats;
    for (const [s0, e0] of ranges) {
      if (s0 < head) stats.rdataSkippedGone += Math.min(e0, head - 1) - s0 + 1;
      const s = Math.max(s0, head);
      const e = Math.min(e0, this.lead);
      for (let seq = s; seq <= e; seq++) {
        const entry = this.dataList[this.dataHead + (seq - head)];
        if (!entry || entry.seq !== seq) {
          stats.rdataSkippedGone++;
          continue;
        }
        const since = now - entry.lastSendTime;
        if (since < repeatAfterMs) {
          stats.rdataSkippedRecent++;
          continue;
        }
        const seen = this.echoed >= entry.lastSendTime; // same millisecond: counted as seen (errs towards repeating)
        if (!seen && entry.blind >= 1 && since < Math.max(BLIND_REPEAT_MS, repeatAfterMs)) {
          stats.rdataSkippedUnechoed++;
          continue;
        }
        entry.blind = seen ? 0 : entry.blind + 1;
        this.sendData(Op.RDATA, entry, now);
        entry.lastSendTime = now;
      }
    }
  }

  /**
   * Sends as many new ODATA packets as the window (and the rate cap) allow. The MA server supplies blocks lazily:
   * a data trigger happens only when a packet can leave at once, so the Data Packet List holds only packets
   * between TrailODATASeqNo and LeadODATASeqNo plus the retention period, never the image.
   */
  release(now: number): void {
    this.roomBlocked = false;
    if (!this.peers.sending()) return;
    const { fwLeadEvery: fw, blockSize, dropPercent } = this.ctx.cfg;
    for (;;) {
      const inFlight = this.lead - this.trail;
      const allowed = Math.floor(this.window) - inFlight;
      if (!this.peers.hasBlock()) return;
      if (allowed <= 0) {
        if (this.stalledAt === undefined) {
          this.stalledAt = now;
          this.ctx.stats.windowStalls++;
        }
        return;
      }
      if (this.ctx.sendRoom <= 0) {
        this.roomBlocked = true; // the shell has all it can take: the next handleSent calls release again
        return;
      }
      if (this.bucket > 0) {
        this.refill(now);
        const need = this.odataWireSize(blockSize);
        if (this.tokens < need) {
          const rate = this.ctx.cfg.rateBytesPerSec;
          this.ctx.timers.arm('rate', now + Math.max(1, Math.ceil(((need - this.tokens) * 1000) / rate)));
          return;
        }
      }
      if (this.stalledAt !== undefined) {
        const ms = now - this.stalledAt;
        this.ctx.stats.windowStallMs += ms;
        this.ctx.stats.windowStallHist[ms < 1 ? 0 : ms < 5 ? 1 : ms < 20 ? 2 : ms < 100 ? 3 : 4]!++;
        this.stalledAt = undefined;
      }
      this.ctx.stats.windowSum += this.window;
      const block = this.peers.nextBlock();
      // 3.1.5.9.4: data trigger -> ODATA at the tail of the Data Packet List.
      const entry: DataEntry = { seq: this.nextOdataSeqNo++, block, creationTime: now, lastSendTime: this.ctx.cfg.repeatGuard === 'odata' ? now : -Infinity, blind: 0 };
      this.dataList.push(entry);
      this.lead = entry.seq;
      let options: MtOption[] | undefined;
      if (fw > 0) {
        // ODATA_FW_LEAD_SEQ_NO (2.2.16, Server 2012+): the Master Client ACKs only when the value >= ODATASeqNo.
        // Ask for an ACK every fw packets and on the last one of the round; on the packet that fills the window
        // only when no request beyond MCTrail is outstanding, else the window would wait for an SPM. Asking on
        // every fill (before) made each ACK ask for the next: an ACK per 2 ODATA on loopback, not per 32.
        const ask = entry.seq % fw === 0 || !this.peers.hasBlock() || (allowed === 1 && this.unasked());
        if (ask) this.askedThrough = entry.seq;
        const n = ask ? entry.seq : entry.seq - 1;
        const v = Buffer.allocUnsafe(8);
        writeU64(v, n, 0);
        options = [{ id: MtOpt.ODATA_FW_LEAD_SEQ_NO, value: v }];
      }
      if (dropPercent > 0 && this.ctx.cfg.rng() * 100 < dropPercent) {
        this.ctx.stats.droppedOdata++;
        if (this.bucket > 0) this.tokens -= this.odataWireSize(blockSize);
        continue;
      }
      this.sendData(Op.ODATA, entry, now, options);
    }
  }

  /** 3.1.6.7: retires packets older than the retention period and acknowledged; returns how many. */
  cleanup(now: number): number {
    let removed = 0;
    while (this.dataHead < this.dataList.length) {
      const e = this.dataList[this.dataHead]!;
      // "older than 1000 ms and lower than MCTrailODATASeqNo": <= rather than <, else the last packet of a round
      // (which the Master Client acknowledges as exactly MCTrailODATASeqNo) could never leave and the list
      // would never empty (docs/coordinator.md).
      if (now - e.creationTime <= this.ctx.cfg.retentionMs || e.seq > this.trail) break;
      this.dataList[this.dataHead++] = undefined as unknown as DataEntry;
      removed++;
    }
    if (this.dataHead > 1024 && this.dataHead * 2 > this.dataList.length) {
      this.dataList = this.dataList.slice(this.dataHead);
      this.dataHead = 0;
    }
    return removed;
  }

  /**
   * TrailODATASeqNo = ODATASeqNo at the head of the Data Packet List. The list is never empty when an ODATA or
   * RDATA leaves (the packet is in it: 3.1.5.9.4's "same value as the ODATASeqNo" rule). For an SPM sent while
   * the list is empty the spec gives no value; we send LeadODATASeqNo. Sending LeadODATASeqNo + 1 would make a
   * literal client (3.2.1.3.1.1 sets EndODATASeqNo to the new start) ACK Lead + 1, which 3.1.5.9.5 rejects as
   * beyond MCLeadODATASeqNo, and the session would fall back to QCCState after MaxNoResponseSPM.
   */
  trailForPacket(): number {
    return this.headSeq() ?? this.lead;
  }

  private headSeq(): number | undefined {
    return this.dataHead < this.dataList.length ? this.dataList[this.dataHead]!.seq : undefined;
  }

  private refill(now: number): void {
    if (now > this.tokensAt) {
      this.tokens = Math.min(this.bucket, this.tokens + ((now - this.tokensAt) * this.ctx.cfg.rateBytesPerSec) / 1000);
      this.tokensAt = now;
    }
  }

  private odataWireSize(dataLen: number): number {
    // security(9) + session(13) + ODATA fixed(22) + MA DATA header(13) + data + options(2 or 2+4+8)
    return 9 + 13 + 22 + DATA_HEADER_LEN + dataLen + (this.ctx.cfg.fwLeadEvery ? 14 : 2);
  }

  /** Data of the block's MA DATA packet: the MA header (a scratch the encoder copies at once) and the block. */
  private blockParts(block: number): Uint8Array[] {
    const { blockSize, source } = this.ctx.cfg;
    const offset = (block - this.firstBlock) * blockSize;
    const len = Math.min(blockSize, source.size - offset);
    writeDataHeader(this.maHeader, 0, block, len);
    const data = source.read(offset, len);
    if (data.length !== len) throw new Error(`content source returned ${data.length} bytes at ${offset}, expected ${len}`);
    return [this.maHeader, data];
  }

  /** 3.1.5.9.7 / 3.1.5.9.8: ODATA and RDATA carry the current MasterClientId and head-of-list trail. */
  private sendData(op: typeof Op.ODATA | typeof Op.RDATA, e: DataEntry, now: number, options?: MtOption[]): void {
    const bytes = this.ctx.multicastData({ op, clientId: this.peers.masterId(), seq: e.seq, trailSeq: this.trailForPacket() }, this.blockParts(e.block), now, options);
    const stats = this.ctx.stats;
    if (op === Op.ODATA) stats.odataSent++;
    else stats.rdataSent++;
    stats.dataBytesSent += bytes;
    if (this.bucket > 0) {
      this.refill(now);
      this.tokens -= bytes; // RDATA may run the bucket into debt; ODATA then waits
    }
  }
}
