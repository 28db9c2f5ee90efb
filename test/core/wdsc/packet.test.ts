/**
 * MS-WDSC 2.2.1 packet codec: a fully hand-written vector, every WDSCPL_VAR_* type both ways, the readings of
 * protocol-notes #22-#28, and the typed errors (every prefix of a valid packet among them).
 */
import { describe, expect, it } from 'vitest';
import { WdscPacket, WdscVariable, decodeWdsc, encodeWdsc, findVariable, guidToBytes, isEndpoint } from '../../../core/wdsc/packet';
import { expectFail, expectOk, hex, toHex } from '../codec/helpers';
import { MSI_GUID_HEX, T, block, le, packet, utf16 } from './spec';

const MSI = '6f13a317-3687-4b54-81a5-504daa9062fa';

/** One ULONG variable "Cap" = 3 in a request for opcode 6, every byte written out from 2.2.1.1-2.2.1.3.1. */
const LITERAL =
  '2800' + // Size-Of-Header 0x0028
  '0001' + // Version 0x0100 (little-endian)
  '98000000' + // Packet-Size 152 = 40 + 16 + 96
  '17a3136f' + '8736' + '544b' + '81a5504daa9062fa' + // Endpoint-GUID 6f13a317-3687-4b54-81a5-504daa9062fa (MS-DTYP 2.3.4.2)
  '00'.repeat(16) + // Reserved
  '70000000' + // Operation Packet-Size 112 = 16 + 96
  '0001' + // Version 0x0100
  '01' + // Packet-Type WDSCPL_PACKET_REQUEST
  '00' + // Padding1
  '06000000' + // OpCode 6
  '01000000' + // Variable-Count 1
  '43006100700000' + '00' + '00'.repeat(58) + // Variable-Name "Cap\0" in 66 bytes
  '0000' + // Padding1
  '04000000' + // Variable-Type WDSCPL_VAR_ULONG
  '04000000' + // Value-Length 4
  '00000000' + // Array-Size 0
  '03000000' + // value 3
  '00'.repeat(12); // Padding_end: 80 + 4 + 12 = 96

const LITERAL_PACKET: WdscPacket = { endpoint: MSI, packetType: 1, code: 6, variables: [{ name: 'Cap', type: 'ULONG', value: 3 }] };

describe('MS-WDSC packet (2.2.1)', () => {
  it('the hand-written vector decodes and encodes exactly', () => {
    expect(hex(LITERAL).length).toBe(152);
    expect(expectOk(decodeWdsc(hex(LITERAL)))).toEqual(LITERAL_PACKET);
    expect(toHex(encodeWdsc(LITERAL_PACKET))).toBe(LITERAL);
  });

  it('the spec builder agrees with the hand-written vector', () => {
    expect(packet(1, 6, [block('Cap', T.ULONG, 4, 0, le(3, 4))])).toBe(LITERAL);
  });

  it('a reply with no variables is 56 bytes; OpCode-ErrorCode carries the error', () => {
    const v = packet(2, 2, []);
    expect(hex(v).length).toBe(56);
    const p: WdscPacket = { endpoint: MSI, packetType: 2, code: 2, variables: [] };
    expect(expectOk(decodeWdsc(hex(v)))).toEqual(p);
    expect(toHex(encodeWdsc(p))).toBe(v);
  });

  it('GUID text to bytes is the MS-DTYP 2.3.4.2 order', () => {
    expect(toHex(guidToBytes(MSI))).toBe(MSI_GUID_HEX);
    expect(toHex(guidToBytes('1A927394-352E-4553-AE3F-7CF4AAFCA620'))).toBe('9473921a2e355345ae3f7cf4aafca620');
  });
});

/** Each type: the variable, and its block written from 2.2.1.3.2 / 2.2.1.3.3 by hand. */
const TYPES: [WdscVariable, string][] = [
  [{ name: 'b', type: 'BYTE', value: 0xab }, block('b', T.BYTE, 1, 0, 'ab')],
  [{ name: 'us', type: 'USHORT', value: 0xfa84 }, block('us', T.USHORT, 2, 0, '84fa')],
  [{ name: 'ul', type: 'ULONG', value: 0x6d19ee7e }, block('ul', T.ULONG, 4, 0, '7eee196d')],
  [{ name: 'u64', type: 'ULONG64', value: 0xfedcba9876543210n }, block('u64', T.ULONG64, 8, 0, '1032547698badcfe')],
  [{ name: 's', type: 'STRING', value: 'abc' }, block('s', T.STRING, 4, 0, '61626300')],
  [{ name: 'w', type: 'WSTRING', value: 'install.wim' }, block('w', T.WSTRING, 24, 0, utf16('install.wim'))],
  [{ name: 'blob', type: 'BLOB', value: hex('ef00006f') }, block('blob', T.BLOB, 4, 0, 'ef00006f')],
  [{ name: 'empty', type: 'BLOB', value: Buffer.alloc(0) }, block('empty', T.BLOB, 0, 0, '')],
  [{ name: 'ba', type: 'BYTE[]', value: [1, 2, 3] }, block('ba', T.BYTE | (T.ARRAY << 16), 1, 3, '010203')],
  [{ name: 'usa', type: 'USHORT[]', value: [1, 0xffff] }, block('usa', T.USHORT | (T.ARRAY << 16), 2, 2, '0100ffff')],
  [{ name: 'ula', type: 'ULONG[]', value: [5, 6] }, block('ula', T.ULONG | (T.ARRAY << 16), 4, 2, '0500000006000000')],
  [{ name: 'u64a', type: 'ULONG64[]', value: [1n, 2n ** 64n - 1n] }, block('u64a', T.ULONG64 | (T.ARRAY << 16), 8, 2, '0100000000000000' + 'ff'.repeat(8))],
  // Variable-length elements: each null-padded to the longest, Value-Length = that slot (protocol-notes #24).
  [{ name: 'sa', type: 'STRING[]', value: ['ab', 'c'] }, block('sa', T.STRING | (T.ARRAY << 16), 3, 2, '616200' + '630000')],
  [{ name: 'wa', type: 'WSTRING[]', value: ['ab', 'c'] }, block('wa', T.WSTRING | (T.ARRAY << 16), 6, 2, utf16('ab') + utf16('c') + '0000')],
  [{ name: 'bla', type: 'BLOB[]', value: [hex('0102'), hex('0304')] }, block('bla', T.BLOB | (T.ARRAY << 16), 2, 2, '01020304')],
];

describe('every WDSCPL_VAR_* type (2.2.1.3.2)', () => {
  for (const [v, b] of TYPES) {
    it(`${v.type}: encodes to the hand-written block and decodes back`, () => {
      expect((b.length / 2) % 16).toBe(0);
      const p: WdscPacket = { endpoint: MSI, packetType: 2, code: 0, variables: [v] };
      expect(toHex(encodeWdsc(p))).toBe(packet(2, 0, [b]));
      expect(expectOk(decodeWdsc(hex(packet(2, 0, [b]))))).toEqual(p);
    });
  }

  it('all of them in one packet, in order', () => {
    const p: WdscPacket = { endpoint: MSI, packetType: 2, code: 0, variables: TYPES.map(([v]) => v) };
    const v = packet(2, 0, TYPES.map(([, b]) => b));
    expect(toHex(encodeWdsc(p))).toBe(v);
    expect(expectOk(decodeWdsc(hex(v)))).toEqual(p);
  });

  it('names are case-insensitive (2.2.1.3.1)', () => {
    const p = expectOk(decodeWdsc(hex(LITERAL)));
    expect(findVariable(p, 'CAP')).toEqual({ name: 'Cap', type: 'ULONG', value: 3 });
    expect(findVariable(p, 'cap')).toBeDefined();
    expect(findVariable(p, 'Caps')).toBeUndefined();
  });

  it('a 32-character name fills the 66 bytes with its null; a 33rd character does not fit', () => {
    const name = 'N'.repeat(32);
    const v = packet(1, 6, [block(name, T.BYTE, 1, 0, '01')]);
    expect(toHex(encodeWdsc({ endpoint: MSI, packetType: 1, code: 6, variables: [{ name, type: 'BYTE', value: 1 }] }))).toBe(v);
    expect(() => encodeWdsc({ endpoint: MSI, packetType: 1, code: 6, variables: [{ name: name + 'N', type: 'BYTE', value: 1 }] })).toThrow(RangeError);
  });

  it('the encoder refuses what the format cannot carry', () => {
    const enc = (variables: WdscVariable[]) => () => encodeWdsc({ endpoint: MSI, packetType: 1, code: 6, variables });
    expect(enc([{ name: 'x', type: 'BYTE', value: 256 }])).toThrow(RangeError);
    expect(enc([{ name: 'x', type: 'ULONG[]', value: [] }])).toThrow(RangeError); // Array-Size MUST NOT be zero
    expect(enc([{ name: 'x', type: 'BLOB[]', value: [hex('01'), hex('0203')] }])).toThrow(RangeError);
    expect(enc([{ name: 'x', type: 'STRING', value: '\u0100' }])).toThrow(RangeError);
    expect(enc([{ name: 'x', type: 'BYTE', value: 1 }, { name: 'X', type: 'BYTE', value: 1 }])).toThrow(RangeError);
    expect(() => encodeWdsc({ endpoint: 'not-a-guid', packetType: 1, code: 6, variables: [] })).toThrow(RangeError);
  });
});

describe('protocol notes', () => {
  it('#22: Size-Of-Header locates the Operation Header (32-byte diagram form accepted); below 24 is bad-length', () => {
    const v = hex(LITERAL);
    const short = Buffer.concat([v.subarray(0, 32), v.subarray(40)]); // 8 reserved bytes instead of 16
    short.writeUInt16LE(32, 0);
    short.writeUInt32LE(short.length, 4);
    expect(expectOk(decodeWdsc(short))).toEqual(LITERAL_PACKET);
    const bad = Buffer.from(short);
    bad.writeUInt16LE(20, 0);
    expectFail(decodeWdsc(bad), 'bad-length');
    // Reserved is not checked.
    const reserved = Buffer.from(v);
    reserved.fill(0xff, 24, 40);
    expect(expectOk(decodeWdsc(reserved))).toEqual(LITERAL_PACKET);
  });

  it('#23: ARRAY as the high modifier field (sent) or OR-ed into the base type (accepted)', () => {
    const high = packet(2, 0, [block('ula', 0x10000004, 4, 2, '0500000006000000')]);
    const ored = packet(2, 0, [block('ula', 0x00001004, 4, 2, '0500000006000000')]);
    const want = [{ name: 'ula', type: 'ULONG[]', value: [5, 6] }];
    expect(expectOk(decodeWdsc(hex(high))).variables).toEqual(want);
    expect(expectOk(decodeWdsc(hex(ored))).variables).toEqual(want);
    // Both at once, or another modifier: an unknown type, kept raw (Value-Length bytes).
    for (const t of [0x10001004, 0x20000004]) {
      const p = expectOk(decodeWdsc(hex(packet(2, 0, [block('ula', t, 4, 2, '05000000')]))));
      expect(p.variables).toEqual([{ name: 'ula', type: 'unknown', typeId: t, value: hex('05000000') }]);
    }
  });

  it('#24: an array of strings with Value-Length as the total (reading b) is split at the terminators', () => {
    const wa = packet(2, 0, [block('wa', T.WSTRING | (T.ARRAY << 16), 10, 2, utf16('ab') + utf16('c')), block('n', T.BYTE, 1, 0, '07')]);
    expect(expectOk(decodeWdsc(hex(wa))).variables).toEqual([
      { name: 'wa', type: 'WSTRING[]', value: ['ab', 'c'] },
      { name: 'n', type: 'BYTE', value: 7 },
    ]);
    const sa = packet(2, 0, [block('sa', T.STRING | (T.ARRAY << 16), 7, 3, '6100' + '626300' + '00')]);
    expect(expectOk(decodeWdsc(hex(sa))).variables).toEqual([{ name: 'sa', type: 'STRING[]', value: ['a', 'bc', ''] }]);
  });

  it('#24: a BLOB array with Value-Length as the total is split evenly; an uneven total is bad-length', () => {
    // 16 bytes total: the product reading (32 bytes) does not fit before the next block.
    const even = packet(2, 0, [block('b', T.BLOB | (T.ARRAY << 16), 16, 2, '11'.repeat(8) + '22'.repeat(8)), block('n', T.BYTE, 1, 0, '07')]);
    expect(expectOk(decodeWdsc(hex(even))).variables).toEqual([
      { name: 'b', type: 'BLOB[]', value: [hex('11'.repeat(8)), hex('22'.repeat(8))] },
      { name: 'n', type: 'BYTE', value: 7 },
    ]);
    const uneven = packet(2, 0, [block('b', T.BLOB | (T.ARRAY << 16), 15, 2, '01'.repeat(15)), block('n', T.BYTE, 1, 0, '07')]);
    expectFail(decodeWdsc(hex(uneven)));
  });

  it('#24: when both readings fit, the product (literal) reading wins', () => {
    // BLOB[] Value-Length 4, Array-Size 2: 4 bytes then 12 of padding; the product reading takes 8 of them.
    const blobs = packet(2, 0, [block('b', T.BLOB | (T.ARRAY << 16), 4, 2, '01020304')]);
    expect(expectOk(decodeWdsc(hex(blobs))).variables).toEqual([{ name: 'b', type: 'BLOB[]', value: [hex('01020304'), hex('00000000')] }]);
    // Strings: a slot must hold its terminator and only nulls after it, so "a\0b\0" in one 4-byte slot is reading (b).
    const strs = packet(2, 0, [block('s', T.STRING | (T.ARRAY << 16), 4, 2, '61006200')]);
    expect(expectOk(decodeWdsc(hex(strs))).variables).toEqual([{ name: 's', type: 'STRING[]', value: ['a', 'b'] }]);
    const slots = packet(2, 0, [block('s', T.STRING | (T.ARRAY << 16), 2, 2, '61006200')]);
    expect(expectOk(decodeWdsc(hex(slots))).variables).toEqual([{ name: 's', type: 'STRING[]', value: ['a', 'b'] }]);
  });

  it('a block with an empty Variable-Name is bad-value (what a misplaced block looks like)', () => {
    expectFail(decodeWdsc(hex(packet(2, 0, [block('', T.BYTE, 1, 0, '01')]))), 'bad-value');
  });

  it('#24: Array-Size 0 with the ARRAY modifier is an empty array', () => {
    const v = packet(2, 0, [block('e', T.ULONG | (T.ARRAY << 16), 4, 0, '')]);
    expect(expectOk(decodeWdsc(hex(v))).variables).toEqual([{ name: 'e', type: 'ULONG[]', value: [] }]);
  });

  it('#25: a numeric type in another width (1..8 bytes) is read; beyond the type range is bad-value; Array-Size ignored', () => {
    const wide = packet(2, 0, [block('p', T.ULONG, 8, 0, '84fa000000000000')]);
    expect(expectOk(decodeWdsc(hex(wide))).variables).toEqual([{ name: 'p', type: 'ULONG', value: 0xfa84 }]);
    const narrow = packet(2, 0, [block('p', T.ULONG64, 2, 0, '84fa')]);
    expect(expectOk(decodeWdsc(hex(narrow))).variables).toEqual([{ name: 'p', type: 'ULONG64', value: 0xfa84n }]);
    expectFail(decodeWdsc(hex(packet(2, 0, [block('p', T.USHORT, 4, 0, '00000100')]))), 'bad-value');
    expectFail(decodeWdsc(hex(packet(2, 0, [block('p', T.ULONG, 0, 0, '')]))), 'bad-length');
    expectFail(decodeWdsc(hex(packet(2, 0, [block('p', T.ULONG, 9, 0, '00'.repeat(9))]))), 'bad-length');
    const arraySize = packet(2, 0, [block('p', T.ULONG, 4, 7, '01000000')]);
    expect(expectOk(decodeWdsc(hex(arraySize))).variables).toEqual([{ name: 'p', type: 'ULONG', value: 1 }]);
  });

  it('#25: strings without their terminator, STRING as 8-bit characters, an unknown base type kept raw', () => {
    const v = packet(2, 0, [block('w', T.WSTRING, 4, 0, utf16('ab', false)), block('s', T.STRING, 2, 0, 'e9ff'), block('x', 0x0080, 3, 0, 'aabbcc')]);
    expect(expectOk(decodeWdsc(hex(v))).variables).toEqual([
      { name: 'w', type: 'WSTRING', value: 'ab' },
      { name: 's', type: 'STRING', value: '\u00e9\u00ff' },
      { name: 'x', type: 'unknown', typeId: 0x80, value: hex('aabbcc') },
    ]);
  });

  it('#26: the last block may end without its Padding_end (Packet-Size fields still agree)', () => {
    const v = packet(2, 0, [block('a', T.BYTE, 1, 0, '01'), block('b', T.ULONG, 4, 0, '02000000', false)]);
    expect(hex(v).length).toBe(56 + 96 + 84);
    expect(expectOk(decodeWdsc(hex(v))).variables).toEqual([
      { name: 'a', type: 'BYTE', value: 1 },
      { name: 'b', type: 'ULONG', value: 2 },
    ]);
    // Not for a block that is not the last: then the next block starts in the wrong place.
    const mid = packet(2, 0, [block('a', T.BYTE, 1, 0, '01', false), block('b', T.ULONG, 4, 0, '02000000')]);
    expect(decodeWdsc(hex(mid)).ok).toBe(false);
  });

  it('#27: the endpoint GUID matches in MS-DTYP order and in RFC 4122 order', () => {
    const dtyp = expectOk(decodeWdsc(hex(LITERAL)));
    expect(dtyp.endpoint).toBe(MSI);
    expect(isEndpoint(dtyp, MSI)).toBe(true);
    const rfc = expectOk(decodeWdsc(hex(packet(1, 6, [], '6f13a31736874b5481a5504daa9062fa'))));
    expect(rfc.endpoint).toBe('17a3136f-8736-544b-81a5-504daa9062fa');
    expect(isEndpoint(rfc, MSI)).toBe(true);
    expect(isEndpoint(rfc, '1a927394-352e-4553-ae3f-7cf4aafca620')).toBe(false);
  });

  it('#28: an exact repeat of a variable (MS-WDSMSI 4.1 lists SymKey twice) is kept once; a conflicting one is bad-value', () => {
    const key = '0802000003660000180000002f15f82ae0683ef79e6d62a70bdc519d2a3246e0fdb354e9';
    const twice = packet(2, 0, [block('SymKey', T.BLOB, 36, 0, key), block('SymKey', T.BLOB, 36, 0, key)]);
    expect(expectOk(decodeWdsc(hex(twice))).variables).toEqual([{ name: 'SymKey', type: 'BLOB', value: hex(key) }]);
    const conflict = packet(2, 0, [block('SymKey', T.BLOB, 36, 0, key), block('symkey', T.BLOB, 1, 0, '00')]);
    expectFail(decodeWdsc(hex(conflict)), 'bad-value');
  });

  it('Packet-Type is not validated (MS-WDSC note <1>)', () => {
    expect(expectOk(decodeWdsc(hex(packet(7, 0, [])))).packetType).toBe(7);
  });
});

describe('typed errors', () => {
  const VALID = [LITERAL, packet(2, 0, TYPES.map(([, b]) => b)), packet(2, 5, [])];

  it('every prefix of a valid packet is a typed error', () => {
    for (const v of VALID) {
      const b = hex(v);
      for (let n = 0; n < b.length; n++) expectFail(decodeWdsc(b.subarray(0, n)));
    }
  });

  it('a byte appended is trailing', () => {
    for (const v of VALID) expectFail(decodeWdsc(Buffer.concat([hex(v), hex('00')])), 'trailing');
  });

  it('Version other than 0x0100 in either header is bad-magic', () => {
    const a = hex(LITERAL);
    a.writeUInt16LE(0x0001, 2);
    expectFail(decodeWdsc(a), 'bad-magic');
    const b = hex(LITERAL);
    b.writeUInt16LE(0x0200, 44);
    expectFail(decodeWdsc(b), 'bad-magic');
  });

  it('Packet-Size fields that disagree with the bytes', () => {
    const big = hex(LITERAL);
    big.writeUInt32LE(153, 4);
    expectFail(decodeWdsc(big), 'truncated');
    const op = hex(LITERAL);
    op.writeUInt32LE(111, 40);
    expectFail(decodeWdsc(op), 'bad-length');
  });

  it('Variable-Count above the bytes present is bad-count; below is trailing', () => {
    expectFail(decodeWdsc(hex(packet(1, 6, [block('Cap', T.ULONG, 4, 0, '03000000')], MSI_GUID_HEX, 2))), 'bad-count');
    expectFail(decodeWdsc(hex(packet(1, 6, [block('a', T.BYTE, 1, 0, '01'), block('b', T.BYTE, 1, 0, '02')], MSI_GUID_HEX, 1))), 'trailing');
    expectFail(decodeWdsc(hex(packet(1, 6, [], MSI_GUID_HEX, 0xffffffff))), 'bad-count');
  });

  it('a Value-Length beyond the packet is bad-length', () => {
    expectFail(decodeWdsc(hex(packet(2, 0, [block('b', T.BLOB, 1000, 0, '01')]))), 'bad-length');
    expectFail(decodeWdsc(hex(packet(2, 0, [block('b', T.ULONG | (T.ARRAY << 16), 4, 0x40000000, '01000000')]))), 'bad-length');
  });
});

describe('hostile counts', () => {
  it('an array with Value-Length 0 and a huge Array-Size is a typed error, not billions of empty elements', () => {
    // Found by the fuzz suite: the worker ran out of heap building 2^32 empty BLOB elements.
    for (const type of [T.BLOB | T.ARRAY, T.BYTE | T.ARRAY, T.WSTRING | T.ARRAY])
      expectFail(decodeWdsc(hex(packet(1, 6, [block('a', type, 0, 0xffffffff, '')]))), 'bad-count');
  });

  it('protocol-notes #108: at most 65,536 array elements per packet, whatever their size (each costs heap, a BLOB hundreds of bytes)', () => {
    // Before, only Array-Size > the packet's length was refused: 4M empty BLOBs in a 4 MB reply cost 1.6 GB of heap,
    // and a 16 MiB reply (the RPC client's cap) would run the heap out.
    const n = 200_000;
    const d = decodeWdsc(hex(packet(1, 6, [block('a', T.BLOB | T.ARRAY, 0, n, '00'.repeat(n))])));
    expect(expectFail(d, 'bad-count').message).toMatch(/Array-Size 200000 takes the packet past 65536 array elements/);
    // the budget is per packet: two arrays of 40,000 one-byte elements are too many together
    const two = [block('a', T.BYTE | T.ARRAY, 1, 40_000, '01'.repeat(40_000)), block('b', T.BYTE | T.ARRAY, 1, 40_000, '02'.repeat(40_000))];
    expectFail(decodeWdsc(hex(packet(1, 6, two))), 'bad-count');
    // an empty array, an array of empty BLOBs and 65,536 one-byte elements are still read
    expect(expectOk(decodeWdsc(hex(packet(1, 6, [block('a', T.BLOB | T.ARRAY, 0, 0, '')])))).variables).toHaveLength(1);
    expect(expectOk(decodeWdsc(hex(packet(1, 6, [block('a', T.BLOB | T.ARRAY, 0, 3, '')])))).variables[0]).toMatchObject({ value: [Buffer.alloc(0), Buffer.alloc(0), Buffer.alloc(0)] });
    const max = expectOk(decodeWdsc(hex(packet(1, 6, [block('a', T.BYTE | T.ARRAY, 1, 65_536, '07'.repeat(65_536))])))).variables[0]!;
    expect((max as { value: number[] }).value).toHaveLength(65_536);
  });
});
