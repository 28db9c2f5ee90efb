/** Byte-level mutations of valid packets, shared by the fast-check suites (codec/fuzz.test.ts, wdsc/fuzz.test.ts). */
import fc from 'fast-check';

type Mutation =
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
