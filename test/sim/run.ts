/**
 * One run of the NACK-suppression simulation (issue 10 point 5): the fleet of net.ts on a generated image, and
 * what the table of docs/performance.md reports about it. Used by `npm run sim` (main.ts) and sim.test.ts.
 */
import type { NackBackoff } from '../../core/nack-backoff';
import { Fleet } from './net';

export interface SimArgs {
  receivers: number;
  lossPercent: number;
  seed: number;
  backoff: NackBackoff;
  sizeMiB: number;
  rateMbit: number;
  latencyMs: number;
}

export interface SimResult extends SimArgs {
  blockSize: number;
  totalBlocks: number;
  odata: number;
  rdata: number;
  ncf: number;
  /** Data sequence numbers (ODATA or RDATA) that at least one receiver lost. */
  lostSeqs: number;
  /** NACK packets with at least one range that reached the server, and Zero NACKs (3.2.5.12.2). */
  nacks: number;
  zeroNacks: number;
  nacksPerLostSeq: number;
  /** MS-WDSMA repair rounds the coordinator started (POLL / CNTCIR). */
  maRounds: number;
  completed: number;
  byteExact: number;
  /** Simulated ms from the start (every receiver initiates at 0) to the last receiver's completion. */
  completionMs: number;
  deliveries: number;
  wallSeconds: number;
  /** User + system CPU seconds of the process during the run (absent in results from before it was recorded). */
  cpuSeconds?: number;
  rssMiB: number;
}

const SIM_LIMIT_MS = 4 * 3600_000;

/** A reproducible image: xorshift32 words. */
export function simImage(bytes: number, seed: number): Buffer {
  const b = Buffer.alloc(bytes);
  let x = seed >>> 0 || 1;
  for (let i = 0; i + 4 <= bytes; i += 4) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    b.writeUInt32LE(x, i);
  }
  return b;
}

export function runSim(a: SimArgs): SimResult {
  const img = simImage(Math.round(a.sizeMiB * 1024 * 1024), a.seed);
  const t0 = process.hrtime.bigint();
  const c0 = process.cpuUsage();
  const f = new Fleet({
    receivers: a.receivers,
    image: img,
    seed: a.seed,
    loss: a.lossPercent / 100,
    latencyMs: a.latencyMs,
    nackBackoff: a.backoff,
    skipNcf: true, // receivers ignore NCF (3.2.5.19); see net.ts
    rateBytesPerSec: a.rateMbit > 0 ? (a.rateMbit * 1e6) / 8 : undefined,
  });
  f.run(SIM_LIMIT_MS);
  const wallSeconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const cpu = process.cpuUsage(c0);
  const s = f.coord.stats;
  const done = f.nodes.filter((n) => n.done);
  return {
    ...a,
    blockSize: 1385,
    totalBlocks: f.coord.totalBlocks,
    odata: s.odataSent,
    rdata: s.rdataSent,
    ncf: s.ncfSent,
    lostSeqs: f.lostSeqs,
    nacks: f.nacksAtServer,
    zeroNacks: f.zeroNacksAtServer,
    nacksPerLostSeq: f.lostSeqs ? f.nacksAtServer / f.lostSeqs : 0,
    maRounds: s.rounds,
    completed: done.length,
    byteExact: done.filter((n) => f.corrupt(n) === 0 && n.store!.complete).length,
    completionMs: done.length === f.nodes.length ? Math.max(...f.nodes.map((n) => n.doneAt)) : NaN,
    deliveries: f.delivered,
    wallSeconds,
    cpuSeconds: (cpu.user + cpu.system) / 1e6,
    rssMiB: process.memoryUsage().rss / 2 ** 20,
  };
}

