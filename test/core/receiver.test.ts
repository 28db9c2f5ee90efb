/**
 * The Receiver's own checks, before and after the MT client: the source address of every datagram (issue 7,
 * protocol-notes #20) and blocks that arrive twice with different bytes (protocol-notes #21).
 */
import { describe, expect, it } from 'vitest';
import { MaOp, encodeMa } from '../../core/codec/ma';
import { Op } from '../../core/codec/mt';
import { Receiver, ReceiverEvent, SessionInfo, storeFor } from '../../core/receiver';
import { SERVER, SID, fixedRng, srv } from './helpers';

const BS = 64;
const TOTAL = 16;
const session: SessionInfo = { sessionId: SID, multicast: { address: '239.1.1.1', port: SERVER.port }, server: SERVER, contentSize: BS * TOTAL, blockSize: BS, totalBlocks: TOTAL };
const FORGER = { address: '10.0.0.66', port: SERVER.port };

function joined() {
  const rx = new Receiver({ session, clientName: 'PC-01', localAddress: Buffer.from([10, 0, 0, 5]), macAddress: Buffer.alloc(6), store: storeFor(session, 1 << 20), blockBase: 1 }, fixedRng(0.5), 0);
  rx.handleDatagram(srv({ op: Op.JOINACK, clientId: 7, minNackBackoff: 10, maxNackBackoff: 30, rtt: 0, clientTime: 0 }), SERVER, 1);
  while (rx.pollTransmit());
  return rx;
}
/** A well-formed ODATA (our session, valid CHECKSUM) carrying MA DATA for 1-based block `block`. */
const odata = (seq: number, block: number, payload: Buffer) =>
  srv({ op: Op.ODATA, clientId: 99, seq, trailSeq: 1, data: encodeMa({ op: MaOp.DATA, blockNumber: block, data: payload }) });
const events = (rx: Receiver) => {
  const out: ReceiverEvent[] = [];
  let e;
  while ((e = rx.pollEvent())) out.push(e);
  return out;
};
/** Writes everything in the ring; returns the file image. */
function flush(rx: Receiver, file = Buffer.alloc(BS * TOTAL)): Buffer {
  let j;
  while ((j = rx.pollWrite())) {
    let off = j.offset;
    for (const b of j.buffers) off += b.copy(file, off);
    rx.handleWriteDone(j, 10);
  }
  return file;
}
/** Deterministic bytes, distinct per seed. */
const bytes = (seed: number) => Buffer.from(Array.from({ length: BS }, (_, i) => (seed * 31 + i * 7) & 0xff));

describe('Receiver: source address (issue 7)', () => {
  it('drops every datagram not from the server address before the MT client, and counts it as wrongSource', () => {
    const rx = joined();
    for (let s = 1; s <= 5; s++) rx.handleDatagram(odata(s, s, bytes(100 + s)), FORGER, 2);
    expect(rx.drops.wrongSource).toBe(5);
    expect(rx.mt.stats.odata).toBe(0); // never reached the MT client
    expect(rx.store.have.count).toBe(0);
    // The server's address with any source port is the server (MS-WDSMT fixes no source port).
    for (let s = 1; s <= 5; s++) rx.handleDatagram(odata(s, s, bytes(s)), { address: SERVER.address, port: 40000 + s }, 3);
    expect(rx.mt.stats.odata).toBe(5);
    expect(rx.drops.wrongSource).toBe(5);
    const file = flush(rx);
    for (let b = 1; b <= 5; b++) expect(file.subarray((b - 1) * BS, b * BS)).toEqual(bytes(b));
  });

  it('accepts an IPv4-mapped form of the server address', () => {
    const rx = joined();
    rx.handleDatagram(odata(1, 1, bytes(1)), { address: `::ffff:${SERVER.address}` }, 2);
    expect(rx.drops.wrongSource).toBe(0);
    expect(rx.mt.stats.odata).toBe(1);
  });

  it('after a DEMOTE expects the address the DEMOTE named, and drops the old one', () => {
    const rx = joined();
    rx.handleDatagram(srv({ op: Op.DEMOTE, lowerSessionId: 0x22, mAddress: Buffer.from([239, 1, 1, 3]), mPort: 5, uAddress: Buffer.from([10, 0, 0, 3]), uPort: 5, clients: [7] }), SERVER, 2);
    expect(events(rx)).toContainEqual(expect.objectContaining({ type: 'demoted', sessionId: 0x22 }));
    const joinack = srv({ op: Op.JOINACK, clientId: 8, minNackBackoff: 10, maxNackBackoff: 30, rtt: 0, clientTime: 0 }, 1000, undefined, 0x22);
    rx.handleDatagram(joinack, SERVER, 3);
    expect(rx.drops.wrongSource).toBe(1);
    expect(rx.mt.state).toBe('join');
    rx.handleDatagram(joinack, { address: '10.0.0.3', port: 7 }, 4);
    expect(rx.mt.state).toBe('regular');
    expect(rx.mt.clientId).toBe(8);
  });

  it('cannot tell a forger that also fakes the server address: under CHECKSUM its bytes are written (protocol-notes #20)', () => {
    const rx = joined();
    const forged = bytes(666);
    rx.handleDatagram(odata(1, 1, forged), SERVER, 2); // first copy wins
    rx.handleDatagram(odata(2, 1, bytes(1)), SERVER, 3); // the real block, later
    expect(rx.drops.wrongSource).toBe(0);
    const file = flush(rx);
    expect(file.subarray(0, BS)).toEqual(forged);
    // Only the comparison of the two copies shows it (they met in the ring): the README says to pass --sha256.
    expect(rx.ma.stats.conflicting).toBe(1);
  });
});

describe('Receiver: a block twice with different bytes (issue 7, protocol-notes #21)', () => {
  it('keeps the first copy, counts the conflict, and emits one warning per session', () => {
    const rx = joined();
    events(rx);
    // No pollWrite: block 3's first copy stays in the ring while the others arrive.
    rx.handleDatagram(odata(1, 3, bytes(3)), SERVER, 2);
    rx.handleDatagram(odata(2, 3, bytes(3)), SERVER, 3); // an identical duplicate is no conflict
    expect(rx.ma.stats.duplicates).toBe(1);
    expect(rx.ma.stats.conflicting).toBe(0);
    rx.handleDatagram(odata(3, 3, bytes(4)), SERVER, 4);
    expect(rx.ma.stats.conflicting).toBe(1);
    const warned = events(rx).filter((e) => e.type === 'conflicting-duplicate');
    expect(warned).toEqual([{ type: 'conflicting-duplicate', sessionId: SID, block: 3 }]);
    // More conflicts are counted, but warned about no more in this session.
    rx.handleDatagram(odata(4, 3, bytes(5)), SERVER, 5);
    rx.handleDatagram(odata(5, 3, bytes(6)), SERVER, 6);
    expect(rx.ma.stats.conflicting).toBe(3);
    expect(events(rx).filter((e) => e.type === 'conflicting-duplicate')).toHaveLength(0);
    expect(flush(rx).subarray(2 * BS, 3 * BS)).toEqual(bytes(3));
  });

  it('compares with a copy whose write is in flight, but not after the write completed (the ring no longer holds it)', () => {
    const rx = joined();
    rx.handleDatagram(odata(1, 2, bytes(2)), SERVER, 2);
    const job = rx.pollWrite()!;
    expect(job.firstBlock).toBe(1);
    rx.handleDatagram(odata(2, 2, bytes(9)), SERVER, 3);
    expect(rx.ma.stats.conflicting).toBe(1);
    rx.handleWriteDone(job, 4);
    rx.handleDatagram(odata(3, 2, bytes(10)), SERVER, 5);
    expect(rx.ma.stats.conflicting).toBe(1);
    expect(rx.ma.stats.duplicates).toBe(2);
  });
});
