/**
 * Builders for MS-WDSC packets written from the text of MS-WDSC 2.2.1 (sizes from the field descriptions), with
 * no code from core/wdsc, so that a mistake shared with the codec cannot hide. Everything is hex text.
 */

/** A little-endian unsigned field of `bytes` bytes, as hex. */
export function le(v: number | bigint, bytes: number): string {
  let x = BigInt(v);
  let out = '';
  for (let i = 0; i < bytes; i++) {
    out += Number(x & 0xffn)
      .toString(16)
      .padStart(2, '0');
    x >>= 8n;
  }
  return out;
}

/** UTF-16LE of s, with the terminating null when `nul`. */
export function utf16(s: string, nul = true): string {
  return Buffer.from(s + (nul ? '\0' : ''), 'utf16le').toString('hex');
}

/** 2.2.1.3.1 Variable Description Block: Variable-Name (66 bytes), Padding1 (2), Type, Value-Length, Array-Size, value, Padding_end to a multiple of 16. */
export function block(name: string, type: number, valueLength: number, arraySize: number, valueHex: string, padding = true): string {
  const nameHex = utf16(name).padEnd(66 * 2, '0');
  const head = nameHex + '0000' + le(type, 4) + le(valueLength, 4) + le(arraySize, 4);
  const size = (head.length + valueHex.length) / 2;
  return head + valueHex + (padding ? '00'.repeat((16 - (size % 16)) % 16) : '');
}

/** The MS-WDSMSI endpoint GUID 6f13a317-3687-4b54-81a5-504daa9062fa in MS-DTYP 2.3.4.2 order (Data1-3 little-endian). */
export const MSI_GUID_HEX = '17a3136f' + '8736' + '544b' + '81a5504daa9062fa';

/**
 * 2.2.1.1 Endpoint Header (Size-Of-Header 0x0028, Version 0x0100, Packet-Size, GUID, 16 reserved zero bytes) +
 * 2.2.1.2 Operation Header (Packet-Size, Version 0x0100, Packet-Type, Padding1, OpCode-ErrorCode, Variable-Count) +
 * the blocks.
 */
export function packet(packetType: number, code: number, blocks: string[], guidHex = MSI_GUID_HEX, count = blocks.length): string {
  const vars = blocks.join('');
  const opSize = 16 + vars.length / 2;
  const op = le(opSize, 4) + le(0x0100, 2) + le(packetType, 1) + '00' + le(code, 4) + le(count, 4);
  const total = 40 + opSize;
  return le(0x28, 2) + le(0x0100, 2) + le(total, 4) + guidHex + '00'.repeat(16) + op + vars;
}

/** Variable-Type values (2.2.1.3.2.1, 2.2.1.3.2.2). */
export const T = { BYTE: 0x01, USHORT: 0x02, ULONG: 0x04, ULONG64: 0x08, STRING: 0x10, WSTRING: 0x20, BLOB: 0x40, ARRAY: 0x1000 };
