import fs from 'node:fs';
import { memfs } from 'memfs';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { Bitmap } from '../../../core/bitmap';
import { BlockStore } from '../../../core/block-store';
import { Exit, OsdcastError } from '../../../agent/errors';
import { DiskPump, PumpSink } from '../../../agent/storage/disk';
import { StateFile, StateFs, loadState } from '../../../agent/storage/state';
import type { StateIdentity } from '../../../agent/storage/state-format';
import { setBits } from './helpers';

const BS = 16;
const BLOCKS = 8;
const ID: StateIdentity = { namespace: 'SMSPKG', content: 'P0100023', size: BLOCKS * BS - 3, blockSize: BS };

const tick = () => new Promise<void>((r) => setImmediate(r));

interface Call {
  offset: number;
  data: Buffer;
  resolve(n?: number): void;
  reject(e: unknown): void;
}

/** A sink whose writes and syncs finish when the test says so; it records what was asked, in order. */
class FakeSink implements PumpSink {
  readonly partial = '/data/install.wim.partial';
  readonly writes: Call[] = [];
  readonly syncs: { resolve(): void; reject(e: unknown): void }[] = [];
  readonly events: string[] = [];
  autoSync = true;
  write(buffers: Buffer[], offset: number): Promise<number> {
    const data = Buffer.concat(buffers);
    this.events.push(`write ${offset}+${data.length}`);
    return new Promise((res, rej) => this.writes.push({ offset, data, resolve: (n = data.length) => res(n), reject: rej }));
  }
  sync(): Promise<void> {
    this.events.push('sync');
    if (this.autoSync) return Promise.resolve();
    return new Promise((resolve, reject) => this.syncs.push({ resolve, reject }));
  }
  /** Completes the oldest write still open with its full length (or `n`). */
  async finish(n?: number): Promise<void> {
    const c = this.writes.find((w) => !(w as { done?: boolean }).done)!;
    (c as { done?: boolean }).done = true;
    c.resolve(n);
    await tick();
  }
  get open(): number {
    return this.writes.filter((w) => !(w as { done?: boolean }).done).length;
  }
}

function block(i: number): Buffer {
  return Buffer.alloc(i === BLOCKS - 1 ? BS - 3 : BS, i + 1);
}

function setup(o: { withState?: boolean; stateFs?: StateFs; ringSlots?: number } = {}) {
  const store = new BlockStore({ totalBlocks: BLOCKS, blockSize: BS, contentSize: ID.size, ringSlots: o.ringSlots ?? BLOCKS });
  const sink = new FakeSink();
  const durable = new Bitmap(BLOCKS);
  const vol = o.stateFs ?? (memfs({ '/data': null }).fs as unknown as StateFs);
  const state = o.withState === false ? undefined : new StateFile('/data/install.wim.osdcast', ID, durable, { fs: vol });
  let t = 0;
  const errors: OsdcastError[] = [];
  const pump = new DiskPump(store, sink, durable, state, () => t, (e) => errors.push(e));
  const put = (...idx: number[]) => {
    for (const i of idx) expect(store.put(i, block(i), 0, block(i).length, 0)).toBe('ok');
  };
  const stored = () => loadState('/data/install.wim.osdcast', ID, { fs: vol });
  return { store, sink, durable, state, pump, put, errors, stored, advance: (ms: number) => (t += ms) };
}


describe('DiskPump', () => {
  it('coalesces consecutive blocks into one positional write, one write per run', async () => {
    const { sink, pump, put, store } = setup({ withState: false });
    put(0, 1, 2, 5, 6);
    pump.kick();
    expect(sink.writes.map((w) => [w.offset, w.data.length])).toEqual([
      [0, 3 * BS],
      [5 * BS, 2 * BS],
    ]);
    expect(sink.writes[0]!.data.equals(Buffer.concat([block(0), block(1), block(2)]))).toBe(true);
    expect(sink.writes[1]!.data.equals(Buffer.concat([block(5), block(6)]))).toBe(true);
    await sink.finish();
    await sink.finish();
    expect(setBits(store.disk)).toEqual([0, 1, 2, 5, 6]);
    await pump.drain();
  });

  it('keeps at most 2 writes in flight; a finished one starts the next', async () => {
    const { sink, pump, put, store } = setup({ withState: false });
    put(0, 2, 4, 6);
    pump.kick();
    pump.kick();
    expect(sink.writes.map((w) => w.offset)).toEqual([0, 2 * BS]);
    expect(sink.open).toBe(2);
    await sink.finish();
    expect(sink.writes.map((w) => w.offset)).toEqual([0, 2 * BS, 4 * BS]);
    expect(sink.open).toBe(2);
    await sink.finish();
    await sink.finish();
    await sink.finish();
    expect(sink.open).toBe(0);
    expect(setBits(store.disk)).toEqual([0, 2, 4, 6]);
    expect(store.ring.pendingCount).toBe(0);
  });

  it('drain resolves only when nothing is pending or being written', async () => {
    const { sink, pump, put } = setup({ withState: false });
    put(0, 2, 4);
    let drained = false;
    const d = pump.drain().then(() => (drained = true));
    await tick();
    expect(drained).toBe(false);
    await sink.finish();
    await sink.finish();
    expect(drained).toBe(false);
    await sink.finish();
    await d;
    expect(drained).toBe(true);
  });

  it('every onWritten listener sees every completion until it unsubscribes', async () => {
    const { sink, pump, put } = setup({ withState: false });
    const a: number[] = [];
    const b: number[] = [];
    pump.onWritten(() => a.push(1));
    const offB = pump.onWritten(() => b.push(1));
    put(0, 2);
    pump.kick();
    await sink.finish();
    offB();
    await sink.finish();
    expect(a).toHaveLength(2);
    expect(b).toHaveLength(1);
  });

  it('space() waits for a free ring slot', async () => {
    const { sink, pump, put, store } = setup({ withState: false, ringSlots: 2 });
    put(0, 2);
    expect(store.ring.free).toBe(0);
    let free = false;
    const s = pump.space().then(() => (free = true));
    pump.kick();
    await tick();
    expect(free).toBe(false);
    await sink.finish();
    await s;
    expect(free).toBe(true);
  });

  it('checkpoint: fdatasync first, then the state records only the blocks that were on disk before it', async () => {
    const { sink, pump, put, durable, stored } = setup();
    sink.autoSync = false;
    put(0, 2);
    pump.kick();
    await sink.finish(); // block 0 on disk: a checkpoint starts (1 of 8 blocks > 1 %)
    expect(sink.events).toEqual([`write 0+${BS}`, `write ${2 * BS}+${BS}`, 'sync']);
    expect(stored()).toBeUndefined(); // nothing recorded before the sync returned
    await sink.finish(); // block 2 lands during the sync: not covered by it
    sink.syncs[0]!.resolve();
    await tick();
    expect(setBits(durable)).toEqual([0]);
    expect(setBits((stored() as { onDisk: Bitmap }).onDisk)).toEqual([0]);
    // the next checkpoint covers block 2
    sink.autoSync = true;
    await pump.checkpoint(true);
    expect(setBits((stored() as { onDisk: Bitmap }).onDisk)).toEqual([0, 2]);
  });

  it('checkpoint is skipped while not due, and without a state file', async () => {
    const { sink, pump, stored } = setup();
    await pump.checkpoint();
    expect(sink.events).toEqual([]); // nothing on disk yet: not due
    expect(stored()).toBeUndefined();
    const none = setup({ withState: false });
    none.put(0);
    none.pump.kick();
    await none.sink.finish();
    await none.pump.checkpoint(true);
    expect(none.sink.events).toEqual([`write 0+${BS}`]);
  });

  it('close(final) records what is on disk; after close nothing rewrites the state file', async () => {
    const { sink, pump, put, stored, state } = setup();
    sink.autoSync = false;
    put(0);
    pump.kick();
    await sink.finish(); // a checkpoint is now waiting for its sync
    const closing = pump.close();
    sink.syncs[0]!.resolve();
    await closing;
    sink.autoSync = true;
    state!.remove();
    put(1);
    pump.kick();
    await sink.finish();
    await pump.checkpoint(true);
    expect(stored()).toBeUndefined();
    expect(sink.events.filter((e) => e === 'sync')).toHaveLength(1);

    const b = setup();
    b.put(0, 1);
    b.pump.kick();
    await b.sink.finish();
    await b.pump.close(true);
    expect(setBits((b.stored() as { onDisk: Bitmap }).onDisk)).toEqual([0, 1]);
  });

  it('a failed write: one io error (exit 6, disk full, naming the partial file), told once; drain rejects; nothing more is written', async () => {
    const { sink, pump, put, errors } = setup({ withState: false });
    put(0, 2, 4);
    pump.kick();
    sink.writes[0]!.reject(Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' }));
    sink.writes[1]!.reject(Object.assign(new Error('EIO'), { code: 'EIO' }));
    await tick();
    expect(errors).toHaveLength(1);
    expect(pump.error).toBe(errors[0]);
    expect(errors[0]).toBeInstanceOf(OsdcastError);
    expect(errors[0]).toMatchObject({ kind: 'io', exitCode: Exit.LOCAL_IO, message: 'writing /data/install.wim.partial: disk full (ENOSPC)' });
    pump.kick();
    expect(sink.writes).toHaveLength(2);
    await expect(pump.drain()).rejects.toBe(errors[0]);
    await pump.space(); // resolves at once after a failure
    await pump.quiesce();
  });

  it('a short write is retried; three in a row are an io error; a full write in between resets the count', async () => {
    const { sink, pump, put, errors, store } = setup({ withState: false });
    put(0);
    pump.kick();
    await sink.finish(5);
    await sink.finish(5);
    expect(sink.writes.map((w) => w.offset)).toEqual([0, 0, 0]);
    expect(errors).toEqual([]);
    await sink.finish(); // the retry got through: counter back to 0
    expect(store.disk.has(0)).toBe(true);
    put(2);
    pump.kick();
    await sink.finish(1);
    await sink.finish(1);
    expect(errors).toEqual([]);
    await sink.finish(1);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatchObject({ kind: 'io', exitCode: Exit.LOCAL_IO, message: `writing /data/install.wim.partial: short write (1 of ${BS} bytes); disk full?` });
    expect(store.disk.has(2)).toBe(false);
  });

  it('a short write of a job invalidated meanwhile (renumbering) is not retried and not an error', async () => {
    const { sink, pump, put, errors, store } = setup({ withState: false });
    put(0);
    pump.kick();
    store.invalidateAll();
    await sink.finish(3);
    expect(sink.writes).toHaveLength(1);
    expect(errors).toEqual([]);
    expect(store.disk.has(0)).toBe(false);
    expect(store.ring.free).toBe(BLOCKS);
  });

  it('a failing fdatasync or state write is the pump error (io)', async () => {
    const a = setup();
    a.sink.autoSync = false;
    a.put(0);
    a.pump.kick();
    await a.sink.finish();
    a.sink.syncs[0]!.reject(new OsdcastError('io', 'cannot flush /data/install.wim.partial: disk full (ENOSPC)'));
    await tick();
    expect(a.errors.map((e) => e.message)).toEqual(['cannot flush /data/install.wim.partial: disk full (ENOSPC)']);

    const readOnly = { ...(fs as unknown as StateFs), openSync: () => { throw Object.assign(new Error('EROFS'), { code: 'EROFS' }); } } as unknown as StateFs;
    const b = setup({ stateFs: readOnly });
    b.put(0);
    b.pump.kick();
    await b.sink.finish();
    await tick();
    expect(b.errors).toHaveLength(1);
    expect(b.errors[0]).toMatchObject({ kind: 'io', message: 'cannot write resume state /data/install.wim.osdcast: read-only file system (EROFS)' });
  });

  describe('gap hold (fake clock)', () => {
    afterEach(() => {
      vi.useRealTimers();
    });
    const holdSetup = () => {
      vi.useFakeTimers({ now: 1000, toFake: ['setTimeout', 'clearTimeout', 'Date'] });
      const store = new BlockStore({ totalBlocks: 64, blockSize: BS, contentSize: 64 * BS, ringSlots: 64 });
      const sink = new FakeSink();
      const pump = new DiskPump(store, sink, new Bitmap(64), undefined, () => Date.now(), () => {}, { gapHoldMs: 200 });
      const put = (...idx: number[]) => {
        for (const i of idx) expect(store.put(i, Buffer.alloc(BS, i), 0, BS, 0)).toBe('ok');
      };
      return { store, sink, pump, put };
    };
    const ranges = (sink: FakeSink) => sink.writes.map((w) => [w.offset / BS, w.data.length]);

    it('a run ending at a missing block waits for the repair, then goes out as one write through it', async () => {
      const { sink, pump, put } = holdSetup();
      put(0, 1, 3, 4);
      pump.kick();
      expect(sink.writes).toHaveLength(0);
      vi.advanceTimersByTime(50);
      put(2); // the repair
      pump.kick();
      expect(ranges(sink)).toEqual([[0, 5 * BS]]);
    });

    it('with no packet to kick it, the held run goes out at the deadline (200 ms), the rest after its own hold', async () => {
      const { sink, pump, put } = holdSetup();
      put(0, 1, 3, 4, 6);
      pump.kick();
      vi.advanceTimersByTime(199);
      expect(sink.writes).toHaveLength(0);
      vi.advanceTimersByTime(1);
      expect(ranges(sink)).toEqual([[0, 2 * BS]]);
      await sink.finish();
      // 3-4 end at the missing 5 with 6 after it: held 200 ms from now
      expect(sink.writes).toHaveLength(1);
      vi.advanceTimersByTime(200);
      expect(ranges(sink)).toEqual([[0, 2 * BS], [3, 2 * BS], [6, BS]]);
    });

    it('drain() holds nothing', async () => {
      const { sink, pump, put } = holdSetup();
      put(0, 1, 3);
      const drained = pump.drain();
      expect(ranges(sink)).toEqual([[0, 2 * BS], [3, BS]]);
      await sink.finish();
      await sink.finish();
      await drained;
    });
  });
});
