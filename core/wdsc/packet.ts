/**
 * MS-WDSC 2.2.1: the WDS Control Protocol packet, the byte array `WdsRpcMessage` carries both ways.
 * All multibyte values little-endian (2.2.1).
 *
 *   Endpoint Header (2.2.1.1, 40 bytes): Size-Of-Header(2) = 0x0028, Version(2) = 0x0100, Packet-Size(4) = whole
 *     packet, Endpoint-GUID(16, MS-DTYP 2.3.4.2), Reserved(16) = 0
 *   Operation Header (2.2.1.2, 16 bytes): Packet-Size(4) = operation header + variables, Version(2) = 0x0100,
 *     Packet-Type(1), Padding1(1), OpCode-ErrorCode(4), Variable-Count(4)
 *   Variable Description Block (2.2.1.3.1), Variable-Count times: Variable-Name(66, UTF-16LE, null-terminated),
 *     Padding1(2), Variable-Type(4) = base type (low 16 bits) + type modifier (high 16 bits, protocol-notes #23),
 *     Value-Length(4), Array-Size(4),
 *     Variable-Value, Padding_end up to a multiple of 16 bytes for the whole block.
 *
 * Readings where the text is silent or contradicts itself are docs/protocol-notes.md #22-#28.
 */
import { DecodeError, Decoded, Reader, ShortRead, Writer, fail, guard, ok, readWstring, wstring } from '../codec/bytes';

export const PacketType = {
  REQUEST: 0x01,
  REPLY: 0x02,
} as const;

/** 2.2.1.3.2.1 base types (low 16 bits of Variable-Type) and 2.2.1.3.2.2 the ARRAY modifier (high 16 bits). */
const BASE = {
  BYTE: 0x0001,
  USHORT: 0x0002,
  ULONG: 0x0004,
  ULONG64: 0x0008,
  STRING: 0x0010,
  WSTRING: 0x0020,
  BLOB: 0x0040,
} as const;
type BaseName = keyof typeof BASE;
const ARRAY = 0x1000;
/** Fixed widths of the numeric base types (2.2.1.3.2.1). */
const WIDTH: Partial<Record<BaseName, number>> = { BYTE: 1, USHORT: 2, ULONG: 4, ULONG64: 8 };

export type WdscValue =
  | { type: 'BYTE' | 'USHORT' | 'ULONG'; value: number }
  | { type: 'ULONG64'; value: bigint }
  | { type: 'STRING' | 'WSTRING'; value: string }
  | { type: 'BLOB'; value: Buffer }
  | { type: 'BYTE[]' | 'USHORT[]' | 'ULONG[]'; value: number[] }
  | { type: 'ULONG64[]'; value: bigint[] }
  | { type: 'STRING[]' | 'WSTRING[]'; value: string[] }
  | { type: 'BLOB[]'; value: Buffer[] }
  /** A Variable-Type this codec does not know: kept as the raw value bytes (liberal receive). */
  | { type: 'unknown'; typeId: number; value: Buffer };

export type WdscVariable = { name: string } & WdscValue;

export interface WdscPacket {
  /** Endpoint GUID, lowercase text, read in the MS-DTYP 2.3.4.2 byte order. */
  endpoint: string;
  packetType: number;
  /** OpCode in a request, error code (0 = ERROR_SUCCESS) in a reply. */
  code: number;
  variables: WdscVariable[];
}

const ENDPOINT_HEADER = 40;
const OPERATION_HEADER = 16;
const VERSION = 0x0100;
const NAME_BYTES = 66;
/** Variable-Name + Padding1 + Variable-Type + Value-Length + Array-Size: 80 bytes, itself a multiple of 16. */
const VAR_HEAD = NAME_BYTES + 2 + 4 + 4 + 4;
const pad16 = (n: number) => (16 - (n % 16)) % 16;

// ---------------------------------------------------------------------------------------------------------------
// GUIDs (MS-DTYP 2.3.4.2: Data1, Data2, Data3 little-endian, Data4 as bytes)
// ---------------------------------------------------------------------------------------------------------------
const GUID_TEXT = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function guidToBytes(guid: string): Buffer {
  if (!GUID_TEXT.test(guid)) throw new RangeError(`not a GUID: ${guid}`);
  const h = Buffer.from(guid.replace(/-/g, ''), 'hex');
  const b = Buffer.from(h);
  b.writeUInt32LE(h.readUInt32BE(0), 0);
  b.writeUInt16LE(h.readUInt16BE(4), 4);
  b.writeUInt16LE(h.readUInt16BE(6), 6);
  return b;
}

function bytesToGuid(b: Uint8Array, rfcOrder = false): string {
  const x = Buffer.from(b);
  if (!rfcOrder) {
    x.writeUInt32BE(x.readUInt32LE(0), 0);
    x.writeUInt16BE(x.readUInt16LE(4), 4);
    x.writeUInt16BE(x.readUInt16LE(6), 6);
  }
  const h = x.toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/**
 * protocol-notes #27: the endpoint GUID as read, or the same 16 bytes read in RFC 4122 (big-endian) order, names
 * the expected GUID.
 */
export function isEndpoint(packet: WdscPacket, guid: string): boolean {
  const want = guid.toLowerCase();
  return packet.endpoint === want || bytesToGuid(guidToBytes(packet.endpoint), true) === want;
}

// ---------------------------------------------------------------------------------------------------------------
// Encoding: the literal forms
// ---------------------------------------------------------------------------------------------------------------
function latin1(s: string, what: string): Buffer {
  if (/[^\x00-\xff]/.test(s)) throw new RangeError(`${what}: STRING holds 8-bit characters only`);
  return Buffer.from(s + '\0', 'latin1');
}

function uintLE(v: number | bigint, width: number, what: string): Buffer {
  const big = BigInt(v);
  if (big < 0n || big >= 1n << BigInt(width * 8)) throw new RangeError(`${what}: ${v} does not fit ${width} bytes`);
  const b = Buffer.alloc(width);
  for (let i = 0; i < width; i++) b[i] = Number((big >> BigInt(i * 8)) & 0xffn);
  return b;
}

/** Value bytes, Value-Length and Array-Size of one variable. Arrays of variable-length types: protocol-notes #24. */
function valueBytes(v: WdscVariable): { typeId: number; bytes: Buffer; valueLength: number; arraySize: number } {
  if (v.type === 'unknown') return { typeId: v.typeId, bytes: v.value, valueLength: v.value.length, arraySize: 0 };
  const isArray = v.type.endsWith('[]');
  const base = (isArray ? v.type.slice(0, -2) : v.type) as BaseName;
  const typeId = (BASE[base] | (isArray ? ARRAY << 16 : 0)) >>> 0; // protocol-notes #23
  const one = (x: number | bigint | string | Buffer): Buffer => {
    const w = WIDTH[base];
    if (w) return uintLE(x as number | bigint, w, v.name);
    if (base === 'STRING') return latin1(x as string, v.name);
    if (base === 'WSTRING') return wstring(x as string);
    return Buffer.from(x as Buffer);
  };
  if (!isArray) {
    const bytes = one(v.value as number | bigint | string | Buffer);
    return { typeId, bytes, valueLength: bytes.length, arraySize: 0 };
  }
  const elems = (v.value as (number | bigint | string | Buffer)[]).map(one);
  if (elems.length === 0) throw new RangeError(`${v.name}: Array-Size MUST NOT be zero (2.2.1.3.3.2)`);
  const slot = Math.max(...elems.map((e) => e.length));
  if (base === 'BLOB' && elems.some((e) => e.length !== slot)) throw new RangeError(`${v.name}: BLOB[] elements must have one length`);
  // Strings are null-padded to the longest (still null-terminated): every element is Value-Length bytes.
  const bytes = Buffer.concat(elems.map((e) => Buffer.concat([e, Buffer.alloc(slot - e.length)])));
  return { typeId, bytes, valueLength: slot, arraySize: elems.length };
}

/** Encodes a request or reply. Throws RangeError on values the format cannot carry (a caller's mistake). */
export function encodeWdsc(p: WdscPacket): Buffer {
  const w = new Writer(256);
  w.u16le(ENDPOINT_HEADER).u16le(VERSION).u32le(0).bytes(guidToBytes(p.endpoint)).zeros(16);
  const opStart = w.pos;
  w.u32le(0).u16le(VERSION).u8(p.packetType).u8(0).u32le(p.code).u32le(p.variables.length);
  const seen = new Set<string>();
  for (const v of p.variables) {
    const name = wstring(v.name);
    if (name.length > NAME_BYTES) throw new RangeError(`variable name longer than 32 characters: ${v.name}`);
    if (v.name.includes('\0')) throw new RangeError('variable name with a null character');
    const key = v.name.toLowerCase();
    if (seen.has(key)) throw new RangeError(`duplicate variable name: ${v.name}`);
    seen.add(key);
    const { typeId, bytes, valueLength, arraySize } = valueBytes(v);
    w.bytes(name).zeros(NAME_BYTES - name.length).zeros(2).u32le(typeId).u32le(valueLength).u32le(arraySize).bytes(bytes).zeros(pad16(bytes.length));
  }
  w.setU32le(4, w.pos);
  w.setU32le(opStart, w.pos - opStart);
  return w.finish();
}

// ---------------------------------------------------------------------------------------------------------------
// Decoding: every plausible form
// ---------------------------------------------------------------------------------------------------------------
type Parsed = { variable: WdscVariable; next: number };

function readUintLE(b: Uint8Array): bigint {
  let v = 0n;
  for (let i = b.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[i]!);
  return v;
}

/** One element of a numeric type, any width 1..8 (protocol-notes #25); above the type's range is bad-value. */
function readNumber(b: Buffer, base: BaseName, name: string): number | bigint {
  if (b.length < 1 || b.length > 8) throw new ShortRead('bad-length', `${name}: ${base} with Value-Length ${b.length}`);
  const v = readUintLE(b);
  const width = WIDTH[base]!;
  if (v >= 1n << BigInt(width * 8)) throw new ShortRead('bad-value', `${name}: ${v} does not fit a ${base}`);
  return base === 'ULONG64' ? v : Number(v);
}

const cString = (b: Buffer): string => {
  const nul = b.indexOf(0);
  return b.toString('latin1', 0, nul < 0 ? b.length : nul);
};

/** Splits a Value-Length-total array of strings (reading (b) of protocol-notes #24) at its terminators. */
function splitStrings(b: Buffer, wide: boolean, count: number): string[] | undefined {
  const out: string[] = [];
  const unit = wide ? 2 : 1;
  let start = 0;
  for (let i = 0; i + unit <= b.length && out.length < count; i += unit) {
    if (b[i] === 0 && (!wide || b[i + 1] === 0)) {
      const part = b.subarray(start, i);
      out.push(wide ? part.toString('utf16le') : part.toString('latin1'));
      start = i + unit;
    }
  }
  if (out.length !== count) return undefined;
  for (let i = start; i < b.length; i++) if (b[i] !== 0) return undefined; // only null padding may follow
  return out;
}

/**
 * Array elements one packet may hold over all its variables (protocol-notes #108), each block charged once whatever
 * readings are tried: far above what any WDS message carries (WDSMC_OP_INITIATE has no arrays), far below what
 * exhausts a WinPE heap (each element costs a JavaScript value, a BLOB's a Buffer of hundreds of bytes: a 16 MiB
 * reply of empty or one-byte elements once ran the heap out).
 */
const MAX_ELEMENTS = 65_536;

/**
 * The interpretations of one Variable Description Block at `pos`. A block that cannot be read gives a DecodeError;
 * arrays of variable-length types may give two (protocol-notes #24), tried in order by the caller.
 */
function readBlock(buf: Buffer, pos: number, end: number, last: boolean, budget: { elements: number }): Parsed[] | DecodeError {
  if (end - pos < VAR_HEAD) return new DecodeError('truncated', `variable block at ${pos} needs ${VAR_HEAD} bytes, ${end - pos} left`);
  const name = readWstring(buf.subarray(pos, pos + NAME_BYTES));
  if (name === '') return new DecodeError('bad-value', `variable block at ${pos} has an empty Variable-Name`);
  const typeId = buf.readUInt32LE(pos + 68);
  const valueLength = buf.readUInt32LE(pos + 72);
  const arraySize = buf.readUInt32LE(pos + 76);
  const start = pos + VAR_HEAD;
  // protocol-notes #23: ARRAY as the high 16-bit modifier field (0x1000xxxx) or OR-ed into the base (0x00001xxx).
  const modifier = typeId >>> 16;
  let baseId = typeId & 0xffff;
  let isArray = modifier === ARRAY;
  let known = modifier === 0 || isArray;
  if (baseId & ARRAY) {
    known &&= !isArray;
    isArray = true;
    baseId &= ~ARRAY;
  }
  const baseName = (Object.keys(BASE) as BaseName[]).find((k) => BASE[k] === baseId);
  known &&= baseName !== undefined;
  const lengths: number[] = [];
  if (!known || !isArray) lengths.push(valueLength); // 2.2.1.3.3.1: Array-Size ignored (protocol-notes #25)
  else {
    lengths.push(valueLength * arraySize); // 2.2.1.3.3.2: Value-Length x Array-Size
    if (baseName !== undefined && !WIDTH[baseName] && arraySize > 1) lengths.push(valueLength); // reading (b) of protocol-notes #24
  }
  const out: Parsed[] = [];
  let error: DecodeError | undefined;
  let charged = false;
  for (const len of lengths) {
    if (len > end - start) {
      error ??= new DecodeError('bad-length', `${name}: value of ${len} bytes exceeds the packet (${end - start} left)`);
      continue;
    }
    // A hostile Array-Size with a zero Value-Length would make us build billions of empty elements: no array may
    // have more elements than the packet has bytes, and no packet more than MAX_ELEMENTS in all (charged once per
    // block, whichever of its readings are tried).
    if (isArray && known && arraySize > buf.length) {
      error ??= new DecodeError('bad-count', `${name}: Array-Size ${arraySize} exceeds the packet (${buf.length} bytes)`);
      continue;
    }
    if (isArray && known && !charged) {
      if (arraySize > budget.elements) {
        error ??= new DecodeError('bad-count', `${name}: Array-Size ${arraySize} takes the packet past ${MAX_ELEMENTS} array elements`);
        break;
      }
      budget.elements -= arraySize;
      charged = true;
    }
    const valueEnd = start + len;
    // protocol-notes #26: the last block may end without its Padding_end.
    const padded = valueEnd + pad16(VAR_HEAD + len);
    let next = padded;
    if (padded > end) {
      if (!last) {
        error ??= new DecodeError('truncated', `${name}: Padding_end runs past the packet`);
        continue;
      }
      next = end;
    }
    const value = buf.subarray(start, valueEnd);
    try {
      const variable = interpret(name, typeId, baseName, known, isArray, value, valueLength, arraySize, len !== valueLength * arraySize);
      if (variable) out.push({ variable, next });
      else error ??= new DecodeError('bad-length', `${name}: ${len} bytes do not split into ${arraySize} elements`);
    } catch (e) {
      if (!(e instanceof ShortRead)) throw e;
      error ??= new DecodeError(e.code, e.message);
    }
  }
  return out.length ? out : error!;
}

function interpret(
  name: string,
  typeId: number,
  base: BaseName | undefined,
  known: boolean,
  isArray: boolean,
  value: Buffer,
  valueLength: number,
  arraySize: number,
  totalLength: boolean,
): WdscVariable | undefined {
  if (!known || base === undefined) return { name, type: 'unknown', typeId, value: Buffer.from(value) };
  const width = WIDTH[base];
  const one = (b: Buffer): number | bigint | string | Buffer => {
    if (width) return readNumber(b, base, name);
    if (base === 'STRING') return cString(b);
    if (base === 'WSTRING') return readWstring(b);
    return Buffer.from(b);
  };
  if (!isArray) return { name, type: base, value: one(value) } as WdscVariable;
  let elems: (number | bigint | string | Buffer)[];
  if (!totalLength) {
    elems = [];
    for (let i = 0; i < arraySize; i++) {
      const slot = value.subarray(i * valueLength, (i + 1) * valueLength);
      // A string slot holds its terminator and only nulls after it (what a literal sender writes, #24).
      if ((base === 'STRING' || base === 'WSTRING') && !splitStrings(slot, base === 'WSTRING', 1)) return undefined;
      elems.push(one(slot));
    }
  } else if (base === 'BLOB') {
    if (valueLength % arraySize !== 0) return undefined;
    const each = valueLength / arraySize;
    elems = [];
    for (let i = 0; i < arraySize; i++) elems.push(Buffer.from(value.subarray(i * each, (i + 1) * each)));
  } else {
    const parts = splitStrings(value, base === 'WSTRING', arraySize);
    if (!parts) return undefined;
    elems = parts;
  }
  return { name, type: `${base}[]`, value: elems } as WdscVariable;
}

/**
 * The Variables Section: Variable-Count blocks that fill [pos, end) exactly. Where a block has two readings the
 * first that lets the rest of the section parse wins (depth-first, failed (index, offset) pairs remembered, so
 * the work stays linear in the number of blocks).
 */
function readVariables(buf: Buffer, pos: number, end: number, count: number): Decoded<WdscVariable[]> {
  if (count * VAR_HEAD > end - pos) return fail('bad-count', `Variable-Count ${count} but only ${end - pos} bytes of variables`);
  const dead = new Set<string>();
  const budget = { elements: MAX_ELEMENTS };
  let firstError: DecodeError | undefined;
  const walk = (i: number, at: number): WdscVariable[] | undefined => {
    const out: WdscVariable[] = [];
    for (; i < count; i++) {
      const alts = readBlock(buf, at, end, i === count - 1, budget);
      if (alts instanceof DecodeError) {
        firstError ??= alts;
        return undefined;
      }
      if (alts.length === 1) {
        out.push(alts[0]!.variable);
        at = alts[0]!.next;
        continue;
      }
      for (const alt of alts) {
        const key = `${i + 1}:${alt.next}`;
        if (dead.has(key)) continue;
        const rest = walk(i + 1, alt.next);
        if (rest) return [...out, alt.variable, ...rest];
        dead.add(key);
      }
      return undefined;
    }
    if (at !== end) {
      firstError ??= new DecodeError('trailing', `${end - at} bytes after the last variable`);
      return undefined;
    }
    return out;
  };
  const vars = walk(0, pos);
  if (!vars) return { ok: false, error: firstError! };
  // 2.2.1.3.1: names are case-insensitive and MUST NOT repeat; an exact repeat is accepted (protocol-notes #28).
  const seen = new Map<string, WdscVariable>();
  const unique: WdscVariable[] = [];
  for (const v of vars) {
    const key = v.name.toLowerCase();
    const prev = seen.get(key);
    if (!prev) {
      seen.set(key, v);
      unique.push(v);
    } else if (!sameValue(prev, v)) return fail('bad-value', `variable ${v.name} appears twice with different values`);
  }
  return ok(unique);
}

function sameValue(a: WdscVariable, b: WdscVariable): boolean {
  const norm = (v: WdscVariable) => JSON.stringify({ ...v, name: undefined }, (_k, x: unknown) => (typeof x === 'bigint' ? `${x}n` : x));
  return norm(a) === norm(b);
}

/** Decodes a request or reply packet. Never throws. */
export function decodeWdsc(buf: Buffer): Decoded<WdscPacket> {
  return guard('wdsc', () => {
    const r = new Reader(buf);
    const headerSize = r.u16le('Size-Of-Header');
    const version = r.u16le('Version');
    const packetSize = r.u32le('Packet-Size');
    // protocol-notes #22: Size-Of-Header locates the Operation Header; it must at least hold the GUID.
    if (headerSize < 24) return fail('bad-length', `Size-Of-Header ${headerSize} is smaller than the 24 bytes before Reserved`);
    if (version !== VERSION) return fail('bad-magic', `Endpoint Header Version 0x${version.toString(16)}, expected 0x0100`);
    const endpoint = bytesToGuid(r.bytes(16, 'Endpoint-GUID'));
    if (packetSize > buf.length) return fail('truncated', `Packet-Size ${packetSize} but ${buf.length} bytes`);
    if (packetSize !== buf.length) return fail('trailing', `Packet-Size ${packetSize} but ${buf.length} bytes`);
    if (headerSize > buf.length) return fail('truncated', `Size-Of-Header ${headerSize} but ${buf.length} bytes`);
    r.pos = headerSize;
    const opStart = r.pos;
    const opSize = r.u32le('Operation Packet-Size');
    const opVersion = r.u16le('Operation Version');
    const packetType = r.u8('Packet-Type');
    r.u8('Padding1');
    const code = r.u32le('OpCode-ErrorCode');
    const count = r.u32le('Variable-Count');
    if (opVersion !== VERSION) return fail('bad-magic', `Operation Header Version 0x${opVersion.toString(16)}, expected 0x0100`);
    if (opSize !== buf.length - opStart) return fail('bad-length', `Operation Header Packet-Size ${opSize}, but ${buf.length - opStart} bytes follow the Endpoint Header`);
    const vars = readVariables(buf, opStart + OPERATION_HEADER, buf.length, count);
    if (!vars.ok) return vars;
    return ok({ endpoint, packetType, code, variables: vars.value });
  });
}

/** Case-insensitive lookup (2.2.1.3.1). */
export function findVariable(p: WdscPacket, ...names: string[]): WdscVariable | undefined {
  for (const n of names) {
    const v = p.variables.find((x) => x.name.toLowerCase() === n.toLowerCase());
    if (v) return v;
  }
  return undefined;
}
