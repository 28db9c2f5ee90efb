/**
 * The little DER that SPNEGO needs (X.690): definite lengths, one- and multi-byte, tags of one byte. Reading never
 * throws: every function returns a Decoded value (indefinite lengths, lengths past the end and non-minimal
 * long forms are errors).
 */
import { Decoded, fail, ok } from '../codec/bytes';

export interface Tlv {
  tag: number;
  /** A view of the contents. */
  value: Buffer;
  /** The whole element, header included. */
  raw: Buffer;
}

/** Reads one element at `pos` of `buf`. */
export function readTlv(buf: Buffer, pos = 0): Decoded<Tlv> {
  if (pos + 2 > buf.length) return fail('truncated', `DER element at ${pos}: header needs 2 bytes, ${buf.length - pos} left`);
  const tag = buf[pos]!;
  if ((tag & 0x1f) === 0x1f) return fail('bad-value', `DER element at ${pos}: multi-byte tags are not used by SPNEGO`);
  let len = buf[pos + 1]!;
  let at = pos + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0) return fail('bad-length', `DER element at ${pos}: indefinite length`);
    if (n > 4) return fail('bad-length', `DER element at ${pos}: ${n}-byte length`);
    if (at + n > buf.length) return fail('truncated', `DER element at ${pos}: length needs ${n} bytes`);
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + buf[at + i]!;
    if (len < 0x80 || buf[at] === 0) return fail('bad-length', `DER element at ${pos}: non-minimal length`);
    at += n;
  }
  if (at + len > buf.length) return fail('truncated', `DER element at ${pos}: ${len} content bytes, ${buf.length - at} left`);
  return ok({ tag, value: buf.subarray(at, at + len), raw: buf.subarray(pos, at + len) });
}

/** Reads consecutive elements filling `buf` exactly. */
export function readAll(buf: Buffer): Decoded<Tlv[]> {
  const out: Tlv[] = [];
  let pos = 0;
  while (pos < buf.length) {
    const t = readTlv(buf, pos);
    if (!t.ok) return t;
    out.push(t.value);
    pos += t.value.raw.length;
  }
  return ok(out);
}

/** Reads exactly one element filling `buf` with the given tag. */
export function readOnly(buf: Buffer, tag: number, what: string): Decoded<Tlv> {
  const t = readTlv(buf);
  if (!t.ok) return fail(t.error.code, `${what}: ${t.error.message}`);
  if (t.value.tag !== tag) return fail('bad-value', `${what}: tag 0x${t.value.tag.toString(16)}, expected 0x${tag.toString(16)}`);
  if (t.value.raw.length !== buf.length) return fail('trailing', `${what}: ${buf.length - t.value.raw.length} bytes after the element`);
  return t;
}

export function tlv(tag: number, ...contents: Uint8Array[]): Buffer {
  const body = Buffer.concat(contents);
  const n = body.length;
  let head: Buffer;
  if (n < 0x80) head = Buffer.from([tag, n]);
  else if (n < 0x100) head = Buffer.from([tag, 0x81, n]);
  else if (n < 0x10000) head = Buffer.from([tag, 0x82, n >> 8, n & 0xff]);
  else head = Buffer.from([tag, 0x83, n >> 16, (n >> 8) & 0xff, n & 0xff]);
  return Buffer.concat([head, body]);
}

export const Tag = {
  INTEGER: 0x02,
  BIT_STRING: 0x03,
  OCTET_STRING: 0x04,
  OID: 0x06,
  ENUMERATED: 0x0a,
  SEQUENCE: 0x30,
  APPLICATION_0: 0x60,
  /** [n] constructed, context-specific. */
  context: (n: number) => 0xa0 | n,
} as const;
