/**
 * The disk side shared by every source: drains the block store's ring into the sink with at most two
 * positional writes in flight, and keeps the resume state honest (a block is recorded in `<out>.osdcast` only
 * after an fdatasync that followed its write).
 */
import type { BlockStore, TaggedWriteJob } from '../../core/block-store';
import { Bitmap } from '../../core/bitmap';
import { OsdcastError, ioError } from '../errors';
import type { FileSink } from './sink';
import type { StateFile } from './state';

/** What the pump needs of the file sink (a fake one fits, for unit tests). */
export type PumpSink = Pick<FileSink, 'partial' | 'write' | 'sync'>;

const MAX_WRITES_IN_FLIGHT = 2;
const MAX_SHORT_WRITES = 3;
/** Buffers per positional writev (Linux IOV_MAX is 1024). */
const MAX_BUFFERS = 1024;

export interface PumpOptions {
  /**
   * Coalescing: start a write only once this many bytes of blocks wait in the ring (capped at a quarter of the
   * ring), or `flushMs` after the last write started (the end of a stream, a pause for repairs), or on drain().
   * 0 (the default): write whatever waits at once. The multicast receive sets it so a write carries ~190
   * 1385-byte blocks instead of the 5-11 it got when every packet could start one.
   */
  batchBytes?: number;
  /** See batchBytes; default 20 ms. */
  flushMs?: number;
  /**
   * Gap hold (BlockStore.takeWrite): a run that ends where a block is still missing waits up to this long for the
   * repair, so a repaired block goes out inside a long run instead of as a write of its own. drain() holds
   * nothing. 0 (the default): off.
   */
  gapHoldMs?: number;
}

export class DiskPump {
  private writes = 0;
  private shortWrites = 0;
  private inflight: Promise<void> | undefined;
  private snapshot: Buffer | undefined;
  private closed = false;
  private waiters: (() => void)[] = [];
  private failed: OsdcastError | undefined;
  /** Told after blocks were written (`store.writeDone` done): the multicast Receiver releases transport bytes. */
  private readonly writtenListeners = new Set<() => void>();
  private readonly batchBlocks: number;
  private readonly flushMs: number;
  private readonly gapHoldMs: number;
  private flushTimer: NodeJS.Timeout | undefined;
  private holdTimer: NodeJS.Timeout | undefined;
  /** drain(): write everything, hold nothing. */
  private draining = false;
  /** drain() or the flush timer: write what waits, however little. */
  private forced = false;
  private lastStart = 0;
  /** Writes started and blocks they carried (blocks per write, for the bench and the statistics line). */
  readonly counts = { writes: 0, blocks: 0, checkpoints: 0 };

  constructor(
    readonly store: BlockStore,
    readonly sink: PumpSink,
    /** The durable bitmap the state file serialises. */
    readonly durable: Bitmap,
    readonly state: StateFile | undefined,
    private readonly now: () => number,
    /** The first failure (disk full, short writes, resume state), once. */
    private readonly onError: (e: OsdcastError) => void = () => {},
    opts: PumpOptions = {},
  ) {
    const bs = Math.max(1, store.cfg.blockSize);
    this.batchBlocks = Math.max(1, Math.min(Math.ceil((opts.batchBytes ?? 0) / bs), Math.floor(store.ring.slots / 4)));
    this.flushMs = opts.flushMs ?? 20;
    this.gapHoldMs = opts.gapHoldMs ?? 0;
  }

  /**
   * Calls `listener` after every finished write (the store already updated) until the returned function is
   * called. Every listener sees every completion; none replaces another.
   */
  onWritten(listener: () => void): () => void {
    this.writtenListeners.add(listener);
    return () => this.writtenListeners.delete(listener);
  }

  get error(): OsdcastError | undefined {
    return this.failed;
  }

  /** Start writes for whatever the ring holds. Cheap to call after every packet. */
  kick(): void {
    if (this.failed || this.writes >= MAX_WRITES_IN_FLIGHT) return;
    const pending = this.store.ring.pendingCount;
    if (pending === 0) return;
    if (pending < this.batchBlocks && !this.forced) {
      this.armFlush();
      return;
    }
    const hold = this.draining ? 0 : this.gapHoldMs;
    const now = hold ? this.now() : 0;
    let job: TaggedWriteJob | undefined;
    while (this.writes < MAX_WRITES_IN_FLIGHT && (job = this.store.takeWrite(MAX_BUFFERS, now, hold))) this.start(job);
    if (hold && this.writes === 0) this.armHold();
  }

  /** A held run (gap hold) is let go by its deadline even when no packet comes to kick the pump. */
  private armHold(): void {
    const until = this.store.heldUntil;
    if (until === undefined || this.holdTimer || this.closed) return;
    this.holdTimer = setTimeout(() => {
      this.holdTimer = undefined;
      this.kick();
    }, Math.max(1, until - this.now()));
    this.holdTimer.unref();
  }

  /** Write whatever waits now, however little (the end of a stream). */
  flush(): void {
    this.forced = true;
    try {
      this.kick();
    } finally {
      this.forced = false;
    }
  }

  private armFlush(): void {
    if (this.flushTimer || this.closed) return;
    const due = this.lastStart + this.flushMs;
    this.flushTimer = setTimeout(() => {
      this.flushTimer = undefined;
      // A write started since this was armed: the stream still flows, look again later.
      if (this.now() < this.lastStart + this.flushMs) this.armFlush();
      else this.flush();
    }, Math.max(1, Math.min(this.flushMs, due - this.now())));
    this.flushTimer.unref(); // the session's own sockets and timers keep the process alive; drain() flushes at the end
  }

  /** Resolves when the ring has a free slot (HTTP back-pressure). */
  space(): Promise<void> {
    if (this.store.ring.free > 0 || this.failed) return Promise.resolve();
    return new Promise((res) => this.waiters.push(res));
  }

  /** Resolves when nothing is pending or being written. */
  async drain(): Promise<void> {
    for (;;) {
      if (this.failed) throw this.failed;
      this.draining = true;
      try {
        this.flush();
      } finally {
        this.draining = false;
      }
      if (this.writes === 0 && this.store.ring.pendingCount === 0) return;
      await new Promise<void>((res) => this.waiters.push(res));
    }
  }

  /** Resolves when no write is in flight (failed or not): the file may be closed then. */
  async quiesce(): Promise<void> {
    while (this.writes > 0) await new Promise<void>((res) => this.waiters.push(res));
  }

  /** fdatasync, then record the blocks that were on disk before it in the state file. */
  async checkpoint(force = false): Promise<void> {
    if (this.inflight) {
      await this.inflight.catch(() => undefined);
      if (!force) return;
    }
    if (!this.state || this.closed) return;
    if (!force && !this.state.due(this.now(), this.store.disk.count)) return;
    this.counts.checkpoints++;
    const state = this.state;
    this.inflight = (async () => {
      const bits = this.store.disk.toBuffer();
      // One snapshot buffer, reused by every checkpoint (they never overlap: `inflight`).
      const snapshot = this.snapshot?.length === bits.length ? this.snapshot : (this.snapshot = Buffer.allocUnsafe(bits.length));
      bits.copy(snapshot);
      await this.sink.sync();
      if (this.closed && !force) return;
      this.durable.loadFrom(snapshot);
      state.write(this.now());
    })().finally(() => (this.inflight = undefined));
    await this.inflight;
  }

  /**
   * No checkpoint after this one: waits for one in flight (so nothing rewrites the state file after the caller
   * removes it), then, with `final`, records what is on disk now.
   */
  async close(final = false): Promise<void> {
    if (final) await this.checkpoint(true);
    else await this.inflight?.catch(() => undefined);
    this.closed = true;
    if (this.flushTimer) clearTimeout(this.flushTimer);
    this.flushTimer = undefined;
    if (this.holdTimer) clearTimeout(this.holdTimer);
    this.holdTimer = undefined;
    await this.inflight?.catch(() => undefined);
  }

  private start(job: TaggedWriteJob): void {
    this.writes++;
    this.counts.writes++;
    this.counts.blocks += job.count;
    this.lastStart = this.now();
    this.sink.write(job.buffers, job.offset).then(
      (n) => {
        this.writes--;
        if (n !== job.bytes && this.store.stale(job)) {
          this.written(job); // invalidated meanwhile: free the slots, mark nothing (writeDone checks the epoch)
        } else if (n !== job.bytes) {
          this.store.writeFailed(job);
          if (++this.shortWrites >= MAX_SHORT_WRITES) return this.fail(new OsdcastError('io', `writing ${this.sink.partial}: short write (${n} of ${job.bytes} bytes); disk full?`));
        } else {
          this.shortWrites = 0;
          this.written(job);
        }
        this.wake();
        this.kick();
        void this.checkpoint().catch((e) => this.fail(e instanceof OsdcastError ? e : ioError(e, 'resume state')));
      },
      (e) => {
        this.writes--;
        this.fail(ioError(e, `writing ${this.sink.partial}`));
        this.wake();
      },
    );
  }

  /** The one way a job completes: the store, then whoever listens. */
  private written(job: TaggedWriteJob): void {
    this.store.writeDone(job);
    for (const l of this.writtenListeners) l();
  }

  private fail(e: OsdcastError): void {
    if (this.failed) return;
    this.failed = e;
    this.wake();
    this.onError(e);
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }
}
