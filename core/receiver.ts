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

export type ReceiverEvent = MtEvent | { type: 'complete' };

export class Receiver {
  readonly mt: MtClient;
  readonly ma: MaClient;
  readonly store: BlockStore;
  private events: ReceiverEvent[] = [];
  private completed = false;

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

  handleDatagram(buf: Buffer, now: number): void {
    this.mt.handleDatagram(buf, now);
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

  private checkComplete(now: number): void {
    // Not complete while the block numbering is unproven: the blocks could sit one block off (protocol-notes #1).
    if (this.completed || !this.store.complete || !this.ma.baseKnown) return;
    this.completed = true;
    this.events.push({ type: 'complete' });
    this.mt.leave(LeaveReason.COMPLETE, now);
  }
}
