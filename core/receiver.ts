/**
 * One receive, sans-I/O: the MT client and the MA client wired together, plus completion.
 * The agent feeds datagrams and timer expiries in, and drains transmits, disk writes and events out.
 */
import { LeaveReason, Sec, SecMode } from './codec/mt';
import { Bitmap } from './bitmap';
import { MaClient, TaggedWriteJob } from './ma-client';
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
  cacheBytes: number;
  blockBase?: 'auto' | 0 | 1;
  params?: Partial<MtParams>;
  /** Blocks already on disk (resume). */
  onDisk?: Bitmap;
}

export type ReceiverEvent = MtEvent | { type: 'complete' };

export class Receiver {
  readonly mt: MtClient;
  readonly ma: MaClient;
  private events: ReceiverEvent[] = [];
  private completed = false;

  constructor(cfg: ReceiverConfig, rng: () => number, now: number) {
    const s = cfg.session;
    const slots = Math.max(2, Math.floor(cfg.cacheBytes / s.blockSize));
    this.ma = new MaClient(
      { totalBlocks: s.totalBlocks, blockSize: s.blockSize, contentSize: s.contentSize, blockBase: cfg.blockBase, ringSlots: Math.min(slots, s.totalBlocks + 1) },
      (bytes) => this.mt.cacheDone(bytes),
      now,
    );
    if (cfg.onDisk) this.ma.restore(cfg.onDisk);
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
    return this.ma.takeWrite(maxBuffers);
  }
  handleWriteDone(job: TaggedWriteJob, now: number): void {
    this.ma.writeDone(job);
    this.checkComplete(now);
  }
  handleWriteFailed(job: TaggedWriteJob): void {
    this.ma.writeFailed(job);
  }
  pollEvent(): ReceiverEvent | undefined {
    return this.events.shift() ?? this.mt.pollEvent();
  }
  /** User cancel (Ctrl-C, --timeout): LEAVE with CANCELLED. */
  cancel(now: number): void {
    this.mt.leave(LeaveReason.CANCELLED, now);
  }

  private checkComplete(now: number): void {
    if (this.completed || !this.ma.complete) return;
    this.completed = true;
    this.events.push({ type: 'complete' });
    this.mt.leave(LeaveReason.COMPLETE, now);
  }
}
