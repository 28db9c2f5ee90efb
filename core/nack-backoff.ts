/**
 * The NACK back-off draw of MS-WDSMT 3.2.5.12 / 3.2.5.12.1: "a random value in range MinNACKBackOff and
 * MaxNACKBackOff" (protocol-notes #46). Pure: the caller passes the uniform variate `u` in [0, 1).
 *
 * - 'uniform': Min + u × (Max − Min), the obvious reading.
 * - 'exponential' (default): the truncated exponential of Nonnenmacher & Biersack ("Scalable feedback for large
 *   groups", 1999), as NORM uses it (RFC 5740 RandomBackoff): over T = Max − Min the density is
 *   λ e^(λt/T) / (T (e^λ − 1)), rising towards Max, so of the receivers that lost the same packet only a few
 *   draw an early time; the first NACK's RDATA reaches the others before their later timers fire, and they send
 *   nothing (clients ignore NCF, 3.2.5.19, so RDATA is the only suppression). λ = ln(N) + 1 with N the group
 *   size. The client is told no group size, but the server sets MaxNACKBackOff = MinNACKBackOff + clients / 5
 *   (3.1.5.9.3, milliseconds), so N ≈ 5 × (Max − Min).
 */
export type NackBackoff = 'uniform' | 'exponential';

/** Receivers in the session as the server's back-off range implies them (MS-WDSMT 3.1.5.9.3: Max = Min + clients / 5). */
export function groupSizeEstimate(min: number, max: number): number {
  return 5 * Math.max(0, max - min);
}

/** λ of the truncated exponential for a group size estimate (RFC 5740: ln(group size) + 1). */
export function backoffLambda(groupSize: number): number {
  return Math.log(Math.max(1, groupSize)) + 1;
}

/** A NACK back-off in [min, max] (max below min is taken as min) from `u` in [0, 1). */
export function drawNackBackoff(kind: NackBackoff, min: number, max: number, u: number): number {
  const span = Math.max(0, max - min);
  if (span === 0) return min;
  if (kind === 'uniform') return min + u * span;
  const lambda = backoffLambda(groupSizeEstimate(min, min + span));
  // Inverse of the CDF F(t) = (e^(λt/T) − 1) / (e^λ − 1) on [0, T].
  const t = (span / lambda) * Math.log1p(u * Math.expm1(lambda));
  return Math.min(min + span, min + t);
}
