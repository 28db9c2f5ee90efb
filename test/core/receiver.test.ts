/**
 * The Receiver's own checks, before and after the MT client: the source address of every datagram (issue 7,
 * protocol-notes #20) and blocks that arrive twice with different bytes (protocol-notes #21); then its API:
 * `stats()`, the one write path, session security and the session-initiation seam.
 */
import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { Calg, encodePublicKeyBlob, encodeSymKeyBlob } from '../../core/codec/mt-security';
import { MaOp, encodeMa } from '../../core/codec/ma';
import { Op, Sec } from '../../core/codec/mt';
import { encodeMsiReply, decodeMsi } from '../../core/codec/msi';
import { BlockStore } from '../../core/block-store';
import { DatagramInitiator, MsiUdpInitiator, SessionInitiator, StreamInitiator } from '../../core/msi-client';
import { Receiver, ReceiverConfig, ReceiverEvent, SessionInfo, storeFor } from '../../core/receiver';
import { UDP_SECURITY, sessionFromMsiReply, unsupportedSecurity } from '../../core/session';
import { SERVER, SID, fixedRng, srv } from './helpers';

const BS = 64;
const TOTAL = 16;
const session: SessionInfo = { sessionId: SID, multicast: { address: '239.1.1.1', port: SERVER.port }, server: SERVER, contentSize: BS * TOTAL, blockSize: BS, totalBlocks: TOTAL };
const FORGER = { address: '10.0.0.66', port: SERVER.port };

/** The store of the last `joined()` receiver. */
let store: BlockStore;
function joined() {
  store = storeFor(session, 1 << 20);
  const rx = new Receiver({ session, clientName: 'PC-01', localAddress: Buffer.from([10, 0, 0, 5]), macAddress: Buffer.alloc(6), store, blockBase: 1 }, fixedRng(0.5), 0);
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
  while ((j = store.takeWrite())) {
    let off = j.offset;
    for (const b of j.buffers) off += b.copy(file, off);
    store.writeDone(j);
    rx.handleWritten(10);
  }
  return file;
}
/** Deterministic bytes, distinct per seed. */
const bytes = (seed: number) => Buffer.from(Array.from({ length: BS }, (_, i) => (seed * 31 + i * 7) & 0xff));

describe('Receiver: source address (issue 7)', () => {
  it('drops every datagram not from the server address before the MT client, and counts it as wrongSource', () => {
    const rx = joined();
    for (let s = 1; s <= 5; s++) rx.handleDatagram(odata(s, s, bytes(100 + s)), FORGER, 2);
    expect(rx.stats().drops.wrongSource).toBe(5);
    expect(rx.stats().mt.odata).toBe(0); // never reached the MT client
    expect(store.have.count).toBe(0);
    // The server's address with any source port is the server (MS-WDSMT fixes no source port).
    for (let s = 1; s <= 5; s++) rx.handleDatagram(odata(s, s, bytes(s)), { address: SERVER.address, port: 40000 + s }, 3);
    expect(rx.stats().mt.odata).toBe(5);
    expect(rx.stats().drops.wrongSource).toBe(5);
    const file = flush(rx);
    for (let b = 1; b <= 5; b++) expect(file.subarray((b - 1) * BS, b * BS)).toEqual(bytes(b));
  });

  it('accepts an IPv4-mapped form of the server address', () => {
    const rx = joined();
    rx.handleDatagram(odata(1, 1, bytes(1)), { address: `::ffff:${SERVER.address}` }, 2);
    expect(rx.stats().drops.wrongSource).toBe(0);
    expect(rx.stats().mt.odata).toBe(1);
  });

  it('after a DEMOTE expects the address the DEMOTE named, and drops the old one', () => {
    const rx = joined();
    rx.handleDatagram(srv({ op: Op.DEMOTE, lowerSessionId: 0x22, mAddress: Buffer.from([239, 1, 1, 3]), mPort: 5, uAddress: Buffer.from([10, 0, 0, 3]), uPort: 5, clients: [7] }), SERVER, 2);
    expect(events(rx)).toContainEqual(expect.objectContaining({ type: 'demoted', sessionId: 0x22 }));
    const joinack = srv({ op: Op.JOINACK, clientId: 8, minNackBackoff: 10, maxNackBackoff: 30, rtt: 0, clientTime: 0 }, 1000, undefined, 0x22);
    rx.handleDatagram(joinack, SERVER, 3);
    expect(rx.stats().drops.wrongSource).toBe(1);
    expect(rx.stats().state).toBe('join');
    rx.handleDatagram(joinack, { address: '10.0.0.3', port: 7 }, 4);
    expect(rx.stats().state).toBe('regular');
    expect(rx.stats().clientId).toBe(8);
  });

  it('cannot tell a forger that also fakes the server address: under CHECKSUM its bytes are written (protocol-notes #20)', () => {
    const rx = joined();
    const forged = bytes(666);
    rx.handleDatagram(odata(1, 1, forged), SERVER, 2); // first copy wins
    rx.handleDatagram(odata(2, 1, bytes(1)), SERVER, 3); // the real block, later
    expect(rx.stats().drops.wrongSource).toBe(0);
    const file = flush(rx);
    expect(file.subarray(0, BS)).toEqual(forged);
    // Only the comparison of the two copies shows it (they met in the ring): the README says to pass --sha256.
    expect(rx.stats().conflicting).toBe(1);
  });
});

describe('Receiver: a block twice with different bytes (issue 7, protocol-notes #21)', () => {
  it('keeps the first copy, counts the conflict, and emits one warning per session', () => {
    const rx = joined();
    events(rx);
    // Nothing written: block 3's first copy stays in the ring while the others arrive.
    rx.handleDatagram(odata(1, 3, bytes(3)), SERVER, 2);
    rx.handleDatagram(odata(2, 3, bytes(3)), SERVER, 3); // an identical duplicate is no conflict
    expect(rx.stats().duplicates).toBe(1);
    expect(rx.stats().conflicting).toBe(0);
    rx.handleDatagram(odata(3, 3, bytes(4)), SERVER, 4);
    expect(rx.stats().conflicting).toBe(1);
    const warned = events(rx).filter((e) => e.type === 'conflicting-duplicate');
    expect(warned).toEqual([{ type: 'conflicting-duplicate', sessionId: SID, block: 3 }]);
    // More conflicts are counted, but warned about no more in this session.
    rx.handleDatagram(odata(4, 3, bytes(5)), SERVER, 5);
    rx.handleDatagram(odata(5, 3, bytes(6)), SERVER, 6);
    expect(rx.stats().conflicting).toBe(3);
    expect(events(rx).filter((e) => e.type === 'conflicting-duplicate')).toHaveLength(0);
    expect(flush(rx).subarray(2 * BS, 3 * BS)).toEqual(bytes(3));
  });

  it('compares with a copy whose write is in flight, but not after the write completed (the ring no longer holds it)', () => {
    const rx = joined();
    rx.handleDatagram(odata(1, 2, bytes(2)), SERVER, 2);
    const job = store.takeWrite()!;
    expect(job.firstBlock).toBe(1);
    rx.handleDatagram(odata(2, 2, bytes(9)), SERVER, 3);
    expect(rx.stats().conflicting).toBe(1);
    store.writeDone(job);
    rx.handleWritten(4);
    rx.handleDatagram(odata(3, 2, bytes(10)), SERVER, 5);
    expect(rx.stats().conflicting).toBe(1);
    expect(rx.stats().duplicates).toBe(2);
  });
});

// ---- the Receiver's API: stats(), the one write path, session security, the initiation seam
const SBS = 4;
function make(o: { totalBlocks?: number; ringSlots?: number; session?: Partial<SessionInfo>; blockBase?: ReceiverConfig['blockBase'] } = {}) {
  const totalBlocks = o.totalBlocks ?? 4;
  const session: SessionInfo = { sessionId: SID, multicast: { address: '239.0.0.1', port: 5000 }, server: SERVER, contentSize: totalBlocks * SBS, blockSize: SBS, totalBlocks, ...o.session };
  const store = new BlockStore({ totalBlocks, blockSize: SBS, contentSize: session.contentSize, ringSlots: o.ringSlots ?? 8 });
  const rx = new Receiver({ session, clientName: 'PC-01', localAddress: Buffer.from([10, 0, 0, 5]), macAddress: Buffer.alloc(6), store, blockBase: o.blockBase }, fixedRng(0.5), 0);
  rx.handleDatagram(srv({ op: Op.JOINACK, clientId: 7, minNackBackoff: 10, maxNackBackoff: 30, rtt: 0, clientTime: 0 }), SERVER, 1);
  while (rx.pollTransmit());
  expect(rx.pollEvent()).toEqual({ type: 'joined', clientId: 7 });
  return { rx, store };
}
/** ODATA `seq` carrying MS-WDSMA DATA for block `n` (server numbering). */
const dataBlock = (seq: number, n: number, fill = n) => srv({ op: Op.ODATA, clientId: 99, seq, trailSeq: 1, data: encodeMa({ op: MaOp.DATA, blockNumber: n, data: Buffer.alloc(SBS, fill) }) });
/** The one write path: the store's jobs, then `handleWritten`. */
function writeAll(rx: Receiver, store: BlockStore, now: number): number {
  let n = 0;
  for (let j = store.takeWrite(); j; j = store.takeWrite()) {
    store.writeDone(j);
    n++;
  }
  rx.handleWritten(now);
  return n;
}
function eventTypes(rx: Receiver) {
  const out = [];
  for (let e = rx.pollEvent(); e; e = rx.pollEvent()) out.push(e.type);
  return out;
}

describe('Receiver.stats()', () => {
  it('reports blocks, bytes, duplicates, the numbering and MT counters, as a copy', () => {
    const { rx } = make();
    rx.handleDatagram(dataBlock(1, 1), SERVER, 2);
    rx.handleDatagram(dataBlock(2, 2), SERVER, 3);
    rx.handleDatagram(dataBlock(3, 2), SERVER, 4); // same block again
    const s = rx.stats();
    expect(s).toMatchObject({ blocks: 2, duplicates: 1, bytes: 2 * SBS, rounds: 0, base: 1, baseKnown: false, allOnDisk: false, complete: false, state: 'regular', dropped: 0, inactivityMs: 30_000 });
    expect(s.mt.odata).toBe(3);
    s.blocks = 99;
    s.mt.odata = 99;
    s.mt.malformed.truncated = 5;
    expect(rx.stats().blocks).toBe(2);
    expect(rx.stats().mt.odata).toBe(3);
    expect(rx.stats().mt.malformed).toEqual({});
  });

  it('progress() (read at every wake-up) agrees with stats() on the fields the policy reads', () => {
    const { rx } = make();
    const pick = () => {
      const s = rx.stats();
      return { blocks: s.blocks, duplicates: s.duplicates, bytes: s.bytes, rounds: s.rounds, allOnDisk: s.allOnDisk, base: s.base, baseKnown: s.baseKnown };
    };
    expect(rx.progress()).toEqual(pick());
    rx.handleDatagram(dataBlock(1, 1), SERVER, 2);
    rx.handleDatagram(dataBlock(2, 2), SERVER, 3);
    rx.handleDatagram(dataBlock(3, 2), SERVER, 4);
    expect(rx.progress()).toEqual(pick());
    expect(rx.progress()).toMatchObject({ blocks: 2, duplicates: 1, bytes: 2 * SBS });
  });

  it('counts every datagram it drops: malformed, wrong session, wrong security, bad MA blocks', () => {
    const { rx } = make();
    rx.handleDatagram(Buffer.from([1, 2, 3]), SERVER, 2);
    rx.handleDatagram(srv({ op: Op.ODATA, clientId: 99, seq: 1, trailSeq: 1, data: Buffer.alloc(3) }, 1000, undefined, SID + 1), SERVER, 3);
    rx.handleDatagram(srv({ op: Op.ODATA, clientId: 99, seq: 1, trailSeq: 1, data: Buffer.from([9, 9]) }), SERVER, 4); // not an MA DATA packet
    const s = rx.stats();
    expect(s.mt.wrongSession).toBe(1);
    expect(s.badBlocks).toBe(1);
    expect(s.dropped).toBe(3);
  });

  it('a DEMOTE keeps the counters; a cancel closes the session once', () => {
    const { rx } = make();
    rx.cancel(5);
    expect(rx.stats().state).toBe('closed');
    rx.cancel(6); // no second LEAVE
    rx.handleTimeout(1000);
    expect([rx.pollTransmit(), rx.pollTransmit()].filter(Boolean)).toHaveLength(1);
  });
});

describe('Receiver: one write path (the store), completion through handleWritten', () => {
  it('completes once every block is written and the numbering is proven, then leaves with COMPLETE', () => {
    const { rx, store: st } = make();
    for (let n = 1; n <= 4; n++) rx.handleDatagram(dataBlock(n, n), SERVER, 1 + n); // block 4 = TotalBlocks proves 1-based
    expect(rx.stats().baseKnown).toBe(true);
    expect(eventTypes(rx)).toEqual([]);
    expect(writeAll(rx, st, 10)).toBeGreaterThan(0);
    expect(eventTypes(rx)).toEqual(['complete']);
    expect(rx.stats()).toMatchObject({ allOnDisk: true, complete: true, state: 'closed' });
  });

  it('releases the transport cache only after the write: without handleWritten the client sends Zero NACKs', () => {
    // ring of 2 blocks = MaxCacheSize of 2 MA DATA packets
    const run = (write: boolean) => {
      const { rx, store: st } = make({ totalBlocks: 8, ringSlots: 2 });
      for (let n = 1; n <= 8; n++) {
        rx.handleDatagram(dataBlock(n, n), SERVER, 1 + n);
        if (write) writeAll(rx, st, 1 + n);
      }
      return rx.stats();
    };
    expect(run(true)).toMatchObject({ blocks: 8, mt: { zeroNacks: 0 } });
    const stuck = run(false);
    expect(stuck.blocks).toBe(2);
    expect(stuck.mt.zeroNacks).toBe(6);
  });

  it('blocks written by another source (HTTP, acct 0) complete the receive too', () => {
    const { rx, store: st } = make({ blockBase: 1 });
    for (let i = 0; i < 4; i++) expect(st.put(i, Buffer.alloc(SBS, i), 0, SBS, 0)).toBe('ok');
    writeAll(rx, st, 5);
    expect(eventTypes(rx)).toEqual(['complete']);
  });
});

describe('session security', () => {
  it('MS-WDSMSI over UDP means CHECKSUM both ways, with no key', () => {
    const r = decodeMsi(encodeMsiReply({ multicastAddr: '239.0.0.111', serverAddr: '192.168.0.200', multicastPort: 1, serverPort: 2, contentSize: 10, blockSize: 4, totalBlocks: 3, sessionId: 5 }));
    if (!r.ok || r.value.kind !== 'reply') throw new Error('reply expected');
    const s = sessionFromMsiReply(r.value);
    expect(s).toEqual({ sessionId: 5, multicast: { address: '239.0.0.111', port: 1 }, server: { address: '192.168.0.200', port: 2 }, contentSize: 10, blockSize: 4, totalBlocks: 3, security: UDP_SECURITY });
    expect(s.security).toEqual({ client: { mode: Sec.CHECKSUM }, server: { mode: Sec.CHECKSUM } });
    expect(unsupportedSecurity(UDP_SECURITY)).toBeUndefined();
  });

  it('refuses a client SIGN, NONE, an unknown mode and a HASH/SIGN without its keys, naming both modes; the Receiver will not start on them', () => {
    const key = Buffer.alloc(16, 1);
    const hashSign = { client: { mode: Sec.HASH, key }, server: { mode: Sec.SIGN, key: Buffer.alloc(64, 2) } };
    const prefix = 'the session uses client security HASH and server security SIGN; ';
    expect(unsupportedSecurity(hashSign)).toBe(prefix + 'HASH needs HashAlgId, which the session reply did not carry');
    expect(unsupportedSecurity({ ...hashSign, hashAlgId: Calg.SHA_256 })).toBe(prefix + 'SignKey is neither a CryptoAPI PUBLICKEYBLOB nor a DER RSA public key');
    expect(unsupportedSecurity({ ...hashSign, server: { mode: Sec.SIGN }, hashAlgId: Calg.SHA_256 })).toBe(prefix + 'SIGN needs the SignKey, which the session reply did not carry');
    expect(unsupportedSecurity({ client: { mode: Sec.HASH }, server: { mode: Sec.HASH }, hashAlgId: Calg.SHA_256 })).toMatch(/HASH needs the SymKey, which the session reply did not carry/);
    expect(unsupportedSecurity({ client: { mode: Sec.HASH, key }, server: { mode: Sec.HASH, key }, hashAlgId: 0x8001 })).toMatch(/HashAlgId 0x8001 is not a hash this build knows/);
    expect(unsupportedSecurity({ client: { mode: Sec.HASH, key }, server: { mode: Sec.HASH, key }, hashAlgId: Calg.SHA_256, hmacAlgId: 0x8004 })).toMatch(/HMACAlgId 0x8004 is not CALG_HMAC/);
    expect(unsupportedSecurity({ client: { mode: Sec.SIGN, key }, server: { mode: Sec.HASH, key }, hashAlgId: Calg.SHA_256 })).toMatch(/client security SIGN and server security HASH; a client never signs/);
    expect(unsupportedSecurity({ client: { mode: Sec.NONE }, server: { mode: Sec.NONE } })).toMatch(/client security NONE and server security NONE/);
    expect(unsupportedSecurity({ client: { mode: Sec.CHECKSUM }, server: { mode: Sec.HASH, key } })).toMatch(/server security HASH/);
    expect(unsupportedSecurity({ client: { mode: 7 as never }, server: { mode: Sec.CHECKSUM } })).toMatch(/client security mode 0x7 is not one MS-WDSMSI defines/);
    expect(() => make({ session: { security: hashSign } })).toThrow(/HASH needs HashAlgId/);
  });

  it('accepts HASH both ways and SIGN from the server when the keys are present', () => {
    const sym = encodeSymKeyBlob(Buffer.alloc(24, 9));
    const { publicKey } = generateKeyPairSync('rsa', { modulusLength: 1024 });
    expect(unsupportedSecurity({ client: { mode: Sec.HASH, key: sym }, server: { mode: Sec.HASH, key: sym }, hashAlgId: Calg.SHA_256, hmacAlgId: Calg.HMAC })).toBeUndefined();
    expect(unsupportedSecurity({ client: { mode: Sec.HASH, key: sym }, server: { mode: Sec.SIGN, key: encodePublicKeyBlob(publicKey) }, hashAlgId: Calg.SHA1 })).toBeUndefined();
  });
});

describe('session initiators: a datagram one and a byte-stream one behind one type', () => {
  /** A toy stream initiator: sends the request once connected, answers once 4 length-prefixed bytes arrived. */
  class ToyStream implements StreamInitiator {
    readonly transport = 'stream' as const;
    readonly server = { address: '127.0.0.1', port: 5040 };
    result: StreamInitiator['result'];
    malformed = 0;
    private buf = Buffer.alloc(0);
    private out: Buffer[] = [];
    private done = false;
    constructor(private readonly session: SessionInfo) {}
    handleConnected(): void {
      this.out.push(Buffer.from('REQ'));
    }
    handleBytes(chunk: Buffer): void {
      this.buf = Buffer.concat([this.buf, chunk]);
      if (this.buf.length >= 4) {
        this.result = { ok: true, session: this.session };
        this.done = true;
      }
    }
    handleConnectFailed(_now: number, _why: 'refused' | 'unreachable', message: string): void {
      if (!this.result) this.result = { ok: false, kind: 'refused', message };
    }
    handleClosed(_now: number, error?: string): void {
      if (!this.result) this.result = { ok: false, kind: 'closed', message: error ?? 'closed' };
    }
    handleTimeout(): void {}
    pollTimeout(): number | undefined {
      return undefined;
    }
    pollSend(): Buffer | undefined {
      return this.out.shift();
    }
    pollClose(): boolean {
      return this.done;
    }
  }

  /** A driver that serves either kind, as the agent's would: the type says which calls apply. */
  function drive(init: SessionInitiator, peer: (sent: Buffer) => Buffer[]): SessionInfo | string {
    if (init.transport === 'datagram') {
      const d: DatagramInitiator = init;
      for (let tx = d.pollTransmit(); tx; tx = d.pollTransmit()) for (const b of peer(tx.data)) d.handleDatagram(b, tx.to, 1);
    } else {
      init.handleConnected(0);
      for (let out = init.pollSend(); out; out = init.pollSend()) for (const b of peer(out)) for (let i = 0; i < b.length; i++) init.handleBytes(b.subarray(i, i + 1), 1);
      if (!init.pollClose()) init.handleClosed(2);
    }
    const r = init.result;
    return !r ? 'pending' : r.ok ? r.session : r.message;
  }

  const session: SessionInfo = { sessionId: 5, multicast: { address: '239.0.0.111', port: 1 }, server: { address: '192.168.0.200', port: 2 }, contentSize: 10, blockSize: 4, totalBlocks: 3, security: UDP_SECURITY };
  const reply = encodeMsiReply({ multicastAddr: '239.0.0.111', serverAddr: '192.168.0.200', multicastPort: 1, serverPort: 2, contentSize: 10, blockSize: 4, totalBlocks: 3, sessionId: 5 });

  it('both end with the same SessionInfo; a stream closed early is a typed failure', () => {
    const udp = new MsiUdpInitiator({ server: { address: '127.0.0.1', port: 5041 }, namespace: 'WDS:x', content: 'x', mac: Buffer.alloc(6) }, 0);
    expect(drive(udp, () => [reply])).toEqual(session);
    expect(drive(new ToyStream(session), () => [Buffer.from([0, 0, 0, 4])])).toEqual(session);
    const cut = new ToyStream(session);
    expect(drive(cut, () => [Buffer.from([0, 0])])).toBe('closed');
    expect(cut.result).toEqual({ ok: false, kind: 'closed', message: 'closed' });
  });
});
