/**
 * What a fuzz target is, and the one-line way to register a codec as one (`codecTarget`). A target is an input
 * arbitrary (valid, mutated and random inputs mixed) and a check that throws a `FuzzFailure` naming the broken
 * property. The same table runs under vitest (test/fuzz/decoders.test.ts and machines.test.ts, 10^4 per target) and `npm run fuzz`
 * (test/fuzz/main.ts, 10^6). No vitest import here: the runner bundles this file.
 */
import fc from 'fast-check';
import { Decoded } from '../../core/codec/bytes';
import { Mutation, bytes, isWellFormedResult, mutate, mutation } from './arbitraries/common';

export interface FuzzTarget<T = unknown> {
  name: string;
  kind: 'decoder' | 'machine';
  /** One line: what is driven and what is checked. */
  about: string;
  input: fc.Arbitrary<T>;
  /** Throws on a failure (a `FuzzFailure`, or whatever the code under test threw). */
  check(x: T): void;
  /** Counts of accepted non-canonical forms, by exemption (decoders), or of notable outcomes (machines). */
  seen?: Map<string, number>;
}

export class FuzzFailure extends Error {
  override name = 'FuzzFailure';
}

export function fail(what: string, detail?: Record<string, unknown>): never {
  throw new FuzzFailure(detail ? `${what}\n${Object.entries(detail).map(([k, v]) => `  ${k}: ${show(v)}`).join('\n')}` : what);
}

export function assert(cond: unknown, what: string, detail?: Record<string, unknown>): asserts cond {
  if (!cond) fail(what, detail);
}

export function count(seen: Map<string, number> | undefined, key: string): void {
  if (seen) seen.set(key, (seen.get(key) ?? 0) + 1);
}

/** Deep equality as vitest's toEqual: bytes by content, keys whose value is undefined count as absent. */
export function same(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (a instanceof Uint8Array || b instanceof Uint8Array) {
    if (!(a instanceof Uint8Array && b instanceof Uint8Array) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
    return true;
  }
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return typeof a === 'number' && typeof b === 'number' && Number.isNaN(a) && Number.isNaN(b);
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a)) return a.length === (b as unknown[]).length && a.every((x, i) => same(x, (b as unknown[])[i]));
  const ka = Object.keys(a).filter((k) => (a as Record<string, unknown>)[k] !== undefined);
  const kb = Object.keys(b).filter((k) => (b as Record<string, unknown>)[k] !== undefined);
  return ka.length === kb.length && ka.every((k) => same((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]));
}

/** A value for a failure report: bytes as hex, bigints with n, the rest as JSON. */
export function show(v: unknown): string {
  return JSON.stringify(v, (_k, x) => {
    if (typeof x === 'bigint') return `${x}n`;
    if (x && typeof x === 'object' && (x as { type?: unknown }).type === 'Buffer' && Array.isArray((x as { data?: unknown }).data)) return `hex:${Buffer.from((x as { data: number[] }).data).toString('hex')}`;
    if (x instanceof Uint8Array) return `hex:${Buffer.from(x).toString('hex')}`;
    return x;
  });
}

// ---------------------------------------------------------------------------------------------------------------
// Codecs
// ---------------------------------------------------------------------------------------------------------------

/**
 * A non-canonical form the decoder accepts on purpose: `x` (the input) decoded to `v`, and `y = encode(v)` differs
 * from `x`. `applies` says whether the difference is exactly this form; `note` is the docs/protocol-notes.md row
 * (or 'unlisted' with the reason, for forms the notes do not list).
 */
export interface Exemption<V> {
  note: string;
  what: string;
  /** True, or the name of the form(s) found when one exemption covers several. */
  applies(x: Buffer, y: Buffer, v: V): boolean | string;
}

export interface CodecSpec<M, V> {
  name: string;
  about: string;
  /** Valid messages of every type. */
  messages: fc.Arbitrary<M>;
  encode(m: M): Buffer;
  decode(b: Buffer): Decoded<V>;
  /** What decode(encode(m)) must be (default: m itself). */
  expected?(m: M, decoded: V): unknown;
  /** Re-encodes a decoded value (default: `encode`, when V is M); undefined: the value has no encoding (see `unencodable`). */
  reencode?(v: V): Buffer | undefined;
  /** Why some decoded values have no encoding (the note and what), when `reencode` can return undefined. */
  unencodable?: string;
  /** Fields of a decoded value that the encoder recomputes (e.g. a padding length), cleared before comparing. */
  normalize?(v: V): V;
  /** Accepted non-canonical forms (see Exemption). */
  exemptions?: Exemption<V>[];
  /** More inputs: random bytes behind a plausible header, other forms a mutation cannot reach. */
  extra?: fc.Arbitrary<Buffer>[];
  /** Further decoders that must never throw on any of the inputs, and checks on each decoded input. */
  alsoNeverThrow?: ((b: Buffer) => unknown)[];
  also?(x: Buffer, r: Decoded<V>): void;
  /** Longest random input (default 300). */
  maxRandom?: number;
}

type CodecInput<M> = { k: 'valid'; m: M } | { k: 'mutated'; m: M; ms: Mutation[] } | { k: 'bytes'; b: Buffer };

/**
 * A codec as a fuzz target, checking for every input:
 *  - the decoder and `alsoNeverThrow` never throw and give {ok, value} or {ok:false, error} with a known code;
 *  - valid messages: decode(encode(m)) = expected(m), and encode(decode(x)) = x (the encoder's output is canonical);
 *  - any input that decodes: decode(encode(v)) = v, and encode(v) = x unless an exemption names the difference.
 */
export function codecTarget<M, V = M>(s: CodecSpec<M, V>): FuzzTarget<CodecInput<M>> {
  const reencode = s.reencode ?? ((v: V) => s.encode(v as unknown as M));
  const norm = s.normalize ?? ((v: V) => v);
  const seen = new Map<string, number>();
  const input: fc.Arbitrary<CodecInput<M>> = fc.oneof(
    { weight: 3, arbitrary: s.messages.map((m) => ({ k: 'valid' as const, m })) },
    { weight: 5, arbitrary: fc.tuple(s.messages, fc.array(mutation, { minLength: 1, maxLength: 4 })).map(([m, ms]) => ({ k: 'mutated' as const, m, ms })) },
    { weight: 1, arbitrary: bytes(s.maxRandom ?? 300).map((b) => ({ k: 'bytes' as const, b })) },
    ...(s.extra ?? []).map((a) => ({ weight: 1, arbitrary: a.map((b) => ({ k: 'bytes' as const, b })) })),
  );
  const decodeChecked = (x: Buffer): Decoded<V> => {
    const r = s.decode(x);
    assert(isWellFormedResult(r), 'decoder result is not {ok:true,value} or {ok:false,error} with a known code', { input: x, result: r });
    for (const d of s.alsoNeverThrow ?? []) assert(isWellFormedResult(d(x)), 'a further decoder gave a malformed result', { input: x });
    s.also?.(x, r);
    return r;
  };
  const canonical = (x: Buffer, v: V) => {
    const y = reencode(v);
    if (y === undefined) {
      assert(s.unencodable, 'a decoded value has no encoding', { input: x, decoded: v });
      count(seen, s.unencodable);
      return;
    }
    const back = s.decode(y);
    assert(back.ok && same(norm(back.value), norm(v)), 'decode(encode(decode(x))) != decode(x)', { input: x, decoded: v, reencoded: y, back });
    if (y.equals(x)) return;
    for (const e of s.exemptions ?? []) {
      const why = e.applies(x, y, v);
      if (why === false) continue;
      count(seen, typeof why === 'string' ? why : `${e.note}: ${e.what}`);
      return;
    }
    fail('encode(decode(x)) != x and no protocol-notes exemption names the difference', { input: x, reencoded: y, decoded: v });
  };
  return {
    name: s.name,
    kind: 'decoder',
    about: s.about,
    input,
    seen,
    check(c) {
      if (c.k === 'valid') {
        const wire = s.encode(c.m);
        const r = decodeChecked(wire);
        assert(r.ok, 'a valid message does not decode', { message: c.m, wire, error: r.ok ? undefined : r.error.message });
        const want = s.expected ? s.expected(c.m, r.value) : c.m;
        assert(same(r.value, want), 'decode(encode(m)) != m', { message: want, decoded: r.value, wire });
        const y = reencode(r.value);
        assert(y?.equals(wire), 'encode(decode(x)) != x for an encoder output (canonical)', { wire, reencoded: y });
        return;
      }
      const x = c.k === 'bytes' ? c.b : c.ms.reduce(mutate, s.encode(c.m));
      const r = decodeChecked(x);
      if (r.ok) canonical(x, r.value);
    },
  };
}

/**
 * Bytes the decoder does not read (reserved fields, padding, unused slots): x and y have the same length and every
 * byte where they differ can be set to any value (tried: y's, and two others) without changing what x decodes to.
 * `what` names the fields these are for the codec; `allowed` names positions another accepted form explains.
 */
export function ignoredBytes<V>(decode: (b: Buffer) => Decoded<V>, note: string, what: string, allowed?: (i: number, x: Buffer, y: Buffer) => boolean): Exemption<V> {
  return {
    note,
    what,
    applies(x, y, v) {
      if (x.length !== y.length) return false;
      for (let i = 0; i < x.length; i++) {
        if (x[i] === y[i] || allowed?.(i, x, y)) continue;
        for (const b of [y[i]!, x[i]! ^ 0x5a, 0xff - x[i]!]) {
          const t = Buffer.from(x);
          t[i] = b;
          const r = decode(t);
          if (!r.ok || !same(r.value, v)) return false;
        }
      }
      return true;
    },
  };
}

/** Bytes after the message are not read: y is a strict prefix of x (the rest may also hold ignored bytes, see above). */
export function trailingIgnored<V>(decode: (b: Buffer) => Decoded<V>, note: string, what: string, alsoIgnored?: Exemption<V>): Exemption<V> {
  return {
    note,
    what,
    applies(x, y, v) {
      if (x.length <= y.length) return false;
      const head = x.subarray(0, y.length);
      const r = decode(head);
      if (!r.ok || !same(r.value, v)) return false;
      return head.equals(y) || (alsoIgnored?.applies(head, y, v) ?? false) !== false;
    },
  };
}

/** Same length, same value, differences only at positions `where` allows (coarse: for lenient sub-structures). */
export function onlyAt<V>(note: string, what: string, where: (i: number, x: Buffer) => boolean): Exemption<V> {
  return {
    note,
    what,
    applies(x, y) {
      if (x.length !== y.length) return false;
      for (let i = 0; i < x.length; i++) if (x[i] !== y[i] && !where(i, x)) return false;
      return true;
    },
  };
}
