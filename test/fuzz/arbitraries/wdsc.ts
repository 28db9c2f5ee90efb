/** Arbitraries for the MS-WDSC packet codec and WDSMC_OP_INITIATE (MS-WDSMSI 2.2.1 over MS-WDSC). */
import { MAX_BLOCK_SIZE } from '../../../core/codec/ma';
import fc from 'fast-check';
import { buildInitiateRequest, encodeInitiateError, encodeInitiateReply } from '../../../core/wdsc/initiate';
import { WdscPacket, WdscVariable, encodeWdsc } from '../../../core/wdsc/packet';
import { bytes, ipv4, port, u16, u32, u64, u8 } from './common';

/** Strings without a null (the decoder stops at the first one). */
export const wstr = (maxLength: number) => fc.array(fc.integer({ min: 1, max: 0xffff }), { maxLength }).map((cs) => String.fromCharCode(...cs));
export const cstr = (maxLength: number) => fc.array(fc.integer({ min: 1, max: 0xff }), { maxLength }).map((cs) => String.fromCharCode(...cs));
const arr = <T>(a: fc.Arbitrary<T>) => fc.array(a, { minLength: 1, maxLength: 5 });

export const value: fc.Arbitrary<Omit<WdscVariable, 'name'>> = fc.oneof(
  fc.record({ type: fc.constant('BYTE' as const), value: u8 }),
  fc.record({ type: fc.constant('USHORT' as const), value: u16 }),
  fc.record({ type: fc.constant('ULONG' as const), value: u32 }),
  fc.record({ type: fc.constant('ULONG64' as const), value: u64 }),
  fc.record({ type: fc.constant('STRING' as const), value: cstr(40) }),
  fc.record({ type: fc.constant('WSTRING' as const), value: wstr(40) }),
  fc.record({ type: fc.constant('BLOB' as const), value: bytes(60) }),
  fc.record({ type: fc.constant('BYTE[]' as const), value: arr(u8) }),
  fc.record({ type: fc.constant('USHORT[]' as const), value: arr(u16) }),
  fc.record({ type: fc.constant('ULONG[]' as const), value: arr(u32) }),
  fc.record({ type: fc.constant('ULONG64[]' as const), value: arr(u64) }),
  fc.record({ type: fc.constant('STRING[]' as const), value: arr(cstr(12)) }),
  fc.record({ type: fc.constant('WSTRING[]' as const), value: arr(wstr(12)) }),
  fc.integer({ min: 0, max: 20 }).chain((n) => fc.record({ type: fc.constant('BLOB[]' as const), value: arr(bytes(n, n)) })),
) as fc.Arbitrary<Omit<WdscVariable, 'name'>>;

/** Names: 1..32 characters, no null, unique without regard to case. */
export const variables = fc
  .uniqueArray(fc.tuple(wstr(32).filter((s) => s.length > 0), value), { maxLength: 8, selector: ([n]) => n.toLowerCase() })
  .map((vs) => vs.map(([name, v]) => ({ name, ...v }) as WdscVariable));
export const guid = bytes(16, 16).map((b) => {
  const h = b.toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
});
export const wdscPacket: fc.Arbitrary<WdscPacket> = fc.record({ endpoint: guid, packetType: u8, code: u32, variables });

export const reply = fc
  .record({
    multicastAddr: ipv4,
    serverAddr: ipv4,
    multicastPort: port,
    serverPort: port,
    contentSize: fc.maxSafeNat(),
    blockSize: fc.integer({ min: 1, max: MAX_BLOCK_SIZE }),
    sessionId: u32,
    contentMetadata: bytes(40),
    secMode: fc.option(u32, { nil: undefined }),
    symKey: fc.option(bytes(40), { nil: undefined }),
    signKey: fc.option(bytes(40), { nil: undefined }),
    hashAlgId: fc.option(u32, { nil: undefined }),
    hmacAlgId: fc.option(u32, { nil: undefined }),
    userSid: fc.option(bytes(28), { nil: undefined }),
  })
  .map((r) => {
    const out: Record<string, unknown> = { ...r, totalBlocks: Number((BigInt(r.contentSize) + BigInt(r.blockSize) - 1n) / BigInt(r.blockSize)) };
    for (const k of Object.keys(out)) if (out[k] === undefined) delete out[k];
    return out as Parameters<typeof encodeInitiateReply>[0];
  });
export const request = fc.record({ namespace: wstr(60), content: wstr(60), clientName: wstr(20), bootDevice: fc.boolean() });

export const anyEncoded = fc.oneof(
  wdscPacket.map(encodeWdsc),
  reply.map(encodeInitiateReply),
  u32.map(encodeInitiateError),
  request.map((r) => buildInitiateRequest(r).packet),
);
