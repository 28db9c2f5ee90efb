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
 * File layout (little endian):
 *   8 bytes  magic "OSDCST\0\x01"
 *   4 bytes  length H of the header
 *   H bytes  header, JSON: { version: 1, identity, blocks }
 *   B bytes  bitmap words (Bitmap.toBuffer(), B = 4 * ceil(blocks / 32))
 *  32 bytes  SHA-256 of everything before it (a torn or damaged file reads as corrupt, never as wrong bits)
 */
import nodeFs from 'node:fs';
import path from 'node:path';
import crypto from 'node:crypto';
import { Bitmap } from '../../core/bitmap';
import { ioError } from '../errors';
import type { Logger } from '../log/log';
import type { Validator } from '../transport/http';

export interface StateIdentity {
  namespace: string;
  content: string;
  /** Content size in bytes. */
  size: number;
  blockSize: number;
  /** The HTTP validator of the content (absent while only multicast has been used). */
  validator?: Validator;
  /** Expected SHA-256 (hex), when the caller was given one. */
  sha256?: string;
  /**
   * The multicast server's block numbering once learned (protocol-notes #1), so that a resumed run does not
   * have to learn it again (learning 0-based numbering discards what was placed under the 1-based guess).
   */
  blockBase?: 0 | 1;
}

/** The subset of node:fs used here (a memfs volume fits too, for unit tests). */
export type StateFs = Pick<typeof nodeFs, 'openSync' | 'writeSync' | 'fsyncSync' | 'closeSync' | 'renameSync' | 'readFileSync' | 'unlinkSync'>;

export interface StateOptions {
  fs?: StateFs;
  /** Where loadState says why an existing file was ignored. */
  log?: Logger;
}

const MAGIC = Buffer.from('OSDCST\0\x01', 'latin1');
const VERSION = 1;
const HASH_LEN = 32;
/** Write at least every this fraction of the blocks … */
const DUE_FRACTION = 0.01;
/** … or this often (ms), whichever comes first. */
const DUE_MS = 2000;

export function statePath(out: string): string {
  return `${out}.osdcast`;
}

export function blockCount(identity: Pick<StateIdentity, 'size' | 'blockSize'>): number {
  return identity.size === 0 ? 0 : Math.ceil(identity.size / identity.blockSize);
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
  const parsed = parse(buf);
  if ('corrupt' in parsed) {
    opts.log?.warn({ file, reason: parsed.corrupt }, `resume state ${file} is unusable (${parsed.corrupt}), starting from scratch`);
    return undefined;
  }
  const diff = differences(parsed.identity, identity);
  if (diff.length) return { mismatch: diff.join('; ') };
  const bm = new Bitmap(parsed.blocks);
  bm.loadFrom(parsed.bitmap);
  return { onDisk: bm, stored: parsed.identity };
}

/** The identity a state file records, or undefined when there is none or it is unusable (never throws). */
export function readStateIdentity(file: string, opts: Pick<StateOptions, 'fs'> = {}): StateIdentity | undefined {
  try {
    const parsed = parse((opts.fs ?? nodeFs).readFileSync(file) as Buffer);
    return 'corrupt' in parsed ? undefined : parsed.identity;
  } catch {
    return undefined;
  }
}

function parse(buf: Buffer): { identity: StateIdentity; blocks: number; bitmap: Buffer } | { corrupt: string } {
  if (buf.length < MAGIC.length + 4 + HASH_LEN) return { corrupt: `too short (${buf.length} bytes)` };
  if (!buf.subarray(0, MAGIC.length).equals(MAGIC)) {
    if (buf.subarray(0, 6).equals(MAGIC.subarray(0, 6))) return { corrupt: `format version ${buf[7]} (this osdcast reads ${MAGIC[7]})` };
    return { corrupt: 'not an osdcast state file' };
  }
  const body = buf.subarray(0, buf.length - HASH_LEN);
  const sum = crypto.createHash('sha256').update(body).digest();
  if (!sum.equals(buf.subarray(buf.length - HASH_LEN))) return { corrupt: 'checksum mismatch (torn or damaged)' };
  const hlen = buf.readUInt32LE(MAGIC.length);
  const hstart = MAGIC.length + 4;
  if (hstart + hlen > body.length) return { corrupt: 'header length beyond the end' };
  let header: { version?: unknown; identity?: unknown; blocks?: unknown };
  try {
    header = JSON.parse(body.subarray(hstart, hstart + hlen).toString('utf8'));
  } catch {
    return { corrupt: 'header is not JSON' };
  }
  if (header.version !== VERSION) return { corrupt: `format version ${String(header.version)}` };
  const id = header.identity as StateIdentity | undefined;
  if (!id || typeof id.namespace !== 'string' || typeof id.content !== 'string' || !Number.isSafeInteger(id.size) || !Number.isSafeInteger(id.blockSize) || id.blockSize <= 0)
    return { corrupt: 'header lacks the content identity' };
  const blocks = header.blocks;
  if (typeof blocks !== 'number' || blocks !== blockCount(id)) return { corrupt: `block count ${String(blocks)} does not fit size/blockSize` };
  const bitmap = body.subarray(hstart + hlen);
  if (bitmap.length !== 4 * Math.ceil(blocks / 32)) return { corrupt: `bitmap is ${bitmap.length} bytes, expected ${4 * Math.ceil(blocks / 32)}` };
  return { identity: id, blocks, bitmap };
}

/** Human-readable differences between the stored identity and the current one (empty = same content). */
function differences(stored: StateIdentity, now: StateIdentity): string[] {
  const d: string[] = [];
  const cmp = (name: string, a: unknown, b: unknown) => {
    if (a !== b) d.push(`${name} ${JSON.stringify(a)} is now ${JSON.stringify(b)}`);
  };
  cmp('namespace', stored.namespace, now.namespace);
  cmp('content', stored.content, now.content);
  cmp('size', stored.size, now.size);
  cmp('blockSize', stored.blockSize, now.blockSize);
  // A validator or hash only one side knows proves nothing (e.g. the first run used multicast only); two known,
  // different values prove another version.
  const both = (a?: string, b?: string) => a !== undefined && b !== undefined;
  if (stored.blockBase !== undefined && now.blockBase !== undefined) cmp('block numbering', stored.blockBase, now.blockBase);
  // A state without proven numbering may hold multicast blocks placed under the 1-based guess: never resume it as
  // 0-based (its HTTP-only blocks would be fine, but the file cannot tell them apart).
  else if (stored.blockBase === undefined && now.blockBase === 0) d.push('block numbering was unproven (placed as 1-based) and is now 0');
  if (both(stored.validator?.etag, now.validator?.etag)) cmp('ETag', stored.validator!.etag, now.validator!.etag);
  if (both(stored.validator?.lastModified, now.validator?.lastModified)) cmp('Last-Modified', stored.validator!.lastModified, now.validator!.lastModified);
  if (both(stored.sha256, now.sha256)) cmp('sha256', stored.sha256!.toLowerCase(), now.sha256!.toLowerCase());
  return d;
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
    const header = Buffer.from(JSON.stringify({ version: VERSION, identity: this.identity, blocks: this.blocks }), 'utf8');
    const len = Buffer.alloc(4);
    len.writeUInt32LE(header.length);
    const body = Buffer.concat([MAGIC, len, header, this.bitmap.toBuffer()]);
    const sum = crypto.createHash('sha256').update(body).digest();
    const tmp = `${this.path}.tmp`;
    const count = this.bitmap.count;
    let fd = -1;
    try {
      fd = this.fs.openSync(tmp, 'w', 0o644);
      writeAll(this.fs, fd, body);
      writeAll(this.fs, fd, sum);
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
