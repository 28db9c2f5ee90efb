/**
 * `--out -` (udpcast mode): the image goes to stdout in order, for a reader such as gunzip or partclone. The disk
 * pump drives it like the file sink (positional writes), but the block store hands out only the run at the next
 * expected offset (BlockStore `inOrder`), so every write continues where the last one ended; out-of-order data
 * waits in the ring. The SHA-256 is taken on the way (nothing can be read back), there is no `.partial`, no resume
 * state and nothing to fsync. A reader that goes away (EPIPE) is a local I/O failure with its own message.
 */
import crypto from 'node:crypto';
import type { Writable } from 'node:stream';
import { OsdcastError, ioError } from '../errors';
import type { PumpSink } from './disk';
import type { FileSink } from './sink';

/** What receive.ts needs of an output: the pump's writes, then finish, hash and commit (the file sink, or stdout). */
export type OutputSink = PumpSink & Pick<FileSink, 'finish' | 'hash' | 'commit' | 'close'>;

export class StdoutSink implements OutputSink {
  readonly partial = 'stdout';
  private next = 0;
  private readonly digest = crypto.createHash('sha256');
  private sha: string | undefined;
  private failed: OsdcastError | undefined;
  private pending = 0;
  private idle: (() => void)[] = [];

  constructor(private readonly out: Writable) {
    // An EPIPE also comes as an 'error' event; the write callbacks carry it to the pump.
    out.on('error', (e) => this.fail(e));
  }

  /** Bytes written so far (the image's size once the transfer is complete). */
  get bytes(): number {
    return this.next;
  }

  write(buffers: Buffer[], offset: number): Promise<number> {
    if (this.failed) return Promise.reject(this.failed);
    if (offset !== this.next) return Promise.reject(new OsdcastError('internal', `stdout: write at ${offset}, expected ${this.next} (not in order)`));
    let bytes = 0;
    for (const b of buffers) {
      this.digest.update(b);
      bytes += b.length;
    }
    this.next += bytes;
    this.pending++;
    return new Promise<number>((resolve, reject) => {
      const done = (e?: Error | null) => {
        if (--this.pending === 0) for (const f of this.idle.splice(0)) f();
        if (e) {
          this.fail(e);
          reject(this.failed);
        } else resolve(bytes);
      };
      // One writev for the run (the buffers are ring views: kept until the callback, when the pump frees them).
      this.out.cork();
      for (let i = 0; i < buffers.length; i++) this.out.write(buffers[i]!, i === buffers.length - 1 ? done : undefined);
      if (buffers.length === 0) this.out.write(Buffer.alloc(0), done);
      this.out.uncork();
    });
  }

  sync(): Promise<void> {
    return this.failed ? Promise.reject(this.failed) : Promise.resolve();
  }

  /** Resolves when every write has gone to the reader (rejects if it went away). */
  async finish(): Promise<void> {
    if (this.pending > 0) await new Promise<void>((res) => this.idle.push(res));
    if (this.failed) throw this.failed;
  }

  /** The SHA-256 of everything written (after finish). */
  hash(): Promise<string> {
    this.sha ??= this.digest.digest('hex');
    return Promise.resolve(this.sha);
  }

  /** Nothing to rename: the reader has the bytes. */
  commit(): void {}

  /** stdout stays open (the --json report may still go to stderr; the process exit closes it). */
  close(): void {}

  private fail(e: unknown): void {
    if (this.failed) return;
    const code = (e as NodeJS.ErrnoException)?.code;
    this.failed = code === 'EPIPE' || code === 'ERR_STREAM_DESTROYED' ? new OsdcastError('io', `stdout closed after ${this.next} bytes: the program reading --out - went away (${code === 'EPIPE' ? 'EPIPE' : 'stream closed'})`) : ioError(e, 'writing to stdout');
  }
}
