/**
 * The bytes of a resume state file (`<out>.osdcast`, see state.ts for who writes it and when): encoding and
 * decoding only, no file I/O. Decoding never throws: a file that cannot be used is `{ corrupt: reason }`.
 *
 * Layout (little endian):
 *   8 bytes  magic "OSDCST\0\x01"
 *   4 bytes  length H of the header
 *   H bytes  header, JSON: { version: 1, identity, blocks }
 *   B bytes  bitmap words (Bitmap.toBuffer(), B = 4 * ceil(blocks / 32))
 *  32 bytes  SHA-256 of everything before it (a torn or damaged file reads as corrupt, never as wrong bits)
 */
import crypto from 'node:crypto';
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

export type DecodedState = { identity: StateIdentity; blocks: number; bitmap: Buffer };

const MAGIC = Buffer.from('OSDCST\0\x01', 'latin1');
const VERSION = 1;
const HASH_LEN = 32;

export function blockCount(identity: Pick<StateIdentity, 'size' | 'blockSize'>): number {
  return identity.size === 0 ? 0 : Math.ceil(identity.size / identity.blockSize);
}

/** The whole file: magic, header, `bitmap` (Bitmap.toBuffer() of blockCount(identity) bits), checksum. */
export function encodeState(identity: StateIdentity, bitmap: Buffer): Buffer {
  const header = Buffer.from(JSON.stringify({ version: VERSION, identity, blocks: blockCount(identity) }), 'utf8');
  const len = Buffer.alloc(4);
  len.writeUInt32LE(header.length);
  // One allocation for the whole file (a 4 GiB image's bitmap is ~380 KiB; written at every checkpoint).
  const bodyLen = MAGIC.length + len.length + header.length + bitmap.length;
  const out = Buffer.allocUnsafe(bodyLen + HASH_LEN);
  let at = 0;
  for (const part of [MAGIC, len, header, bitmap]) at += part.copy(out, at);
  const body = out.subarray(0, bodyLen);
  crypto.createHash('sha256').update(body).digest().copy(out, bodyLen);
  return out;
}

export function decodeState(buf: Buffer): DecodedState | { corrupt: string } {
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
export function identityDifferences(stored: StateIdentity, now: StateIdentity): string[] {
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
