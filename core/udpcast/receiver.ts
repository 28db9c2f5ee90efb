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

/** Why the sender's offer is refused: `async` (capability 0x20, or a streaming HELLO), `table-full` (client −1), `no-big-endian`. */
export type UdpcastRefusal = 'async' | 'table-full' | 'no-big-endian';

/** The fallback cause (core/outcome.ts) of each failure: what MulticastPolicy-style callers decide on. */
export function udpcastFallbackCause(f: UdpcastFailure | UdpcastRefusal): FallbackCause {
  switch (f) {
    case 'no-sender':
      return 'no-reply';
    case 'late-join':
    case 'async':
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

export class UdpcastReceiver {
  constructor(cfg: UdpcastConfig, now: number) {
    void cfg;
    void now;
    throw new Error('not implemented');
  }
  /** The store, once connected (undefined before CONNECT_REPLY). */
  get store(): BlockStore | undefined {
    throw new Error('not implemented');
  }
  /** A datagram received on port P from `from` (any destination: broadcast, group, unicast). */
  handleDatagram(buf: Buffer, from: Endpoint, now: number): void {
    void buf;
    void from;
    void now;
    throw new Error('not implemented');
  }
  handleTimeout(now: number): void {
    void now;
    throw new Error('not implemented');
  }
  /** Blocks of the store were written (`store.writeDone`). */
  handleWritten(now: number): void {
    void now;
    throw new Error('not implemented');
  }
  /** Give up (Ctrl-C, --timeout, a disk error, an HTTP fallback): DISCONNECT to the sender if known, then `closed`. */
  cancel(now: number): void {
    void now;
    throw new Error('not implemented');
  }
  pollTransmit(): Transmit | undefined {
    throw new Error('not implemented');
  }
  pollTimeout(): number | undefined {
    throw new Error('not implemented');
  }
  pollEvent(): UdpcastEvent | undefined {
    throw new Error('not implemented');
  }
  stats(): UdpcastStats {
    throw new Error('not implemented');
  }
}
