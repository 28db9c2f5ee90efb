/**
 * MS-WDSMT 2.2: every transport packet.
 *   Security Header: "WD" SecurityHeaderType(1) SecurityDataLen(2) SecurityData
 *   Session Header:  SessionId(4) OpCode(1) SenderTime(8)
 *   Packet-specific section (per opcode)
 *   Extended Options: OptionsCount(2) { OptionId(2) OptionLen(2) Value }*
 * All network byte order. See docs/protocol-notes.md for the readings chosen where the spec is ambiguous.
 */
import { Decoded, Reader, ShortRead, Writer, fail, guard, ok, readWstring, writeU64 } from './bytes';
import { checksum } from './checksum';
import type { PacketAuth } from './mt-security';

export { checksum } from './checksum';

export const Sec = { NONE: 0x00, HASH: 0x01, SIGN: 0x02, CHECKSUM: 0x03 } as const;
export type SecMode = (typeof Sec)[keyof typeof Sec];

export const Op = {
  SPM: 0x01,
  JOIN: 0x02,
  JOINACK: 0x03,
  QCC: 0x04,
  QCR: 0x05,
  ODATA: 0x06,
  RDATA: 0x07,
  ACK: 0x08,
  NACK: 0x09,
  NCF: 0x0a,
  LEAVE: 0x0b,
  POLL: 0x0c,
  POLLACK: 0x0d,
  KICK: 0x0e,
  DEMOTE: 0x0f,
} as const;
export const OP_NAMES: Record<number, string> = Object.fromEntries(Object.entries(Op).map(([k, v]) => [v, k]));

export const MtOpt = {
  CPU_UTIL: 0x0101,
  MEM_UTIL: 0x0102,
  NET_UTIL: 0x0103,
  ODATA_FW_LEAD_SEQ_NO: 0x0406,
  USER_SID: 0x0504,
  CAPABILITIES: 0x0505,
} as const;
export const CAP_MULTISTREAM = 0x01;

export const LeaveReason = { COMPLETE: 0x00, CANCELLED: 0x01, INACTIVE: 0x02 } as const;
export const KickReason = { POLICY_NOT_MET: 0x00, FALLBACK: 0x01, FAIL: 0x02 } as const;

/** LossRate travels as LossRate x 10^16 (3.2.5.11, 3.2.5.12.1, 3.2.5.7.1). */
export const LOSS_SCALE = 1e16;

export const SECURITY_HEADER_MIN = 5;
export const SESSION_HEADER_LEN = 13;

export interface MtOption {
  id: number;
  value: Buffer;
}
export type Range = [start: number, end: number];

export type MtBody =
  | { op: typeof Op.SPM; spmSeqNo: number; masterClientId: number; minNackBackoff: number; maxNackBackoff: number; trailSeq: number; leadSeq: number; rtt: number }
  | { op: typeof Op.JOIN; clientName: string; ipAddress: Buffer; macAddress: Buffer }
  | { op: typeof Op.JOINACK; clientId: number; minNackBackoff: number; maxNackBackoff: number; rtt: number; clientTime: number }
  | { op: typeof Op.QCC; qccSeqNo: number; qcrBackoff: number }
  | { op: typeof Op.QCR; clientId: number; qccSeqNo: number; backoff: number; serverTime: number; hiSeq: number; lossRate: number; appData: Buffer }
  | { op: typeof Op.ODATA | typeof Op.RDATA; clientId: number; seq: number; trailSeq: number; data: Buffer }
  | { op: typeof Op.ACK; clientId: number; seq: number; serverTime: number; hiSeq: number; lossRate: number }
  | { op: typeof Op.NACK; clientId: number; hiSeq: number; lossRate: number; ranges: Range[] }
  | { op: typeof Op.NCF; ranges: Range[] }
  | { op: typeof Op.LEAVE; clientId: number; reason: number }
  | { op: typeof Op.POLL; pollSeqNo: number; backoff: number; appData: Buffer }
  | { op: typeof Op.POLLACK; clientId: number; pollSeqNo: number; appData: Buffer }
  | { op: typeof Op.KICK; clients: { clientId: number; reason: number }[] }
  | { op: typeof Op.DEMOTE; lowerSessionId: number; mAddress: Buffer; mPort: number; uAddress: Buffer; uPort: number; clients: number[] };

export interface MtPacket {
  secType: number;
  sessionId: number;
  senderTime: number;
  body: MtBody;
  options: MtOption[];
  /** false when the packet ended right after its packet-specific section (no OptionsCount on the wire). */
  optionsPresent: boolean;
  /** The opcode byte exactly as received (POLLACK may arrive as 0x0C, see protocol-notes). */
  rawOpcode: number;
}

export interface EncodeOptions {
  secMode: SecMode;
  sessionId: number;
  senderTime: number;
  options?: MtOption[];
  /**
   * Whether to put OptionsCount=0 on the wire when there are no options. 2.2.1 lists Extended Options as part of
   * every packet, so the literal form is `true` (our default); `false` produces the other plausible form.
   */
  emptyOptions?: boolean;
  /** HASH and SIGN: the key that seals the packet (its `mode` must be `secMode`). */
  auth?: PacketAuth;
}

/** The fixed fields of an ODATA/RDATA packet as `peekMtData` reads them in place. */
export interface MtDataFields {
  op: number;
  senderTime: number;
  clientId: number;
  seq: number;
  trailSeq: number;
  /** AppData (the MA packet): offset in the datagram and length. */
  dataStart: number;
  dataLen: number;
  /** ODATA_FW_LEAD_SEQ_NO (the first such option, when it is 8 bytes long), or -1. */
  fwLead: number;
}

export function newDataFields(): MtDataFields {
  return { op: 0, senderTime: 0, clientId: 0, seq: 0, trailSeq: 0, dataStart: 0, dataLen: 0, fwLead: -1 };
}

/** `peekMtData` results. */
export const Peek = {
  /** Not something the hot path vouches for: decode it with decodeMt (which names any error). */
  OTHER: 0,
  /** A well-formed, verified ODATA/RDATA of the session: `out` is filled. */
  DATA: 1,
  /** The Session Header names another session (read before the checksum: the session filter comes first). */
  WRONG_SESSION: 2,
} as const;

const u16at = (b: Uint8Array, i: number): number => (b[i]! << 8) | b[i + 1]!;
const u32at = (b: Uint8Array, i: number): number => ((b[i]! << 24) | (b[i + 1]! << 16) | (b[i + 2]! << 8) | b[i + 3]!) >>> 0;

/**
 * The receiver's hot path for MS-WDSMT: a CHECKSUM or NONE datagram (`secMode`, the server's security mode) of
 * session `sessionId`, read in place with no object per packet. DATA only for a packet decodeMt would accept
 * as the same ODATA/RDATA (test/core/codec/fuzz.test.ts checks that); anything else (other opcodes, HASH/SIGN,
 * every malformed packet) is OTHER, so the full decoder classifies it; WRONG_SESSION when the header is there but
 * its SessionId is not ours. Never throws.
 */
export function peekMtData(buf: Uint8Array, secMode: number, sessionId: number, out: MtDataFields): number {
  const n = buf.length;
  if (n < 5 || buf[0] !== 0x57 || buf[1] !== 0x44 || buf[2] !== secMode) return Peek.OTHER;
  const secLen = u16at(buf, 3);
  if (secLen !== (secMode === Sec.CHECKSUM ? 4 : secMode === Sec.NONE ? 0 : -1)) return Peek.OTHER;
  const s = 5 + secLen;
  if (n < s + SESSION_HEADER_LEN) return Peek.OTHER;
  if (u32at(buf, s) !== sessionId) return Peek.WRONG_SESSION;
  const op = buf[s + 4]!;
  if (op !== Op.ODATA && op !== Op.RDATA) return Peek.OTHER;
  const b = s + SESSION_HEADER_LEN;
  if (n < b + 22) return Peek.OTHER;
  const seqHi = u32at(buf, b + 4);
  const trailHi = u32at(buf, b + 12);
  if (seqHi >= 0x20_0000 || trailHi >= 0x20_0000) return Peek.OTHER;
  const len = u16at(buf, b + 20);
  const d = b + 22;
  if (d + len > n) return Peek.OTHER;
  let p = d + len;
  let fwLead = -1;
  if (p < n) {
    if (p + 2 > n) return Peek.OTHER;
    const count = u16at(buf, p);
    p += 2;
    let fwSeen = false;
    for (let i = 0; i < count; i++) {
      if (n - p < 4) return Peek.OTHER;
      const id = u16at(buf, p);
      const olen = u16at(buf, p + 2);
      p += 4;
      if (olen > n - p) return Peek.OTHER;
      if (id === MtOpt.ODATA_FW_LEAD_SEQ_NO && !fwSeen) {
        fwSeen = true;
        if (olen === 8) fwLead = u32at(buf, p) * 0x1_0000_0000 + u32at(buf, p + 4);
      }
      p += olen;
    }
    if (p !== n) return Peek.OTHER;
  }
  if (secMode === Sec.CHECKSUM && checksum(buf, s) !== u32at(buf, 5)) return Peek.OTHER;
  out.op = op;
  out.senderTime = u32at(buf, s + 5) * 0x1_0000_0000 + u32at(buf, s + 9);
  out.clientId = u32at(buf, b);
  out.seq = seqHi * 0x1_0000_0000 + u32at(buf, b + 8);
  out.trailSeq = trailHi * 0x1_0000_0000 + u32at(buf, b + 16);
  out.dataStart = d;
  out.dataLen = len;
  out.fwLead = fwLead;
  return Peek.DATA;
}

function writeRanges(w: Writer, ranges: Range[]): void {
  w.u16(ranges.length);
  for (const [s, e] of ranges) w.u64(s).u64(e);
}

function writeBody(w: Writer, b: MtBody): void {
  switch (b.op) {
    case Op.SPM:
      w.u64(b.spmSeqNo).u32(b.masterClientId).u16(b.minNackBackoff).u16(b.maxNackBackoff).u64(b.trailSeq).u64(b.leadSeq).u16(b.rtt);
      return;
    case Op.JOIN: {
      const name = Buffer.alloc(32);
      // At most 15 UTF-16 characters + the null that MUST end it.
      Buffer.from(b.clientName.slice(0, 15), 'utf16le').copy(name, 0, 0, 30);
      w.bytes(name).u8(b.ipAddress.length).bytes(b.ipAddress).u8(b.macAddress.length).bytes(b.macAddress);
      return;
    }
    case Op.JOINACK:
      w.u32(b.clientId).u16(b.minNackBackoff).u16(b.maxNackBackoff).u16(b.rtt).u64(b.clientTime);
      return;
    case Op.QCC:
      w.u64(b.qccSeqNo).u16(b.qcrBackoff);
      return;
    case Op.QCR:
      w.u32(b.clientId).u64(b.qccSeqNo).u16(b.backoff).u64(b.serverTime).u64(b.hiSeq).u64(b.lossRate).u16(b.appData.length).bytes(b.appData);
      return;
    case Op.ODATA:
    case Op.RDATA:
      w.u32(b.clientId).u64(b.seq).u64(b.trailSeq).u16(b.data.length).bytes(b.data);
      return;
    case Op.ACK:
      w.u32(b.clientId).u64(b.seq).u64(b.serverTime).u64(b.hiSeq).u64(b.lossRate);
      return;
    case Op.NACK:
      w.u32(b.clientId).u64(b.hiSeq).u64(b.lossRate);
      writeRanges(w, b.ranges);
      return;
    case Op.NCF:
      writeRanges(w, b.ranges);
      return;
    case Op.LEAVE:
      w.u32(b.clientId).u8(b.reason);
      return;
    case Op.POLL:
      w.u64(b.pollSeqNo).u16(b.backoff).u16(b.appData.length).bytes(b.appData);
      return;
    case Op.POLLACK:
      w.u32(b.clientId).u64(b.pollSeqNo).u16(b.appData.length).bytes(b.appData);
      return;
    case Op.KICK:
      w.u16(b.clients.length);
      for (const c of b.clients) w.u32(c.clientId).u8(c.reason);
      return;
    case Op.DEMOTE:
      w.u32(b.lowerSessionId).u8(b.mAddress.length).bytes(b.mAddress).u16(b.mPort).u8(b.uAddress.length).bytes(b.uAddress).u16(b.uPort).u16(b.clients.length);
      for (const c of b.clients) w.u32(c);
      return;
  }
}

/** SecurityDataLen for `o`; HASH and SIGN without their key throw. */
function securityLength(o: EncodeOptions): number {
  const keyed = o.secMode === Sec.HASH || o.secMode === Sec.SIGN;
  if (keyed && o.auth?.mode !== o.secMode) throw new Error(`security mode ${o.secMode} needs its key`);
  if (keyed) return o.auth!.length;
  if (o.secMode === Sec.CHECKSUM) return 4;
  if (o.secMode === Sec.NONE) return 0;
  throw new Error(`security mode ${o.secMode} is not supported by this implementation`);
}

/** Fills SecurityData of a packet whose Session Header starts at `sessionStart` (2.2.2). */
function seal(out: Buffer, sessionStart: number, secLen: number, o: EncodeOptions): void {
  if (o.secMode === Sec.CHECKSUM) out.writeUInt32BE(checksum(out, sessionStart), 5);
  else if (secLen > 0) {
    // 2.2.2.1 / 2.2.2.2: computed over the Session Header to the end, then written into SecurityData.
    const sd = o.auth!.seal(out.subarray(sessionStart));
    if (sd.length !== secLen) throw new Error(`security data of ${sd.length} bytes, expected ${secLen}`);
    sd.copy(out, 5);
  }
}

/** Encodes one packet. HASH and SIGN need `o.auth` (the key); without it they throw. */
export function encodeMt(body: MtBody, o: EncodeOptions): Buffer {
  const secLen = securityLength(o);
  const size = 64 + secLen + ('data' in body ? body.data.length : 0) + ('appData' in body ? body.appData.length : 0);
  const w = new Writer(size);
  w.u8(0x57).u8(0x44).u8(o.secMode).u16(secLen).zeros(secLen); // "WD"
  const sessionStart = w.pos;
  w.u32(o.sessionId).u8(body.op).u64(o.senderTime);
  writeBody(w, body);
  const opts = o.options ?? [];
  if (opts.length > 0 || o.emptyOptions !== false) {
    w.u16(opts.length);
    for (const x of opts) w.u16(x.id).u16(x.value.length).bytes(x.value);
  }
  const out = w.finish();
  seal(out, sessionStart, secLen, o);
  return out;
}

/** The ODATA/RDATA fields a sender chooses (2.2.16, 2.2.17); DataLen follows from the data. */
export interface MtDataOut {
  op: typeof Op.ODATA | typeof Op.RDATA;
  clientId: number;
  seq: number;
  trailSeq: number;
}

/**
 * ODATA or RDATA for a sender's hot path: the same bytes as `encodeMt({ ...f, data: concat(parts) }, o)`, but the
 * packet is allocated once at its size and each part of Data is copied into it once (no Writer, no joined Data).
 */
export function encodeMtData(f: MtDataOut, parts: readonly Uint8Array[], o: EncodeOptions): Buffer {
  const secLen = securityLength(o);
  let dataLen = 0;
  for (const p of parts) dataLen += p.length;
  const opts = o.options ?? [];
  let optLen = opts.length > 0 || o.emptyOptions !== false ? 2 : 0;
  for (const x of opts) optLen += 4 + x.value.length;
  const sessionStart = 5 + secLen;
  const out = Buffer.allocUnsafe(sessionStart + SESSION_HEADER_LEN + 22 + dataLen + optLen);
  out[0] = 0x57; // "WD"
  out[1] = 0x44;
  out[2] = o.secMode;
  out.writeUInt16BE(secLen, 3); // SecurityData: written by seal() below, which covers all of it
  let at = sessionStart;
  out.writeUInt32BE(o.sessionId >>> 0, at);
  out[at + 4] = f.op;
  writeU64(out, o.senderTime, at + 5);
  at += SESSION_HEADER_LEN;
  out.writeUInt32BE(f.clientId >>> 0, at);
  writeU64(out, f.seq, at + 4);
  writeU64(out, f.trailSeq, at + 12);
  out.writeUInt16BE(dataLen & 0xffff, at + 20);
  at += 22;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  if (optLen > 0) {
    out.writeUInt16BE(opts.length, at);
    at += 2;
    for (const x of opts) {
      out.writeUInt16BE(x.id & 0xffff, at);
      out.writeUInt16BE(x.value.length & 0xffff, at + 2);
      out.set(x.value, at + 4);
      at += 4 + x.value.length;
    }
  }
  seal(out, sessionStart, secLen, o);
  return out;
}

function readRanges(r: Reader, field: string): Range[] | string {
  const n = r.u16(`${field}Count`);
  if (n * 16 > r.remaining) return `${field}Count ${n} needs ${n * 16} bytes, ${r.remaining} left`;
  const out: Range[] = new Array(n);
  for (let i = 0; i < n; i++) {
    const s = r.u64('StartODATASeqNo');
    const e = r.u64('EndODATASeqNo');
    out[i] = [s, e];
  }
  return out;
}

function readBody(op: number, r: Reader): MtBody | string {
  switch (op) {
    case Op.SPM:
      return { op, spmSeqNo: r.u64('SPMSeqNo'), masterClientId: r.u32('MasterClientId'), minNackBackoff: r.u16(), maxNackBackoff: r.u16(), trailSeq: r.u64('TrailODATASeqNo'), leadSeq: r.u64('LeadODATASeqNo'), rtt: r.u16('RTT') };
    case Op.JOIN: {
      const name = readWstring(r.bytes(32, 'ClientName'));
      const ipLen = r.u8('IPAddrLen');
      if (ipLen !== 4 && ipLen !== 16) throw new ShortRead('bad-length', `JOIN: IPAddrLen ${ipLen}, expected 4 or 16`);
      const ipAddress = r.bytes(ipLen, 'IPAddress');
      const macLen = r.u8('MacAddrLen');
      return { op, clientName: name, ipAddress, macAddress: r.bytes(macLen, 'MacAddress') };
    }
    case Op.JOINACK:
      return { op, clientId: r.u32('ClientId'), minNackBackoff: r.u16(), maxNackBackoff: r.u16(), rtt: r.u16('RTT'), clientTime: r.u64('ClientTime') };
    case Op.QCC:
      return { op, qccSeqNo: r.u64('QCCSeqNo'), qcrBackoff: r.u16('QCRBackOff') };
    case Op.QCR: {
      const clientId = r.u32('ClientId');
      const qccSeqNo = r.u64('QCCSeqNo');
      const backoff = r.u16('BackOff');
      const serverTime = r.u64('ServerTime');
      const hiSeq = r.u64('HiODATASeqNo');
      const lossRate = r.u64f('LossRate');
      const len = r.u16('AppDataLen');
      return { op, clientId, qccSeqNo, backoff, serverTime, hiSeq, lossRate, appData: r.bytes(len, 'AppData') };
    }
    case Op.ODATA:
    case Op.RDATA: {
      const clientId = r.u32('ClientId');
      const seq = r.u64('ODATASeqNo');
      const trailSeq = r.u64('TrailODATASeqNo');
      const len = r.u16('DataLen');
      return { op, clientId, seq, trailSeq, data: r.bytes(len, 'Data') };
    }
    case Op.ACK:
      return { op, clientId: r.u32('ClientId'), seq: r.u64('ODATASeqNo'), serverTime: r.u64('ServerTime'), hiSeq: r.u64('HiODATASeqNo'), lossRate: r.u64f('LossRate') };
    case Op.NACK: {
      const clientId = r.u32('ClientId');
      const hiSeq = r.u64('HiODATASeqNo');
      const lossRate = r.u64f('LossRate');
      const ranges = readRanges(r, 'Range');
      if (typeof ranges === 'string') return ranges;
      return { op, clientId, hiSeq, lossRate, ranges };
    }
    case Op.NCF: {
      const ranges = readRanges(r, 'Range');
      if (typeof ranges === 'string') return ranges;
      return { op, ranges };
    }
    case Op.LEAVE:
      return { op, clientId: r.u32('ClientId'), reason: r.u8('LeaveReason') };
    case Op.POLL: {
      const pollSeqNo = r.u64('POLLSeqNo');
      const backoff = r.u16('BackOff');
      const len = r.u16('AppDataLen');
      return { op, pollSeqNo, backoff, appData: r.bytes(len, 'AppData') };
    }
    case Op.POLLACK: {
      const clientId = r.u32('ClientId');
      const pollSeqNo = r.u64('POLLSeqNo');
      const len = r.u16('AppDataLen');
      return { op, clientId, pollSeqNo, appData: r.bytes(len, 'AppData') };
    }
    case Op.KICK: {
      const n = r.u16('ClientCount');
      if (n * 5 > r.remaining) return `ClientCount ${n} needs ${n * 5} bytes, ${r.remaining} left`;
      const clients = new Array<{ clientId: number; reason: number }>(n);
      for (let i = 0; i < n; i++) clients[i] = { clientId: r.u32('ClientId'), reason: r.u8('Reason') };
      return { op, clients };
    }
    case Op.DEMOTE: {
      const lowerSessionId = r.u32('LowerSessionId');
      const mLen = r.u8('MAddrLen');
      if (mLen !== 4 && mLen !== 16) throw new ShortRead('bad-length', `DEMOTE: MAddrLen ${mLen}, expected 4 or 16`);
      const mAddress = r.bytes(mLen, 'MAddress');
      const mPort = r.u16('MPort');
      const uLen = r.u8('UAddrLen');
      if (uLen !== 4 && uLen !== 16) throw new ShortRead('bad-length', `DEMOTE: UAddrLen ${uLen}, expected 4 or 16`);
      const uAddress = r.bytes(uLen, 'UAddress');
      const uPort = r.u16('UPort');
      // Port 0 names no UDP port, and a group must be one: the client could not join there (protocol-notes #108).
      if (mPort === 0 || uPort === 0) throw new ShortRead('bad-value', `DEMOTE: ${mPort === 0 ? 'MPort' : 'UPort'} is zero`);
      if (!(mLen === 4 ? (mAddress[0]! & 0xf0) === 0xe0 : mAddress[0] === 0xff)) throw new ShortRead('bad-value', 'DEMOTE: MAddress is not a multicast address');
      const n = r.u16('ClientCount');
      if (n * 4 > r.remaining) return `ClientCount ${n} needs ${n * 4} bytes, ${r.remaining} left`;
      const clients = new Array<number>(n);
      for (let i = 0; i < n; i++) clients[i] = r.u32('ClientId');
      return { op, lowerSessionId, mAddress, mPort, uAddress, uPort, clients };
    }
  }
  return `unknown opcode 0x${op.toString(16)}`;
}

export interface DecodeMtOptions {
  /**
   * Who sent the packet. The only opcode clash in the spec is 0x0C: POLL in the 2.2.3 table, POLLACK in the
   * 3.1.5.1 table. Servers send POLL, clients send POLLACK, so a packet from a client with 0x0C is a POLLACK.
   */
  from?: 'server' | 'client';
  /**
   * The key that checks HASH or SIGN packets (`auth.mode` says which). A packet of that type whose HMAC or
   * signature does not verify is `unauthenticated`; a HASH or SIGN packet with no key for it is
   * `unsupported-security`.
   */
  auth?: PacketAuth;
}

/** Decodes one datagram. Never throws: malformed input is a typed DecodeError. */
export function decodeMt(buf: Buffer, o: DecodeMtOptions = {}): Decoded<MtPacket> {
  return guard('mt', () => {
    const r = new Reader(buf);
    if (r.remaining < SECURITY_HEADER_MIN) return fail('truncated', `${buf.length} bytes is shorter than a security header`);
    if (buf[0] !== 0x57 || buf[1] !== 0x44) return fail('bad-magic', 'Identifier is not "WD"');
    r.pos = 2;
    const secType = r.u8('SecurityHeaderType');
    const secLen = r.u16('SecurityDataLen');
    const secData = r.bytes(secLen, 'SecurityData');
    const sessionStart = r.pos;
    if (secType === Sec.CHECKSUM) {
      if (secLen !== 4) return fail('bad-length', `checksum SecurityDataLen ${secLen}, expected 4`);
      const want = secData.readUInt32BE(0);
      if (r.remaining < SESSION_HEADER_LEN) return fail('truncated', 'no session header');
      const got = checksum(buf, sessionStart);
      if (want !== got) return fail('checksum', `checksum 0x${want.toString(16)} != computed 0x${got.toString(16)}`);
    } else if (secType === Sec.NONE) {
      if (secLen !== 0) return fail('bad-length', `NONE with SecurityDataLen ${secLen}`);
    } else if (secType === Sec.HASH || secType === Sec.SIGN) {
      const name = secType === Sec.HASH ? 'HASH' : 'SIGN';
      if (o.auth?.mode !== secType) return fail('unsupported-security', `security header type ${name} without its key (none reaches a client over MS-WDSMSI's UDP form)`);
      if (r.remaining < SESSION_HEADER_LEN) return fail('truncated', 'no session header');
      if (!o.auth.verify(secData, buf.subarray(sessionStart))) return fail('unauthenticated', `${name}: the ${secType === Sec.HASH ? 'HMAC' : 'signature'} does not verify`);
    } else {
      return fail('bad-value', `security header type ${secType}`);
    }
    const sessionId = r.u32('SessionId');
    const rawOpcode = r.u8('OpCode');
    const senderTime = r.u64f('SenderTime');
    let op = rawOpcode;
    if (rawOpcode === 0x0c && o.from === 'client') op = Op.POLLACK;
    if (op < Op.SPM || op > Op.DEMOTE) return fail('unknown-opcode', `opcode 0x${rawOpcode.toString(16)}`);
    const body = readBody(op, r);
    if (typeof body === 'string') return fail('bad-count', `${OP_NAMES[op]}: ${body}`);
    const options: MtOption[] = [];
    let optionsPresent = false;
    if (r.remaining > 0) {
      optionsPresent = true;
      const n = r.u16('OptionsCount');
      for (let i = 0; i < n; i++) {
        if (r.remaining < 4) return fail('bad-count', `${OP_NAMES[op]}: OptionsCount ${n} but only ${i} options present`);
        const id = r.u16('OptionId');
        const len = r.u16('OptionLen');
        if (len > r.remaining) return fail('bad-length', `${OP_NAMES[op]}: option 0x${id.toString(16)} length ${len} exceeds packet`);
        options.push({ id, value: r.bytes(len) });
      }
      if (r.remaining !== 0) return fail('trailing', `${OP_NAMES[op]}: ${r.remaining} bytes after the options`);
    }
    return ok({ secType, sessionId, senderTime, body, options, optionsPresent, rawOpcode });
  });
}

export function findOption(p: MtPacket, id: number): Buffer | undefined {
  for (const o of p.options) if (o.id === id) return o.value;
  return undefined;
}
