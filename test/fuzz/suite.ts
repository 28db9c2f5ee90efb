/**
 * The fuzz target table under vitest: every target of one kind at 10^4 inputs (CI), from a fixed seed
 * (OSDCAST_FUZZ_SEED to change it, OSDCAST_FUZZ_RUNS the count). `npm run fuzz` runs the same targets at 10^6.
 * Two files (decoders.test.ts, machines.test.ts) so vitest's two workers share the time. A failure shows
 * fast-check's shrunk counterexample and the seed to replay it with.
 */
import { describe, expect, it } from 'vitest';
import { FuzzTarget } from './target';
import { TARGETS } from './targets';
import { runTarget } from './run';

const RUNS = Number(process.env.OSDCAST_FUZZ_RUNS ?? 10_000);
const SEED = Number(process.env.OSDCAST_FUZZ_SEED ?? 20261202);

export function fuzzSuite(kind: FuzzTarget['kind'], mustHave: string[]): void {
  describe(`fuzz: the ${kind} targets at ${RUNS} runs (seed ${SEED})`, () => {
    const mine = TARGETS.filter((t) => t.kind === kind);

    it('the table has them all, each once', () => {
      const names = TARGETS.map((t) => t.name);
      expect(new Set(names).size).toBe(names.length);
      for (const n of mustHave) expect(mine.map((t) => t.name)).toContain(n);
    });

    for (const t of mine) {
      it(`${t.name}: ${t.about}`, { timeout: 300_000 }, () => {
        const r = runTarget(t, { runs: RUNS, seed: SEED });
        expect(r.failures, r.report).toBe(0);
        expect(r.runs).toBe(RUNS);
      });
    }
  });
}
