/**
 * HTTP into the block store: missing blocks are coalesced into ranges, fetched with bounded concurrency, cut
 * back into blocks and put into the same ring and bitmap as multicast data. A block is requested at most once
 * per run (unless its request failed).
 */
import { Bitmap } from '../../core/bitmap';
import type { BlockStore } from '../../core/block-store';
import type { DiskPump } from '../storage/disk';
import type { HttpClient, Validator } from '../transport/http';
import type { Logger } from '../log/log';
import { MiB } from '../defaults';

/** Largest single HTTP request (bytes): keeps fail-over and progress fine-grained. */
const MAX_REQUEST_BYTES = 16 * MiB;

export class HttpFiller {
  readonly requested: Bitmap;
  /** Payload bytes that came from HTTP and were new. */
  bytes = 0;
  private partial = new Map<number, { buf: Buffer; filled: number }>();

  constructor(
    readonly http: HttpClient,
    readonly store: BlockStore,
    readonly pump: DiskPump,
    readonly log: Logger,
    readonly validator: Validator | undefined,
  ) {
    this.requested = new Bitmap(store.cfg.totalBlocks);
  }

  /** Block ranges [first, last] that are missing, not yet requested, and accepted by `eligible`. */
  candidates(eligible: (idx: number) => boolean = () => true): [number, number][] {
    const out: [number, number][] = [];
    const bs = this.store.cfg.blockSize;
    const maxBlocks = Math.max(1, Math.floor(MAX_REQUEST_BYTES / bs));
    for (const [s, e] of this.store.have.missingRanges(Number.MAX_SAFE_INTEGER)) {
      let start = -1;
      for (let i = s; i <= e; i++) {
        if (!this.requested.has(i) && eligible(i)) {
          if (start < 0) start = i;
          if (i - start + 1 === maxBlocks) {
            out.push([start, i]);
            start = -1;
          }
        } else if (start >= 0) {
          out.push([start, i - 1]);
          start = -1;
        }
      }
      if (start >= 0) out.push([start, e]);
    }
    return out;
  }

  /** Fetches the given block ranges; resolves when every byte was handed to the store. */
  async fetch(blockRanges: [number, number][]): Promise<void> {
    if (blockRanges.length === 0) return;
    const bs = this.store.cfg.blockSize;
    const size = this.store.cfg.contentSize;
    for (const [s, e] of blockRanges) for (let i = s; i <= e; i++) this.requested.set(i);
    const byteRanges = blockRanges.map(([s, e]) => [s * bs, Math.min(size, (e + 1) * bs) - 1] as [number, number]);
    const blocks = blockRanges.reduce((a, [s, e]) => a + e - s + 1, 0);
    this.log.info({ ranges: blockRanges.length, blocks }, `fetching ${blocks} blocks in ${blockRanges.length} HTTP range request(s)`);
    try {
      await this.http.fetchRanges(byteRanges, (offset, chunk) => this.onData(offset, chunk), this.validator);
    } catch (e) {
      // Let a later attempt ask again for whatever did not arrive.
      for (const [s, e2] of blockRanges) for (let i = s; i <= e2; i++) if (!this.store.have.has(i)) this.requested.clear(i);
      this.partial.clear();
      throw e;
    }
  }

  private async onData(offset: number, chunk: Buffer): Promise<void> {
    const bs = this.store.cfg.blockSize;
    let pos = 0;
    while (pos < chunk.length) {
      const at = offset + pos;
      const idx = Math.floor(at / bs);
      const within = at - idx * bs;
      const len = this.store.lengthOf(idx);
      let p = this.partial.get(idx);
      if (!p) {
        p = { buf: Buffer.allocUnsafe(len), filled: 0 };
        this.partial.set(idx, p);
      }
      const n = Math.min(len - within, chunk.length - pos);
      chunk.copy(p.buf, within, pos, pos + n);
      p.filled += n;
      pos += n;
      if (p.filled >= len) {
        this.partial.delete(idx);
        for (;;) {
          const r = this.store.put(idx, p.buf, 0, len, 0);
          if (r === 'ok') this.bytes += len;
          if (r !== 'full') break;
          this.pump.kick();
          await this.pump.space();
          if (this.pump.error) throw this.pump.error;
        }
        this.pump.kick();
      }
    }
  }
}
