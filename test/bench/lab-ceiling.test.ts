/**
 * The repair ceiling of the lab bench's goodput table (test/bench/lab-bench.ts repairCeiling): the share of the link
 * that any sender without FEC can deliver when each receiver loses each frame independently. Checked against
 * closed forms (N = 1: a geometric count; N = 2: E[max] = E[X] + E[Y] − E[min]) and a seeded Monte Carlo of the
 * same "send until every receiver has it" process, so a wrong sum or a wrong fragment count fails here.
 */
import { describe, expect, it } from 'vitest';
import { UDPCAST_FRAME, fragmentsPerDatagram, linkPayloadMBps, repairCeiling, udpcastLinkPayloadMBps, wireBytes } from './lab-bench';
import { mulberry32 } from '../coordinator/sim';

describe('lab bench repair ceiling', () => {
  it('is 1 − p for one receiver and matches E[max] of two geometric counts for two', () => {
    expect(repairCeiling(1, 1, 1385)).toBeCloseTo(0.99, 10);
    expect(repairCeiling(5, 1, 1385)).toBeCloseTo(0.95, 10);
    const p = 0.01;
    const t2 = 2 / (1 - p) - 1 / (1 - p * p);
    expect(repairCeiling(1, 2, 1385)).toBeCloseTo(1 / t2, 10);
  });

  it('agrees with a Monte Carlo of sending each block until all N receivers have it', () => {
    const rng = mulberry32(7);
    for (const n of [3, 8]) {
      const blocks = 200_000;
      let sends = 0;
      for (let b = 0; b < blocks; b++) {
        let missing = n;
        while (missing > 0) {
          sends++;
          let still = 0;
          for (let r = 0; r < missing; r++) if (rng() < 0.01) still++;
          missing = still;
        }
      }
      expect(Math.abs(blocks / sends - repairCeiling(1, n, 1385))).toBeLessThan(0.002);
    }
    expect(repairCeiling(1, 3, 1385)).toBeCloseTo(0.971, 3);
    expect(repairCeiling(1, 8, 1385)).toBeCloseTo(0.928, 3);
  });

  it('loses a fragmented datagram when any of its fragments is lost', () => {
    expect(fragmentsPerDatagram(1385)).toBe(1);
    expect(fragmentsPerDatagram(1413)).toBe(1); // 1413 + 59 + 8 = 1480: one full fragment
    expect(fragmentsPerDatagram(1414)).toBe(2);
    expect(fragmentsPerDatagram(8192)).toBe(6);
    const q = 1 - 0.99 ** 6;
    expect(repairCeiling(1, 1, 8192)).toBeCloseTo(1 - q, 10);
    // the link payload rate counts the same fragments' headers: UDP once, IPv4 + Ethernet per fragment
    expect(wireBytes(8192)).toBe(8192 + 59 + 8 + 6 * 34);
    expect(wireBytes(1385)).toBe(1486);
    expect(linkPayloadMBps(100, 8192)).toBeCloseTo(12.5 * (8192 / 8463), 10);
  });

  it("udpcast's link payload: 1456 of 1514 bytes per frame, 1.032x osdcast's at 1385-byte blocks", () => {
    // 1456 + its 16-byte header = 1472 bytes of UDP payload, the most one 1500-byte IP packet holds
    expect(UDPCAST_FRAME).toBe(1514);
    expect(udpcastLinkPayloadMBps(400)).toBeCloseTo(50 * (1456 / 1514), 10);
    expect(udpcastLinkPayloadMBps(200) / linkPayloadMBps(200, 1385)).toBeCloseTo(1.032, 3);
  });

  it('is 1 without loss and 0 at total loss', () => {
    expect(repairCeiling(0, 8, 1385)).toBe(1);
    expect(repairCeiling(100, 8, 1385)).toBe(0);
  });
});
