/**
 * Text from bytes written by other programs: one place for byte-order marks. `decodeBomText` follows a BOM
 * (UTF-16LE, UTF-16BE, UTF-8; the mark itself is dropped) and reads UTF-8 otherwise; `decodeWindowsText` also
 * guesses what Windows tools write without a BOM (UTF-16LE, or an ANSI code page read as Latin-1).
 */

const BOMS: { bytes: number[]; decode: (b: Buffer) => string }[] = [
  { bytes: [0xef, 0xbb, 0xbf], decode: (b) => b.toString('utf8') },
  { bytes: [0xff, 0xfe], decode: (b) => b.toString('utf16le') },
  {
    bytes: [0xfe, 0xff],
    decode: (b) => {
      const c = Buffer.from(b.subarray(0, b.length & ~1));
      c.swap16();
      return c.toString('utf16le');
    },
  },
];

/** The UTF-8 byte-order mark, for writers (a new CMTrace file starts with it). */
export const UTF8_BOM = Buffer.from([0xef, 0xbb, 0xbf]);

/** Decoded by the BOM's encoding, or undefined when buf has no BOM. */
function byBom(buf: Buffer): string | undefined {
  for (const { bytes, decode } of BOMS) {
    if (buf.length >= bytes.length && bytes.every((x, i) => buf[i] === x)) return decode(buf.subarray(bytes.length));
  }
  return undefined;
}

/** By its BOM, else UTF-8 (invalid sequences become U+FFFD). */
export function decodeBomText(buf: Buffer): string {
  return byBom(buf) ?? buf.toString('utf8');
}

/** By its BOM; else UTF-16LE when nearly every odd byte is 0; else UTF-8 when valid; else Latin-1. */
export function decodeWindowsText(buf: Buffer): string {
  const bom = byBom(buf);
  if (bom !== undefined) return bom;
  if (buf.length >= 4 && buf.length % 2 === 0) {
    let oddZeros = 0;
    for (let i = 1; i < buf.length; i += 2) if (buf[i] === 0) oddZeros++;
    if (oddZeros >= (buf.length / 2) * 0.9) return buf.toString('utf16le');
  }
  try {
    return new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(buf);
  } catch {
    return buf.toString('latin1');
  }
}

/** A string without a leading U+FEFF (text that was decoded without looking at the mark). */
export function stripBom(s: string): string {
  return s.charCodeAt(0) === 0xfeff ? s.slice(1) : s;
}
