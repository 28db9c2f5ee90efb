/** Runs one fuzz target with fast-check for a number of inputs from a seed; no vitest (bundled into dist/fuzz.cjs). */
import fc from 'fast-check';
import { FuzzTarget } from './target';

export interface TargetResult {
  name: string;
  kind: FuzzTarget['kind'];
  runs: number;
  ms: number;
  failures: number;
  seed: number;
  /** fast-check's report of the (shrunk) counterexample, with the seed and path to replay it. */
  report?: string;
  /** Accepted non-canonical forms or notable outcomes seen, by name. */
  seen: Record<string, number>;
  /** Stopped by the time limit before `runs` reached what was asked. */
  interrupted?: boolean;
}

export function runTarget(t: FuzzTarget, o: { runs: number; seed: number; timeLimitMs?: number }): TargetResult {
  t.seen?.clear();
  const t0 = performance.now();
  const d = fc.check(
    fc.property(t.input, (x) => {
      t.check(x);
    }),
    { numRuns: o.runs, seed: o.seed, ...(o.timeLimitMs ? { interruptAfterTimeLimit: o.timeLimitMs, markInterruptAsFailure: false } : {}) },
  );
  const ms = performance.now() - t0;
  return {
    name: t.name,
    kind: t.kind,
    runs: d.numRuns,
    ms,
    failures: d.failed ? 1 : 0,
    seed: o.seed,
    ...(d.failed ? { report: `${fc.defaultReportMessage(d) ?? ''}\n${d.errorInstance instanceof Error ? (d.errorInstance.stack ?? d.errorInstance.message) : String(d.errorInstance)}` } : {}),
    seen: Object.fromEntries(t.seen ?? []),
    ...(d.interrupted ? { interrupted: true } : {}),
  };
}
