/**
 * Whole images over HASH and SIGN sessions (issue 9 point 4), sans-I/O: the coordinator seals every packet it
 * sends with the session's key and checks the clients' HMACs; real Receivers verify every server packet and seal
 * theirs. Forged copies of data packets (a forger faking the server's address, one payload byte changed) arrive
 * before the genuine ones: each is dropped and counted as authFailed, and every block on "disk" is the source's.
 */
import { describe, expect, it } from 'vitest';
import { Sec } from '../../core/codec/mt';
import { mulberry32 } from '../coordinator/sim';
import { newSecurity } from '../coordinator/security';
import { randomImage } from '../e2e/harness';
import { Fleet } from './net';

const run = (f: Fleet) => {
  f.run(600_000);
  expect(f.nodes.filter((n) => !n.done).map((n) => n.id), `unfinished after ${f.now} ms simulated`).toEqual([]);
  expect(f.nodes.reduce((a, n) => a + f.corrupt(n), 0)).toBe(0);
  for (const n of f.nodes) expect(n.store!.complete).toBe(true);
};

describe('HASH and SIGN sessions through the simulated network', () => {
  it('HASH both ways: byte-exact, every packet verified, the coordinator checked every client packet', () => {
    const image = randomImage(200 * 1024 + 13, 31);
    const f = new Fleet({ receivers: 4, image, seed: 5, loss: 0.02, security: newSecurity('hash', mulberry32(9)) });
    run(f);
    for (const n of f.nodes) {
      const st = n.rx!.stats();
      expect(st.mt.odata).toBeGreaterThan(0);
      expect(st.mt.malformed).toEqual({});
      expect(st.mt.wrongSecurity + st.drops.authFailed).toBe(0);
    }
    const s = f.coord.stats;
    expect(s.acksReceived + s.qcrReceived).toBeGreaterThan(0);
    expect(s.authFailed + s.securityMismatch + s.checksumErrors + s.malformed).toBe(0);
  });

  it('SIGN from the server, HASH from the clients: byte-exact', () => {
    const image = randomImage(96 * 1024 + 7, 32);
    const f = new Fleet({ receivers: 3, image, seed: 6, loss: 0.02, security: newSecurity('sign', mulberry32(10), 1024) });
    run(f);
    for (const n of f.nodes) {
      const st = n.rx!.stats();
      expect(st.mt.odata).toBeGreaterThan(0);
      expect(st.mt.malformed).toEqual({});
      expect(st.drops.authFailed).toBe(0);
    }
    expect(f.coord.stats.authFailed + f.coord.stats.securityMismatch).toBe(0);
  });

  it.each(['hash', 'sign'] as const)('%s: forged data packets are dropped and counted as authFailed, the image byte-exact', (mode) => {
    const image = randomImage(96 * 1024 + 3, 33);
    const f = new Fleet({ receivers: 3, image, seed: 7, security: newSecurity(mode, mulberry32(11), 1024), forgeEvery: 3 });
    run(f);
    expect(f.forged).toBeGreaterThan(20);
    const counted = f.nodes.reduce((a, n) => a + n.rx!.stats().drops.authFailed, 0);
    expect(counted).toBe(f.forged);
    for (const n of f.nodes) expect(n.rx!.stats().dropped).toBeGreaterThanOrEqual(n.rx!.stats().drops.authFailed);
  });

  it('pre-OS clients in a HASH session get CHECKSUM: every multicast packet goes out in both modes and both kinds complete', () => {
    const image = randomImage(64 * 1024 + 1, 34);
    const f = new Fleet({ receivers: 4, image, seed: 8, loss: 0.01, security: newSecurity('hash', mulberry32(12)), preOs: (i) => i % 2 === 0 });
    run(f);
    const modes = f.nodes.map((n) => (n.rx as unknown as { mt: { cfg: { serverSecMode: number } } }).mt.cfg.serverSecMode);
    expect(modes).toEqual([Sec.CHECKSUM, Sec.HASH, Sec.CHECKSUM, Sec.HASH]);
    // Each receiver drops the other mode's copies as wrong security, none as forged or malformed.
    for (const n of f.nodes) {
      const st = n.rx!.stats();
      expect(st.mt.wrongSecurity).toBeGreaterThan(0);
      expect(st.drops.authFailed).toBe(0);
      expect(st.mt.malformed).toEqual({});
    }
  });
});
