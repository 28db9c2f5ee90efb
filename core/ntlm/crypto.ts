/**
 * The primitives NTLM needs. Node 20 refuses MD4 and RC4 in node:crypto (OpenSSL 3 moved them to the legacy
 * provider), so both are written here: MD4 from RFC 1320, RC4 as the classic key schedule + PRGA. MD5 and
 * HMAC-MD5 come from node:crypto. None of these functions logs or keeps what it is given.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';

const rotl = (x: number, s: number): number => (x << s) | (x >>> (32 - s));

/** MD4 (RFC 1320). */
export function md4(input: Uint8Array): Buffer {
  const len = input.length;
  const blocks = ((len + 8) >>> 6) + 1;
  const m = Buffer.alloc(blocks * 64);
  m.set(input);
  m[len] = 0x80;
  const bits = len * 8;
  m.writeUInt32LE(bits % 0x1_0000_0000, blocks * 64 - 8);
  m.writeUInt32LE(Math.floor(bits / 0x1_0000_0000), blocks * 64 - 4);
  let a = 0x67452301;
  let b = 0xefcdab89;
  let c = 0x98badcfe;
  let d = 0x10325476;
  const x = new Int32Array(16);
  const f = (p: number, q: number, r: number) => (p & q) | (~p & r);
  const g = (p: number, q: number, r: number) => (p & q) | (p & r) | (q & r);
  const h = (p: number, q: number, r: number) => p ^ q ^ r;
  for (let blk = 0; blk < blocks; blk++) {
    for (let i = 0; i < 16; i++) x[i] = m.readInt32LE(blk * 64 + i * 4);
    const [aa, bb, cc, dd] = [a, b, c, d];
    for (let i = 0; i < 16; i += 4) {
      a = rotl((a + f(b, c, d) + x[i]!) | 0, 3);
      d = rotl((d + f(a, b, c) + x[i + 1]!) | 0, 7);
      c = rotl((c + f(d, a, b) + x[i + 2]!) | 0, 11);
      b = rotl((b + f(c, d, a) + x[i + 3]!) | 0, 19);
    }
    for (let i = 0; i < 4; i++) {
      a = rotl((a + g(b, c, d) + x[i]! + 0x5a827999) | 0, 3);
      d = rotl((d + g(a, b, c) + x[i + 4]! + 0x5a827999) | 0, 5);
      c = rotl((c + g(d, a, b) + x[i + 8]! + 0x5a827999) | 0, 9);
      b = rotl((b + g(c, d, a) + x[i + 12]! + 0x5a827999) | 0, 13);
    }
    for (const i of [0, 2, 1, 3]) {
      a = rotl((a + h(b, c, d) + x[i]! + 0x6ed9eba1) | 0, 3);
      d = rotl((d + h(a, b, c) + x[i + 8]! + 0x6ed9eba1) | 0, 9);
      c = rotl((c + h(d, a, b) + x[i + 4]! + 0x6ed9eba1) | 0, 11);
      b = rotl((b + h(c, d, a) + x[i + 12]! + 0x6ed9eba1) | 0, 15);
    }
    a = (a + aa) | 0;
    b = (b + bb) | 0;
    c = (c + cc) | 0;
    d = (d + dd) | 0;
  }
  const out = Buffer.alloc(16);
  out.writeInt32LE(a, 0);
  out.writeInt32LE(b, 4);
  out.writeInt32LE(c, 8);
  out.writeInt32LE(d, 12);
  return out;
}

/** An RC4 key stream that continues across calls (MS-NLMP's "handle"). */
export class Rc4 {
  private readonly s = new Uint8Array(256);
  private i = 0;
  private j = 0;
  constructor(key: Uint8Array) {
    if (key.length === 0) throw new RangeError('RC4 key must not be empty');
    const s = this.s;
    for (let k = 0; k < 256; k++) s[k] = k;
    for (let k = 0, j = 0; k < 256; k++) {
      j = (j + s[k]! + key[k % key.length]!) & 0xff;
      const t = s[k]!;
      s[k] = s[j]!;
      s[j] = t;
    }
  }
  /** XORs `buf[start, end)` with the next key-stream bytes, in place. */
  apply(buf: Uint8Array, start = 0, end = buf.length): void {
    const s = this.s;
    let { i, j } = this;
    for (let k = start; k < end; k++) {
      i = (i + 1) & 0xff;
      j = (j + s[i]!) & 0xff;
      const t = s[i]!;
      s[i] = s[j]!;
      s[j] = t;
      buf[k] = buf[k]! ^ s[(s[i]! + s[j]!) & 0xff]!;
    }
    this.i = i;
    this.j = j;
  }
  /** The state, to put back with restore() when a message turns out to be forged. */
  snapshot(): { s: Uint8Array; i: number; j: number } {
    return { s: Uint8Array.from(this.s), i: this.i, j: this.j };
  }
  restore(st: { s: Uint8Array; i: number; j: number }): void {
    this.s.set(st.s);
    this.i = st.i;
    this.j = st.j;
  }
  toJSON(): string {
    return '[RC4 state hidden]';
  }
  [Symbol.for('nodejs.util.inspect.custom')](): string {
    return 'Rc4 { [state hidden] }';
  }
}

/** RC4K(key, message): a one-time RC4 instance (MS-NLMP 3.1.5.1). */
export function rc4k(key: Uint8Array, data: Uint8Array): Buffer {
  const out = Buffer.from(data);
  new Rc4(key).apply(out);
  return out;
}

export function md5(...parts: Uint8Array[]): Buffer {
  const h = createHash('md5');
  for (const p of parts) h.update(p);
  return h.digest();
}

export function hmacMd5(key: Uint8Array, ...parts: Uint8Array[]): Buffer {
  const h = createHmac('md5', key);
  for (const p of parts) h.update(p);
  return h.digest();
}

/** Constant-time comparison; false for different lengths. */
export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}
