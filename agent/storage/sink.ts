/**
 * The file sink: data goes to `<out>.partial` with positional gather-writes; `<out>` appears only by rename
 * once every block is on disk and verified. An existing `<out>` is never opened for writing.
 */
import fs from 'node:fs';
import crypto from 'node:crypto';
import { OsdcastError, ioError } from '../errors';

export class FileSink {
  private constructor(
    readonly out: string,
    readonly partial: string,
    private fd: number,
  ) {}

  /**
   * Opens `<out>.partial`. With `resume`, an existing partial file of the right size is kept (its blocks are
   * described by the resume state); otherwise it is created afresh.
   */
  static open(out: string, size: number, resume = false): FileSink {
    const partial = `${out}.partial`;
    let fd: number;
    try {
      if (resume && fs.existsSync(partial) && fs.statSync(partial).size === size) fd = fs.openSync(partial, 'r+');
      else {
        fd = fs.openSync(partial, 'w');
        fs.ftruncateSync(fd, size);
      }
    } catch (e) {
      throw ioError(e, `cannot create ${partial}`);
    }
    return new FileSink(out, partial, fd);
  }

  /** Whether an existing partial file of `size` bytes can be resumed. */
  static canResume(out: string, size: number): boolean {
    try {
      return fs.statSync(`${out}.partial`).size === size;
    } catch {
      return false;
    }
  }

  sync(): Promise<void> {
    if (this.fd < 0) return Promise.reject(this.closedError('flush'));
    return new Promise((res, rej) => fs.fdatasync(this.fd, (e) => (e ? rej(ioError(e, `cannot flush ${this.partial}`)) : res())));
  }

  /** Positional writev; resolves with the byte count written. */
  write(buffers: Buffer[], offset: number): Promise<number> {
    if (this.fd < 0) return Promise.reject(this.closedError('write to'));
    return new Promise((resolve, reject) => {
      fs.writev(this.fd, buffers, offset, (err, n) => (err ? reject(err) : resolve(n)));
    });
  }

  /** A flush or write after close(): an error that says so, not Node's RangeError for fd -1. */
  private closedError(what: string): OsdcastError {
    return new OsdcastError('io', `cannot ${what} ${this.partial}: the file is already closed`);
  }

  async finish(): Promise<void> {
    await this.sync();
    this.close();
  }

  close(): void {
    if (this.fd >= 0) {
      try {
        fs.closeSync(this.fd);
      } catch {
        /* already closed */
      }
      this.fd = -1;
    }
  }

  /** SHA-256 of the partial file, streamed. */
  hash(): Promise<string> {
    return sha256File(this.partial);
  }

  commit(): void {
    try {
      fs.renameSync(this.partial, this.out);
    } catch (e) {
      throw ioError(e, `cannot rename ${this.partial} to ${this.out}`);
    }
  }
}

/** Bytes per read of the final hash pass. */
const HASH_READ_BYTES = 1 << 20;

/**
 * SHA-256 of a file, read into one buffer reused for every read. (A read stream allocates a fresh buffer per
 * chunk; its 1 MiB chunks are external memory the young-generation GC does not see, so ~30 MiB of read chunks
 * piled up before a collection and the hash pass set the agent's peak RSS.)
 */
export async function sha256File(path: string): Promise<string> {
  const h = crypto.createHash('sha256');
  let fh: fs.promises.FileHandle | undefined;
  try {
    fh = await fs.promises.open(path, 'r');
    const buf = Buffer.allocUnsafe(HASH_READ_BYTES);
    for (let pos = 0; ; ) {
      const { bytesRead } = await fh.read(buf, 0, buf.length, pos);
      if (bytesRead === 0) break;
      h.update(bytesRead === buf.length ? buf : buf.subarray(0, bytesRead));
      pos += bytesRead;
    }
  } catch (e) {
    throw ioError(e, `cannot read ${path}`);
  } finally {
    await fh?.close().catch(() => undefined);
  }
  return h.digest('hex');
}
