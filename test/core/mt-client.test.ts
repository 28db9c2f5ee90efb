import { describe, expect, it } from 'vitest';
import { LOSS_SCALE, LeaveReason, KickReason, MtOpt, Op, Sec, encodeMt } from '../../core/codec/mt';
import { MtClient, MtParams } from '../../core/mt-client';
import { FakeApp, SERVER, SID, decodeOut, fixedRng, srv } from './helpers';

function make(opts: { rng?: () => number; params?: Partial<MtParams>; app?: FakeApp; userSid?: Buffer } = {}) {
  const app = opts.app ?? new FakeApp();
  const c = new MtClient(
    { sessionId: SID, clientSecMode: Sec.CHECKSUM, serverSecMode: Sec.CHECKSUM, server: SERVER, clientName: 'PC-01', localAddress: Buffer.from([10, 0, 0, 5]), macAddress: Buffer.from([0, 0x15, 0x5d, 1, 2, 3]), userSid: opts.userSid, params: opts.params },
    app,
    opts.rng ?? fixedRng(0.5),
    0,
  );
  return { c, app };
}
function drain(c: MtClient) {
  const out = [];
  let t;
  while ((t = c.pollTransmit())) out.push({ to: t.to, p: decodeOut(t.data) });
  return out;
}
function joined(clientId = 7, opts: Parameters<typeof make>[0] = {}) {
  const m = make(opts);
  m.c.handleDatagram(srv({ op: Op.JOINACK, clientId, minNackBackoff: 10, maxNackBackoff: 30, rtt: 0, clientTime: 0 }, 50), 5);
  drain(m.c);
  return m;
}
const odata = (seq: number, clientId: number, data = Buffer.from('x'), trailSeq = 1, time = 1000) => srv({ op: Op.ODATA, clientId, seq, trailSeq, data }, time);

describe('MT client: joining (3.2.5.3)', () => {
  it('sends JOIN with CAPABILITIES=MULTISTREAM, repeats it every JoinInterval, ignores all but JOINACK', () => {
    const { c } = make();
    const [j] = drain(c);
    expect(j!.to).toEqual(SERVER);
    expect(j!.p.body).toMatchObject({ op: Op.JOIN, clientName: 'PC-01' });
    expect(j!.p.options).toEqual([{ id: MtOpt.CAPABILITIES, value: Buffer.from([1]) }]);
    expect(c.pollTimeout()).toBe(500);
    c.handleTimeout(499);
    expect(drain(c)).toHaveLength(0);
    c.handleTimeout(500);
    expect(drain(c).map((x) => x.p.body.op)).toEqual([Op.JOIN]);
    c.handleDatagram(srv({ op: Op.SPM, spmSeqNo: 1, masterClientId: 1, minNackBackoff: 1, maxNackBackoff: 2, trailSeq: 1, leadSeq: 1, rtt: 1 }), 600);
    expect(c.stats().ignored).toBe(1);
    expect(c.info().state).toBe('join');
  });

  it('echoes the initiation reply\'s UserSid in every JOIN as WDSMCTP_OPT_USER_SID (2.2.5, <1>)', () => {
    // S-1-5-21-1-2-3-1001 in its MS-DTYP 2.4.2 binary form
    const sid = Buffer.from('010500000000000515000000010000000200000003000000e9030000', 'hex');
    const { c } = make({ userSid: sid });
    const [j] = drain(c);
    expect(j!.p.options).toEqual([
      { id: MtOpt.CAPABILITIES, value: Buffer.from([1]) },
      { id: MtOpt.USER_SID, value: sid },
    ]);
    c.handleTimeout(500);
    expect(drain(c)[0]!.p.options).toContainEqual({ id: MtOpt.USER_SID, value: sid });
  });

  it('answers JOINACK with a QCR of zeros carrying the JOINACK SenderTime, then runs the Force QCC timer', () => {
    const { c } = make();
    drain(c);
    c.handleDatagram(srv({ op: Op.JOINACK, clientId: 42, minNackBackoff: 3, maxNackBackoff: 9, rtt: 0, clientTime: 0 }, 123456), 100);
    const [q] = drain(c);
    expect(q!.p.body).toEqual({ op: Op.QCR, clientId: 42, qccSeqNo: 0, backoff: 0, serverTime: 123456, hiSeq: 0, lossRate: 0, appData: Buffer.alloc(0) });
    expect(c.info().state).toBe('regular');
    expect(c.pollEvent()).toEqual({ type: 'joined', clientId: 42 });
    // a second JOINACK means our QCR was lost (3.2.5.5): answer again
    c.handleDatagram(srv({ op: Op.JOINACK, clientId: 42, minNackBackoff: 3, maxNackBackoff: 9, rtt: 0, clientTime: 0 }, 2), 200);
    expect(drain(c).map((x) => x.p.body.op)).toEqual([Op.QCR]);
    // Force QCC: voluntary QCR (2.2.8.3) 20 s after the last one
    c.handleDatagram(srv({ op: Op.SPM, spmSeqNo: 1, masterClientId: 1, minNackBackoff: 1, maxNackBackoff: 2, trailSeq: 0, leadSeq: 0, rtt: 1 }), 19_000);
    c.handleTimeout(20_199);
    expect(drain(c)).toHaveLength(0);
    c.handleTimeout(20_200);
    const [v] = drain(c);
    expect(v!.p.body).toMatchObject({ op: Op.QCR, qccSeqNo: 0, backoff: 0, serverTime: 0, appData: Buffer.from([0xaa]) });
  });
});

describe('MT client: validation (3.2.5.2)', () => {
  it('drops and counts wrong session, wrong security mode and malformed packets', () => {
    const { c, app } = joined();
    const body = { op: Op.ODATA, clientId: 7, seq: 1, trailSeq: 1, data: Buffer.from('x') } as const;
    c.handleDatagram(srv(body, 0, undefined, SID + 1), 10);
    c.handleDatagram(encodeMt(body, { secMode: Sec.NONE, sessionId: SID, senderTime: 0 }), 10);
    const bad = srv(body);
    bad[bad.length - 1] ^= 0xff; // checksum no longer matches
    c.handleDatagram(bad, 10);
    c.handleDatagram(Buffer.from('garbage'), 10);
    expect(c.stats().wrongSession).toBe(1);
    expect(c.stats().wrongSecurity).toBe(1);
    expect(c.stats().malformed).toEqual({ checksum: 1, 'bad-magic': 1 });
    expect(app.data).toHaveLength(0);
  });
});

describe('MT client: data, NACK and ACK (3.2.5.11-13)', () => {
  it('a non-master NACKs after a random back-off in [MinNACKBackOff, MaxNACKBackOff] and repeats while data is missing', () => {
    const lo = joined(7, { rng: () => 0 });
    lo.c.handleDatagram(odata(1, 99), 100);
    lo.c.handleDatagram(odata(4, 99), 101);
    expect(lo.c.pollTimeout()).toBe(101 + 10); // rng 0 → MinNACKBackOff
    const hi = joined(7, { rng: () => 0.999 });
    hi.c.handleDatagram(odata(1, 99), 100);
    hi.c.handleDatagram(odata(4, 99), 101);
    expect(hi.c.pollTimeout()).toBeCloseTo(101 + 30, 0); // rng→1 → MaxNACKBackOff
    const { c } = lo;
    c.handleTimeout(111);
    const [n] = drain(c);
    expect(n!.p.body).toMatchObject({ op: Op.NACK, clientId: 7, hiSeq: 4, ranges: [[2, 3]] });
    expect(c.pollTimeout()).toBe(121); // re-armed
    c.handleDatagram(srv({ op: Op.RDATA, clientId: 99, seq: 2, trailSeq: 1, data: Buffer.from('y') }), 115);
    c.handleTimeout(121);
    expect(drain(c)[0]!.p.body).toMatchObject({ op: Op.NACK, ranges: [[3, 3]] });
    c.handleDatagram(srv({ op: Op.RDATA, clientId: 99, seq: 3, trailSeq: 1, data: Buffer.from('z') }), 125);
    c.handleTimeout(131);
    expect(drain(c)).toHaveLength(0); // nothing missing: no NACK, timer not re-armed
    expect(c.stats().rdata).toBe(2);
  });

  it('#46: the back-off is the truncated exponential by default (late in the range), uniform on request; RDATA before the timer cancels the NACK, NCF does not', () => {
    const lossAt = (m: ReturnType<typeof joined>) => {
      m.c.handleDatagram(odata(1, 99), 100);
      m.c.handleDatagram(odata(3, 99), 101);
      return m.c.pollTimeout()!;
    };
    // rng 0.5 in [10, 30] (N ≈ 100): uniform → the middle; exponential → (T/λ) ln(1 + (e^λ − 1)/2) ≈ 17.5 ms after Min
    expect(lossAt(joined(7, { params: { nackBackoff: 'uniform' } }))).toBe(101 + 20);
    const e = joined(7);
    const at = lossAt(e);
    expect(e.c.info().params.nackBackoff).toBe('exponential');
    expect(at).toBeGreaterThan(101 + 10 + 17);
    expect(at).toBeLessThan(101 + 10 + 18);
    // suppressed: the RDATA arrives before the timer; at expiry nothing is missing, nothing is sent
    e.c.handleDatagram(srv({ op: Op.RDATA, clientId: 99, seq: 2, trailSeq: 1, data: Buffer.from('y') }), at - 1);
    e.c.handleTimeout(at);
    expect(drain(e.c)).toHaveLength(0);
    expect(e.c.stats().nacksSent).toBe(0);
    // an NCF for the same range changes nothing (3.2.5.19): the NACK goes out
    const n = joined(7);
    const at2 = lossAt(n);
    n.c.handleDatagram(srv({ op: Op.NCF, ranges: [[2, 2]] }), at2 - 1);
    n.c.handleTimeout(at2);
    expect(drain(n.c).map((x) => x.p.body)).toMatchObject([{ op: Op.NACK, ranges: [[2, 2]] }]);
  });

  it('the Master Client NACKs at once and ACKs every ODATA with the highest continuous sequence number', () => {
    const { c } = joined(7);
    c.handleDatagram(odata(1, 7, undefined, 1, 5000), 100);
    expect(drain(c).map((x) => x.p.body)).toEqual([{ op: Op.ACK, clientId: 7, seq: 1, serverTime: 5000, hiSeq: 1, lossRate: expect.any(Number) }]);
    c.handleDatagram(odata(3, 7, undefined, 1, 5001), 101);
    expect(c.pollTimeout()).toBe(101); // NACK timer zero for the master
    const acks = drain(c);
    expect(acks[0]!.p.body).toMatchObject({ op: Op.ACK, seq: 1, hiSeq: 3, serverTime: 5001 });
    c.handleTimeout(101);
    expect(drain(c)[0]!.p.body).toMatchObject({ op: Op.NACK, ranges: [[2, 2]] });
  });

  it('does not ACK when another client is master', () => {
    const { c } = joined(7);
    c.handleDatagram(odata(1, 8), 100);
    expect(drain(c)).toHaveLength(0);
  });

  it('honours ODATA_FW_LEAD_SEQ_NO: ACK only when the option value >= ODATASeqNo (Server 2012+)', () => {
    const { c } = joined(7);
    const fw = (v: number) => [{ id: MtOpt.ODATA_FW_LEAD_SEQ_NO, value: Buffer.from([0, 0, 0, 0, 0, 0, 0, v]) }];
    c.handleDatagram(srv({ op: Op.ODATA, clientId: 7, seq: 1, trailSeq: 1, data: Buffer.from('a') }, 1, fw(0)), 1);
    expect(drain(c)).toHaveLength(0);
    c.handleDatagram(srv({ op: Op.ODATA, clientId: 7, seq: 2, trailSeq: 1, data: Buffer.from('a') }, 1, fw(2)), 2);
    expect(drain(c).map((x) => x.p.body.op)).toEqual([Op.ACK]);
  });

  it('ignores ODATA below FirstODATASeqNo and never NACKs what was sent before it joined', () => {
    const { c, app } = joined(7);
    c.handleDatagram(odata(1000, 99, Buffer.from('a'), 900), 100);
    expect(c.info().firstSeq).toBe(1000);
    expect(c.info().missing).toEqual([]);
    c.handleDatagram(odata(999, 99, Buffer.from('b'), 900), 101);
    expect(c.stats().ignored).toBe(1);
    expect(app.data).toHaveLength(1);
  });

  it('sends a Zero NACK instead of delivering when MaxAppCacheSize is reached, and resumes after Cache Done', () => {
    const app = new FakeApp();
    app.cache = 10;
    const { c } = joined(7, { app });
    c.handleDatagram(odata(1, 99, Buffer.alloc(6)), 100);
    c.handleDatagram(odata(2, 99, Buffer.alloc(6)), 101);
    expect(app.data).toHaveLength(1);
    const z = drain(c).find((x) => x.p.body.op === Op.NACK)!;
    expect(z.p.body).toMatchObject({ ranges: [] });
    expect(c.stats().zeroNacks).toBe(1);
    c.cacheDone(6);
    c.handleDatagram(odata(3, 99, Buffer.alloc(6)), 102);
    expect(app.data).toHaveLength(2);
  });
});

describe('MT client: LossRate (3.2.5.10)', () => {
  it('literal formula settles near 0.0076 with no loss; the corrected EWMA settles near 0', () => {
    const lit = joined(7).c;
    const ew = joined(7, { params: { lossModel: 'ewma' } }).c;
    for (let s = 1; s <= 2000; s++) {
      lit.handleDatagram(odata(s, 99), s);
      ew.handleDatagram(odata(s, 99), s);
    }
    const a = 500 / 65536;
    expect(lit.info().lossRate).toBeCloseTo(a * (1 - a) / (1 - a * a) , 6);
    expect(lit.info().lossRate).toBeGreaterThan(0.0075);
    expect(ew.info().lossRate).toBeLessThan(1e-6);
    // 10 % loss: the EWMA approaches 0.1, and it is sent scaled by 10^16
    const e2 = joined(7, { params: { lossModel: 'ewma' } }).c;
    for (let s = 1; s <= 20000; s++) if (s % 10 !== 0) e2.handleDatagram(odata(s, 7), s);
    expect(e2.info().lossRate).toBeGreaterThan(0.05);
    expect(e2.info().lossRate).toBeLessThan(0.2);
    const ack = drain(e2).filter((x) => x.p.body.op === Op.ACK).pop()!;
    expect((ack.p.body as { lossRate: number }).lossRate / LOSS_SCALE).toBeCloseTo(e2.info().lossRate, 6);
  });
});

describe('MT client: SPM (3.2.5.9)', () => {
  it('takes FirstODATASeqNo from the first non-zero Lead, rejects stale SPMs, and ACKs as master', () => {
    const { c } = joined(7);
    const spm = (n: number, lead: number, time = 1) => srv({ op: Op.SPM, spmSeqNo: n, masterClientId: 7, minNackBackoff: 4, maxNackBackoff: 8, trailSeq: 1, leadSeq: lead, rtt: 3 }, time);
    c.handleDatagram(spm(1, 50, 777), 10);
    expect(c.info().firstSeq).toBe(50);
    expect(c.info().minNackBackoff).toBe(4);
    expect(c.info().mcRtt).toBe(3);
    // protocol-notes #102: ODATA 50 was announced, not received: it is missing and the ACK stops below it (3.2.1.3.1.1
    // read literally would count 50 as received and ACK it)
    expect(drain(c).map((x) => x.p.body)).toEqual([expect.objectContaining({ op: Op.ACK, serverTime: 777, seq: 49 })]);
    expect(c.info().missing).toEqual([[50, 50]]);
    c.handleDatagram(spm(1, 60), 11);
    expect(c.stats()).toMatchObject({ replayed: 1, ignored: 0, spm: 1 });
    c.handleDatagram(odata(53, 7), 12); // 51..52 missing
    c.handleDatagram(spm(2, 55), 13); // lead 55 → 54..55 missing too
    expect(c.info().missing).toEqual([[50, 52], [54, 55]]);
  });

  it('protocol-notes #102: after an SPM with LeadODATASeqNo 0, ODATA 1 is ours: lost, it is NACKed although ODATA 2 came first', () => {
    const { c } = joined(7);
    c.handleDatagram(srv({ op: Op.SPM, spmSeqNo: 1, masterClientId: 8, minNackBackoff: 4, maxNackBackoff: 8, trailSeq: 0, leadSeq: 0, rtt: 3 }), 10);
    expect(c.info().firstSeq).toBe(1);
    c.handleDatagram(odata(2, 8, undefined, 1), 20); // ODATA 1 lost
    expect(c.info().missing).toEqual([[1, 1]]);
    c.handleDatagram(srv({ op: Op.RDATA, clientId: 8, seq: 1, trailSeq: 1, data: Buffer.from('r') }), 40);
    expect(c.info().missing).toEqual([]);
    expect(c.stats().ignored).toBe(0);
    // without the SPM (first ODATA 2), ODATA 1 is before FirstODATASeqNo: 3.2.5.13 as written
    const late = joined(7);
    late.c.handleDatagram(odata(2, 8, undefined, 1), 20);
    expect(late.c.info().firstSeq).toBe(2);
    expect(late.c.info().missing).toEqual([]);
  });
});

describe('MT client: QCC and POLL (3.2.5.6-7)', () => {
  it('answers QCC with a QCR after a random wait in [0, QCRBackOff]; stale QCCs are rejected', () => {
    const { c } = joined(7, { rng: () => 0.25 });
    c.handleDatagram(srv({ op: Op.QCC, qccSeqNo: 3, qcrBackoff: 400 }, 9999), 1000);
    expect(c.pollTimeout()).toBe(1100);
    c.handleDatagram(srv({ op: Op.QCC, qccSeqNo: 2, qcrBackoff: 400 }, 1), 1001);
    expect(c.stats()).toMatchObject({ replayed: 1, ignored: 0 });
    c.handleTimeout(1100);
    const [q] = drain(c);
    expect(q!.p.body).toEqual({ op: Op.QCR, clientId: 7, qccSeqNo: 3, backoff: 100, serverTime: 9999, hiSeq: 0, lossRate: 0, appData: Buffer.from([0xaa]) });
    expect(c.pollTimeout()).toBe(1100 + 20_000); // Force QCC reset
  });

  it('protocol-notes #80: a forged high POLL, QCC or SPM number cannot make the genuine ones replays for good', () => {
    const poll = (n: number) => srv({ op: Op.POLL, pollSeqNo: n, backoff: 200, appData: Buffer.alloc(0) });
    const answered = (c: ReturnType<typeof joined>['c'], now: number) => {
      c.handleTimeout(now);
      return drain(c).filter((x) => x.p.body.op === Op.POLLACK).map((x) => (x.p.body as { pollSeqNo: number }).pollSeqNo);
    };
    // More than 2^20 past the last one: rejected at once, the server's next number is taken and answered.
    {
      const { c } = joined(7, { rng: () => 0.5 });
      c.handleDatagram(poll(5), 0);
      expect(answered(c, 1000)).toEqual([5]);
      c.handleDatagram(poll(2 ** 53 - 1), 1001);
      c.handleDatagram(poll(5 + 2 ** 20 + 1), 1002);
      expect(c.stats()).toMatchObject({ replayed: 2 });
      c.handleDatagram(poll(6), 1003);
      expect(answered(c, 2000)).toEqual([6]);
    }
    // Within the step (a blind forgery at 2^20 is): taken, but the server counting on below it (three numbers in
    // a row, each just above the one before) is taken back from the third, and answered.
    {
      const { c } = joined(7, { rng: () => 0.5 });
      c.handleDatagram(poll(5), 0);
      c.handleDatagram(poll(2 ** 20), 1); // forged
      expect(answered(c, 1000)).toEqual([2 ** 20]);
      c.handleDatagram(poll(6), 1001);
      c.handleDatagram(poll(7), 1002);
      expect(c.stats()).toMatchObject({ replayed: 2 });
      c.handleDatagram(poll(8), 1003);
      expect(c.stats()).toMatchObject({ replayed: 2 });
      expect(answered(c, 2000)).toEqual([8]);
      c.handleDatagram(poll(9), 2001);
      expect(answered(c, 3000)).toEqual([9]);
      // duplicates of one number never make such a run (a duplicating link, a replayer)
      for (let i = 0; i < 5; i++) c.handleDatagram(poll(9), 3001 + i);
      expect(c.stats()).toMatchObject({ replayed: 7 });
      expect(answered(c, 4000)).toEqual([]);
    }
    // The same gate for QCC and SPM.
    {
      const { c } = joined(7, { rng: () => 0.5 });
      const spm = (n: number) => srv({ op: Op.SPM, spmSeqNo: n, masterClientId: 7, minNackBackoff: 4, maxNackBackoff: 8, trailSeq: 1, leadSeq: 10, rtt: 3 });
      c.handleDatagram(spm(9), 1);
      c.handleDatagram(spm(2 ** 53 - 1), 2);
      c.handleDatagram(spm(10), 3);
      c.handleDatagram(srv({ op: Op.QCC, qccSeqNo: 3, qcrBackoff: 400 }), 4);
      c.handleDatagram(srv({ op: Op.QCC, qccSeqNo: 2 ** 40, qcrBackoff: 400 }), 5);
      expect(c.stats()).toMatchObject({ replayed: 2, spm: 2 });
    }
  });

  it('answers POLL with a POLLACK (opcode 0x0D) carrying the application reply', () => {
    const { c } = joined(7, { rng: () => 0.5 });
    c.handleDatagram(srv({ op: Op.POLL, pollSeqNo: 1, backoff: 200, appData: Buffer.from([1, 2]) }), 0);
    c.handleTimeout(100);
    const out = c.pollTransmit()!;
    expect(out.data[5 + 4 + 4]).toBe(0x0d);
    expect(decodeOut(out.data).body).toEqual({ op: Op.POLLACK, clientId: 7, pollSeqNo: 1, appData: Buffer.from([0xbb, 1, 2]) });
    c.handleDatagram(srv({ op: Op.POLL, pollSeqNo: 1, backoff: 200, appData: Buffer.alloc(0) }), 200);
    expect(c.stats()).toMatchObject({ replayed: 1, ignored: 0 });
  });
});

describe('MT client: leaving, KICK, DEMOTE, inactivity (3.2.5.4, 3.2.5.15-16)', () => {
  it('waits a random time up to MaxNACKBackOff before LEAVE, or up to MaxLeaveDelay when that is zero', () => {
    const a = joined(7, { rng: () => 0.5 }).c; // MaxNACKBackOff 30
    a.leave(LeaveReason.COMPLETE, 1000);
    expect(a.pollTimeout()).toBe(1015);
    a.handleTimeout(1015);
    expect(drain(a)[0]!.p.body).toEqual({ op: Op.LEAVE, clientId: 7, reason: LeaveReason.COMPLETE });
    expect(a.pollEvent()).toMatchObject({ type: 'joined' });
    expect(a.pollEvent()).toEqual({ type: 'closed', reason: 0 });
    const b = make({ rng: () => 0.5 });
    b.c.handleDatagram(srv({ op: Op.JOINACK, clientId: 8, minNackBackoff: 0, maxNackBackoff: 0, rtt: 0, clientTime: 0 }), 0);
    b.c.leave(LeaveReason.CANCELLED, 1000);
    expect(b.c.pollTimeout()).toBe(1100); // 0.5 × MaxLeaveDelay 200
  });

  it('terminates on a KICK naming it, with the reason; ignores KICKs for others', () => {
    const { c } = joined(7);
    c.pollEvent();
    c.handleDatagram(srv({ op: Op.KICK, clients: [{ clientId: 8, reason: KickReason.FAIL }] }), 10);
    expect(c.pollEvent()).toBeUndefined();
    c.handleDatagram(srv({ op: Op.KICK, clients: [{ clientId: 9, reason: 0 }, { clientId: 7, reason: KickReason.FALLBACK }] }), 11);
    expect(c.pollEvent()).toEqual({ type: 'kicked', reason: KickReason.FALLBACK });
    expect(c.info().state).toBe('closed');
  });

  it('on DEMOTE sends LEAVE(CANCELLED) to the old session, then JOINs the lower session', () => {
    const { c } = joined(7, { rng: () => 0 });
    c.pollEvent();
    c.handleDatagram(srv({ op: Op.DEMOTE, lowerSessionId: 0x1234, mAddress: Buffer.from([239, 1, 1, 2]), mPort: 64002, uAddress: Buffer.from([10, 0, 0, 1]), uPort: 64002, clients: [3, 7] }), 50);
    expect(c.pollEvent()).toEqual({ type: 'demoted', sessionId: 0x1234, multicast: { address: '239.1.1.2', port: 64002 }, server: { address: '10.0.0.1', port: 64002 } });
    c.handleTimeout(50);
    const out = [];
    let t;
    while ((t = c.pollTransmit())) out.push({ to: t.to, p: decodeOut(t.data) });
    const leave = out.find((x) => x.p.body.op === Op.LEAVE)!;
    const join = out.find((x) => x.p.body.op === Op.JOIN)!;
    expect(leave.p.sessionId).toBe(SID);
    expect(leave.to).toEqual(SERVER);
    expect(leave.p.body).toEqual({ op: Op.LEAVE, clientId: 7, reason: LeaveReason.CANCELLED });
    expect(join.p.sessionId).toBe(0x1234);
    expect(join.to).toEqual({ address: '10.0.0.1', port: 64002 });
    expect(c.info().state).toBe('join');
  });

  it('protocol-notes #108: a DEMOTE to addresses of the other family (IPv6 in an IPv4 session) is ignored: no LEAVE, still in the session', () => {
    const v6 = Buffer.from('ff020000000000000000000000010007', 'hex');
    const lo6 = Buffer.from('00000000000000000000000000000001', 'hex');
    for (const [mAddress, uAddress] of [[v6, lo6], [v6, Buffer.from([10, 0, 0, 1])], [Buffer.from([239, 1, 1, 2]), lo6]] as const) {
      const { c } = joined(7, { rng: () => 0 });
      c.pollEvent();
      const before = c.stats().ignored;
      c.handleDatagram(srv({ op: Op.DEMOTE, lowerSessionId: 0x1234, mAddress, mPort: 64002, uAddress, uPort: 64002, clients: [7] }), 50);
      expect(c.pollEvent()).toBeUndefined();
      c.handleTimeout(50);
      while (c.pollTransmit()) expect.unreachable('nothing to send');
      expect(c.stats().ignored).toBe(before + 1);
      expect(c.info()).toMatchObject({ state: 'regular', sessionId: SID });
    }
  });

  it('after InactivityTimeout without a packet reports inactive and LEAVEs with INACTIVE', () => {
    const { c } = joined(7, { rng: () => 0 });
    c.pollEvent();
    c.handleDatagram(odata(1, 99), 1000);
    c.handleTimeout(30_999);
    expect(c.pollEvent()).toBeUndefined();
    c.handleTimeout(31_000);
    expect(c.pollEvent()).toEqual({ type: 'inactive' });
    c.handleTimeout(31_000);
    expect(drain(c).pop()!.p.body).toEqual({ op: Op.LEAVE, clientId: 7, reason: LeaveReason.INACTIVE });
  });
});

describe('MT client: a client opcode is not a packet from the server (protocol-notes #92)', () => {
  it('its own NACKs and QCRs coming back (a dead server on loopback) do not hold off InactivityTimeout', () => {
    const { c } = joined(7, { rng: () => 0 });
    c.pollEvent();
    c.handleDatagram(odata(1, 99), 1000);
    const before = c.stats().received;
    // Everything a client sends, with the session's id and a valid checksum, every second for 40 s.
    const own = [
      srv({ op: Op.NACK, clientId: 7, hiSeq: 5, lossRate: 0, ranges: [[2, 3]] }),
      srv({ op: Op.QCR, clientId: 7, qccSeqNo: 0, backoff: 0, serverTime: 0, hiSeq: 1, lossRate: 0, appData: Buffer.alloc(0) }),
      srv({ op: Op.ACK, clientId: 7, seq: 1, serverTime: 0, hiSeq: 1, lossRate: 0 }),
      srv({ op: Op.LEAVE, clientId: 7, reason: LeaveReason.CANCELLED }),
      srv({ op: Op.JOIN, clientName: 'PC-01', ipAddress: Buffer.from([10, 0, 0, 5]), macAddress: Buffer.alloc(6) }),
    ];
    const events = [];
    for (let t = 2000; t <= 41_000; t += 1000) {
      c.handleDatagram(own[t % own.length]!, t);
      c.handleTimeout(t);
      let e;
      while ((e = c.pollEvent())) events.push({ t, e });
    }
    expect(events[0]).toEqual({ t: 31_000, e: { type: 'inactive' } });
    expect(c.stats().received).toBe(before);
  });
});

describe('MT client: Master Client liveness (protocol-notes #19)', () => {
  it('stops NACKing a sequence number the Master Client can never get, so its ACK point moves on', () => {
    const { c } = joined(7, { rng: () => 0, params: { masterNackGiveUp: 3 } });
    c.handleDatagram(odata(1, 7), 0);
    c.handleDatagram(odata(3, 7), 1); // 2 is lost for good
    let t = 1;
    const acks: number[] = [];
    for (let i = 0; i < 6; i++) {
      c.handleTimeout(t);
      t += 10;
      c.handleDatagram(odata(3 + i + 1, 7), t);
      for (const x of drain(c)) if (x.p.body.op === Op.ACK) acks.push(x.p.body.seq);
    }
    expect(c.stats().nackGiveUps).toBe(1);
    expect(acks[0]).toBe(1);
    expect(acks[acks.length - 1]).toBe(9); // continuous again once 2 was given up
  });
});

describe('MT client: protocol-notes choices', () => {
  it('#47: with MinNACKBackOff = MaxNACKBackOff = 0 a NACK is repeated no sooner than minNackRepeat, not in a loop at one instant (found by npm run fuzz)', () => {
    const { c } = make({ rng: () => 0 });
    c.handleDatagram(srv({ op: Op.JOINACK, clientId: 7, minNackBackoff: 0, maxNackBackoff: 0, rtt: 0, clientTime: 0 }, 50), 5);
    // the server's backoffs are 0; the SPMs announce ODATA 1 and 2, which never came
    c.handleDatagram(srv({ op: Op.SPM, spmSeqNo: 1, masterClientId: 0, minNackBackoff: 0, maxNackBackoff: 0, trailSeq: 0, leadSeq: 1, rtt: 0 }), 5);
    c.handleDatagram(srv({ op: Op.SPM, spmSeqNo: 2, masterClientId: 0, minNackBackoff: 0, maxNackBackoff: 0, trailSeq: 0, leadSeq: 2, rtt: 0 }), 5);
    drain(c);
    expect(c.info().missing.length).toBeGreaterThan(0);
    let nacks = 0;
    for (let i = 0; i < 100; i++) {
      const t = c.pollTimeout()!;
      if (t > 5) break;
      c.handleTimeout(5);
      nacks += drain(c).filter((x) => x.p.body.op === Op.NACK).length;
    }
    expect(nacks).toBe(1); // the first NACK at once, the repeat not before 15
    expect(c.pollTimeout()).toBe(15);
    c.handleTimeout(15);
    expect(drain(c).filter((x) => x.p.body.op === Op.NACK)).toHaveLength(1);
  });

  it('#101: the Master Client NACKs a loss it detects while its NACK timer waits to repeat at once; earlier ranges alone wait for the timer', () => {
    for (const atOnce of [true, false]) {
      const { c } = joined(7, { params: { masterNackAtOnce: atOnce } }); // MinNACKBackOff 10, MaxNACKBackOff 30
      const nacks = () => drain(c).filter((x) => x.p.body.op === Op.NACK).map((x) => (x.p.body as { ranges: number[][] }).ranges);
      c.handleDatagram(odata(1, 7), 100);
      c.handleDatagram(odata(3, 7), 101); // 2 lost
      c.handleTimeout(101);
      expect(nacks()).toEqual([[[2, 2]]]); // timer zero (3.2.5.12)
      const repeatAt = c.pollTimeout()!;
      expect(repeatAt).toBeGreaterThanOrEqual(111);
      c.handleDatagram(odata(4, 7), 103); // nothing new missing: the repeat timer stays
      expect(c.pollTimeout()).toBe(repeatAt);
      c.handleDatagram(odata(6, 7), 104); // 5 lost: a new hole behind which the ACK point (and the window) waits
      if (atOnce) {
        expect(c.pollTimeout()).toBe(104);
        c.handleTimeout(104);
        expect(nacks()).toEqual([[[2, 2], [5, 5]]]);
        c.handleDatagram(odata(7, 7), 105); // 2 and 5 already NACKed: no NACK before the repeat timer
        expect(c.pollTimeout()).toBeGreaterThanOrEqual(114);
      } else {
        expect(c.pollTimeout()).toBe(repeatAt); // literal: stop while the NACK timer is active
        c.handleTimeout(104);
        expect(nacks()).toEqual([]);
        c.handleTimeout(repeatAt);
        expect(nacks()).toEqual([[[2, 2], [5, 5]]]);
      }
    }
  });

  it('#104: after an ODATA arrives below the highest one (the path reorders), a new hole within that depth waits for the running timer; reorderHoldMs later #101 applies again', () => {
    for (const holdMs of [5000, 0]) {
      const { c } = joined(7, { params: { reorderHoldMs: holdMs } }); // MinNACKBackOff 10, MaxNACKBackOff 30
      const nacks = () => drain(c).filter((x) => x.p.body.op === Op.NACK).map((x) => (x.p.body as { ranges: number[][] }).ranges);
      c.handleDatagram(odata(1, 7), 100);
      c.handleDatagram(odata(3, 7), 101); // 2 missing: NACKed at once (timer zero)
      c.handleTimeout(101);
      expect(nacks()).toEqual([[[2, 2]]]);
      c.handleDatagram(odata(2, 7), 102); // 2 was on its way: reordering
      expect(c.stats().reordered).toBe(1);
      const repeatAt = c.pollTimeout();
      c.handleDatagram(odata(5, 7), 103); // 4 missing while the timer runs
      if (holdMs) {
        expect(c.pollTimeout()).toBe(repeatAt); // held: 4 may be on its way too
        c.handleDatagram(odata(4, 7), 104); // it was
        c.handleTimeout(104);
        expect(nacks()).toEqual([]);
        // reorderHoldMs after the last reordered ODATA, a new hole is NACKed at once again (#101)
        c.handleDatagram(odata(7, 7), 104 + holdMs);
        expect(c.pollTimeout()).toBe(104 + holdMs);
        c.handleTimeout(104 + holdMs);
        expect(nacks()).toEqual([[[6, 6]]]);
      } else {
        expect(c.pollTimeout()).toBe(103); // 0 = never held: #101 as before
        c.handleTimeout(103);
        expect(nacks()).toEqual([[[4, 4]]]);
      }
    }
  });

  it('#104: within reorderHoldMs a new hole waits only until more ODATA has arrived beyond it than the deepest reordering seen', () => {
    const { c } = joined(7, { params: { reorderHoldMs: 5000 } }); // MinNACKBackOff 10, MaxNACKBackOff 30
    const nacks = () => drain(c).filter((x) => x.p.body.op === Op.NACK).map((x) => (x.p.body as { ranges: number[][] }).ranges);
    c.handleDatagram(odata(1, 7), 100);
    c.handleDatagram(odata(4, 7), 101); // 2, 3 missing: NACKed at once (timer zero)
    c.handleTimeout(101);
    expect(nacks()).toEqual([[[2, 3]]]);
    c.handleDatagram(odata(2, 7), 102); // 2 came 2 behind the highest (4): depth 2
    c.handleDatagram(odata(3, 7), 102); // depth 1: the depth stays 2
    const repeatAt = c.pollTimeout()!;
    expect(repeatAt).toBeGreaterThan(103);
    c.handleDatagram(odata(6, 7), 103); // 5 missing, 1 beyond it: may be on its way
    c.handleDatagram(odata(7, 7), 103); // 2 beyond it: not more than the depth yet
    expect(c.pollTimeout()).toBe(repeatAt);
    c.handleDatagram(odata(8, 7), 104); // 3 beyond it: a loss, NACKed at once (#101)
    expect(c.pollTimeout()).toBe(104);
    c.handleTimeout(104);
    expect(nacks()).toEqual([[[5, 5]]]);
  });

  it('#104: without recent reordering, a hole an SPM reveals above the highest ODATA is NACKed at once too (#101)', () => {
    const { c } = joined(7); // MinNACKBackOff 10, MaxNACKBackOff 30
    const nacks = () => drain(c).filter((x) => x.p.body.op === Op.NACK).map((x) => (x.p.body as { ranges: number[][] }).ranges);
    c.handleDatagram(odata(1, 7), 100);
    c.handleDatagram(odata(3, 7), 101); // 2 missing: NACKed at once, then the repeat timer runs
    c.handleTimeout(101);
    expect(nacks()).toEqual([[[2, 2]]]);
    expect(c.pollTimeout()).toBeGreaterThan(102);
    c.handleDatagram(srv({ op: Op.SPM, spmSeqNo: 1, masterClientId: 7, minNackBackoff: 10, maxNackBackoff: 30, trailSeq: 1, leadSeq: 5, rtt: 0 }), 102); // 4, 5 sent
    expect(c.pollTimeout()).toBe(102);
    c.handleTimeout(102);
    expect(nacks()).toEqual([[[2, 2], [4, 5]]]);
  });

  it('#104: the reordering depth belongs to the session: after a DEMOTE the lower session numbers its ODATA from 1 and none of it counts as reordered', () => {
    const { c } = joined(7, { params: { reorderHoldMs: 5000 } });
    for (let s = 1; s <= 50; s++) c.handleDatagram(odata(s, 7), 100);
    c.handleDatagram(odata(52, 7), 101);
    c.handleDatagram(odata(51, 7), 101); // reordered, depth 1
    expect(c.stats().reordered).toBe(1);
    const LOWER = 0x1234;
    c.handleDatagram(srv({ op: Op.DEMOTE, lowerSessionId: LOWER, mAddress: Buffer.from([239, 1, 1, 2]), mPort: 64002, uAddress: Buffer.from([10, 0, 0, 1]), uPort: 64002, clients: [7] }), 102);
    drain(c);
    c.handleDatagram(srv({ op: Op.JOINACK, clientId: 9, minNackBackoff: 10, maxNackBackoff: 30, rtt: 0, clientTime: 0 }, 50, undefined, LOWER), 103);
    drain(c);
    const nacks = () => drain(c).filter((x) => x.p.body.op === Op.NACK).map((x) => (x.p.body as { ranges: number[][] }).ranges);
    const low = (seq: number) => srv({ op: Op.ODATA, clientId: 9, seq, trailSeq: 1, data: Buffer.from('x') }, 1000, undefined, LOWER);
    c.handleDatagram(low(1), 104);
    c.handleDatagram(low(3), 104); // 2 missing: NACKed at once
    c.handleTimeout(104);
    expect(nacks()).toEqual([[[2, 2]]]);
    c.handleDatagram(low(5), 105); // 4: a new hole while the repeat timer runs, no reordering in this session: at once
    expect(c.pollTimeout()).toBe(105);
    expect(c.stats().reordered).toBe(1);
  });

  it('#6: the Zero NACK carries LossRate scaled by 10^16 like every other packet', () => {
    const app = new FakeApp();
    app.cache = 1;
    const { c } = joined(7, { app });
    c.handleDatagram(odata(1, 99, Buffer.alloc(6)), 100);
    c.handleDatagram(odata(5, 99, Buffer.alloc(6)), 101);
    const z = drain(c).filter((x) => x.p.body.op === Op.NACK && (x.p.body as { ranges: unknown[] }).ranges.length === 0).pop()!;
    expect(c.info().lossRate).toBeGreaterThan(0);
    expect((z.p.body as { lossRate: number }).lossRate).toBeCloseTo(c.info().lossRate * LOSS_SCALE, -2);
  });

  it('#16: a NACK names at most maxNackRanges ranges (fits one frame), lowest first', () => {
    const { c } = joined(7, { rng: () => 0 });
    for (let s = 1; s <= 400; s += 2) c.handleDatagram(odata(s, 99), 1); // 199 single gaps
    c.handleTimeout(1000);
    const n = drain(c).find((x) => x.p.body.op === Op.NACK)!;
    const ranges = (n.p.body as { ranges: [number, number][] }).ranges;
    expect(ranges).toHaveLength(80);
    expect(ranges[0]).toEqual([2, 2]);
    expect(n.p.body && encodeMt(n.p.body, { secMode: Sec.CHECKSUM, sessionId: SID, senderTime: 0 }).length).toBeLessThanOrEqual(1472);
  });

  it('#17: DEMOTE keeps CurrentAppCacheSize (the application still holds those bytes)', () => {
    const { c } = joined(7);
    c.handleDatagram(odata(1, 99, Buffer.alloc(100)), 1);
    expect(c.info().curAppCache).toBe(100);
    c.handleDatagram(srv({ op: Op.DEMOTE, lowerSessionId: 9, mAddress: Buffer.from([239, 1, 1, 9]), mPort: 1, uAddress: Buffer.from([10, 0, 0, 9]), uPort: 1, clients: [7] }), 2);
    expect(c.info().sessionId).toBe(9);
    expect(c.info().curAppCache).toBe(100);
  });
});

describe('MT client: leaving right after a DEMOTE', () => {
  it('sends the LEAVE still owed to the old session, and closes without leaving a session it never joined', () => {
    const { c } = joined(7, { rng: () => 0.9 });
    c.pollEvent();
    c.handleDatagram(srv({ op: Op.DEMOTE, lowerSessionId: 0x22, mAddress: Buffer.from([239, 1, 1, 3]), mPort: 5, uAddress: Buffer.from([10, 0, 0, 3]), uPort: 5, clients: [7] }), 10);
    drain(c); // the JOIN to the new session; the old LEAVE waits for its random delay
    c.leave(LeaveReason.CANCELLED, 11);
    const out = drain(c);
    expect(out.map((x) => [x.p.sessionId, x.p.body.op])).toEqual([[SID, Op.LEAVE]]);
    expect(c.info().state).toBe('closed');
    expect(c.pollEvent()).toMatchObject({ type: 'demoted' });
    expect(c.pollEvent()).toEqual({ type: 'closed', reason: LeaveReason.CANCELLED });
  });
});
