/**
 * MS-WDSMT 3.2 client state machine, sans-I/O (quinn-proto style).
 *
 * Contract:
 * - `new MtClient(cfg, app, rng, now)` queues the first JOIN (3.2.3). `app` is the MS-WDSMA side (`MtApplication`).
 * - Inputs: `handleDatagram(buf, now)` for every datagram from the session's server or group (foreign and
 *   malformed ones are counted and dropped, never thrown); `handleTimeout(now)` once `now >= pollTimeout()`;
 *   `cacheDone(bytes)` when the application released payload bytes (3.2.4 Cache Done); `leave(reason, now)` to
 *   end the session (3.2.5.4.1).
 * - Outputs, drained after every input: `pollTransmit()` (packets to send, each with its destination: after a
 *   DEMOTE a LEAVE may still go to the old server), `pollEvent()` (joined, kicked, inactive, demoted, closed) and
 *   `pollTimeout()` (the next absolute wake-up, undefined when nothing is armed).
 * - Read-only views: `stats()` (a copy of the counters), `info()` (a copy of the 3.2.1 state), and the cheap
 *   `serverAddress()` / `currentSessionId()` for per-datagram checks.
 * Time (`now`) is milliseconds on one monotonic clock, the same for every call; `rng` returns [0,1) and is the
 * only source of randomness. Nothing here reads a clock or does I/O.
 *
 * Over ~450 lines on purpose: it is one state machine (3.2.5's handlers for each packet type, its timers and the
 * Missing ODATA List bookkeeping), and every handler reads and writes the same 3.2.1 state. The parts that stand
 * alone already live beside it: missing-list.ts (3.2.1.3.1), timers.ts, outbox.ts, codec/mt.ts.
 */
import { DecodeErrorCode } from './codec/bytes';
import {
  CAP_MULTISTREAM,
  LOSS_SCALE,
  LeaveReason,
  MtBody,
  MtOpt,
  MtOption,
  MtPacket,
  Op,
  Peek,
  Range,
  Sec,
  SecMode,
  decodeMt,
  encodeMt,
  findOption,
  newDataFields,
  peekMtData,
} from './codec/mt';
import { bytesToIp } from './codec/msi';
import type { PacketAuth } from './codec/mt-security';
import { MissingList } from './missing-list';
import { NackBackoff, drawNackBackoff } from './nack-backoff';
import { Outbox } from './outbox';
import { Timers } from './timers';

export interface Endpoint {
  address: string;
  port: number;
}

/** The WDS Multicast Application Protocol as seen from the transport (MS-WDSMT 3.2.4/3.2.5.1 triggers). */
export interface MtApplication {
  /** Query Cache trigger: maximum payload bytes that may be outstanding. */
  queryCache(): number;
  /** DATA trigger. The application must later call `MtClient.cacheDone(appData.length)` (possibly at once). */
  onData(appData: Buffer, now: number): void;
  /** The same trigger with AppData in place, `buf[start, start + len)`; used instead of onData when present. */
  onDataAt?(buf: Buffer, start: number, len: number, now: number): void;
  /** QCC trigger: the QCR's AppData (an MA PROGRESS packet). */
  onQcc(now: number): Buffer;
  /** POLL trigger: the POLLACK's AppData (an MA CNTCIR packet). */
  onPoll(appData: Buffer, now: number): Buffer;
}

/**
 * The largest step a POLL, QCC or SPM sequence number may take past the last one taken (protocol-notes #80). A
 * server counts them one by one, so a session that stays alive (InactivityTimeout) never skips a million.
 */
const MAX_SEQ_STEP = 1 << 20;
/** Rejected numbers in a row, each just above the one before, that are taken as the server's own counting. */
const RESYNC_RUN = 3;

/**
 * 3.2.5.6, 3.2.5.7, 3.2.5.9: the last POLL, QCC or SPM number taken, and the replay rule. A number not above it is
 * rejected, as the spec says, and so is one more than MAX_SEQ_STEP above it (after the first). CHECKSUM authenticates
 * nothing, so one forged packet with a high number (2^53 - 1, or just last + 2^20) made every genuine one afterwards a
 * "replay" for the rest of the session: for POLL no POLLACK, so no MS-WDSMA repair round. So a run of RESYNC_RUN
 * rejected numbers, each above the one before by at most MAX_SEQ_STEP, is the server counting on below (or far above)
 * a forged number: the last of them is taken, and the count goes on from there.
 */
class SeqGate {
  last = 0;
  private run = 0;
  private runLast = 0;

  take(seq: number): boolean {
    if (seq > this.last && (this.last === 0 || seq - this.last <= MAX_SEQ_STEP)) return this.accept(seq);
    this.run = this.run > 0 && seq > this.runLast && seq - this.runLast <= MAX_SEQ_STEP ? this.run + 1 : 1;
    this.runLast = seq;
    return this.run >= RESYNC_RUN ? this.accept(seq) : false;
  }

  reset(): void {
    this.last = this.run = this.runLast = 0;
  }

  private accept(seq: number): true {
    this.last = seq;
    this.run = 0;
    return true;
  }
}


export interface MtParams {
  inactivityTimeout: number; // 30 000 ms (3.2.1.2)
  joinInterval: number; // 500 ms
  maxLeaveDelay: number; // 200 ms
  forceQccInterval: number; // 20 000 ms
  /** 'literal' = 3.2.5.10 as written; 'ewma' = corrected weights (see protocol-notes #5). */
  lossModel: 'literal' | 'ewma';
  /** NACK RangeList cap so a NACK fits one 1500-byte frame (protocol-notes #16). */
  maxNackRanges: number;
  /**
   * The Master Client stops NACKing a sequence number after this many NACKs named it without result, so its ACK
   * point (and the server's window) moves on; MS-WDSMA repair rounds or HTTP deliver the block (protocol-notes #19).
   */
  masterNackGiveUp: number;
  /**
   * How the NACK back-off is drawn from [MinNACKBackOff, MaxNACKBackOff] (3.2.5.12): 'exponential' (default) is
   * the truncated exponential for large groups, 'uniform' the flat draw (nack-backoff.ts, protocol-notes #46).
   */
  nackBackoff: NackBackoff;
  /**
   * The shortest wait before a NACK is repeated (ms). A server may send MinNACKBackOff = MaxNACKBackOff = 0 (any u16
   * is valid): the repeat would then fall due at once, again and again without the clock moving, a NACK flood
   * (protocol-notes #47; found by npm run fuzz).
   */
  minNackRepeat: number;
  /**
   * The Master Client NACKs a newly detected loss at once even while its NACK timer waits to repeat earlier ranges
   * (MinNACKBackOff "is ignored by the Master Client", 3.2.1.3; its timeout "MUST be zero", 3.2.5.12); false =
   * the new loss waits for the running timer (protocol-notes #101).
   */
  masterNackAtOnce: boolean;
  /**
   * How long (ms) masterNackAtOnce remembers an ODATA that arrived below the highest ODATA already received, and how
   * far below: a new hole is NACKed at once only when more ODATA has arrived beyond it than that depth. On a path
   * that reorders, a "new loss" is mostly a packet still on its way, and NACKing each at once had nearly every block
   * sent twice (protocol-notes #104). 0 = never hold back.
   */
  reorderHoldMs: number;
}

export const DEFAULT_MT_PARAMS: MtParams = {
  inactivityTimeout: 30_000,
  joinInterval: 500,
  maxLeaveDelay: 200,
  forceQccInterval: 20_000,
  lossModel: 'literal',
  maxNackRanges: 80,
  masterNackGiveUp: 32,
  nackBackoff: 'exponential',
  minNackRepeat: 10,
  masterNackAtOnce: true,
  reorderHoldMs: 5000,
};

export interface MtClientConfig {
  sessionId: number;
  /** ClientSecurityMode (MS-WDSMSI 2.2.1.1): the security header of every packet we send. */
  clientSecMode: SecMode;
  /** ServerSecurityMode (MS-WDSMSI 2.2.1.2): the security header a server packet must carry. */
  serverSecMode: SecMode;
  /** HASH: the SymKey's HMAC that seals what we send (required when clientSecMode is HASH). */
  clientAuth?: PacketAuth;
  /** HASH or SIGN: the key that checks what the server sends (required when serverSecMode is HASH or SIGN). */
  serverAuth?: PacketAuth;
  server: Endpoint;
  clientName: string;
  localAddress: Buffer; // 4 or 16 bytes
  macAddress: Buffer;
  multistream?: boolean; // advertise WDSMCTP_CAP_MULTISTREAM (we honour DEMOTE), default true
  /** The session initiation's UserSid: sent in every JOIN as WDSMCTP_OPT_USER_SID (2.2.5, <1>). */
  userSid?: Buffer;
  params?: Partial<MtParams>;
}

export type MtEvent =
  | { type: 'joined'; clientId: number }
  | { type: 'kicked'; reason: number }
  | { type: 'inactive' }
  | { type: 'demoted'; sessionId: number; multicast: Endpoint; server: Endpoint }
  | { type: 'closed'; reason: number };

export interface MtStats {
  received: number;
  malformed: Partial<Record<DecodeErrorCode, number>>;
  wrongSecurity: number;
  /** HASH / SIGN packets whose HMAC or signature did not verify (MS-WDSMT 3.2.5.2): dropped, never used. */
  authFailed: number;
  wrongSession: number;
  /**
   * SPM, QCC or POLL whose SPMSeqNo / QCCSeqNo / POLLSeqNo is not above the last one taken (MS-WDSMT 3.2.5.9,
   * 3.2.5.7, 3.2.5.6: "MUST be rejected"): a replay, or a duplicate from the network (protocol-notes #80).
   */
  replayed: number;
  ignored: number; // valid packets not for this state (e.g. anything but JOINACK while joining, ODATA below FirstODATASeqNo, NCF)
  odata: number;
  rdata: number;
  spm: number;
  acksSent: number;
  nacksSent: number;
  zeroNacks: number;
  qcrsSent: number;
  pollacksSent: number;
  joinsSent: number;
  nackGiveUps: number;
  /** ODATA that arrived below the highest ODATA already received (the path reorders: protocol-notes #104). */
  reordered: number;
}

/** `MtClient.info()`: the client's view of the session (MS-WDSMT 3.2.1), copied. */
export interface MtInfo {
  state: 'join' | 'regular' | 'closed';
  sessionId: number;
  server: Endpoint;
  clientId: number;
  masterClientId: number;
  minNackBackoff: number;
  maxNackBackoff: number;
  lossRate: number;
  firstSeq: number;
  hiSeq: number;
  trailSeq: number;
  leadSeq: number;
  mcRtt: number;
  lastRdataTime: number;
  maxAppCache: number;
  curAppCache: number;
  /** Missing ODATA sequence ranges [first, last]. */
  missing: [number, number][];
  params: MtParams;
}

export interface Transmit {
  to: Endpoint;
  data: Buffer;
}

const A = 500 / 65536;

/**
 * The client's timers (3.2.2), in the order they fire when due at the same instant. The LEAVE delay runs first
 * and alone once the client is closed; the inactivity timer closes the client, so nothing after it fires then.
 */
/** Opcodes only a client sends (MS-WDSMT 2.2.3, 3.1.5.1); 0x0C decodes as POLL from a server. */
const CLIENT_OPS: ReadonlySet<number> = new Set([Op.JOIN, Op.QCR, Op.ACK, Op.NACK, Op.LEAVE, Op.POLLACK]);

const TIMERS = ['leave', 'inactivity', 'join', 'poll', 'qcc', 'forceQcc', 'nack'] as const;
type MtTimer = (typeof TIMERS)[number];
const CLOSED_TIMERS: readonly MtTimer[] = ['leave'];

export class MtClient {
  private readonly params: MtParams;
  private phase: 'join' | 'regular' | 'closed' = 'join';
  private sessionId: number;
  private server: Endpoint;
  private clientId = 0;

  // 3.2.1.1
  private readonly pollSeq = new SeqGate();
  private lastPollData: Buffer = Buffer.alloc(0);
  private readonly qccSeq = new SeqGate();
  private lastQccSenderTime = 0;
  private qccRecvTime = 0;
  // 3.2.1.3
  private minNackBackoff = 0;
  private maxNackBackoff = 0;
  private lossRate = 0;
  private firstSeq = 0;
  private hiSeq = 0;
  private hiLossSeq = 0;
  private trailSeq = 0;
  private leadSeq = 0;
  private readonly spmSeq = new SeqGate();
  private masterClientId = 0;
  private mcRtt = 0;
  private lastRdataTime = 0;
  private maxAppCache = 0;
  private curAppCache = 0;
  private readonly missing = new MissingList();

  // timers (absolute ms), one handler each
  private readonly timers = new Timers<MtTimer>(TIMERS);
  private readonly onTimer: Record<MtTimer, (now: number) => void> = {
    leave: () => this.onLeaveTimer(),
    inactivity: (now) => this.onInactivityTimer(now),
    join: (now) => this.sendJoin(now),
    poll: (now) => this.sendPollAck(now),
    qcc: (now) => this.sendQcr(now),
    forceQcc: (now) => this.sendVoluntaryQcr(now),
    nack: (now) => this.onNackTimer(now),
  };
  private leaveReason = 0;
  /** LEAVE built when scheduled, so a DEMOTE can switch sessions while it waits (old SessionId, ClientId, server). */
  private leavePacket: Transmit | undefined;

  private readonly out = new Outbox<Transmit>();
  private events: MtEvent[] = [];
  private readonly counters: MtStats = {
    received: 0,
    malformed: {},
    wrongSecurity: 0,
    authFailed: 0,
    wrongSession: 0,
    replayed: 0,
    ignored: 0,
    odata: 0,
    rdata: 0,
    spm: 0,
    acksSent: 0,
    nacksSent: 0,
    zeroNacks: 0,
    qcrsSent: 0,
    pollacksSent: 0,
    joinsSent: 0,
    nackGiveUps: 0,
    reordered: 0,
  };
  /** The highest ODATA sequence number received, and when an ODATA last arrived below it (-Infinity: never). */
  private hiOdata = 0;
  private reorderedAt = -Infinity;
  /** The deepest reordering (highest ODATA then, minus the late one) of the last reorderHoldMs, and when seen. */
  private reorderDepth = 0;
  private reorderDepthAt = -Infinity;
  private nackHead = 0;
  /** The highest sequence number a NACK of ours named (masterNackAtOnce: what lies above it is a new loss). */
  private nackedThrough = 0;
  private nackHeadCount = 0;
  /** The last packet of our session (3.2.2 Inactivity): the timer is re-armed from it when it fires, not per packet. */
  private lastHeard = 0;
  /** What peekMtData read of the current data packet (reused: no object per packet). */
  private readonly fast = newDataFields();

  constructor(
    private readonly cfg: MtClientConfig,
    private readonly app: MtApplication,
    private readonly rng: () => number,
    now: number,
  ) {
    this.params = { ...DEFAULT_MT_PARAMS, ...cfg.params };
    this.sessionId = cfg.sessionId;
    this.server = cfg.server;
    // 3.2.3 Initialization: Query Cache trigger, Inactivity timer, then join (3.2.5.3).
    this.maxAppCache = app.queryCache();
    this.lastHeard = now;
    this.timers.arm('inactivity', now + this.params.inactivityTimeout);
    this.sendJoin(now);
  }

  // ---------------------------------------------------------------- read-only views
  /** The session's server address (it changes with a DEMOTE); cheap, for a per-datagram source check. */
  serverAddress(): string {
    return this.server.address;
  }

  /** The SessionId packets must carry (it changes with a DEMOTE). */
  currentSessionId(): number {
    return this.sessionId;
  }

  /** A copy of the counters. */
  stats(): MtStats {
    return { ...this.counters, malformed: { ...this.counters.malformed } };
  }

  /** A copy of the protocol state (3.2.1) and the parameters in force. */
  info(): MtInfo {
    return {
      state: this.phase,
      sessionId: this.sessionId,
      server: { ...this.server },
      clientId: this.clientId,
      masterClientId: this.masterClientId,
      minNackBackoff: this.minNackBackoff,
      maxNackBackoff: this.maxNackBackoff,
      lossRate: this.lossRate,
      firstSeq: this.firstSeq,
      hiSeq: this.hiSeq,
      trailSeq: this.trailSeq,
      leadSeq: this.leadSeq,
      mcRtt: this.mcRtt,
      lastRdataTime: this.lastRdataTime,
      maxAppCache: this.maxAppCache,
      curAppCache: this.curAppCache,
      missing: this.missing.ranges(),
      params: { ...this.params },
    };
  }

  // ---------------------------------------------------------------- poll side
  pollTransmit(): Transmit | undefined {
    return this.out.poll();
  }
  pollEvent(): MtEvent | undefined {
    return this.events.shift();
  }
  pollTimeout(): number | undefined {
    return this.phase === 'closed' ? this.timers.at('leave') : this.timers.next();
  }

  // ---------------------------------------------------------------- higher layer
  /** 3.2.4 Cache Done trigger. */
  cacheDone(bytes: number): void {
    this.curAppCache -= bytes;
    if (this.curAppCache < 0) this.curAppCache = 0;
  }

  /** 3.2.5.4.1 Terminate trigger: send LEAVE (after the random delay of 3.2.5.4.3), then close. */
  leave(reason: number, now: number): void {
    if (this.phase === 'closed') return;
    if (this.timers.armed('leave')) {
      // A LEAVE to the old session (DEMOTE) is still waiting: send it now, then leave the new one too.
      if (this.leavePacket) this.out.push(this.leavePacket);
      this.leavePacket = undefined;
      this.timers.disarm('leave');
    }
    if (this.clientId === 0) {
      // Never joined (this session): nothing to leave.
      this.disarmAll();
      this.events.push({ type: 'closed', reason });
      return;
    }
    this.scheduleLeave(reason, now);
    this.disarmAll();
  }

  // ---------------------------------------------------------------- timers
  /** Runs each timer due at `now` once, in the order of TIMERS; once closed only the LEAVE delay runs. */
  handleTimeout(now: number): void {
    for (const { name } of this.timers.sweep(now, this.phase === 'closed' ? CLOSED_TIMERS : undefined)) this.onTimer[name](now);
  }

  private onLeaveTimer(): void {
    if (this.leavePacket) this.out.push(this.leavePacket);
    this.leavePacket = undefined;
    if (this.phase === 'closed') this.events.push({ type: 'closed', reason: this.leaveReason });
  }

  private onInactivityTimer(now: number): void {
    const due = this.lastHeard + this.params.inactivityTimeout;
    if (now < due) {
      // A packet came after the timer was armed: it runs from that packet (same deadline as re-arming per packet).
      this.timers.arm('inactivity', due);
      return;
    }
    // 3.2.5.4.2 (reason INACTIVE per 2.2.11, protocol-notes #11)
    this.events.push({ type: 'inactive' });
    this.scheduleLeave(LeaveReason.INACTIVE, now);
    this.disarmAll();
  }

  private sendPollAck(now: number): void {
    const appData = this.app.onPoll(this.lastPollData, now);
    this.emit(this.server, { op: Op.POLLACK, clientId: this.clientId, pollSeqNo: this.pollSeq.last, appData }, now);
    this.counters.pollacksSent++;
  }

  /** 3.2.5.7.1 */
  private sendQcr(now: number): void {
    const appData = this.app.onQcc(now);
    this.emit(this.server, {
      op: Op.QCR,
      clientId: this.clientId,
      qccSeqNo: this.qccSeq.last,
      backoff: Math.min(0xffff, Math.max(0, Math.round(now - this.qccRecvTime))),
      serverTime: this.lastQccSenderTime,
      hiSeq: this.hiSeq,
      lossRate: this.lossRate * LOSS_SCALE,
      appData,
    }, now);
    this.counters.qcrsSent++;
    this.timers.arm('forceQcc', now + this.params.forceQccInterval);
  }

  /** 3.2.5.8 voluntary QCR (2.2.8.3) */
  private sendVoluntaryQcr(now: number): void {
    const appData = this.app.onQcc(now);
    this.emit(this.server, { op: Op.QCR, clientId: this.clientId, qccSeqNo: 0, backoff: 0, serverTime: 0, hiSeq: this.hiSeq, lossRate: this.lossRate * LOSS_SCALE, appData }, now);
    this.counters.qcrsSent++;
    this.timers.arm('forceQcc', now + this.params.forceQccInterval);
  }

  /** 3.2.5.12.1 */
  private onNackTimer(now: number): void {
    if (!this.missing.isEmpty() && this.masterClientId === this.clientId) {
      const head = this.missing.highestContinuous() + 1;
      if (head === this.nackHead) this.nackHeadCount++;
      else {
        this.nackHead = head;
        this.nackHeadCount = 1;
      }
      if (this.nackHeadCount > this.params.masterNackGiveUp) {
        this.missing.received(head);
        this.counters.nackGiveUps++;
        this.nackHeadCount = 0;
      }
    }
    if (!this.missing.isEmpty()) {
      this.emit(this.server, {
        op: Op.NACK,
        clientId: this.clientId,
        hiSeq: this.hiSeq,
        lossRate: this.lossRate * LOSS_SCALE,
        ranges: this.missing.ranges(this.params.maxNackRanges) as Range[],
      }, now);
      // every loss known now counts as reported, named or beyond the maxNackRanges cap (else each arrival would
      // find the unnamed ones "new" and NACK again)
      this.nackedThrough = this.missing.highestMissing();
      this.counters.nacksSent++;
      this.timers.arm('nack', now + Math.max(this.params.minNackRepeat, this.randomBackoff()));
    }
  }

  // ---------------------------------------------------------------- packets
  handleDatagram(buf: Buffer, now: number): void {
    if (this.phase === 'closed') return;
    const sec = this.cfg.serverSecMode;
    if (sec === Sec.CHECKSUM || sec === Sec.NONE) {
      // Hot path: the session filter, then a verified ODATA/RDATA read in place (no packet object). Anything else
      // takes the full decoder, which names what is wrong with it.
      const f = this.fast;
      const r = peekMtData(buf, sec, this.sessionId, f);
      if (r === Peek.WRONG_SESSION) {
        this.counters.wrongSession++;
        return;
      }
      if (r === Peek.DATA) {
        this.counters.received++;
        this.lastHeard = now;
        if (this.phase !== 'regular') {
          this.counters.ignored++;
          return;
        }
        return this.onData(f.op, f.clientId, f.seq, f.trailSeq, f.senderTime, f.fwLead, buf, f.dataStart, f.dataLen, now);
      }
    }
    const d = decodeMt(buf, { from: 'server', auth: this.cfg.serverAuth });
    if (!d.ok) {
      const c = d.error.code;
      if (c === 'unauthenticated') {
        this.counters.authFailed++;
        return;
      }
      if (c === 'unsupported-security') {
        // HASH or SIGN while ours is another mode (e.g. a pre-OS CHECKSUM client in a mixed session): not ours.
        this.counters.wrongSecurity++;
        return;
      }
      this.counters.malformed[c] = (this.counters.malformed[c] ?? 0) + 1;
      return;
    }
    this.handlePacket(d.value, now);
  }

  private handlePacket(p: MtPacket, now: number): void {
    // 3.2.5.2 validation
    if (p.secType !== this.cfg.serverSecMode) {
      this.counters.wrongSecurity++;
      return;
    }
    if (p.sessionId !== this.sessionId) {
      this.counters.wrongSession++;
      return;
    }
    const b = p.body;
    if (CLIENT_OPS.has(b.op)) {
      // An opcode only clients send is not "a packet received from server" (3.2.5.1): ignored, and it does not
      // reset the Inactivity timer. Our own NACKs and QCRs reach our group socket once nothing else holds the
      // server's port on this host (a dead server on loopback), and kept us waiting for ever (protocol-notes #92).
      this.counters.ignored++;
      return;
    }
    this.counters.received++;
    this.lastHeard = now;
    if (this.phase === 'join') {
      if (b.op === Op.JOINACK) this.onJoinAck(p, b, now);
      else this.counters.ignored++;
      return;
    }
    switch (b.op) {
      case Op.JOINACK:
        return this.onJoinAck(p, b, now); // 3.2.5.5: our QCR was lost
      case Op.ODATA:
      case Op.RDATA: {
        const fw = findOption(p, MtOpt.ODATA_FW_LEAD_SEQ_NO);
        const fwLead = fw === undefined || fw.length !== 8 ? -1 : readU64(fw);
        return this.onData(b.op, b.clientId, b.seq, b.trailSeq, p.senderTime, fwLead, b.data, 0, b.data.length, now);
      }
      case Op.SPM:
        return this.onSpm(p, b, now);
      case Op.QCC:
        if (!this.qccSeq.take(b.qccSeqNo)) {
          this.counters.replayed++;
          return;
        }
        this.qccRecvTime = now;
        this.lastQccSenderTime = p.senderTime;
        this.timers.arm('qcc', now + this.rng() * b.qcrBackoff);
        return;
      case Op.POLL:
        if (!this.pollSeq.take(b.pollSeqNo)) {
          this.counters.replayed++;
          return;
        }
        this.lastPollData = Buffer.from(b.appData);
        this.timers.arm('poll', now + this.rng() * b.backoff);
        return;
      case Op.KICK:
        for (const c of b.clients) {
          if (c.clientId === this.clientId) {
            // 3.2.5.15: terminate the session (no LEAVE is specified)
            this.phase = 'closed';
            this.disarmAll();
            this.events.push({ type: 'kicked', reason: c.reason });
            return;
          }
        }
        return;
      case Op.DEMOTE:
        if (b.clients.includes(this.clientId)) return this.onDemote(b, now);
        return;
      case Op.NCF: // 3.2.5.19
      default:
        this.counters.ignored++;
        return;
    }
  }

  private onJoinAck(p: MtPacket, b: Extract<MtBody, { op: typeof Op.JOINACK }>, now: number): void {
    const first = this.phase === 'join';
    this.clientId = b.clientId;
    this.minNackBackoff = b.minNackBackoff;
    this.maxNackBackoff = b.maxNackBackoff;
    this.emit(this.server, { op: Op.QCR, clientId: this.clientId, qccSeqNo: 0, backoff: 0, serverTime: p.senderTime, hiSeq: 0, lossRate: 0, appData: Buffer.alloc(0) }, now);
    this.counters.qcrsSent++;
    this.timers.disarm('join');
    this.phase = 'regular';
    this.timers.arm('forceQcc', now + this.params.forceQccInterval);
    if (first) this.events.push({ type: 'joined', clientId: this.clientId });
  }

  private onSpm(p: MtPacket, b: Extract<MtBody, { op: typeof Op.SPM }>, now: number): void {
    // 3.2.5.9
    if (!this.spmSeq.take(b.spmSeqNo)) {
      this.counters.replayed++;
      return;
    }
    this.counters.spm++;
    this.masterClientId = b.masterClientId;
    this.trailSeq = b.trailSeq;
    this.leadSeq = b.leadSeq;
    this.minNackBackoff = b.minNackBackoff;
    this.maxNackBackoff = b.maxNackBackoff;
    this.mcRtt = b.rtt;
    // "the first non-zero LeadODATASeqNo" (3.2.1.3). An SPM with Lead 0 says nothing was sent yet, so every
    // ODATA from 1 (NextODATASeqNo starts at 1, 3.1.1.3) is ours: a loss of ODATA 1 is NACKed, not left to an
    // MS-WDSMA round because the first ODATA that arrived was 2 (protocol-notes #102).
    if (this.firstSeq === 0) this.startAt(b.leadSeq !== 0 ? b.leadSeq : 1);
    if (this.firstSeq !== 0 && b.leadSeq > this.hiLossSeq) {
      // 3.2.5.10.1: every sequence number up to Lead not yet accounted for counts as a loss step
      this.lossSteps(b.leadSeq - this.hiLossSeq);
      this.hiLossSeq = b.leadSeq;
    }
    if (b.trailSeq > this.hiSeq) this.hiSeq = b.trailSeq;
    if (this.firstSeq !== 0) {
      this.missing.updateStart(Math.max(b.trailSeq, this.firstSeq));
      this.missing.updateEnd(b.leadSeq);
    }
    this.armNack(now);
    this.sendAck(p.senderTime, now);
  }

  /**
   * 3.2.5.13 / 3.2.5.14, from the packet's fields: AppData is `buf[start, start + len)`; `fwLead` is the
   * ODATA_FW_LEAD_SEQ_NO value, or -1 when the option is absent (or not 8 bytes).
   */
  private onData(op: number, clientId: number, seq: number, trailSeq: number, senderTime: number, fwLead: number, buf: Buffer, start: number, len: number, now: number): void {
    if (op === Op.RDATA) {
      this.counters.rdata++;
      this.lastRdataTime = now; // 3.2.5.14
    } else {
      this.counters.odata++;
      if (seq > this.hiOdata) this.hiOdata = seq;
      else if (seq < this.hiOdata) {
        this.counters.reordered++;
        const depth = this.hiOdata - seq;
        // The deepest of the last reorderHoldMs: a deeper one replaces it, and so does any one once it is that old.
        if (depth > this.reorderDepth || now - this.reorderDepthAt >= this.params.reorderHoldMs) {
          this.reorderDepth = depth;
          this.reorderDepthAt = now;
        }
        this.reorderedAt = now;
      }
    }
    // 3.2.5.13
    if (this.firstSeq !== 0 && seq < this.firstSeq) {
      this.counters.ignored++;
      return;
    }
    if (this.firstSeq === 0) this.startAt(seq);
    this.masterClientId = clientId;
    this.trailSeq = trailSeq;
    if (seq > this.leadSeq) this.leadSeq = seq;
    if (seq > this.hiSeq) this.hiSeq = seq;
    // 3.2.5.10.2
    if (seq > this.hiLossSeq) {
      if (this.params.lossModel === 'literal') {
        this.lossSteps(seq - this.hiLossSeq);
        this.lossRate = A * this.lossRate;
      } else {
        this.lossSteps(seq - this.hiLossSeq - 1);
        this.lossRate = (1 - A) * this.lossRate;
      }
      this.hiLossSeq = seq;
    } else if (this.params.lossModel === 'literal') this.lossRate = A * this.lossRate;
    this.missing.updateStart(Math.max(trailSeq, this.firstSeq));
    this.missing.updateEnd(seq);
    this.missing.received(seq);
    this.armNack(now);
    // 3.2.5.13: with ODATA_FW_LEAD_SEQ_NO, ACK only when its value >= ODATASeqNo.
    if (fwLead < 0 || fwLead >= seq) this.sendAck(senderTime, now);
    if (this.maxAppCache - this.curAppCache < len) {
      // 3.2.5.12.2 Zero NACK: tells the server we are not keeping up (LossRate scaled: protocol-notes #6)
      this.emit(this.server, { op: Op.NACK, clientId: this.clientId, hiSeq: this.hiSeq, lossRate: this.lossRate * LOSS_SCALE, ranges: [] }, now);
      this.counters.zeroNacks++;
      return;
    }
    this.curAppCache += len;
    if (this.app.onDataAt) this.app.onDataAt(buf, start, len, now);
    else this.app.onData(start === 0 && len === buf.length ? buf : buf.subarray(start, start + len), now);
  }

  private onDemote(b: Extract<MtBody, { op: typeof Op.DEMOTE }>, now: number): void {
    const mAddr = bytesToIp(b.mAddress);
    const uAddr = bytesToIp(b.uAddress);
    if (!mAddr || !uAddr) return;
    // The lower session is on the same server: an address of the other family (IPv6 in an IPv4 session) cannot be
    // joined from this session's sockets, and once failed the whole receive (protocol-notes #108). Ignored: we stay.
    const v6 = this.server.address.includes(':');
    if ((b.mAddress.length === 16) !== v6 || (b.uAddress.length === 16) !== v6) {
      this.counters.ignored++;
      return;
    }
    // 3.2.5.16: LEAVE (CANCELLED) to the old server, then rejoin the lower session from scratch.
    this.scheduleLeave(LeaveReason.CANCELLED, now);
    const multicast = { address: mAddr, port: b.mPort };
    const server = { address: uAddr, port: b.uPort };
    this.sessionId = b.lowerSessionId;
    this.server = server;
    this.resetSessionState();
    // Keep CurrentAppCacheSize: the application still holds those bytes (protocol-notes #17).
    this.maxAppCache = this.app.queryCache();
    this.phase = 'join';
    this.lastHeard = now;
    this.timers.arm('inactivity', now + this.params.inactivityTimeout);
    this.events.push({ type: 'demoted', sessionId: b.lowerSessionId, multicast, server });
    this.sendJoin(now);
  }

  // ---------------------------------------------------------------- helpers
  private startAt(seq: number): void {
    this.firstSeq = seq;
    // Sequence numbers before we joined are not losses of ours.
    if (this.hiLossSeq < seq - 1) this.hiLossSeq = seq - 1;
  }

  private lossSteps(n: number): void {
    if (n <= 0) return;
    if (this.params.lossModel === 'literal') {
      // n iterations of LR = A*LR + (1-A), in closed form
      const an = Math.pow(A, n);
      this.lossRate = an * this.lossRate + (1 - an);
    } else {
      const bn = Math.pow(1 - A, n);
      this.lossRate = bn * this.lossRate + (1 - bn);
    }
  }

  /** 3.2.5.12: the NACK timer's wait, in [MinNACKBackOff, MaxNACKBackOff] (protocol-notes #46). */
  private randomBackoff(): number {
    return drawNackBackoff(this.params.nackBackoff, this.minNackBackoff, this.maxNackBackoff, this.rng());
  }

  /**
   * 3.2.5.12 NACK management. The Master Client's timeout is zero; a loss it detects while its timer runs for a
   * repeat is NACKed at once too (masterNackAtOnce, protocol-notes #101): otherwise the new hole holds its ACK
   * point, and so the server's window, for up to MaxNACKBackOff (2 x MCRTT and more) before the server hears of it.
   */
  private armNack(now: number): void {
    if (this.missing.isEmpty()) return;
    const master = this.masterClientId === this.clientId;
    if (this.timers.armed('nack')) {
      // …once more ODATA arrived beyond the newest hole than the deepest recent reordering (#104): closer than that,
      // the hole may still be a packet on its way and waits (for more ODATA, or the timer), and so do the older new
      // holes with it, NACKed together then. Without recent reordering every new hole goes at once, those an SPM or
      // RDATA reveals above the highest ODATA too.
      const newest = this.missing.highestMissing();
      const depth = now - this.reorderedAt < this.params.reorderHoldMs ? this.reorderDepth : 0;
      if (master && this.params.masterNackAtOnce && newest > this.nackedThrough && (depth === 0 || this.hiOdata - newest > depth)) this.timers.arm('nack', now);
      return;
    }
    this.timers.arm('nack', master ? now : now + this.randomBackoff());
  }

  /** 3.2.5.11 */
  private sendAck(serverTime: number, now: number): void {
    if (this.masterClientId !== this.clientId || this.clientId === 0) return;
    this.emit(this.server, {
      op: Op.ACK,
      clientId: this.clientId,
      seq: this.missing.highestContinuous(),
      serverTime,
      hiSeq: this.hiSeq,
      lossRate: this.lossRate * LOSS_SCALE,
    }, now);
    this.counters.acksSent++;
  }

  private sendJoin(now: number): void {
    const opts: MtOption[] = this.cfg.multistream === false ? [] : [{ id: MtOpt.CAPABILITIES, value: Buffer.from([CAP_MULTISTREAM]) }];
    if (this.cfg.userSid?.length) opts.push({ id: MtOpt.USER_SID, value: this.cfg.userSid });
    this.emit(this.server, { op: Op.JOIN, clientName: this.cfg.clientName, ipAddress: this.cfg.localAddress, macAddress: this.cfg.macAddress }, now, opts);
    this.counters.joinsSent++;
    this.timers.arm('join', now + this.params.joinInterval);
  }

  private scheduleLeave(reason: number, now: number): void {
    // 3.2.5.4.3: random wait up to MaxNACKBackOff, or MaxLeaveDelay when that is zero
    const max = this.maxNackBackoff > 0 ? this.maxNackBackoff : this.params.maxLeaveDelay;
    this.leaveReason = reason;
    this.timers.arm('leave', now + this.rng() * max);
    const data = encodeMt({ op: Op.LEAVE, clientId: this.clientId, reason }, { secMode: this.cfg.clientSecMode, sessionId: this.sessionId, senderTime: Math.floor(now), auth: this.cfg.clientAuth });
    this.leavePacket = { to: this.server, data };
  }

  private disarmAll(): void {
    this.phase = 'closed';
    this.timers.disarmAll(['leave']);
  }

  private resetSessionState(): void {
    this.clientId = 0;
    this.hiOdata = this.reorderDepth = 0; // a new session numbers its ODATA from 1 again (DEMOTE)
    this.reorderedAt = this.reorderDepthAt = -Infinity;
    this.pollSeq.reset();
    this.qccSeq.reset();
    this.minNackBackoff = this.maxNackBackoff = 0;
    this.lossRate = 0;
    this.firstSeq = this.hiSeq = this.hiLossSeq = this.trailSeq = this.leadSeq = this.nackedThrough = 0;
    this.spmSeq.reset();
    this.masterClientId = this.mcRtt = this.lastRdataTime = 0;
    this.missing.reset();
    this.timers.disarmAll(['leave', 'inactivity']);
  }

  private emit(to: Endpoint, body: MtBody, now: number, options?: { id: number; value: Buffer }[]): void {
    const data = encodeMt(body, { secMode: this.cfg.clientSecMode, sessionId: this.sessionId, senderTime: Math.floor(now), options, auth: this.cfg.clientAuth });
    this.out.push({ to, data });
  }
}

function readU64(b: Buffer): number {
  return b.readUInt32BE(0) * 0x1_0000_0000 + b.readUInt32BE(4);
}
