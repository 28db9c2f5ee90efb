/**
 * MS-WDSMA 2.2: application packets carried inside MT ODATA/RDATA (DATA), POLL (SRVCIR), POLLACK (CNTCIR)
 * and QCR (PROGRESS).  Header: Packet-Size(2) OpCode(1).
 */
import { Decoded, Reader, Writer, fail, guard, ok } from './bytes';

export const MaOp = { SRVCIR: 0x01, CNTCIR: 0x02, DATA: 0x03, PROGRESS: 0x04 } as const;
export const MA_HEADER_LEN = 3;
export const DATA_HEADER_LEN = MA_HEADER_LEN + 8 + 2;
/**
 * An upper bound on a session's block size: one DATA packet (its 16-bit Packet-Size counts the header, 2.2.4) in one
 * MS-WDSMT AppData (16-bit AppDataLen, 2.2.16). Initiation replies announcing more are refused (protocol-notes #108).
 * (Over IPv4 a UDP payload is at most 65,507 bytes, so with the MT header the real limit is lower still; this bound
 * only keeps an absurd size from sizing the ring.)
 */
export const MAX_BLOCK_SIZE = 0xffff - DATA_HEADER_LEN;
/** 2.2.3: a CNTCIR carries at most 64 ranges. */
export const CNTCIR_MAX_RANGES = 64;

export type BlockRange = [start: number, end: number];

export type MaPacket =
  | { op: typeof MaOp.SRVCIR }
  | { op: typeof MaOp.CNTCIR; progress: number; timeInSession: number; ranges: BlockRange[] }
  | { op: typeof MaOp.DATA; blockNumber: number; data: Buffer }
  | { op: typeof MaOp.PROGRESS; timeInSession: number; progress: number };

function finish(w: Writer): Buffer {
  const b = w.finish();
  b.writeUInt16BE(b.length, 0); // Packet-Size: total length including this header (literal reading)
  return b;
}

export function encodeMa(p: MaPacket): Buffer {
  const w = new Writer(p.op === MaOp.DATA ? DATA_HEADER_LEN + p.data.length : 64);
  w.u16(0).u8(p.op);
  switch (p.op) {
    case MaOp.SRVCIR:
      break;
    case MaOp.CNTCIR: {
      const ranges = p.ranges.slice(0, CNTCIR_MAX_RANGES);
      w.u8(p.progress).u32(p.timeInSession).u16(ranges.length);
      for (const [s, e] of ranges) w.u64(s).u64(e);
      break;
    }
    case MaOp.DATA:
      w.u64(p.blockNumber).u16(p.data.length).bytes(p.data);
      break;
    case MaOp.PROGRESS:
      w.u32(p.timeInSession).u8(p.progress);
      break;
  }
  return finish(w);
}

/** Writes a DATA packet header in place (the coordinator builds packets without an intermediate copy). */
export function writeDataHeader(buf: Buffer, at: number, blockNumber: number, dataLen: number): void {
  buf.writeUInt16BE(DATA_HEADER_LEN + dataLen, at);
  buf[at + 2] = MaOp.DATA;
  buf.writeUInt32BE(Math.floor(blockNumber / 0x1_0000_0000), at + 3);
  buf.writeUInt32BE(blockNumber >>> 0, at + 7);
  buf.writeUInt16BE(dataLen, at + 11);
}

/**
 * Decodes one MA packet. Packet-Size is "the total length of the packet": we accept it counting the header
 * (literal) or not counting it (the other plausible reading); anything else is bad-length.
 */
export function decodeMa(buf: Buffer): Decoded<MaPacket> {
  return guard('ma', () => {
    const r = new Reader(buf);
    const size = r.u16('Packet-Size');
    const op = r.u8('OpCode');
    if (size !== buf.length && size !== buf.length - MA_HEADER_LEN)
      return fail('bad-length', `Packet-Size ${size} but ${buf.length} bytes present`);
    let p: MaPacket;
    switch (op) {
      case MaOp.SRVCIR:
        p = { op };
        break;
      case MaOp.CNTCIR: {
        const progress = r.u8('Progress');
        const timeInSession = r.u32('TimeInSession');
        const n = r.u16('RangeCount');
        if (n * 16 !== r.remaining) return fail('bad-count', `CNTCIR RangeCount ${n} but ${r.remaining} bytes of ranges`);
        const ranges: BlockRange[] = new Array(n);
        for (let i = 0; i < n; i++) {
          const s = r.u64('StartBlockNo');
          const e = r.u64('EndBlockNo');
          if (e < s) return fail('bad-value', `CNTCIR range ${s}..${e} ends before it starts`);
          ranges[i] = [s, e];
        }
        p = { op, progress, timeInSession, ranges };
        break;
      }
      case MaOp.DATA: {
        const blockNumber = r.u64('BlockNumber');
        const len = r.u16('DataLen');
        p = { op, blockNumber, data: r.bytes(len, 'Data') };
        break;
      }
      case MaOp.PROGRESS:
        p = { op, timeInSession: r.u32('TimeInSession'), progress: r.u8('Progress') };
        break;
      default:
        return fail('unknown-opcode', `MA opcode 0x${op.toString(16)}`);
    }
    if (r.remaining !== 0) return fail('trailing', `${r.remaining} bytes after MA packet`);
    return ok(p);
  });
}

/**
 * Hot path for the receiver: parse a DATA packet without allocating a packet object.
 * Returns the block number (>= 0) and sets `out.dataStart/dataLen` (offsets within buf), or a negative code for malformed input.
 */
export function peekData(buf: Buffer, out: { dataStart: number; dataLen: number }): number {
  return peekDataAt(buf, 0, buf.length, out);
}

/** `peekDataAt`'s result for a BlockNumber of 2^53 or more (beyond any content; not a malformed packet). */
export const DATA_BLOCK_TOO_BIG = -4;

/**
 * `peekData` of the MA packet at `buf[start, start + len)` (the AppData of an ODATA, read in place inside the
 * datagram); `out.dataStart` is an offset within `buf`.
 */
export function peekDataAt(buf: Buffer, start: number, len: number, out: { dataStart: number; dataLen: number }): number {
  if (len < DATA_HEADER_LEN) return -1;
  const size = (buf[start]! << 8) | buf[start + 1]!;
  if (size !== len && size !== len - MA_HEADER_LEN) return -2;
  if (buf[start + 2] !== MaOp.DATA) return -3;
  const hi = ((buf[start + 3]! << 24) | (buf[start + 4]! << 16) | (buf[start + 5]! << 8) | buf[start + 6]!) >>> 0;
  if (hi >= 0x20_0000) return DATA_BLOCK_TOO_BIG;
  const dataLen = (buf[start + 11]! << 8) | buf[start + 12]!;
  if (DATA_HEADER_LEN + dataLen !== len) return -5;
  out.dataStart = start + DATA_HEADER_LEN;
  out.dataLen = dataLen;
  const lo = ((buf[start + 7]! << 24) | (buf[start + 8]! << 16) | (buf[start + 9]! << 8) | buf[start + 10]!) >>> 0;
  return hi * 0x1_0000_0000 + lo;
}
