/** agent/util/text.ts: byte-order marks, in one place. */
import { describe, expect, it } from 'vitest';
import { decodeBomText, decodeWindowsText as decodeTextFile, stripBom } from '../../../agent/util/text';

describe('decodeTextFile', () => {
  it('reads UTF-16LE with BOM, UTF-8 with BOM, BOM-less UTF-16LE and Latin-1', () => {
    expect(decodeTextFile(Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from('a=ü', 'utf16le')]))).toBe('a=ü');
    expect(decodeTextFile(Buffer.from([0xef, 0xbb, 0xbf, 0x61]))).toBe('a');
    expect(decodeTextFile(Buffer.from('[x]\r\nk=v\r\n', 'utf16le'))).toBe('[x]\r\nk=v\r\n');
    const be = Buffer.from('k=v', 'utf16le');
    be.swap16();
    expect(decodeTextFile(Buffer.concat([Buffer.from([0xfe, 0xff]), be]))).toBe('k=v');
    expect(decodeTextFile(Buffer.from([0x6b, 0x3d, 0xfc]))).toBe('k=ü');
  });
});

describe('decodeBomText', () => {
  it('follows a BOM, else reads UTF-8 (no guessing)', () => {
    expect(decodeBomText(Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from('<a/>', 'utf16le')]))).toBe('<a/>');
    expect(decodeBomText(Buffer.from([0xef, 0xbb, 0xbf, 0x3c]))).toBe('<');
    const be = Buffer.from('<b/>', 'utf16le');
    be.swap16();
    expect(decodeBomText(Buffer.concat([Buffer.from([0xfe, 0xff]), be]))).toBe('<b/>');
    expect(decodeBomText(Buffer.from('k=v', 'utf16le'))).toBe('k\u0000=\u0000v\u0000');
    expect(decodeBomText(Buffer.from([0x6b, 0xfc]))).toBe('k\ufffd');
  });

  it('stripBom drops one leading U+FEFF only', () => {
    expect(stripBom('\ufeff{}')).toBe('{}');
    expect(stripBom('{}\ufeff')).toBe('{}\ufeff');
    expect(stripBom('')).toBe('');
  });
});
