/**
 * Typed outcomes: why a receive failed, and why it left multicast for HTTP. Modules pass these values to each
 * other (and the --json report carries them as `errorKind` / `fallbackCause`); the message text beside them is
 * for people only and is never matched to decide anything.
 */

/** Why a receive (or an ACP download) failed. */
export type FailureKind =
  /** The DP removed us with KICK FAIL: no other means of download is allowed. */
  | 'kick-fail'
  /** The DP removed us with KICK FALLBACK / POLICY_NOT_MET and no --http source was configured. */
  | 'kick-fallback'
  /** No packet from the server for InactivityTimeout, and no --http source. */
  | 'inactivity'
  /** --timeout reached before the image was complete. */
  | 'timeout'
  /** No multicast session: no route, no reply to MS-WDSMSI, an error reply, a group that cannot be joined. */
  | 'no-session'
  /** Multicast ended (or an HTTP transfer ended) with blocks still missing. */
  | 'incomplete'
  /** An HTTP(S) transfer or listing failed. */
  | 'http'
  /** SHA-256 (or size) does not match what was expected. */
  | 'integrity'
  /** Local disk or file error (full disk, permission ...). */
  | 'io'
  /** Ctrl-C / SIGTERM. */
  | 'interrupted'
  /** A bad flag or a bad configuration. */
  | 'usage'
  /** A package listing names a path outside the destination. */
  | 'unsafe-path'
  /** Anything else (a bug): the message says what. */
  | 'internal';

/** @internal Every failure kind (the README test checks its list against it). */
export const FAILURE_KINDS: readonly FailureKind[] = ['kick-fail', 'kick-fallback', 'inactivity', 'timeout', 'no-session', 'incomplete', 'http', 'integrity', 'io', 'interrupted', 'usage', 'unsafe-path', 'internal'];

/** Why multicast was left (or never used) in favour of HTTP. */
export type FallbackCause =
  /** --http-only. */
  | 'http-only'
  /** The DP's name does not resolve (checked once, before any request: no retries). */
  | 'unresolved'
  /** No route to the DP's MS-WDSMSI port. */
  | 'no-route'
  /** The DP never answered MS-WDSMSI. */
  | 'no-reply'
  /** The DP answered MS-WDSMSI with an error, or offered a session this build cannot use. */
  | 'no-session'
  /** The DP refused our RPC authentication (a wrong password, anonymous not allowed) and no method gave a session. */
  | 'auth-refused'
  /** The multicast group could not be joined (no multicast route, port in use). */
  | 'join-failed'
  /** No multicast data within --mcast-timeout of JOIN (or of a DEMOTE's new JOIN). */
  | 'mcast-timeout'
  /** The multicast rate stayed below --min-rate over --min-rate-window. */
  | 'min-rate'
  /** The DP removed us with KICK FALLBACK or KICK POLICY_NOT_MET. */
  | 'kick-fallback'
  /** No packet from the server for InactivityTimeout. */
  | 'inactivity';

/** @internal Every fallback cause (the README test checks its list against it). */
export const FALLBACK_CAUSES: readonly FallbackCause[] = ['http-only', 'unresolved', 'no-route', 'no-reply', 'no-session', 'auth-refused', 'join-failed', 'mcast-timeout', 'min-rate', 'kick-fallback', 'inactivity'];

/**
 * The failure a fallback cause becomes when there is no HTTP source to fall back to. Not every cause can occur
 * without one (--mcast-timeout and --min-rate are armed only with --http), but each has an answer.
 */
export function failureWithoutFallback(cause: FallbackCause): FailureKind {
  switch (cause) {
    case 'kick-fallback':
      return 'kick-fallback';
    case 'inactivity':
      return 'inactivity';
    case 'http-only':
      return 'usage';
    case 'unresolved':
    case 'no-route':
    case 'no-reply':
    case 'no-session':
    case 'auth-refused':
    case 'join-failed':
      return 'no-session';
    case 'mcast-timeout':
    case 'min-rate':
      return 'incomplete';
  }
}
