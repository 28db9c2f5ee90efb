/**
 * Helpers for the codec tests. Nothing here calls the codecs' own helpers: the checksum below is written from
 * the text of MS-WDSMT 2.2.2.3, not copied from core/codec/mt.ts, so that a shared mistake cannot hide.
 */
import { expect } from 'vitest';
import { DecodeError, DecodeErrorCode, Decoded } from '../../../core/codec/bytes';
import { KNOWN_CODES } from '../../fuzz/arbitraries/common';

export { isWellFormedResult } from '../../fuzz/arbitraries/common';

/** Hex text (whitespace allowed) to bytes; throws on an odd digit count or a non-hex character (a typo in a vector). */
export function hex(s: string): Buffer {
  const clean = s.replace(/\s+/g, '');
  if (!/^(?:[0-9a-fA-F]{2})*$/.test(clean)) throw new Error(`bad hex vector: ${s}`);
  return Buffer.from(clean, 'hex');
}

export function toHex(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.length).toString('hex');
}

/**
 * MS-WDSMT 2.2.2.3: "initializing the unsigned 32-bit PacketChecksum variable to zero and adding each byte of the
 * packet ... starting from the Session Header", then "all bits of the value are inverted". The Session Header
 * starts after the 5-byte fixed part of the Security Header and its SecurityDataLen bytes (2.2.2).
 */
export function specChecksum(packet: Uint8Array): number {
  const securityDataLen = packet[3]! * 256 + packet[4]!;
  let packetChecksum = 0;
  for (let i = 5 + securityDataLen; i < packet.length; i++) packetChecksum = (packetChecksum + packet[i]!) % 2 ** 32;
  return 0xffffffff - packetChecksum; // bitwise NOT of a uint32
}

/** A copy of a CHECKSUM packet with its SecurityData recomputed (for hand-made malformed packets). */
export function withChecksum(packet: Buffer): Buffer {
  const out = Buffer.from(packet);
  out.writeUInt32BE(specChecksum(out), 5);
  return out;
}

export function expectOk<T>(r: Decoded<T>): T {
  if (!r.ok) throw new Error(`expected ok, got ${r.error.toString()}`);
  return r.value;
}

export function expectFail<T>(r: Decoded<T>, code?: DecodeErrorCode): DecodeError {
  if (r.ok) throw new Error(`expected failure${code ? ` (${code})` : ''}, got ok: ${JSON.stringify(r.value)}`);
  expect(r.error).toBeInstanceOf(DecodeError);
  expect(KNOWN_CODES).toContain(r.error.code);
  expect(typeof r.error.message).toBe('string');
  if (code) expect(r.error.code, r.error.message).toBe(code);
  return r.error;
}
