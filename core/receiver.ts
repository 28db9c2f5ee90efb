/**
 * One multicast receive, sans-I/O: the MS-WDSMT client and the MS-WDSMA client wired together, plus completion.
 *
 * Contract (quinn-proto's `Connection` style):
 * - `new Receiver(cfg, rng, now)` queues the first JOIN. `cfg.store` is the `BlockStore` the receive shares with
 *   any other source (HTTP); `cfg.session.security` is CHECKSUM, HASH (with its SymKey) or, from the server, SIGN
 *   (with its SignKey): `unsupportedSecurity` says why not, and the constructor throws for anything else.
 * - Inputs: `handleDatagram(buf, from, now)` for every datagram from the group or the session's server, with its
 *   source address (datagrams not from the server's address, malformed and foreign ones are counted in `stats()`
 *   and dropped); `handleTimeout(now)` once `now >= pollTimeout()`;
 *   `handleWritten(now)` after blocks of the store were written (`store.writeDone`, whoever wrote them);
 *   `cancel(now)` to leave (LEAVE CANCELLED).
 * - Disk writes have one path, the store's: `store.takeWrite()` → write → `store.writeDone(job)` (or
 *   `store.writeFailed(job)` to retry it), then `handleWritten(now)` so the transport's cache is released
 *   (3.2.4 Cache Done) and completion is noticed. The Receiver never writes and never hands out write jobs.
 * - Outputs, drained after every input: `pollTransmit()`, `pollEvent()` (`ReceiverEvent`: the MT events,
 *   `conflicting-duplicate` at most once per session, and `complete` once every block is on disk and the block
 *   numbering is proven, after which the LEAVE COMPLETE is queued), `pollTimeout()`.
 * - `stats()` returns a copy of the counters and state a caller may show or decide on.
 * Time is milliseconds on one monotonic clock, the same for every call; `rng` returns [0,1).
 */
import { LeaveReason } from './codec/mt';
import { BlockStore } from './block-store';
import { MaClient, MaStats } from './ma-client';
import { DEFAULT_MT_PARAMS, MtClient, MtEvent, MtParams, MtStats, Transmit } from './mt-client';
import type { PolicyStats } from './multicast-policy';
import { SessionInfo, sessionAuth, sessionSecurity } from './session';

export type { SessionInfo } from './session';

export interface ReceiverConfig {
  session: SessionInfo;
  clientName: string;
  localAddress: Buffer;
  macAddress: Buffer;
  /** Blocks, bitmaps and the ring; shared with any other source (HTTP). See `storeFor`. */
  store: BlockStore;
  blockBase?: 'auto' | 0 | 1;
  params?: Partial<MtParams>;
}

/** A block store sized for a session: the ring holds `cacheBytes` of blocks. */
export function storeFor(s: Pick<SessionInfo, 'totalBlocks' | 'blockSize' | 'contentSize'>, cacheBytes: number): BlockStore {
  return new BlockStore({ totalBlocks: s.totalBlocks, blockSize: s.blockSize, contentSize: s.contentSize, ringSlots: Math.max(2, Math.floor(cacheBytes / s.blockSize)) });
}

export type ReceiverEvent =
  | MtEvent
  | { type: 'complete' }
  /** The first block of this session that arrived twice with different bytes (at most one per session). */
  | { type: 'conflicting-duplicate'; sessionId: number; block: number };

/**
 * Every datagram the receive dropped, by kind: each dropped datagram is in exactly one field, and `dropped` is
 * their sum. From the counters of the three layers (the source check here, `MtStats`, `MaStats`):
 */
export interface ReceiverDrops {
  /** Not from the session's server address (protocol-notes #20). Checked first. */
  wrongSource: number;
  /** HASH / SIGN packets whose HMAC or signature did not verify (protocol-notes #39-#42): `mt.authFailed`. */
  authFailed: number;
  /** A SessionId other than the session's (now: a DEMOTE changes it): `mt.wrongSession`. */
  wrongSession: number;
  /** A security header type other than the server's mode (e.g. the other copy in a mixed session): `mt.wrongSecurity`. */
  wrongSecurity: number;
  /** The CHECKSUM does not match (MS-WDSMT 2.2.2.3): `mt.malformed.checksum`. */
  badChecksum: number;
  /** Shorter than its fields (a security or session header, a packet section, a declared DataLen): `mt.malformed.truncated`. */
  truncated: number;
  /** RangeCount, ClientCount or OptionsCount larger than the packet: `mt.malformed['bad-count']`. */
  badCount: number;
  /** MS-WDSMA DATA whose BlockNumber is outside the content: `ma.outOfRange`. */
  outOfRange: number;
  /** SPM / QCC / POLL with a sequence number not above the last one taken (protocol-notes #80): `mt.replayed`. */
  replayed: number;
  /**
   * Everything else that is malformed: the other MT decode errors (`bad-magic`, `bad-length`, `unknown-opcode`,
   * `trailing`, `bad-value`, …, i.e. every `mt.malformed` code but `checksum`, `truncated`, `bad-count`) and
   * malformed MS-WDSMA DATA (`ma.badBlocks`).
   */
  malformed: number;
}

/** The sum of the fields of `drops`. */
function dropTotal(d: ReceiverDrops): number {
  let n = 0;
  for (const v of Object.values(d)) n += v;
  return n;
}

/** `Receiver.progress()`: what the fallback policy reads, and the block numbering. */
export interface ReceiverProgress extends PolicyStats {
  base: 0 | 1;
  baseKnown: boolean;
}

/** `Receiver.stats()`: a copy, safe to keep. */
export interface ReceiverStats extends MaStats {
  /** Payload bytes of new blocks accepted from multicast. */
  bytes: number;
  /** MS-WDSMA repair rounds: POLLs answered. */
  rounds: number;
  /** The server's block numbering, and whether a packet has proven it (protocol-notes #1). */
  base: 0 | 1;
  baseKnown: boolean;
  /** Every block is on disk (from any source). */
  allOnDisk: boolean;
  /** The receive is complete (`complete` event emitted). */
  complete: boolean;
  /** MS-WDSMT state: 'closed' after a LEAVE, KICK or InactivityTimeout. */
  state: 'join' | 'regular' | 'closed';
  /** The session now (a DEMOTE changes it) and our ClientId in it (0 until JOINACK). */
  sessionId: number;
  clientId: number;
  /** Datagrams dropped as not ours or not valid: the sum of `drops`. */
  dropped: number;
  drops: ReceiverDrops;
  /** MS-WDSMT InactivityTimeout in force (ms). */
  inactivityMs: number;
  mt: MtStats;
}

export class Receiver {
  private readonly mt: MtClient;
  private readonly ma: MaClient;
  private readonly store: BlockStore;
  private readonly inactivityMs: number;
  private readonly sourceDrops = { wrongSource: 0 };
  private events: ReceiverEvent[] = [];
  private completed = false;
  private conflictsSeen = 0;
  private conflictWarned: number | undefined;

  constructor(cfg: ReceiverConfig, rng: () => number, now: number) {
    const s = cfg.session;
    const sec = sessionSecurity(s);
    const auth = sessionAuth(sec);
    if (typeof auth === 'string') throw new Error(auth);
    this.store = cfg.store;
    this.inactivityMs = cfg.params?.inactivityTimeout ?? DEFAULT_MT_PARAMS.inactivityTimeout;
    this.ma = new MaClient(cfg.store, { blockBase: cfg.blockBase }, (bytes) => this.mt.cacheDone(bytes), now);
    this.mt = new MtClient(
      {
        sessionId: s.sessionId,
        clientSecMode: sec.client.mode,
        serverSecMode: sec.server.mode,
        ...(auth.client ? { clientAuth: auth.client } : {}),
        ...(auth.server ? { serverAuth: auth.server } : {}),
        server: s.server,
        clientName: cfg.clientName,
        localAddress: cfg.localAddress,
        macAddress: cfg.macAddress,
        ...(s.userSid ? { userSid: s.userSid } : {}),
        params: cfg.params,
      },
      this.ma,
      rng,
      now,
    );
    this.checkComplete(now);
  }

  get complete(): boolean {
    return this.completed;
  }

  /**
   * A datagram from `from` (its source address; the port is not checked: MS-WDSMT fixes none). Only the
   * session's server address (from session initiation, or from the DEMOTE that moved us) reaches the MT client.
   */
  handleDatagram(buf: Buffer, from: { address: string; port?: number }, now: number): void {
    const server = this.mt.serverAddress();
    if (from.address !== server && !sameAddress(from.address, server)) {
      this.sourceDrops.wrongSource++;
      return;
    }
    this.mt.handleDatagram(buf, now);
    if (this.ma.stats.conflicting !== this.conflictsSeen) this.noteConflict();
  }
  handleTimeout(now: number): void {
    this.mt.handleTimeout(now);
  }
  /** Blocks of the store were written (`store.writeDone`), by this receive's writes or another source's. */
  handleWritten(now: number): void {
    const bytes = this.store.takeReleased();
    if (bytes) this.mt.cacheDone(bytes);
    this.checkComplete(now);
  }
  pollTransmit(): Transmit | undefined {
    return this.mt.pollTransmit();
  }
  pollTimeout(): number | undefined {
    return this.mt.pollTimeout();
  }
  pollEvent(): ReceiverEvent | undefined {
    return this.events.shift() ?? this.mt.pollEvent();
  }
  /** User cancel (Ctrl-C, --timeout, a fallback): LEAVE with CANCELLED. Does nothing once the session is closed. */
  cancel(now: number): void {
    this.mt.leave(LeaveReason.CANCELLED, now);
  }

  /** The drop counters alone (cheaper than `stats()`): a copy. */
  drops(): ReceiverDrops {
    const mt = this.mt.stats();
    const ma = this.ma.stats;
    const m = mt.malformed;
    const badChecksum = m.checksum ?? 0;
    const truncated = m.truncated ?? 0;
    const badCount = m['bad-count'] ?? 0;
    const anyMalformed = Object.values(m).reduce((a, b) => a + (b ?? 0), 0);
    return {
      wrongSource: this.sourceDrops.wrongSource,
      authFailed: mt.authFailed,
      wrongSession: mt.wrongSession,
      wrongSecurity: mt.wrongSecurity,
      badChecksum,
      truncated,
      badCount,
      outOfRange: ma.outOfRange,
      replayed: mt.replayed,
      malformed: anyMalformed - badChecksum - truncated - badCount + ma.badBlocks,
    };
  }

  /**
   * What the loop reads at every wake-up (the fallback policy's inputs and the block numbering): a handful of
   * fields, no copies. `stats()` builds the full record (counter copies, the drop tally, the missing ranges of the
   * MT state): at 1 % loss the agent wakes ~2,400 times per 256 MiB, and that record cost ~25 µs each.
   */
  progress(): ReceiverProgress {
    const ma = this.ma;
    return { blocks: ma.stats.blocks, duplicates: ma.stats.duplicates, bytes: ma.bytes, rounds: ma.rounds, allOnDisk: this.store.complete, base: ma.base, baseKnown: ma.baseKnown };
  }

  stats(): ReceiverStats {
    const mt = this.mt.stats();
    const info = this.mt.info();
    const ma = this.ma.stats;
    const drops = this.drops();
    return {
      ...ma,
      bytes: this.ma.bytes,
      rounds: this.ma.rounds,
      base: this.ma.base,
      baseKnown: this.ma.baseKnown,
      allOnDisk: this.store.complete,
      complete: this.completed,
      state: info.state,
      sessionId: info.sessionId,
      clientId: info.clientId,
      dropped: dropTotal(drops),
      drops,
      inactivityMs: this.inactivityMs,
      mt,
    };
  }

  private noteConflict(): void {
    this.conflictsSeen = this.ma.stats.conflicting;
    const sid = this.mt.currentSessionId();
    if (this.conflictWarned === sid) return;
    this.conflictWarned = sid;
    this.events.push({ type: 'conflicting-duplicate', sessionId: sid, block: this.ma.lastConflict });
  }

  private checkComplete(now: number): void {
    // Not complete while the block numbering is unproven: the blocks could sit one block off (protocol-notes #1).
    if (this.completed || !this.store.complete || !this.ma.baseKnown) return;
    this.completed = true;
    this.events.push({ type: 'complete' });
    this.mt.leave(LeaveReason.COMPLETE, now);
  }
}

/** IPv4 addresses may come as IPv4-mapped IPv6 (`::ffff:a.b.c.d`) from a dual-stack socket. */
function sameAddress(a: string, b: string): boolean {
  const plain = (x: string) => (x.toLowerCase().startsWith('::ffff:') && x.includes('.') ? x.slice(7) : x.toLowerCase());
  return plain(a) === plain(b);
}
