/** Exit codes (README "Exit codes"; task sequences and ACP callers rely on them). */
export const Exit = {
  OK: 0,
  USAGE: 2,
  NO_SESSION: 3,
  TRANSFER_FAILED: 4,
  INTEGRITY: 5,
  LOCAL_IO: 6,
  INTERRUPTED: 130,
} as const;
export type ExitCode = (typeof Exit)[keyof typeof Exit];

export class OsdcastError extends Error {
  constructor(
    readonly exitCode: ExitCode,
    message: string,
  ) {
    super(message);
  }
}

/** Maps a Node fs error to exit 6 with a message that names the file and the cause. */
export function ioError(e: unknown, what: string): OsdcastError {
  const err = e as NodeJS.ErrnoException;
  const code = err?.code ?? '';
  const cause =
    code === 'ENOSPC' ? 'disk full' : code === 'EDQUOT' ? 'disk quota exceeded' : code === 'EACCES' || code === 'EPERM' ? 'permission denied' : code === 'EROFS' ? 'read-only file system' : (err?.message ?? String(e));
  return new OsdcastError(Exit.LOCAL_IO, `${what}: ${cause}${code && !cause.includes(code) ? ` (${code})` : ''}`);
}
