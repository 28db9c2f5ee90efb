/**
 * Fake clients for the coordinator, built from the core codecs: they follow the client rules of MS-WDSMT 3.2 and
 * MS-WDSMA 3.2 closely enough to drive the server (JOIN, QCR, POLLACK/CNTCIR, ACK as Master Client, NACK,
 * LEAVE on completion, KICK). They live in a `ClientHost`: the simulator (sim.ts) or real sockets
 * (test/support/udp-clients.ts).
 */
import { MaOp, decodeMa, encodeMa } from '../../core/codec/ma';
import { CAP_MULTISTREAM, LOSS_SCALE, MtBody, MtPacket, MtOpt, Op, Range, Sec, decodeMt, encodeMt, findOption } from '../../core/codec/mt';
import { readUintBE } from '../../core/codec/bytes';

export interface SimClientOpts {
  name?: string;
  address?: string;
  port?: number;
  latency?: number; // one-way ms, each direction
  ack?: boolean; // send ACKs when Master Client (default true)
  answerQcc?: boolean; // default true
  answerPoll?: boolean; // default true
  answerJoinAck?: boolean; // default true
  qcrDelay?: number | ((qcrBackoff: number) => number); // ms waited before answering a QCC (reported in BackOff); default 0
  pollDelay?: number;
  dropIn?: (p: MtPacket, c: SimClient) => boolean; // simulated loss on receive
  tisOffsetSec?: number; // added to TimeInSession (pretend to have joined earlier)
  reportLoss?: number; // LossRate fraction to report (default: measured)
  leaveOnComplete?: boolean; // default true
  nack?: boolean; // send NACKs (default true); false = rely on later MA rounds only
  multistream?: boolean; // advertise WDSMCTP_CAP_MULTISTREAM in JOIN (default false); it does not follow a DEMOTE
}

/** What a fake client needs from its world: the simulator, or real sockets (udp.test.ts). */
export interface ClientHost {
  readonly now: number;
  at(t: number, fn: () => void): void;
  toCoordinator(c: SimClient, buf: Buffer): void;
  readonly sessionId: number;
  readonly size: number;
  readonly blockSize: number;
  readonly blockBase: number;
  readonly totalBlocks: number;
}

export class SimClient {
  id = 0;
  state: 'idle' | 'join' | 'regular' | 'done' | 'kicked' | 'stopped' = 'idle';
  readonly address: string;
  readonly port: number;
  readonly latency: number;
  image: Buffer;
  have: Uint8Array;
  haveCount = 0;
  joinTime = 0;
  kickReason: number | undefined;
  masterId = 0;
  minNack = 1;
  maxNack = 1;
  contig = 0; // every seq <= contig received (or given up: below the trail)
  lead = 0;
  hi = 0;
  recv = new Set<number>();
  seen = 0;
  lost = 0;
  lastQcc = 0;
  lastPoll = 0;
  lastSpm = 0;
  private joinTimerGen = 0;
  private nackArmed = false;
  readonly stats = { odata: 0, rdata: 0, spm: 0, qcc: 0, poll: 0, ncf: 0, kick: 0, acks: 0, nacks: 0, dup: 0, bad: 0, joinacks: 0 };

  constructor(
    private readonly sim: ClientHost,
    readonly opts: SimClientOpts,
    index: number,
  ) {
    this.address = opts.address ?? `10.0.0.${index + 2}`;
    this.port = opts.port ?? 40000 + index;
    this.latency = opts.latency ?? 0;
    this.image = Buffer.alloc(sim.size);
    this.have = new Uint8Array(sim.totalBlocks);
  }

  get complete(): boolean {
    return this.haveCount === this.sim.totalBlocks;
  }
  get progress(): number {
    return Math.floor((this.haveCount * 100) / this.sim.totalBlocks);
  }

  start(): void {
    this.state = 'join';
    this.joinTime = this.sim.now;
    this.sendJoin();
  }

  private sendJoin(): void {
    if (this.state !== 'join') return;
    const ip = Buffer.from(this.address.split('.').map(Number));
    const caps = this.opts.multistream ? [{ id: MtOpt.CAPABILITIES, value: Buffer.from([CAP_MULTISTREAM]) }] : undefined;
    this.send({ op: Op.JOIN, clientName: this.opts.name ?? `PC${this.port}`, ipAddress: ip, macAddress: Buffer.from([2, 0, 0, 0, 0, this.port & 0xff]) }, caps);
    const gen = ++this.joinTimerGen;
    this.sim.at(this.sim.now + 500, () => {
      if (gen === this.joinTimerGen) this.sendJoin();
    });
  }

  send(body: MtBody, options?: { id: number; value: Buffer }[]): void {
    const buf = encodeMt(body, { secMode: Sec.CHECKSUM, sessionId: this.sim.sessionId, senderTime: this.sim.now, options });
    this.sim.toCoordinator(this, buf);
  }

  leave(reason: number): void {
    this.send({ op: Op.LEAVE, clientId: this.id, reason });
    this.state = 'stopped';
  }

  private lossWire(): number {
    const l = this.opts.reportLoss ?? (this.seen + this.lost > 0 ? this.lost / (this.seen + this.lost) : 0);
    return Math.round(l * LOSS_SCALE);
  }

  private progressPacket(): Buffer {
    return encodeMa({ op: MaOp.PROGRESS, timeInSession: this.tis(), progress: this.progress });
  }

  private tis(): number {
    return Math.floor((this.sim.now - this.joinTime) / 1000) + (this.opts.tisOffsetSec ?? 0);
  }

  missingBlockRanges(): Range[] {
    const out: Range[] = [];
    const base = this.sim.blockBase;
    let i = 0;
    while (i < this.have.length && out.length < 64) {
      if (this.have[i]) {
        i++;
        continue;
      }
      let j = i;
      while (j + 1 < this.have.length && !this.have[j + 1]) j++;
      out.push([i + base, j + base]);
      i = j + 1;
    }
    return out;
  }

  onPacket(buf: Buffer): void {
    if (this.state === 'idle' || this.state === 'stopped' || this.state === 'done' || this.state === 'kicked') return;
    const d = decodeMt(buf, { from: 'server' });
    if (!d.ok || d.value.secType !== Sec.CHECKSUM || d.value.sessionId !== this.sim.sessionId) {
      this.stats.bad++;
      return;
    }
    const p = d.value;
    if (this.opts.dropIn?.(p, this)) {
      if (p.body.op === Op.ODATA) this.lost++;
      return;
    }
    const b = p.body;
    if (this.state === 'join' && b.op !== Op.JOINACK) return;
    switch (b.op) {
      case Op.JOINACK: {
        this.stats.joinacks++;
        if (this.opts.answerJoinAck === false) return;
        this.id = b.clientId;
        this.minNack = b.minNackBackoff;
        this.maxNack = b.maxNackBackoff;
        this.joinTimerGen++;
        this.state = 'regular';
        this.send({ op: Op.QCR, clientId: this.id, qccSeqNo: 0, backoff: 0, serverTime: p.senderTime, hiSeq: 0, lossRate: 0, appData: Buffer.alloc(0) });
        return;
      }
      case Op.QCC: {
        this.stats.qcc++;
        if (b.qccSeqNo <= this.lastQcc || this.opts.answerQcc === false) return;
        this.lastQcc = b.qccSeqNo;
        const want = typeof this.opts.qcrDelay === 'function' ? this.opts.qcrDelay(b.qcrBackoff) : (this.opts.qcrDelay ?? 0);
        const delay = Math.min(want, b.qcrBackoff);
        const serverTime = p.senderTime;
        const qccSeqNo = b.qccSeqNo;
        this.sim.at(this.sim.now + delay, () => {
          if (this.state !== 'regular') return;
          this.send({ op: Op.QCR, clientId: this.id, qccSeqNo, backoff: delay, serverTime, hiSeq: this.hi, lossRate: this.lossWire(), appData: this.progressPacket() });
        });
        return;
      }
      case Op.POLL: {
        this.stats.poll++;
        if (b.pollSeqNo <= this.lastPoll || this.opts.answerPoll === false) return;
        this.lastPoll = b.pollSeqNo;
        const m = decodeMa(b.appData);
        if (!m.ok || m.value.op !== MaOp.SRVCIR) return;
        const seq = b.pollSeqNo;
        this.sim.at(this.sim.now + Math.min(this.opts.pollDelay ?? 0, b.backoff), () => {
          if (this.state !== 'regular') return;
          const cntcir = encodeMa({ op: MaOp.CNTCIR, progress: this.progress, timeInSession: this.tis(), ranges: this.missingBlockRanges() });
          this.send({ op: Op.POLLACK, clientId: this.id, pollSeqNo: seq, appData: cntcir });
        });
        return;
      }
      case Op.SPM: {
        this.stats.spm++;
        if (b.spmSeqNo <= this.lastSpm) return;
        this.lastSpm = b.spmSeqNo;
        this.masterId = b.masterClientId;
        this.minNack = b.minNackBackoff;
        this.maxNack = b.maxNackBackoff;
        this.updateStart(b.trailSeq);
        this.lead = Math.max(this.lead, b.leadSeq);
        this.hi = Math.max(this.hi, b.trailSeq);
        this.nackCheck();
        this.ack(p.senderTime);
        return;
      }
      case Op.ODATA:
      case Op.RDATA: {
        if (b.op === Op.ODATA) this.stats.odata++;
        else this.stats.rdata++;
        this.seen++;
        this.masterId = b.clientId;
        this.updateStart(b.trailSeq);
        this.lead = Math.max(this.lead, b.seq);
        this.hi = Math.max(this.hi, b.seq);
        if (b.seq > this.contig) {
          this.recv.add(b.seq);
          this.advance();
        }
        this.nackCheck();
        const fw = b.op === Op.ODATA ? findOption(p, MtOpt.ODATA_FW_LEAD_SEQ_NO) : undefined;
        if (!fw || readUintBE(fw) >= b.seq) this.ack(p.senderTime);
        this.onData(b.data);
        return;
      }
      case Op.NCF:
        this.stats.ncf++;
        return;
      case Op.KICK:
        this.stats.kick++;
        for (const k of b.clients)
          if (k.clientId === this.id) {
            this.kickReason = k.reason;
            this.state = 'kicked';
          }
        return;
    }
  }

  private onData(payload: Buffer): void {
    const m = decodeMa(payload);
    if (!m.ok || m.value.op !== MaOp.DATA) {
      this.stats.bad++;
      return;
    }
    const idx = m.value.blockNumber - this.sim.blockBase;
    if (idx < 0 || idx >= this.have.length) {
      this.stats.bad++;
      return;
    }
    if (this.have[idx]) {
      this.stats.dup++;
      return;
    }
    m.value.data.copy(this.image, idx * this.sim.blockSize);
    this.have[idx] = 1;
    this.haveCount++;
    if (this.complete && this.opts.leaveOnComplete !== false) {
      this.state = 'done';
      this.send({ op: Op.LEAVE, clientId: this.id, reason: 0 });
    }
  }

  private updateStart(trail: number): void {
    if (trail - 1 > this.contig) {
      this.contig = trail - 1;
      for (const s of this.recv) if (s <= this.contig) this.recv.delete(s);
      this.advance();
    }
  }

  private advance(): void {
    while (this.recv.has(this.contig + 1)) {
      this.recv.delete(this.contig + 1);
      this.contig++;
    }
  }

  missingSeqRanges(): Range[] {
    const out: Range[] = [];
    let s = -1;
    const end = Math.min(this.lead, this.contig + 20000);
    for (let q = this.contig + 1; q <= end; q++) {
      const miss = !this.recv.has(q);
      if (miss && s < 0) s = q;
      if (!miss && s >= 0) {
        out.push([s, q - 1]);
        s = -1;
      }
    }
    if (s >= 0) out.push([s, end]);
    return out;
  }

  private nackCheck(): void {
    if (this.nackArmed || this.opts.nack === false || this.missingSeqRanges().length === 0) return;
    this.nackArmed = true;
    const delay = this.masterId === this.id ? 0 : this.minNack;
    this.sim.at(this.sim.now + delay, () => this.nackFire());
  }

  private nackFire(): void {
    this.nackArmed = false;
    if (this.state !== 'regular') return;
    const ranges = this.missingSeqRanges();
    if (ranges.length === 0) return;
    this.stats.nacks++;
    this.send({ op: Op.NACK, clientId: this.id, hiSeq: this.hi, lossRate: this.lossWire(), ranges: ranges.slice(0, 200) });
    this.nackArmed = true;
    this.sim.at(this.sim.now + Math.max(1, this.maxNack), () => this.nackFire());
  }

  private ack(serverTime: number): void {
    if (this.masterId !== this.id || this.opts.ack === false || this.state !== 'regular') return;
    this.stats.acks++;
    this.send({ op: Op.ACK, clientId: this.id, seq: this.contig, serverTime, hiSeq: this.hi, lossRate: this.lossWire() });
  }
}
