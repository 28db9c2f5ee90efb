/**
 * core/int-map.ts against a JavaScript Map: random operation sequences (small tables, so probe chains wrap and
 * backward-shift deletion is exercised), then the block ring built on it against the Map-based behaviour.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { IntMap } from '../../core/int-map';
import { BlockRing } from '../../core/ring';

describe('IntMap', () => {
  it('agrees with Map over random set/get/delete sequences, wrapping probe chains included', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 40 }),
        fc.array(fc.tuple(fc.constantFrom('set', 'get', 'delete'), fc.integer({ min: 0, max: 100 }), fc.integer({ min: 0, max: 1000 })), { maxLength: 400 }),
        (cap, ops) => {
          const m = new IntMap(cap);
          const ref = new Map<number, number>();
          for (const [op, k, v] of ops) {
            if (op === 'set') {
              if (!ref.has(k) && ref.size === cap) {
                expect(() => m.set(k, v)).toThrow(RangeError);
                continue;
              }
              m.set(k, v);
              ref.set(k, v);
            } else if (op === 'get') expect(m.get(k)).toBe(ref.get(k) ?? -1);
            else {
              expect(m.delete(k)).toBe(ref.get(k) ?? -1);
              ref.delete(k);
            }
            expect(m.size).toBe(ref.size);
          }
          for (let k = 0; k <= 100; k++) expect(m.get(k)).toBe(ref.get(k) ?? -1);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('a negative key is never found (the empty-cell marker is -1), and cannot be stored', () => {
    const m = new IntMap(4);
    m.set(0, 5);
    expect(m.get(-1)).toBe(-1);
    expect(m.has(-1)).toBe(false);
    expect(m.delete(-1)).toBe(-1);
    expect(() => m.set(-1, 0)).toThrow(RangeError);
    expect(m.get(0)).toBe(5);
  });
});

describe('BlockRing on IntMap: oldest-first runs, retry, dropPending in arrival order', () => {
  /** A model of the ring's bookkeeping with JavaScript Maps (the form it had before). */
  class Model {
    pending = new Map<number, true>();
    writing = new Set<number>();
    put(b: number) {
      this.pending.set(b, true);
    }
    takeWrite(max: number): number[] {
      const it = this.pending.keys().next();
      if (it.done) return [];
      let first = it.value;
      while (this.pending.has(first - 1) && max > 1) first--;
      return this.takeRun(first, max);
    }
    takeRun(first: number, max: number): number[] {
      const out: number[] = [];
      for (let b = first; out.length < max && this.pending.has(b); b++) {
        this.pending.delete(b);
        this.writing.add(b);
        out.push(b);
      }
      return out;
    }
  }

  it('hands out the same runs as the Map-based ring over random arrivals, completions and retries', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.constantFrom('put', 'take', 'run', 'run', 'done', 'retry', 'drop'), fc.integer({ min: 0, max: 30 })), { maxLength: 300 }), (ops) => {
        const SLOTS = 4;
        const r = new BlockRing(SLOTS, 4);
        const model = new Model();
        const jobs: ReturnType<BlockRing['takeWrite']>[] = [];
        const held = new Set<number>(); // pending or writing: the store never puts a held block again
        for (const [op, n] of ops) {
          if (op === 'put') {
            if (held.has(n) || r.free === 0) continue;
            expect(r.put(n, Buffer.alloc(4, n), 0, 4, 1)).toBe(true);
            model.put(n);
            held.add(n);
          } else if (op === 'take') {
            const max = 1 + (n % 5);
            const j = r.takeWrite(max);
            const want = model.takeWrite(max);
            expect(j ? Array.from({ length: j.count }, (_, i) => j.firstBlock + i) : []).toEqual(want);
            if (j) {
              expect(j.buffers.map((b) => b[0])).toEqual(want.map((b) => b & 0xff));
              jobs.push(j);
            }
          } else if (op === 'run') {
            // the ordered (stdout) path: a run at a given block, not at the oldest; the oldest may wait long
            const j = r.takeRun(n, 3);
            const want = model.takeRun(n, 3);
            expect(j ? Array.from({ length: j.count }, (_, i) => j.firstBlock + i) : []).toEqual(want);
            if (j) jobs.push(j);
          } else if ((op === 'done' || op === 'retry') && jobs.length) {
            const j = jobs.splice(n % jobs.length, 1)[0]!;
            if (op === 'done') {
              r.complete(j);
              for (let i = 0; i < j.count; i++) {
                model.writing.delete(j.firstBlock + i);
                held.delete(j.firstBlock + i);
              }
            } else {
              r.retry(j);
              for (let i = 0; i < j.count; i++) {
                model.writing.delete(j.firstBlock + i);
                model.put(j.firstBlock + i);
              }
            }
          } else if (op === 'drop') {
            const [blocks] = r.dropPending();
            expect(blocks).toEqual([...model.pending.keys()]);
            for (const b of blocks) held.delete(b);
            model.pending.clear();
          }
          expect(r.pendingCount).toBe(model.pending.size);
          expect(r.inFlight).toBe(model.writing.size);
          for (let b = 0; b <= 30; b++) expect(r.holds(b)).toBe(model.pending.has(b) || model.writing.has(b));
        }
      }),
      { numRuns: 400 },
    );
  });

  it('an oldest block that waits while many others pass (the ordered path): the order queue is compacted, the oldest stays first', () => {
    const r = new BlockRing(4, 4);
    r.put(100, Buffer.alloc(4, 1), 0, 4, 1);
    r.put(101, Buffer.alloc(4, 2), 0, 4, 1);
    for (let b = 0; b < 50; b++) {
      r.put(b, Buffer.alloc(4), 0, 4, 1);
      const j = r.takeRun(b, 1)!;
      expect(j.firstBlock).toBe(b);
      r.complete(j);
    }
    expect(r.compactions).toBeGreaterThan(0);
    expect(r.pendingCount).toBe(2);
    const j = r.takeWrite(8)!;
    expect([j.firstBlock, j.count, j.buffers[0]![0], j.buffers[1]![0]]).toEqual([100, 2, 1, 2]);
  });
});
