import { describe, expect, it } from 'vitest';
import { BlockStore, MAX_RING_SLOTS } from '../../core/block-store';
import { storeFor } from '../../core/receiver';

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

describe('BlockStore growth (udpcast: the size is learnt slice by slice)', () => {
  it('starts empty with the whole ring, grows its bitmaps and content, keeps what it holds', () => {
    const s = BlockStore.growable({ blockSize: BS, ringSlots: 8 });
    expect(s.cfg).toMatchObject({ totalBlocks: 0, contentSize: 0 });
    expect(s.ring.slots).toBe(8);
    expect(s.complete).toBe(true); // nothing yet: the udpcast receiver also waits for the end slice
    expect(s.put(0, Buffer.alloc(BS), 0, BS, 0)).toBe('invalid');
    s.grow(3, 3 * BS);
    expect(s.put(0, Buffer.alloc(BS, 1), 0, BS, 0)).toBe('ok');
    expect(s.put(2, Buffer.alloc(BS, 3), 0, BS, 0)).toBe('ok');
    expect(s.put(3, Buffer.alloc(BS), 0, BS, 0)).toBe('invalid');
    // the last block is short only in the last slice: after growing it is a whole block
    s.grow(5, 4 * BS + 1);
    expect(s.lengthOf(2)).toBe(BS);
    expect(s.lengthOf(4)).toBe(1);
    expect(s.put(4, Buffer.alloc(BS), 0, BS, 0)).toBe('invalid');
    expect(s.put(4, Buffer.alloc(1, 5), 0, 1, 0)).toBe('ok');
    expect(s.have.count).toBe(3);
    expect([s.have.has(0), s.have.has(1), s.have.has(2), s.have.has(4)]).toEqual([true, false, true, true]);
    expect(() => s.grow(4, 4 * BS)).toThrow(RangeError);
    expect(() => s.grow(6, 6 * BS)).toThrow(/short last block/); // block 4 was received 1 byte long
    s.grow(5, 4 * BS + 1); // the same size again: nothing changes
    const jobs: [number, number][] = [];
    for (let j = s.takeWrite(); j; j = s.takeWrite()) {
      jobs.push([j.firstBlock, j.count]);
      s.writeDone(j);
    }
    expect(jobs).toEqual([[0, 1], [2, 1], [4, 1]]);
    expect(s.complete).toBe(false);
  });

  it('grows over many word boundaries and capacity doublings without losing a bit', () => {
    const s = BlockStore.growable({ blockSize: 1, ringSlots: 4 });
    let total = 0;
    const set: number[] = [];
    for (let k = 0; k < 400; k++) {
      const add = 1 + ((k * 37) % 61);
      s.grow(total + add, total + add);
      const i = total + (k % add);
      s.have.set(i);
      set.push(i);
      total += add;
    }
    expect(s.have.size).toBe(total);
    expect(s.have.count).toBe(set.length);
    for (const i of set) expect(s.have.has(i)).toBe(true);
    expect(s.have.words.length).toBe(Math.ceil(total / 32));
    const have = new Set(set);
    const clear = [...Array(total).keys()].filter((i) => !have.has(i));
    const ranges = s.have.missingRanges(1_000_000);
    expect(ranges.reduce((n, [a, b]) => n + b - a + 1, 0)).toBe(clear.length);
    expect(ranges[0]![0]).toBe(clear[0]);
    expect(ranges.at(-1)![1]).toBe(clear.at(-1));
  });

  it('ordered: hands out only the run at the write frontier; fitsOrdered keeps a slot for the next block', () => {
    const s = BlockStore.growable({ blockSize: BS, ringSlots: 4, ordered: true });
    s.grow(10, 10 * BS);
    const put = (i: number) => s.put(i, Buffer.alloc(BS, i), 0, BS, 0);
    expect([s.fitsOrdered(3), s.fitsOrdered(4)]).toEqual([true, false]);
    expect(put(2)).toBe('ok');
    expect(put(3)).toBe('ok');
    expect(s.takeWrite()).toBeUndefined(); // block 0 is not here: nothing may be written before it
    expect(put(0)).toBe('ok');
    const j0 = s.takeWrite()!;
    expect([j0.firstBlock, j0.count]).toEqual([0, 1]);
    expect(s.takeWrite()).toBeUndefined(); // 1 missing
    expect(put(1)).toBe('ok');
    const j1 = s.takeWrite()!;
    expect([j1.firstBlock, j1.count]).toEqual([1, 3]);
    // the window moves with what is on disk, not with what was handed out
    expect(s.fitsOrdered(4)).toBe(false);
    s.writeDone(j0);
    expect([s.fitsOrdered(4), s.fitsOrdered(5)]).toEqual([true, false]);
    s.writeFailed(j1); // back in the ring: handed out again from block 1
    const again = s.takeWrite()!;
    expect([again.firstBlock, again.count]).toEqual([1, 3]);
    s.writeDone(again);
    expect([s.fitsOrdered(7), s.fitsOrdered(8)]).toEqual([true, false]);
  });

  it('a WDS store (not growable) still sizes its ring by the image and is never ordered', () => {
    const s = new BlockStore({ totalBlocks: 3, blockSize: BS, contentSize: 3 * BS, ringSlots: 100 });
    expect(s.ring.slots).toBe(3);
    expect(s.ordered).toBe(false);
  });
});

describe('protocol-notes #108: the ring has at most MAX_RING_SLOTS slots', () => {
  it('a tiny block size does not size the ring from the cache alone (1-byte blocks once meant 64M slots)', () => {
    expect(storeFor({ totalBlocks: 10_000_000, blockSize: 1, contentSize: 10_000_000 }, 64 * 1024 * 1024).ring.slots).toBe(MAX_RING_SLOTS);
    expect(BlockStore.growable({ blockSize: 1, ringSlots: 64 * 1024 * 1024 }).ring.slots).toBe(MAX_RING_SLOTS);
    // the default cache at 1385-byte blocks is far below it and unchanged
    expect(storeFor({ totalBlocks: 200_000, blockSize: 1385, contentSize: 200_000 * 1385 }, 64 * 1024 * 1024).ring.slots).toBe(48_454);
  });
});
