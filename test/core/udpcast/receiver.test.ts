/**
 * core/udpcast/receiver.ts on a fake clock against the sender model (sender-model.ts, written from the notes) over
 * a fake network (net.ts): rendez-vous and connect retry, point-to-point and multicast transfers with loss and
 * varying slices completing byte-exact, RETRANSMIT maps, a whole missed slice, the end slice, wrong sources, the
 * async refusal, late joiners and ghosts, inactivity, being dropped, cancel, a full ring and ordered (pipe) output.
 */
import { describe, expect, it } from 'vitest';
import { MAP_BYTES, UdpMessage, decodeUdpcast, encodeUdpcast } from '../../../core/udpcast/codec';
import { BlockStore } from '../../../core/block-store';
import { DEFAULT_UDPCAST_PARAMS, UdpcastReceiver, udpcastFallbackCause } from '../../../core/udpcast/receiver';
import { BCAST, GROUP, Net, Node, P, SENDER_IP, image } from './net';

const BS = 1456;
const SENDER = { address: SENDER_IP, port: P + 1 };

function decoded(d: Buffer): UdpMessage {
  const r = decodeUdpcast(d);
  if (!r.ok) throw new Error(r.error.toString());
  return r.value;
}

/** Records what a node sends (decoded), leaving the traffic as it is. */
function tap(n: Node): UdpMessage[] {
  const seen: UdpMessage[] = [];
  const before = n.dropOut;
  n.dropOut = (d) => {
    seen.push(decoded(d));
    return before?.(d) ?? false;
  };
  return seen;
}

const done = (net: Net) => () => net.nodes.every((n) => n.has('closed'));

describe('UdpcastReceiver: whole transfers against the sender model', () => {
  it('one receiver: point-to-point, varying slices, short last block, byte-exact', () => {
    const data = image(112 * BS * 3 + 44 * BS + 640);
    const net = new Net({ data, sliceBlocks: (k) => (k < 3 ? 112 : 44) });
    let sent: UdpMessage[] = [];
    const a = net.add('10.77.0.11', {}, (n) => {
      sent = tap(n);
      // the sender goes point-to-point: nothing to the group, so the receiver needs no membership
      n.dropIn = (_d, to) => to.address === GROUP;
    });
    net.run(60_000, done(net));
    expect(sent.at(-1)).toEqual({ op: 'disconnect' });
    const c = a.event('connected')!;
    expect(c).toMatchObject({ sender: SENDER, client: 0, dataAddress: GROUP, blockSize: BS, pointToPoint: false });
    expect(a.event('complete')).toEqual({ type: 'complete', bytes: data.length });
    expect(a.written.equals(data)).toBe(true);
    const s = a.rx.stats();
    expect(s).toMatchObject({ state: 'closed', knownSlices: 5, endSlice: 5, totalBytes: data.length, bytes: data.length, retransmits: 0 });
    expect(net.sender.log.sliceSizes).toEqual([163072, 163072, 163072, 64064, 640, 0]);
    expect(a.events.map((e) => e.type)).toEqual(['hello', 'connected', 'started', 'complete', 'closed']);
  });

  it('three receivers, 5 % loss both ways on every link: all byte-exact, repaired by RETRANSMIT', () => {
    const data = image(700 * BS + 123);
    const net = new Net({ data, minReceivers: 3, sliceBlocks: (k) => 60 + ((k * 37) % 53) }, 5);
    const nodes = ['10.77.0.11', '10.77.0.12', '10.77.0.13'].map((ip) => net.add(ip));
    for (const n of nodes) n.lossIn = n.lossOut = 0.05;
    net.run(600_000, done(net));
    for (const n of nodes) {
      expect(n.event('complete')?.bytes).toBe(data.length);
      expect(n.written.equals(data)).toBe(true);
      expect(n.rx.stats().retransmits).toBeGreaterThan(0);
    }
    expect(net.sender.log.resent).toBeGreaterThan(0);
    expect(net.sender.log.dropped).toEqual([]);
  });

  it('random loss, slice sizes and receiver counts: never complete unless byte-exact', () => {
    for (let seed = 1; seed <= 12; seed++) {
      const r = (n: number) => ((seed * 7919 + n * 104729) % 1000) / 1000;
      const data = image(Math.floor(50 * BS + r(1) * 300 * BS), seed);
      const count = 1 + (seed % 3);
      const net = new Net({ data, minReceivers: count, sliceBlocks: (k) => 10 + Math.floor(r(k + 2) * 200), retriesUntilDrop: 200 }, seed);
      const nodes = Array.from({ length: count }, (_, i) => net.add(`10.77.0.${11 + i}`));
      for (const n of nodes) n.lossIn = n.lossOut = r(99) * 0.2;
      net.run(3_600_000, done(net));
      for (const n of nodes) {
        expect(n.has('complete'), `seed ${seed}: ${JSON.stringify(n.events.map((e) => e.type))}`).toBe(true);
        expect(n.written.equals(data), `seed ${seed}`).toBe(true);
      }
    }
  });

  it('a zero-byte image: the end slice is slice 0', () => {
    const net = new Net({ data: Buffer.alloc(0) });
    const a = net.add('10.77.0.11');
    net.run(10_000, done(net));
    expect(a.event('complete')).toEqual({ type: 'complete', bytes: 0 });
    expect(a.rx.stats()).toMatchObject({ endSlice: 0, totalBytes: 0 });
  });

  it('ignores FEC packets (counted) and completes by retransmission', () => {
    const data = image(300 * BS);
    const net = new Net({ data, fecPackets: 8, minReceivers: 2 }, 3);
    const nodes = [net.add('10.77.0.11'), net.add('10.77.0.12')];
    for (const n of nodes) n.lossIn = 0.03;
    net.run(600_000, done(net));
    for (const n of nodes) {
      expect(n.written.equals(data)).toBe(true);
      expect(n.rx.stats().fecIgnored).toBeGreaterThan(0);
    }
  });
});

describe('UdpcastReceiver: rendez-vous', () => {
  it('sends CONNECT_REQ to the rendez-vous address at once, then repeats it until answered', () => {
    const data = image(20 * BS);
    const net = new Net({ data, startDelayMs: 2000 }); // the sender starts 2 s after the last CONNECT_REQ (as --min-receivers)
    let lost = 0;
    let sent: UdpMessage[] = [];
    const a = net.add('10.77.0.11', {}, (n) => {
      n.dropIn = (d) => decoded(d).op === 'connect-reply' && lost++ < 3; // lose the first three CONNECT_REPLYs
      sent = tap(n);
    });
    net.run(60_000, done(net));
    expect(a.written.equals(data)).toBe(true);
    const reqs = sent.filter((m) => m.op === 'connect-req');
    expect(reqs.length).toBeGreaterThanOrEqual(4);
    expect(reqs[0]).toEqual({ op: 'connect-req', capabilities: 9, rcvbuf: DEFAULT_UDPCAST_PARAMS.rcvbuf });
    expect(a.rx.stats().connectReqs).toBe(reqs.length);
    expect(lost).toBe(reqs.length);
    // the sender registered the IP once: one client number for all its replies
    expect(a.event('connected')?.client).toBe(0);
  });

  it('the first CONNECT_REQ goes to rdvAddress:P+1, repeats every connectRetryMs, and gives up as no-sender', () => {
    const rx = new UdpcastReceiver({ openStore: (bs) => BlockStore.growable({ blockSize: bs, ringSlots: 8 }), localAddress: '10.77.0.11', rdvAddress: '224.0.0.1', portbase: P, params: { mcastTimeoutMs: 3000 } }, 1000);
    const first = rx.pollTransmit()!;
    expect(first.to).toEqual({ address: '224.0.0.1', port: P + 1 });
    expect(decoded(first.data)).toMatchObject({ op: 'connect-req' });
    const at: number[] = [];
    for (let t = rx.pollTimeout(); t !== undefined; t = rx.pollTimeout()) {
      rx.handleTimeout(t);
      for (let x = rx.pollTransmit(); x; x = rx.pollTransmit()) {
        expect(x.to).toEqual({ address: '224.0.0.1', port: P + 1 });
        at.push(t);
      }
    }
    expect(at).toEqual([1500, 2000, 2500, 3000, 3500]);
    const events = [rx.pollEvent(), rx.pollEvent(), rx.pollEvent()];
    expect(events).toEqual([{ type: 'failed', kind: 'no-sender', cause: 'no-reply' }, { type: 'closed' }, undefined]);
    // no sender was ever heard: nobody to DISCONNECT from
    expect(rx.pollTransmit()).toBeUndefined();
  });

  it('a HELLO makes the CONNECT_REQ unicast to the sender; CONNECT_REPLY opens the store with its block size', () => {
    let opened = 0;
    const rx = new UdpcastReceiver({ openStore: (bs) => ((opened = bs), BlockStore.growable({ blockSize: bs, ringSlots: 8 })), localAddress: '10.77.0.11', rdvAddress: BCAST, portbase: P }, 0);
    rx.pollTransmit();
    rx.handleDatagram(encodeUdpcast({ op: 'hello', opcode: 0x0500, capabilities: 9, dataAddress: GROUP, blockSize: 1000 }), SENDER, 10);
    expect(rx.pollEvent()).toEqual({ type: 'hello', sender: SENDER, dataAddress: GROUP, blockSize: 1000, capabilities: 9 });
    const req = rx.pollTransmit()!;
    expect(req.to).toEqual(SENDER);
    rx.handleTimeout(rx.pollTimeout()!);
    expect(rx.pollTransmit()!.to).toEqual(SENDER);
    expect(rx.store).toBeUndefined();
    rx.handleDatagram(encodeUdpcast({ op: 'connect-reply', client: 5, blockSize: 1000, capabilities: 9, dataAddress: '10.77.0.11' }), SENDER, 20);
    const c = rx.pollEvent();
    expect(c).toMatchObject({ type: 'connected', client: 5, blockSize: 1000, pointToPoint: true, dataAddress: '10.77.0.11' });
    expect(opened).toBe(1000);
    expect(rx.store?.cfg.blockSize).toBe(1000);
    // connected: no more CONNECT_REQ, and by default no time limit before the sender starts
    expect(rx.pollTimeout()).toBeUndefined();
  });

  it('refuses an async sender (HELLO capability 0x20): DISCONNECT, no CONNECT_REQ to it, no OK', () => {
    const net = new Net({ data: image(50 * BS), async: true });
    let sent: UdpMessage[] = [];
    const a = net.add('10.77.0.11', {}, (n) => (sent = tap(n)));
    net.run(60_000, done(net));
    expect(a.event('refused')).toEqual({ type: 'refused', reason: 'async', cause: 'no-session' });
    expect(a.events.map((e) => e.type)).toEqual(['refused', 'closed']);
    expect(sent.map((m) => m.op)).toEqual(['connect-req', 'disconnect']); // the first, broadcast one only
  });

  it('refuses a streaming HELLO, a full client table and a sender without BIG_ENDIAN', () => {
    const mk = () => {
      const rx = new UdpcastReceiver({ openStore: (bs) => BlockStore.growable({ blockSize: bs, ringSlots: 8 }), localAddress: '10.77.0.11', rdvAddress: BCAST, portbase: P }, 0);
      rx.pollTransmit();
      return rx;
    };
    const cases: [UdpMessage, string][] = [
      [{ op: 'hello', opcode: 11, capabilities: 9, dataAddress: GROUP, blockSize: BS }, 'streaming'],
      [{ op: 'connect-reply', client: -1, blockSize: BS, capabilities: 9, dataAddress: GROUP }, 'table-full'],
      [{ op: 'connect-reply', client: 0, blockSize: BS, capabilities: 0x11, dataAddress: GROUP }, 'no-big-endian'],
      [{ op: 'connect-reply', client: 0, blockSize: BS, capabilities: 0x29, dataAddress: GROUP }, 'async'],
    ];
    for (const [m, reason] of cases) {
      const rx = mk();
      rx.handleDatagram(encodeUdpcast(m), SENDER, 1);
      expect(rx.pollEvent()).toMatchObject({ type: 'refused', reason });
      expect(rx.pollEvent()).toEqual({ type: 'closed' });
      expect(decoded(rx.pollTransmit()!.data)).toEqual({ op: 'disconnect' });
      expect(rx.stats().state).toBe('closed');
    }
  });
});

describe('UdpcastReceiver: late joiners and ghosts', () => {
  it('a late joiner that heard nothing ends as no-sender at mcastTimeoutMs (the running sender never answers)', () => {
    const data = image(2000 * BS);
    const net = new Net({ data, sliceMs: 100 });
    const a = net.add('10.77.0.11');
    net.run(150, () => net.sender.phase === 'transfer');
    expect(net.sender.phase).toBe('transfer');
    const late = net.add('10.77.0.12', { mcastTimeoutMs: 1000 });
    const t0 = net.now;
    net.run(600_000, () => late.has('closed'));
    expect(late.event('failed')).toEqual({ type: 'failed', kind: 'no-sender', cause: 'no-reply' });
    expect(net.now - t0).toBe(1000);
    expect(net.sender.phase).toBe('transfer');
    expect(net.sender.log.lateIgnored).toBe(2); // at 0 and 500 ms: the one at 1000 ms is not sent (gave up first)
    expect(a.has('failed')).toBe(false);
  });

  it('a receiver that heard the HELLO but is never answered ends as late-join', () => {
    const net = new Net({ data: image(2000 * BS), helloEveryMs: 1000, minReceivers: 2, startDelayMs: 50 });
    const a = net.add('10.77.0.11');
    const b = net.add('10.77.0.12', { mcastTimeoutMs: 4000 }, (n) => (n.dropOut = (d) => decoded(d).op === 'connect-req')); // the sender never hears b
    net.run(10_000, () => b.has('closed'));
    expect(b.event('failed')).toEqual({ type: 'failed', kind: 'late-join', cause: 'no-session' });
    expect(a.has('connected')).toBe(true);
  });

  it('a ghost (its CONNECT_REPLYs lost) that sees the running transfer sends DISCONNECT at once, and the group goes on', () => {
    const data = image(600 * BS);
    const net = new Net({ data, minReceivers: 2, retriesUntilDrop: 200 });
    net.joinOnHello = true;
    let sent: UdpMessage[] = [];
    // the ghost hears the HELLO (it was up before the sender), the other receiver comes later
    const ghost = net.add('10.77.0.12', {}, (n) => {
      n.dropIn = (d) => decoded(d).op === 'connect-reply';
      sent = tap(n);
    });
    const a = net.add('10.77.0.11');
    net.run(600_000, done(net));
    expect(ghost.event('failed')).toEqual({ type: 'failed', kind: 'late-join', cause: 'no-session' });
    expect(sent.at(-1)).toEqual({ op: 'disconnect' });
    expect(net.sender.log.disconnected[0]).toBe(0); // the ghost, client #0
    expect(a.written.equals(data)).toBe(true);
    // without the DISCONNECT the sender would wait for the ghost ~200 rounds; it never dropped anyone
    expect(net.sender.log.dropped).toEqual([]);
    expect(net.now).toBeLessThan(10_000);
  });
});

describe('UdpcastReceiver: slices', () => {
  it('answers a REQACK with the have-map and the echoed round, OK once complete, nothing when its ready bit is set', () => {
    const rx = new UdpcastReceiver({ openStore: (bs) => BlockStore.growable({ blockSize: bs, ringSlots: 64 }), localAddress: '10.77.0.11', rdvAddress: BCAST, portbase: P }, 0);
    rx.pollTransmit();
    rx.handleDatagram(encodeUdpcast({ op: 'connect-reply', client: 9, blockSize: 100, capabilities: 9, dataAddress: GROUP }), SENDER, 1);
    const bytes = 10 * 100;
    const blk = (b: number) => encodeUdpcast({ op: 'data', slice: 0, block: b, sliceBytes: bytes, payload: Buffer.alloc(100, b) });
    for (const b of [0, 1, 2, 3, 7, 9]) rx.handleDatagram(blk(b), SENDER, 2);
    const ready = Buffer.alloc(MAP_BYTES);
    rx.handleDatagram(encodeUdpcast({ op: 'reqack', slice: 0, bytes, rxmit: 3, ready }), SENDER, 3);
    const rt = decoded(rx.pollTransmit()!.data);
    expect(rt).toEqual({ op: 'retransmit', slice: 0, rxmit: 3, map: Buffer.concat([Buffer.from([0x8f, 0x02]), Buffer.alloc(MAP_BYTES - 2)]) });
    for (const b of [4, 5, 6, 8]) rx.handleDatagram(blk(b), SENDER, 4);
    rx.handleDatagram(encodeUdpcast({ op: 'reqack', slice: 0, bytes, rxmit: 4, ready }), SENDER, 5);
    expect(decoded(rx.pollTransmit()!.data)).toEqual({ op: 'ok', slice: 0 });
    ready[1] = 0x02; // client 9 said OK
    rx.handleDatagram(encodeUdpcast({ op: 'reqack', slice: 0, bytes, rxmit: 5, ready }), SENDER, 6);
    expect(rx.pollTransmit()).toBeUndefined();
    // an old slice (already complete) is OK again when asked without our bit
    rx.handleDatagram(encodeUdpcast({ op: 'reqack', slice: 0, bytes, rxmit: 6, ready: Buffer.alloc(MAP_BYTES) }), SENDER, 7);
    expect(decoded(rx.pollTransmit()!.data)).toEqual({ op: 'ok', slice: 0 });
    expect(rx.store!.cfg).toMatchObject({ totalBlocks: 10, contentSize: 1000 });
  });

  it('survives a whole missed slice: holds the next one, asks for all of the missed one, completes', () => {
    const data = image(112 * BS * 5 + 17);
    const net = new Net({ data, minReceivers: 2 });
    let sent: UdpMessage[] = [];
    const a = net.add('10.77.0.11', {}, (n) => (sent = tap(n)));
    const b = net.add('10.77.0.12');
    // a misses every packet of slice 1 on its first transmission, and its REQACK round 0
    a.dropIn = (d) => {
      const m = decoded(d);
      return (m.op === 'data' || m.op === 'reqack') && m.slice === 1 && (m.op === 'data' ? net.sender.log.resent === 0 : m.rxmit === 0);
    };
    net.run(600_000, done(net));
    expect(a.written.equals(data)).toBe(true);
    expect(b.written.equals(data)).toBe(true);
    const s = a.rx.stats();
    expect(s.heldPlaced).toBeGreaterThan(0);
    const first = sent.find((m) => m.op === 'retransmit' && m.slice === 1);
    expect(first && first.op === 'retransmit' && first.map.every((x) => x === 0)).toBe(true);
  });

  it('a slice after a short one is a protocol failure, never a misplaced block', () => {
    const rx = new UdpcastReceiver({ openStore: (bs) => BlockStore.growable({ blockSize: bs, ringSlots: 64 }), localAddress: '10.77.0.11', rdvAddress: BCAST, portbase: P }, 0);
    rx.handleDatagram(encodeUdpcast({ op: 'connect-reply', client: 0, blockSize: 100, capabilities: 9, dataAddress: GROUP }), SENDER, 1);
    rx.handleDatagram(encodeUdpcast({ op: 'data', slice: 0, block: 0, sliceBytes: 150, payload: Buffer.alloc(100) }), SENDER, 2);
    rx.handleDatagram(encodeUdpcast({ op: 'data', slice: 1, block: 0, sliceBytes: 100, payload: Buffer.alloc(100) }), SENDER, 3);
    const ev: unknown[] = [];
    for (let e = rx.pollEvent(); e; e = rx.pollEvent()) ev.push(e);
    expect(ev).toContainEqual({ type: 'failed', kind: 'protocol', cause: 'kick-fallback' });
  });

  it('drops DATA that does not fit its slice, or contradicts a known slice size', () => {
    const rx = new UdpcastReceiver({ openStore: (bs) => BlockStore.growable({ blockSize: bs, ringSlots: 64 }), localAddress: '10.77.0.11', rdvAddress: BCAST, portbase: P }, 0);
    rx.handleDatagram(encodeUdpcast({ op: 'connect-reply', client: 0, blockSize: 100, capabilities: 9, dataAddress: GROUP }), SENDER, 1);
    const d = (block: number, sliceBytes: number, len: number) => rx.handleDatagram(encodeUdpcast({ op: 'data', slice: 0, block, sliceBytes, payload: Buffer.alloc(len) }), SENDER, 2);
    d(0, 250, 100); // ok
    d(3, 250, 100); // block 3 of a 3-block slice
    d(1, 300, 100); // another size for slice 0
    d(2, 250, 40); // the last block needs 50 bytes
    d(2, 250, 100); // longer than needed: the first 50 are taken
    d(0, 0, 100); // an empty slice's DATA
    expect(rx.stats().drops.badBlock).toBe(4);
    expect(rx.stats().bytes).toBe(150);
  });
});

describe('UdpcastReceiver: ends', () => {
  it('complete only once the end slice was seen and every block is on disk; DISCONNECT after the linger', () => {
    const data = image(40 * BS + 3);
    const net = new Net({ data });
    const a = net.add('10.77.0.11', { lingerMs: 500 });
    a.diskOpen = false;
    const sent = tap(a);
    net.run(60_000, () => net.sender.phase === 'done');
    // everything received and acknowledged (the sender is done), but nothing written yet
    expect(a.has('complete')).toBe(false);
    expect(sent.filter((m) => m.op === 'ok').length).toBeGreaterThan(0);
    expect(a.rx.stats().state).toBe('linger');
    net.run(net.now + 2000);
    expect(a.has('closed')).toBe(false); // waits for the disk (no inactivity failure after the end)
    a.diskOpen = true;
    a.pump(net.now);
    net.flush();
    expect(a.event('complete')?.bytes).toBe(data.length);
    expect(a.has('closed')).toBe(true);
    expect(sent.at(-1)).toEqual({ op: 'disconnect' });
    expect(a.written.equals(data)).toBe(true);
  });

  it('lingering after complete, a REQACK beyond the end slice is ignored: the success stays a success (found by npm run fuzz)', () => {
    const rx = new UdpcastReceiver({ openStore: (bs) => BlockStore.growable({ blockSize: bs, ringSlots: 1 }), localAddress: '10.77.0.11', rdvAddress: BCAST, portbase: P }, 0);
    rx.handleDatagram(encodeUdpcast({ op: 'connect-reply', client: 9, blockSize: 100, capabilities: 9, dataAddress: GROUP }), SENDER, 0);
    // the shrunk counterexample: slice 2 announced empty (our ready bit set), slice 0 the end of a 0-byte image,
    // then slice 2 again without our bit
    const ours = Buffer.alloc(MAP_BYTES);
    ours[1] = 0x02; // client 9
    rx.handleDatagram(encodeUdpcast({ op: 'reqack', slice: 2, bytes: 0, rxmit: 0, ready: ours }), SENDER, 0);
    rx.handleDatagram(encodeUdpcast({ op: 'reqack', slice: 0, bytes: 0, rxmit: 0, ready: Buffer.alloc(MAP_BYTES) }), SENDER, 0);
    rx.handleDatagram(encodeUdpcast({ op: 'reqack', slice: 2, bytes: 0, rxmit: 0, ready: Buffer.alloc(MAP_BYTES) }), SENDER, 0);
    const events: string[] = [];
    for (let e = rx.pollEvent(); e; e = rx.pollEvent()) events.push(e.type);
    expect(events).toContain('complete');
    expect(events).not.toContain('failed');
    expect(rx.stats().state).toBe('linger');
  });

  it('re-answers the end REQACK while lingering when its OK was lost; the sender then finishes', () => {
    const data = image(30 * BS + 1);
    const net = new Net({ data });
    let endOks = 0;
    let sent: UdpMessage[] = [];
    net.add('10.77.0.11', { lingerMs: 500 }, (n) => {
      sent = tap(n);
      const tapped = n.dropOut!;
      n.dropOut = (d) => {
        tapped(d);
        const m = decoded(d);
        return m.op === 'ok' && m.slice === 1 && endOks++ === 0; // the first OK of the end slice (slice 1) is lost
      };
    });
    net.run(60_000, done(net));
    expect(net.sender.phase).toBe('done');
    expect(sent.filter((m) => m.op === 'ok' && m.slice === 1).length).toBe(2);
    expect(sent.at(-1)).toEqual({ op: 'disconnect' });
  });

  it('startTimeoutMs: connected, but the sender never starts: inactivity; mcastTimeoutMs Infinity: never gives up connecting', () => {
    const mk = (params: Partial<typeof DEFAULT_UDPCAST_PARAMS>) => new UdpcastReceiver({ openStore: (bs) => BlockStore.growable({ blockSize: bs, ringSlots: 8 }), localAddress: '10.77.0.11', rdvAddress: BCAST, portbase: P, params }, 0);
    const rx = mk({ startTimeoutMs: 10_000 });
    rx.handleDatagram(encodeUdpcast({ op: 'connect-reply', client: 0, blockSize: BS, capabilities: 9, dataAddress: GROUP }), SENDER, 100);
    expect(rx.pollTimeout()).toBe(10_100);
    rx.handleTimeout(10_100);
    expect(rx.pollEvent()?.type).toBe('connected');
    expect(rx.pollEvent()).toEqual({ type: 'failed', kind: 'inactivity', cause: 'inactivity' });
    expect(rx.pollEvent()).toEqual({ type: 'closed' });
    const patient = mk({ mcastTimeoutMs: Number.POSITIVE_INFINITY });
    for (let t = 500; t <= 3_600_000; t += 500) {
      expect(patient.pollTimeout()).toBe(t);
      patient.handleTimeout(t);
    }
    expect(patient.pollEvent()).toBeUndefined();
    expect(patient.stats().connectReqs).toBe(7201);
  });

  it('inactivity: a sender killed mid-transfer ends as inactivity after inactivityMs, with DISCONNECT', () => {
    const data = image(3000 * BS);
    const net = new Net({ data, sliceMs: 20 });
    const a = net.add('10.77.0.11', { inactivityMs: 30_000 });
    let killed = false;
    let last = 0;
    a.dropIn = () => {
      if (killed) return true;
      last = net.now;
      return false;
    };
    net.run(100_000, () => a.rx.stats().bytes > 500 * BS && (killed = true));
    const sent = tap(a);
    net.run(1_000_000, () => a.has('closed'));
    expect(a.event('failed')).toEqual({ type: 'failed', kind: 'inactivity', cause: 'inactivity' });
    expect(net.now - last).toBe(30_000);
    expect(sent.at(-1)).toEqual({ op: 'disconnect' });
    expect(a.has('complete')).toBe(false);
  });

  it('dropped by the sender (mute receiver): fails as dropped when the sender moves two slices on', () => {
    const data = image(112 * BS * 8);
    const net = new Net({ data, minReceivers: 2, retriesUntilDrop: 5 });
    const a = net.add('10.77.0.11');
    const b = net.add('10.77.0.12');
    let mute = false;
    b.dropOut = (d) => mute && decoded(d).op !== 'disconnect';
    b.dropIn = (d) => {
      const m = decoded(d);
      if (m.op === 'data' && m.slice === 2 && m.block === 5) mute = true;
      return mute && m.op === 'data' && m.slice === 2 && m.block === 5;
    };
    net.run(600_000, done(net));
    expect(b.event('failed')).toEqual({ type: 'failed', kind: 'dropped', cause: 'kick-fallback' });
    expect(net.sender.log.dropped).toEqual([1]);
    expect(a.written.equals(data)).toBe(true);
    expect(b.has('complete')).toBe(false);
  });

  it('cancel: DISCONNECT to the sender, which removes us at once; nothing after', () => {
    const data = image(3000 * BS);
    const net = new Net({ data, minReceivers: 2, sliceMs: 20 });
    const a = net.add('10.77.0.11');
    const b = net.add('10.77.0.12');
    net.run(100_000, () => b.rx.stats().bytes > 200 * BS);
    const sent = tap(b);
    b.rx.cancel(net.now);
    net.flush();
    expect(sent).toEqual([{ op: 'disconnect' }]);
    expect(b.events.at(-1)).toEqual({ type: 'closed' });
    expect(net.sender.log.disconnected).toEqual([1]);
    expect(b.rx.pollTimeout()).toBeUndefined();
    net.run(600_000, done(net));
    expect(a.written.equals(data)).toBe(true);
    expect(sent).toEqual([{ op: 'disconnect' }]);
  });
});

describe('UdpcastReceiver: sources and store', () => {
  it('drops packets not from the sender address and port P+1 (drops.wrongSource), malformed ones by code', () => {
    const rx = new UdpcastReceiver({ openStore: (bs) => BlockStore.growable({ blockSize: bs, ringSlots: 64 }), localAddress: '10.77.0.11', rdvAddress: BCAST, portbase: P }, 0);
    const hello = encodeUdpcast({ op: 'hello', opcode: 0x0500, capabilities: 9, dataAddress: GROUP, blockSize: 100 });
    rx.handleDatagram(hello, { address: SENDER_IP, port: 12345 }, 1); // not from P+1
    expect(rx.pollEvent()).toBeUndefined();
    rx.handleDatagram(encodeUdpcast({ op: 'connect-reply', client: 0, blockSize: 100, capabilities: 9, dataAddress: GROUP }), SENDER, 2);
    const data = encodeUdpcast({ op: 'data', slice: 0, block: 0, sliceBytes: 200, payload: Buffer.alloc(100, 1) });
    rx.handleDatagram(data, { address: '10.77.0.66', port: P + 1 }, 3);
    rx.handleDatagram(data, { address: SENDER_IP, port: P }, 3);
    rx.handleDatagram(Buffer.from('0008', 'hex'), SENDER, 4);
    rx.handleDatagram(Buffer.from('00630000', 'hex'), SENDER, 4);
    rx.handleDatagram(encodeUdpcast({ op: 'ok', slice: 0 }), SENDER, 4);
    const s = rx.stats();
    expect(s.drops).toEqual({ wrongSource: 3, malformed: { truncated: 1, 'unknown-opcode': 1 }, foreign: 1, badBlock: 0, full: 0 });
    expect(s.dropped).toBe(6);
    expect(s.bytes).toBe(0);
    // an IPv4-mapped address from a dual-stack socket is the same sender
    rx.handleDatagram(data, { address: `::ffff:${SENDER_IP}`, port: P + 1 }, 5);
    expect(rx.stats().bytes).toBe(100);
  });

  it('a small ring and a slow disk: blocks without a slot stay missing and come again; byte-exact', () => {
    const data = image(900 * BS + 5);
    const net = new Net({ data }, 9);
    let tick = 0;
    const a = net.add(
      '10.77.0.11',
      {},
      (n) => {
        const pump = n.pump.bind(n);
        n.pump = (now) => {
          n.diskOpen = tick++ % 60 === 0;
          pump(now);
        };
      },
      24,
    );
    net.run(3_600_000, done(net));
    // everything received and acknowledged; what is left in the ring goes to disk when the disk is next ready
    expect(a.rx.stats().state).toBe('linger');
    expect(a.has('complete')).toBe(false);
    tick = 0;
    a.pump(net.now);
    net.flush();
    expect(a.has('closed')).toBe(true);
    expect(a.written.equals(data)).toBe(true);
    expect(a.rx.stats().drops.full).toBeGreaterThan(0);
  });

  it('ordered output (a pipe): writes in file order only, with loss and a small ring; byte-exact', () => {
    const data = image(800 * BS + 99);
    const net = new Net({ data, sliceBlocks: (k) => 30 + ((k * 13) % 90) }, 4);
    const a = net.add('10.77.0.11', {}, (n) => (n.lossIn = 0.08), 40, true);
    net.run(3_600_000, done(net));
    expect(a.written.equals(data)).toBe(true);
    expect(a.rx.stats().drops.full).toBeGreaterThan(0);
  });

  it('maps every failure and refusal to a fallback cause', () => {
    const kinds = ['no-sender', 'late-join', 'inactivity', 'dropped', 'protocol', 'async', 'streaming', 'table-full', 'no-big-endian'] as const;
    expect(kinds.map(udpcastFallbackCause)).toEqual(['no-reply', 'no-session', 'inactivity', 'kick-fallback', 'kick-fallback', 'no-session', 'no-session', 'no-session', 'no-session']);
  });
});
