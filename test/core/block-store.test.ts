import { describe, expect, it } from 'vitest';
import { BlockStore } from '../../core/block-store';

const BS = 4;

function store(totalBlocks: number, ringSlots = totalBlocks) {
  const s = new BlockStore({ totalBlocks, blockSize: BS, contentSize: totalBlocks * BS, ringSlots });
  const put = (...idx: number[]) => {
    for (const i of idx) expect(s.put(i, Buffer.alloc(BS, i), 0, BS, 0)).toBe('ok');
  };
  /** Takes every job takeWrite gives now (completing each), as [first, count] pairs. */
  const take = (now: number, holdMs: number) => {
    const out: [number, number][] = [];
    for (let j = s.takeWrite(1024, now, holdMs); j; j = s.takeWrite(1024, now, holdMs)) {
      out.push([j.firstBlock, j.count]);
      s.writeDone(j);
    }
    return out;
  };
  return { s, put, take };
}

describe('BlockStore gap hold (fake clock: now is passed in)', () => {
  it('without holdMs a run that ends at a gap is written at once, and the repair alone later', () => {
    const { put, take } = store(20);
    put(0, 1, 2, 4, 5, 6);
    expect(take(0, 0)).toEqual([[0, 3], [4, 3]]);
    put(3);
    expect(take(1, 0)).toEqual([[3, 1]]);
  });

  it('holds a run ending at a missing block until the repair comes, then writes one run through it', () => {
    const { s, put, take } = store(20);
    put(0, 1, 2, 4, 5, 6);
    expect(take(0, 100)).toEqual([]);
    expect(s.heldUntil).toBe(100);
    put(7, 8);
    expect(take(50, 100)).toEqual([]);
    put(3); // the repair
    expect(take(60, 100)).toEqual([[0, 9]]);
    expect(s.heldUntil).toBeUndefined();
    expect(s.disk.count).toBe(9);
  });

  it('lets a held run go at its deadline (measured from when that run was first held), then holds the next', () => {
    const { s, put, take } = store(20);
    put(0, 1, 4, 5, 7, 8);
    expect(take(10, 100)).toEqual([]);
    expect(take(109, 100)).toEqual([]);
    // 0-1 goes at 110; 4-5 also ends at a gap (6) with 7-8 after it: held from now, until 210
    expect(take(110, 100)).toEqual([[0, 2]]);
    expect(s.heldUntil).toBe(210);
    expect(take(209, 100)).toEqual([]);
    expect(take(210, 100)).toEqual([[4, 2], [7, 2]]);
  });

  it('a run ending at the arrival frontier (nothing after it waits) or at a block already on disk is not held', () => {
    const { s, put, take } = store(20);
    put(0, 1, 2);
    expect(take(0, 100)).toEqual([[0, 3]]);
    put(5, 6);
    put(3, 4); // 3-4 lead into 5-6: one run up to the frontier
    expect(take(1, 100)).toEqual([[3, 4]]);
    expect(s.heldUntil).toBeUndefined();
  });

  it('never holds while half the ring or more waits to be written', () => {
    const { put, take } = store(40, 8);
    put(0, 1, 3);
    expect(take(0, 1000)).toEqual([]);
    put(4); // 4 of 8 slots wait
    expect(take(1, 1000)).toEqual([[0, 2], [3, 2]]);
  });
});
