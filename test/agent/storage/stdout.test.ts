/**
 * `--out -` (agent/storage/stdout.ts): the disk pump over an ordered, growable store writes to the stream in file
 * order whatever order the blocks arrive in; the SHA-256 is that of the bytes written; a reader that goes away
 * (EPIPE) is exit 6 with a message saying so; a write not at the next offset is refused.
 */
import crypto from 'node:crypto';
import { PassThrough, Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { Bitmap } from '../../../core/bitmap';
import { BlockStore } from '../../../core/block-store';
import { Exit, OsdcastError } from '../../../agent/errors';
import { DiskPump } from '../../../agent/storage/disk';
import { StdoutSink } from '../../../agent/storage/stdout';

const BS = 8;

/** A stream that collects what it gets, each write finishing on a later tick (as a pipe's do). */
function collector(): { stream: Writable; bytes: () => Buffer } {
  const parts: Buffer[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      parts.push(Buffer.from(chunk));
      setImmediate(cb);
    },
  });
  return { stream, bytes: () => Buffer.concat(parts) };
}

describe('StdoutSink', () => {
  it('blocks put in any order reach the stream in file order; hash and size are those of the image', async () => {
    const image = crypto.randomBytes(10 * BS + 3);
    const { stream, bytes } = collector();
    const sink = new StdoutSink(stream);
    const store = BlockStore.growable({ blockSize: BS, ringSlots: 64, ordered: true });
    const pump = new DiskPump(store, sink, new Bitmap(0), undefined, Date.now, (e) => {
      throw e;
    });
    store.grow(11, image.length);
    for (const i of [5, 9, 1, 10, 0, 3, 2, 8, 4, 7, 6]) {
      const len = store.lengthOf(i);
      expect(store.put(i, image, i * BS, len, 0)).toBe('ok');
      pump.kick();
      await new Promise((r) => setImmediate(r));
    }
    await pump.drain();
    await sink.finish();
    expect(store.complete).toBe(true);
    expect(bytes().equals(image)).toBe(true);
    expect(await sink.hash()).toBe(crypto.createHash('sha256').update(image).digest('hex'));
    expect(sink.bytes).toBe(image.length);
  });

  it('a write that is not at the next offset is refused', async () => {
    const sink = new StdoutSink(new PassThrough());
    await expect(sink.write([Buffer.alloc(BS)], BS)).rejects.toThrow(/write at 8, expected 0/);
  });

  it('a reader that went away (EPIPE): exit 6, "went away", and every later write fails the same way', async () => {
    const stream = new Writable({
      write(_chunk, _enc, cb) {
        const e = Object.assign(new Error('write EPIPE'), { code: 'EPIPE' });
        setImmediate(() => cb(e));
      },
    });
    const sink = new StdoutSink(stream);
    const err = await sink.write([Buffer.alloc(BS)], 0).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OsdcastError);
    expect((err as OsdcastError).exitCode).toBe(Exit.LOCAL_IO);
    expect((err as OsdcastError).message).toBe('stdout closed after 8 bytes: the program reading --out - went away (EPIPE)');
    await expect(sink.write([Buffer.alloc(BS)], BS)).rejects.toBe(err);
    await expect(sink.finish()).rejects.toBe(err);
  });
});
