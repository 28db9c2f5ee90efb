/**
 * MS-WDSMA 2.2: hand-written vectors for SRVCIR, CNTCIR, DATA and PROGRESS, protocol-notes #9 (Packet-Size with
 * and without the 3-byte header), the typed errors, and the receiver's hot-path DATA parser peekData.
 * Header (2.2.1): Packet-Size(2) OpCode(1), network byte order.
 */
import { describe, expect, it } from 'vitest';
import { DATA_HEADER_LEN, MaOp, MaPacket, decodeMa, encodeMa, peekData, writeDataHeader } from '../../../core/codec/ma';
import { expectFail, expectOk, hex, toHex } from './helpers';

interface Vector {
  name: string;
  /** Packet-Size counting the header (the literal "total length", what osdcast sends). */
  wire: string;
  /** The same packet with Packet-Size not counting the header. */
  wireExcl: string;
  packet: MaPacket;
}

const VECTORS: Vector[] = [
  {
    name: 'SRVCIR (2.2.2)',
    wire: '0003' + '01', // Packet-Size 3, OpCode SRV_CIR; no other fields
    wireExcl: '0000' + '01', // Packet-Size 0
    packet: { op: MaOp.SRVCIR },
  },
  {
    name: 'CNTCIR (2.2.3) with one range',
    wire:
      '001a' + '02' + // Packet-Size 26, OpCode CNT_CIR
      '4b' + // Progress 75 %
      '0000003c' + // TimeInSession 60 s
      '0001' + // RangeCount 1
      '0000000000000010' + '000000000000001f', // StartBlockNo 16, EndBlockNo 31
    wireExcl: '0017' + '02' + '4b' + '0000003c' + '0001' + '0000000000000010' + '000000000000001f', // Packet-Size 23
    packet: { op: MaOp.CNTCIR, progress: 75, timeInSession: 60, ranges: [[16, 31]] },
  },
  {
    name: 'CNTCIR (2.2.3) with no range (nothing missing)',
    wire:
      '000a' + '02' + // Packet-Size 10, CNT_CIR
      '64' + // Progress 100 %
      '00000078' + // TimeInSession 120 s
      '0000', // RangeCount 0
    wireExcl: '0007' + '02' + '64' + '00000078' + '0000',
    packet: { op: MaOp.CNTCIR, progress: 100, timeInSession: 120, ranges: [] },
  },
  {
    name: 'DATA (2.2.4)',
    wire:
      '0011' + '03' + // Packet-Size 17, OpCode SRV_DATA
      '0000000000000005' + // BlockNumber 5
      '0004' + // DataLen 4
      'deadbeef', // Data
    wireExcl: '000e' + '03' + '0000000000000005' + '0004' + 'deadbeef', // Packet-Size 14
    packet: { op: MaOp.DATA, blockNumber: 5, data: hex('deadbeef') },
  },
  {
    name: 'DATA (2.2.4) with an empty payload and a block number above 2^32',
    wire: '000d' + '03' + '0000000100000002' + '0000', // Packet-Size 13, DATA, BlockNumber 2^32 + 2, DataLen 0
    wireExcl: '000a' + '03' + '0000000100000002' + '0000',
    packet: { op: MaOp.DATA, blockNumber: 2 ** 32 + 2, data: Buffer.alloc(0) },
  },
  {
    name: 'PROGRESS (2.2.5)',
    wire:
      '0008' + '04' + // Packet-Size 8, OpCode CNT_PROGRESS
      '0000003c' + // TimeInSession 60 s
      '32', // Progress 50 %
    wireExcl: '0005' + '04' + '0000003c' + '32',
    packet: { op: MaOp.PROGRESS, timeInSession: 60, progress: 50 },
  },
];

describe('MA vectors written from the field tables', () => {
  it('covers all four opcodes', () => {
    expect(new Set(VECTORS.map((v) => v.packet.op))).toEqual(new Set(Object.values(MaOp)));
  });

  for (const v of VECTORS) {
    describe(v.name, () => {
      const wire = hex(v.wire);

      it('decodes to the fields of the table', () => {
        expect(expectOk(decodeMa(wire))).toEqual(v.packet);
      });

      it('encodes to exactly the vector', () => {
        expect(toHex(encodeMa(v.packet))).toBe(v.wire);
      });

      it('protocol-notes #9: Packet-Size not counting the header decodes the same', () => {
        expect(hex(v.wireExcl).readUInt16BE(0)).toBe(wire.length - 3);
        expect(expectOk(decodeMa(hex(v.wireExcl)))).toEqual(v.packet);
      });

      it('every proper prefix, in both Packet-Size forms, is a typed error', () => {
        for (const w of [wire, hex(v.wireExcl)]) {
          // No prefix is valid: Packet-Size must be n or n - 3; for the counting form that is never a prefix
          // length; for the other it is n = length - 3, which leaves the body 3 bytes short.
          for (let n = 0; n < w.length; n++) expectFail(decodeMa(Buffer.from(w.subarray(0, n))));
        }
      });

      it('a Packet-Size that is neither form is bad-length', () => {
        for (const size of [wire.length - 4, wire.length - 2, wire.length - 1, wire.length + 1, wire.length + 3, 0xffff]) {
          if (size < 0 || size === wire.length - 3) continue;
          const w = Buffer.from(wire);
          w.writeUInt16BE(size, 0);
          expectFail(decodeMa(w), 'bad-length');
        }
      });
    });
  }
});

describe('MA typed errors', () => {
  it('fewer than 3 bytes is truncated', () => {
    expectFail(decodeMa(Buffer.alloc(0)), 'truncated');
    expectFail(decodeMa(hex('00')), 'truncated');
    expectFail(decodeMa(hex('0003')), 'truncated');
  });

  it('unknown opcodes', () => {
    for (const op of ['00', '05', 'ff']) expectFail(decodeMa(hex('0003' + op)), 'unknown-opcode');
  });

  it('trailing bytes: 3 extra bytes make the counting Packet-Size look like the other form', () => {
    expectFail(decodeMa(hex('0008' + '04' + '0000003c' + '32' + 'aabbcc')), 'trailing');
    expectFail(decodeMa(hex('0003' + '01' + '000000')), 'trailing');
  });

  it('CNTCIR RangeCount larger or smaller than the ranges present', () => {
    const cntcir = (count: string, ranges: string) => {
      const body = '02' + '4b' + '0000003c' + count + ranges;
      return hex((body.length / 2 + 2).toString(16).padStart(4, '0') + body); // Packet-Size counting the header
    };
    const r1 = '0000000000000010' + '000000000000001f';
    expectFail(decodeMa(cntcir('0002', r1)), 'bad-count');
    expectFail(decodeMa(cntcir('0000', r1)), 'bad-count');
    expectFail(decodeMa(cntcir('ffff', r1)), 'bad-count');
    expectFail(decodeMa(cntcir('0001', r1 + '00')), 'bad-count');
    expect(expectOk(decodeMa(cntcir('0002', r1 + r1)))).toMatchObject({ ranges: [[16, 31], [16, 31]] });
  });

  it('CNTCIR range that ends before it starts is bad-value; a one-block range is fine', () => {
    expectFail(decodeMa(hex('001a' + '02' + '4b' + '0000003c' + '0001' + '000000000000001f' + '0000000000000010')), 'bad-value');
    expect(expectOk(decodeMa(hex('001a' + '02' + '4b' + '0000003c' + '0001' + '0000000000000010' + '0000000000000010')))).toMatchObject({ ranges: [[16, 16]] });
  });

  it('CNTCIR: the encoder sends at most 64 ranges (2.2.3); the decoder accepts more', () => {
    const ranges: [number, number][] = Array.from({ length: 70 }, (_, i) => [i * 2 + 1, i * 2 + 1]);
    const wire = encodeMa({ op: MaOp.CNTCIR, progress: 0, timeInSession: 0, ranges });
    expect(wire.length).toBe(3 + 7 + 64 * 16);
    expect(expectOk(decodeMa(wire))).toMatchObject({ ranges: ranges.slice(0, 64) });
    const body = '02' + '00' + '00000000' + '0046' + ranges.map(([s, e]) => s.toString(16).padStart(16, '0') + e.toString(16).padStart(16, '0')).join('');
    expect(expectOk(decodeMa(hex((body.length / 2 + 2).toString(16).padStart(4, '0') + body)))).toMatchObject({ ranges });
  });

  it('DATA: DataLen past the end is truncated, short of the end is trailing', () => {
    expectFail(decodeMa(hex('0011' + '03' + '0000000000000005' + '0005' + 'deadbeef')), 'truncated');
    expectFail(decodeMa(hex('0011' + '03' + '0000000000000005' + '0003' + 'deadbeef')), 'trailing');
  });

  it('BlockNumber at or above 2^53 is bad-value', () => {
    expect(expectOk(decodeMa(hex('000d' + '03' + '001fffffffffffff' + '0000')))).toMatchObject({ blockNumber: Number.MAX_SAFE_INTEGER });
    expectFail(decodeMa(hex('000d' + '03' + '0020000000000000' + '0000')), 'bad-value');
  });

  it('PROGRESS and SRVCIR of the wrong size', () => {
    expectFail(decodeMa(hex('0007' + '04' + '0000003c')), 'truncated');
    expectFail(decodeMa(hex('0004' + '01' + '00')), 'trailing');
  });
});

describe('writeDataHeader (coordinator, in place)', () => {
  it('writes the same bytes as the DATA vector', () => {
    const buf = Buffer.alloc(4 + 17, 0xee);
    hex('deadbeef').copy(buf, 4 + DATA_HEADER_LEN);
    writeDataHeader(buf, 4, 5, 4);
    expect(toHex(buf.subarray(4))).toBe('0011' + '03' + '0000000000000005' + '0004' + 'deadbeef');
    expect(toHex(buf.subarray(0, 4))).toBe('eeeeeeee');
  });

  it('block numbers above 2^32', () => {
    const buf = Buffer.alloc(DATA_HEADER_LEN);
    writeDataHeader(buf, 0, 2 ** 32 + 2, 0);
    expect(toHex(buf)).toBe('000d' + '03' + '0000000100000002' + '0000');
  });
});

describe('peekData (receiver hot path)', () => {
  const out = () => ({ dataStart: -1, dataLen: -1 });

  it('reads the DATA vector in both Packet-Size forms', () => {
    for (const w of ['0011' + '03' + '0000000000000005' + '0004' + 'deadbeef', '000e' + '03' + '0000000000000005' + '0004' + 'deadbeef']) {
      const o = out();
      expect(peekData(hex(w), o)).toBe(5);
      expect(o).toEqual({ dataStart: 13, dataLen: 4 });
    }
  });

  it('negative for malformed input, like decodeMa', () => {
    expect(peekData(hex('0011' + '03' + '00000000000000'), out())).toBeLessThan(0); // shorter than a header
    expect(peekData(hex('0012' + '03' + '0000000000000005' + '0004' + 'deadbeef'), out())).toBeLessThan(0); // Packet-Size
    expect(peekData(hex('0011' + '04' + '0000000000000005' + '0004' + 'deadbeef'), out())).toBeLessThan(0); // opcode
    expect(peekData(hex('0011' + '03' + '0020000000000005' + '0004' + 'deadbeef'), out())).toBeLessThan(0); // >= 2^53
    expect(peekData(hex('0011' + '03' + '0000000000000005' + '0003' + 'deadbeef'), out())).toBeLessThan(0); // DataLen
  });
});
