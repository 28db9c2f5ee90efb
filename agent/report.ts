/**
 * The final report: one JSON object on the last line of stdout with --json (the CLI contract). Fields may be
 * added, never renamed or removed. README "The `--json` report" describes every field; test/agent/report.test.ts
 * checks that description against the key lists below, and the `satisfies` clauses check the lists against the
 * types.
 */
import type { FailureKind, FallbackCause } from '../core/outcome';
import type { ReceiverDrops } from '../core/receiver';

export interface Report {
  status: 'ok' | 'error';
  exitCode: number;
  bytes: number;
  sha256: string;
  seconds: number;
  multicastBytes: number;
  httpBytes: number;
  /** Every packet dropped as malformed or foreign: the sum of the fields of `drops`. */
  droppedPackets: number;
  /** The same drops by kind; each dropped packet is in exactly one field (core/receiver.ts `ReceiverDrops` defines them). */
  drops?: ReportDrops;
  /** Blocks that arrived twice with different bytes while the first copy was in the ring (not in droppedPackets). */
  conflictingDuplicates?: number;
  /** Why it failed, for people. */
  error?: string;
  /** Why it failed, for programs. */
  errorKind?: FailureKind;
  /** Why HTTP took over from multicast (or was the only source), for people. */
  fallback?: string;
  /** The same, for programs. */
  fallbackCause?: FallbackCause;
  /** SHA-256 checked against --sha256 (or an HTTP validator pinned every byte): 'verified'. */
  integrity?: 'verified' | 'unverified' | 'mismatch';
  /** Bytes already on disk from an earlier run. */
  resumedBytes?: number;
  /** Peak resident memory of the process. */
  maxRssBytes?: number;
  /**
   * Which method started the multicast session: MS-WDSC over RPC, MS-WDSMSI over UDP, none (HTTP only, or no
   * session); 'udpcast' for every --udpcast receive (a udpcast sender's session, or its HTTP fallback).
   */
  initiation?: 'rpc' | 'udp' | 'udpcast' | 'none';
  /** The SessionIds of the lower-speed sessions DEMOTE moved the receive to, in order (absent: never demoted). */
  demotedTo?: number[];
}

/** The Receiver's drop counters, summed over the multicast sessions of a receive (and the files of an ACP run). */
export type ReportDrops = ReceiverDrops;

/** The ACP report: the receive report's fields, summed over the files, plus the package's. */
export interface AcpReport extends Report {
  packageId: string;
  destination: string;
  files: number;
  filesDone: number;
  /** The DP ended the session with KICK FAIL (no other means allowed). */
  aborted?: boolean;
}

const keys = <T>(o: { [K in keyof Required<T>]: true }) => Object.keys(o) as (keyof T)[];

/** @internal Every field a receive report can carry. */
export const REPORT_FIELDS = keys<Report>({
  status: true,
  exitCode: true,
  bytes: true,
  sha256: true,
  seconds: true,
  multicastBytes: true,
  httpBytes: true,
  droppedPackets: true,
  drops: true,
  conflictingDuplicates: true,
  error: true,
  errorKind: true,
  fallback: true,
  fallbackCause: true,
  integrity: true,
  resumedBytes: true,
  maxRssBytes: true,
  initiation: true,
  demotedTo: true,
});

/** @internal The fields of `drops`. */
export const REPORT_DROPS_FIELDS = keys<ReportDrops>({
  wrongSource: true,
  authFailed: true,
  wrongSession: true,
  wrongSecurity: true,
  badChecksum: true,
  truncated: true,
  badCount: true,
  outOfRange: true,
  replayed: true,
  malformed: true,
});

/** A `drops` of zeros (a report before, or without, a multicast session). */
export function noDrops(): ReportDrops {
  return Object.fromEntries(REPORT_DROPS_FIELDS.map((k) => [k, 0])) as unknown as ReportDrops;
}

/** Adds `from`'s drops into `into` (ACP: one report over its files). */
export function addDrops(into: ReportDrops, from: Partial<ReportDrops> | undefined): void {
  for (const k of REPORT_DROPS_FIELDS) into[k] += from?.[k] ?? 0;
}

/** @internal What an ACP report adds. */
export const ACP_REPORT_FIELDS = keys<Omit<AcpReport, keyof Report>>({ packageId: true, destination: true, files: true, filesDone: true, aborted: true });

export function reportLine(r: Report): string {
  return JSON.stringify(r);
}
