/**
 * Tests that need root, a network namespace, nginx, wine … skip with a printed reason on an ordinary machine.
 * CI sets OSDCAST_STRICT=1, which turns every such skip into a failure.
 */
export const STRICT = process.env.OSDCAST_STRICT === '1';

/** Returns true when the test may run; otherwise prints why and returns false (or throws under STRICT). */
export function canRun(condition: boolean, reason: string): boolean {
  if (condition) return true;
  if (STRICT) throw new Error(`required in CI (OSDCAST_STRICT=1) but unavailable: ${reason}`);
  // eslint-disable-next-line no-console
  console.warn(`[skip] ${reason}`);
  return false;
}
