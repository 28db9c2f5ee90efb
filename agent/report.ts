/** The final report: one JSON object on the last line of stdout with --json (the CLI contract). */
export interface Report {
  status: 'ok' | 'error';
  exitCode: number;
  bytes: number;
  sha256: string;
  seconds: number;
  multicastBytes: number;
  httpBytes: number;
  /** Every packet dropped as malformed or foreign, `drops.wrongSource` included. */
  droppedPackets: number;
  /** Drops by kind (those counted in droppedPackets): MS-WDSMT packets not from the session's server address. */
  drops?: { wrongSource: number };
  /** Blocks that arrived twice with different bytes while the first copy was in the ring (not in droppedPackets). */
  conflictingDuplicates?: number;
  error?: string;
  [extra: string]: unknown;
}

export function reportLine(r: Report): string {
  return JSON.stringify(r);
}
