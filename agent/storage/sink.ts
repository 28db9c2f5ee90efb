/**
 * The file sink: data goes to `<out>.partial` with positional gather-writes; `<out>` appears only by rename
 * once every block is on disk and verified. An existing `<out>` is never opened for writing.
 */
import fs from 'node:fs';
import crypto from 'node:crypto';
import { ioError } from '../errors';

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
    return new Promise((res, rej) => fs.fdatasync(this.fd, (e) => (e ? rej(ioError(e, `cannot flush ${this.partial}`)) : res())));
  }

  /** Positional writev; resolves with the byte count written. */
  write(buffers: Buffer[], offset: number): Promise<number> {
    return new Promise((resolve, reject) => {
      fs.writev(this.fd, buffers, offset, (err, n) => (err ? reject(err) : resolve(n)));
    });
  }

  async finish(): Promise<void> {
    try {
      await new Promise<void>((res, rej) => fs.fdatasync(this.fd, (e) => (e ? rej(e) : res())));
    } catch (e) {
      throw ioError(e, `cannot flush ${this.partial}`);
    }
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

export function sha256File(path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const h = crypto.createHash('sha256');
    fs.createReadStream(path, { highWaterMark: 1 << 20 })
      .on('data', (c) => h.update(c))
      .on('error', (e) => reject(ioError(e, `cannot read ${path}`)))
      .on('end', () => resolve(h.digest('hex')));
  });
}
