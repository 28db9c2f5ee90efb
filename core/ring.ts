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

import { IntMap } from './int-map';

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
  /** block index -> slot, blocks waiting to be written. */
  private readonly pending: IntMap;
  /** block index -> slot, blocks inside a write job (after invalidation a block can be in both). */
  private readonly writing: IntMap;
  /** The block each slot holds. */
  private readonly slotBlock: Int32Array;
  /**
   * Arrival order of the pending blocks (takeWrite starts at the oldest): a queue of (slot, stamp) entries;
   * an entry is live while its slot is pending under that stamp (`pendStamp`, -1 when not pending). Entries of
   * blocks that left pending another way (inside a neighbour's run) are skipped when they reach the head.
   */
  private readonly orderSlot: Int32Array;
  private readonly orderStamp: Int32Array;
  private readonly orderMask: number;
  private head = 0;
  private tail = 0;
  private readonly pendStamp: Int32Array;
  private stamp = 0;
  /** Queue compactions (tests read it). */
  compactions = 0;

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
    this.pending = new IntMap(slots);
    this.writing = new IntMap(slots);
    this.slotBlock = new Int32Array(slots);
    this.pendStamp = new Int32Array(slots).fill(-1);
    let cap = 8;
    while (cap < slots * 2) cap *= 2;
    this.orderSlot = new Int32Array(cap);
    this.orderStamp = new Int32Array(cap);
    this.orderMask = cap - 1;
  }

  /** Makes `slot` (holding `block`) pending, as the newest. */
  private addPending(block: number, slot: number): void {
    this.pending.set(block, slot);
    this.slotBlock[slot] = block;
    const st = (this.stamp = (this.stamp + 1) & 0x7fff_ffff);
    this.pendStamp[slot] = st;
    if (this.tail - this.head > this.orderMask) this.compactOrder();
    const e = this.tail++ & this.orderMask;
    this.orderSlot[e] = slot;
    this.orderStamp[e] = st;
  }

  /** Takes `block` out of pending; returns its slot or -1. */
  private removePending(block: number): number {
    const slot = this.pending.delete(block);
    if (slot >= 0) this.pendStamp[slot] = -1;
    return slot;
  }

  private live(e: number): boolean {
    const i = e & this.orderMask;
    return this.pendStamp[this.orderSlot[i]!] === this.orderStamp[i];
  }

  /** The oldest pending block, or -1. */
  private oldest(): number {
    while (this.head < this.tail && !this.live(this.head)) this.head++;
    return this.head < this.tail ? this.slotBlock[this.orderSlot[this.head & this.orderMask]!]! : -1;
  }

  /** Drops dead entries from the queue, keeping the order (live entries are at most `slots`: room remains). */
  private compactOrder(): void {
    this.compactions++;
    const m = this.orderMask;
    let w = this.head;
    for (let r = this.head; r < this.tail; r++) {
      if (!this.live(r)) continue;
      this.orderSlot[w & m] = this.orderSlot[r & m]!;
      this.orderStamp[w & m] = this.orderStamp[r & m]!;
      w++;
    }
    this.tail = w;
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
    let slot = this.pending.get(block);
    if (slot < 0) slot = this.writing.get(block);
    if (slot < 0) return undefined;
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
    this.addPending(block, slot);
    return true;
  }

  /**
   * The run takeWrite would take now, without taking it: [first, first + count). `count` stops at maxBuffers.
   * Returns undefined when nothing is pending; the result object is reused (no allocation per call).
   */
  peekRun(maxBuffers = 1024): { first: number; count: number } | undefined {
    let first = this.oldest();
    if (first < 0) return undefined;
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
    let first = this.oldest();
    if (first < 0) return undefined;
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
      const slot = this.removePending(b);
      if (slot < 0) break;
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
      const slot = this.writing.delete(b);
      if (slot < 0) continue;
      this.addPending(b, slot);
    }
  }

  /** Drops every pending (not in-flight) block; returns [blocks dropped, transport bytes released]. */
  dropPending(): [number[], number] {
    const blocks: number[] = [];
    let acct = 0;
    for (let e = this.head; e < this.tail; e++) {
      if (!this.live(e)) continue;
      const slot = this.orderSlot[e & this.orderMask]!;
      blocks.push(this.slotBlock[slot]!);
      acct += this.slotAcct[slot]!;
      this.pendStamp[slot] = -1;
      this.freeSlots[this.freeTop++] = slot;
    }
    this.pending.clear();
    this.head = this.tail = 0;
    return [blocks, acct];
  }
}
