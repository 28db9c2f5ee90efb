import crypto from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { blockCount, decodeState, encodeState, identityDifferences } from '../../../agent/storage/state-format';
import { ID, bitmapWith } from './helpers';

const bitmapBytes = (n: number, bits: number[]): Buffer => Buffer.from(bitmapWith(n, bits).toBuffer());

/** Recomputes the trailing checksum, so that only the structure checks can catch a change. */
const reseal = (body: Buffer) => Buffer.concat([body, crypto.createHash('sha256').update(body).digest()]);

describe('state file bytes', () => {
  it('block count: ceil(size / blockSize), 0 for empty content', () => {
    expect(blockCount(ID)).toBe(11);
    expect(blockCount({ size: 0, blockSize: 1385 })).toBe(0);
    expect(blockCount({ size: 1385, blockSize: 1385 })).toBe(1);
    expect(blockCount({ size: 1386, blockSize: 1385 })).toBe(2);
  });

  it('layout: magic, header length, JSON header, bitmap words, SHA-256 of the rest', () => {
    const bm = bitmapBytes(11, [0, 10]);
    const f = encodeState(ID, bm);
    expect(f.subarray(0, 8).toString('latin1')).toBe('OSDCST\0\x01');
    const hlen = f.readUInt32LE(8);
    expect(JSON.parse(f.subarray(12, 12 + hlen).toString('utf8'))).toEqual({ version: 1, identity: ID, blocks: 11 });
    expect(f.subarray(12 + hlen, f.length - 32).equals(bm)).toBe(true);
    expect(f.subarray(f.length - 32).equals(crypto.createHash('sha256').update(f.subarray(0, f.length - 32)).digest())).toBe(true);
  });

  it('round trip: identity, block count and bitmap come back as written', () => {
    const bm = bitmapBytes(11, [1, 4, 9]);
    const d = decodeState(encodeState(ID, bm));
    expect(d).toEqual({ identity: ID, blocks: 11, bitmap: bm });
    const empty = decodeState(encodeState({ ...ID, size: 0 }, Buffer.alloc(0)));
    expect(empty).toMatchObject({ blocks: 0, bitmap: Buffer.alloc(0) });
  });

  it('every way a file can be unusable is a reason, never a throw', () => {
    const good = encodeState(ID, bitmapBytes(11, [2]));
    const body = good.subarray(0, good.length - 32);
    const hlen = body.readUInt32LE(8);
    const header = JSON.parse(body.subarray(12, 12 + hlen).toString()) as Record<string, unknown>;
    const withHeader = (h: unknown) => {
      const hb = Buffer.from(JSON.stringify(h));
      const len = Buffer.alloc(4);
      len.writeUInt32LE(hb.length);
      return reseal(Buffer.concat([body.subarray(0, 8), len, hb, body.subarray(12 + hlen)]));
    };
    const cases: [string, Buffer, string | RegExp][] = [
      ['empty', Buffer.alloc(0), 'too short (0 bytes)'],
      ['just under the minimum', Buffer.alloc(43), 'too short (43 bytes)'],
      ['foreign', Buffer.alloc(64, 0x41), 'not an osdcast state file'],
      ['another format version in the magic', Buffer.concat([good.subarray(0, 7), Buffer.from([2]), good.subarray(8)]), 'format version 2 (this osdcast reads 1)'],
      ['torn', good.subarray(0, good.length - 1), 'checksum mismatch (torn or damaged)'],
      ['header length beyond the end', reseal(Buffer.concat([body.subarray(0, 8), Buffer.from([0, 0, 1, 0]), body.subarray(12)])), 'header length beyond the end'],
      ['header not JSON', reseal(Buffer.concat([body.subarray(0, 12), Buffer.from('x'), body.subarray(13)])), 'header is not JSON'],
      ['header version', withHeader({ ...header, version: 2 }), 'format version 2'],
      ['no identity', withHeader({ version: 1, blocks: 11 }), 'header lacks the content identity'],
      ['size not an integer', withHeader({ ...header, identity: { ...ID, size: 1.5 } }), 'header lacks the content identity'],
      ['block size 0', withHeader({ ...header, identity: { ...ID, blockSize: 0 } }), 'header lacks the content identity'],
      ['content not a string', withHeader({ ...header, identity: { ...ID, content: 7 } }), 'header lacks the content identity'],
      ['block count', withHeader({ ...header, blocks: 10 }), 'block count 10 does not fit size/blockSize'],
      ['block count missing', withHeader({ version: 1, identity: ID }), 'block count undefined does not fit size/blockSize'],
      ['bitmap too long', reseal(Buffer.concat([body, Buffer.alloc(4)])), 'bitmap is 8 bytes, expected 4'],
    ];
    for (const [name, bytes, reason] of cases) {
      let r: ReturnType<typeof decodeState> | undefined;
      expect(() => (r = decodeState(bytes)), name).not.toThrow();
      expect(r, name).toHaveProperty('corrupt');
      expect((r as { corrupt: string }).corrupt, name).toMatch(reason);
    }
  });

  it('identity differences: fields that must match, validators and hashes only when both sides know them', () => {
    expect(identityDifferences(ID, { ...ID })).toEqual([]);
    expect(identityDifferences(ID, { ...ID, namespace: 'N', content: 'C', size: 1, blockSize: 2 })).toEqual([
      'namespace "SMSPKG" is now "N"',
      'content "P0100023" is now "C"',
      `size ${ID.size} is now 1`,
      'blockSize 1385 is now 2',
    ]);
    expect(identityDifferences(ID, { ...ID, validator: { etag: '"x"' } })).toEqual(['ETag "\\"6b06e334-2a0f\\"" is now "\\"x\\""']);
    expect(identityDifferences(ID, { ...ID, validator: { lastModified: 'Tue, 02 Jan 2024 00:00:00 GMT' } })).toEqual([
      'Last-Modified "Mon, 01 Jan 2024 00:00:00 GMT" is now "Tue, 02 Jan 2024 00:00:00 GMT"',
    ]);
    expect(identityDifferences(ID, { ...ID, sha256: 'CD'.repeat(32) })).toEqual([`sha256 "${'ab'.repeat(32)}" is now "${'cd'.repeat(32)}"`]);
    expect(identityDifferences(ID, { ...ID, sha256: 'AB'.repeat(32) })).toEqual([]);
    const bare = { ...ID, validator: undefined, sha256: undefined };
    expect(identityDifferences(bare, ID)).toEqual([]);
    expect(identityDifferences(ID, bare)).toEqual([]);
  });

  it('block numbering: proven on both sides must agree; unproven state is never resumed as 0-based', () => {
    expect(identityDifferences({ ...ID, blockBase: 1 }, { ...ID, blockBase: 0 })).toEqual(['block numbering 1 is now 0']);
    expect(identityDifferences({ ...ID, blockBase: 0 }, { ...ID, blockBase: 0 })).toEqual([]);
    expect(identityDifferences(ID, { ...ID, blockBase: 0 })).toEqual(['block numbering was unproven (placed as 1-based) and is now 0']);
    expect(identityDifferences(ID, { ...ID, blockBase: 1 })).toEqual([]);
    expect(identityDifferences({ ...ID, blockBase: 0 }, ID)).toEqual([]);
  });
});
