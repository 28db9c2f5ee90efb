/** The final report: one JSON object on the last line of stdout with --json (the CLI contract). */
export interface Report {
  status: 'ok' | 'error';
  exitCode: number;
  bytes: number;
  sha256: string;
  seconds: number;
  multicastBytes: number;
  httpBytes: number;
  droppedPackets: number;
  error?: string;
  [extra: string]: unknown;
}

export function reportLine(r: Report): string {
  return JSON.stringify(r);
}
