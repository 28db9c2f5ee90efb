import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { MaOp, decodeMa, encodeMa } from '../../core/codec/ma';
import { MsiOp, decodeMsi, encodeMsiRaw, encodeMsiRequest, MsiOpt } from '../../core/codec/msi';
import { wstring } from '../../core/codec/bytes';
import { KickReason, LOSS_SCALE, MtBody, MtOpt, Op, Sec, decodeMt, encodeMt, findOption } from '../../core/codec/mt';
import { lossFromWire } from './context';
import { Coordinator } from './coordinator';
import { mergeRanges } from './ma-server';
import { throughput } from './session';
import { Sim, bufferSource, mulberry32 } from './sim';
import { SimClient } from './sim-client';

const T0 = 1_000_000;
const FROM = { address: '10.0.0.9', port: 50000 };

function image(blocks: number, extra = 17): Buffer {
  return randomBytes(1385 * blocks + extra);
}

/** Encodes a client packet for the sim's session and hands it to the coordinator at sim.now. */
function inject(sim: Sim, body: MtBody, from = FROM, o: { sec?: number; sessionId?: number; options?: { id: number; value: Buffer }[] } = {}): void {
  const buf = encodeMt(body, { secMode: (o.sec ?? Sec.CHECKSUM) as 0 | 3, sessionId: o.sessionId ?? sim.sessionId, senderTime: sim.now, options: o.options });
  sim.coord.handleDatagram(buf, from, sim.now);
  sim.drain();
}

function ops(sim: Sim, since = 0): string[] {
  return sim.sent.filter((s) => s.t >= since && s.pkt).map((s) => Object.entries(Op).find(([, v]) => v === s.pkt!.body.op)?.[0] ?? '?');
}

type DataBody = Extract<MtBody, { op: typeof Op.ODATA | typeof Op.RDATA }>;
type BodyOf<T> = T extends typeof Op.ODATA | typeof Op.RDATA ? DataBody : Extract<MtBody, { op: T }>;
function body<T extends MtBody['op']>(sim: Sim, op: T, since = 0): BodyOf<T>[] {
  return sim.sentOps(op, since).map((s) => s.pkt!.body as BodyOf<T>);
}

function allDone(...cs: SimClient[]): () => boolean {
  return () => cs.every((c) => c.complete && (c.state === 'done' || c.state === 'stopped'));
}

function eventsOf(sim: Sim, type: string) {
  return sim.events.filter((e) => e.type === type);
}

/** Joins one manual client (no SimClient): JOIN -> JOINACK -> QCR(0). Returns its ClientId. */
function manualJoin(sim: Sim, from = FROM, rtt = 0): number {
  inject(sim, { op: Op.JOIN, clientName: 'MANUAL', ipAddress: Buffer.from([10, 0, 0, 9]), macAddress: Buffer.from([2, 0, 0, 0, 0, 9]) }, from);
  const ja = sim.sent.filter((s) => s.pkt?.body.op === Op.JOINACK).pop()!;
  const id = (ja.pkt!.body as { clientId: number }).clientId;
  sim.run(sim.now + rtt);
  inject(sim, { op: Op.QCR, clientId: id, qccSeqNo: 0, backoff: 0, serverTime: ja.pkt!.senderTime, hiSeq: 0, lossRate: 0, appData: Buffer.alloc(0) }, from);
  return id;
}

/** Answers the latest QCC for a manual client so that it becomes Master Client, and runs into DataState. */
function manualElect(sim: Sim, id: number, from = FROM): void {
  const qcc = sim.sent.filter((s) => s.pkt?.body.op === Op.QCC).pop()!;
  const q = qcc.pkt!.body as { qccSeqNo: number };
  inject(sim, { op: Op.QCR, clientId: id, qccSeqNo: q.qccSeqNo, backoff: 0, serverTime: qcc.pkt!.senderTime, hiSeq: 0, lossRate: 0, appData: Buffer.alloc(0) }, from);
  sim.run(sim.now + 100, () => sim.coord.sessionState === 'DataState');
}

/** Answers the latest POLL with a CNTCIR missing everything, and runs until the MA round starts. */
function manualPollAck(sim: Sim, id: number, ranges: [number, number][] = [[1, sim.totalBlocks]], tis = 0, from = FROM): void {
  const poll = body(sim, Op.POLL).pop()!;
  inject(sim, { op: Op.POLLACK, clientId: id, pollSeqNo: poll.pollSeqNo, appData: encodeMa({ op: MaOp.CNTCIR, progress: 0, timeInSession: tis, ranges }) }, from);
  sim.run(sim.now + 1000, () => sim.coord.applicationState === 'DataState');
}

/** A manual Master Client in DataState with an MA round queued; returns its id. */
function manualSession(opts: ConstructorParameters<typeof Sim>[0]): { sim: Sim; id: number } {
  const sim = new Sim({ record: true, ...opts });
  const id = manualJoin(sim);
  manualElect(sim, id);
  manualPollAck(sim, id);
  return { sim, id };
}

function lastOdataTime(sim: Sim, seq: number): number {
  return sim.sentOps(Op.ODATA).find((s) => (s.pkt!.body as { seq: number }).seq === seq)!.pkt!.senderTime;
}

// =========================================================================================================
describe('MSI (MS-WDSMSI 2.2.2, 3.1.5.3)', () => {
  const data = image(100);
  const mk = () => new Sim({ data, record: true });
  const req = (ns: string, content: string) => encodeMsiRequest({ namespace: ns, content, mac: Buffer.from([0, 0x15, 0x5d, 1, 2, 3]) });

  test('a valid request gets a reply with every option, on the MSI socket, to the sender', () => {
    const sim = mk();
    sim.coord.handleMsi(req('SMSNamespace', 'PKG00001'), FROM, sim.now);
    sim.drain();
    expect(sim.sent).toHaveLength(1);
    const s = sim.sent[0]!;
    expect(s.via).toBe('msi');
    expect(s.dest).toEqual(FROM);
    const d = decodeMsi(s.raw);
    expect(d.ok && d.value).toEqual({
      kind: 'reply',
      multicastAddr: '239.192.0.1',
      serverAddr: '10.0.0.1',
      multicastPort: 63000,
      serverPort: 63000,
      contentSize: data.length,
      blockSize: 1385,
      totalBlocks: 101,
      sessionId: 0x1234,
    });
    expect(sim.coord.stats.msiReplies).toBe(1);
    // Session initiation does not start the transport: PreStartState sends nothing.
    expect(sim.coord.sessionState).toBe('PreStartState');
  });

  test('names are matched case-insensitively', () => {
    const sim = mk();
    sim.coord.handleMsi(req('smsnamespace', 'pkg00001'), FROM, sim.now);
    sim.drain();
    expect(decodeMsi(sim.sent[0]!.raw).ok && (decodeMsi(sim.sent[0]!.raw) as { value: { kind: string } }).value.kind).toBe('reply');
  });

  test('unknown namespace -> ERROR_NOT_FOUND (1168); unknown content -> ERROR_FILE_NOT_FOUND (2)', () => {
    const sim = mk();
    sim.coord.handleMsi(req('Other', 'PKG00001'), FROM, sim.now);
    sim.coord.handleMsi(req('SMSNamespace', 'PKG99999'), FROM, sim.now);
    sim.drain();
    const codes = sim.sent.map((s) => decodeMsi(s.raw)).map((d) => (d.ok && d.value.kind === 'error' ? [d.value.opcode, d.value.win32] : d));
    expect(codes).toEqual([
      [MsiOp.REPLY, 1168],
      [MsiOp.REPLY, 2],
    ]);
    expect(sim.coord.stats.msiErrors).toBe(2);
  });

  test('a request without MAC_ADDRESS gets ERROR_INVALID_PARAMETER; garbage is counted and unanswered', () => {
    const sim = mk();
    const noMac = encodeMsiRaw(MsiOp.REQUEST, [
      { id: MsiOpt.NAMESPACE, value: wstring('SMSNamespace') },
      { id: MsiOpt.CONTENT, value: wstring('PKG00001') },
    ]);
    sim.coord.handleMsi(noMac, FROM, sim.now);
    sim.coord.handleMsi(Buffer.from([1, 0, 5, 1]), FROM, sim.now);
    sim.coord.handleMsi(Buffer.alloc(0), FROM, sim.now);
    sim.drain();
    expect(sim.sent).toHaveLength(1);
    const d = decodeMsi(sim.sent[0]!.raw);
    expect(d.ok && d.value.kind === 'error' && d.value.win32).toBe(87);
    expect(sim.coord.stats.malformed).toBe(2);
  });
});

// =========================================================================================================
describe('JOIN / JOINACK / QCR handshake (MS-WDSMT 3.1.5.2, 3.1.5.7, 3.1.6.1)', () => {
  const data = image(50);

  test('JOIN -> JOINACK to the sender; QCR(0) -> Active list, QCCState, QCC and POLL on multicast', () => {
    const sim = new Sim({ data, record: true });
    inject(sim, { op: Op.JOIN, clientName: 'PC1', ipAddress: Buffer.from([10, 0, 0, 9]), macAddress: Buffer.from([2, 0, 0, 0, 0, 9]) });
    expect(sim.sent).toHaveLength(1); // PreStartState: nothing on multicast
    const ja = sim.sent[0]!;
    expect(ja.dest).toEqual(FROM);
    const b = ja.pkt!.body as Extract<MtBody, { op: typeof Op.JOINACK }>;
    expect(ja.pkt!.secType).toBe(Sec.CHECKSUM);
    expect(b.clientId).not.toBe(0);
    expect(b.clientTime).toBe(T0); // SenderTime of the JOIN
    expect(b.rtt).toBe(0); // no Master Client yet
    expect(sim.coord.clients()).toMatchObject([{ clientId: b.clientId, state: 'pending', address: FROM.address, port: FROM.port }]);
    expect(sim.coord.sessionState).toBe('PreStartState');

    sim.run(T0 + 10);
    inject(sim, { op: Op.QCR, clientId: b.clientId, qccSeqNo: 0, backoff: 0, serverTime: ja.pkt!.senderTime, hiSeq: 0, lossRate: 0, appData: Buffer.alloc(0) });
    expect(sim.coord.clients()).toMatchObject([{ clientId: b.clientId, state: 'active', rtt: 10 }]);
    expect(sim.coord.sessionState).toBe('QCCState');
    expect(ops(sim, T0 + 10)).toEqual(['QCC', 'POLL']);
    const qcc = body(sim, Op.QCC)[0]!;
    expect(qcc.qccSeqNo).toBe(1);
    expect(qcc.qcrBackoff).toBe(1 + 10); // 1 ms per Active client + highest RTT (3.1.5.7.3)
    expect(eventsOf(sim, 'client-joined')).toHaveLength(1);

    // No QCR before the InState QCC timer: another QCC.
    sim.run(T0 + 10 + 11);
    expect(body(sim, Op.QCC).map((q) => q.qccSeqNo)).toEqual([1, 2]);

    // QCR to QCC #2 with 3 ms of client back-off: RTT = now - ServerTime - BackOff.
    const qcc2 = sim.sentOps(Op.QCC).pop()!;
    sim.run(sim.now + 5);
    inject(sim, { op: Op.QCR, clientId: b.clientId, qccSeqNo: 2, backoff: 3, serverTime: qcc2.pkt!.senderTime, hiSeq: 0, lossRate: 0, appData: encodeMa({ op: MaOp.PROGRESS, timeInSession: 0, progress: 0 }) });
    expect(sim.coord.clients()[0]!.rtt).toBe(2);
    sim.run(sim.now + 20, () => sim.coord.sessionState === 'DataState');
    expect(sim.coord.sessionState).toBe('DataState');
    expect(sim.coord.masterClientId).toBe(b.clientId);
    const spm = body(sim, Op.SPM)[0]!;
    expect(spm).toMatchObject({ spmSeqNo: 1, masterClientId: b.clientId, leadSeq: 0, trailSeq: 0 });
  });

  test('JOINACK is re-sent every JoinAckToQCRTimeout, MaxJoinAckSends times, then the client is dropped', () => {
    const sim = new Sim({ data, record: true });
    inject(sim, { op: Op.JOIN, clientName: 'PC1', ipAddress: Buffer.from([10, 0, 0, 9]), macAddress: Buffer.from([2, 0, 0, 0, 0, 9]) });
    sim.run(T0 + 5000);
    expect(sim.sentOps(Op.JOINACK).map((s) => s.t - T0)).toEqual([0, 500, 1000]);
    expect(new Set(body(sim, Op.JOINACK).map((b) => b.clientId)).size).toBe(1);
    expect(sim.coord.clients()).toEqual([]);
    expect(eventsOf(sim, 'client-join-failed')).toHaveLength(1);
    expect(sim.coord.stats.joinFailures).toBe(1);
    expect(sim.coord.sessionState).toBe('PreStartState');
  });

  test('a repeated JOIN from the same socket while pending keeps its ClientId', () => {
    const sim = new Sim({ data, record: true });
    const join = { op: Op.JOIN, clientName: 'PC1', ipAddress: Buffer.from([10, 0, 0, 9]), macAddress: Buffer.from([2, 0, 0, 0, 0, 9]) } as const;
    inject(sim, join);
    sim.run(T0 + 300);
    inject(sim, join);
    const acks = body(sim, Op.JOINACK);
    expect(acks).toHaveLength(2);
    expect(acks[0]!.clientId).toBe(acks[1]!.clientId);
    expect(acks[1]!.clientTime).toBe(T0 + 300);
    expect(sim.coord.clients()).toHaveLength(1);
  });

  test('fake clients complete the handshake; a lost JOINACK is recovered by the client JOIN timer', () => {
    const sim = new Sim({ data, record: true });
    let dropped = 0;
    const c = sim.addClient({ dropIn: (p) => p.body.op === Op.JOINACK && dropped++ === 0 });
    sim.runFor(2000, () => c.state === 'regular');
    expect(c.state).toBe('regular');
    sim.runFor(1);
    expect(sim.coord.clients()).toMatchObject([{ clientId: c.id, state: 'active' }]);
  });

  test('the Master Client is the QCR responder with the highest RTT', () => {
    const sim = new Sim({ data, record: true });
    // No ACKs: the first client to join becomes Master Client at once, then MaxNoResponseSPM unanswered SPMs
    // send the session back to QCCState, where all three answer.
    const cs = [sim.addClient({ latency: 1, ack: false }), sim.addClient({ latency: 7, ack: false }), sim.addClient({ latency: 3, ack: false })];
    sim.runFor(5000, () => sim.coord.stats.spmTimeouts === 1 && sim.coord.sessionState === 'DataState');
    expect(sim.coord.sessionState).toBe('DataState');
    const rtts = Object.fromEntries(sim.coord.clients().map((c) => [c.clientId, c.rtt]));
    expect(rtts).toEqual({ [cs[0]!.id]: 2, [cs[1]!.id]: 14, [cs[2]!.id]: 6 });
    expect(sim.coord.masterClientId).toBe(cs[1]!.id);
    expect(body(sim, Op.SPM).pop()!.masterClientId).toBe(cs[1]!.id);
    expect(eventsOf(sim, 'master')).toMatchObject([{ clientId: cs[0]!.id, why: 'qcc' }, { clientId: cs[1]!.id, why: 'qcc' }]);
  });

  test('protocol-notes #103: when the Master Client leaves and others stay, the election runs at once, not after MaxNoResponseSPM', () => {
    const sim = new Sim({ data: image(20_000), rateBytesPerSec: 200_000, record: true });
    const cs = [sim.addClient({ latency: 1 }), sim.addClient({ latency: 3 })];
    sim.runFor(2000, () => sim.coord.sessionState === 'DataState' && sim.coord.stats.odataSent > 50);
    const master = cs.find((c) => c.id === sim.coord.masterClientId)!;
    const other = cs.find((c) => c !== master)!;
    master.leave(0);
    const t = sim.now;
    sim.runFor(300, () => sim.coord.masterClientId === other.id && sim.coord.sessionState === 'DataState');
    expect(sim.coord.masterClientId).toBe(other.id);
    expect(sim.now - t).toBeLessThan(100); // MaxNoResponseSPM: 5 x 220 ms
    expect(sim.coord.stats.masterLeft).toBe(1);
    expect(sim.coord.stats.spmTimeouts).toBe(0);
    expect(eventsOf(sim, 'master').pop()).toMatchObject({ clientId: other.id, why: 'qcc' });
    // a client that is not the Master Client leaving changes nothing
    const n = sim.sentOps(Op.QCC).length;
    const c = sim.addClient({ latency: 1 });
    sim.runFor(2000, () => c.state === 'regular');
    c.leave(0);
    sim.runFor(50);
    expect(sim.coord.stats.masterLeft).toBe(1);
    expect(sim.coord.masterClientId).toBe(other.id);
    expect(sim.sentOps(Op.QCC).length - n).toBeLessThanOrEqual(1); // at most an OutState QCC
  });

  test('InState QCC WaitTime doubles up to NoClientQCCInterval while the Active list is empty', () => {
    const sim = new Sim({ data, record: true });
    const c = sim.addClient({ latency: 1 });
    sim.runFor(1000, () => sim.coord.sessionState === 'DataState');
    c.leave(1);
    sim.runFor(1); // LEAVE delivered
    expect(sim.coord.clients()).toEqual([]);
    const t = sim.now;
    sim.runFor(6000);
    // 5 unanswered SPMs, then QCCState with no clients: 2, 4, 8, ... 256, 500, 500 ...
    const backoffs = body(sim, Op.QCC, t).map((q) => q.qcrBackoff);
    expect(backoffs.slice(0, 11)).toEqual([2, 4, 8, 16, 32, 64, 128, 256, 500, 500, 500]);
    const times = sim.sentOps(Op.QCC, t).map((s) => s.t);
    expect(times[1]! - times[0]!).toBe(2);
    expect(sim.coord.applicationState).toBe('Idle'); // nobody to poll
  });
});

// =========================================================================================================
describe('DataState: ACK-clocked window (MS-WDSMT 3.1.5.9)', () => {
  test('without ACKs only CurrentWindowSize (1) ODATA leaves, then SPMs, then QCCState after MaxNoResponseSPM', () => {
    const sim = new Sim({ data: image(200), record: true });
    const c = sim.addClient({ latency: 2, ack: false });
    sim.runFor(3000, () => eventsOf(sim, 'state').some((e) => e.type === 'state' && e.from === 'DataState'));
    expect(sim.coord.stats.odataSent).toBe(1);
    expect(body(sim, Op.ODATA)[0]).toMatchObject({ seq: 1, trailSeq: 1, clientId: c.id });
    const enteredData = sim.events.findIndex((e) => e.type === 'state' && e.to === 'DataState');
    expect(enteredData).toBeGreaterThanOrEqual(0);
    const spms = sim.sentOps(Op.SPM);
    expect(spms).toHaveLength(5);
    for (let i = 1; i < spms.length; i++) expect(spms[i]!.t - spms[i - 1]!.t).toBe(220);
    expect(sim.coord.sessionState).toBe('QCCState');
    expect(sim.coord.stats.spmTimeouts).toBe(1);
    expect(sim.now - spms[4]!.t).toBe(220);
    // Re-elected (it still answers QCC), but the window stays closed: still one ODATA.
    sim.runFor(3000);
    expect(sim.coord.stats.odataSent).toBe(1);
    expect(sim.coord.currentWindowSize).toBe(1);
  });

  test('protocol-notes #105: the window holds while MCRTT is over its 10 s low by queueTargetMs, and shrinks x0.75 once per window over twice that', () => {
    // An ACK whose ServerTime is `rtt` ms old measures MCRTT = rtt. The ACK clock of a link without drops: the
    // window grows to MaxWindowSize and the queue with it, so MCRTT rises while nothing is NACKed.
    const run = (queueTargetMs: number) => {
      const { sim, id } = manualSession({ data: image(4000), expMaxWindow: 64, maxWindow: 2048, fwLeadEvery: 0, queueTargetMs });
      let seq = 0;
      const ack = (n: number, rtt: number) => {
        seq += n;
        sim.run(sim.now + rtt);
        inject(sim, { op: Op.ACK, clientId: id, seq, serverTime: sim.now - rtt, hiSeq: seq, lossRate: 0 });
        return sim.coord.currentWindowSize;
      };
      return { sim, ack };
    };
    const { sim, ack } = run(10);
    expect(ack(1, 1)).toBe(3); // the low: 1 ms
    expect(ack(2, 11)).toBe(7); // 10 ms over the low: still grows
    expect(ack(3, 12)).toBe(7); // 11 ms over: holds
    expect(sim.coord.stats.windowHolds).toBe(1);
    expect(ack(2, 22)).toBe(5.25); // 21 ms over (> 2 x 10): x 0.75
    const lead = sim.coord.leadSeq;
    expect(ack(1, 30)).toBe(5.25); // still at or below the Lead of that cut: the same window of data, held only
    expect(sim.coord.stats.windowQueueCuts).toBe(1);
    while (sim.coord.trailSeq < lead) ack(1, 30);
    expect(ack(1, 30)).toBeCloseTo(5.25 * 0.75); // beyond it: cut again
    expect(sim.coord.stats.windowQueueCuts).toBe(2);
    expect(ack(1, 2)).toBeCloseTo(5.25 * 0.75 + 2); // near the low again: grows
    // The low is kept 10 to 20 s: after 20 s of 30 ms samples, 30 ms is the new low and the window grows again.
    const from = sim.now;
    let w = 0;
    while (sim.now - from < 10_000) w = ack(1, 30);
    expect(w).toBe(2); // cut down to the floor of 3.1.5.9.6's MAX(..., 2)
    while (sim.now - from < 20_000 && ack(1, 30) === 2);
    expect(sim.now - from).toBeGreaterThan(10_000);
    expect(ack(1, 30)).toBeGreaterThan(2);
    // queueTargetMs 0: 3.1.5.9.5 as written, the window grows whatever MCRTT does.
    const literal = run(0);
    expect(literal.ack(1, 1)).toBe(3);
    expect(literal.ack(2, 500)).toBe(7);
    expect(literal.sim.coord.stats.windowHolds + literal.sim.coord.stats.windowQueueCuts).toBe(0);
  });

  test('each ACK opens the window per 3.1.5.9.5: +2 per packet up to ExpMaxWindowSize, then +1 up to MaxWindowSize', () => {
    const { sim, id } = manualSession({ data: image(200), expMaxWindow: 4, maxWindow: 6 });
    expect(body(sim, Op.ODATA).map((b) => b.seq)).toEqual([1]);
    const ack = (seq: number) => inject(sim, { op: Op.ACK, clientId: id, seq, serverTime: lastOdataTime(sim, seq), hiSeq: seq, lossRate: 0 });

    ack(1); // 1 + 2x1 = 3
    expect(sim.coord.currentWindowSize).toBe(3);
    expect(body(sim, Op.ODATA).map((b) => b.seq)).toEqual([1, 2, 3, 4]);
    ack(2); // min(3 + 2, 4) = 4; in flight 2 -> 2 more
    expect(sim.coord.currentWindowSize).toBe(4);
    expect(body(sim, Op.ODATA).map((b) => b.seq)).toEqual([1, 2, 3, 4, 5, 6]);
    ack(6); // linear: min(4 + 4, 6) = 6
    expect(sim.coord.currentWindowSize).toBe(6);
    expect(body(sim, Op.ODATA)).toHaveLength(12);
    expect(sim.coord.leadSeq).toBe(12);
    expect(sim.coord.trailSeq).toBe(6);
  });

  test('ACKs from another client, or outside MCTrail..MCLead, are not accepted', () => {
    const { sim, id } = manualSession({ data: image(200) });
    const other = { address: '10.0.0.10', port: 50001 };
    const otherId = manualJoin(sim, other);
    const before = sim.coord.stats.acksRejected;
    inject(sim, { op: Op.ACK, clientId: otherId, seq: 1, serverTime: 0, hiSeq: 1, lossRate: 0 }, other);
    inject(sim, { op: Op.ACK, clientId: id, seq: 5, serverTime: 0, hiSeq: 5, lossRate: 0 }); // beyond MCLead (1)
    expect(sim.coord.stats.acksRejected - before).toBe(2);
    expect(sim.coord.currentWindowSize).toBe(1);
    expect(sim.coord.stats.odataSent).toBe(1);
  });

  test('the Master Client RTT comes from ACK ServerTime and sets SPM timing and NACK back-offs', () => {
    const { sim, id } = manualSession({ data: image(200) });
    const sentAt = lastOdataTime(sim, 1);
    sim.run(sim.now + 80);
    inject(sim, { op: Op.ACK, clientId: id, seq: 1, serverTime: sentAt, hiSeq: 1, lossRate: 0 });
    expect(sim.coord.mcRttMs).toBe(sim.now - sentAt);
    const rtt = sim.coord.mcRttMs;
    const t = sim.now;
    sim.run(t + 2000);
    const spms = sim.sentOps(Op.SPM, t);
    expect(spms.length).toBeGreaterThan(1);
    expect(spms[1]!.t - spms[0]!.t).toBe(Math.max(220, 4 * rtt));
    expect(spms[0]!.pkt!.body).toMatchObject({ rtt, minNackBackoff: 2 * rtt, maxNackBackoff: 2 * rtt });
  });
});

// =========================================================================================================
describe('NACK -> NCF + RDATA (MS-WDSMT 3.1.5.9.6)', () => {
  function opened(o: { retentionMs?: number; repeatGuard?: 'rdata' | 'odata' } = {}) {
    const { sim, id } = manualSession({ data: image(200), ...o });
    for (const seq of [1, 4, 13]) {
      sim.run(sim.now + 10);
      inject(sim, { op: Op.ACK, clientId: id, seq, serverTime: lastOdataTime(sim, seq), hiSeq: seq, lossRate: 0 });
    }
    sim.run(sim.now + 100); // every packet is now older than 4 x MCRTT
    return { sim, id };
  }

  test('NCF echoes the ranges on multicast; RDATA for each listed seq still in the Data Packet List', () => {
    const { sim, id } = opened();
    const t = sim.now;
    const w = sim.coord.currentWindowSize;
    inject(sim, { op: Op.NACK, clientId: id, hiSeq: 20, lossRate: 0, ranges: [[2, 3], [7, 7]] });
    const ncf = sim.sentOps(Op.NCF, t);
    expect(ncf).toHaveLength(1);
    expect(ncf[0]!.dest).toBe('multicast');
    expect(ncf[0]!.pkt!.body).toEqual({ op: Op.NCF, ranges: [[2, 3], [7, 7]] });
    const rdata = body(sim, Op.RDATA, t);
    expect(rdata.map((r) => r.seq)).toEqual([2, 3, 7]);
    for (const r of rdata) {
      expect(r.clientId).toBe(id);
      expect(r.trailSeq).toBe(1); // head of the Data Packet List
      const d = decodeMa(r.data);
      const odata = body(sim, Op.ODATA).find((o) => o.seq === r.seq)!;
      expect(d.ok && d.value.op === MaOp.DATA && d.value.data.equals((decodeMa(odata.data) as { value: { data: Buffer } }).value.data)).toBe(true);
    }
    expect(sim.coord.currentWindowSize).toBe(Math.max(w * 0.75, 2));
  });

  test('a seq sent within 4 x MCRTT is not repeated; later it is; seqs outside the list are skipped', () => {
    const { sim, id } = opened();
    const rtt = sim.coord.mcRttMs;
    expect(rtt).toBe(10);
    const nack = () => inject(sim, { op: Op.NACK, clientId: id, hiSeq: 20, lossRate: 0, ranges: [[5, 5], [9000, 9001]] });
    const t = sim.now;
    nack();
    nack();
    expect(body(sim, Op.RDATA, t).map((r) => r.seq)).toEqual([5]);
    expect(sim.sentOps(Op.NCF, t)).toHaveLength(2);
    sim.run(sim.now + 4 * rtt);
    nack();
    expect(body(sim, Op.RDATA, t).map((r) => r.seq)).toEqual([5, 5]);
  });

  test('protocol-notes #100: the first NACK of a packet gets its RDATA even within 4 x MCRTT of its ODATA; the 4 x MCRTT skip runs from the last RDATA', () => {
    // The Master Client NACKs at once (timer zero), so its NACK lands about one MCRTT after the ODATA left; other
    // clients wait at least MinNACKBackOff = 2 x MCRTT, about 3 x MCRTT. Timed from the ODATA, every first NACK fell
    // inside 4 x MCRTT and was skipped (N = 1, 400 Mbit/s link, 1 % loss in simulated time: 0.28 of the link).
    for (const repeatGuard of ['rdata', 'odata'] as const) {
      const { sim, id } = opened({ repeatGuard });
      const rtt = sim.coord.mcRttMs;
      const lead = sim.coord.leadSeq;
      expect(sim.now - lastOdataTime(sim, lead)).toBeGreaterThan(4 * rtt);
      inject(sim, { op: Op.ACK, clientId: id, seq: lead - 1, serverTime: sim.now - rtt, hiSeq: lead, lossRate: 0 });
      const fresh = sim.coord.leadSeq; // ODATA just released by that ACK: sent now
      expect(fresh).toBeGreaterThan(lead);
      expect(sim.now - lastOdataTime(sim, fresh)).toBeLessThan(4 * rtt);
      sim.run(sim.now + rtt);
      const t = sim.now;
      const nack = () => inject(sim, { op: Op.NACK, clientId: id, hiSeq: fresh, lossRate: 0, ranges: [[fresh, fresh]] });
      nack();
      expect(body(sim, Op.RDATA, t).map((r) => r.seq)).toEqual(repeatGuard === 'rdata' ? [fresh] : []);
      sim.run(sim.now + 2 * rtt);
      nack(); // within 4 x MCRTT of that RDATA (or, for 'odata', of the ODATA): skipped
      expect(body(sim, Op.RDATA, t)).toHaveLength(repeatGuard === 'rdata' ? 1 : 0);
      sim.run(sim.now + 3 * rtt);
      nack();
      expect(body(sim, Op.RDATA, t)).toHaveLength(repeatGuard === 'rdata' ? 2 : 1);
    }
  });

  test('a repair queued behind the link (no ACK echoes it) is repeated at most once until an echo or 1 s', () => {
    // The 8192-byte, 1 %-loss lab cell: RDATA bursts queued in the sender, ACKs (and so MCRTT) lagged, and the
    // Master Client's NACKs every 2 x MCRTT made the coordinator repeat each lost block every 4 x MCRTT into the
    // same queue (276,433 RDATA for 7,895 ODATA in 90 s).
    const { sim, id } = opened({ retentionMs: 10_000 }); // seq 5 stays in the Data Packet List throughout
    const rtt = sim.coord.mcRttMs;
    const rdata5 = (since: number) => body(sim, Op.RDATA, since).filter((r) => r.seq === 5);
    const t = sim.now;
    const nackFor = (ms: number) => {
      const end = sim.now + ms;
      while (sim.now < end) {
        inject(sim, { op: Op.NACK, clientId: id, hiSeq: 20, lossRate: 0, ranges: [[5, 5]] });
        sim.run(sim.now + 2 * rtt);
      }
    };
    nackFor(500); // 25 NACKs, no ACK in between
    expect(rdata5(t)).toHaveLength(2); // the first repeat, and one blind repeat after 4 x MCRTT
    expect(sim.coord.stats.rdataSkippedUnechoed).toBeGreaterThan(0);
    // An ACK echoing a ServerTime after the last RDATA: that copy had its chance, so a NACK now repeats it once more.
    const last = sim.sentOps(Op.RDATA, t).filter((s) => (s.pkt!.body as { seq: number }).seq === 5).pop()!;
    expect(sim.now - rtt).toBeGreaterThan(last.pkt!.senderTime);
    inject(sim, { op: Op.ACK, clientId: id, seq: sim.coord.trailSeq, serverTime: sim.now - rtt, hiSeq: 20, lossRate: 0 });
    expect(sim.coord.mcRttMs).toBe(rtt);
    const t2 = sim.now;
    inject(sim, { op: Op.NACK, clientId: id, hiSeq: 20, lossRate: 0, ranges: [[5, 5]] });
    expect(rdata5(t2)).toHaveLength(1);
    // With no echo at all (ACKs lost), the blind wait ends after 1 s.
    sim.run(sim.now + 1);
    const t3 = sim.now;
    nackFor(600);
    expect(rdata5(t3)).toHaveLength(1);
    nackFor(600);
    expect(rdata5(t3)).toHaveLength(2);
  });

  test('a Zero NACK only shrinks the window (x0.75, at least 2)', () => {
    const { sim, id } = opened();
    const t = sim.now;
    for (let i = 0; i < 20; i++) inject(sim, { op: Op.NACK, clientId: id, hiSeq: 20, lossRate: 0, ranges: [] });
    expect(sim.sentOps(Op.NCF, t)).toHaveLength(0);
    expect(sim.coord.currentWindowSize).toBe(2);
  });

  test('a NACK from a slower client makes it Master Client (3.1.5.9.6.1)', () => {
    const { sim, id } = opened();
    const other = { address: '10.0.0.10', port: 50001 };
    const otherId = manualJoin(sim, other, 30);
    expect(sim.coord.masterClientId).toBe(id);
    // Master loss 0 -> infinite throughput; a client reporting 20 % loss is slower.
    inject(sim, { op: Op.NACK, clientId: otherId, hiSeq: 13, lossRate: 0.2 * LOSS_SCALE, ranges: [[3, 3]] }, other);
    expect(sim.coord.masterClientId).toBe(otherId);
    expect(eventsOf(sim, 'master').pop()).toMatchObject({ clientId: otherId, why: 'nack' });
    // The former master reporting a little loss is faster than the new one: no switch back.
    inject(sim, { op: Op.NACK, clientId: id, hiSeq: 13, lossRate: 0.001 * LOSS_SCALE, ranges: [[3, 3]] });
    expect(sim.coord.masterClientId).toBe(otherId);
    // The next ODATA names the new Master Client.
    const t = sim.now;
    const lead = sim.coord.leadSeq;
    inject(sim, { op: Op.ACK, clientId: otherId, seq: lead, serverTime: 0, hiSeq: lead, lossRate: 0.2 * LOSS_SCALE }, other);
    const next = body(sim, Op.ODATA, t);
    expect(next.length).toBeGreaterThan(0);
    expect(next.every((o) => o.clientId === otherId)).toBe(true);
  });

  test('masterHoldMs: no NACK-driven switch within the hold after a switch; after it the rule applies again', () => {
    const { sim, id } = manualSession({ data: image(200), masterHoldMs: 500 });
    const other = { address: '10.0.0.10', port: 50001 };
    const otherId = manualJoin(sim, other, 30);
    // The QCC election just made `id` master: inside the hold a slower client's NACK changes nothing.
    inject(sim, { op: Op.NACK, clientId: otherId, hiSeq: 13, lossRate: 0.2 * LOSS_SCALE, ranges: [[3, 3]] }, other);
    expect(sim.coord.masterClientId).toBe(id);
    sim.run(sim.now + 600);
    inject(sim, { op: Op.NACK, clientId: otherId, hiSeq: 13, lossRate: 0.2 * LOSS_SCALE, ranges: [[3, 3]] }, other);
    expect(sim.coord.masterClientId).toBe(otherId);
  });

  test('counters: NACKs from the master, RDATA skipped as recent, window stalls and their length', () => {
    const { sim, id } = opened();
    const s = sim.coord.stats;
    expect(s.windowStalls).toBeGreaterThan(0); // the window (at most 19 after three ACKs) held back the 200-block round
    const stalls = s.windowStalls;
    const t = sim.now;
    inject(sim, { op: Op.NACK, clientId: id, hiSeq: 20, lossRate: 0, ranges: [[2, 3]] });
    inject(sim, { op: Op.NACK, clientId: id, hiSeq: 20, lossRate: 0, ranges: [[2, 3]] }); // at once: both were just sent
    expect(s.nacksFromMaster).toBe(2);
    expect(body(sim, Op.RDATA, t).map((r) => r.seq)).toEqual([2, 3]);
    expect(s.rdataSkippedRecent).toBe(2);
    const lead = sim.coord.leadSeq;
    sim.run(sim.now + 7);
    inject(sim, { op: Op.ACK, clientId: id, seq: lead, serverTime: 0, hiSeq: lead, lossRate: 0 });
    // The ACK opened the window: the stall that began at the last ODATA ended now and was counted with its length.
    expect(s.windowStallMs).toBeGreaterThanOrEqual(7);
    expect(s.windowStallHist.reduce((a, b) => a + b, 0)).toBe(stalls);
    expect(s.odataSent).toBeGreaterThan(lead);
  });

  test('LossRate on the wire: / 10^16, values <= 1 taken as unscaled, clamped to [0, 1]', () => {
    expect(lossFromWire(0)).toBe(0);
    expect(lossFromWire(0.25 * LOSS_SCALE)).toBeCloseTo(0.25);
    expect(lossFromWire(1)).toBe(1);
    expect(lossFromWire(3 * LOSS_SCALE)).toBe(1);
    expect(lossFromWire(NaN)).toBe(0);
    expect(throughput(10, 0)).toBe(Infinity);
    expect(throughput(10, 0.1)).toBeLessThan(throughput(10, 0.01));
    expect(throughput(100, 0.1)).toBeLessThan(throughput(10, 0.1));
  });
});

// =========================================================================================================
describe('MA rounds (MS-WDSMA 3.1)', () => {
  test('one client receives the whole image; the round ends with Data Empty and a new POLL', () => {
    const data = image(400);
    const sim = new Sim({ data, record: true });
    const c = sim.addClient({ latency: 1, leaveOnComplete: false });
    sim.runFor(10_000, () => c.complete);
    expect(c.image.equals(data)).toBe(true);
    const blocks = body(sim, Op.ODATA).map((o) => (decodeMa(o.data) as { value: { blockNumber: number } }).value.blockNumber);
    expect(blocks[0]).toBe(1); // 1-based by default
    expect(blocks.at(-1)).toBe(401);
    const t = sim.now;
    sim.runFor(3000, () => eventsOf(sim, 'round-finished').length > 0 && sim.sentOps(Op.POLL, t).length > 0);
    expect(eventsOf(sim, 'round-finished')).toHaveLength(1);
    expect(sim.coord.dataListLength).toBe(0);
    // The cleanup that emptied the list sent an SPM, whose trail (empty list) is LeadODATASeqNo.
    const spm = body(sim, Op.SPM, t).pop()!;
    expect(spm.leadSeq).toBe(401);
    expect(spm.trailSeq).toBe(401);
    expect(sim.sentOps(Op.POLL, t).length).toBeGreaterThan(0);
  });

  test('blockBase 0: blocks numbered from 0, offset = N x BlockSize', () => {
    const data = image(300, 1000);
    const sim = new Sim({ data, blockBase: 0, record: true });
    const c = sim.addClient({ latency: 1 });
    sim.runFor(10_000, allDone(c));
    expect(c.image.equals(data)).toBe(true);
    const blocks = body(sim, Op.ODATA).map((o) => (decodeMa(o.data) as { value: { blockNumber: number; data: Buffer } }).value);
    expect(blocks[0]!.blockNumber).toBe(0);
    expect(blocks.at(-1)!.blockNumber).toBe(300);
    expect(blocks.at(-1)!.data.length).toBe(1000);
  });

  test('a client joining at 40 % (and never NACKing) gets the rest in a later round', () => {
    const data = image(1500);
    const sim = new Sim({ data, rateBytesPerSec: 2_000_000 });
    const a = sim.addClient({ latency: 1 });
    let late: SimClient | undefined;
    sim.runFor(60_000, () => {
      if (!late && a.progress >= 40) late = sim.addClient({ latency: 2, nack: false });
      return !!late && allDone(a, late)();
    });
    expect(a.image.equals(data)).toBe(true);
    expect(late!.image.equals(data)).toBe(true);
    const rounds = eventsOf(sim, 'round-started') as { blocks: number }[];
    expect(rounds.length).toBeGreaterThanOrEqual(2);
    expect(rounds[0]!.blocks).toBe(1501);
    // The second round carries what the late client missed: roughly the first 40 %.
    expect(rounds[1]!.blocks).toBeGreaterThan(0.35 * 1501);
    expect(rounds[1]!.blocks).toBeLessThan(0.5 * 1501);
  });

  test('late joiners with NACKs, 3 % send drop and 5 % receive loss all finish with the exact image', () => {
    const data = image(2000);
    const sim = new Sim({ data, dropPercent: 3, rateBytesPerSec: 3_000_000, seed: 7 });
    const a = sim.addClient({ latency: 1 });
    const b = sim.addClient({ latency: 3, dropIn: (p) => p.body.op === Op.ODATA && sim.rng() < 0.05 });
    let late: SimClient | undefined;
    sim.runFor(120_000, () => {
      if (!late && a.progress >= 40) late = sim.addClient({ latency: 2 });
      return !!late && allDone(a, b, late)();
    });
    for (const c of [a, b, late!]) expect(c.image.equals(data)).toBe(true);
    expect(sim.coord.stats.droppedOdata).toBeGreaterThan(0);
    expect(sim.coord.stats.rdataSent).toBeGreaterThan(0);
    expect(sim.coord.stats.ncfSent).toBeGreaterThan(0);
    sim.runFor(2000);
    expect(sim.coord.stats.clientsLeft).toBe(3);
  });

  test('CNTCIRs from clients that joined more than 30 s after the oldest are left out of the merge', () => {
    const data = image(100);
    const sim = new Sim({ data, record: true });
    sim.addClient({ latency: 1, tisOffsetSec: 100, nack: false });
    sim.addClient({ latency: 1, tisOffsetSec: 80, nack: false });
    sim.addClient({ latency: 1, tisOffsetSec: 0, nack: false });
    sim.runFor(5000, () => eventsOf(sim, 'round-started').length > 0);
    expect(eventsOf(sim, 'round-started')[0]).toMatchObject({ clients: 2, dropped: 1 });
  });

  test('merged ranges are sorted, non-overlapping and clipped to the content', () => {
    expect(mergeRanges([[5, 9], [1, 2], [3, 3], [8, 20], [40, 50], [0, 0]], 1, 45)).toEqual([
      [1, 3],
      [5, 20],
      [40, 45],
    ]);
  });

  test('the Data Packet List holds the window and retention, not the image; blocks are read lazily', () => {
    const data = image(6000);
    const sim = new Sim({ data, rateBytesPerSec: 2_000_000 });
    const c = sim.addClient({ latency: 1 });
    sim.runFor(3000, () => sim.coord.applicationState === 'DataState');
    expect(sim.source.reads).toBeLessThanOrEqual(1);
    sim.runFor(60_000, allDone(c));
    expect(c.image.equals(data)).toBe(true);
    const perSec = 2_000_000 / 1444;
    expect(sim.maxDataList).toBeLessThan(2048 + 1.3 * perSec);
    expect(sim.maxDataList).toBeLessThan(6001 / 2);
    expect(sim.source.reads).toBe(sim.coord.stats.odataSent + sim.coord.stats.rdataSent);
  });

  test('PROGRESS in QCR AppData is recorded per client (Status trigger)', () => {
    const data = image(300);
    const sim = new Sim({ data, qccIntervalMs: 100 });
    const c = sim.addClient({ latency: 1, leaveOnComplete: false });
    sim.runFor(20_000, () => c.complete);
    sim.runFor(500);
    expect(sim.coord.clients()[0]!.progress).toBe(100);
  });
});

// =========================================================================================================
describe('options, rate cap, timers', () => {
  test('rate cap: ODATA + RDATA bytes follow rateBytesPerSec', () => {
    const data = image(3000);
    const rate = 1_000_000;
    const sim = new Sim({ data, rateBytesPerSec: rate, record: true });
    const c = sim.addClient({ latency: 1 });
    sim.runFor(60_000, allDone(c));
    expect(c.image.equals(data)).toBe(true);
    const dataPkts = sim.sent.filter((s) => s.pkt && (s.pkt.body.op === Op.ODATA || s.pkt.body.op === Op.RDATA));
    const bytes = dataPkts.reduce((n, s) => n + s.raw.length, 0);
    const span = dataPkts.at(-1)!.t - dataPkts[0]!.t;
    expect((bytes / span) * 1000).toBeGreaterThan(0.9 * rate);
    expect((bytes / span) * 1000).toBeLessThan(1.05 * rate);
    // No 200 ms window exceeds the rate by more than the bucket (10 ms of rate or 4 packets).
    let j = 0;
    let inWin = 0;
    for (let i = 0; i < dataPkts.length; i++) {
      inWin += dataPkts[i]!.raw.length;
      while (dataPkts[i]!.t - dataPkts[j]!.t >= 200) inWin -= dataPkts[j++]!.raw.length;
      expect(inWin).toBeLessThanOrEqual(rate * 0.2 + Math.max(4 * 1444, rate / 100) + 1444);
    }
  });

  test('fwLeadEvery: ODATA carries ODATA_FW_LEAD_SEQ_NO asking for an ACK every N packets', () => {
    const data = image(800);
    const sim = new Sim({ data, fwLeadEvery: 8, record: true });
    const c = sim.addClient({ latency: 1 });
    sim.runFor(20_000, allDone(c));
    expect(c.image.equals(data)).toBe(true);
    const od = sim.sentOps(Op.ODATA);
    let asks = 0;
    for (const s of od) {
      const v = findOption(s.pkt!, MtOpt.ODATA_FW_LEAD_SEQ_NO)!;
      expect(v.length).toBe(8);
      const seq = (s.pkt!.body as { seq: number }).seq;
      const n = Number(v.readBigUInt64BE());
      expect([seq, seq - 1]).toContain(n);
      if (n === seq) asks++;
      if (seq % 8 === 0) expect(n).toBe(seq);
    }
    expect(asks).toBeLessThan(od.length / 2);
    expect(c.stats.acks).toBeLessThan(od.length / 2);
  });

  test('protocol-notes #106: under limitSends no ODATA is released beyond the room while RDATA still goes at once, and handleSent releases more', () => {
    const { sim, id } = manualSession({ data: image(400), fwLeadEvery: 32 });
    const raw = (b: MtBody) => sim.coord.handleDatagram(encodeMt(b, { secMode: Sec.CHECKSUM, sessionId: sim.sessionId, senderTime: sim.now }), FROM, sim.now);
    const polled = () => {
      const out: [number, number | undefined][] = [];
      for (let t = sim.coord.pollTransmit(); t; t = sim.coord.pollTransmit()) {
        const b = decodeMt(t.data, { from: 'server' });
        if (b.ok) out.push([b.value.body.op, (b.value.body as { seq?: number }).seq]);
      }
      return out;
    };
    inject(sim, { op: Op.ACK, clientId: id, seq: 1, serverTime: lastOdataTime(sim, 1), hiSeq: 1, lossRate: 0 }); // window 3: ODATA 2-4
    expect(sim.coord.leadSeq).toBe(4);
    sim.coord.limitSends(2);
    raw({ op: Op.ACK, clientId: id, seq: 4, serverTime: lastOdataTime(sim, 4), hiSeq: 4, lossRate: 0 }); // window 9, room for 2
    expect(polled()).toEqual([[Op.ODATA, 5], [Op.ODATA, 6]]);
    raw({ op: Op.NACK, clientId: id, hiSeq: 6, lossRate: 0, ranges: [[3, 3]] }); // no room left: the repair goes anyway
    expect(polled()).toEqual([[Op.NCF, undefined], [Op.RDATA, 3]]);
    // Room: 2 - 2 ODATA - NCF - RDATA = -2. Sent datagrams give it back; at half the limit (1) ODATA flows again.
    expect([sim.coord.handleSent(1, sim.now), sim.coord.handleSent(1, sim.now)]).toEqual([false, false]);
    expect(sim.coord.handleSent(1, sim.now)).toBe(true);
    expect(polled()).toEqual([[Op.ODATA, 7]]);
    expect(sim.coord.leadSeq).toBe(7);
    expect(sim.coord.handleSent(1, sim.now)).toBe(true); // the room (1 again) is the limit, not the window (9)
    expect(polled()).toEqual([[Op.ODATA, 8]]);
  });

  test('protocol-notes #107: nackCut "window" cuts the window once until MCTrail passes the Lead of the cut; "nack" (the default) on every NACK', () => {
    for (const nackCut of ['nack', 'window'] as const) {
      const { sim, id } = manualSession({ data: image(400), fwLeadEvery: 32, nackCut });
      const ack = (seq: number) => inject(sim, { op: Op.ACK, clientId: id, seq, serverTime: lastOdataTime(sim, seq), hiSeq: seq, lossRate: 0 });
      const nack = (seq: number) => inject(sim, { op: Op.NACK, clientId: id, hiSeq: sim.coord.leadSeq, lossRate: 0, ranges: [[seq, seq]] });
      ack(1);
      ack(4); // window 9
      const w = sim.coord.currentWindowSize;
      const lead = sim.coord.leadSeq;
      nack(5);
      nack(7); // the same window of data
      expect(sim.coord.currentWindowSize).toBe(nackCut === 'nack' ? w * 0.75 * 0.75 : w * 0.75);
      expect(sim.coord.stats.nackCutsSkipped).toBe(nackCut === 'nack' ? 0 : 1);
      ack(lead); // MCTrail reaches the cut's Lead, not past it
      const w2 = sim.coord.currentWindowSize;
      nack(lead + 1);
      expect(sim.coord.currentWindowSize).toBe(nackCut === 'nack' ? w2 * 0.75 : w2);
      ack(lead + 1); // past it: the next NACK cuts
      const w3 = sim.coord.currentWindowSize;
      nack(sim.coord.leadSeq);
      expect(sim.coord.currentWindowSize).toBe(w3 * 0.75);
    }
  });

  test('protocol-notes #45: the ODATA that fills the window asks for an ACK only when no request beyond MCTrail is outstanding', () => {
    const { sim, id } = manualSession({ data: image(200), fwLeadEvery: 32 });
    const fw = (seq: number) => {
      const s = sim.sentOps(Op.ODATA).find((x) => (x.pkt!.body as { seq: number }).seq === seq)!;
      return Number(findOption(s.pkt!, MtOpt.ODATA_FW_LEAD_SEQ_NO)!.readBigUInt64BE());
    };
    const ack = (seq: number) => inject(sim, { op: Op.ACK, clientId: id, seq, serverTime: lastOdataTime(sim, seq), hiSeq: seq, lossRate: 0 });
    expect(fw(1)).toBe(1); // window 1: ODATA 1 fills it and asks
    ack(1); // window 3: ODATA 2-4, 4 fills it; nothing asked beyond Trail 1, so it asks
    expect([fw(2), fw(3), fw(4)]).toEqual([1, 2, 4]);
    ack(2); // window 5, Trail 2: ODATA 5-7; 4 is still outstanding, so 7 does not ask
    expect(sim.coord.leadSeq).toBe(7);
    expect(fw(7)).toBe(6);
    ack(4); // Trail 4 answers the request: the next fill asks again
    const lead = sim.coord.leadSeq;
    expect(lead).toBeGreaterThan(7);
    expect(fw(lead)).toBe(lead);
  });

  test('protocol-notes #45: an ACK that answers every request and leaves the window full sends an SPM at once (the window shrank meanwhile)', () => {
    const { sim, id } = manualSession({ data: image(400), fwLeadEvery: 32 });
    const ack = (seq: number) => inject(sim, { op: Op.ACK, clientId: id, seq, serverTime: lastOdataTime(sim, seq), hiSeq: seq, lossRate: 0 });
    ack(1); // window 3: 2-4, 4 asks
    ack(4); // window 9: 5-13, 13 asks
    ack(10); // window 21: 14-31; 13 is still outstanding, so 31 does not ask
    expect(sim.coord.leadSeq).toBe(31);
    for (let i = 0; i < 2; i++) inject(sim, { op: Op.NACK, clientId: id, hiSeq: 31, lossRate: 0, ranges: [] }); // Zero NACKs: 21 x 0.75 x 0.75
    const t = sim.now;
    ack(13); // window 17.8 against 18 in flight: nothing leaves, and nothing sent after 13 asked for an ACK
    expect(sim.coord.leadSeq).toBe(31);
    expect(sim.sentOps(Op.SPM, t)).toHaveLength(1);
    expect(sim.coord.stats.ackRequests).toBe(1);
    ack(14); // a partial answer (a hole at 15): no second SPM until the SPM timer
    expect(sim.sentOps(Op.SPM, t)).toHaveLength(1);
    // The Master Client ACKs the SPM with its highest continuous sequence number: the window opens.
    inject(sim, { op: Op.ACK, clientId: id, seq: 31, serverTime: sim.now, hiSeq: 31, lossRate: 0 });
    expect(sim.coord.leadSeq).toBeGreaterThan(31);
  });

  test('protocol-notes #45: after a Master Client switch the ODATA that fills the window asks the new one', () => {
    const { sim, id } = manualSession({ data: image(400), fwLeadEvery: 32 });
    const other = { address: '10.0.0.10', port: 50001 };
    const otherId = manualJoin(sim, other, 30);
    const ack = (seq: number, clientId = id, from?: typeof other) => inject(sim, { op: Op.ACK, clientId, seq, serverTime: lastOdataTime(sim, seq), hiSeq: seq, lossRate: 0 }, from);
    const fw = (seq: number) => {
      const s = sim.sentOps(Op.ODATA).find((x) => (x.pkt!.body as { seq: number }).seq === seq)!;
      return Number(findOption(s.pkt!, MtOpt.ODATA_FW_LEAD_SEQ_NO)!.readBigUInt64BE());
    };
    ack(1);
    ack(2); // 4 asked and is outstanding; 7 fills without asking
    expect(fw(7)).toBe(6);
    // A slower client's NACK makes it Master Client (3.1.5.9.6.1); the request to the old one no longer counts.
    inject(sim, { op: Op.NACK, clientId: otherId, hiSeq: 7, lossRate: 0.2 * LOSS_SCALE, ranges: [[3, 3]] }, other);
    expect(sim.coord.masterClientId).toBe(otherId);
    ack(3, otherId, other);
    const lead = sim.coord.leadSeq;
    expect(lead).toBeGreaterThan(7);
    expect(fw(lead)).toBe(lead);
  });

  test('by default ODATA asks for an ACK every 32 packets (protocol-notes #45); fwLeadEvery 0 sends no option and gets an ACK per ODATA', () => {
    const data = image(2000);
    const dflt = new Sim({ data, record: true });
    const a = dflt.addClient({ latency: 1 });
    dflt.runFor(20_000, allDone(a));
    expect(a.image.equals(data)).toBe(true);
    const od = dflt.sentOps(Op.ODATA);
    for (const s of od) {
      const seq = (s.pkt!.body as { seq: number }).seq;
      const v = findOption(s.pkt!, MtOpt.ODATA_FW_LEAD_SEQ_NO)!;
      expect(v, `ODATA ${seq} carries ODATA_FW_LEAD_SEQ_NO`).toBeDefined();
      if (seq % 32 === 0) expect(Number(v.readBigUInt64BE())).toBe(seq);
    }
    // The packet that fills the window asks only when no request is outstanding: not an ACK per window refill
    // (before: each ACK's refill asked for the next, 1 ACK per 2-3 ODATA here and on loopback).
    expect(a.stats.acks).toBeLessThan(od.length / 16);

    const off = new Sim({ data, fwLeadEvery: 0, record: true });
    const b = off.addClient({ latency: 1 });
    off.runFor(20_000, allDone(b));
    expect(b.image.equals(data)).toBe(true);
    const od0 = off.sentOps(Op.ODATA);
    for (const s of od0) expect(findOption(s.pkt!, MtOpt.ODATA_FW_LEAD_SEQ_NO)).toBeUndefined();
    expect(b.stats.acks).toBeGreaterThanOrEqual(od0.length);
  });

  test('OutState QCC every QCCInterval in DataState, QCRBackOff = max(QCCInterval, clients) + highest RTT', () => {
    const data = image(20_000);
    const sim = new Sim({ data, rateBytesPerSec: 500_000, record: true });
    // Answers OutState QCCs (QCRBackOff >= 5000) after 700 ms, InState ones at once.
    sim.addClient({ latency: 2, qcrDelay: (b) => (b >= 5000 ? 700 : 0) });
    sim.runFor(1000, () => sim.coord.sessionState === 'DataState');
    const t = sim.now;
    sim.runFor(16_000);
    const q = sim.sentOps(Op.QCC, t);
    expect(q.length).toBe(3);
    expect(q[0]!.t - t).toBe(5000);
    expect((q[0]!.pkt!.body as { qcrBackoff: number }).qcrBackoff).toBe(5000 + 4);
    // The client waited 700 ms before answering and said so in BackOff: the RTT stays 4.
    expect(sim.coord.clients()[0]!.rtt).toBe(4);
    expect(q[1]!.t - q[0]!.t).toBe(5004);
  });

  test('KICK on command, repeated every KickInterval while the client is on the Kick list, until it leaves', () => {
    const data = image(20_000);
    const sim = new Sim({ data, rateBytesPerSec: 200_000, record: true });
    const a = sim.addClient({ latency: 1 });
    const b = sim.addClient({ latency: 1 });
    sim.runFor(1000, () => sim.coord.applicationState === 'DataState');
    const t = sim.now;
    expect(sim.coord.kick(b.id, KickReason.FALLBACK, t)).toBe(true);
    sim.drain();
    expect(sim.coord.clients().find((c) => c.clientId === b.id)!.state).toBe('kick');
    sim.runFor(31_000);
    const kicks = sim.sentOps(Op.KICK, t);
    expect(kicks.map((k) => k.t - t)).toEqual([0, 15_000, 30_000]);
    expect(kicks[0]!.pkt!.body).toEqual({ op: Op.KICK, clients: [{ clientId: b.id, reason: KickReason.FALLBACK }] });
    expect(kicks[0]!.dest).toBe('multicast');
    expect(b.state).toBe('kicked');
    expect(b.kickReason).toBe(KickReason.FALLBACK);
    // LEAVE takes it off the Kick list; the Kick timer then stops.
    inject(sim, { op: Op.LEAVE, clientId: b.id, reason: 1 }, { address: b.address, port: b.port });
    sim.runFor(31_000);
    expect(sim.sentOps(Op.KICK, t)).toHaveLength(3);
    expect(sim.coord.clients().map((c) => c.clientId)).toEqual([a.id]);
    expect(sim.coord.kick(12345, 0, sim.now)).toBe(false);
  });

  test('clients that stop answering are removed by the Client Cleanup timer; total silence terminates the session', () => {
    const data = image(50);
    const sim = new Sim({ data, record: true });
    const c = sim.addClient({ latency: 1, answerQcc: false, answerPoll: false });
    sim.runFor(200_000);
    expect(eventsOf(sim, 'client-timeout')).toMatchObject([{ clientId: c.id }]);
    expect(sim.coord.clients()).toEqual([]);
    sim.runFor(400_000);
    expect(eventsOf(sim, 'terminated')).toHaveLength(1);
    expect(sim.coord.sessionState).toBe('PreStartState');
    // A new session on the same coordinator works from the start.
    const n = sim.sent.length;
    sim.runFor(10_000);
    expect(sim.sent.length).toBe(n); // PreStartState is silent
    const d = sim.addClient({ latency: 1 });
    sim.runFor(20_000, allDone(d));
    expect(d.image.equals(data)).toBe(true);
  });
});

// =========================================================================================================
describe('robustness', () => {
  test('wrong security type, wrong session, bad checksum, server opcodes, stale seqs: counted, never thrown', () => {
    const { sim, id } = manualSession({ data: image(100) });
    const s = sim.coord.stats;
    inject(sim, { op: Op.ACK, clientId: id, seq: 1, serverTime: 0, hiSeq: 1, lossRate: 0 }, FROM, { sec: Sec.NONE });
    expect(s.securityMismatch).toBe(1);
    inject(sim, { op: Op.ACK, clientId: id, seq: 1, serverTime: 0, hiSeq: 1, lossRate: 0 }, FROM, { sessionId: 99 });
    expect(s.sessionMismatch).toBe(1);
    const good = encodeMt({ op: Op.LEAVE, clientId: id, reason: 0 }, { secMode: Sec.CHECKSUM, sessionId: sim.sessionId, senderTime: sim.now });
    const bad = Buffer.from(good);
    bad[bad.length - 3]! ^= 0x40;
    sim.coord.handleDatagram(bad, FROM, sim.now);
    expect(s.checksumErrors).toBe(1);
    inject(sim, { op: Op.SPM, spmSeqNo: 1, masterClientId: 0, minNackBackoff: 0, maxNackBackoff: 0, trailSeq: 0, leadSeq: 0, rtt: 0 });
    expect(s.unexpected).toBe(1);
    inject(sim, { op: Op.QCR, clientId: id, qccSeqNo: 77, backoff: 0, serverTime: 0, hiSeq: 0, lossRate: 0, appData: Buffer.alloc(0) });
    expect(s.qcrStale).toBe(1);
    inject(sim, { op: Op.POLLACK, clientId: id, pollSeqNo: 77, appData: Buffer.alloc(0) });
    expect(s.pollAcksStale).toBe(1);
    expect(sim.coord.clients()).toHaveLength(1);
    expect(sim.coord.sessionState).toBe('DataState');
  });

  test('POLLACK with opcode 0x0C is a POLLACK; a CNTCIR that does not parse is counted', () => {
    const sim = new Sim({ data: image(100), record: true });
    const id = manualJoin(sim);
    manualElect(sim, id);
    const poll = body(sim, Op.POLL).pop()!;
    const cnt = encodeMa({ op: MaOp.CNTCIR, progress: 0, timeInSession: 0, ranges: [[1, 10]] });
    const pkt = encodeMt({ op: Op.POLLACK, clientId: id, pollSeqNo: poll.pollSeqNo, appData: cnt }, { secMode: Sec.CHECKSUM, sessionId: sim.sessionId, senderTime: sim.now });
    // Rewrite the opcode to 0x0C and fix the checksum.
    const p0c = Buffer.from(pkt);
    p0c[9 + 4] = 0x0c;
    let sum = 0;
    for (let i = 9; i < p0c.length; i++) sum += p0c[i]!;
    p0c.writeUInt32BE(~(sum >>> 0) >>> 0, 5);
    expect(decodeMt(p0c, { from: 'client' }).ok).toBe(true);
    const m0 = sim.coord.stats.malformed;
    inject(sim, { op: Op.POLLACK, clientId: id, pollSeqNo: poll.pollSeqNo, appData: Buffer.from([0, 3, 9]) });
    expect(sim.coord.stats.malformed).toBe(m0 + 1);
    sim.coord.handleDatagram(p0c, FROM, sim.now);
    expect(sim.coord.stats.pollAcksReceived).toBe(2);
    sim.run(sim.now + 1000, () => sim.coord.applicationState === 'DataState');
    expect(eventsOf(sim, 'round-started')).toMatchObject([{ ranges: 1, blocks: 10 }]);
  });

  test('arbitrary bytes and mutated packets never throw and never produce output', () => {
    const sim = new Sim({ data: image(20), record: true });
    const id = manualJoin(sim);
    const n = sim.sent.length;
    const seeds = [
      encodeMt({ op: Op.ACK, clientId: id, seq: 1, serverTime: 0, hiSeq: 1, lossRate: 0 }, { secMode: Sec.CHECKSUM, sessionId: sim.sessionId, senderTime: 1 }),
      encodeMt({ op: Op.NACK, clientId: id, hiSeq: 1, lossRate: 0, ranges: [[1, 2]] }, { secMode: Sec.CHECKSUM, sessionId: sim.sessionId, senderTime: 1 }),
    ];
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), fc.nat(1), fc.nat(300), (bytes, which, cut) => {
        const before = sim.coord.stats.malformed + sim.coord.stats.checksumErrors + sim.coord.stats.securityMismatch + sim.coord.stats.sessionMismatch;
        sim.coord.handleDatagram(Buffer.from(bytes), FROM, sim.now);
        const trunc = seeds[which]!.subarray(0, Math.min(cut, seeds[which]!.length - 1));
        sim.coord.handleDatagram(Buffer.from(trunc), FROM, sim.now);
        sim.coord.handleMsi(Buffer.from(bytes), FROM, sim.now);
        const after = sim.coord.stats.malformed + sim.coord.stats.checksumErrors + sim.coord.stats.securityMismatch + sim.coord.stats.sessionMismatch;
        return after >= before + 1;
      }),
      { numRuns: 500, seed: 42 },
    );
    sim.drain();
    // Only MSI error replies (for byte strings that happen to decode as a request) could have been produced.
    expect(sim.sent.slice(n).every((s) => s.via === 'msi')).toBe(true);
  });

  test('deterministic: the same seed gives the same packets', () => {
    const data = image(300);
    const run = () => {
      const sim = new Sim({ data, dropPercent: 5, seed: 3, record: true });
      const c = sim.addClient({ latency: 2 });
      sim.runFor(20_000, allDone(c));
      return sim.sent.map((s) => s.raw.toString('hex')).join();
    };
    expect(run()).toBe(run());
  });

  test('constructor validates the configuration', () => {
    const base = { namespace: 'n', content: 'c', source: bufferSource(Buffer.alloc(10)), sessionId: 1, multicastAddr: '239.1.1.1', serverAddr: '127.0.0.1', port: 1, rng: mulberry32(1) };
    expect(() => new Coordinator({ ...base, blockSize: 0 }, 0)).toThrow();
    expect(() => new Coordinator({ ...base, expMaxWindow: 10, maxWindow: 5 }, 0)).toThrow();
    expect(new Coordinator(base, 0).totalBlocks).toBe(1);
  });
});
