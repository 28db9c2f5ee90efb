/**
 * A bit set with a population count, 0-based. Fixed-size, except that `grow` may add clear bits at the end (the
 * udpcast store learns its size slice by slice): `words` is then a view of a larger backing array, so growing
 * copies only when the capacity doubles.
 */
export class Bitmap {
  words: Uint32Array;
  private pop = 0;
  private _size: number;
  constructor(size: number) {
    this._size = size;
    this.words = new Uint32Array(Math.ceil(size / 32));
  }
  get size(): number {
    return this._size;
  }
  /** Adds clear bits up to `size` (never shrinks). Amortised O(1) per added word. */
  grow(size: number): void {
    if (size <= this._size) return;
    const need = Math.ceil(size / 32);
    const backing = this.words.buffer as ArrayBuffer;
    const capacity = (backing.byteLength - this.words.byteOffset) >>> 2;
    if (need <= capacity) this.words = new Uint32Array(backing, this.words.byteOffset, need);
    else {
      const next = new Uint32Array(Math.max(need, capacity * 2, 64));
      next.set(this.words);
      this.words = next.subarray(0, need);
    }
    this._size = size;
  }
  get count(): number {
    return this.pop;
  }
  get full(): boolean {
    return this.pop === this.size;
  }
  has(i: number): boolean {
    return (this.words[i >>> 5]! & (1 << (i & 31))) !== 0;
  }
  /** Sets bit i; returns false when it was already set. */
  set(i: number): boolean {
    const w = i >>> 5;
    const m = 1 << (i & 31);
    const old = this.words[w]!;
    if (old & m) return false;
    this.words[w] = old | m;
    this.pop++;
    return true;
  }
  clear(i: number): boolean {
    const w = i >>> 5;
    const m = 1 << (i & 31);
    const old = this.words[w]!;
    if (!(old & m)) return false;
    this.words[w] = old & ~m;
    this.pop--;
    return true;
  }
  clearAll(): void {
    this.words.fill(0);
    this.pop = 0;
  }
  /** Up to `max` ranges [start, end] (inclusive, 0-based) of clear bits, in ascending order. */
  missingRanges(max: number): [number, number][] {
    const out: [number, number][] = [];
    let i = 0;
    const n = this.size;
    while (i < n && out.length < max) {
      // skip set bits a word at a time
      if ((i & 31) === 0 && this.words[i >>> 5] === 0xffffffff) {
        i += 32;
        continue;
      }
      if (this.has(i)) {
        i++;
        continue;
      }
      const start = i;
      while (i < n) {
        if ((i & 31) === 0 && this.words[i >>> 5] === 0 && i + 32 <= n) {
          i += 32;
          continue;
        }
        if (this.has(i)) break;
        i++;
      }
      out.push([start, i - 1]);
    }
    return out;
  }
  /** Serialise / restore (resume state). */
  toBuffer(): Buffer {
    return Buffer.from(this.words.buffer, this.words.byteOffset, this.words.byteLength);
  }
  loadFrom(buf: Uint8Array): void {
    // A view when aligned (no copy of a large bitmap); a copy only to align.
    const src = buf.byteOffset % 4 === 0 && buf.byteLength >= this.words.byteLength ? new Uint32Array(buf.buffer, buf.byteOffset, this.words.length) : new Uint32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + this.words.byteLength));
    this.words.set(src);
    // drop bits past size, recount
    const tail = this._size & 31;
    if (tail) this.words[this.words.length - 1]! &= (1 << tail) - 1;
    let p = 0;
    for (let w = 0; w < this.words.length; w++) {
      let x = this.words[w]!;
      x = x - ((x >>> 1) & 0x55555555);
      x = (x & 0x33333333) + ((x >>> 2) & 0x33333333);
      p += (((x + (x >>> 4)) & 0x0f0f0f0f) * 0x01010101) >>> 24;
    }
    this.pop = p;
  }
}
