/**
 * MS-WDSMA 3.2 client: the MissingBlocksBitmap, DATA / QCC / POLL / Query Cache triggers, and the ring.
 * Two bitmaps: `have` (received: in the ring or on disk) drives CNTCIR and PROGRESS; `disk` (written) drives
 * completion and the resume state. Block numbering is auto-detected (protocol-notes #1).
 */
import { CNTCIR_MAX_RANGES, DATA_HEADER_LEN, MaOp, decodeMa, encodeMa, peekData } from './codec/ma';
import { Bitmap } from './bitmap';
import { BlockRing, WriteJob } from './ring';
import type { MtApplication } from './mt-client';

export interface MaClientConfig {
  totalBlocks: number;
  blockSize: number;
  contentSize: number;
  /** 'auto' (default): assume 1-based until a packet proves otherwise. */
  blockBase?: 'auto' | 0 | 1;
  /** Ring capacity in blocks. */
  ringSlots: number;
}

export interface MaStats {
  blocks: number; // new blocks accepted into the ring
  duplicates: number;
  badBlocks: number; // out of range / wrong length / not a DATA packet
  ringFull: number;
  renumbered: number; // blocks discarded when 0-based numbering was detected
}

export interface TaggedWriteJob extends WriteJob {
  epoch: number;
}

export class MaClient implements MtApplication {
  readonly have: Bitmap;
  readonly disk: Bitmap;
  readonly ring: BlockRing;
  base: 0 | 1;
  baseKnown: boolean;
  private epoch = 0;
  private readonly joinTime: number;
  private readonly lastLen: number;
  private readonly peek = { dataStart: 0, dataLen: 0 };
  readonly stats: MaStats = { blocks: 0, duplicates: 0, badBlocks: 0, ringFull: 0, renumbered: 0 };

  constructor(
    readonly cfg: MaClientConfig,
    /** Cache Done trigger towards the transport. */
    private readonly release: (bytes: number) => void,
    now: number,
  ) {
    this.have = new Bitmap(cfg.totalBlocks);
    this.disk = new Bitmap(cfg.totalBlocks);
    this.ring = new BlockRing(cfg.ringSlots, cfg.blockSize);
    const bb = cfg.blockBase ?? 'auto';
    this.base = bb === 0 ? 0 : 1;
    this.baseKnown = bb !== 'auto';
    this.joinTime = Math.floor(now / 1000);
    this.lastLen = cfg.contentSize - (cfg.totalBlocks - 1) * cfg.blockSize;
  }

  get complete(): boolean {
    return this.disk.full;
  }

  /** Marks blocks already on disk (resume). */
  restore(disk: Bitmap): void {
    for (let i = 0; i < disk.size; i++) if (disk.has(i)) {
      this.disk.set(i);
      this.have.set(i);
    }
  }

  // ------------------------------------------------------------ MtApplication
  /** 3.2.5.2: MaxCacheSize is the ring's capacity in MA bytes (protocol-notes #8). */
  queryCache(): number {
    return this.cfg.ringSlots * (this.cfg.blockSize + DATA_HEADER_LEN);
  }

  /** 3.2.5.1 DATA trigger. */
  onData(appData: Buffer, _now: number): void {
    const acct = appData.length;
    const bn = peekData(appData, this.peek);
    if (bn < 0) {
      this.stats.badBlocks++;
      this.release(acct);
      return;
    }
    const len = this.peek.dataLen;
    const idx = this.indexOf(bn, len);
    if (idx < 0) {
      this.stats.badBlocks++;
      this.release(acct);
      return;
    }
    if (this.have.has(idx)) {
      // Literal 3.2.5.1 sends no Cache Done here and stalls the cache (protocol-notes #7).
      this.stats.duplicates++;
      this.release(acct);
      return;
    }
    if (!this.ring.put(idx, appData, this.peek.dataStart, len, acct)) {
      this.stats.ringFull++;
      this.release(acct);
      return;
    }
    this.have.set(idx);
    this.stats.blocks++;
  }

  /** 3.2.5.3 QCC trigger → PROGRESS. */
  onQcc(now: number): Buffer {
    return encodeMa({ op: MaOp.PROGRESS, timeInSession: this.timeInSession(now), progress: this.progress() });
  }

  /** 3.2.5.4 POLL trigger → CNTCIR with up to 64 missing ranges in the server's numbering. */
  onPoll(appData: Buffer, now: number): Buffer {
    const d = decodeMa(appData);
    if (!d.ok || d.value.op !== MaOp.SRVCIR) this.stats.badBlocks++; // answer anyway: the server asked
    const ranges = this.have.missingRanges(CNTCIR_MAX_RANGES).map(([s, e]) => [s + this.base, e + this.base] as [number, number]);
    return encodeMa({ op: MaOp.CNTCIR, progress: this.progress(), timeInSession: this.timeInSession(now), ranges });
  }

  // ------------------------------------------------------------ disk side
  takeWrite(maxBuffers?: number): TaggedWriteJob | undefined {
    const j = this.ring.takeWrite(maxBuffers);
    return j ? { ...j, epoch: this.epoch } : undefined;
  }

  writeDone(job: TaggedWriteJob): void {
    if (job.epoch === this.epoch) for (let i = 0; i < job.count; i++) this.disk.set(job.firstBlock + i);
    this.release(this.ring.complete(job));
  }

  writeFailed(job: TaggedWriteJob): void {
    this.ring.retry(job);
  }

  progress(): number {
    return Math.floor((100 * this.have.count) / this.cfg.totalBlocks);
  }

  private timeInSession(now: number): number {
    return Math.max(0, Math.floor(now / 1000) - this.joinTime) >>> 0;
  }

  /** Maps a block number to a 0-based index, learning the numbering; -1 when invalid. */
  private indexOf(bn: number, len: number): number {
    const tb = this.cfg.totalBlocks;
    const bs = this.cfg.blockSize;
    if (!this.baseKnown) {
      const shortLast = this.lastLen < bs && len === this.lastLen;
      if (bn === 0 || (shortLast && bn === tb - 1)) this.switchToZeroBased();
      else if (bn === tb) this.baseKnown = true; // only 1-based numbering has block TotalBlocks
    }
    const idx = bn - this.base;
    if (idx < 0 || idx >= tb) return -1;
    const want = idx === tb - 1 ? this.lastLen : bs;
    return len === want ? idx : -1;
  }

  private switchToZeroBased(): void {
    this.base = 0;
    this.baseKnown = true;
    if (this.have.count === 0) return;
    // Everything so far was placed one block off: forget it; later rounds deliver it again.
    this.stats.renumbered += this.have.count;
    const [, acct] = this.ring.dropPending();
    this.release(acct);
    this.have.clearAll();
    this.disk.clearAll();
    this.epoch++;
  }
}
