import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { MAX_RANGES, MissingList } from '../../core/missing-list';

describe('Missing ODATA List (MS-WDSMT 3.2.1.3.1)', () => {
  it('tracks gaps as ODATA arrives out of order', () => {
    const m = new MissingList();
    m.updateStart(1);
    m.updateEnd(1);
    m.received(1);
    expect(m.ranges()).toEqual([]);
    m.updateEnd(5);
    m.received(5);
    expect(m.ranges()).toEqual([[2, 4]]);
    m.received(3); // split in the middle
    expect(m.ranges()).toEqual([[2, 2], [4, 4]]);
    m.received(2); // single-element range deleted
    expect(m.ranges()).toEqual([[4, 4]]);
    expect(m.highestContinuous()).toBe(3);
    m.received(4);
    expect(m.highestContinuous()).toBe(5);
  });

  it('Update End extends the last range when it ends at EndODATASeqNo, else appends', () => {
    const m = new MissingList();
    m.updateStart(1);
    m.updateEnd(1);
    m.received(1);
    m.updateEnd(3); // (2,3)
    expect(m.ranges()).toEqual([[2, 3]]);
    m.updateEnd(6); // last range ends at End=3 → (2,6)
    expect(m.ranges()).toEqual([[2, 6]]);
    m.received(6);
    m.updateEnd(8); // last range (2,5) does not end at 6 → append (7,8)
    expect(m.ranges()).toEqual([[2, 5], [7, 8]]);
    m.updateEnd(7); // smaller: ignored
    expect(m.end).toBe(8);
  });

  it('Update Start drops ranges below the trail and trims the one containing it', () => {
    const m = new MissingList();
    m.updateStart(1);
    m.updateEnd(1);
    m.received(1);
    m.updateEnd(10);
    m.received(5);
    expect(m.ranges()).toEqual([[2, 4], [6, 10]]);
    m.updateStart(7);
    expect(m.ranges()).toEqual([[7, 10]]);
    m.updateStart(3); // lower than StartODATASeqNo: stop
    expect(m.start).toBe(7);
    m.updateStart(20);
    expect(m.ranges()).toEqual([]);
    expect(m.end).toBe(20); // End raised to Start
  });

  it('protocol-notes #102: the first Update Start (nothing tracked yet) leaves Start itself to be received', () => {
    const m = new MissingList();
    m.updateStart(1); // an SPM announcing ODATA 1, or Trail 1 of the first ODATA that arrived (2)
    expect(m.end).toBe(0);
    m.updateEnd(2);
    m.received(2);
    expect(m.ranges()).toEqual([[1, 1]]);
    expect(m.highestContinuous()).toBe(0); // the Master Client does not ACK the ODATA 1 it never had
  });

  it('matches a set model under random operations', () => {
    type Op = { k: 'start' | 'end' | 'recv'; v: number };
    const op = fc.record({ k: fc.constantFrom('start', 'end', 'recv', 'recv', 'end'), v: fc.integer({ min: 1, max: 60 }) }) as fc.Arbitrary<Op>;
    fc.assert(
      fc.property(fc.array(op, { maxLength: 80 }), (ops) => {
        const m = new MissingList();
        const missing = new Set<number>();
        let start = 0;
        let end = 0;
        for (const { k, v } of ops) {
          if (k === 'start') {
            m.updateStart(v);
            if (v >= start) {
              for (const x of [...missing]) if (x < v) missing.delete(x);
              start = v;
              if (end < start) end = end === 0 ? start - 1 : start; // protocol-notes #102 on the first (the spec: end = start)
            }
          } else if (k === 'end') {
            m.updateEnd(v);
            if (v > end) {
              for (let x = end + 1; x <= v; x++) missing.add(x);
              end = v;
            }
          } else {
            m.received(v);
            missing.delete(v);
          }
          const flat: number[] = [];
          for (const [s, e] of m.ranges()) for (let x = s; x <= e; x++) flat.push(x);
          expect(flat).toEqual([...missing].sort((a, b) => a - b));
          // sorted, non-overlapping, merged
          const r = m.ranges();
          for (let i = 1; i < r.length; i++) expect(r[i]![0]).toBeGreaterThan(r[i - 1]![1] + 1);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('holds at most MAX_RANGES ranges: past that a received number inside a range is left listed, not split (forged alternate ODATA cost quadratic time)', () => {
    const m = new MissingList();
    const top = 2 ** 52;
    m.updateStart(1);
    m.updateEnd(top); // a forged Lead: everything is missing
    for (let k = 1; k <= MAX_RANGES + 5_000; k++) m.received(top - 2 * k);
    expect(m.length).toBe(MAX_RANGES);
    // numbers at a range's edge still shrink it (no split needed), and the lowest range still moves with the trail
    const [first] = m.ranges(1);
    m.received(first![0]);
    expect(m.ranges(1)[0]![0]).toBe(first![0] + 1);
    m.updateStart(top - 10);
    expect(m.length).toBeLessThan(10);
    // ascending forgeries (hi + 2, hi + 4, …) add a range each through Update End: capped the same way
    const a = new MissingList();
    a.updateStart(1);
    for (let k = 1; k <= MAX_RANGES + 5_000; k++) {
      a.updateEnd(2 * k);
      a.received(2 * k);
    }
    expect(a.length).toBe(MAX_RANGES);
    expect(a.highestMissing()).toBe(2 * (MAX_RANGES + 5_000) - 1);
  });
});
