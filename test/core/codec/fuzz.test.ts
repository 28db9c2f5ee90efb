/**
 * Property tests (fast-check) for the three codecs:
 *  (a) arbitrary bytes never make a decoder throw, and the result is {ok:true} or {ok:false} with a known code;
 *  (b) arbitrary valid packets round-trip encode -> decode -> deep-equal;
 *  (c) mutated valid packets never make a decoder throw; under CHECKSUM a one-byte change after the fixed part of
 *      the security header is always reported as 'checksum';
 *  (d) peekData agrees with decodeMa on arbitrary input;
 *  (e) HASH and SIGN (keyed decodes): arbitrary bytes never throw, sealed packets round-trip, and any one-byte
 *      change after the fixed part of the security header is 'unauthenticated';
 *  (f) the receiver's hot path: the wide-read checksum equals the spec's byte sum, and peekMtData takes exactly
 *      the ODATA/RDATA of our session that decodeMt accepts, with the same fields.
 */
import { generateKeyPairSync } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MaOp, decodeMa, encodeMa, peekData } from '../../../core/codec/ma';
import { decodeMsi, encodeMsiError, encodeMsiReply, encodeMsiRequest } from '../../../core/codec/msi';
import { checksumBytes, checksumSimd, checksumUsesSimd, checksumWide } from '../../../core/codec/checksum';
import { MtOpt, MtOption, MtPacket, Op, Peek, Sec, SecMode, checksum, decodeMt, encodeMt, encodeMtData, findOption, peekMtData } from '../../../core/codec/mt';
import { HmacAuth, PacketAuth, RsaAuth } from '../../../core/codec/mt-security';
import { expectFail, expectOk, isWellFormedResult, specChecksum, withChecksum } from './helpers';
import { bytes, mutate, mutation, u16, u32, u53, u8 } from '../../fuzz/arbitraries/common';
import { anyEncoded, encodeCase, expectedPacket, maPacket, msiError, msiReply, msiRequest, mtCase, mtOption } from '../../fuzz/arbitraries/codec';

const RUNS = { numRuns: 400 };

// Arbitraries: test/fuzz/arbitraries/codec.ts (shared with the fuzz target table).
function decodeAll(buf: Buffer): unknown[] {
  return [decodeMt(buf), decodeMt(buf, { from: 'client' }), decodeMt(buf, { from: 'server' }), decodeMa(buf), decodeMsi(buf)];
}

// ---------------------------------------------------------------------------------------------------------------
// (a) arbitrary bytes
// ---------------------------------------------------------------------------------------------------------------
describe('(a) arbitrary bytes never throw and give a well-formed result', () => {
  it('uniform random bytes', () => {
    fc.assert(
      fc.property(bytes(300), (buf) => {
        for (const r of decodeAll(buf)) expect(isWellFormedResult(r)).toBe(true);
      }),
      { numRuns: 1000 },
    );
  });

  it('random MT bodies behind a valid security header (NONE, or CHECKSUM with a correct checksum)', () => {
    fc.assert(
      fc.property(fc.constantFrom(0x00, 0x03), u32, fc.oneof({ arbitrary: fc.integer({ min: 1, max: 0x0f }), weight: 4 }, { arbitrary: u8, weight: 1 }), bytes(8, 8), bytes(150), (sec, sessionId, op, time, rest) => {
        const head = Buffer.alloc(sec === 0x03 ? 9 : 5);
        head.write('WD', 0, 'latin1');
        head[2] = sec;
        head.writeUInt16BE(sec === 0x03 ? 4 : 0, 3);
        const session = Buffer.alloc(5);
        session.writeUInt32BE(sessionId, 0);
        session[4] = op;
        let buf: Buffer = Buffer.concat([head, session, time, rest]);
        if (sec === 0x03) buf = withChecksum(buf);
        for (const from of [undefined, 'client', 'server'] as const) {
          const r = decodeMt(buf, { from });
          expect(isWellFormedResult(r)).toBe(true);
          if (!r.ok) expect(r.error.code).not.toBe('checksum');
        }
      }),
      { numRuns: 1000 },
    );
  });

  it('random MA bodies behind a Packet-Size that matches (either form)', () => {
    fc.assert(
      fc.property(fc.boolean(), fc.integer({ min: 0, max: 6 }), bytes(120), (counting, op, rest) => {
        const buf = Buffer.concat([Buffer.from([0, 0, op]), rest]);
        buf.writeUInt16BE(counting ? buf.length : buf.length - 3, 0);
        const r = decodeMa(buf);
        expect(isWellFormedResult(r)).toBe(true);
        if (!r.ok) expect(r.error.code).not.toBe('bad-length');
      }),
      { numRuns: 1000 },
    );
  });

  it('random MSI option lists (well-formed framing, random ids and values)', () => {
    const ids = fc.oneof(u16, fc.constantFrom(0x010d, 0x0205, 0x0206, 0x0309, 0x030a, 0x030b, 0x0407, 0x0408, 0x0503, 0x0504, 0x050c, 0x0601, 0x0602));
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 4 }), fc.array(fc.tuple(ids, bytes(18)), { maxLength: 12 }), (op, opts) => {
        const parts = [Buffer.from([op, opts.length >> 8, opts.length & 0xff])];
        for (const [id, v] of opts) parts.push(Buffer.from([id >> 8, id & 0xff, v.length >> 8, v.length & 0xff]), v);
        const r = decodeMsi(Buffer.concat(parts));
        expect(isWellFormedResult(r)).toBe(true);
        if (!r.ok) expect(['truncated', 'bad-count', 'trailing']).not.toContain(r.error.code);
      }),
      { numRuns: 1000 },
    );
  });
});

// ---------------------------------------------------------------------------------------------------------------
// (b) round trips
// ---------------------------------------------------------------------------------------------------------------
describe('(b) valid packets round-trip encode -> decode', () => {
  it('MT: every body type, NONE and CHECKSUM, with and without options and OptionsCount', () => {
    fc.assert(
      fc.property(mtCase, (c) => {
        const wire = encodeCase(c);
        if (c.secMode === Sec.CHECKSUM) expect(wire.readUInt32BE(5)).toBe(specChecksum(wire));
        const from = c.body.op === Op.POLLACK ? 'client' : c.body.op === Op.POLL ? 'server' : undefined;
        expect(expectOk(decodeMt(wire, { from }))).toEqual(expectedPacket(c));
      }),
      { numRuns: 1000 },
    );
  });

  it('MT: a POLLACK re-labelled 0x0C decodes from a client as the same POLLACK', () => {
    fc.assert(
      fc.property(mtCase.filter((c) => c.body.op === Op.POLLACK), (c) => {
        const wire = Buffer.from(encodeCase(c));
        wire[c.secMode === Sec.CHECKSUM ? 9 + 4 : 5 + 4] = 0x0c;
        const fixed = c.secMode === Sec.CHECKSUM ? withChecksum(wire) : wire;
        expect(expectOk(decodeMt(fixed, { from: 'client' }))).toEqual({ ...expectedPacket(c), rawOpcode: 0x0c });
      }),
      { numRuns: 100 },
    );
  });

  it('MA: every packet type, Packet-Size in both forms', () => {
    fc.assert(
      fc.property(maPacket, (p) => {
        const wire = encodeMa(p);
        expect(wire.readUInt16BE(0)).toBe(wire.length);
        expect(expectOk(decodeMa(wire))).toEqual(p);
        const excl = Buffer.from(wire);
        excl.writeUInt16BE(wire.length - 3, 0);
        expect(expectOk(decodeMa(excl))).toEqual(p);
      }),
      RUNS,
    );
  });

  it('MSI request', () => {
    fc.assert(
      fc.property(msiRequest, (r) => {
        expect(expectOk(decodeMsi(encodeMsiRequest(r)))).toEqual({ kind: 'request', ...r });
      }),
      RUNS,
    );
  });

  it('MSI reply (IPv4 and IPv6, TotalBlocks consistent)', () => {
    fc.assert(
      fc.property(msiReply, (r) => {
        expect(expectOk(decodeMsi(encodeMsiReply(r)))).toEqual({ kind: 'reply', ...r });
      }),
      RUNS,
    );
  });

  it('decoding does not depend on where the bytes sit in memory (views at odd offsets into a larger buffer)', () => {
    fc.assert(
      fc.property(anyEncoded, fc.integer({ min: 1, max: 7 }), bytes(7), ({ proto, wire }, offset, junk) => {
        const big = Buffer.concat([Buffer.alloc(offset, 0xa5), wire, junk]);
        const view = big.subarray(offset, offset + wire.length);
        const dec = proto === 'mt' ? (b: Buffer) => decodeMt(b, { from: 'client' }) : proto === 'ma' ? decodeMa : decodeMsi;
        expect(dec(view)).toEqual(dec(Buffer.from(wire)));
      }),
      RUNS,
    );
  });

  it('MSI error, any opcode', () => {
    fc.assert(
      fc.property(msiError, (e) => {
        expect(expectOk(decodeMsi(encodeMsiError(e.win32, e.opcode)))).toEqual({ kind: 'error', ...e });
      }),
      RUNS,
    );
  });
});

// ---------------------------------------------------------------------------------------------------------------
// (c) mutations
// ---------------------------------------------------------------------------------------------------------------
describe('(c) mutated valid packets', () => {
  it('never throw, in any decoder, and give a well-formed result', () => {
    fc.assert(
      fc.property(anyEncoded, fc.array(mutation, { minLength: 1, maxLength: 3 }), ({ wire }, ms) => {
        const b = ms.reduce(mutate, wire);
        for (const r of decodeAll(b)) expect(isWellFormedResult(r)).toBe(true);
      }),
      { numRuns: 1000 },
    );
  });

  /*
   * CHECKSUM (MS-WDSMT 2.2.2.3) with a single changed byte at offset >= 5 (SecurityData or later):
   *  - offsets 5..8 change the stored checksum, which then differs from the computed one;
   *  - offsets >= 9 change the byte sum by d = new - old, with 0 < |d| <= 255. The sum of a UDP datagram is at
   *    most 65507 x 255 < 2^24, so it never wraps modulo 2^32: the sum, hence its NOT, always changes.
   * "Unless the change leaves the sum equal" therefore never happens with one byte; it needs at least two
   * changes that cancel out (shown in mt.test.ts). Offsets 0..4 (Identifier, type, SecurityDataLen) are the
   * header the checksum does not cover and give other errors.
   */
  it('CHECKSUM: any one-byte change at offset >= 5 is reported as checksum', () => {
    fc.assert(
      fc.property(
        mtCase.map((c) => ({ ...c, secMode: Sec.CHECKSUM })),
        fc.nat(),
        fc.integer({ min: 1, max: 255 }),
        (c, p, d) => {
          const wire = encodeCase(c);
          const b = Buffer.from(wire);
          const pos = 5 + (p % (b.length - 5));
          b[pos] = (b[pos]! + d) & 0xff; // always a different value
          expectFail(decodeMt(b), 'checksum');
        },
      ),
      { numRuns: 1000 },
    );
  });

  it('CHECKSUM: a bit flip at offset >= 5 is reported as checksum', () => {
    fc.assert(
      fc.property(mtCase.map((c) => ({ ...c, secMode: Sec.CHECKSUM })), fc.nat(), fc.integer({ min: 0, max: 7 }), (c, p, bit) => {
        const b = Buffer.from(encodeCase(c));
        const pos = 5 + (p % (b.length - 5));
        b[pos] = b[pos]! ^ (1 << bit);
        expectFail(decodeMt(b), 'checksum');
      }),
      RUNS,
    );
  });

  /*
   * Truncation under CHECKSUM removes bytes from the sum: it is caught by the checksum unless every removed byte
   * is zero (e.g. an empty OptionsCount, or zero padding at the end of a payload). Then the shorter packet is
   * either the valid "no Extended Options" form (protocol-notes #2) or a length error.
   */
  it('CHECKSUM: truncation is caught by the checksum unless only zero bytes were removed', () => {
    fc.assert(
      fc.property(mtCase.map((c) => ({ ...c, secMode: Sec.CHECKSUM })), fc.nat(), (c, n) => {
        const wire = encodeCase(c);
        const len = 9 + 13 + (n % (wire.length - 9 - 13)); // keep a whole session header
        const r = decodeMt(wire.subarray(0, len), { from: c.body.op === Op.POLLACK ? 'client' : undefined });
        const removedZero = wire.subarray(len).every((x) => x === 0);
        if (!removedZero) expectFail(r, 'checksum');
        else if (r.ok) {
          expect(r.value.body).toEqual(c.body);
          expect(r.value.optionsPresent).toBe(false);
        } else expect(['truncated', 'bad-count', 'bad-length']).toContain(r.error.code);
      }),
      RUNS,
    );
  });
});

// ---------------------------------------------------------------------------------------------------------------
// (d) peekData agrees with decodeMa
// ---------------------------------------------------------------------------------------------------------------
function agree(buf: Buffer): void {
  const out = { dataStart: -1, dataLen: -1 };
  const n = peekData(buf, out);
  const d = decodeMa(buf);
  if (d.ok && d.value.op === MaOp.DATA) {
    expect(n).toBe(d.value.blockNumber);
    expect(buf.subarray(out.dataStart, out.dataStart + out.dataLen)).toEqual(d.value.data);
  } else {
    expect(n).toBeLessThan(0);
  }
}

describe('(d) peekData agrees with decodeMa', () => {
  it('on arbitrary bytes', () => {
    fc.assert(fc.property(bytes(64), (b) => agree(b)), { numRuns: 1000 });
  });

  it('on DATA-shaped input (random Packet-Size form, opcode, block number high word, DataLen)', () => {
    fc.assert(
      fc.property(
        fc.constantFrom('counting', 'excluding', 'random'),
        fc.constantFrom(1, 2, 3, 3, 3, 4, 5),
        fc.oneof(fc.integer({ min: 0, max: 0x1fffff }), fc.integer({ min: 0x1ffffe, max: 0x200001 }), u32),
        u32,
        fc.integer({ min: -3, max: 3 }),
        bytes(40),
        u16,
        (sizeForm, op, hi, lo, lenDelta, payload, randomSize) => {
          const b = Buffer.alloc(13 + payload.length);
          b[2] = op;
          b.writeUInt32BE(hi, 3);
          b.writeUInt32BE(lo, 7);
          b.writeUInt16BE(Math.max(0, payload.length + lenDelta), 11);
          payload.copy(b, 13);
          b.writeUInt16BE(sizeForm === 'counting' ? b.length : sizeForm === 'excluding' ? b.length - 3 : randomSize, 0);
          agree(b);
        },
      ),
      { numRuns: 1000 },
    );
  });

  it('on mutated valid DATA packets', () => {
    fc.assert(
      fc.property(fc.record({ op: fc.constant(MaOp.DATA), blockNumber: u53, data: bytes(60) }), fc.array(mutation, { maxLength: 2 }), (p, ms) => {
        agree(ms.reduce(mutate, encodeMa(p)));
      }),
      { numRuns: 1000 },
    );
  });
});

// ---------------------------------------------------------------------------------------------------------------
// (e) HASH and SIGN
// ---------------------------------------------------------------------------------------------------------------
describe('(e) HASH and SIGN security headers', () => {
  const hmac = new HmacAuth(Buffer.alloc(24, 0x2f), 'sha256');
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 1024 });
  const signer = new RsaAuth(privateKey, 'sha256');
  const verifier = new RsaAuth(publicKey, 'sha256');
  const keyed: [string, PacketAuth, PacketAuth, number][] = [
    ['HASH', hmac, hmac, 300],
    ['SIGN', signer, verifier, 60],
  ];
  const decodeKeyed = (buf: Buffer) => [decodeMt(buf, { auth: hmac }), decodeMt(buf, { from: 'client', auth: hmac }), decodeMt(buf, { from: 'server', auth: verifier })];

  it('arbitrary bytes, and arbitrary bodies behind a HASH or SIGN header of any length, never throw', () => {
    fc.assert(
      fc.property(bytes(300), (buf) => {
        for (const r of decodeKeyed(buf)) expect(isWellFormedResult(r)).toBe(true);
      }),
      { numRuns: 500 },
    );
    fc.assert(
      fc.property(fc.constantFrom(0x01, 0x02), fc.integer({ min: 0, max: 200 }), bytes(200), (sec, len, rest) => {
        const head = Buffer.alloc(5);
        head.write('WD', 0, 'latin1');
        head[2] = sec;
        head.writeUInt16BE(len, 3);
        for (const r of decodeKeyed(Buffer.concat([head, rest]))) {
          expect(isWellFormedResult(r)).toBe(true);
          if (!r.ok) expect(['truncated', 'unauthenticated', 'unsupported-security']).toContain(r.error.code);
        }
      }),
      RUNS,
    );
  });

  // u64 fields as a sender might pass them: in range mostly, and negative, fractional, beyond 2^53 or 2^64, NaN.
  const anyNumber = fc.oneof(u53, fc.double(), fc.constantFrom(-1, 0.5, 2 ** 53 + 2, 2 ** 64, 2 ** 70, NaN, Infinity));
  it('encodeMtData (the sender hot path) writes the bytes encodeMt writes, for ODATA and RDATA in every mode, Data in any parts', () => {
    const modes: [number, PacketAuth | undefined][] = [[Sec.NONE, undefined], [Sec.CHECKSUM, undefined], [Sec.HASH, hmac], [Sec.SIGN, signer]];
    fc.assert(
      fc.property(
        fc.record({ op: fc.constantFrom(Op.ODATA, Op.RDATA), clientId: u32, seq: anyNumber, trailSeq: anyNumber }),
        bytes(200),
        fc.array(fc.nat(), { maxLength: 3 }),
        fc.record({ sessionId: u32, senderTime: anyNumber, options: fc.array(mtOption, { maxLength: 2 }), emptyOptions: fc.boolean() }),
        fc.nat(3),
        (f, data, cuts, h, m) => {
          const [secMode, auth] = modes[m]!;
          const at = [...new Set(cuts.map((c) => c % (data.length + 1)))].sort((a, b) => a - b);
          const ends = [0, ...at, data.length];
          const parts = ends.slice(1).map((end, i) => data.subarray(ends[i], end));
          const o = { secMode: secMode as SecMode, ...h, auth };
          expect(encodeMtData(f, parts, o).equals(encodeMt({ ...f, data: Buffer.from(data) }, o))).toBe(true);
        },
      ),
      { numRuns: 300 },
    );
  });

  it.each(keyed)('%s: every body type round-trips, and a one-byte change at offset >= 5 is unauthenticated', (_name, seal, check, numRuns) => {
    fc.assert(
      fc.property(mtCase, fc.nat(), fc.integer({ min: 1, max: 255 }), mutation, (c, at, xor, m) => {
        const wire = encodeMt(c.body, { secMode: seal.mode, sessionId: c.sessionId, senderTime: c.senderTime, options: c.options, emptyOptions: c.emptyOptions, auth: seal });
        const from = c.body.op === Op.POLLACK ? 'client' : undefined;
        expect(expectOk(decodeMt(wire, { from, auth: check }))).toEqual({ ...expectedPacket(c), secType: seal.mode });
        const b = Buffer.from(wire);
        const i = 5 + (at % (b.length - 5));
        b[i] ^= xor;
        expectFail(decodeMt(b, { from, auth: check }), 'unauthenticated');
        for (const r of decodeKeyed(mutate(wire, m))) expect(isWellFormedResult(r)).toBe(true);
      }),
      { numRuns },
    );
  });
});

// ---------------------------------------------------------------------------------------------------------------
// (f) the receiver's hot path: checksum's wide reads equal the spec's byte sum; peekMtData agrees with decodeMt
// ---------------------------------------------------------------------------------------------------------------
describe('(f) checksum with wide reads', () => {
  it('equals the spec byte sum for any length, start and buffer alignment (odd lengths and offsets included)', () => {
    fc.assert(
      fc.property(bytes(3000, 9), fc.integer({ min: 0, max: 7 }), fc.boolean(), (body, shift, ones) => {
        if (ones) body.fill(0xff); // the largest lane sums: no carry may cross a lane
        // at a byte offset `shift` inside a larger buffer, so the 4-byte words start unaligned
        const backing = Buffer.alloc(body.length + shift);
        body.copy(backing, shift);
        const pkt = backing.subarray(shift);
        pkt[3] = 0;
        pkt[4] = 4;
        const want = specChecksum(pkt);
        expect(checksum(pkt, 9)).toBe(want);
        expect(checksumBytes(pkt, 9)).toBe(want);
        expect(checksumWide(pkt, 9)).toBe(want);
        expect(checksumSimd(pkt, 9)).toBe(want);
        // a range that ends before the buffer does (the SIMD form copies only what it sums), against the spec's sum
        const end = 9 + Math.floor((pkt.length - 9) / 2);
        const part = Buffer.from(pkt.subarray(0, end));
        expect(checksumSimd(pkt, 9, end)).toBe(specChecksum(part));
      }),
      { numRuns: 600 },
    );
  });

  it('a 64 KiB datagram of 0xff (the largest sum) and the SIMD limits', () => {
    const big = Buffer.alloc(65536, 0xff);
    big[3] = 0;
    big[4] = 4; // SecurityDataLen 4: the sum starts at 9, as in a CHECKSUM packet
    const want = specChecksum(big);
    expect(checksumSimd(big, 9)).toBe(want);
    expect(checksumWide(big, 9)).toBe(want);
    expect(checksum(big, 9)).toBe(want);
    // beyond the module's one page of memory: no SIMD answer, and checksum still right through the JS form
    const over = Buffer.alloc(65537, 0xff);
    over[3] = 0;
    over[4] = 4;
    expect(checksumSimd(over, 9)).toBeUndefined();
    // a negative start (no caller passes one) never reaches the module, which would trap: the JS forms answer
    expect(checksum(big, -1)).toBe(checksumBytes(big, -1));
    expect(checksum(over, 9)).toBe(specChecksum(over));
  });

  it('Node 20 here has WebAssembly SIMD, so the hot path uses it (not silently the JS fallback)', () => {
    expect(checksumUsesSimd).toBe(true);
  });
});

describe('(f) peekMtData agrees with decodeMt', () => {
  const fields = () => ({ op: 0, senderTime: 0, clientId: 0, seq: 0, trailSeq: 0, dataStart: 0, dataLen: 0, fwLead: -1 });
  /** The hot path's answer against the full decoder's, for a client in session `sid` with security `mode`. */
  function agreeMt(buf: Buffer, mode: number, sid: number): number {
    const out = fields();
    const r = peekMtData(buf, mode, sid, out);
    const d = decodeMt(buf, { from: 'server' });
    const ours = d.ok && d.value.secType === mode && d.value.sessionId === sid;
    const data = ours && (d.value.body.op === Op.ODATA || d.value.body.op === Op.RDATA);
    if (r === Peek.DATA) {
      expect(data).toBe(true);
      const p = (d as { value: MtPacket }).value;
      const b = p.body as { op: number; clientId: number; seq: number; trailSeq: number; data: Buffer };
      const fw = findOption(p, MtOpt.ODATA_FW_LEAD_SEQ_NO);
      expect(out).toEqual({
        op: b.op,
        senderTime: p.senderTime,
        clientId: b.clientId,
        seq: b.seq,
        trailSeq: b.trailSeq,
        dataStart: out.dataStart,
        dataLen: b.data.length,
        fwLead: fw === undefined || fw.length !== 8 ? -1 : fw.readUInt32BE(0) * 2 ** 32 + fw.readUInt32BE(4),
      });
      expect(buf.subarray(out.dataStart, out.dataStart + out.dataLen)).toEqual(b.data);
    } else if (r === Peek.WRONG_SESSION) {
      expect(buf.readUInt32BE(5 + buf.readUInt16BE(3))).not.toBe(sid);
      expect(ours).toBe(false);
    } else {
      // OTHER: never a packet the hot path should have taken
      expect(data).toBe(false);
    }
    return r;
  }
  const dataCase = fc.record({
    op: fc.constantFrom(Op.ODATA, Op.RDATA),
    mode: fc.constantFrom(Sec.NONE, Sec.CHECKSUM),
    sid: u32,
    senderTime: u53,
    clientId: u32,
    seq: u53,
    trailSeq: u53,
    data: bytes(1500),
    fw: fc.oneof(fc.constant(undefined), u53, bytes(10)),
    extra: fc.array(mtOption, { maxLength: 2 }),
    emptyOptions: fc.boolean(),
  });
  type DataCase = typeof dataCase extends fc.Arbitrary<infer T> ? T : never;
  const encodeData = (c: DataCase) => {
    const options: MtOption[] = [...c.extra];
    if (typeof c.fw === 'number') {
      const v = Buffer.alloc(8);
      v.writeBigUInt64BE(BigInt(c.fw));
      options.push({ id: MtOpt.ODATA_FW_LEAD_SEQ_NO, value: v });
    } else if (c.fw) options.push({ id: MtOpt.ODATA_FW_LEAD_SEQ_NO, value: c.fw });
    return encodeMt({ op: c.op, clientId: c.clientId, seq: c.seq, trailSeq: c.trailSeq, data: c.data }, { secMode: c.mode, sessionId: c.sid, senderTime: c.senderTime, options, emptyOptions: c.emptyOptions });
  };

  it('valid ODATA/RDATA of our session are read in place, with the same fields', () => {
    fc.assert(
      fc.property(dataCase, (c) => {
        expect(agreeMt(encodeData(c), c.mode, c.sid)).toBe(Peek.DATA);
      }),
      RUNS,
    );
  });

  it('another session is WRONG_SESSION; another security mode goes to the full decoder', () => {
    fc.assert(
      fc.property(dataCase, u32, (c, other) => {
        const wire = encodeData(c);
        if (other !== c.sid) expect(agreeMt(wire, c.mode, other)).toBe(Peek.WRONG_SESSION);
        expect(agreeMt(wire, c.mode === Sec.NONE ? Sec.CHECKSUM : Sec.NONE, c.sid)).toBe(Peek.OTHER);
      }),
      RUNS,
    );
  });

  it('mutated data packets, every other packet and arbitrary bytes never disagree', () => {
    fc.assert(
      fc.property(dataCase, mutation, (c, m) => void agreeMt(mutate(encodeData(c), m), c.mode, c.sid)),
      { numRuns: 2000 },
    );
    fc.assert(fc.property(mtCase, (c) => void agreeMt(encodeCase(c), c.secMode, c.sessionId)), RUNS);
    fc.assert(fc.property(bytes(120), fc.constantFrom(Sec.NONE, Sec.CHECKSUM), u32, (b, mode, sid) => void agreeMt(b, mode, sid)), { numRuns: 1000 });
  });
});
