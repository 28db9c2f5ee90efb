/**
 * The block ring: a fixed, preallocated arena between transport and disk. Memory never grows with image
 * size. A payload is copied once, from the datagram into a slot; the writer takes runs of consecutive
 * blocks (adjacent on disk) as one positional gather-write; a slot is freed when its write is done.
 */
export interface WriteJob {
  /** Byte offset in the output file. */
  offset: number;
  /** Views into the arena, in file order (for a positional writev). */
  buffers: Buffer[];
  /** 0-based block indices, consecutive. */
  firstBlock: number;
  count: number;
  bytes: number;
  /** internal: slots to free */
  slots: number[];
}

/** Room after the slots where a whole datagram is staged (copying a sub-range with Buffer#copy makes a view). */
const STAGE_BYTES = 65536;

export class BlockRing {
  readonly arena: Buffer;
  /** The arena plus the staging room after it. */
  private readonly backing: Buffer;
  private readonly stage: number;
  /** One view per slot, made on first use and kept: a write job takes views, not new ones per block. */
  private readonly views: (Buffer | undefined)[];
  private freeSlots: Int32Array;
  private freeTop: number;
  private slotLen: Int32Array;
  private slotAcct: Int32Array;
  /** block index -> slot, blocks waiting to be written (insertion order ≈ arrival order). */
  private pending = new Map<number, number>();
  /** block index -> slot, blocks inside a write job. */
  private writing = new Map<number, number>();

  constructor(
    readonly slots: number,
    readonly blockSize: number,
  ) {
    if (slots < 1) throw new RangeError('ring needs at least one slot');
    this.stage = slots * blockSize;
    this.backing = Buffer.alloc(this.stage + STAGE_BYTES);
    this.arena = this.backing.subarray(0, this.stage);
    this.views = new Array(slots);
    this.freeSlots = new Int32Array(slots);
    for (let i = 0; i < slots; i++) this.freeSlots[i] = slots - 1 - i;
    this.freeTop = slots;
    this.slotLen = new Int32Array(slots);
    this.slotAcct = new Int32Array(slots);
  }

  get free(): number {
    return this.freeTop;
  }
  get pendingCount(): number {
    return this.pending.size;
  }
  get inFlight(): number {
    return this.writing.size;
  }
  holds(block: number): boolean {
    return this.pending.has(block) || this.writing.has(block);
  }

  /**
   * Whether `len` bytes of `src` from `start` differ from the copy of `block` in the ring (waiting or being
   * written); undefined when the ring no longer holds the block (its write completed: nothing to compare with).
   */
  differs(block: number, src: Buffer, start: number, len: number): boolean | undefined {
    const slot = this.pending.get(block) ?? this.writing.get(block);
    if (slot === undefined) return undefined;
    const at = slot * this.blockSize;
    return len !== this.slotLen[slot] || src.compare(this.arena, at, at + len, start, start + len) !== 0;
  }

  /**
   * Copies `len` bytes of `src` from `start` into a free slot for `block`. `acct` is what the transport
   * counted for this payload (released again by `complete`). Returns false when no slot is free.
   */
  put(block: number, src: Buffer, start: number, len: number, acct: number): boolean {
    if (this.freeTop === 0 || len > this.blockSize) return false;
    const slot = this.freeSlots[--this.freeTop]!;
    const at = slot * this.blockSize;
    if (start === 0 && len === src.length) this.arena.set(src, at);
    else if (src.length <= STAGE_BYTES) {
      // The whole source in (a whole-buffer set makes no view), then the block within the arena.
      this.backing.set(src, this.stage);
      this.backing.copyWithin(at, this.stage + start, this.stage + start + len);
    } else src.copy(this.arena, at, start, start + len);
    this.slotLen[slot] = len;
    this.slotAcct[slot] = acct;
    this.pending.set(block, slot);
    return true;
  }

  /**
   * The run takeWrite would take now, without taking it: [first, first + count). `count` stops at maxBuffers.
   * Returns undefined when nothing is pending; the result object is reused (no allocation per call).
   */
  peekRun(maxBuffers = 1024): { first: number; count: number } | undefined {
    const it = this.pending.keys().next();
    if (it.done) return undefined;
    let first = it.value;
    while (this.pending.has(first - 1) && maxBuffers > 1) first--;
    let count = 0;
    while (count < maxBuffers && this.pending.has(first + count)) count++;
    this.peeked.first = first;
    this.peeked.count = count;
    return this.peeked;
  }
  private readonly peeked = { first: 0, count: 0 };

  /** Takes the oldest pending block and every pending neighbour after it (up to maxBuffers) as one job. */
  takeWrite(maxBuffers = 1024): WriteJob | undefined {
    const it = this.pending.keys().next();
    if (it.done) return undefined;
    let first = it.value;
    // extend backwards to the start of the run
    while (this.pending.has(first - 1) && maxBuffers > 1) first--;
    return this.takeRun(first, maxBuffers);
  }

  /** Takes the run of pending blocks that starts at `first` (up to maxBuffers); undefined when `first` is not pending. */
  takeRun(first: number, maxBuffers = 1024): WriteJob | undefined {
    if (!this.pending.has(first)) return undefined;
    const buffers: Buffer[] = [];
    const slots: number[] = [];
    let bytes = 0;
    let b = first;
    while (buffers.length < maxBuffers) {
      const slot = this.pending.get(b);
      if (slot === undefined) break;
      this.pending.delete(b);
      this.writing.set(b, slot);
      const len = this.slotLen[slot]!;
      buffers.push(len === this.blockSize ? (this.views[slot] ??= this.arena.subarray(slot * this.blockSize, (slot + 1) * this.blockSize)) : this.arena.subarray(slot * this.blockSize, slot * this.blockSize + len));
      slots.push(slot);
      bytes += len;
      b++;
    }
    return { offset: first * this.blockSize, buffers, firstBlock: first, count: b - first, bytes, slots };
  }

  /** Frees the job's slots; returns the transport bytes to release (Cache Done). */
  complete(job: WriteJob): number {
    let acct = 0;
    for (let i = 0; i < job.count; i++) {
      const slot = job.slots[i]!;
      this.writing.delete(job.firstBlock + i);
      acct += this.slotAcct[slot]!;
      this.freeSlots[this.freeTop++] = slot;
    }
    return acct;
  }

  /** A failed write: put its blocks back so they are written again later. */
  retry(job: WriteJob): void {
    for (let i = 0; i < job.count; i++) {
      const b = job.firstBlock + i;
      const slot = this.writing.get(b);
      if (slot === undefined) continue;
      this.writing.delete(b);
      this.pending.set(b, slot);
    }
  }

  /** Drops every pending (not in-flight) block; returns [blocks dropped, transport bytes released]. */
  dropPending(): [number[], number] {
    const blocks: number[] = [];
    let acct = 0;
    for (const [b, slot] of this.pending) {
      blocks.push(b);
      acct += this.slotAcct[slot]!;
      this.freeSlots[this.freeTop++] = slot;
    }
    this.pending.clear();
    return [blocks, acct];
  }
}
