/**
 * Little-endian reading and writing for DCE/RPC (packed_drep 0x10: little-endian integers, ASCII, IEEE floats) and
 * NDR 2.0 (C706 chapter 14): the shared bounds-checked Reader/Writer of core/codec/bytes.ts (which has the
 * little-endian integers) plus NDR alignment (relative to the start of the stub) and UUIDs in their NDR form.
 */
import { Reader, ShortRead, Writer } from '../codec/bytes';

export class LeReader extends Reader {
  /** Skips to the next multiple of `n` counted from `base` (the start of the stub or of the PDU). */
  align(n: number, base = 0): void {
    const pad = (n - ((this.pos - base) % n)) % n;
    if (pad) this.bytes(pad, 'alignment');
  }
  uuid(field = 'uuid'): string {
    return uuidFromBytes(this.bytes(16, field));
  }
  /** An NDR conformance/size value that must fit in what is left (a hostile count cannot make us allocate). */
  count(field: string, elementSize = 1): number {
    const n = this.u32le(field);
    if (n * elementSize > this.remaining) throw new ShortRead('bad-count', `${field} ${n} but ${this.remaining} bytes left`);
    return n;
  }
}

export class LeWriter extends Writer {
  align(n: number, base = 0): this {
    while ((this.pos - base) % n) this.u8(0);
    return this;
  }
  uuid(u: string): this {
    return this.bytes(uuidToBytes(u));
  }
}

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** NDR form of a UUID: time_low (u32), time_mid (u16), time_hi_and_version (u16) little-endian, then 8 octets. */
export function uuidToBytes(u: string): Buffer {
  if (!UUID_RE.test(u)) throw new Error(`not a UUID: ${u}`);
  const h = Buffer.from(u.replace(/-/g, ''), 'hex');
  const b = Buffer.from(h);
  b.writeUInt32LE(h.readUInt32BE(0), 0);
  b.writeUInt16LE(h.readUInt16BE(4), 4);
  b.writeUInt16LE(h.readUInt16BE(6), 6);
  return b;
}

export function uuidFromBytes(b: Uint8Array): string {
  const v = Buffer.from(b.buffer, b.byteOffset, 16);
  const h = Buffer.allocUnsafe(16);
  h.writeUInt32BE(v.readUInt32LE(0), 0);
  h.writeUInt16BE(v.readUInt16LE(4), 4);
  h.writeUInt16BE(v.readUInt16LE(6), 6);
  v.copy(h, 8, 8, 16);
  const s = h.toString('hex');
  return `${s.slice(0, 8)}-${s.slice(8, 12)}-${s.slice(12, 16)}-${s.slice(16, 20)}-${s.slice(20)}`;
}

/** p_syntax_id_t (C706 12.6.3.1) / RPC_SYNTAX_IDENTIFIER: an interface or transfer syntax and its version. */
export interface SyntaxId {
  uuid: string;
  major: number;
  minor: number;
}

/** NDR 2.0 (C706 14; MS-RPCE 2.2.4.12). */
export const NDR_SYNTAX: SyntaxId = { uuid: '8a885d04-1ceb-11c9-9fe8-08002b104860', major: 2, minor: 0 };

export function syntaxEquals(a: SyntaxId, b: SyntaxId): boolean {
  return a.uuid.toLowerCase() === b.uuid.toLowerCase() && a.major === b.major && a.minor === b.minor;
}
