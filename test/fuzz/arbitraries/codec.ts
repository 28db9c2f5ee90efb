/** Arbitraries for the MS-WDSMT, MS-WDSMA and MS-WDSMSI codecs (valid messages of every type). */
import fc from 'fast-check';
import { MAX_BLOCK_SIZE, MaOp, MaPacket, encodeMa } from '../../../core/codec/ma';
import { encodeMsiError, encodeMsiReply, encodeMsiRequest } from '../../../core/codec/msi';
import { MtBody, MtOption, MtPacket, Op, Sec, encodeMt } from '../../../core/codec/mt';
import { bytes, port, u16, u32, u53, u8 } from './common';

const ipBytes = fc.oneof(bytes(4, 4), bytes(16, 16));
/** A group address (224.0.0.0/4 or ff00::/8): a DEMOTE's MAddress must be one (protocol-notes #108). */
const groupBytes = fc.oneof(bytes(4, 4).map((b) => Buffer.from([0xe0 | (b[0]! & 0x0f), ...b.subarray(1)])), bytes(16, 16).map((b) => Buffer.from([0xff, ...b.subarray(1)])));
/** LossRate is read as an approximate float (u64f): exact for safe integers and for 10^16 (LossRate 1.0). */
const lossRate = fc.oneof(u53, fc.constant(1e16));
const mtRange = fc.tuple(u53, u53);
/** ClientName: at most 15 UTF-16 code units (the 16th is the MUST null), none of them null. */
const clientName = fc.array(fc.integer({ min: 1, max: 0xffff }), { maxLength: 15 }).map((cs) => String.fromCharCode(...cs));

export const mtBody: fc.Arbitrary<MtBody> = fc.oneof(
  fc.record({ op: fc.constant(Op.SPM), spmSeqNo: u53, masterClientId: u32, minNackBackoff: u16, maxNackBackoff: u16, trailSeq: u53, leadSeq: u53, rtt: u16 }),
  fc.record({ op: fc.constant(Op.JOIN), clientName, ipAddress: ipBytes, macAddress: bytes(20) }),
  fc.record({ op: fc.constant(Op.JOINACK), clientId: u32, minNackBackoff: u16, maxNackBackoff: u16, rtt: u16, clientTime: u53 }),
  fc.record({ op: fc.constant(Op.QCC), qccSeqNo: u53, qcrBackoff: u16 }),
  fc.record({ op: fc.constant(Op.QCR), clientId: u32, qccSeqNo: u53, backoff: u16, serverTime: u53, hiSeq: u53, lossRate, appData: bytes(40) }),
  fc.record({ op: fc.constantFrom(Op.ODATA, Op.RDATA), clientId: u32, seq: u53, trailSeq: u53, data: bytes(80) }),
  fc.record({ op: fc.constant(Op.ACK), clientId: u32, seq: u53, serverTime: u53, hiSeq: u53, lossRate }),
  fc.record({ op: fc.constant(Op.NACK), clientId: u32, hiSeq: u53, lossRate, ranges: fc.array(mtRange, { maxLength: 6 }) }),
  fc.record({ op: fc.constant(Op.NCF), ranges: fc.array(mtRange, { maxLength: 6 }) }),
  fc.record({ op: fc.constant(Op.LEAVE), clientId: u32, reason: u8 }),
  fc.record({ op: fc.constant(Op.POLL), pollSeqNo: u53, backoff: u16, appData: bytes(40) }),
  fc.record({ op: fc.constant(Op.POLLACK), clientId: u32, pollSeqNo: u53, appData: bytes(40) }),
  fc.record({ op: fc.constant(Op.KICK), clients: fc.array(fc.record({ clientId: u32, reason: u8 }), { maxLength: 8 }) }),
  fc.record({ op: fc.constant(Op.DEMOTE), lowerSessionId: u32, mAddress: groupBytes, mPort: port, uAddress: ipBytes, uPort: port, clients: fc.array(u32, { maxLength: 12 }) }),
) as fc.Arbitrary<MtBody>;

export const mtOption: fc.Arbitrary<MtOption> = fc.record({ id: u16, value: bytes(12) });

export const mtCase = fc.record({
  body: mtBody,
  secMode: fc.constantFrom(Sec.NONE, Sec.CHECKSUM),
  sessionId: u32,
  senderTime: u53,
  options: fc.array(mtOption, { maxLength: 3 }),
  emptyOptions: fc.boolean(),
});
export type MtCase = typeof mtCase extends fc.Arbitrary<infer T> ? T : never;

export const encodeCase = (c: MtCase) => encodeMt(c.body, { secMode: c.secMode, sessionId: c.sessionId, senderTime: c.senderTime, options: c.options, emptyOptions: c.emptyOptions });
/** What decodeMt gives for an encoded case. */
export const expectedPacket = (c: MtCase): MtPacket => ({
  secType: c.secMode,
  sessionId: c.sessionId,
  senderTime: c.senderTime,
  body: c.body,
  options: c.options,
  optionsPresent: c.options.length > 0 || c.emptyOptions,
  rawOpcode: c.body.op,
});

const blockRange = fc.tuple(u53, u53).map(([a, b]) => (a <= b ? [a, b] : [b, a]) as [number, number]);
export const maPacket: fc.Arbitrary<MaPacket> = fc.oneof(
  fc.constant({ op: MaOp.SRVCIR }),
  fc.record({ op: fc.constant(MaOp.CNTCIR), progress: u8, timeInSession: u32, ranges: fc.array(blockRange, { maxLength: 64 }) }),
  fc.record({ op: fc.constant(MaOp.DATA), blockNumber: u53, data: bytes(200) }),
  fc.record({ op: fc.constant(MaOp.PROGRESS), timeInSession: u32, progress: u8 }),
) as fc.Arbitrary<MaPacket>;

/** A string with no null character (the decoder stops at the first null). */
const wstr = fc.array(fc.integer({ min: 1, max: 0xffff }), { maxLength: 40 }).map((cs) => String.fromCharCode(...cs));
const ipv4 = fc.tuple(u8, u8, u8, u8).map((a) => a.join('.'));
/** IPv6 in the form the decoder prints: eight groups, lowercase, no leading zeros, no "::". */
const ipv6 = fc.array(u16, { minLength: 8, maxLength: 8 }).map((g) => g.map((x) => x.toString(16)).join(':'));
const ip = fc.oneof(ipv4, ipv6);

export const msiRequest = fc.record({ namespace: wstr, content: wstr, mac: bytes(16), ipv6Capable: fc.option(fc.boolean(), { nil: undefined }) });
export const msiReply = fc
  .record({ multicastAddr: ip, serverAddr: ip, multicastPort: port, serverPort: port, contentSize: u53, blockSize: fc.integer({ min: 1, max: MAX_BLOCK_SIZE }), sessionId: u32 })
  .map((r) => ({ ...r, totalBlocks: Number((BigInt(r.contentSize) + BigInt(r.blockSize) - 1n) / BigInt(r.blockSize)) }));
export const msiError = fc.record({ win32: u32, opcode: u8 });

/** Encoded valid packets of all three protocols, for the mutation properties. */
export const anyEncoded = fc.oneof(
  mtCase.map((c) => ({ proto: 'mt' as const, wire: encodeCase(c) })),
  maPacket.map((p) => ({ proto: 'ma' as const, wire: encodeMa(p) })),
  msiRequest.map((r) => ({ proto: 'msi' as const, wire: encodeMsiRequest(r) })),
  msiReply.map((r) => ({ proto: 'msi' as const, wire: encodeMsiReply(r) })),
  msiError.map((e) => ({ proto: 'msi' as const, wire: encodeMsiError(e.win32, e.opcode) })),
);
