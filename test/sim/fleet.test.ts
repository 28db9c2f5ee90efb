/**
 * Whole fleets, deterministically: the coordinator and many real Receivers on a simulated network with
 * independent loss per receiver and late joiners. Every block each receiver writes is compared with the source.
 */
import { describe, expect, it } from 'vitest';
import { randomImage } from '../e2e/harness';
import { Fleet } from './net';

describe('simulated fleet (core Receiver × N against the sans-I/O coordinator)', () => {
  it('200 receivers with independent 3 % loss and staggered joins all complete with correct data', () => {
    const image = randomImage(512 * 1024 + 77, 5);
    const f = new Fleet({ receivers: 200, image, seed: 42, loss: 0.03, uplinkLoss: 0.01, joinAt: (i) => (i % 4) * 150 });
    f.run(600_000);
    const unfinished = f.nodes.filter((n) => !n.done).map((n) => n.id);
    expect(unfinished, `unfinished receivers after ${f.now} ms simulated`).toEqual([]);
    expect(f.nodes.reduce((a, n) => a + f.corrupt(n), 0)).toBe(0);
    expect(f.lost).toBeGreaterThan(0);
    for (const n of f.nodes) expect(n.store!.complete).toBe(true);
  });

  it('is deterministic: the same seed gives the same completion times', () => {
    const image = randomImage(128 * 1024, 9);
    const run = () => {
      const f = new Fleet({ receivers: 20, image, seed: 7, loss: 0.05 });
      f.run(600_000);
      return f.nodes.map((n) => n.doneAt);
    };
    const a = run();
    expect(a.every((t) => t >= 0)).toBe(true);
    expect(run()).toEqual(a);
  });

  it('a 0-based server is detected and the image still arrives intact', () => {
    const image = randomImage(64 * 1024 + 5, 3);
    const f = new Fleet({ receivers: 5, image, seed: 11, loss: 0.02, blockBase: 0 });
    f.run(600_000);
    expect(f.nodes.every((n) => n.done)).toBe(true);
    expect(f.nodes.reduce((a, n) => a + f.corrupt(n), 0)).toBe(0);
    expect(f.nodes.every((n) => n.rx!.stats().base === 0)).toBe(true);
  });

  it.each([0, 1] as const)('content an exact multiple of the block size (no short last block) from a %i-based server arrives intact', (base) => {
    const image = randomImage(1385 * 300, 8 + base);
    const f = new Fleet({ receivers: 6, image, seed: 21 + base, loss: 0.02, blockBase: base, joinAt: (i) => i * 40 });
    f.run(600_000);
    expect(f.nodes.filter((n) => !n.done).map((n) => n.id)).toEqual([]);
    expect(f.nodes.reduce((a, n) => a + f.corrupt(n), 0)).toBe(0);
    expect(f.nodes.every((n) => n.rx!.stats().base === base && n.rx!.stats().baseKnown)).toBe(true);
  });
});
