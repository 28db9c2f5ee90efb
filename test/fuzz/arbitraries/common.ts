/**
 * Arbitraries and byte mutations shared by the fast-check property suites under test/core and the fuzz target table
 * (test/fuzz/targets.ts). Nothing here imports vitest: the fuzz runner bundles it (dist/fuzz.cjs).
 */
import fc from 'fast-check';
import { DecodeError, DecodeErrorCode } from '../../../core/codec/bytes';

export const u8 = fc.integer({ min: 0, max: 0xff });
export const u16 = fc.integer({ min: 0, max: 0xffff });
/** A UDP port a packet may name: 0 is none (protocol-notes #108: decoders refuse it). */
export const port = fc.integer({ min: 1, max: 0xffff });
export const u32 = fc.integer({ min: 0, max: 0xffffffff });
/** 64-bit fields read with Reader.u64 reject values >= 2^53. */
export const u53 = fc.maxSafeNat();
export const u64 = fc.bigInt({ min: 0n, max: 2n ** 64n - 1n });
export const bytes = (maxLength: number, minLength = 0) => fc.uint8Array({ minLength, maxLength }).map((a) => Buffer.from(a));
export const ipv4 = fc.tuple(u8, u8, u8, u8).map((a) => a.join('.'));

// ---------------------------------------------------------------------------------------------------------------
// Mutations of valid packets
// ---------------------------------------------------------------------------------------------------------------
export type Mutation =
  | { kind: 'flip'; pos: number; bit: number }
  | { kind: 'truncate'; len: number }
  | { kind: 'append'; extra: Buffer }
  | { kind: 'overwrite'; pos: number; value: number };

export const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('flip' as const), pos: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }),
  fc.record({ kind: fc.constant('truncate' as const), len: fc.nat() }),
  fc.record({ kind: fc.constant('append' as const), extra: fc.uint8Array({ minLength: 1, maxLength: 8 }).map((a) => Buffer.from(a)) }),
  fc.record({ kind: fc.constant('overwrite' as const), pos: fc.nat(), value: fc.integer({ min: 0, max: 0xff }) }),
);

export function mutate(wire: Buffer, m: Mutation): Buffer {
  const b = Buffer.from(wire);
  switch (m.kind) {
    case 'flip':
      if (b.length) b[m.pos % b.length] = b[m.pos % b.length]! ^ (1 << m.bit);
      return b;
    case 'truncate':
      return b.subarray(0, m.len % (b.length + 1));
    case 'append':
      return Buffer.concat([b, m.extra]);
    case 'overwrite':
      if (b.length) b[m.pos % b.length] = m.value;
      return b;
  }
}

/** 1..6 bytes of a fixed buffer set to random values (the RPC and key suites' mutation). */
export const mutated = (v: Buffer) =>
  fc.array(fc.tuple(fc.nat(v.length - 1), u8), { minLength: 1, maxLength: 6 }).map((muts) => {
    const b = Buffer.from(v);
    for (const [i, x] of muts) b[i] = x;
    return b;
  });

// ---------------------------------------------------------------------------------------------------------------
// The decoders' result contract
// ---------------------------------------------------------------------------------------------------------------
/** Every DecodeErrorCode; the Record makes tsc fail if the union gains or loses a member. */
const CODES: Record<DecodeErrorCode, true> = {
  truncated: true,
  trailing: true,
  'bad-magic': true,
  'bad-count': true,
  'bad-length': true,
  'unknown-opcode': true,
  checksum: true,
  'unsupported-security': true,
  unauthenticated: true,
  'security-mismatch': true,
  'session-mismatch': true,
  'missing-option': true,
  'bad-value': true,
};
export const KNOWN_CODES = Object.keys(CODES) as DecodeErrorCode[];

/** The shape every decoder promises: {ok:true, value} or {ok:false, error} with a known code. */
export function isWellFormedResult(r: unknown): boolean {
  if (typeof r !== 'object' || r === null) return false;
  const x = r as { ok?: unknown; value?: unknown; error?: unknown };
  if (x.ok === true) return 'value' in x && x.error === undefined;
  if (x.ok !== false) return false;
  return x.error instanceof DecodeError && (KNOWN_CODES as string[]).includes(x.error.code);
}
