/**
 * A fixed-capacity map from non-negative integers to non-negative integers in two Int32Arrays: open addressing,
 * linear probing, deletion by backward shift (no tombstones, so lookups never slow down with churn). The block
 * ring keeps block → slot here: a JavaScript Map cost ~300 ns per block for its four operations (insert into
 * pending, move to writing, delete), this costs a few tens (docs/performance.md).
 */
export class IntMap {
  private readonly keys: Int32Array;
  private readonly vals: Int32Array;
  private readonly mask: number;
  private readonly shift: number;
  private count = 0;

  /** Holds at most `capacity` entries (set() beyond that is a RangeError). */
  constructor(readonly capacity: number) {
    let bits = 3;
    while (1 << bits < capacity * 2) bits++;
    this.keys = new Int32Array(1 << bits).fill(-1);
    this.vals = new Int32Array(1 << bits);
    this.mask = (1 << bits) - 1;
    this.shift = 32 - bits;
  }

  get size(): number {
    return this.count;
  }

  private home(key: number): number {
    return Math.imul(key, 0x9e3779b1) >>> this.shift;
  }

  /** The value of `key`, or -1 (also for a negative key: -1 marks an empty cell). */
  get(key: number): number {
    if (key < 0) return -1;
    const keys = this.keys;
    for (let i = this.home(key); ; i = (i + 1) & this.mask) {
      const k = keys[i]!;
      if (k === key) return this.vals[i]!;
      if (k === -1) return -1;
    }
  }

  has(key: number): boolean {
    return this.get(key) !== -1;
  }

  set(key: number, val: number): void {
    if (key < 0 || val < 0) throw new RangeError(`IntMap holds non-negative keys and values, not ${key} -> ${val}`);
    const keys = this.keys;
    for (let i = this.home(key); ; i = (i + 1) & this.mask) {
      const k = keys[i]!;
      if (k === key) {
        this.vals[i] = val;
        return;
      }
      if (k === -1) {
        if (this.count === this.capacity) throw new RangeError(`IntMap is full (${this.capacity} entries)`);
        keys[i] = key;
        this.vals[i] = val;
        this.count++;
        return;
      }
    }
  }

  /** Removes `key`; returns its value, or -1 when it was absent. */
  delete(key: number): number {
    if (key < 0) return -1;
    const keys = this.keys;
    const vals = this.vals;
    const mask = this.mask;
    let i = this.home(key);
    for (; ; i = (i + 1) & mask) {
      const k = keys[i]!;
      if (k === key) break;
      if (k === -1) return -1;
    }
    const val = vals[i]!;
    // Backward shift: pull later entries of the probe chain into the hole when their home allows it.
    for (let j = (i + 1) & mask; ; j = (j + 1) & mask) {
      const k = keys[j]!;
      if (k === -1) break;
      const h = this.home(k);
      // the entry at j may move to i when its home is not cyclically within (i, j]
      if (i <= j ? h <= i || h > j : h <= i && h > j) {
        keys[i] = k;
        vals[i] = vals[j]!;
        i = j;
      }
    }
    keys[i] = -1;
    this.count--;
    return val;
  }

  clear(): void {
    this.keys.fill(-1);
    this.count = 0;
  }
}
