/**
 * The udpcast wire protocol (udp-sender / udp-receiver 20120424), both directions: every message of
 * ../shared/notes/udpcast-protocol.md §3. Big-endian C structs; reserved and pad fields are sent as zero and not
 * read; longer messages than the struct are accepted (the bytes after it are not read), except DATA and FEC whose
 * payload is the rest of the datagram. `decodeUdpcast` never throws: malformed input is a typed DecodeError.
 */
import { Decoded, Reader, Writer, fail, guard, ok } from '../codec/bytes';

/** Opcodes (u16 at offset 0). 0x0500 is what udp-sender 20120424 sends as HELLO ("5" byte-swapped). */
export const UdpOp = {
  OK: 0,
  RETRANSMIT: 1,
  GO: 2,
  CONNECT_REQ: 3,
  DISCONNECT: 4,
  REQACK: 6,
  CONNECT_REPLY: 7,
  DATA: 8,
  FEC: 9,
  HELLO_NEW: 10,
  HELLO_STREAMING: 11,
  HELLO: 0x0500,
} as const;

/** Capability bits (u32 in CONNECT_REQ, CONNECT_REPLY, HELLO). */
export const UdpCap = {
  NEW_GEN: 0x01,
  FEC: 0x04,
  BIG_ENDIAN: 0x08,
  LITTLE_ENDIAN: 0x10,
  ASYNC: 0x20,
} as const;

/** What a receiver announces: NEW_GEN | BIG_ENDIAN, as udp-receiver does. */
export const RECEIVER_CAPS = UdpCap.NEW_GEN | UdpCap.BIG_ENDIAN;

/** Bytes of a RETRANSMIT have-map and of a REQACK ready-set (MAX_SLICE_SIZE 1024 and MAX_CLIENTS 1024 bits). */
export const MAP_BYTES = 128;
/** DATA and FEC header bytes before the payload. */
export const DATA_HEADER = 16;

export type UdpMessage =
  | { op: 'ok'; slice: number }
  /** `map`: MAP_BYTES bytes, bit n (LSB first) set = block n of the slice received. */
  | { op: 'retransmit'; slice: number; rxmit: number; map: Buffer }
  | { op: 'go' }
  | { op: 'connect-req'; capabilities: number; rcvbuf: number }
  | { op: 'disconnect' }
  /** `bytes` 0 = the end of the transfer. `ready`: MAP_BYTES bytes, bit c set = client c already said OK. */
  | { op: 'reqack'; slice: number; bytes: number; rxmit: number; ready: Buffer }
  /** `client` −1: the sender's table is full. */
  | { op: 'connect-reply'; client: number; blockSize: number; capabilities: number; dataAddress: string }
  /** `sliceBytes`: total bytes of the whole slice. `payload`: a view of the datagram (no copy), possibly longer than the block. */
  | { op: 'data'; slice: number; block: number; sliceBytes: number; payload: Buffer }
  | { op: 'fec'; stripes: number; slice: number; index: number; sliceBytes: number; payload: Buffer }
  /** `opcode`: 0x0500 (HELLO), 10 (HELLO_NEW) or 11 (HELLO_STREAMING). */
  | { op: 'hello'; opcode: number; capabilities: number; dataAddress: string; blockSize: number };


function ipv4(r: Reader, field: string): string {
  const a = r.bytes(16, field);
  return `${a[0]}.${a[1]}.${a[2]}.${a[3]}`;
}

/** Dotted IPv4 → 4 bytes; anything else is 0.0.0.0 (the encoder is fed our own values). */
function ipv4Bytes(s: string): Buffer {
  const b = Buffer.alloc(4);
  const p = s.split('.');
  if (p.length === 4) for (let i = 0; i < 4; i++) b[i] = Number(p[i]) & 0xff;
  return b;
}

function map(b: Buffer): Buffer {
  const m = Buffer.alloc(MAP_BYTES);
  b.copy(m, 0, 0, Math.min(MAP_BYTES, b.length));
  return m;
}

/**
 * udp-sender's data group when --mcast-data-address is not given: the low 27 bits of its IPv4 address under
 * 232.0.0.0/5 (shared/notes/udpcast-protocol.md §1: 10.77.0.1 → 234.77.0.1). `senderIp` is a dotted IPv4 address.
 */
export function defaultDataGroup(senderIp: string): string {
  const p = senderIp.split('.').map(Number);
  return [232 | (p[0]! & 7), p[1], p[2], p[3]].join('.');
}

export function encodeUdpcast(m: UdpMessage): Buffer {
  const w = new Writer(m.op === 'data' || m.op === 'fec' ? DATA_HEADER + m.payload.length : 160);
  switch (m.op) {
    case 'ok':
      return w.u16(UdpOp.OK).u16(0).u32(m.slice).finish();
    case 'retransmit':
      return w.u16(UdpOp.RETRANSMIT).u16(0).u32(m.slice).u32(m.rxmit).bytes(map(m.map)).finish();
    case 'go':
      return w.u16(UdpOp.GO).u16(0).finish();
    case 'connect-req':
      return w.u16(UdpOp.CONNECT_REQ).u16(0).u32(m.capabilities).u32(m.rcvbuf).finish();
    case 'disconnect':
      return w.u16(UdpOp.DISCONNECT).u16(0).finish();
    case 'reqack':
      return w.u16(UdpOp.REQACK).u16(0).u32(m.slice).u32(m.bytes).u32(m.rxmit).bytes(map(m.ready)).finish();
    case 'connect-reply':
      return w.u16(UdpOp.CONNECT_REPLY).u16(0).u32(m.client).u32(m.blockSize).u32(m.capabilities).bytes(ipv4Bytes(m.dataAddress)).zeros(12).finish();
    case 'data':
      return w.u16(UdpOp.DATA).u16(0).u32(m.slice).u16(m.block).u16(0).u32(m.sliceBytes).bytes(m.payload).finish();
    case 'fec':
      return w.u16(UdpOp.FEC).u16(m.stripes).u32(m.slice).u16(m.index).u16(0).u32(m.sliceBytes).bytes(m.payload).finish();
    case 'hello':
      return w.u16(m.opcode).u16(0).u32(m.capabilities).bytes(ipv4Bytes(m.dataAddress)).zeros(12).u16(m.blockSize).u16(0).finish();
  }
}

/** Decodes one udpcast datagram (either direction). Never throws. */
export function decodeUdpcast(buf: Buffer): Decoded<UdpMessage> {
  // The hot path (one per data packet): DATA read in place, no Reader, no closure.
  if (buf.length >= DATA_HEADER && buf[0] === 0 && buf[1] === UdpOp.DATA) {
    return ok({ op: 'data', slice: buf.readUInt32BE(4), block: buf.readUInt16BE(8), sliceBytes: buf.readUInt32BE(12), payload: buf.subarray(DATA_HEADER) });
  }
  return guard('udpcast', () => {
    const r = new Reader(buf);
    const opcode = r.u16('opcode');
    switch (opcode) {
      case UdpOp.OK: {
        r.u16('reserved');
        return ok({ op: 'ok', slice: r.u32('slice') });
      }
      case UdpOp.RETRANSMIT: {
        r.u16('reserved');
        const slice = r.u32('slice');
        const rxmit = r.u32('rxmit');
        return ok({ op: 'retransmit', slice, rxmit, map: Buffer.from(r.bytes(MAP_BYTES, 'map')) });
      }
      case UdpOp.GO:
        r.u16('reserved');
        return ok({ op: 'go' });
      case UdpOp.CONNECT_REQ: {
        r.u16('reserved');
        const capabilities = r.u32('capabilities');
        return ok({ op: 'connect-req', capabilities, rcvbuf: r.u32('rcvbuf') });
      }
      case UdpOp.DISCONNECT:
        r.u16('reserved');
        return ok({ op: 'disconnect' });
      case UdpOp.REQACK: {
        r.u16('reserved');
        const slice = r.u32('slice');
        const bytes = r.u32('bytes');
        const rxmit = r.u32('rxmit');
        return ok({ op: 'reqack', slice, bytes, rxmit, ready: Buffer.from(r.bytes(MAP_BYTES, 'ready-set')) });
      }
      case UdpOp.CONNECT_REPLY: {
        r.u16('reserved');
        const client = r.u32('client') | 0;
        const blockSize = r.u32('block size') | 0;
        const capabilities = r.u32('capabilities');
        const dataAddress = ipv4(r, 'data address');
        return ok({ op: 'connect-reply', client, blockSize, capabilities, dataAddress });
      }
      case UdpOp.DATA: {
        r.u16('reserved');
        const slice = r.u32('slice');
        const block = r.u16('block');
        r.u16('reserved2');
        const sliceBytes = r.u32('slice bytes');
        return ok({ op: 'data', slice, block, sliceBytes, payload: r.bytes(r.remaining, 'payload') });
      }
      case UdpOp.FEC: {
        const stripes = r.u16('stripes');
        const slice = r.u32('slice');
        const index = r.u16('fec index');
        r.u16('reserved2');
        const sliceBytes = r.u32('slice bytes');
        return ok({ op: 'fec', stripes, slice, index, sliceBytes, payload: r.bytes(r.remaining, 'payload') });
      }
      case UdpOp.HELLO:
      case UdpOp.HELLO_NEW:
      case UdpOp.HELLO_STREAMING: {
        r.u16('reserved');
        const capabilities = r.u32('capabilities');
        const dataAddress = ipv4(r, 'data address');
        const blockSize = r.u16('block size');
        // the 2 pad bytes of the C struct are not read: a 26-byte HELLO is accepted
        return ok({ op: 'hello', opcode, capabilities, dataAddress, blockSize });
      }
      default:
        return fail('unknown-opcode', `opcode ${opcode}`);
    }
  });
}
