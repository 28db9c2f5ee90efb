/**
 * Property tests (fast-check) for the MS-WDSC codec and WDSMC_OP_INITIATE, in the style of codec/fuzz.test.ts:
 *  (a) arbitrary bytes, and random variable blocks behind valid headers, never make a decoder throw;
 *  (b) arbitrary valid packets (every variable type) and INITIATE requests/replies round-trip;
 *  (c) mutated valid packets never throw; any prefix is an error.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { buildInitiateRequest, decodeInitiateRequest, decodeInitiateResult, encodeInitiateError, encodeInitiateReply } from '../../../core/wdsc/initiate';
import { decodeWdsc, encodeWdsc } from '../../../core/wdsc/packet';
import { expectFail, expectOk, isWellFormedResult } from '../codec/helpers';
import { bytes, mutate, mutation, u32 } from '../../fuzz/arbitraries/common';
import { anyEncoded, reply, request, wdscPacket, wstr } from '../../fuzz/arbitraries/wdsc';
import { MSI_GUID_HEX, T, block, le, packet } from './spec';

const RUNS = { numRuns: 400 };
// Arbitraries: test/fuzz/arbitraries/wdsc.ts (shared with the fuzz target table).
function decodeAll(buf: Buffer): unknown[] {
  return [decodeWdsc(buf), decodeInitiateRequest(buf), decodeInitiateResult(0, buf)];
}

describe('(a) arbitrary input never throws', () => {
  it('uniform random bytes', () => {
    fc.assert(
      fc.property(bytes(400), (buf) => {
        for (const r of decodeAll(buf)) expect(isWellFormedResult(r)).toBe(true);
      }),
      { numRuns: 1000 },
    );
  });

  it('random variable blocks (random types, lengths, array sizes, values) behind valid headers', () => {
    const type = fc.oneof(fc.constantFrom(...Object.values(T).filter((t) => t !== T.ARRAY)).chain((t) => fc.constantFrom(t, t | (T.ARRAY << 16), t | T.ARRAY)), u32);
    const blk = fc.record({ name: wstr(33), type, vl: fc.oneof(fc.integer({ min: 0, max: 40 }), u32), as: fc.oneof(fc.integer({ min: 0, max: 6 }), u32), v: bytes(80), pad: fc.boolean() });
    fc.assert(
      fc.property(fc.array(blk, { maxLength: 6 }), fc.integer({ min: -1, max: 1 }), (blocks, countDelta) => {
        const hexBlocks = blocks.map((b) => block(b.name.slice(0, 32), b.type, b.vl, b.as, b.v.toString('hex'), b.pad));
        const v = packet(2, 0, hexBlocks, MSI_GUID_HEX, Math.max(0, blocks.length + countDelta));
        for (const r of decodeAll(Buffer.from(v, 'hex'))) expect(isWellFormedResult(r)).toBe(true);
      }),
      { numRuns: 1000 },
    );
  });

  it('random INITIATE-shaped replies (the reply variables with random types and values)', () => {
    const names = ['TpMcAddress.Port', 'TpMcAddress.Address', 'TpUniAddress.Port', 'TpUniAddress.Address', 'SessionId', 'ContentSize', 'BlockSize', 'TotalBlocks', 'ContentMetadata', 'SymKey', 'HashKey', 'SignKey', 'HashAlgId', 'HMACAlgId', 'SecMode', 'UserSid'];
    const blk = fc.record({ name: fc.constantFrom(...names), type: fc.constantFrom(T.BYTE, T.USHORT, T.ULONG, T.ULONG64, T.BLOB, T.WSTRING), v: bytes(20) });
    fc.assert(
      fc.property(fc.array(blk, { maxLength: 18 }), u32, (blocks, code) => {
        const v = packet(2, code % 3 === 0 ? code : 0, blocks.map((b) => block(b.name, b.type, b.v.length, 0, b.v.toString('hex'))));
        const r = decodeInitiateResult(0, Buffer.from(v, 'hex'));
        expect(isWellFormedResult(r)).toBe(true);
      }),
      { numRuns: 1000 },
    );
  });
});

describe('(b) valid packets round-trip', () => {
  it('any packet with any variables of every type', () => {
    fc.assert(
      fc.property(wdscPacket, (p) => {
        const wire = encodeWdsc(p);
        expect(wire.length % 16).toBe(56 % 16);
        expect(wire.readUInt32LE(4)).toBe(wire.length);
        expect(expectOk(decodeWdsc(wire))).toEqual(p);
      }),
      { numRuns: 1000 },
    );
  });

  it('a number field encodes as the hand-written little-endian bytes', () => {
    fc.assert(
      fc.property(u32, (n) => {
        const wire = encodeWdsc({ endpoint: '6f13a317-3687-4b54-81a5-504daa9062fa', packetType: 1, code: 6, variables: [{ name: 'Cap', type: 'ULONG', value: n }] });
        expect(wire.toString('hex')).toBe(packet(1, 6, [block('Cap', T.ULONG, 4, 0, le(n, 4))]));
      }),
      RUNS,
    );
  });

  it('INITIATE reply', () => {
    fc.assert(
      fc.property(reply, (r) => {
        expect(expectOk(decodeInitiateResult(0, encodeInitiateReply(r)))).toEqual({ kind: 'reply', ...r });
      }),
      RUNS,
    );
  });

  it('INITIATE error reply', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 0xffffffff }), (code) => {
        expect(expectOk(decodeInitiateResult(0, encodeInitiateError(code)))).toMatchObject({ kind: 'error', source: 'reply', win32: code });
      }),
      RUNS,
    );
  });

  it('INITIATE request', () => {
    fc.assert(
      fc.property(request, (r) => {
        const built = buildInitiateRequest(r);
        expect(built.clientName.length).toBeLessThanOrEqual(15);
        expect(built.clientNameCut).toBe(r.clientName.length > 15);
        expect(r.clientName.startsWith(built.clientName)).toBe(true);
        expect(expectOk(decodeInitiateRequest(built.packet))).toEqual({ namespace: r.namespace, content: r.content, client: built.clientName, cap: r.bootDevice ? 5 : 1 });
      }),
      RUNS,
    );
  });

  it('decoding does not depend on where the bytes sit in memory', () => {
    fc.assert(
      fc.property(anyEncoded, fc.integer({ min: 1, max: 7 }), bytes(7), (wire, offset, junk) => {
        const big = Buffer.concat([Buffer.alloc(offset, 0xa5), wire, junk]);
        const view = big.subarray(offset, offset + wire.length);
        expect(decodeAll(view)).toEqual(decodeAll(Buffer.from(wire)));
      }),
      RUNS,
    );
  });
});

describe('(c) mutated valid packets', () => {
  it('never throw and give a well-formed result', () => {
    fc.assert(
      fc.property(anyEncoded, fc.array(mutation, { minLength: 1, maxLength: 3 }), (wire, ms) => {
        for (const r of decodeAll(ms.reduce(mutate, wire))) expect(isWellFormedResult(r)).toBe(true);
      }),
      { numRuns: 1000 },
    );
  });

  it('any strict prefix or extension is an error (both Packet-Size fields)', () => {
    fc.assert(
      fc.property(anyEncoded, fc.nat(), bytes(20, 1), (wire, n, extra) => {
        expectFail(decodeWdsc(wire.subarray(0, n % wire.length)));
        expectFail(decodeWdsc(Buffer.concat([wire, extra])));
      }),
      RUNS,
    );
  });
});
