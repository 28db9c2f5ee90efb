/**
 * The fuzz target table under vitest: every target of test/fuzz/targets.ts at 10^4 inputs (CI), from a fixed seed
 * (OSDCAST_FUZZ_SEED to change it, OSDCAST_FUZZ_RUNS the count). `npm run fuzz` runs the same targets at 10^6.
 * A failure shows fast-check's shrunk counterexample and the seed to replay it with.
 */
import { describe, expect, it } from 'vitest';
import { TARGETS } from './targets';
import { runTarget } from './run';

const RUNS = Number(process.env.OSDCAST_FUZZ_RUNS ?? 10_000);
const SEED = Number(process.env.OSDCAST_FUZZ_SEED ?? 20261202);

describe(`fuzz targets at ${RUNS} runs (seed ${SEED})`, () => {
  it('the table has every decoder and state machine, each once', () => {
    const names = TARGETS.map((t) => t.name);
    expect(new Set(names).size).toBe(names.length);
    for (const n of ['mt', 'mt-hash', 'mt-sign', 'ma', 'msi', 'rpc-pdu', 'ntlm-authenticate', 'spnego-init', 'wdsc-packet', 'receiver', 'mt-client', 'ma-client', 'msi-udp', 'rpc-client', 'rpc-server', 'rpc-sealed', 'wdsc-initiator']) expect(names).toContain(n);
  });

  for (const t of TARGETS) {
    it(`${t.name} (${t.kind}): ${t.about}`, { timeout: 300_000 }, () => {
      const r = runTarget(t, { runs: RUNS, seed: SEED });
      expect(r.failures, r.report).toBe(0);
      expect(r.runs).toBe(RUNS);
    });
  }
});
