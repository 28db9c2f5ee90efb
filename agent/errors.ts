/** Exit codes (README "Exit codes"; task sequences and ACP callers rely on them), and the typed failure. */
import type { FailureKind } from '../core/outcome';

export type { FailureKind } from '../core/outcome';

export const Exit = {
  OK: 0,
  /** acp only: a failure whose own code equals osdcast.json's abortCode (so that the task sequence still falls back). */
  ABORT_CODE_TAKEN: 1,
  USAGE: 2,
  NO_SESSION: 3,
  TRANSFER_FAILED: 4,
  INTEGRITY: 5,
  LOCAL_IO: 6,
  INTERRUPTED: 130,
} as const;
export type ExitCode = (typeof Exit)[keyof typeof Exit];

/** The exit code of each kind of failure: the one table, so a kind and its code never disagree. */
export const EXIT_OF: Readonly<Record<FailureKind, ExitCode>> = {
  usage: Exit.USAGE,
  'no-session': Exit.NO_SESSION,
  'kick-fail': Exit.TRANSFER_FAILED,
  'kick-fallback': Exit.TRANSFER_FAILED,
  inactivity: Exit.TRANSFER_FAILED,
  timeout: Exit.TRANSFER_FAILED,
  incomplete: Exit.TRANSFER_FAILED,
  http: Exit.TRANSFER_FAILED,
  'unsafe-path': Exit.TRANSFER_FAILED,
  internal: Exit.TRANSFER_FAILED,
  integrity: Exit.INTEGRITY,
  io: Exit.LOCAL_IO,
  interrupted: Exit.INTERRUPTED,
};

/** A failure: its `kind` is what callers decide on; the message is for people. */
export class OsdcastError extends Error {
  readonly exitCode: ExitCode;
  constructor(
    readonly kind: FailureKind,
    message: string,
  ) {
    super(message);
    this.exitCode = EXIT_OF[kind];
  }
}

/** Maps a Node fs error to exit 6 with a message that names the file and the cause. */
export function ioError(e: unknown, what: string): OsdcastError {
  const err = e as NodeJS.ErrnoException;
  const code = err?.code ?? '';
  const cause =
    code === 'ENOSPC' ? 'disk full' : code === 'EDQUOT' ? 'disk quota exceeded' : code === 'EACCES' || code === 'EPERM' ? 'permission denied' : code === 'EROFS' ? 'read-only file system' : (err?.message ?? String(e));
  return new OsdcastError('io', `${what}: ${cause}${code && !cause.includes(code) ? ` (${code})` : ''}`);
}
