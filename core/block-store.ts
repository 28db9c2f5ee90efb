/**
 * Where blocks meet on their way to disk, whichever source they came from (multicast or HTTP):
 * `have` (received: in the ring or on disk), `disk` (written), and the ring. 0-based block indices.
 */
import { Bitmap } from './bitmap';
import { BlockRing, WriteJob } from './ring';

export interface TaggedWriteJob extends WriteJob {
  epoch: number;
}

export interface BlockStoreConfig {
  totalBlocks: number;
  blockSize: number;
  contentSize: number;
  ringSlots: number;
}

/** A store whose size is learnt as the transfer runs (udpcast): it starts empty and `grow`s. */
export interface GrowableStoreConfig {
  blockSize: number;
  ringSlots: number;
  /**
   * Writes in file order only (`--out -`: a pipe): `takeWrite` hands out only the run at the write frontier, and
   * `fitsOrdered` tells a source which blocks leave room for it, so the next block to write always finds a slot.
   */
  ordered?: boolean;
}

/**
 * Slots a ring has at most, whatever the cache and block size: the per-slot tables cost ~12 bytes plus a view each,
 * so a server's 1-byte blocks with a 64 MiB cache once meant 64M slots and ~300 MiB at once (found by an audit;
 * protocol-notes #108). At 1385-byte blocks and the default cache a ring has 48,454 slots.
 */
export const MAX_RING_SLOTS = 1 << 20;

/** 'conflict': a duplicate whose bytes differ from the first copy, still in the ring; the first copy is kept. */
export type PutResult = 'ok' | 'duplicate' | 'conflict' | 'full' | 'invalid';

export class BlockStore {
  readonly have: Bitmap;
  readonly disk: Bitmap;
  readonly ring: BlockRing;
  lastLen: number;
  /** File-order writes only (see GrowableStoreConfig.ordered). */
  readonly ordered: boolean;
  /** Ordered: every block below it is on disk; and the next block takeWrite hands out. */
  private frontier = 0;
  private nextOut = 0;
  private epoch = 0;
  private released = 0;
  /** Gap hold: the run start being held, since when it may be held until, and the missing block it waits for. */
  private holdFirst = -1;
  private holdUntil = 0;
  private holdGap = -1;
  private readonly pressure: number;

  /** `growing`: the content will grow (`grow`), so the ring gets all `ringSlots` whatever the size now. */
  constructor(
    readonly cfg: BlockStoreConfig,
    { ordered = false, growing = false }: { ordered?: boolean; growing?: boolean } = {},
  ) {
    this.have = new Bitmap(cfg.totalBlocks);
    this.disk = new Bitmap(cfg.totalBlocks);
    this.ring = new BlockRing(Math.max(1, Math.min(MAX_RING_SLOTS, growing ? cfg.ringSlots : Math.min(cfg.ringSlots, cfg.totalBlocks))), cfg.blockSize);
    this.lastLen = cfg.contentSize - (cfg.totalBlocks - 1) * cfg.blockSize;
    this.pressure = Math.max(1, Math.floor(this.ring.slots / 2));
    this.ordered = ordered;
  }

  /**
   * An empty store that grows (udpcast: no size is announced, slices add blocks as they become known). The ring
   * has all `ringSlots` from the start; the bitmaps grow with `grow`.
   */
  static growable(g: GrowableStoreConfig): BlockStore {
    return new BlockStore({ totalBlocks: 0, blockSize: g.blockSize, contentSize: 0, ringSlots: g.ringSlots }, { ordered: g.ordered ?? false, growing: true });
  }

  /**
   * Extends the content to `totalBlocks` blocks and `contentSize` bytes (never shrinks): the old last block becomes
   * a whole block, so it must not have been received short (RangeError). Blocks already held keep their bits.
   */
  grow(totalBlocks: number, contentSize: number): void {
    const c = this.cfg;
    if (totalBlocks < c.totalBlocks || contentSize < c.contentSize) throw new RangeError('a store never shrinks');
    if (contentSize > c.contentSize && c.totalBlocks > 0 && this.lastLen < c.blockSize && this.have.has(c.totalBlocks - 1)) throw new RangeError('the short last block was received: the content cannot grow past it');
    c.totalBlocks = totalBlocks;
    c.contentSize = contentSize;
    this.have.grow(totalBlocks);
    this.disk.grow(totalBlocks);
    this.lastLen = contentSize - (totalBlocks - 1) * c.blockSize;
  }

  /** Ordered stores: whether block `idx` leaves room in the ring for every block before it still to be written. */
  fitsOrdered(idx: number): boolean {
    return idx < this.frontier + this.ring.slots;
  }

  get complete(): boolean {
    return this.disk.full;
  }

  /** Expected payload length of block `idx`. */
  lengthOf(idx: number): number {
    return idx === this.cfg.totalBlocks - 1 ? this.lastLen : this.cfg.blockSize;
  }

  /** Marks blocks already on disk (resume). */
  restore(onDisk: Bitmap): void {
    for (let w = 0; w < onDisk.words.length; w++) {
      const word = onDisk.words[w]!;
      if (word === 0) continue;
      for (let b = 0; b < 32; b++) if (word & (1 << b)) {
        const i = w * 32 + b;
        if (i < this.cfg.totalBlocks) {
          this.disk.set(i);
          this.have.set(i);
        }
      }
    }
  }

  /**
   * Copies one block into the ring. `acct` is what the transport counted for it (0 for HTTP). A duplicate is
   * compared with the first copy while that is still in the ring (protocol-notes #21).
   */
  put(idx: number, src: Buffer, start: number, len: number, acct: number): PutResult {
    if (idx < 0 || idx >= this.cfg.totalBlocks || len !== this.lengthOf(idx)) return 'invalid';
    if (this.have.has(idx)) return this.ring.differs(idx, src, start, len) ? 'conflict' : 'duplicate';
    if (!this.ring.put(idx, src, start, len, acct)) return 'full';
    this.have.set(idx);
    return 'ok';
  }

  /**
   * The next write job, oldest run first.
   *
   * Gap hold (`holdMs` > 0, with `now`): a run that ends just before a block not yet received, while blocks after
   * that gap wait too, is held until the gap's repair arrives (then it goes out as one longer run with the repair
   * and what follows it), for at most `holdMs` from when that run was first held, and never while half the ring or
   * more waits to be written. Then this returns undefined and `heldUntil` says when to ask again at the latest.
   * Without it each repaired block is a write of its own. Without `holdMs` (draining, HTTP, tests) nothing is held.
   */
  takeWrite(maxBuffers = 1024, now = 0, holdMs = 0): TaggedWriteJob | undefined {
    if (this.ordered) return this.takeOrdered(maxBuffers);
    if (holdMs > 0 && this.held(maxBuffers, now, holdMs)) return undefined;
    this.holdGap = -1;
    const j = this.ring.takeWrite(maxBuffers) as TaggedWriteJob | undefined;
    if (j) j.epoch = this.epoch; // tag in place: an object spread here cost ~1.2 µs per job (docs/performance.md)
    return j;
  }

  /** Ordered: only the run that starts where the last one handed out ended. */
  private takeOrdered(maxBuffers: number): TaggedWriteJob | undefined {
    const j = this.ring.takeRun(this.nextOut, maxBuffers) as TaggedWriteJob | undefined;
    if (!j) return undefined;
    j.epoch = this.epoch;
    this.nextOut = j.firstBlock + j.count;
    return j;
  }

  /** While takeWrite holds a run: the time by which it lets it go (ms); undefined when nothing is held. */
  get heldUntil(): number | undefined {
    return this.holdGap >= 0 ? this.holdUntil : undefined;
  }

  private held(maxBuffers: number, now: number, holdMs: number): boolean {
    const ring = this.ring;
    if (ring.pendingCount >= this.pressure) return false;
    // Fast path, per packet while a run is held: only the gap's arrival or the deadline changes the answer.
    if (this.holdGap >= 0 && !this.have.has(this.holdGap) && now < this.holdUntil) return true;
    const run = ring.peekRun(maxBuffers);
    if (!run) return false;
    const gap = run.first + run.count;
    const atGap = run.count < maxBuffers && gap < this.cfg.totalBlocks && !this.have.has(gap) && ring.pendingCount > run.count;
    if (!atGap) return false;
    if (run.first !== this.holdFirst) {
      this.holdFirst = run.first;
      this.holdUntil = now + holdMs;
    }
    if (now >= this.holdUntil) return false;
    this.holdGap = gap;
    return true;
  }

  /**
   * Marks the job's blocks on disk (unless they were invalidated meanwhile) and frees their slots. The transport
   * bytes they held add up until `takeReleased()`: whoever accounts for them (the multicast Receiver's Cache Done)
   * collects them there, so every writer completes jobs the same way.
   */
  writeDone(job: TaggedWriteJob): void {
    if (job.epoch === this.epoch) for (let i = 0; i < job.count; i++) this.disk.set(job.firstBlock + i);
    this.released += this.ring.complete(job);
    if (this.ordered) while (this.frontier < this.cfg.totalBlocks && this.disk.has(this.frontier)) this.frontier++;
  }

  /** Transport bytes freed by `writeDone` since the last call. */
  takeReleased(): number {
    const r = this.released;
    this.released = 0;
    return r;
  }

  /** True when the job's blocks were invalidated after it started (renumbering): they must not be retried. */
  stale(job: TaggedWriteJob): boolean {
    return job.epoch !== this.epoch;
  }

  writeFailed(job: TaggedWriteJob): void {
    this.ring.retry(job);
    if (this.ordered && job.firstBlock < this.nextOut) this.nextOut = job.firstBlock;
  }

  /** Forget everything received (wrong block numbering detected); returns transport bytes released. */
  invalidateAll(): number {
    const [, acct] = this.ring.dropPending();
    this.have.clearAll();
    this.disk.clearAll();
    this.epoch++;
    return acct;
  }
}
