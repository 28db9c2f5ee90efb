/**
 * DEMOTE on the server side, MS-WDSMT 3.1.5.10 (Demote trigger), 3.1.5.10.1 (DEMOTE packet), 3.1.6.8 (Demote
 * timer), on a fake clock. The agent following a DEMOTE into a real slower session is test/e2e/drills.test.ts.
 */
import { randomBytes } from 'node:crypto';
import { describe, expect, test } from 'vitest';
import { CAP_MULTISTREAM, MtBody, MtOpt, Op, Sec, encodeMt } from '../../core/codec/mt';
import { Sim } from './sim';
import type { LowerSession } from './types';

const LOWER: LowerSession = { sessionId: 0x0bad_cafe, multicastAddr: '239.192.0.2', multicastPort: 63001, serverAddr: '10.0.0.1', serverPort: 63001 };
const CAPS = [{ id: MtOpt.CAPABILITIES, value: Buffer.from([CAP_MULTISTREAM]) }];

function inject(sim: Sim, body: MtBody, from: { address: string; port: number }, options?: { id: number; value: Buffer }[]): void {
  sim.coord.handleDatagram(encodeMt(body, { secMode: Sec.CHECKSUM, sessionId: sim.sessionId, senderTime: sim.now, options }), from, sim.now);
  sim.drain();
}

type Demote = Extract<MtBody, { op: typeof Op.DEMOTE }>;
const demotes = (sim: Sim, since: number) => sim.sentOps(Op.DEMOTE, since);

describe('DEMOTE (MS-WDSMT 3.1.5.10)', () => {
  test('a client that advertised CAP_MULTISTREAM moves to the Demoted list; DEMOTE at once, then every DemoteInterval until its LEAVE; the others complete', () => {
    const sim = new Sim({ data: randomBytes(1385 * 3000 + 5), rateBytesPerSec: 1_000_000, record: true });
    const slow = sim.addClient({ latency: 1, multistream: true });
    const other = sim.addClient({ latency: 1 });
    sim.runFor(2000, () => sim.coord.applicationState === 'DataState');
    const t = sim.now;

    // Refused: no CAP_MULTISTREAM (SupportsDemote FALSE, protocol-notes #90), an unknown client, the session itself.
    expect(sim.coord.demote(other.id, LOWER, t)).toBe(false);
    expect(sim.coord.demote(12345, LOWER, t)).toBe(false);
    expect(sim.coord.demote(slow.id, { ...LOWER, sessionId: sim.sessionId }, t)).toBe(false);
    expect(demotes(sim, t)).toHaveLength(0);

    expect(sim.coord.demote(slow.id, LOWER, t)).toBe(true);
    sim.drain();
    expect(sim.coord.demote(slow.id, LOWER, t)).toBe(false); // no longer Active
    expect(sim.coord.clients().find((c) => c.clientId === slow.id)).toMatchObject({ state: 'demoted', supportsDemote: true });
    expect(sim.coord.stats).toMatchObject({ clientsDemoted: 1, clientsDemote: 1, clientsActive: 1 });
    expect(sim.events).toContainEqual({ type: 'client-demoted', clientId: slow.id, lowerSessionId: LOWER.sessionId });

    sim.runFor(1200);
    const d = demotes(sim, t);
    expect(d.map((x) => x.t - t)).toEqual([0, 500, 1000]);
    expect(d.every((x) => x.dest === 'multicast')).toBe(true);
    expect(d[0]!.pkt!.body as Demote).toEqual({
      op: Op.DEMOTE,
      lowerSessionId: LOWER.sessionId,
      mAddress: Buffer.from([239, 192, 0, 2]),
      mPort: 63001,
      uAddress: Buffer.from([10, 0, 0, 1]),
      uPort: 63001,
      clients: [slow.id],
    });
    expect(sim.coord.stats.demoteSent).toBe(3);

    // 3.2.5.16: the demoted client sends LEAVE (CANCELLED): off the Demoted list, the Demote timer stops.
    const left = sim.now;
    inject(sim, { op: Op.LEAVE, clientId: slow.id, reason: 1 }, { address: slow.address, port: slow.port });
    slow.opts.answerPoll = false; // it has left: it must not hold up the MA rounds
    expect(sim.coord.stats.clientsDemote).toBe(0);
    sim.runFor(60_000, () => other.complete);
    expect(demotes(sim, left + 1)).toHaveLength(0);
    expect(other.complete).toBe(true);
    expect(Buffer.compare(other.image, sim.source.read(0, sim.size))).toBe(0);
  });

  test('a demoted client that is never heard again is removed by the Client Cleanup timer, and the DEMOTEs stop (protocol-notes #91)', () => {
    const sim = new Sim({ data: randomBytes(1385 * 50), record: true, clientDeadTimeoutMs: 5000 });
    const c = sim.addClient({ latency: 1, multistream: true, answerQcc: false, answerPoll: false, ack: false });
    sim.runFor(1000, () => sim.coord.clients().some((x) => x.state === 'active'));
    const t = sim.now;
    expect(sim.coord.demote(c.id, LOWER, t)).toBe(true);
    sim.runFor(12_000);
    expect(sim.coord.clients()).toHaveLength(0);
    expect(sim.events).toContainEqual({ type: 'client-timeout', clientId: c.id });
    const last = demotes(sim, t).pop()!;
    expect(last.t - t).toBeLessThanOrEqual(10_000);
    expect(sim.now - last.t).toBeGreaterThan(1000);
  });

  test('more than 250 demoted clients: several DEMOTE packets, each with at most 250 (2.2.13)', () => {
    const sim = new Sim({ data: randomBytes(1385 * 10), record: true });
    const ids: number[] = [];
    for (let i = 0; i < 260; i++) {
      const from = { address: `10.0.${1 + (i >> 8)}.${i & 0xff}`, port: 40000 + i };
      inject(sim, { op: Op.JOIN, clientName: `PC${i}`, ipAddress: Buffer.from([10, 0, 1, i & 0xff]), macAddress: Buffer.from([2, 0, 0, 0, 1, i & 0xff]) }, from, CAPS);
      const ja = sim.sent.filter((s) => s.pkt?.body.op === Op.JOINACK).pop()!;
      const id = (ja.pkt!.body as { clientId: number }).clientId;
      inject(sim, { op: Op.QCR, clientId: id, qccSeqNo: 0, backoff: 0, serverTime: ja.pkt!.senderTime, hiSeq: 0, lossRate: 0, appData: Buffer.alloc(0) }, from);
      ids.push(id);
    }
    const t = sim.now;
    for (const id of ids) expect(sim.coord.demote(id, LOWER, t)).toBe(true);
    sim.drain();
    // The first trigger sends at once (one client); the timer's DEMOTEs carry the whole list.
    sim.runFor(500);
    const atTimer = demotes(sim, t + 1).map((x) => (x.pkt!.body as Demote).clients);
    expect(atTimer.map((l) => l.length)).toEqual([250, 10]);
    expect(atTimer.flat().sort()).toEqual([...ids].sort());
  });
});
