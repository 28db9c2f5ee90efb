/**
 * MS-WDSMA 3.2 client: the MissingBlocksBitmap, DATA / QCC / POLL / Query Cache triggers, and the ring.
 * Two bitmaps: `have` (received: in the ring or on disk) drives CNTCIR and PROGRESS; `disk` (written) drives
 * completion and the resume state. Block numbering is auto-detected (protocol-notes #1).
 */
import { CNTCIR_MAX_RANGES, DATA_BLOCK_TOO_BIG, DATA_HEADER_LEN, MaOp, decodeMa, encodeMa, peekDataAt } from './codec/ma';
import { BlockStore } from './block-store';
import type { MtApplication } from './mt-client';

export interface MaClientConfig {
  /** 'auto' (default): assume 1-based until a packet proves otherwise. */
  blockBase?: 'auto' | 0 | 1;
}

export interface MaStats {
  blocks: number; // new blocks accepted into the ring
  duplicates: number;
  /** Duplicates whose bytes differ from the first copy still in the ring (also counted in `duplicates`). */
  conflicting: number;
  /** DATA whose BlockNumber is outside the content (below the numbering's first block, past its last, or >= 2^53): dropped. */
  outOfRange: number;
  /** Malformed MS-WDSMA in an ODATA/RDATA (no DATA header, Packet-Size or DataLen wrong, not the block's length): dropped. */
  badBlocks: number;
  /** POLLs whose AppData is not an SRVCIR: answered anyway (the server asked), so not a drop. */
  badPoll: number;
  ringFull: number;
  renumbered: number; // blocks discarded when 0-based numbering was detected
}

export class MaClient implements MtApplication {
  base: 0 | 1;
  baseKnown: boolean;
  private readonly joinTime: number;
  private readonly peek = { dataStart: 0, dataLen: 0 };
  readonly stats: MaStats = { blocks: 0, duplicates: 0, conflicting: 0, outOfRange: 0, badBlocks: 0, badPoll: 0, ringFull: 0, renumbered: 0 };

  constructor(
    readonly store: BlockStore,
    cfg: MaClientConfig,
    /** Cache Done trigger towards the transport. */
    private readonly release: (bytes: number) => void,
    now: number,
  ) {
    const bb = cfg.blockBase ?? 'auto';
    this.base = bb === 0 ? 0 : 1;
    this.baseKnown = bb !== 'auto';
    this.joinTime = Math.floor(now / 1000);
  }

  /** Bytes of DATA payload accepted from multicast. */
  bytes = 0;
  /** Block number (the server's numbering) of the last conflicting duplicate. */
  lastConflict = -1;
  /** POLL triggers answered: each starts a new MS-WDSMA repair round on the server. */
  rounds = 0;

  // ------------------------------------------------------------ MtApplication
  /** 3.2.5.2: MaxCacheSize is the ring's capacity in MA bytes (protocol-notes #8). */
  queryCache(): number {
    return this.store.ring.slots * (this.store.cfg.blockSize + DATA_HEADER_LEN);
  }

  /** 3.2.5.1 DATA trigger. */
  onData(appData: Buffer, now: number): void {
    this.onDataAt(appData, 0, appData.length, now);
  }

  /** The DATA trigger with the MA packet read in place: `buf[start, start + acct)` (no view per packet). */
  onDataAt(buf: Buffer, start: number, acct: number, _now: number): void {
    const bn = peekDataAt(buf, start, acct, this.peek);
    if (bn < 0) {
      if (bn === DATA_BLOCK_TOO_BIG) this.stats.outOfRange++;
      else this.stats.badBlocks++;
      this.release(acct);
      return;
    }
    const len = this.peek.dataLen;
    this.learnNumbering(bn, len);
    const idx = bn - this.base;
    if (idx < 0 || idx >= this.store.cfg.totalBlocks) {
      this.stats.outOfRange++;
      this.release(acct);
      return;
    }
    const r = this.store.put(idx, buf, this.peek.dataStart, len, acct);
    if (r === 'ok') {
      this.stats.blocks++;
      this.bytes += len;
      return;
    }
    // Literal 3.2.5.1 sends no Cache Done for a duplicate and stalls the cache (protocol-notes #7).
    if (r === 'duplicate') this.stats.duplicates++;
    else if (r === 'conflict') {
      // Tampering or a broken server: the first copy is kept (protocol-notes #21).
      this.stats.duplicates++;
      this.stats.conflicting++;
      this.lastConflict = bn;
    }
    else if (r === 'full') this.stats.ringFull++;
    else this.stats.badBlocks++; // 'invalid' for a block in range: DataLen is not the block's length
    this.release(acct);
  }

  /** 3.2.5.3 QCC trigger → PROGRESS. */
  onQcc(now: number): Buffer {
    return encodeMa({ op: MaOp.PROGRESS, timeInSession: this.timeInSession(now), progress: this.progress() });
  }

  /** 3.2.5.4 POLL trigger → CNTCIR with up to 64 missing ranges in the server's numbering. */
  onPoll(appData: Buffer, now: number): Buffer {
    const d = decodeMa(appData);
    if (!d.ok || d.value.op !== MaOp.SRVCIR) this.stats.badPoll++; // answer anyway: the server asked
    this.rounds++;
    const ranges = this.store.have.missingRanges(CNTCIR_MAX_RANGES).map(([s, e]) => [s + this.base, e + this.base] as [number, number]);
    if (!this.baseKnown) {
      // Unproven numbering (protocol-notes #1): ask in a way both readings understand. Under the 1-based guess,
      // a missing first block is also asked for as block 0 (a 0-based server then sends it, which proves its
      // numbering at once); with nothing missing, the two edge blocks that only one reading has are asked for,
      // because a receive is not complete until the numbering is proven.
      if (ranges.length > 0 && ranges[0]![0] === 1) ranges[0]![0] = 0;
      else if (ranges.length === 0) ranges.push([0, 0], [this.store.cfg.totalBlocks, this.store.cfg.totalBlocks]);
    }
    return encodeMa({ op: MaOp.CNTCIR, progress: this.progress(), timeInSession: this.timeInSession(now), ranges });
  }

  progress(): number {
    return Math.floor((100 * this.store.have.count) / this.store.cfg.totalBlocks);
  }

  private timeInSession(now: number): number {
    return Math.max(0, Math.floor(now / 1000) - this.joinTime) >>> 0;
  }

  /** Block numbering (protocol-notes #1): assume 1-based until a packet proves which. */
  private learnNumbering(bn: number, len: number): void {
    if (this.baseKnown) return;
    const tb = this.store.cfg.totalBlocks;
    const last = this.store.lastLen;
    const shortLast = last < this.store.cfg.blockSize && len === last;
    if (bn === 0 || (shortLast && bn === tb - 1)) {
      this.base = 0;
      this.baseKnown = true;
      if (this.store.have.count === 0) return;
      // Everything so far was placed one block off: forget it; later rounds deliver it again.
      this.stats.renumbered += this.store.have.count;
      this.release(this.store.invalidateAll());
    } else if (bn === tb) this.baseKnown = true; // only 1-based numbering has block TotalBlocks
  }
}
