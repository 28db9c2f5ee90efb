import { describe, expect, it } from 'vitest';
import { Fleet } from './net';
import { simImage } from './run';
import { WindowArgs, runWindowCell } from './window';

const MiB = 1 << 20;

// The lab's 1 %-loss shaped cells ran at about half their clean goodput (docs/performance.md section 7). Here the
// same cell in simulated time: a 400 Mbit/s link (one FIFO, no drops), 0.25 ms one-way latency, 1385-byte blocks,
// 1 % independent loss towards the receiver, the coordinator's and the agent's defaults. Goodput is image bytes
// per simulated second, so these are not timed tests: the machine's load does not enter.
const cell = (o: Partial<WindowArgs>): WindowArgs => ({ receivers: 1, linkMbit: 400, lossPercent: 1, sizeMiB: 16, seed: 1, latencyMs: 0.25, ...o });

describe('window and repair under loss (simulated time)', () => {
  it('N = 1, 400 Mbit/s, 1 % loss: goodput >= 0.9 x the clean one, repairs within tens of ms (protocol-notes #100, #101)', () => {
    const clean = runWindowCell(cell({ lossPercent: 0 }));
    const lossy = runWindowCell(cell({}));
    expect(clean.byteExact).toBe(1);
    expect(lossy.byteExact).toBe(1);
    expect(clean.ofLink).toBeGreaterThan(0.95);
    expect(lossy.goodputMBs).toBeGreaterThanOrEqual(0.9 * clean.goodputMBs);
    expect(lossy.repairMeanMs).toBeLessThan(30);
    // The readings before: the 4 x MCRTT skip timed from the ODATA (every first NACK skipped) and a Master Client
    // whose new losses wait for its running NACK timer. The same cell then ran at about a quarter of the clean one.
    const before = runWindowCell(cell({ coordinator: { repeatGuard: 'odata' }, mtParams: { masterNackAtOnce: false } }));
    expect(before.byteExact).toBe(1);
    expect(before.goodputMBs).toBeLessThan(0.5 * clean.goodputMBs);
    expect(before.repairMeanMs).toBeGreaterThan(100);
  });

  it('protocol-notes #105: a 10 ms queue target keeps MCRTT and repairs short; in simulated time it costs N = 1 some goodput', () => {
    // The link's FIFO never drops, so the window as written grows to MaxWindowSize and the queue with it.
    const literal = runWindowCell(cell({}));
    const capped = runWindowCell(cell({ coordinator: { queueTargetMs: 10 } }));
    expect(capped.byteExact).toBe(1);
    expect(capped.meanMcRttMs).toBeLessThan(0.7 * literal.meanMcRttMs);
    expect(capped.repairMeanMs).toBeLessThan(0.7 * literal.repairMeanMs);
    expect(capped.meanWindow).toBeLessThan(0.6 * literal.meanWindow);
    // Why it is not the default: here, with no CPU shared, a window of 2 x rate x RTT rides over each hole, and the
    // cap costs N = 1 about 8 % (0.96 -> 0.88 of the link on 16 MiB); in the lab it was within the noise of
    // interleaved A/B runs (protocol-notes #105).
    expect(capped.goodputMBs).toBeGreaterThan(0.85 * literal.goodputMBs);
  });

  it('N = 3, 200 Mbit/s, 1 % loss: no MS-WDSMA repair round for a lost first ODATA, goodput >= 0.7 x the clean one (protocol-notes #102)', () => {
    const n3 = (o: Partial<WindowArgs>) => cell({ receivers: 3, linkMbit: 200, ...o });
    const clean = runWindowCell(n3({ lossPercent: 0 }));
    const lossy = runWindowCell(n3({})); // seed 1: one receiver loses ODATA 1 (block 1)
    expect(lossy.byteExact).toBe(3);
    expect(lossy.maRounds).toBe(1);
    expect(lossy.goodputMBs).toBeGreaterThanOrEqual(0.7 * clean.goodputMBs);
  });

  it('a path that reorders (1 ms + 0-4 ms jitter, no loss): few repairs, in under half the time of #101 without the hold (protocol-notes #104)', () => {
    const run = (extra: object) => {
      const f = new Fleet({ receivers: 3, image: simImage(16 * MiB, 0x5eed + 3), seed: 1101, loss: 0, latencyMs: 1, jitterMs: 4, skipNcf: true, cacheBytes: 8 * MiB, ...extra });
      f.run(3600_000);
      expect(f.nodes.every((n) => n.done && f.corrupt(n) === 0)).toBe(true);
      return { s: Math.max(...f.nodes.map((n) => n.doneAt)) / 1000, rdata: f.coord.stats.rdataSent, odata: f.coord.stats.odataSent };
    };
    const now = run({});
    const held0 = run({ mtParams: { reorderHoldMs: 0 } }); // #101 without the hold: every reordered block NACKed at once
    expect(held0.rdata).toBeGreaterThan(0.5 * held0.odata);
    expect(now.rdata).toBeLessThan(0.25 * now.odata);
    expect(now.s).toBeLessThan(0.5 * held0.s);
  });
});
