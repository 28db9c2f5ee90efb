/**
 * The NACK back-off draw (core/nack-backoff.ts, protocol-notes #46): range, the distribution against its
 * closed form, the suppression it buys (Nonnenmacher & Biersack), and a fake-clock group of real MtClients
 * where RDATA is the only thing that stops a NACK.
 */
import { describe, expect, it } from 'vitest';
import { Op, Sec } from '../../core/codec/mt';
import { MtClient, MtParams } from '../../core/mt-client';
import { NackBackoff, backoffLambda, drawNackBackoff, groupSizeEstimate } from '../../core/nack-backoff';
import { mulberry32 } from '../coordinator/sim';
import { FakeApp, SERVER, SID, decodeOut, srv } from './helpers';

const KINDS: NackBackoff[] = ['uniform', 'exponential'];

/** The truncated exponential's CDF over [min, min + T] with λ = ln(5T) + 1, written out independently. */
function expCdf(t: number, min: number, max: number): number {
  const T = max - min;
  const l = Math.log(5 * T) + 1;
  return (Math.exp((l * (t - min)) / T) - 1) / (Math.exp(l) - 1);
}

function draws(kind: NackBackoff, min: number, max: number, n: number, seed: number): number[] {
  const rng = mulberry32(seed);
  return Array.from({ length: n }, () => drawNackBackoff(kind, min, max, rng()));
}

/** Kolmogorov–Smirnov distance between a sample and a CDF. */
function ks(sample: number[], cdf: (t: number) => number): number {
  const s = [...sample].sort((a, b) => a - b);
  let d = 0;
  s.forEach((x, i) => {
    const f = cdf(x);
    d = Math.max(d, Math.abs((i + 1) / s.length - f), Math.abs(i / s.length - f));
  });
  return d;
}

describe('NACK back-off draw (MS-WDSMT 3.2.5.12, protocol-notes #46)', () => {
  it('stays in [MinNACKBackOff, MaxNACKBackOff] for both draws, including the edges of u and degenerate ranges', () => {
    const ranges: [number, number][] = [[4, 24], [1, 1], [10, 5], [0, 0.4], [2, 2002], [0, 65535], [3, 4]];
    const us = [0, 1e-15, 0.5, 1 - 1e-15, 1 - 2 ** -32, ...draws('uniform', 0, 1, 2000, 3)];
    const bad: string[] = [];
    for (const kind of KINDS)
      for (const [min, max] of ranges) {
        const hi = Math.max(min, max);
        let prev = -Infinity;
        for (const u of [...us].sort((a, b) => a - b)) {
          const d = drawNackBackoff(kind, min, max, u);
          // in range, and monotone in u (an inverse CDF)
          if (!(d >= min && d <= hi && d >= prev)) bad.push(`${kind} [${min}, ${max}] u=${u} -> ${d}`);
          prev = d;
        }
        expect(drawNackBackoff(kind, min, max, 0)).toBe(min);
      }
    expect(bad).toEqual([]);
  });

  it('estimates the group from the server\'s range: Max = Min + clients / 5 (3.1.5.9.3), λ = ln N + 1', () => {
    expect(groupSizeEstimate(4, 24)).toBe(100);
    expect(groupSizeEstimate(4, 2004)).toBe(10_000);
    expect(groupSizeEstimate(9, 3)).toBe(0);
    expect(backoffLambda(100)).toBeCloseTo(Math.log(100) + 1, 12);
    expect(backoffLambda(0)).toBe(1);
  });

  it('the exponential draw follows its truncated-exponential CDF and the uniform one does not (seeded, 20 000 draws)', () => {
    const [min, max] = [4, 24]; // N = 100
    const T = max - min;
    const l = backoffLambda(100);
    const e = draws('exponential', min, max, 20_000, 11);
    const u = draws('uniform', min, max, 20_000, 11);
    // KS distance: the 1 % critical value for n = 20 000 is 1.63 / sqrt(n) ≈ 0.0115
    expect(ks(e, (t) => expCdf(t, min, max))).toBeLessThan(0.0115);
    expect(ks(u, (t) => (t - min) / T)).toBeLessThan(0.0115);
    expect(ks(u, (t) => expCdf(t, min, max))).toBeGreaterThan(0.3);
    // mean T (1 / (1 − e^−λ) − 1 / λ) ≈ 0.825 T, against T / 2 for the uniform draw
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    expect(mean(e) - min).toBeCloseTo(T * (1 / (1 - Math.exp(-l)) - 1 / l), 0);
    expect(mean(u) - min).toBeCloseTo(T / 2, 0);
    // few early timers: F(T / 2) = (e^(λ/2) − 1) / (e^λ − 1) ≈ 6 %, against 50 %
    const early = (xs: number[]) => xs.filter((x) => x < min + T / 2).length / xs.length;
    expect(early(e)).toBeCloseTo(expCdf(min + T / 2, min, max), 2);
    expect(early(e)).toBeLessThan(0.1);
    expect(early(u)).toBeCloseTo(0.5, 1);
  });

  it('when the whole group lost a packet, few timers fall within a suppression delay of the first one (Nonnenmacher & Biersack)', () => {
    // R = N receivers, one shared loss; each draws once; those whose timer fires less than δ after the first
    // cannot have heard its RDATA yet and NACK too. Uniform: ≈ 1 + (R − 1) δ / T.
    const N = 1000;
    const [min, max] = [4, 4 + N / 5];
    const delta = 4;
    const rng = mulberry32(5);
    const trials = 200;
    const avg = (kind: NackBackoff) => {
      let total = 0;
      for (let k = 0; k < trials; k++) {
        const ts = Array.from({ length: N }, () => drawNackBackoff(kind, min, max, rng()));
        const first = Math.min(...ts);
        total += ts.filter((t) => t < first + delta).length;
      }
      return total / trials;
    };
    const uni = avg('uniform');
    const exp = avg('exponential');
    const uniTheory = 1 + ((N - 1) * delta) / (max - min);
    expect(Math.abs(uni - uniTheory) / uniTheory).toBeLessThan(0.15);
    expect(exp).toBeGreaterThanOrEqual(1);
    expect(exp).toBeLessThan(uni / 5);
  });
});

// ---------------------------------------------------------------- a group of real clients on a fake clock
/**
 * `R` non-master MtClients (ClientId 1..R, the Master Client is someone else) all lose ODATA 2 of 1..3. The
 * "server" answers the first NACK it receives `oneWay` ms after it was sent with one RDATA to everyone, which
 * arrives `oneWay` ms later; NCF goes out for every NACK (clients must ignore it). Returns the NACKs sent.
 */
function groupRun(kind: NackBackoff, R: number, seed: number, oneWay = 1): { nacks: number; repaired: number } {
  const min = 4;
  const max = min + Math.floor(R / 5); // 3.1.5.9.3
  const params: Partial<MtParams> = { nackBackoff: kind };
  const clients = Array.from({ length: R }, (_, i) => {
    const c = new MtClient(
      { sessionId: SID, clientSecMode: Sec.CHECKSUM, serverSecMode: Sec.CHECKSUM, server: SERVER, clientName: `PC${i}`, localAddress: Buffer.from([10, 0, 1, i & 255]), macAddress: Buffer.alloc(6), params },
      new FakeApp(),
      mulberry32(seed * 7919 + i),
      0,
    );
    c.handleDatagram(srv({ op: Op.JOINACK, clientId: i + 1, minNackBackoff: min, maxNackBackoff: max, rtt: 1, clientTime: 0 }), 1);
    return c;
  });
  const master = R + 1;
  const deliver = (buf: Buffer, now: number) => {
    for (const c of clients) c.handleDatagram(buf, now);
  };
  let now = 10;
  deliver(srv({ op: Op.SPM, spmSeqNo: 1, masterClientId: master, minNackBackoff: min, maxNackBackoff: max, trailSeq: 1, leadSeq: 0, rtt: 1 }), now);
  deliver(srv({ op: Op.ODATA, clientId: master, seq: 1, trailSeq: 1, data: Buffer.from('a') }), now);
  deliver(srv({ op: Op.ODATA, clientId: master, seq: 3, trailSeq: 1, data: Buffer.from('c') }), now);
  const ncfAt: number[] = [];
  let rdataAt = Infinity;
  let rdataSent = false;
  let nacks = 0;
  const takeNacks = () => {
    for (const c of clients)
      for (let t = c.pollTransmit(); t; t = c.pollTransmit()) {
        const p = decodeOut(t.data);
        if (p.body.op !== Op.NACK) continue;
        expect(p.body.ranges).toEqual([[2, 2]]);
        nacks++;
        ncfAt.push(now + 2 * oneWay);
        if (!rdataSent && rdataAt === Infinity) rdataAt = now + 2 * oneWay;
      }
  };
  takeNacks();
  for (let guard = 0; guard < 10_000; guard++) {
    const timers = clients.map((c) => c.pollTimeout() ?? Infinity).filter((t) => t < 1000); // NACK timer only (others are seconds away)
    const next = Math.min(...timers, rdataAt, ...ncfAt);
    if (next === Infinity) break;
    now = next;
    if (ncfAt.includes(now)) {
      ncfAt.splice(0, ncfAt.length, ...ncfAt.filter((t) => t !== now));
      deliver(srv({ op: Op.NCF, ranges: [[2, 2]] }), now);
    }
    if (rdataAt === now) {
      deliver(srv({ op: Op.RDATA, clientId: master, seq: 2, trailSeq: 1, data: Buffer.from('b') }), now);
      rdataAt = Infinity;
      rdataSent = true; // sent once
    }
    for (const c of clients) if ((c.pollTimeout() ?? Infinity) <= now) c.handleTimeout(now);
    takeNacks();
  }
  return { nacks, repaired: clients.filter((c) => c.info().missing.length === 0).length };
}

describe('NACK suppression on a fake clock: RDATA before the timer is the only suppression (3.2.5.12, 3.2.5.19)', () => {
  it('one RDATA repairs the whole group; the exponential draw sends far fewer NACKs than the uniform one', () => {
    const R = 200; // MaxNACKBackOff − MinNACKBackOff = 40 ms, RTT 2 ms: uniform ≈ 1 + 199 × 2 / 40 ≈ 11 NACKs
    let uni = 0;
    let exp = 0;
    for (const seed of [1, 2, 3, 4, 5]) {
      const u = groupRun('uniform', R, seed);
      const e = groupRun('exponential', R, seed);
      expect(u.repaired).toBe(R);
      expect(e.repaired).toBe(R);
      expect(u.nacks).toBeGreaterThanOrEqual(1);
      expect(e.nacks).toBeGreaterThanOrEqual(1);
      uni += u.nacks;
      exp += e.nacks;
    }
    expect(uni / 5).toBeGreaterThan(5);
    expect(exp).toBeLessThan(uni / 3);
  });

  it('without the RDATA every client NACKs, NCF or not (clients ignore NCF)', () => {
    // The "server" of groupRun always answers; here nobody does: each client's timer fires and NACKs.
    const clients = Array.from({ length: 20 }, (_, i) => {
      const c = new MtClient(
        { sessionId: SID, clientSecMode: Sec.CHECKSUM, serverSecMode: Sec.CHECKSUM, server: SERVER, clientName: `PC${i}`, localAddress: Buffer.from([10, 0, 1, i]), macAddress: Buffer.alloc(6) },
        new FakeApp(),
        mulberry32(100 + i),
        0,
      );
      c.handleDatagram(srv({ op: Op.JOINACK, clientId: i + 1, minNackBackoff: 4, maxNackBackoff: 8, rtt: 1, clientTime: 0 }), 1);
      c.handleDatagram(srv({ op: Op.SPM, spmSeqNo: 1, masterClientId: 99, minNackBackoff: 4, maxNackBackoff: 8, trailSeq: 1, leadSeq: 0, rtt: 1 }), 10);
      c.handleDatagram(srv({ op: Op.ODATA, clientId: 99, seq: 1, trailSeq: 1, data: Buffer.from('a') }), 10);
      c.handleDatagram(srv({ op: Op.ODATA, clientId: 99, seq: 3, trailSeq: 1, data: Buffer.from('c') }), 10);
      c.handleDatagram(srv({ op: Op.NCF, ranges: [[2, 2]] }), 11);
      while (c.pollTransmit());
      return c;
    });
    for (const c of clients) {
      const t = c.pollTimeout()!;
      expect(t).toBeGreaterThanOrEqual(14);
      expect(t).toBeLessThanOrEqual(18);
      c.handleTimeout(t);
      const p = decodeOut(c.pollTransmit()!.data);
      expect(p.body).toMatchObject({ op: Op.NACK, ranges: [[2, 2]] });
      expect(c.stats().ignored).toBeGreaterThanOrEqual(1); // the NCF
    }
  });
});
