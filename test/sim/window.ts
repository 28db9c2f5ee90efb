/**
 * The coordinator's window and repair behaviour on a shaped link, in simulated time (issue 10 point 4): the
 * sans-I/O coordinator and N real core Receivers on net.ts's network with `linkBytesPerSec` (one FIFO at the
 * link's rate for everything the coordinator sends, as `tc tbf` with a deep queue does in the bench lab) and
 * independent loss towards each receiver. Goodput here is image bytes per simulated second, first data to the last
 * receiver complete, so it does not depend on the machine's load. Used by `npm run sim -- --link-mbit R` and
 * window.test.ts.
 */
import type { MtParams } from '../../core/mt-client';
import type { CoordinatorConfig } from '../coordinator/types';
import { Fleet } from './net';
import { simImage } from './run';

export interface WindowArgs {
  receivers: number;
  linkMbit: number;
  lossPercent: number;
  sizeMiB: number;
  seed: number;
  /** One-way latency besides the link's queue (ms). */
  latencyMs: number;
  /** The coordinator's own rate cap (its token bucket on ODATA + RDATA bytes), Mbit/s; none when absent. */
  rateMbit?: number;
  coordinator?: Partial<Pick<CoordinatorConfig, 'expMaxWindow' | 'maxWindow' | 'fwLeadEvery' | 'masterHoldMs' | 'repeatGuard' | 'queueTargetMs'>>;
  mtParams?: Partial<MtParams>;
}

export interface WindowResult {
  /** Image MB (10^6) per simulated second, first data at a receiver to the last receiver complete. */
  goodputMBs: number;
  /** Goodput ÷ the link's payload rate (1385-byte blocks of 1498 bytes on the wire). */
  ofLink: number;
  /** Share of that time the link was sending (anything: ODATA, RDATA, SPM, NCF...). */
  linkBusy: number;
  spanMs: number;
  complete: number;
  byteExact: number;
  /** Share of the time a ready block waited for the window, the mean CurrentWindowSize per ODATA, mean MCRTT. */
  windowStalled: number;
  meanWindow: number;
  meanMcRttMs: number;
  masterChanges: number;
  acksRejected: number;
  nacks: number;
  rdata: number;
  maRounds: number;
  spmTimeouts: number;
  /** Loss at a receiver → its first copy of that sequence number, mean and max (ms). */
  repairMeanMs: number;
  repairMaxMs: number;
}

export function runWindowCell(a: WindowArgs): WindowResult {
  const img = simImage(Math.round(a.sizeMiB * 1024 * 1024), a.seed);
  const rate = (a.linkMbit * 1e6) / 8;
  const f = new Fleet({
    receivers: a.receivers,
    image: img,
    seed: a.seed,
    loss: a.lossPercent / 100,
    latencyMs: a.latencyMs,
    linkBytesPerSec: rate,
    rateBytesPerSec: a.rateMbit ? (a.rateMbit * 1e6) / 8 : undefined,
    cacheBytes: 64 * 1024 * 1024, // the agent's default --cache
    coordinator: a.coordinator,
    mtParams: a.mtParams,
    skipNcf: true,
    trackRepair: true,
  });
  f.run(3600_000);
  const s = f.coord.stats;
  const done = f.nodes.filter((n) => n.done);
  const spanMs = done.length === f.nodes.length ? Math.max(...f.nodes.map((n) => n.doneAt)) - f.firstDataAt : NaN;
  const goodputMBs = img.length / spanMs / 1000;
  const accepted = s.acksReceived - s.acksRejected;
  const payloadMBs = (rate * 1385) / (1385 + 71 + 42) / 1e6;
  return {
    goodputMBs,
    ofLink: goodputMBs / payloadMBs,
    linkBusy: f.linkBusyMs / spanMs,
    spanMs,
    complete: done.length,
    byteExact: done.filter((n) => f.corrupt(n) === 0 && n.store!.complete).length,
    windowStalled: s.windowStallMs / spanMs,
    meanWindow: s.odataSent ? s.windowSum / s.odataSent : 0,
    meanMcRttMs: accepted ? s.mcRttSum / accepted : 0,
    masterChanges: s.masterChanges,
    acksRejected: s.acksRejected,
    nacks: s.nacksReceived,
    rdata: s.rdataSent,
    maRounds: s.rounds,
    spmTimeouts: s.spmTimeouts,
    repairMeanMs: f.repairs ? f.repairMsSum / f.repairs : 0,
    repairMaxMs: f.repairMsMax,
  };
}
