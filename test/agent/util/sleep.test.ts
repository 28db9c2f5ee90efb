/** agent/util/sleep.ts: the abort-aware wait every retry loop uses. */
import { describe, expect, it } from 'vitest';
import { abortReason, sleep } from '../../../agent/util/sleep';

describe('sleep', () => {
  it('resolves after the time without a signal or with a quiet one, and leaves no listener behind', async () => {
    await expect(sleep(1)).resolves.toBeUndefined();
    const ac = new AbortController();
    let added = 0;
    let removed = 0;
    const add = ac.signal.addEventListener.bind(ac.signal);
    const remove = ac.signal.removeEventListener.bind(ac.signal);
    ac.signal.addEventListener = ((...a: Parameters<typeof add>) => (added++, add(...a))) as typeof add;
    ac.signal.removeEventListener = ((...a: Parameters<typeof remove>) => (removed++, remove(...a))) as typeof remove;
    await sleep(1, ac.signal);
    expect([added, removed]).toEqual([1, 1]);
  });

  it('rejects with the reason as soon as the signal fires, and at once when it already has', async () => {
    const ac = new AbortController();
    const why = new Error('stop');
    const t0 = Date.now();
    const p = sleep(60_000, ac.signal);
    ac.abort(why);
    await expect(p).rejects.toBe(why);
    expect(Date.now() - t0).toBeLessThan(5_000);
    await expect(sleep(60_000, ac.signal)).rejects.toBe(why);
  });

  it('abortReason gives the reason, or an Error when there is none', () => {
    const ac = new AbortController();
    ac.abort('x');
    expect(abortReason(ac.signal)).toBe('x');
    const fake = { reason: undefined } as AbortSignal;
    expect(abortReason(fake)).toBeInstanceOf(Error);
  });
});
