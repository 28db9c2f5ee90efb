/**
 * The MS-WDSMA 3.1 application server, on top of the MT server: QueryState (POLL carrying SRVCIR, collect one
 * CNTCIR per client until the Query timer fires, 3.1.5.1 / 3.1.6.1) and DataState (the merged missing ranges
 * become DATA blocks, 3.1.5.2; Data Empty ends the round, 3.1.5.2.1). Blocks are not pushed as data triggers:
 * the pacer (pacing.ts) pulls them with hasBlock()/nextBlock() when a packet can leave, so a round is a cursor
 * over the ranges and never a copy of the image.
 */
import { MaOp, decodeMa, encodeMa } from '../../core/codec/ma';
import { Range } from '../../core/codec/mt';
import { Client, ClientList, maxRtt, noteProgress } from './clients';
import { Context } from './context';
import { MaState } from './types';

/** What the MA server needs from the transport below it. */
export interface MaTransport {
  /** MT 3.1.5.4 POLL trigger with this AppData; returns PollBackOff. */
  poll(appData: Buffer, now: number): number;
  /** Blocks became available: send what the window allows. */
  release(now: number): void;
  /** The Data Packet List is empty (every packet of the round acknowledged and retired). */
  dataListEmpty(): boolean;
}

interface Cntcir {
  clientId: number;
  timeInSession: number;
  progress: number;
  ranges: [number, number][];
}

export class MaServer {
  state: MaState = 'Idle';
  round = 0;
  private readonly cntcirs = new Map<number, Cntcir>();
  private missing: [number, number][] = [];
  private rangeIdx = 0;
  private nextBlockNo = 0;

  constructor(
    private readonly ctx: Context,
    private readonly clients: ClientList,
    private readonly transport: MaTransport,
    private readonly firstBlock: number,
    private readonly lastBlock: number,
  ) {}

  /** MS-WDSMA 1.3: the first client joining starts the application protocol. */
  clientJoined(now: number): void {
    if (this.state === 'Idle') this.enterQuery(now);
  }

  /** A client left the session: its CNTCIR no longer counts. */
  forget(clientId: number): void {
    this.cntcirs.delete(clientId);
  }

  /** Session terminated (MT 3.1.6.9): back to Idle. */
  reset(): void {
    this.state = 'Idle';
    this.cntcirs.clear();
    this.missing = [];
  }

  // 3.1.5.1 QueryState: clear ClientCNTCIRPackets, POLL(SRVCIR), arm the Query timer.
  private enterQuery(now: number): void {
    if (this.clients.activeCount() === 0) {
      // Nobody to ask: the application protocol waits for the next client to join.
      this.state = 'Idle';
      this.ctx.timers.disarm('query');
      return;
    }
    this.state = 'QueryState';
    this.cntcirs.clear();
    const backoff = this.transport.poll(encodeMa({ op: MaOp.SRVCIR }), now);
    this.ctx.timers.arm('query', now + backoff + this.ctx.cfg.queryMarginMs + maxRtt(this.clients.active()));
  }

  // 3.1.5.1.1 POLLACK trigger
  onPollAck(c: Client, appData: Buffer): void {
    if (this.state !== 'QueryState') return;
    const m = decodeMa(appData);
    if (!m.ok || m.value.op !== MaOp.CNTCIR) {
      this.ctx.stats.malformed++;
      return;
    }
    noteProgress(c, m.value);
    this.cntcirs.set(c.clientId, { clientId: c.clientId, timeInSession: m.value.timeInSession, progress: m.value.progress, ranges: m.value.ranges });
  }

  // 3.1.6.1 Query timer
  onQueryTimer(now: number): void {
    if (this.cntcirs.size === 0) {
      this.enterQuery(now);
      return;
    }
    // Drop CNTCIRs of clients that joined more than lateJoinSec after the oldest one. Only CNTCIRs that still
    // miss something anchor "the oldest": a finished client that has not left yet must not starve late joiners.
    const all = [...this.cntcirs.values()];
    const needing = all.filter((x) => x.ranges.length > 0);
    const oldest = needing.reduce((m, x) => Math.max(m, x.timeInSession), 0);
    const kept = needing.filter((x) => oldest - x.timeInSession <= this.ctx.cfg.lateJoinSec);
    const dropped = needing.length - kept.length;
    this.missing = mergeRanges(kept.flatMap((x) => x.ranges), this.firstBlock, this.lastBlock);
    this.rangeIdx = 0;
    this.nextBlockNo = this.missing.length ? this.missing[0]![0] : 0;
    this.state = 'DataState';
    this.ctx.timers.disarm('query');
    this.round++;
    this.ctx.stats.rounds++;
    const blocks = this.missing.reduce((n, [s, e]) => n + (e - s + 1), 0);
    this.ctx.emit({ type: 'round-started', round: this.round, ranges: this.missing.length, blocks, clients: kept.length, dropped });
    // 3.1.5.2: each block becomes a data trigger; here they are pulled by the pacer as the window opens.
    this.transport.release(now);
    this.checkDataEmpty(now);
  }

  hasBlock(): boolean {
    return this.state === 'DataState' && this.rangeIdx < this.missing.length;
  }

  /** The next block of the round (call only when hasBlock()). */
  nextBlock(): number {
    const block = this.nextBlockNo;
    const [, end] = this.missing[this.rangeIdx]!;
    if (block >= end) {
      this.rangeIdx++;
      if (this.rangeIdx < this.missing.length) this.nextBlockNo = this.missing[this.rangeIdx]![0];
    } else this.nextBlockNo = block + 1;
    this.ctx.stats.blocksQueued++;
    return block;
  }

  /**
   * 3.1.5.2.1 Data Empty trigger. docs/protocol-notes.md #14: it fires when the round is fully queued and the
   * Data Packet List is empty; then a new QueryState begins.
   */
  checkDataEmpty(now: number): void {
    if (this.state !== 'DataState' || this.hasBlock() || !this.transport.dataListEmpty()) return;
    this.ctx.stats.roundsFinished++;
    this.ctx.emit({ type: 'round-finished', round: this.round });
    this.enterQuery(now);
  }
}

/** Sorted, non-overlapping, adjacent ranges joined, clipped to [first, last]. */
export function mergeRanges(ranges: Range[], first: number, last: number): [number, number][] {
  const clipped: [number, number][] = [];
  for (const [s, e] of ranges) {
    const a = Math.max(s, first);
    const b = Math.min(e, last);
    if (a <= b) clipped.push([a, b]);
  }
  clipped.sort((x, y) => x[0] - y[0] || x[1] - y[1]);
  const out: [number, number][] = [];
  for (const r of clipped) {
    const top = out[out.length - 1];
    if (top && r[0] <= top[1] + 1) top[1] = Math.max(top[1], r[1]);
    else out.push([r[0], r[1]]);
  }
  return out;
}
