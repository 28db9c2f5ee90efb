import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { memfs } from 'memfs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Bitmap } from '../../../core/bitmap';
import { Exit, OsdcastError } from '../../../agent/errors';
import { StateFile, StateFs, loadState, statePath } from '../../../agent/storage/state';
import { blockCount } from '../../../agent/storage/state-format';
import { memLogger } from '../transport/helpers';
import { ID, bitmapWith, setBits } from './helpers';

describe('resume state file (real fs)', () => {
  let dir: string;
  let file: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'osdcast-state-'));
    file = statePath(path.join(dir, 'install.wim'));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('lives beside the output as <out>.osdcast', () => {
    expect(statePath('/data/install.wim')).toBe('/data/install.wim.osdcast');
  });

  it('round trip: identity and bitmap survive write + load', () => {
    const bits = [0, 3, 4, 10];
    const st = new StateFile(file, ID, bitmapWith(11, bits));
    st.write();
    const r = loadState(file, ID);
    expect(r && 'onDisk' in r).toBe(true);
    const onDisk = (r as { onDisk: Bitmap }).onDisk;
    expect(onDisk.size).toBe(11);
    expect(onDisk.count).toBe(4);
    expect(setBits(onDisk)).toEqual(bits);
  });

  it('round trip with many blocks (several bitmap words, tail bits)', () => {
    const id = { ...ID, size: 100_003 * 512 - 5, blockSize: 512 };
    const n = blockCount(id);
    const bits = Array.from({ length: n }, (_, i) => i).filter((i) => i % 3 === 0 || i === n - 1);
    new StateFile(file, id, bitmapWith(n, bits)).write();
    const r = loadState(file, id) as { onDisk: Bitmap };
    expect(r.onDisk.count).toBe(bits.length);
    expect(r.onDisk.has(n - 1)).toBe(true);
    expect(r.onDisk.missingRanges(3)).toEqual([
      [1, 2],
      [4, 5],
      [7, 8],
    ]);
  });

  it('a later write replaces the earlier one; the identity may gain a validator', () => {
    const bm = bitmapWith(11, [1]);
    const noValidator = { ...ID, validator: undefined, sha256: undefined };
    const st = new StateFile(file, noValidator, bm);
    st.write();
    bm.set(2);
    st.identity = { ...noValidator, validator: ID.validator };
    st.write();
    expect(setBits((loadState(file, ID) as { onDisk: Bitmap }).onDisk)).toEqual([1, 2]);
  });

  it('no file: undefined', () => {
    expect(loadState(file, ID)).toBeUndefined();
  });

  it('identity mismatch names what differs', () => {
    new StateFile(file, ID, new Bitmap(11)).write();
    const other = { ...ID, size: ID.size + 1385, content: 'P0100024' };
    const r = loadState(file, other);
    expect(r).toHaveProperty('mismatch');
    const m = (r as { mismatch: string }).mismatch;
    expect(m).toMatch(/content "P0100023" is now "P0100024"/);
    expect(m).toMatch(/size/);

    expect(loadState(file, { ...ID, validator: { etag: '"other"' } })).toEqual({ mismatch: 'ETag "\\"6b06e334-2a0f\\"" is now "\\"other\\""' });
    expect(loadState(file, { ...ID, validator: { lastModified: 'Tue, 02 Jan 2024 00:00:00 GMT' } })).toHaveProperty('mismatch');
    expect(loadState(file, { ...ID, sha256: 'cd'.repeat(32) })).toHaveProperty('mismatch');
    expect(loadState(file, { ...ID, blockSize: 1024, size: 11 * 1024 })).toHaveProperty('mismatch');
    expect(loadState(file, { ...ID, namespace: 'WDS:Group/install.wim/1' })).toHaveProperty('mismatch');
  });

  it('a validator or hash known on one side only is not a mismatch (first run was multicast only)', () => {
    new StateFile(file, { ...ID, validator: undefined, sha256: undefined }, new Bitmap(11)).write();
    expect(loadState(file, ID)).toHaveProperty('onDisk');
    expect(loadState(file, { ...ID, sha256: ID.sha256!.toUpperCase() })).toHaveProperty('onDisk');
  });

  it('corrupt files are treated as absent, with the reason logged, and never crash', () => {
    const good = (() => {
      new StateFile(file, ID, bitmapWith(11, [0, 1, 2])).write();
      return fs.readFileSync(file);
    })();
    const flipped = Buffer.from(good);
    flipped[flipped.length - 40]! ^= 0x01; // a bitmap bit: caught by the checksum, not read as a wrong block
    // damage with a valid checksum: the structure checks must catch it too
    const reseal = (body: Buffer) => Buffer.concat([body, crypto.createHash('sha256').update(body).digest()]);
    const body = good.subarray(0, good.length - 32);
    const hlen = body.readUInt32LE(8);
    const header = JSON.parse(body.subarray(12, 12 + hlen).toString());
    const withHeader = (h: unknown) => {
      const hb = Buffer.from(JSON.stringify(h));
      const len = Buffer.alloc(4);
      len.writeUInt32LE(hb.length);
      return reseal(Buffer.concat([body.subarray(0, 8), len, hb, body.subarray(12 + hlen)]));
    };
    const badJson = Buffer.from(body);
    badJson[13] = 0x00;
    const variants: [string, Buffer, RegExp][] = [
      ['empty', Buffer.alloc(0), /too short/],
      ['garbage', Buffer.from('hello world, this is not a state file at all, clearly'), /not an osdcast state file/],
      ['truncated', good.subarray(0, good.length - 10), /checksum/],
      ['flipped bit', flipped, /checksum/],
      ['broken header', badJson, /checksum/],
      ['broken header, resealed', reseal(badJson), /not JSON/],
      ['header length past the end', reseal(Buffer.concat([body.subarray(0, 8), Buffer.from([0xff, 0xff, 0, 0]), body.subarray(12)])), /header length/],
      ['wrong block count', withHeader({ ...header, blocks: 12 }), /block count 12/],
      ['no identity', withHeader({ version: 1, blocks: 11 }), /identity/],
      ['bitmap cut short', reseal(body.subarray(0, body.length - 4)), /bitmap is 0 bytes, expected 4/],
      ['future version', Buffer.concat([good.subarray(0, 7), Buffer.from([9]), good.subarray(8)]), /format version 9/],
    ];
    for (const [name, bytes, reason] of variants) {
      fs.writeFileSync(file, bytes);
      const m = memLogger();
      expect(loadState(file, ID, { log: m.log }), name).toBeUndefined();
      const warn = m.lines().find((l) => l.level === 40);
      expect(warn, name).toBeDefined();
      expect(String(warn!.reason), name).toMatch(reason);
    }
    // a directory where the file should be: unreadable, also absent
    fs.rmSync(file);
    fs.mkdirSync(file);
    expect(loadState(file, ID)).toBeUndefined();
  });

  it('write is atomic: tmp + fsync + rename, no tmp file left behind', () => {
    const calls: string[] = [];
    const spy: StateFs = {
      ...fs,
      openSync: ((p: string, ...r: unknown[]) => (calls.push(`open ${path.basename(p)}`), (fs.openSync as (...a: unknown[]) => number)(p, ...r))) as StateFs['openSync'],
      fsyncSync: ((fd: number) => (calls.push('fsync'), fs.fsyncSync(fd))) as StateFs['fsyncSync'],
      renameSync: ((a: string, b: string) => (calls.push(`rename ${path.basename(a)} ${path.basename(b)}`), fs.renameSync(a, b))) as StateFs['renameSync'],
    };
    new StateFile(file, ID, bitmapWith(11, [5]), { fs: spy }).write();
    expect(calls).toEqual(['open install.wim.osdcast.tmp', 'fsync', 'rename install.wim.osdcast.tmp install.wim.osdcast']);
    expect(fs.readdirSync(dir)).toEqual(['install.wim.osdcast']);
  });

  it('a failed write leaves the previous state intact, removes the tmp file and is a local I/O error (exit 6)', () => {
    const bm = bitmapWith(11, [1]);
    new StateFile(file, ID, bm).write();
    const before = fs.readFileSync(file);
    const failing: StateFs = {
      ...fs,
      renameSync: () => {
        throw Object.assign(new Error('ENOSPC: no space left on device'), { code: 'ENOSPC' });
      },
    };
    bm.set(2);
    let err: unknown;
    try {
      new StateFile(file, ID, bm, { fs: failing }).write();
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(OsdcastError);
    expect((err as OsdcastError).exitCode).toBe(Exit.LOCAL_IO);
    expect((err as Error).message).toMatch(/disk full/);
    expect(fs.readFileSync(file).equals(before)).toBe(true);
    expect(fs.readdirSync(dir)).toEqual(['install.wim.osdcast']);
  });

  it('a crash before the rename leaves a stale tmp file that changes nothing', () => {
    new StateFile(file, ID, bitmapWith(11, [7])).write();
    fs.writeFileSync(`${file}.tmp`, 'half a state fi');
    expect(setBits((loadState(file, ID) as { onDisk: Bitmap }).onDisk)).toEqual([7]);
    new StateFile(file, ID, bitmapWith(11, [7, 8])).write(); // the next write replaces it
    expect(fs.readdirSync(dir)).toEqual(['install.wim.osdcast']);
  });

  it('remove() deletes the state and a stale tmp file; absent files are fine', () => {
    const st = new StateFile(file, ID, new Bitmap(11));
    st.remove();
    st.write();
    fs.writeFileSync(`${file}.tmp`, 'x');
    st.remove();
    expect(fs.readdirSync(dir)).toEqual([]);
  });

  it('the bitmap must have one bit per block', () => {
    expect(() => new StateFile(file, ID, new Bitmap(10))).toThrow(/10 bits.*11 blocks/);
  });

  it('empty content round-trips', () => {
    const id = { ...ID, size: 0 };
    new StateFile(file, id, new Bitmap(0)).write();
    expect((loadState(file, id) as { onDisk: Bitmap }).onDisk.size).toBe(0);
  });
});

describe('StateFile.due', () => {
  const id = { ...ID, size: 1000 * 1385, blockSize: 1385 }; // 1000 blocks: 1 % = 10 blocks

  it('is due after 1 % of the blocks', () => {
    const st = new StateFile('/nonexistent/x.osdcast', id, new Bitmap(1000));
    expect(st.due(0, 0)).toBe(false);
    expect(st.due(100, 9)).toBe(false);
    expect(st.due(100, 10)).toBe(true);
  });

  it('is due after 2 s when anything was added, never when nothing was', () => {
    const st = new StateFile('/nonexistent/x.osdcast', id, new Bitmap(1000));
    expect(st.due(1000, 0)).toBe(false);
    expect(st.due(2999, 1)).toBe(false);
    expect(st.due(3000, 1)).toBe(true);
    expect(st.due(60_000, 0)).toBe(false);
  });

  it('counts from the last write', () => {
    const { fs: mfs } = memfs({ '/out': null });
    const bm = new Bitmap(1000);
    const st = new StateFile('/out/x.osdcast', id, bm, { fs: mfs as unknown as StateFs });
    st.due(0, 0);
    for (let i = 0; i < 10; i++) bm.set(i);
    expect(st.due(10, 10)).toBe(true);
    st.write(10);
    expect(st.due(20, 10)).toBe(false);
    expect(st.due(20, 19)).toBe(false);
    expect(st.due(20, 20)).toBe(true);
    expect(st.due(2010, 11)).toBe(true);
  });

  it('tiny contents are due on every new block', () => {
    const st = new StateFile('/nonexistent/x.osdcast', { ...id, size: 5 * 1385 }, new Bitmap(5));
    expect(st.due(0, 1)).toBe(true);
  });
});

describe('resume state file (memfs)', () => {
  function vol() {
    const { fs: mfs } = memfs({ '/data': null });
    return mfs as unknown as StateFs & typeof fs;
  }

  it('round trip, mismatch and corrupt on an in-memory volume', () => {
    const mfs = vol();
    const f = '/data/install.wim.osdcast';
    const st = new StateFile(f, ID, bitmapWith(11, [2, 9]), { fs: mfs });
    st.write();
    expect(mfs.readdirSync('/data')).toEqual(['install.wim.osdcast']);
    expect(setBits((loadState(f, ID, { fs: mfs }) as { onDisk: Bitmap }).onDisk)).toEqual([2, 9]);
    expect(loadState(f, { ...ID, content: 'X' }, { fs: mfs })).toHaveProperty('mismatch');
    // a torn write (the first half of a file) reads as absent
    const bytes = mfs.readFileSync(f) as Buffer;
    mfs.writeFileSync(f, bytes.subarray(0, bytes.length >> 1));
    const m = memLogger();
    expect(loadState(f, ID, { fs: mfs, log: m.log })).toBeUndefined();
    expect(m.lines()[0]).toMatchObject({ level: 40, reason: expect.stringMatching(/checksum/) });
    st.remove();
    expect(mfs.readdirSync('/data')).toEqual([]);
  });

  it('write into a missing directory is an I/O error naming the file', () => {
    const mfs = vol();
    expect(() => new StateFile('/nope/x.osdcast', ID, new Bitmap(11), { fs: mfs }).write()).toThrow(/cannot write resume state \/nope\/x.osdcast/);
  });
});
