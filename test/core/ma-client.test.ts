import { describe, expect, it } from 'vitest';
import { MaOp, decodeMa, encodeMa } from '../../core/codec/ma';
import { BlockStore } from '../../core/block-store';
import { MaClient } from '../../core/ma-client';
import { BlockRing } from '../../core/ring';

const BS = 4;
function make(totalBlocks = 10, contentSize = 38, blockBase: 'auto' | 0 | 1 = 'auto', ringSlots = 8) {
  const released: number[] = [];
  const store = new BlockStore({ totalBlocks, blockSize: BS, contentSize, ringSlots });
  const ma = new MaClient(store, { blockBase }, (b: number) => released.push(b), 0);
  return { ma, released, store };
}
const data = (n: number, len = BS, fill = n) => encodeMa({ op: MaOp.DATA, blockNumber: n, data: Buffer.alloc(len, fill) });
/** Writes everything pending; the released transport bytes go where the Receiver sends them (Cache Done). */
function flush(ma: MaClient, released: number[] = []) {
  const out: { offset: number; bytes: Buffer }[] = [];
  let j;
  while ((j = ma.store.takeWrite())) {
    out.push({ offset: j.offset, bytes: Buffer.concat(j.buffers) });
    ma.store.writeDone(j);
    released.push(ma.store.takeReleased());
  }
  return out;
}

describe('MA client (MS-WDSMA 3.2)', () => {
  it('places 1-based blocks at (N-1) x BlockSize and releases cache bytes when written', () => {
    const { ma, released } = make();
    ma.onData(data(1), 0);
    ma.onData(data(2), 0);
    ma.onData(data(10, 2), 0); // last block is short: 38 - 9*4 = 2 bytes; also proves 1-based
    expect(ma.baseKnown).toBe(true);
    expect(released).toEqual([]);
    const w = flush(ma, released);
    expect(w).toEqual([
      { offset: 0, bytes: Buffer.concat([Buffer.alloc(4, 1), Buffer.alloc(4, 2)]) },
      { offset: 36, bytes: Buffer.alloc(2, 10) },
    ]);
    expect(released.reduce((a, b) => a + b, 0)).toBe(data(1).length * 2 + data(10, 2).length);
    expect(ma.store.disk.count).toBe(3);
  });

  it('releases a duplicate block at once (literal 3.2.5.1 would stall the cache)', () => {
    const { ma, released } = make();
    ma.onData(data(3), 0);
    ma.onData(data(3), 0);
    expect(ma.stats.duplicates).toBe(1);
    expect(released).toEqual([data(3).length]);
  });

  it('rejects out-of-range and wrong-length blocks, releasing their bytes', () => {
    const { ma, released } = make(10, 38, 1);
    ma.onData(data(11), 0);
    ma.onData(data(0), 0);
    ma.onData(data(4, 3), 0);
    ma.onData(Buffer.from([0, 3, 9]), 0);
    expect(ma.stats.outOfRange).toBe(2); // 11 > TotalBlocks, 0 under 1-based numbering
    expect(ma.stats.badBlocks).toBe(2); // a short block 4, no DATA header
    expect(released).toHaveLength(4);
    expect(ma.store.have.count).toBe(0);
  });

  it('detects 0-based numbering from block 0, discarding what was placed one block off', () => {
    const { ma, released } = make();
    ma.onData(data(5), 0);
    ma.onData(data(6), 0);
    flush(ma); // written at 1-based offsets
    ma.onData(data(7), 0); // pending in the ring
    released.length = 0;
    ma.onData(data(0), 0);
    expect(ma.base).toBe(0);
    expect(ma.stats.renumbered).toBe(3);
    expect(released).toEqual([data(7).length]); // the pending block was dropped
    expect(ma.store.have.count).toBe(1); // only block 0 now
    const w = flush(ma);
    expect(w).toEqual([{ offset: 0, bytes: Buffer.alloc(4, 0) }]);
    ma.onData(data(9, 2), 0); // the short last block is 9 under 0-based numbering
    expect(flush(ma)).toEqual([{ offset: 36, bytes: Buffer.alloc(2, 9) }]);
  });

  it('detects 0-based numbering from a short last block numbered TotalBlocks-1', () => {
    const { ma } = make();
    ma.onData(data(9, 2), 0);
    expect(ma.base).toBe(0);
    expect(ma.baseKnown).toBe(true);
  });

  it('answers POLL with a CNTCIR of at most 64 missing ranges in the server numbering, and QCC with PROGRESS', () => {
    const { ma } = make(200, 800, 1, 256);
    for (let n = 1; n <= 200; n += 2) ma.onData(data(n), 0); // every other block: 100 gaps
    const c = decodeMa(ma.onPoll(encodeMa({ op: MaOp.SRVCIR }), 65_000));
    expect(c.ok && c.value.op === MaOp.CNTCIR).toBe(true);
    if (!c.ok || c.value.op !== MaOp.CNTCIR) return;
    expect(c.value.ranges).toHaveLength(64);
    expect(c.value.ranges[0]).toEqual([2, 2]);
    expect(c.value.ranges[63]).toEqual([128, 128]);
    expect(c.value.progress).toBe(50);
    expect(c.value.timeInSession).toBe(65);
    const p = decodeMa(ma.onQcc(3_000));
    expect(p.ok && p.value).toEqual({ op: MaOp.PROGRESS, timeInSession: 3, progress: 50 });
  });

  it('reports the full missing range of an empty client as one 1-based range (known numbering)', () => {
    const { ma } = make(10, 38, 1);
    const c = decodeMa(ma.onPoll(encodeMa({ op: MaOp.SRVCIR }), 0));
    expect(c.ok && c.value.op === MaOp.CNTCIR && c.value.ranges).toEqual([[1, 10]]);
  });

  it('while the numbering is unproven, asks from block 0 (a 0-based server proves itself at once), and for both edge blocks when nothing else is missing', () => {
    const { ma, store } = make(10, 40, 'auto', 16); // exact multiple: no short last block to tell the numbering
    const poll = () => {
      const c = decodeMa(ma.onPoll(encodeMa({ op: MaOp.SRVCIR }), 0));
      return c.ok && c.value.op === MaOp.CNTCIR ? c.value.ranges : undefined;
    };
    expect(poll()).toEqual([[0, 10]]);
    for (let n = 1; n <= 9; n++) ma.onData(data(n), 0);
    expect(ma.baseKnown).toBe(false);
    expect(poll()).toEqual([[10, 10]]);
    store.put(9, Buffer.alloc(4, 10), 0, 4, 0); // the last block arrives another way (HTTP)
    expect(poll()).toEqual([[0, 0], [10, 10]]); // nothing missing, numbering unproven: ask for both edge blocks
    ma.onData(data(10), 0); // a duplicate now, but block 10 exists only under 1-based numbering
    expect(ma.baseKnown).toBe(true);
    expect(poll()).toEqual([]);
  });

  it('offers the ring capacity in MA bytes as MaxAppCacheSize (--cache governs)', () => {
    const { ma } = make(10, 38, 'auto', 8);
    expect(ma.queryCache()).toBe(8 * (BS + 13));
  });
});

describe('block ring', () => {
  it('has a fixed arena, coalesces consecutive blocks and frees slots on completion', () => {
    const r = new BlockRing(4, 2);
    const src = Buffer.from('aabbccddee');
    expect(r.put(5, src, 0, 2, 10)).toBe(true);
    expect(r.put(3, src, 2, 2, 10)).toBe(true);
    expect(r.put(4, src, 4, 2, 10)).toBe(true);
    expect(r.put(9, src, 6, 2, 10)).toBe(true);
    expect(r.put(10, src, 8, 2, 10)).toBe(false); // full
    const j = r.takeWrite()!;
    expect([j.firstBlock, j.count, j.offset]).toEqual([3, 3, 6]);
    expect(Buffer.concat(j.buffers).toString()).toBe('bbccaa');
    expect(r.free).toBe(0);
    expect(r.complete(j)).toBe(30);
    expect(r.free).toBe(3);
    const k = r.takeWrite()!;
    expect([k.firstBlock, k.count]).toEqual([9, 1]);
    r.retry(k);
    expect(r.takeWrite()!.firstBlock).toBe(9);
    expect(r.arena.length).toBe(8);
  });
});
