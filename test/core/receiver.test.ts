import { describe, expect, it } from 'vitest';
import { MaOp, encodeMa } from '../../core/codec/ma';
import { Op, Sec } from '../../core/codec/mt';
import { encodeMsiReply, decodeMsi } from '../../core/codec/msi';
import { BlockStore } from '../../core/block-store';
import { DatagramInitiator, MsiUdpInitiator, SessionInitiator, StreamInitiator } from '../../core/msi-client';
import { Receiver, ReceiverConfig } from '../../core/receiver';
import { SessionInfo, UDP_SECURITY, sessionFromMsiReply, unsupportedSecurity } from '../../core/session';
import { SERVER, SID, fixedRng, srv } from './helpers';

const BS = 4;
function make(o: { totalBlocks?: number; ringSlots?: number; session?: Partial<SessionInfo>; blockBase?: ReceiverConfig['blockBase'] } = {}) {
  const totalBlocks = o.totalBlocks ?? 4;
  const session: SessionInfo = { sessionId: SID, multicast: { address: '239.0.0.1', port: 5000 }, server: SERVER, contentSize: totalBlocks * BS, blockSize: BS, totalBlocks, ...o.session };
  const store = new BlockStore({ totalBlocks, blockSize: BS, contentSize: session.contentSize, ringSlots: o.ringSlots ?? 8 });
  const rx = new Receiver({ session, clientName: 'PC-01', localAddress: Buffer.from([10, 0, 0, 5]), macAddress: Buffer.alloc(6), store, blockBase: o.blockBase }, fixedRng(0.5), 0);
  rx.handleDatagram(srv({ op: Op.JOINACK, clientId: 7, minNackBackoff: 10, maxNackBackoff: 30, rtt: 0, clientTime: 0 }), 1);
  while (rx.pollTransmit());
  expect(rx.pollEvent()).toEqual({ type: 'joined', clientId: 7 });
  return { rx, store };
}
/** ODATA `seq` carrying MS-WDSMA DATA for block `n` (server numbering). */
const block = (seq: number, n: number, fill = n) => srv({ op: Op.ODATA, clientId: 99, seq, trailSeq: 1, data: encodeMa({ op: MaOp.DATA, blockNumber: n, data: Buffer.alloc(BS, fill) }) });
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
function events(rx: Receiver) {
  const out = [];
  for (let e = rx.pollEvent(); e; e = rx.pollEvent()) out.push(e.type);
  return out;
}

describe('Receiver.stats()', () => {
  it('reports blocks, bytes, duplicates, the numbering and MT counters, as a copy', () => {
    const { rx } = make();
    rx.handleDatagram(block(1, 1), 2);
    rx.handleDatagram(block(2, 2), 3);
    rx.handleDatagram(block(3, 2), 4); // same block again
    const s = rx.stats();
    expect(s).toMatchObject({ blocks: 2, duplicates: 1, bytes: 2 * BS, rounds: 0, base: 1, baseKnown: false, allOnDisk: false, complete: false, state: 'regular', dropped: 0, inactivityMs: 30_000 });
    expect(s.mt.odata).toBe(3);
    s.blocks = 99;
    s.mt.odata = 99;
    s.mt.malformed.truncated = 5;
    expect(rx.stats().blocks).toBe(2);
    expect(rx.stats().mt.odata).toBe(3);
    expect(rx.stats().mt.malformed).toEqual({});
  });

  it('counts every datagram it drops: malformed, wrong session, wrong security, bad MA blocks', () => {
    const { rx } = make();
    rx.handleDatagram(Buffer.from([1, 2, 3]), 2);
    rx.handleDatagram(srv({ op: Op.ODATA, clientId: 99, seq: 1, trailSeq: 1, data: Buffer.alloc(3) }, 1000, undefined, SID + 1), 3);
    rx.handleDatagram(srv({ op: Op.ODATA, clientId: 99, seq: 1, trailSeq: 1, data: Buffer.from([9, 9]) }), 4); // not an MA DATA packet
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
    const { rx, store } = make();
    for (let n = 1; n <= 4; n++) rx.handleDatagram(block(n, n), 1 + n); // block 4 = TotalBlocks proves 1-based
    expect(rx.stats().baseKnown).toBe(true);
    expect(events(rx)).toEqual([]);
    expect(writeAll(rx, store, 10)).toBeGreaterThan(0);
    expect(events(rx)).toEqual(['complete']);
    expect(rx.stats()).toMatchObject({ allOnDisk: true, complete: true, state: 'closed' });
  });

  it('releases the transport cache only after the write: without handleWritten the client sends Zero NACKs', () => {
    // ring of 2 blocks = MaxCacheSize of 2 MA DATA packets
    const run = (write: boolean) => {
      const { rx, store } = make({ totalBlocks: 8, ringSlots: 2 });
      for (let n = 1; n <= 8; n++) {
        rx.handleDatagram(block(n, n), 1 + n);
        if (write) writeAll(rx, store, 1 + n);
      }
      return rx.stats();
    };
    expect(run(true)).toMatchObject({ blocks: 8, mt: { zeroNacks: 0 } });
    const stuck = run(false);
    expect(stuck.blocks).toBe(2);
    expect(stuck.mt.zeroNacks).toBe(6);
  });

  it('blocks written by another source (HTTP, acct 0) complete the receive too', () => {
    const { rx, store } = make({ blockBase: 1 });
    for (let i = 0; i < 4; i++) expect(store.put(i, Buffer.alloc(BS, i), 0, BS, 0)).toBe('ok');
    writeAll(rx, store, 5);
    expect(events(rx)).toEqual(['complete']);
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

  it('refuses HASH, SIGN and NONE clearly, naming both modes; the Receiver will not start on them', () => {
    const key = Buffer.alloc(16, 1);
    const hashSign = { client: { mode: Sec.HASH, key }, server: { mode: Sec.SIGN, key: Buffer.alloc(64, 2) } };
    expect(unsupportedSecurity(hashSign)).toBe('the session uses client security HASH and server security SIGN; this build supports only CHECKSUM in both directions');
    expect(unsupportedSecurity({ client: { mode: Sec.NONE }, server: { mode: Sec.NONE } })).toMatch(/client security NONE and server security NONE/);
    expect(unsupportedSecurity({ client: { mode: Sec.CHECKSUM }, server: { mode: Sec.HASH, key } })).toMatch(/server security HASH/);
    expect(() => make({ session: { security: hashSign } })).toThrow(/supports only CHECKSUM/);
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
