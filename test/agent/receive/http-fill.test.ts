import { describe, expect, it } from 'vitest';
import { BlockStore } from '../../../core/block-store';
import type { DiskPump } from '../../../agent/storage/disk';
import type { HttpClient } from '../../../agent/transport/http';
import { HttpFiller } from '../../../agent/receive/http-fill';
import { silentLogger } from '../../../agent/log/log';

const MiB = 1 << 20;

/** An HTTP client that serves `content` from memory in chunks of `chunk` bytes, or fails after `failAfter` bytes. */
function fakeHttp(content: Buffer, o: { chunk?: number; failAfter?: number } = {}) {
  const asked: [number, number][][] = [];
  const http = {
    async fetchRanges(ranges: [number, number][], onData: (offset: number, chunk: Buffer) => void | Promise<void>): Promise<number> {
      asked.push(ranges);
      let sent = 0;
      for (const [s, e] of ranges) {
        for (let p = s; p <= e; p += o.chunk ?? 1000) {
          const end = Math.min(e + 1, p + (o.chunk ?? 1000));
          if (o.failAfter !== undefined && sent + (end - p) > o.failAfter) throw new Error('connection reset');
          await onData(p, content.subarray(p, end));
          sent += end - p;
        }
      }
      return sent;
    },
  };
  return { http: http as unknown as HttpClient, asked };
}

/** A pump that writes every block at once (the store marks it on disk). */
function fakePump(store: BlockStore) {
  let kicks = 0;
  const pump = {
    error: undefined,
    kick() {
      kicks++;
      let j;
      while ((j = store.takeWrite())) store.writeDone(j);
    },
    space: () => Promise.resolve(),
  };
  return { pump: pump as unknown as DiskPump, kicks: () => kicks };
}

function setup(blockSize: number, size: number, ringSlots = 4) {
  const totalBlocks = Math.ceil(size / blockSize);
  const store = new BlockStore({ totalBlocks, blockSize, contentSize: size, ringSlots });
  const content = Buffer.alloc(size);
  for (let i = 0; i < size; i += 4) content.writeUInt32LE(i >>> 0, i - (i + 4 > size ? i + 4 - size : 0));
  return { store, content, totalBlocks };
}

describe('HttpFiller: blocks <-> byte ranges', () => {
  it('candidates: missing, not yet requested, eligible blocks as ranges of at most 16 MiB', () => {
    const { store, content } = setup(MiB, 40 * MiB);
    const { http } = fakeHttp(content);
    const f = new HttpFiller(http, store, fakePump(store).pump, silentLogger(), undefined);
    expect(f.candidates()).toEqual([
      [0, 15],
      [16, 31],
      [32, 39],
    ]);
    store.have.set(3);
    store.have.set(20);
    f.requested.set(30);
    expect(f.candidates()).toEqual([
      [0, 2],
      [4, 19],
      [21, 29],
      [31, 39],
    ]);
    expect(f.candidates((i) => i % 10 !== 5)).toEqual([
      [0, 2],
      [4, 4],
      [6, 14],
      [16, 19],
      [21, 24],
      [26, 29],
      [31, 34],
      [36, 39],
    ]);
  });

  it('a block larger than 16 MiB is still one block per request', () => {
    const { store, content } = setup(20 * MiB, 41 * MiB, 1);
    const f = new HttpFiller(fakeHttp(content).http, store, fakePump(store).pump, silentLogger(), undefined);
    expect(f.candidates()).toEqual([
      [0, 0],
      [1, 1],
      [2, 2],
    ]);
  });

  it('fetch: block ranges become byte ranges (the last one cut at the content end); odd chunks are reassembled into blocks', async () => {
    const bs = 1000;
    const size = 10 * bs - 123;
    const { store, content } = setup(bs, size);
    const { http, asked } = fakeHttp(content, { chunk: 333 });
    const { pump } = fakePump(store);
    const f = new HttpFiller(http, store, pump, silentLogger(), undefined);
    await f.fetch([
      [1, 2],
      [7, 9],
    ]);
    expect(asked).toEqual([
      [
        [1000, 2999],
        [7000, size - 1],
      ],
    ]);
    expect([...Array(10).keys()].filter((i) => store.disk.has(i))).toEqual([1, 2, 7, 8, 9]);
    expect(f.bytes).toBe(2 * bs + 2 * bs + (bs - 123));
    expect([...Array(10).keys()].filter((i) => f.requested.has(i))).toEqual([1, 2, 7, 8, 9]);
    expect(f.candidates()).toEqual([
      [0, 0],
      [3, 6],
    ]);
    await f.fetch([]); // nothing to do
    expect(asked).toHaveLength(1);
  });

  it('the bytes that reach the store are the content bytes', async () => {
    const bs = 512;
    const size = 5 * bs - 7;
    const { store, content } = setup(bs, size, 8);
    const seen = new Map<number, Buffer>();
    const put = store.put.bind(store);
    store.put = (idx, src, start, len, acct) => (seen.set(idx, Buffer.from(src.subarray(start, start + len))), put(idx, src, start, len, acct));
    const f = new HttpFiller(fakeHttp(content, { chunk: 100 }).http, store, fakePump(store).pump, silentLogger(), undefined);
    await f.fetch([[0, 4]]);
    for (let i = 0; i < 5; i++) expect(seen.get(i)!.equals(content.subarray(i * bs, Math.min(size, (i + 1) * bs))), `block ${i}`).toBe(true);
  });

  it('a failed fetch forgets the request of every block that did not arrive (a later attempt asks again)', async () => {
    const bs = 1000;
    const { store, content } = setup(bs, 10 * bs);
    const f = new HttpFiller(fakeHttp(content, { chunk: 500, failAfter: 2500 }).http, store, fakePump(store).pump, silentLogger(), undefined);
    await expect(f.fetch([[0, 5]])).rejects.toThrow('connection reset');
    expect([...Array(10).keys()].filter((i) => store.have.has(i))).toEqual([0, 1]);
    expect([...Array(10).keys()].filter((i) => f.requested.has(i))).toEqual([0, 1]);
    expect(f.candidates()).toEqual([[2, 9]]);
    // the half block received before the failure is not kept: block 2 is made of the retry's bytes only
    const marked = Buffer.alloc(content.length, 0xee);
    const seen = new Map<number, Buffer>();
    const put = store.put.bind(store);
    store.put = (idx, src, start, len, acct) => (seen.set(idx, Buffer.from(src.subarray(start, start + len))), put(idx, src, start, len, acct));
    (f as unknown as { http: HttpClient }).http = fakeHttp(marked, { chunk: 700 }).http;
    await f.fetch([[2, 5]]);
    expect([...Array(10).keys()].filter((i) => store.disk.has(i))).toEqual([0, 1, 2, 3, 4, 5]);
    expect(seen.get(2)!.equals(Buffer.alloc(bs, 0xee))).toBe(true);
  });
});
