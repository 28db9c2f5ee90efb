/**
 * MS-WDSMT 2.2.2.3, the CHECKSUM security header: the sum of every byte from the Session Header on, as a uint32,
 * then all bits inverted. Every ODATA/RDATA the receiver takes and every packet the coordinator sends goes
 * through here, so it is the single largest cost of the receive hot path after Node's own datagram delivery
 * (docs/performance.md, "Receiver hot path without sockets").
 *
 * Three ways to the same sum, chosen per call:
 * - through the module: a 16-bytes-at-a-time loop in WebAssembly SIMD (a 154-byte module written out below, compiled once
 *   at load). The datagram is copied into the module's 64 KiB memory with one `set`, summed there, and nothing is
 *   allocated. Used for whole datagrams up to 64 KiB when the runtime has WebAssembly SIMD (Node ≥ 16.4 on x64
 *   and arm64 does).
 * - `checksumWide`: plain JavaScript, four bytes per read through an aligned Uint32Array scratch; the fallback.
 * - `checksumBytes`: a byte at a time (short or partial ranges).
 * A byte sum does not depend on byte order, so the wide forms read words in whatever order the platform does.
 * test/core/codec/fuzz.test.ts checks all three against the spec's byte sum.
 */

/**
 * The WebAssembly module, one instruction per line. Exports memory `m` (one 64 KiB page) and
 * `sum(start, end) -> i32`: the plain byte sum of m[start, end), end ≤ 65536.
 *
 *   (func $sum (param $p i32) (param $end i32) (result i32) (local $acc v128) (local $t i32)
 *     $t := $end - 16
 *     while $p <= $t:                       ;; 16 bytes at a time, unaligned loads are allowed
 *       $acc := $acc + extadd_pairwise_u16→u32(extadd_pairwise_u8→u16(v128.load $p))   ;; 4 lanes of ≤ 1020 each
 *       $p += 16
 *     $t := lane0 + lane1 + lane2 + lane3    ;; at most 65536 × 255: no overflow
 *     while $p < $end: $t += load8_u $p; $p += 1
 *     return $t
 */
// prettier-ignore
const SIMD_MODULE = Uint8Array.from([
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, // "\0asm", version 1
  0x01, 0x07, 0x01, 0x60, 0x02, 0x7f, 0x7f, 0x01, 0x7f, // type section: (i32, i32) -> i32
  0x03, 0x02, 0x01, 0x00, // function section: one function of type 0
  0x05, 0x03, 0x01, 0x00, 0x01, // memory section: one memory, at least 1 page
  0x07, 0x0b, 0x02, 0x01, 0x6d, 0x02, 0x00, 0x03, 0x73, 0x75, 0x6d, 0x00, 0x00, // exports: "m" memory 0, "sum" func 0
  0x0a, 0x71, 0x01, 0x6f, // code section (0x71 bytes), one body of 0x6f bytes
  0x02, 0x01, 0x7b, 0x01, 0x7f, // locals: 1 × v128 ($acc = local 2), 1 × i32 ($t = local 3)
  0x20, 0x01, 0x41, 0x10, 0x6b, 0x21, 0x03, // $t := $end - 16
  0x02, 0x40, 0x03, 0x40, // block, loop
  0x20, 0x00, 0x20, 0x03, 0x4a, 0x0d, 0x01, //   br_if out when $p > $t (signed: $t may be negative)
  0x20, 0x02, //   $acc
  0x20, 0x00, 0xfd, 0x00, 0x00, 0x00, //   v128.load [$p]
  0xfd, 0x7d, //   i16x8.extadd_pairwise_i8x16_u
  0xfd, 0x7f, //   i32x4.extadd_pairwise_i16x8_u
  0xfd, 0xae, 0x01, //   i32x4.add
  0x21, 0x02, //   → $acc
  0x20, 0x00, 0x41, 0x10, 0x6a, 0x21, 0x00, //   $p += 16
  0x0c, 0x00, 0x0b, 0x0b, //   br loop; end loop; end block
  0x20, 0x02, 0xfd, 0x1b, 0x00, // lane 0 of $acc
  0x20, 0x02, 0xfd, 0x1b, 0x01, 0x6a, // + lane 1
  0x20, 0x02, 0xfd, 0x1b, 0x02, 0x6a, // + lane 2
  0x20, 0x02, 0xfd, 0x1b, 0x03, 0x6a, // + lane 3
  0x21, 0x03, // → $t
  0x02, 0x40, 0x03, 0x40, // block, loop
  0x20, 0x00, 0x20, 0x01, 0x4f, 0x0d, 0x01, //   br_if out when $p >= $end
  0x20, 0x03, 0x20, 0x00, 0x2d, 0x00, 0x00, 0x6a, 0x21, 0x03, //   $t += load8_u [$p]
  0x20, 0x00, 0x41, 0x01, 0x6a, 0x21, 0x00, //   $p += 1
  0x0c, 0x00, 0x0b, 0x0b, //   br loop; end loop; end block
  0x20, 0x03, 0x0b, // $t; end
]);

interface SimdSum {
  mem: Uint8Array;
  sum: (start: number, end: number) => number;
}

/** The part of the WebAssembly JS API used here (this project's TypeScript libs do not declare it). */
interface WasmApi {
  validate(bytes: Uint8Array): boolean;
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object) => { exports: { m: { buffer: ArrayBuffer }; sum: (start: number, end: number) => number } };
}

function loadSimd(): SimdSum | undefined {
  const wasm = (globalThis as { WebAssembly?: WasmApi }).WebAssembly;
  try {
    if (!wasm || !wasm.validate(SIMD_MODULE)) return undefined;
    const { m, sum } = new wasm.Instance(new wasm.Module(SIMD_MODULE)).exports;
    return { mem: new Uint8Array(m.buffer), sum };
  } catch {
    return undefined; // no WebAssembly SIMD here: the JavaScript forms serve
  }
}

const SIMD = loadSimd();

/** @internal Whether this runtime sums through WebAssembly SIMD (the tests check it). */
export const checksumUsesSimd = SIMD !== undefined;

/** The checksum of buf[start, buf.length) in the module (whole buffers only: a `set` of one allocates nothing). */
function simdWhole(simd: SimdSum, buf: Uint8Array, start: number): number {
  simd.mem.set(buf);
  return ~(simd.sum(start, buf.length) >>> 0) >>> 0;
}

/** @internal The checksum of buf[start, end) through WebAssembly SIMD, or undefined where there is none (tests). */
export function checksumSimd(buf: Uint8Array, start: number, end = buf.length): number | undefined {
  if (!SIMD || start < 0 || end > SIMD.mem.length) return undefined;
  return simdWhole(SIMD, end === buf.length ? buf : buf.subarray(0, end), start);
}

/** The checksum of buf[start, end): the hot path's entry point. */
export function checksum(buf: Uint8Array, start: number, end = buf.length): number {
  if (SIMD !== undefined && start >= 0 && end === buf.length && end <= SIMD.mem.length) return simdWhole(SIMD, buf, start);
  return checksumWide(buf, start, end);
}

/**
 * Scratch for the JavaScript wide reads: the datagram is copied here once (a whole-buffer `set` allocates
 * nothing) and summed four bytes at a time through an aligned Uint32Array view made once.
 */
const SCRATCH = new Uint32Array(65536 / 4);
const SCRATCH8 = new Uint8Array(SCRATCH.buffer);
const LANES = 0x00ff00ff;

/**
 * The checksum in plain JavaScript with wide reads: each word is split into two lanes of alternate bytes
 * (x & 0x00ff00ff, (x >>> 8) & 0x00ff00ff), four words per step into two accumulators, 128 words at a time so a
 * 16-bit lane (at most 128 × 255) cannot carry into the next and the sum stays a small integer; then the lanes
 * are folded.
 */
export function checksumWide(buf: Uint8Array, start: number, end = buf.length): number {
  if (end !== buf.length || end > SCRATCH8.length || end - start < 64) return checksumBytes(buf, start, end);
  SCRATCH8.set(buf);
  let sum = 0;
  let i = start;
  const first = (start + 3) >>> 2; // first whole word at or after start
  for (const stop = first << 2; i < stop; i++) sum += buf[i]!;
  const words = end >>> 2;
  let w = first;
  while (w + 4 <= words) {
    const stop = Math.min(words - 3, w + 128);
    let lo = 0;
    let hi = 0;
    for (; w < stop; w += 4) {
      const x0 = SCRATCH[w]!;
      const x1 = SCRATCH[w + 1]!;
      const x2 = SCRATCH[w + 2]!;
      const x3 = SCRATCH[w + 3]!;
      lo = (lo + (x0 & LANES) + (x1 & LANES) + (x2 & LANES) + (x3 & LANES)) | 0;
      hi = (hi + ((x0 >>> 8) & LANES) + ((x1 >>> 8) & LANES) + ((x2 >>> 8) & LANES) + ((x3 >>> 8) & LANES)) | 0;
    }
    sum += (lo & 0xffff) + (lo >>> 16) + (hi & 0xffff) + (hi >>> 16);
  }
  for (; w < words; w++) {
    const x = SCRATCH[w]!;
    sum += (x & 0xff) + ((x >>> 8) & 0xff) + ((x >>> 16) & 0xff) + (x >>> 24);
  }
  for (i = words << 2; i < end; i++) sum += buf[i]!;
  return ~(sum >>> 0) >>> 0;
}

/** @internal The same sum a byte at a time (short or partial ranges; the tests' reference). */
export function checksumBytes(buf: Uint8Array, start: number, end = buf.length): number {
  let sum = 0;
  let i = start;
  for (const stop = end - 7; i < stop; i += 8) {
    sum += buf[i]! + buf[i + 1]! + buf[i + 2]! + buf[i + 3]! + buf[i + 4]! + buf[i + 5]! + buf[i + 6]! + buf[i + 7]!;
  }
  for (; i < end; i++) sum += buf[i]!;
  return ~(sum >>> 0) >>> 0;
}
