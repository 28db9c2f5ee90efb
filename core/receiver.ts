/**
 * One receive, sans-I/O: the MT client and the MA client wired together, plus completion.
 * The agent feeds datagrams and timer expiries in, and drains transmits, disk writes and events out.
 */
import { LeaveReason, Sec, SecMode } from './codec/mt';
import { BlockStore, TaggedWriteJob } from './block-store';
import { MaClient } from './ma-client';
import { Endpoint, MtClient, MtEvent, MtParams, Transmit } from './mt-client';

export interface SessionInfo {
  sessionId: number;
  multicast: Endpoint;
  server: Endpoint;
  contentSize: number;
  blockSize: number;
  totalBlocks: number;
  secMode?: SecMode; // CHECKSUM for MS-WDSMSI over UDP
}

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

/** Datagrams dropped before they reach the MT client. */
export interface ReceiverDrops {
  /** Not from the session's server address (protocol-notes #20). */
  wrongSource: number;
}

export class Receiver {
  readonly mt: MtClient;
  readonly ma: MaClient;
  readonly store: BlockStore;
  readonly drops: ReceiverDrops = { wrongSource: 0 };
  private events: ReceiverEvent[] = [];
  private completed = false;
  private conflictsSeen = 0;
  private conflictWarned: number | undefined;

  constructor(cfg: ReceiverConfig, rng: () => number, now: number) {
    const s = cfg.session;
    this.store = cfg.store;
    this.ma = new MaClient(cfg.store, { blockBase: cfg.blockBase }, (bytes) => this.mt.cacheDone(bytes), now);
    this.mt = new MtClient(
      {
        sessionId: s.sessionId,
        secMode: s.secMode ?? Sec.CHECKSUM,
        server: s.server,
        clientName: cfg.clientName,
        localAddress: cfg.localAddress,
        macAddress: cfg.macAddress,
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
    if (from.address !== this.mt.server.address && !sameAddress(from.address, this.mt.server.address)) {
      this.drops.wrongSource++;
      return;
    }
    this.mt.handleDatagram(buf, now);
    if (this.ma.stats.conflicting !== this.conflictsSeen) this.noteConflict();
  }
  handleTimeout(now: number): void {
    this.mt.handleTimeout(now);
  }
  pollTransmit(): Transmit | undefined {
    return this.mt.pollTransmit();
  }
  pollTimeout(): number | undefined {
    return this.mt.pollTimeout();
  }
  pollWrite(maxBuffers?: number): TaggedWriteJob | undefined {
    return this.store.takeWrite(maxBuffers);
  }
  handleWriteDone(job: TaggedWriteJob, now: number): void {
    this.mt.cacheDone(this.store.writeDone(job));
    this.checkComplete(now);
  }
  handleWriteFailed(job: TaggedWriteJob): void {
    this.store.writeFailed(job);
  }
  /** Blocks written by another source (HTTP) may complete the image. */
  recheck(now: number): void {
    this.checkComplete(now);
  }
  pollEvent(): ReceiverEvent | undefined {
    return this.events.shift() ?? this.mt.pollEvent();
  }
  /** User cancel (Ctrl-C, --timeout): LEAVE with CANCELLED. */
  cancel(now: number): void {
    this.mt.leave(LeaveReason.CANCELLED, now);
  }

  private noteConflict(): void {
    this.conflictsSeen = this.ma.stats.conflicting;
    if (this.conflictWarned === this.mt.sessionId) return;
    this.conflictWarned = this.mt.sessionId;
    this.events.push({ type: 'conflicting-duplicate', sessionId: this.mt.sessionId, block: this.ma.lastConflict });
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
