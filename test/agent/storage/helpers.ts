import { Bitmap } from '../../../core/bitmap';
import type { StateIdentity } from '../../../agent/storage/state-format';

/** A content identity with every optional field set (11 blocks, the last one 7 bytes). */
export const ID: StateIdentity = {
  namespace: 'SMSPKG',
  content: 'P0100023',
  size: 10 * 1385 + 7,
  blockSize: 1385,
  validator: { etag: '"6b06e334-2a0f"', lastModified: 'Mon, 01 Jan 2024 00:00:00 GMT' },
  sha256: 'ab'.repeat(32),
};

export function bitmapWith(n: number, bits: number[]): Bitmap {
  const b = new Bitmap(n);
  for (const i of bits) b.set(i);
  return b;
}

/** The indices of the set bits, ascending. */
export const setBits = (b: Bitmap) => Array.from({ length: b.size }, (_, i) => i).filter((i) => b.has(i));
