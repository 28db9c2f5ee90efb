/**
 * Hostile and foreign traffic, sans-I/O (issue 11 point 3): every kind of test/support/hostile.ts, from the server's
 * own address in the middle of a transfer, moves exactly its own field of `Receiver.stats().drops` (and `dropped`,
 * their sum) by one per packet, touches no other drop field, and writes nothing: the blocks on "disk" are the
 * server's, byte for byte. The same packets from another address are all `wrongSource` (the source check is first).
 */
import { describe, expect, it } from 'vitest';
import { MaOp, encodeMa } from '../../core/codec/ma';
import { Calg, encodeSymKeyBlob } from '../../core/codec/mt-security';
import { MtBody, Op, Sec, encodeMt } from '../../core/codec/mt';
import { sessionAuth } from '../../core/session';
import { ReceiverDrops, Receiver, SessionInfo, storeFor } from '../../core/receiver';
import { HOSTILE_KINDS, HostileContext, HostileKind, hostilePacket } from '../support/hostile';
import { SERVER, SID, fixedRng, srv } from './helpers';

const BS = 64;
const TOTAL = 40;
const session: SessionInfo = { sessionId: SID, multicast: { address: '239.1.1.1', port: SERVER.port }, server: SERVER, contentSize: BS * TOTAL - 5, blockSize: BS, totalBlocks: TOTAL };
const FORGER = { address: '10.0.0.66', port: SERVER.port };
/** Each kind's variants cycle with `i`; 24 packets cover every variant several times. */
const N = 24;

const block = (n: number) => Buffer.from(Array.from({ length: n === TOTAL ? BS - 5 : BS }, (_, i) => (n * 31 + i * 7) & 0xff));
const odata = (seq: number, n: number) => srv({ op: Op.ODATA, clientId: 7, seq, trailSeq: 1, data: encodeMa({ op: MaOp.DATA, blockNumber: n, data: block(n) }) }, 1000 + seq);
const spm = (n: number, lead: number) => srv({ op: Op.SPM, spmSeqNo: n, masterClientId: 7, minNackBackoff: 4, maxNackBackoff: 8, trailSeq: 1, leadSeq: lead, rtt: 1 });
const qcc = (n: number) => srv({ op: Op.QCC, qccSeqNo: n, qcrBackoff: 10 });
const poll = (n: number) => srv({ op: Op.POLL, pollSeqNo: n, backoff: 10, appData: encodeMa({ op: MaOp.SRVCIR }) });

/** A receiver (auto block numbering, like the agent) 10 blocks into a transfer, with an SPM, a QCC and a POLL taken. */
function midTransfer() {
  const store = storeFor(session, 1 << 20);
  const rx = new Receiver({ session, clientName: 'PC-01', localAddress: Buffer.from([10, 0, 0, 5]), macAddress: Buffer.alloc(6), store }, fixedRng(0.5), 0);
  rx.handleDatagram(srv({ op: Op.JOINACK, clientId: 7, minNackBackoff: 10, maxNackBackoff: 30, rtt: 0, clientTime: 0 }), SERVER, 1);
  let now = 2;
  for (let n = 1; n <= 10; n++) rx.handleDatagram(odata(n, n), SERVER, now++);
  const control = { [Op.SPM]: spm(3, 10), [Op.QCC]: qcc(2), [Op.POLL]: poll(1) };
  for (const p of Object.values(control)) rx.handleDatagram(p, SERVER, now++);
  rx.handleTimeout(now + 100); // the QCR and POLLACK go out
  while (rx.pollTransmit());
  const ctx: HostileContext = { odata: odata(10, 10), totalBlocks: TOTAL, control };
  return { rx, store, ctx, now: now + 200 };
}

/** Runs the transfer to the end (blocks 11..TOTAL), writing everything; returns the file. */
function finish(rx: Receiver, store: ReturnType<typeof storeFor>, now: number): Buffer {
  for (let n = 11; n <= TOTAL; n++) rx.handleDatagram(odata(n, n), SERVER, now++);
  const file = Buffer.alloc(session.contentSize);
  for (let j = store.takeWrite(); j; j = store.takeWrite()) {
    let off = j.offset;
    for (const b of j.buffers) off += b.copy(file, off);
    store.writeDone(j);
  }
  rx.handleWritten(now);
  return file;
}
const image = () => Buffer.concat(Array.from({ length: TOTAL }, (_, i) => block(i + 1)));
const zeroDrops = (): ReceiverDrops => ({ wrongSource: 0, authFailed: 0, wrongSession: 0, wrongSecurity: 0, badChecksum: 0, truncated: 0, badCount: 0, outOfRange: 0, replayed: 0, malformed: 0 });

describe('Receiver: each kind of hostile packet from the server\'s address has its own counter (issue 11 point 3)', () => {
  it('the drops fields are the hostile kinds plus wrongSource and authFailed', () => {
    expect(Object.keys(midTransfer().rx.stats().drops).sort()).toEqual([...HOSTILE_KINDS, 'wrongSource', 'authFailed'].sort());
  });

  it.each(HOSTILE_KINDS)('%s: counted once per packet in its own drops field and nowhere else, never written', (kind: HostileKind) => {
    const { rx, store, ctx, now } = midTransfer();
    const before = rx.stats();
    expect(before.drops).toEqual(zeroDrops());
    expect(before.dropped).toBe(0);
    for (let i = 0; i < N; i++) {
      rx.handleDatagram(hostilePacket(kind, i, ctx), SERVER, now + i);
      const st = rx.stats();
      expect(st.drops, `packet ${i}`).toEqual({ ...zeroDrops(), [kind]: i + 1 });
      expect(st.dropped).toBe(i + 1);
    }
    const st = rx.stats();
    // Nothing reached the store: the same 10 blocks, no duplicate, no conflict, nothing renumbered.
    expect(store.have.count).toBe(10);
    expect(st).toMatchObject({ blocks: 10, duplicates: 0, conflicting: 0, renumbered: 0, ringFull: 0, badPoll: 0, state: 'regular', sessionId: SID });
    // The session goes on and the file is the server's, byte for byte.
    const file = finish(rx, store, now + N);
    expect(rx.stats().complete).toBe(true);
    expect(file.equals(image())).toBe(true);
  });

  it('names what each kind reaches in the MT and MA counters', () => {
    const reach = (kind: HostileKind) => {
      const { rx, ctx, now } = midTransfer();
      for (let i = 0; i < N; i++) rx.handleDatagram(hostilePacket(kind, i, ctx), SERVER, now + i);
      const { mt, badBlocks, outOfRange } = rx.stats();
      return { malformed: mt.malformed, wrongSession: mt.wrongSession, wrongSecurity: mt.wrongSecurity, replayed: mt.replayed, badBlocks, outOfRange };
    };
    const none = { malformed: {}, wrongSession: 0, wrongSecurity: 0, replayed: 0, badBlocks: 0, outOfRange: 0 };
    expect(reach('wrongSession')).toEqual({ ...none, wrongSession: N });
    expect(reach('wrongSecurity')).toEqual({ ...none, wrongSecurity: N });
    expect(reach('badChecksum')).toEqual({ ...none, malformed: { checksum: N } });
    expect(reach('truncated')).toEqual({ ...none, malformed: { truncated: N } });
    expect(reach('badCount')).toEqual({ ...none, malformed: { 'bad-count': N } });
    expect(reach('outOfRange')).toEqual({ ...none, outOfRange: N });
    expect(reach('replayed')).toEqual({ ...none, replayed: N });
    // bad-magic, unknown-opcode, trailing (6 each) and MS-WDSMA DATA with a wrong Packet-Size (6).
    expect(reach('malformed')).toEqual({ ...none, malformed: { 'bad-magic': N / 4, 'unknown-opcode': N / 4, trailing: N / 4 }, badBlocks: N / 4 });
  });

  it('replayed: an SPM, QCC or POLL with an old sequence number changes nothing (3.2.5.6, 3.2.5.7, 3.2.5.9)', () => {
    const { rx, now } = midTransfer();
    const info = () => {
      const st = rx.stats();
      return { spm: st.mt.spm, qcrs: st.mt.qcrsSent, pollacks: st.mt.pollacksSent, rounds: st.rounds };
    };
    const was = info();
    rx.handleDatagram(spm(2, 30), SERVER, now); // older SPM: Lead 30 would open 11..30 as missing
    rx.handleDatagram(spm(3, 30), SERVER, now + 1); // the same SPMSeqNo again
    rx.handleDatagram(qcc(1), SERVER, now + 2);
    rx.handleDatagram(qcc(2), SERVER, now + 3);
    rx.handleDatagram(poll(1), SERVER, now + 4);
    rx.handleTimeout(now + 1000);
    expect(rx.stats().drops.replayed).toBe(5);
    expect(info()).toEqual(was);
    const t: number[] = [];
    for (let x = rx.pollTransmit(); x; x = rx.pollTransmit()) t.push(x.data[9 + 4]!);
    expect(t.filter((op) => op === Op.QCR || op === Op.POLLACK || op === Op.NACK)).toEqual([]);
    // A newer one is taken.
    rx.handleDatagram(spm(4, 10), SERVER, now + 1001);
    expect(rx.stats().mt.spm).toBe(was.spm + 1);
  });

  it('from another address every kind is wrongSource: the source check comes first', () => {
    const { rx, store, ctx, now } = midTransfer();
    let k = 0;
    for (const kind of HOSTILE_KINDS) for (let i = 0; i < 4; i++) rx.handleDatagram(hostilePacket(kind, i, ctx), FORGER, now + k++);
    expect(rx.stats().drops).toEqual({ ...zeroDrops(), wrongSource: k });
    expect(rx.stats().dropped).toBe(k);
    expect(store.have.count).toBe(10);
  });

  it('all kinds mixed: dropped is the sum of the fields, each field its own count', () => {
    const { rx, store, ctx, now } = midTransfer();
    const want = zeroDrops();
    let t = now;
    for (let i = 0; i < 5 * HOSTILE_KINDS.length; i++) {
      const kind = HOSTILE_KINDS[(i * 5) % HOSTILE_KINDS.length]!;
      rx.handleDatagram(hostilePacket(kind, i, ctx), SERVER, t++);
      want[kind]++;
    }
    rx.handleDatagram(odata(11, 11), FORGER, t++);
    want.wrongSource++;
    const st = rx.stats();
    expect(st.drops).toEqual(want);
    expect(st.dropped).toBe(Object.values(want).reduce((a, b) => a + b, 0));
    expect(finish(rx, store, t).equals(image())).toBe(true);
  });

  it('authFailed: in a HASH session a packet from the server\'s address whose HMAC does not verify, and nothing else', () => {
    const key = encodeSymKeyBlob(Buffer.alloc(24, 9));
    const security = { client: { mode: Sec.HASH, key }, server: { mode: Sec.HASH, key }, hashAlgId: Calg.SHA_256 };
    const auth = sessionAuth(security);
    if (typeof auth === 'string') throw new Error(auth);
    const sealed = (body: MtBody) => encodeMt(body, { secMode: Sec.HASH, sessionId: SID, senderTime: 1000, auth: auth.server });
    const hashed = { ...session, security };
    const store = storeFor(hashed, 1 << 20);
    const rx = new Receiver({ session: hashed, clientName: 'PC-01', localAddress: Buffer.from([10, 0, 0, 5]), macAddress: Buffer.alloc(6), store }, fixedRng(0.5), 0);
    rx.handleDatagram(sealed({ op: Op.JOINACK, clientId: 7, minNackBackoff: 10, maxNackBackoff: 30, rtt: 0, clientTime: 0 }), SERVER, 1);
    const data = (n: number, bytes: Buffer) => sealed({ op: Op.ODATA, clientId: 7, seq: n, trailSeq: 1, data: encodeMa({ op: MaOp.DATA, blockNumber: n, data: bytes }) });
    rx.handleDatagram(data(1, block(1)), SERVER, 2);
    for (let i = 0; i < N; i++) {
      const forged = data(2 + i, block(2 + i));
      forged[forged.length - 3] ^= 0x40; // a payload byte changed after sealing
      rx.handleDatagram(forged, SERVER, 3 + i);
    }
    const st = rx.stats();
    expect(st.drops).toEqual({ ...zeroDrops(), authFailed: N });
    expect(st.dropped).toBe(N);
    expect(store.have.count).toBe(1);
  });
});
