/**
 * The MT session state machine, server side: PreStartState -> QCCState -> DataState (MS-WDSMT 3.1.1.1,
 * 3.1.1.3, 3.1.1.5). QCCState sends InState QCCs until a QCR names a Master Client, the responder with the
 * highest RTT (3.1.5.7, 3.1.6.4); DataState sends SPMs (3.1.5.9.3, 3.1.6.6; back to QCCState after
 * MaxNoResponseSPM), OutState QCCs (3.1.6.5), runs the Cleanup Data List timer (3.1.6.7), takes the Master
 * Client's ACKs and any client's NACKs (3.1.5.9.5, 3.1.5.9.6, Master-Client switch 3.1.5.9.6.1) and feeds the
 * pacer (pacing.ts), which owns the Data Packet List and the window. The POLL trigger (3.1.5.4) is here too.
 */
import { MtBody, Op } from '../../core/codec/mt';
import { Client, ClientList, maxRtt } from './clients';
import { Context, U16, clamp16, lossFromWire } from './context';
import { Pacer } from './pacing';
import { SessionState } from './types';

/** What the session needs from the MA server above it. */
export interface SessionApplication {
  hasBlock(): boolean;
  nextBlock(): number;
  /** Data Empty check after packets left the Data Packet List. */
  checkDataEmpty(now: number): void;
}

/** MS-WDSMT 3.1.5.9.6.1: M = (RTT/1000) x sqrt(L) x (1 + 9L(1 + 32L^2)); throughput = 1/M. RTT floored at 1 ms. */
export function throughput(rttMs: number, loss: number): number {
  const m = (Math.max(1, rttMs) / 1000) * Math.sqrt(loss) * (1 + 9 * loss * (1 + 32 * loss * loss));
  return 1 / m; // Infinity when loss is 0
}

export class Session {
  state: SessionState = 'PreStartState';
  readonly pacer: Pacer;
  // ---- Multicast Session Configuration (3.1.1.1)
  private nextPollSeqNo = 1;
  // ---- Data State Configuration (3.1.1.3); the Data Packet List and window are the pacer's
  minNackBackoff = 1;
  maxNackBackoff = 1;
  mcRtt = 1;
  masterId = 0;
  private nextSpmSeqNo = 1;
  private spmCount = 0;
  private mcLossRate = 0;
  /** When the Master Client last changed (masterHoldMs). */
  private masterSince = -Infinity;
  // ---- QCC State Configuration (3.1.1.5)
  private nextQccSeqNo = 1;
  private waitTime = 1;
  /** QCCs in a row that got no valid QCR (3.1.5.7: the InState timeout MUST keep growing then). */
  private qccUnanswered = 0;

  constructor(
    private readonly ctx: Context,
    private readonly clients: ClientList,
    private readonly app: SessionApplication,
    now: number,
  ) {
    this.pacer = new Pacer(
      ctx,
      {
        sending: () => this.state === 'DataState' && this.masterId !== 0,
        masterId: () => this.masterId,
        hasBlock: () => app.hasBlock(),
        nextBlock: () => app.nextBlock(),
        requestAck: (at) => this.sendSpm(at),
      },
      now,
    );
  }

  /** A QCR answers the current QCC only (QCCSeqNo 0 is the JOINACK reply or a voluntary QCR). */
  isCurrentQcc(qccSeqNo: number): boolean {
    return qccSeqNo === 0 || qccSeqNo === this.nextQccSeqNo - 1;
  }

  isCurrentPoll(pollSeqNo: number): boolean {
    return pollSeqNo === this.nextPollSeqNo - 1;
  }

  /** 3.1.5.2.3: a client reached the Active list; the first one starts the session. */
  clientJoined(now: number): void {
    if (this.state === 'PreStartState') this.enterQcc(now);
  }

  /** 3.1.6.9: the session terminated; everything starts over in PreStartState. */
  reset(): void {
    if (this.state !== 'PreStartState') this.ctx.emit({ type: 'state', from: this.state, to: 'PreStartState' });
    this.state = 'PreStartState';
    this.minNackBackoff = 1;
    this.maxNackBackoff = 1;
    this.mcRtt = 1;
    this.masterId = 0;
    this.nextSpmSeqNo = 1;
    this.spmCount = 0;
    this.mcLossRate = 0;
    this.masterSince = -Infinity;
    this.pacer.reset();
    this.nextQccSeqNo = 1;
    this.nextPollSeqNo = 1;
    this.waitTime = 1;
  }

  /** MT 3.1.5.4: the POLL trigger. Returns PollBackOff (the value that sets the MA Query timer). */
  pollTrigger(appData: Buffer, now: number): number {
    this.ctx.stats.pollSent++;
    this.ctx.send('multicast', { op: Op.POLL, pollSeqNo: this.nextPollSeqNo++, backoff: clamp16(this.ctx.cfg.pollBackoffMs), appData }, now);
    return this.ctx.cfg.pollBackoffMs;
  }

  // ---- 3.1.5.9.5 ACK
  onAck(b: Extract<MtBody, { op: typeof Op.ACK }>, now: number): void {
    this.ctx.stats.acksReceived++;
    if (this.state === 'DataState' && b.clientId === this.masterId && b.serverTime > 0 && b.serverTime <= now) this.pacer.echo(b.serverTime);
    if (this.state !== 'DataState' || b.clientId !== this.masterId || !this.pacer.accepts(b.seq)) {
      this.ctx.stats.acksRejected++;
      return;
    }
    this.spmCount = 0;
    let rtt: number | undefined;
    if (b.serverTime > 0 && b.serverTime <= now) {
      rtt = now - b.serverTime;
      this.mcRtt = Math.round(rtt);
      this.ctx.stats.mcRttSum += this.mcRtt;
      if (this.mcRtt > this.ctx.stats.mcRttMax) this.ctx.stats.mcRttMax = this.mcRtt;
    }
    this.mcLossRate = lossFromWire(b.lossRate);
    this.pacer.acked(b.seq, now, rtt);
  }

  // ---- 3.1.5.9.6 NACK
  onNack(b: Extract<MtBody, { op: typeof Op.NACK }>, now: number): void {
    this.ctx.stats.nacksReceived++;
    if (this.state !== 'DataState') {
      this.ctx.stats.unexpected++;
      return;
    }
    if (b.ranges.length === 0) this.ctx.stats.zeroNacksReceived++;
    if (b.clientId === this.masterId) this.ctx.stats.nacksFromMaster++;
    const loss = lossFromWire(b.lossRate);
    const c = this.clients.get(b.clientId);
    if (c) c.lossRate = loss;
    if (b.clientId === this.masterId) this.mcLossRate = loss;
    else if (c && c.list === 'active') this.considerMaster(c, loss, now);
    this.pacer.nacked(b.ranges, 4 * this.mcRtt, now);
  }

  /**
   * A client left the Active list (LEAVE 3.1.5.3, or the Client Cleanup timer). The spec says nothing of the Master
   * Client leaving: only MaxNoResponseSPM would notice, after 5 SPM intervals of max(SPMInterval, 4 x MCRTT)
   * (>= 1.1 s, seconds when the queue inflates MCRTT) with the window shut. Ours: when the Master Client goes and
   * others stay, the InState QCC election (3.1.5.7) runs at once, as it would after that timeout
   * (protocol-notes #103).
   */
  clientGone(clientId: number, now: number): void {
    if (this.state !== 'DataState' || clientId !== this.masterId || this.clients.activeCount() === 0) return;
    this.ctx.stats.masterLeft++;
    this.enterQcc(now);
  }

  /** MasterClientId: the pacer forgets what it asked of the old one, and masterHoldMs runs from now. */
  private setMaster(clientId: number, now: number): void {
    this.masterId = clientId;
    this.pacer.masterChanged();
    this.masterSince = now;
  }

  // ---- 3.1.5.9.6.1
  private considerMaster(c: Client, loss: number, now: number): void {
    if (now < this.masterSince + this.ctx.cfg.masterHoldMs) return;
    const client = throughput(c.rtt, loss);
    const master = throughput(this.mcRtt, this.mcLossRate);
    if (client < 0.75 * master) {
      this.setMaster(c.clientId, now);
      this.mcLossRate = loss;
      this.mcRtt = Math.max(1, c.rtt); // not said by the spec: start from the new master's last known RTT
      this.ctx.stats.masterChanges++;
      this.ctx.emit({ type: 'master', clientId: c.clientId, rtt: c.rtt, why: 'nack' });
    }
  }

  private setState(to: SessionState): void {
    if (to === this.state) return;
    this.ctx.emit({ type: 'state', from: this.state, to });
    this.state = to;
  }

  // 3.1.5.7.1
  private enterQcc(now: number): void {
    if (this.state === 'DataState') this.leaveData();
    this.setState('QCCState');
    this.waitTime = 1;
    this.qccUnanswered = 0;
    this.sendInStateQcc(now);
  }

  // 3.1.5.7.3
  private sendInStateQcc(now: number): void {
    const active = this.clients.active();
    for (const c of active) c.qcrReceived = false;
    // 3.1.5.7.3 gives 1 ms per client; 3.1.5.7 adds that the timeout MUST keep increasing while no reply comes.
    // Without that growth a client whose random QCR wait (0..QCRBackOff) outlasts the timer answers a QCC the
    // server has already replaced, forever (livelock seen on loopback; docs/coordinator.md).
    const cap = this.ctx.cfg.noClientQccIntervalMs;
    if (active.length > 0) this.waitTime = Math.min(active.length * 2 ** this.qccUnanswered, cap);
    else this.waitTime = Math.min(this.waitTime * 2, cap);
    this.waitTime += maxRtt(active);
    const qccSeqNo = this.nextQccSeqNo++;
    this.ctx.stats.qccSent++;
    this.ctx.send('multicast', { op: Op.QCC, qccSeqNo, qcrBackoff: clamp16(this.waitTime) }, now);
    this.ctx.timers.arm('inStateQcc', now + this.waitTime);
  }

  // 3.1.6.4
  onInStateQccTimer(now: number): void {
    let best: Client | undefined;
    for (const c of this.clients.active()) if (c.qcrReceived && (!best || c.rtt > best.rtt)) best = c;
    if (!best) {
      this.qccUnanswered++;
      this.sendInStateQcc(now);
      return;
    }
    if (best.clientId !== this.masterId) this.ctx.stats.masterChanges++;
    this.setMaster(best.clientId, now);
    this.ctx.emit({ type: 'master', clientId: best.clientId, rtt: best.rtt, why: 'qcc' });
    this.ctx.timers.disarm('inStateQcc'); // 3.1.5.7.2
    this.enterData(now);
  }

  // 3.1.5.9.1
  private enterData(now: number): void {
    this.setState('DataState');
    this.spmCount = 0;
    this.ctx.timers.arm('cleanup', now + this.ctx.cfg.cleanupIntervalMs);
    this.ctx.timers.arm('outStateQcc', now + this.ctx.cfg.qccIntervalMs);
    this.sendSpm(now);
    // Data triggers queued while there was no Master Client start flowing now (within CurrentWindowSize).
    this.pacer.release(now);
  }

  // 3.1.5.9.2
  private leaveData(): void {
    const t = this.ctx.timers;
    t.disarm('spm');
    t.disarm('cleanup');
    t.disarm('outStateQcc');
    t.disarm('rate');
  }

  // 3.1.5.9.3
  private sendSpm(now: number): void {
    this.minNackBackoff = Math.max(this.mcRtt * 2, 1);
    this.maxNackBackoff = Math.max(this.minNackBackoff + Math.floor(this.clients.activeCount() / 5), 1);
    this.ctx.stats.spmSent++;
    this.ctx.send(
      'multicast',
      {
        op: Op.SPM,
        spmSeqNo: this.nextSpmSeqNo++,
        masterClientId: this.masterId,
        minNackBackoff: clamp16(this.minNackBackoff),
        maxNackBackoff: clamp16(this.maxNackBackoff),
        trailSeq: this.pacer.trailForPacket(),
        leadSeq: this.pacer.lead,
        rtt: clamp16(this.mcRtt),
      },
      now,
    );
    this.spmCount++;
    this.ctx.timers.arm('spm', now + Math.max(this.ctx.cfg.spmIntervalMs, 4 * this.mcRtt));
  }

  // 3.1.6.6
  onSpmTimer(now: number): void {
    if (this.spmCount >= this.ctx.cfg.maxNoResponseSpm) {
      this.ctx.stats.spmTimeouts++;
      this.enterQcc(now);
      return;
    }
    this.sendSpm(now);
  }

  // 3.1.6.5
  onOutStateQccTimer(now: number): void {
    const active = this.clients.active();
    const backoff = Math.min(U16, Math.max(this.ctx.cfg.qccIntervalMs, active.length) + maxRtt(active));
    this.ctx.stats.qccSent++;
    this.ctx.send('multicast', { op: Op.QCC, qccSeqNo: this.nextQccSeqNo++, qcrBackoff: backoff }, now);
    this.ctx.timers.arm('outStateQcc', now + backoff);
  }

  // 3.1.6.7
  onCleanupTimer(now: number): void {
    if (this.pacer.cleanup(now) > 0) this.sendSpm(now);
    this.app.checkDataEmpty(now);
    this.ctx.timers.arm('cleanup', now + this.ctx.cfg.cleanupIntervalMs);
  }
}
