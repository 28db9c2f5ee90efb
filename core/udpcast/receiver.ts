/**
 * One receive from a stock udp-sender (udpcast 20120424), sans-I/O: rendez-vous, CONNECT_REQ until answered,
 * slices that grow the block store, OK / RETRANSMIT answers to REQACK, the end slice, DISCONNECT.
 * Wire facts: ../shared/notes/udpcast-protocol.md; the choices where they are silent: docs/protocol-notes.md #60-.
 *
 * Contract (the quinn-proto `Connection` style of core/receiver.ts):
 * - `new UdpcastReceiver(cfg, now)` queues the first CONNECT_REQ (to `cfg.rdvAddress`:P+1).
 * - Inputs: `handleDatagram(buf, from, now)` for every datagram on the socket bound to port P, whichever address
 *   it was sent to (broadcast, the rendez-vous group, the data group or our unicast address: point-to-point);
 *   `handleTimeout(now)` once `now >= pollTimeout()`; `handleWritten(now)` after `store.writeDone` (whoever
 *   wrote); `cancel(now)` to give up (DISCONNECT to the sender, then `closed`).
 * - Outputs, drained after every input: `pollTransmit()` (every datagram goes out from port P), `pollEvent()`,
 *   `pollTimeout()`; `stats()` is a copy of the counters.
 * - The block store is made when the sender announces the block size (CONNECT_REPLY): `cfg.openStore(blockSize)`
 *   returns it (typically `BlockStore.growable(...)`), and the `connected` event carries it. The receiver grows it
 *   slice by slice (`store.grow`); writes go the store's one way: `store.takeWrite()` → write →
 *   `store.writeDone(job)` → `handleWritten(now)`. With an ordered store (`--out -`) the receiver accepts only
 *   blocks that fit the ring in file order, so the next block to write always finds a slot.
 * - `complete` comes once the end of the transfer (REQACK with 0 bytes) was seen and every block of every earlier
 *   slice is on disk; the receiver then lingers (re-answering REQACKs whose OK was lost), sends DISCONNECT and
 *   emits `closed`. A `failed` event is followed by DISCONNECT (when a sender is known) and `closed`.
 * Time is milliseconds on one monotonic clock, the same for every call.
 */
import { BlockStore } from '../block-store';
import { Endpoint, Transmit } from '../mt-client';
import { FallbackCause } from '../outcome';
import { Outbox } from '../outbox';
import { Timers } from '../timers';
import { MAP_BYTES, RECEIVER_CAPS, UdpCap, UdpMessage, UdpOp, decodeUdpcast, encodeUdpcast } from './codec';

export interface UdpcastParams {
  /** CONNECT_REQ is repeated this often until CONNECT_REPLY (ms); udp-receiver repeats only on a new HELLO. */
  connectRetryMs: number;
  /** No CONNECT_REPLY within this of the start (ms): failed `no-sender`, or `late-join` when the sender was heard. */
  mcastTimeoutMs: number;
  /** Once data flowed: no packet from the sender for this long (ms) is failed `inactivity`. */
  inactivityMs: number;
  /** Connected, no data yet: how long to wait for the sender's start rule (ms); Infinity waits (udp-receiver does). */
  startTimeoutMs: number;
  /** After the end slice's OK: re-answer REQACKs this long (ms), then DISCONNECT (udp-receiver's --exit-wait). */
  lingerMs: number;
  /** Bytes of one slice held while its offset is unknown (a whole earlier slice was missed). */
  holdBytes: number;
  /** The SO_RCVBUF announced in CONNECT_REQ (informational for the sender). */
  rcvbuf: number;
}

export const DEFAULT_UDPCAST_PARAMS: UdpcastParams = {
  connectRetryMs: 500,
  mcastTimeoutMs: 30_000,
  inactivityMs: 30_000,
  startTimeoutMs: Number.POSITIVE_INFINITY,
  lingerMs: 500,
  holdBytes: 16 * 1024 * 1024,
  rcvbuf: 32 * 1024 * 1024,
};

export interface UdpcastConfig {
  /** Makes the store once the block size is known (CONNECT_REPLY); `BlockStore.growable` for a new receive. */
  openStore(blockSize: number): BlockStore;
  /** Our IPv4 address on the interface (point-to-point data comes to it; a sender that names it is point-to-point). */
  localAddress: string;
  /** Where CONNECT_REQ goes before the sender is known: the subnet broadcast, a multicast group, or the sender's IP. */
  rdvAddress: string;
  /** P: we receive on P, the sender on P+1. Even. */
  portbase: number;
  params?: Partial<UdpcastParams>;
}

/**
 * Why a udpcast receive failed. `no-sender`: no CONNECT_REPLY and no HELLO; `late-join`: the sender was heard (a
 * HELLO, or data of a running transfer) but never answered our CONNECT_REQ; `inactivity`: nothing from the sender
 * for inactivityMs once data flowed, or for startTimeoutMs after connecting; `dropped`: the sender went on to a
 * slice it sends only after everybody acknowledged one we miss (it dropped us: protocol-notes #61);
 * `protocol`: the sender's slices cannot be laid out (a short slice before another one, a bad block size).
 */
export type UdpcastFailure = 'no-sender' | 'late-join' | 'inactivity' | 'dropped' | 'protocol';

/**
 * Why the sender's offer is refused: `async` (capability 0x20: receivers must stay silent, no repair),
 * `streaming` (a HELLO_STREAMING sender), `table-full` (CONNECT_REPLY client −1), `no-big-endian` (capability 0x08
 * missing: another byte order).
 */
export type UdpcastRefusal = 'async' | 'streaming' | 'table-full' | 'no-big-endian';

/** The fallback cause (core/outcome.ts) of each failure: what MulticastPolicy-style callers decide on. */
export function udpcastFallbackCause(f: UdpcastFailure | UdpcastRefusal): FallbackCause {
  switch (f) {
    case 'no-sender':
      return 'no-reply';
    case 'late-join':
    case 'async':
    case 'streaming':
    case 'table-full':
    case 'no-big-endian':
      return 'no-session';
    case 'inactivity':
      return 'inactivity';
    case 'dropped':
    case 'protocol':
      return 'kick-fallback';
  }
}

export type UdpcastEvent =
  /** The first HELLO: a sender on the rendez-vous address (joining `dataAddress` now is optional: see late-join). */
  | { type: 'hello'; sender: Endpoint; dataAddress: string; blockSize: number; capabilities: number }
  /** CONNECT_REPLY: join `dataAddress` (unless `pointToPoint`: the sender named our own address). */
  | { type: 'connected'; sender: Endpoint; client: number; dataAddress: string; blockSize: number; capabilities: number; pointToPoint: boolean; store: BlockStore }
  /** The first DATA or REQACK after connecting (the transfer runs; the inactivity timer is armed from here). */
  | { type: 'started' }
  /** The sender is not one we can receive from; DISCONNECT and `closed` follow. */
  | { type: 'refused'; reason: UdpcastRefusal; cause: FallbackCause }
  /** The end slice was seen and every byte is on disk. */
  | { type: 'complete'; bytes: number }
  | { type: 'failed'; kind: UdpcastFailure; cause: FallbackCause }
  /** Nothing more to send or wait for (after complete + linger, a failure, a refusal or cancel). */
  | { type: 'closed' };

/** Datagrams dropped, by reason. */
export interface UdpcastDrops {
  /** Not from the sender's address and port P+1 (or, before it is known, not from port P+1). */
  wrongSource: number;
  /** Malformed, by DecodeError code. */
  malformed: Partial<Record<string, number>>;
  /** Messages a receiver never gets (OK, RETRANSMIT, CONNECT_REQ, GO, DISCONNECT: another receiver's). */
  foreign: number;
  /** DATA whose block number or length does not fit its slice. */
  badBlock: number;
  /** DATA the ring (or, for an unplaced slice, the hold) had no room for: asked for again by RETRANSMIT. */
  full: number;
}

export interface UdpcastStats {
  state: 'connecting' | 'connected' | 'receiving' | 'linger' | 'closed';
  sender: Endpoint | undefined;
  client: number;
  blockSize: number;
  /** Slices whose size and place are known (0..knownSlices-1); the store spans exactly them. */
  knownSlices: number;
  /** The end slice's number once its REQACK was seen. */
  endSlice: number | undefined;
  /** Bytes of the image known so far (the sum of the known slices), and total once the end is seen. */
  knownBytes: number;
  totalBytes: number | undefined;
  /** Payload bytes of new blocks accepted. */
  bytes: number;
  dataPackets: number;
  duplicates: number;
  fecIgnored: number;
  reqacks: number;
  oks: number;
  retransmits: number;
  connectReqs: number;
  /** Blocks of a slice held while its offset was unknown, later placed. */
  heldPlaced: number;
  dropped: number;
  drops: UdpcastDrops;
}

/** udpcast's limit on blocks per slice (the 128-byte maps). */
const MAX_SLICE_BLOCKS = MAP_BYTES * 8;

/** In the order they fire when due at once: giving up before one more CONNECT_REQ. */
type TimerName = 'giveUp' | 'inactivity' | 'linger' | 'connect';

/** A slice seen before its offset is known (the slice before it was missed entirely): its blocks, copied. */
interface Hold {
  slice: number;
  bytes: number;
  blocks: Map<number, Buffer>;
  held: number;
}

export class UdpcastReceiver {
  private readonly p: UdpcastParams;
  private readonly senderPort: number;
  private readonly out = new Outbox<Transmit>();
  private readonly events: UdpcastEvent[] = [];
  private readonly timers = new Timers<TimerName>(['giveUp', 'inactivity', 'linger', 'connect']);
  private st: UdpcastStats['state'] = 'connecting';
  /** The sender heard in a HELLO (before CONNECT_REPLY), then the one that answered. */
  private heard: Endpoint | undefined;
  private sender: Endpoint | undefined;
  private client = -1;
  private blockSize = 0;
  private s: BlockStore | undefined;
  /** Placed slices 0..start.length-1: first block of each; sizes of placed and seen slices. */
  private readonly start: number[] = [];
  private readonly got: number[] = [];
  private readonly sizes = new Map<number, number>();
  private placedBytes = 0;
  /** The lowest slice not yet wholly received. */
  private low = 0;
  private hold: Hold | undefined;
  private endSlice: number | undefined;
  private endOk = false;
  private completed = false;
  private readonly c = {
    bytes: 0,
    dataPackets: 0,
    duplicates: 0,
    fecIgnored: 0,
    reqacks: 0,
    oks: 0,
    retransmits: 0,
    connectReqs: 0,
    heldPlaced: 0,
  };
  private readonly drops: UdpcastDrops = { wrongSource: 0, malformed: {}, foreign: 0, badBlock: 0, full: 0 };

  constructor(
    private readonly cfg: UdpcastConfig,
    now: number,
  ) {
    this.p = { ...DEFAULT_UDPCAST_PARAMS, ...cfg.params };
    this.senderPort = cfg.portbase + 1;
    this.connectReq({ address: cfg.rdvAddress, port: this.senderPort });
    this.timers.arm('connect', now + this.p.connectRetryMs);
    this.timers.arm('giveUp', now + this.p.mcastTimeoutMs);
  }

  /** The store, once connected (undefined before CONNECT_REPLY). */
  get store(): BlockStore | undefined {
    return this.s;
  }

  /** A datagram received on port P from `from` (any destination: broadcast, group, unicast). */
  handleDatagram(buf: Buffer, from: Endpoint, now: number): void {
    if (this.st === 'closed') return;
    const known = this.sender;
    if (known ? from.port !== known.port || !sameAddress(from.address, known.address) : from.port !== this.senderPort) {
      this.drops.wrongSource++;
      return;
    }
    const r = decodeUdpcast(buf);
    if (!r.ok) {
      const code = r.error.code;
      this.drops.malformed[code] = (this.drops.malformed[code] ?? 0) + 1;
      return;
    }
    const m = r.value;
    switch (m.op) {
      case 'ok':
      case 'retransmit':
      case 'go':
      case 'connect-req':
      case 'disconnect':
        this.drops.foreign++;
        return;
      case 'hello':
        return this.onHello(m, from, now);
      case 'connect-reply':
        return this.onReply(m, from, now);
    }
    // DATA, FEC, REQACK: the transfer runs.
    if (!known) {
      if (this.heard && !sameAddress(from.address, this.heard.address)) {
        this.drops.wrongSource++;
        return;
      }
      // Not connected, yet a transfer runs: we are late (or a ghost whose CONNECT_REPLY was lost): DISCONNECT
      // removes a ghost at once (protocol-notes #62).
      this.heard ??= { address: from.address, port: from.port };
      return this.fail('late-join');
    }
    if (this.st === 'connected') {
      this.st = 'receiving';
      this.events.push({ type: 'started' });
    }
    if (!this.endOk) this.timers.arm('inactivity', now + this.p.inactivityMs);
    if (m.op === 'data') this.onData(m);
    else if (m.op === 'reqack') this.onReqack(m, now);
    else this.c.fecIgnored++;
  }

  handleTimeout(now: number): void {
    for (let f = this.timers.popExpired(now); f; f = this.timers.popExpired(now)) {
      if (this.st === 'closed') return;
      switch (f.name) {
        case 'connect':
          this.connectReq(this.heard ?? { address: this.cfg.rdvAddress, port: this.senderPort });
          this.timers.arm('connect', now + this.p.connectRetryMs);
          break;
        case 'giveUp':
          if (this.st === 'connecting') this.fail(this.heard ? 'late-join' : 'no-sender');
          else if (this.st === 'connected') this.fail('inactivity');
          break;
        case 'inactivity':
          this.fail('inactivity');
          break;
        case 'linger':
          this.maybeClose();
          break;
      }
    }
  }

  /** Blocks of the store were written (`store.writeDone`). */
  handleWritten(now: number): void {
    void now;
    this.s?.takeReleased();
    this.checkComplete();
  }

  /** Give up (Ctrl-C, --timeout, a disk error, an HTTP fallback): DISCONNECT to the sender if known, then `closed`. */
  cancel(now: number): void {
    void now;
    if (this.st !== 'closed') this.close();
  }

  pollTransmit(): Transmit | undefined {
    return this.out.poll();
  }
  pollTimeout(): number | undefined {
    return this.st === 'closed' ? undefined : this.timers.next();
  }
  pollEvent(): UdpcastEvent | undefined {
    return this.events.shift();
  }

  stats(): UdpcastStats {
    const malformed = Object.values(this.drops.malformed).reduce<number>((a, b) => a + (b ?? 0), 0);
    return {
      state: this.st,
      sender: this.sender ? { ...this.sender } : undefined,
      client: this.client,
      blockSize: this.blockSize,
      knownSlices: this.start.length,
      endSlice: this.endSlice,
      knownBytes: this.placedBytes,
      totalBytes: this.endSlice !== undefined && this.start.length >= this.endSlice ? this.placedBytes : undefined,
      ...this.c,
      dropped: this.drops.wrongSource + malformed + this.drops.foreign + this.drops.badBlock,
      drops: { ...this.drops, malformed: { ...this.drops.malformed } },
    };
  }

  // -------------------------------------------------------------------------------------------------------------
  // Rendez-vous
  // -------------------------------------------------------------------------------------------------------------

  private connectReq(to: Endpoint): void {
    this.c.connectReqs++;
    this.send(to, { op: 'connect-req', capabilities: RECEIVER_CAPS, rcvbuf: this.p.rcvbuf });
  }

  private onHello(m: Extract<UdpMessage, { op: 'hello' }>, from: Endpoint, now: number): void {
    if (this.st !== 'connecting') return; // --autostart repeats HELLO; nothing to do once connected
    if (this.heard && !sameAddress(from.address, this.heard.address)) return; // a second sender: the first one heard is ours
    const first = !this.heard;
    this.heard = { address: from.address, port: from.port };
    if (m.opcode === UdpOp.HELLO_STREAMING) return this.refuse('streaming');
    if (m.capabilities & UdpCap.ASYNC) return this.refuse('async');
    if (first) this.events.push({ type: 'hello', sender: { ...this.heard }, dataAddress: m.dataAddress, blockSize: m.blockSize, capabilities: m.capabilities });
    // As udp-receiver: a unicast CONNECT_REQ for each HELLO; ours also repeat on the connect timer.
    this.connectReq(this.heard);
    this.timers.arm('connect', now + this.p.connectRetryMs);
  }

  private onReply(m: Extract<UdpMessage, { op: 'connect-reply' }>, from: Endpoint, now: number): void {
    if (this.st !== 'connecting') return; // the answer to a repeated CONNECT_REQ: same client number
    this.heard = { address: from.address, port: from.port };
    if (m.client < 0) return this.refuse('table-full');
    if (m.capabilities & UdpCap.ASYNC) return this.refuse('async');
    if (!(m.capabilities & UdpCap.BIG_ENDIAN)) return this.refuse('no-big-endian');
    if (m.blockSize <= 0 || m.blockSize > 65535) {
      this.sender = this.heard;
      return this.fail('protocol');
    }
    this.sender = this.heard;
    this.client = m.client;
    this.blockSize = m.blockSize;
    this.s = this.cfg.openStore(m.blockSize);
    this.st = 'connected';
    this.timers.disarm('connect');
    if (Number.isFinite(this.p.startTimeoutMs)) this.timers.arm('giveUp', now + this.p.startTimeoutMs);
    else this.timers.disarm('giveUp');
    this.events.push({
      type: 'connected',
      sender: { ...this.sender },
      client: m.client,
      dataAddress: m.dataAddress,
      blockSize: m.blockSize,
      capabilities: m.capabilities,
      pointToPoint: m.dataAddress === this.cfg.localAddress,
      store: this.s,
    });
  }

  // -------------------------------------------------------------------------------------------------------------
  // Slices
  // -------------------------------------------------------------------------------------------------------------

  private blocksOf(bytes: number): number {
    return Math.ceil(bytes / this.blockSize);
  }

  /** A size for slice `n` from a DATA or REQACK: false when it contradicts what is known (the packet is dropped). */
  private learn(n: number, bytes: number): boolean {
    const had = this.sizes.get(n);
    if (had !== undefined) return had === bytes;
    if (bytes > MAX_SLICE_BLOCKS * this.blockSize) return false;
    if (this.endSlice !== undefined && n >= this.endSlice) return false;
    this.sizes.set(n, bytes);
    this.place();
    return true;
  }

  /** Places every slice whose predecessors are all placed: the store grows by them. */
  private place(): void {
    const store = this.s!;
    for (let n = this.start.length; this.sizes.has(n); n = this.start.length) {
      const bytes = this.sizes.get(n)!;
      if (bytes === 0) {
        this.endSlice = n;
        break;
      }
      if (store.cfg.contentSize % this.blockSize !== 0) {
        // Only the last block of the last slice may be short: a slice after a short one has no offset.
        this.fail('protocol');
        return;
      }
      this.start.push(store.cfg.totalBlocks);
      this.got.push(0);
      this.placedBytes += bytes;
      store.grow(store.cfg.totalBlocks + this.blocksOf(bytes), this.placedBytes);
      const h = this.hold;
      if (h && h.slice === n) {
        this.hold = undefined;
        for (const [b, payload] of h.blocks) {
          if (this.put(n, b, payload, 0, payload.length)) this.c.heldPlaced++;
        }
      }
    }
    this.advance();
  }

  /** Moves `low` past wholly received slices. */
  private advance(): void {
    while (this.low < this.start.length && this.got[this.low] === this.blocksOf(this.sizes.get(this.low)!)) this.low++;
  }

  private put(n: number, b: number, src: Buffer, at: number, len: number): boolean {
    const store = this.s!;
    const idx = this.start[n]! + b;
    if (store.ordered && !store.fitsOrdered(idx)) {
      this.drops.full++;
      return false;
    }
    const r = store.put(idx, src, at, len, 0);
    if (r === 'ok') {
      this.c.bytes += len;
      this.got[n]!++;
      if (n === this.low) this.advance();
      return true;
    }
    if (r === 'full') this.drops.full++;
    else if (r === 'invalid') this.drops.badBlock++;
    else this.c.duplicates++;
    return false;
  }

  private onData(m: Extract<UdpMessage, { op: 'data' }>): void {
    this.c.dataPackets++;
    const n = m.slice;
    if (m.sliceBytes === 0 || (this.endSlice !== undefined && n >= this.endSlice)) {
      this.drops.badBlock++;
      return;
    }
    // Two slices in flight at most: data of low+2 means the sender acknowledged `low` without us (#61).
    if (n > this.low + 1) return this.fail('dropped');
    if (!this.learn(n, m.sliceBytes) || m.block >= this.blocksOf(m.sliceBytes)) {
      this.drops.badBlock++;
      return;
    }
    if (this.st === 'closed') return; // place() found a protocol error
    const len = Math.min(this.blockSize, m.sliceBytes - m.block * this.blockSize);
    if (m.payload.length < len) {
      this.drops.badBlock++;
      return;
    }
    if (n < this.start.length) this.put(n, m.block, m.payload, 0, len);
    else this.holdBlock(n, m.sliceBytes, m.block, m.payload, len);
  }

  private holdBlock(n: number, bytes: number, b: number, payload: Buffer, len: number): void {
    let h = this.hold;
    if (!h || h.slice !== n) h = this.hold = { slice: n, bytes, blocks: new Map(), held: 0 };
    if (h.blocks.has(b)) {
      this.c.duplicates++;
      return;
    }
    if (h.held + len > this.p.holdBytes) {
      this.drops.full++;
      return;
    }
    h.blocks.set(b, Buffer.from(payload.subarray(0, len)));
    h.held += len;
  }

  private onReqack(m: Extract<UdpMessage, { op: 'reqack' }>, now: number): void {
    this.c.reqacks++;
    const n = m.slice;
    if (!this.learn(n, m.bytes)) {
      this.drops.badBlock++;
      return;
    }
    if (this.st === 'closed') return;
    if ((m.ready[this.client >>> 3]! >>> (this.client & 7)) & 1) return; // we said OK already
    // A REQACK for n goes out only once every client acknowledged n-1 (#61).
    // Lingering after the end slice, the image is complete and on disk: a REQACK beyond it (nonsense, or another
    // sender's) is ignored rather than turning that success into 'dropped' (found by npm run fuzz at 532,351 runs).
    if (n > this.low) return this.st === 'linger' ? undefined : this.fail('dropped');
    if (n === this.endSlice) {
      this.sendOk(n);
      if (!this.endOk) {
        this.endOk = true;
        this.st = 'linger';
        this.timers.disarm('inactivity');
        this.timers.arm('linger', now + this.p.lingerMs);
        this.checkComplete();
      }
      return;
    }
    if (n < this.low) return this.sendOk(n);
    this.c.retransmits++;
    this.send(this.sender!, { op: 'retransmit', slice: n, rxmit: m.rxmit, map: this.haveMap(n) });
  }

  private sendOk(n: number): void {
    this.c.oks++;
    this.send(this.sender!, { op: 'ok', slice: n });
  }

  private haveMap(n: number): Buffer {
    const map = Buffer.alloc(MAP_BYTES);
    const have = this.s!.have;
    const first = this.start[n]!;
    const count = this.blocksOf(this.sizes.get(n)!);
    for (let b = 0; b < count; b++) if (have.has(first + b)) map[b >>> 3]! |= 1 << (b & 7);
    return map;
  }

  // -------------------------------------------------------------------------------------------------------------
  // Ends
  // -------------------------------------------------------------------------------------------------------------

  private checkComplete(): void {
    if (this.completed || !this.endOk || !this.s?.complete) return;
    this.completed = true;
    this.events.push({ type: 'complete', bytes: this.s.cfg.contentSize });
    this.maybeClose();
  }

  /** After the end: DISCONNECT once the linger time passed and every byte is on disk. */
  private maybeClose(): void {
    if (!this.completed || this.timers.armed('linger')) return;
    this.close();
  }

  private refuse(reason: UdpcastRefusal): void {
    this.events.push({ type: 'refused', reason, cause: udpcastFallbackCause(reason) });
    this.close();
  }

  private fail(kind: UdpcastFailure): void {
    if (this.st === 'closed') return;
    this.events.push({ type: 'failed', kind, cause: udpcastFallbackCause(kind) });
    this.close();
  }

  /** DISCONNECT to whoever we talked to (the sender ignores it from a stranger), then nothing more. */
  private close(): void {
    const to = this.sender ?? this.heard;
    if (to) this.send(to, { op: 'disconnect' });
    this.st = 'closed';
    this.timers.disarmAll();
    this.hold = undefined;
    this.events.push({ type: 'closed' });
  }

  private send(to: Endpoint, m: UdpMessage): void {
    this.out.push({ to: { address: to.address, port: to.port }, data: encodeUdpcast(m) });
  }
}

/** IPv4 addresses may come as IPv4-mapped IPv6 (`::ffff:a.b.c.d`) from a dual-stack socket. */
function sameAddress(a: string, b: string): boolean {
  if (a === b) return true;
  const plain = (x: string) => (x.toLowerCase().startsWith('::ffff:') ? x.slice(7) : x.toLowerCase());
  return plain(a) === plain(b);
}
