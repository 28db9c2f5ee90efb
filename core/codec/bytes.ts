/**
 * A small bounds-checked reader/writer shared by every codec (the shape of pg-protocol's BufferReader/Writer).
 * The reader throws `ShortRead` internally; each decoder catches it at its boundary and turns it into a
 * typed DecodeError, so no exception ever leaves a decode function.
 */

export type DecodeErrorCode =
  | 'truncated' // fewer bytes than the fields need
  | 'trailing' // bytes left over after the last field
  | 'bad-magic' // an identifier is not ours: MT Identifier is not "WD", WDSC Version or Endpoint GUID
  | 'bad-count' // a count field disagrees with the bytes present
  | 'bad-length' // a length field is impossible (too big, wrong size for its type)
  | 'unknown-opcode'
  | 'checksum' // MT checksum does not match (MS-WDSMT 2.2.2.3)
  | 'unsupported-security' // HASH / SIGN without the key for it (none reaches a UDP client)
  | 'unauthenticated' // HASH / SIGN: the HMAC or signature does not verify (MS-WDSMT 2.2.2.1, 2.2.2.2)
  | 'security-mismatch' // security header type differs from the negotiated mode
  | 'session-mismatch' // SessionId differs from ours
  | 'missing-option' // a MUST option is absent
  | 'bad-value'; // a field value outside its range (e.g. a 64-bit number above 2^53)

export class DecodeError {
  constructor(
    readonly code: DecodeErrorCode,
    readonly message: string,
  ) {}
  toString(): string {
    return `${this.code}: ${this.message}`;
  }
}

export type Decoded<T> = { ok: true; value: T } | { ok: false; error: DecodeError };

export function ok<T>(value: T): Decoded<T> {
  return { ok: true, value };
}
export function fail<T = never>(code: DecodeErrorCode, message: string): Decoded<T> {
  return { ok: false, error: new DecodeError(code, message) };
}

/** Thrown only inside decoders; converted to a DecodeError by `guard`. */
export class ShortRead extends Error {
  constructor(
    readonly code: DecodeErrorCode,
    message: string,
  ) {
    super(message);
  }
}

/** Runs a decoder body; any ShortRead (or unexpected RangeError) becomes a typed error. */
export function guard<T>(what: string, body: () => Decoded<T>): Decoded<T> {
  try {
    return body();
  } catch (e) {
    if (e instanceof ShortRead) return fail(e.code, `${what}: ${e.message}`);
    return fail('bad-value', `${what}: ${(e as Error).message}`);
  }
}

const TWO32 = 0x1_0000_0000;

export class Reader {
  pos: number;
  constructor(
    readonly buf: Buffer,
    start = 0,
    readonly end = buf.length,
  ) {
    this.pos = start;
  }
  get remaining(): number {
    return this.end - this.pos;
  }
  private need(n: number, field: string): void {
    if (this.pos + n > this.end) throw new ShortRead('truncated', `${field} needs ${n} bytes, ${this.end - this.pos} left`);
  }
  u8(field = 'u8'): number {
    this.need(1, field);
    return this.buf[this.pos++]!;
  }
  u16(field = 'u16'): number {
    this.need(2, field);
    const v = this.buf.readUInt16BE(this.pos);
    this.pos += 2;
    return v;
  }
  u32(field = 'u32'): number {
    this.need(4, field);
    const v = this.buf.readUInt32BE(this.pos);
    this.pos += 4;
    return v;
  }
  /** 64-bit big-endian as a number; throws bad-value above 2^53 (sequence numbers never get there). */
  u64(field = 'u64'): number {
    this.need(8, field);
    const hi = this.buf.readUInt32BE(this.pos);
    const lo = this.buf.readUInt32BE(this.pos + 4);
    this.pos += 8;
    if (hi >= 0x20_0000) throw new ShortRead('bad-value', `${field} exceeds 2^53`);
    return hi * TWO32 + lo;
  }
  /** 64-bit big-endian as an approximate float: for LossRate, whose scaled value may pass 2^53. */
  u64f(field = 'u64'): number {
    this.need(8, field);
    const hi = this.buf.readUInt32BE(this.pos);
    const lo = this.buf.readUInt32BE(this.pos + 4);
    this.pos += 8;
    return hi * TWO32 + lo;
  }
  /** Little-endian reads (MS-WDSC, MS-RPCE, MS-NLMP). */
  u16le(field = 'u16'): number {
    this.need(2, field);
    const v = this.buf.readUInt16LE(this.pos);
    this.pos += 2;
    return v;
  }
  u32le(field = 'u32'): number {
    this.need(4, field);
    const v = this.buf.readUInt32LE(this.pos);
    this.pos += 4;
    return v;
  }
  /** 64-bit little-endian as an exact bigint. */
  u64leBig(field = 'u64'): bigint {
    this.need(8, field);
    const v = this.buf.readBigUInt64LE(this.pos);
    this.pos += 8;
    return v;
  }
  /** A view (no copy) of the next n bytes. */
  bytes(n: number, field = 'bytes'): Buffer {
    this.need(n, field);
    const v = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return v;
  }
}

/** A u64 (big-endian) from a number: floored, at least 0, the high word at most 0xffffffff. No BigInt. */
export function writeU64(buf: Buffer, v: number, at: number): void {
  const x = Math.max(0, Math.floor(v));
  const hi = Math.min(0xffff_ffff, Math.floor(x / TWO32));
  const lo = x - Math.floor(x / TWO32) * TWO32;
  buf.writeUInt32BE(hi >>> 0, at);
  buf.writeUInt32BE(lo >>> 0, at + 4);
}

export class Writer {
  private buf: Buffer;
  pos = 0;
  constructor(size = 256) {
    this.buf = Buffer.allocUnsafe(size);
  }
  private ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.pos + n));
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }
  u8(v: number): this {
    this.ensure(1);
    this.buf[this.pos++] = v & 0xff;
    return this;
  }
  u16(v: number): this {
    this.ensure(2);
    this.buf.writeUInt16BE(v & 0xffff, this.pos);
    this.pos += 2;
    return this;
  }
  u32(v: number): this {
    this.ensure(4);
    this.buf.writeUInt32BE(v >>> 0, this.pos);
    this.pos += 4;
    return this;
  }
  u64(v: number): this {
    this.ensure(8);
    writeU64(this.buf, v, this.pos);
    this.pos += 8;
    return this;
  }
  u16le(v: number): this {
    this.ensure(2);
    this.buf.writeUInt16LE(v & 0xffff, this.pos);
    this.pos += 2;
    return this;
  }
  u32le(v: number): this {
    this.ensure(4);
    this.buf.writeUInt32LE(v >>> 0, this.pos);
    this.pos += 4;
    return this;
  }
  u64le(v: bigint): this {
    this.ensure(8);
    this.buf.writeBigUInt64LE(BigInt.asUintN(64, v), this.pos);
    this.pos += 8;
    return this;
  }
  /** n zero bytes (padding, reserved fields). */
  zeros(n: number): this {
    this.ensure(n);
    this.buf.fill(0, this.pos, this.pos + n);
    this.pos += n;
    return this;
  }
  bytes(b: Uint8Array): this {
    this.ensure(b.length);
    this.buf.set(b, this.pos);
    this.pos += b.length;
    return this;
  }
  /** Patch a u16/u32 written earlier (lengths known only at the end). */
  setU16(at: number, v: number): void {
    this.buf.writeUInt16BE(v & 0xffff, at);
  }
  setU32(at: number, v: number): void {
    this.buf.writeUInt32BE(v >>> 0, at);
  }
  setU32le(at: number, v: number): void {
    this.buf.writeUInt32LE(v >>> 0, at);
  }
  finish(): Buffer {
    return this.buf.subarray(0, this.pos);
  }
}

/** UTF-16LE with a terminating null character (MS-WDSMSI / MS-WDSMT strings). */
export function wstring(s: string): Buffer {
  return Buffer.from(s + '\0', 'utf16le');
}

/** Reads UTF-16LE, accepting the value with or without the terminating null (liberal receive). */
export function readWstring(b: Uint8Array): string {
  const buf = Buffer.from(b.buffer, b.byteOffset, b.length - (b.length % 2));
  let s = buf.toString('utf16le');
  const nul = s.indexOf('\0');
  if (nul >= 0) s = s.slice(0, nul);
  return s;
}

/** Reads a big-endian unsigned integer of 1..8 bytes (numeric options sent in a width other than the spec's). */
export function readUintBE(b: Uint8Array): number {
  let v = 0;
  for (let i = 0; i < b.length; i++) v = v * 256 + b[i]!;
  return v;
}
