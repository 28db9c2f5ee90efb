import pino from 'pino';
import { expect } from 'vitest';
import type { Logger } from '../../../agent/log/log';

/** A logger that keeps its JSON lines (to assert on warnings, and that nothing is logged per chunk). */
export function memLogger(): { log: Logger; lines: () => Record<string, unknown>[] } {
  const raw: string[] = [];
  const log = pino({ level: 'debug' }, { write: (s: string) => void raw.push(s) });
  return { log, lines: () => raw.map((s) => JSON.parse(s) as Record<string, unknown>) };
}

export function randomBody(n: number, seed = 1): Buffer {
  // deterministic and incompressible enough: xorshift32, a word at a time (fast for tens of MiB)
  const words = new Uint32Array(Math.ceil(n / 4));
  let x = (seed * 0x9e3779b9) >>> 0 || 1;
  for (let i = 0; i < words.length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    words[i] = x >>> 0;
  }
  return Buffer.from(words.buffer, 0, n);
}

/**
 * Assembles delivered chunks into a buffer and counts how often each byte was delivered: `check` proves that
 * every byte of `wanted` arrived exactly once with the source's value, and no other byte arrived at all.
 */
export class Assembler {
  readonly buf: Buffer;
  readonly hits: Uint8Array;
  delivered = 0;
  calls = 0;
  constructor(readonly size: number) {
    this.buf = Buffer.alloc(size);
    this.hits = new Uint8Array(size);
  }
  onData = (offset: number, chunk: Buffer): void => {
    expect(offset + chunk.length).toBeLessThanOrEqual(this.size);
    chunk.copy(this.buf, offset);
    for (let i = offset; i < offset + chunk.length; i++) this.hits[i]!++;
    this.delivered += chunk.length;
    this.calls++;
  };
  /** An onData that resolves later (a disk that takes its time). */
  slowOnData = async (offset: number, chunk: Buffer): Promise<void> => {
    await new Promise((r) => setImmediate(r));
    this.onData(offset, chunk);
  };
  check(source: Buffer, wanted: [number, number][] = [[0, source.length - 1]]): void {
    const want = new Uint8Array(this.size);
    let n = 0;
    for (const [s, e] of wanted)
      for (let i = s; i <= e; i++) {
        want[i] = 1;
        n++;
      }
    let twice = 0;
    let missing = 0;
    let extra = 0;
    for (let i = 0; i < this.size; i++) {
      if (this.hits[i]! > 1) twice++;
      if (want[i] && this.hits[i] === 0) missing++;
      if (!want[i] && this.hits[i]) extra++;
    }
    expect({ twice, missing, extra }).toEqual({ twice: 0, missing: 0, extra: 0 });
    expect(this.delivered).toBe(n);
    for (const [s, e] of wanted) expect(this.buf.subarray(s, e + 1).equals(source.subarray(s, e + 1))).toBe(true);
  }
}
