/**
 * Resume state: `<out>.osdcast` beside the output file, holding what the content is (identity) and which blocks
 * of `<out>.partial` are known to be on disk (the per-block bitmap of core/bitmap.ts).
 *
 * CONTRACT FOR THE CALLER (what makes a resume safe):
 *   1. write the block's bytes to `<out>.partial`;
 *   2. fdatasync the partial file;
 *   3. only then set the block's bit in the bitmap handed to StateFile;
 *   4. call write() when due() says so (and once more at a clean stop).
 * The state file may therefore lag behind the data (a crash loses at most the blocks since the last write(),
 * which are simply fetched again) but never claims a block whose bytes are not durable. write() is atomic
 * (temporary file, fsync, rename), so after a crash the file is either the previous or the new version.
 * Delete it with remove() after `<out>` has been verified and renamed into place.
 *
 * The bytes of the file (layout, checksum, decoding) are state-format.ts.
 */
import nodeFs from 'node:fs';
import path from 'node:path';
import { Bitmap } from '../../core/bitmap';
import { ioError } from '../errors';
import type { Logger } from '../log/log';
import { blockCount, decodeState, encodeState, identityDifferences, StateIdentity } from './state-format';

export type { StateIdentity } from './state-format';

/** The subset of node:fs used here (a memfs volume fits too, for unit tests). */
export type StateFs = Pick<typeof nodeFs, 'openSync' | 'writeSync' | 'fsyncSync' | 'closeSync' | 'renameSync' | 'readFileSync' | 'unlinkSync'>;

export interface StateOptions {
  fs?: StateFs;
  /** Where loadState says why an existing file was ignored. */
  log?: Logger;
}

/** Write at least every this fraction of the blocks … */
const DUE_FRACTION = 0.01;
/** … or this often (ms), whichever comes first. */
const DUE_MS = 2000;

export function statePath(out: string): string {
  return `${out}.osdcast`;
}

export type LoadResult = { onDisk: Bitmap; stored: StateIdentity } | { mismatch: string } | undefined;

/**
 * Reads the state file. Returns the on-disk bitmap when the file describes this content; `{ mismatch }` (with
 * the differences) when it describes other content or another version of it: the partial file must then be
 * discarded; undefined when there is no file or it cannot be used (corrupt, truncated, unknown version): that
 * is logged as a warning with the reason, and the download starts from scratch.
 */
export function loadState(file: string, identity: StateIdentity, opts: StateOptions = {}): LoadResult {
  const fs = opts.fs ?? nodeFs;
  let buf: Buffer;
  try {
    buf = fs.readFileSync(file) as Buffer;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    opts.log?.warn({ file, err: (e as Error).message }, `resume state ${file} cannot be read, starting from scratch`);
    return undefined;
  }
  const parsed = decodeState(buf);
  if ('corrupt' in parsed) {
    opts.log?.warn({ file, reason: parsed.corrupt }, `resume state ${file} is unusable (${parsed.corrupt}), starting from scratch`);
    return undefined;
  }
  const diff = identityDifferences(parsed.identity, identity);
  if (diff.length) return { mismatch: diff.join('; ') };
  const bm = new Bitmap(parsed.blocks);
  bm.loadFrom(parsed.bitmap);
  return { onDisk: bm, stored: parsed.identity };
}

/** The identity a state file records, or undefined when there is none or it is unusable (never throws). */
export function readStateIdentity(file: string, opts: Pick<StateOptions, 'fs'> = {}): StateIdentity | undefined {
  try {
    const parsed = decodeState((opts.fs ?? nodeFs).readFileSync(file) as Buffer);
    return 'corrupt' in parsed ? undefined : parsed.identity;
  } catch {
    return undefined;
  }
}

export class StateFile {
  private readonly fs: StateFs;
  private lastAt: number | undefined;
  private lastBlocks: number;
  readonly blocks: number;

  /**
   * `identity` may be replaced (e.g. `state.identity = { ...state.identity, validator }` once HTTP has told the
   * validator); the next write() stores it. `bitmap` is the caller's: see the contract at the top of this file.
   */
  constructor(
    readonly path: string,
    public identity: StateIdentity,
    readonly bitmap: Bitmap,
    opts: Pick<StateOptions, 'fs'> = {},
  ) {
    this.fs = opts.fs ?? nodeFs;
    this.blocks = blockCount(identity);
    if (bitmap.size !== this.blocks) throw new RangeError(`bitmap has ${bitmap.size} bits, the content has ${this.blocks} blocks`);
    this.lastBlocks = bitmap.count;
  }

  /**
   * True when a write() is worth it: blocks were added since the last write, and either at least 1 % of all
   * blocks were added or 2 s have passed (the first call only starts the clock unless 1 % is reached).
   */
  due(now: number, blocksDone: number): boolean {
    if (this.lastAt === undefined) this.lastAt = now;
    const added = blocksDone - this.lastBlocks;
    if (added <= 0) return false;
    return added >= Math.max(1, Math.ceil(this.blocks * DUE_FRACTION)) || now - this.lastAt >= DUE_MS;
  }

  /** Atomic replace: `<path>.tmp` is written and fsynced, then renamed over `<path>` (and the directory fsynced). */
  write(now: number = Date.now()): void {
    const bytes = encodeState(this.identity, this.bitmap.toBuffer());
    const tmp = `${this.path}.tmp`;
    const count = this.bitmap.count;
    let fd = -1;
    try {
      fd = this.fs.openSync(tmp, 'w', 0o644);
      writeAll(this.fs, fd, bytes);
      this.fs.fsyncSync(fd);
      this.fs.closeSync(fd);
      fd = -1;
      this.fs.renameSync(tmp, this.path);
    } catch (e) {
      if (fd >= 0) {
        try {
          this.fs.closeSync(fd);
        } catch {
          /* already failing */
        }
      }
      try {
        this.fs.unlinkSync(tmp);
      } catch {
        /* not created */
      }
      throw ioError(e, `cannot write resume state ${this.path}`);
    }
    if (this.fs === nodeFs) syncDir(path.dirname(this.path));
    this.lastAt = now;
    this.lastBlocks = count;
  }

  /** Deletes the state file (and a leftover temporary file); absent files are fine. */
  remove(): void {
    for (const f of [this.path, `${this.path}.tmp`]) {
      try {
        this.fs.unlinkSync(f);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw ioError(e, `cannot remove ${f}`);
      }
    }
  }
}

function writeAll(fs: StateFs, fd: number, buf: Buffer): void {
  let off = 0;
  while (off < buf.length) off += fs.writeSync(fd, buf, off, buf.length - off);
}

/** Makes the rename durable (POSIX); directories cannot be opened for fsync on Windows, where this is a no-op. */
function syncDir(dir: string): void {
  if (process.platform === 'win32') return;
  let fd = -1;
  try {
    fd = nodeFs.openSync(dir, 'r');
    nodeFs.fsyncSync(fd);
  } catch {
    /* best effort */
  } finally {
    if (fd >= 0) nodeFs.closeSync(fd);
  }
}
