/**
 * The coordinator: the distribution-point (server) side of WDS multicast, as a sans-I/O state machine.
 *
 *   MS-WDSMSI 3.1.5.3  session initiation over UDP (request -> reply / error)
 *   MS-WDSMT  3.1      transport server: Pending/Active/Kick lists, PreStart -> QCC -> Data states, JOINACK,
 *                      QCC (InState / OutState), SPM, ACK-clocked ODATA window, NACK -> NCF + RDATA,
 *                      Master-Client switch, Data Packet List cleanup, KICK, POLL, client cleanup, inactivity
 *   MS-WDSMA  3.1      application server: QueryState (POLL/SRVCIR, collect CNTCIRs) -> DataState (DATA blocks)
 *
 * No sockets, timers, clocks or randomness in here: the caller passes `now` (ms) into every entry point and an
 * `rng` in the config, drains `pollTransmit()` / `pollEvent()` after every call and wakes us at `pollTimeout()`.
 * Readings chosen where the specs are silent or contradict themselves are listed in docs/coordinator.md.
 */
import { DATA_HEADER_LEN, MaOp, decodeMa, encodeMa, writeDataHeader } from '../../core/codec/ma';
import { MsiOp, decodeMsi, encodeMsiError, encodeMsiReply } from '../../core/codec/msi';
import { CAP_MULTISTREAM, LOSS_SCALE, MtBody, MtOption, MtOpt, Op, Range, Sec, decodeMt, encodeMt } from '../../core/codec/mt';
import { Outbox } from '../../core/outbox';
import { Timers } from '../../core/timers';

export interface ContentSource {
  size: number;
  read(offset: number, length: number): Buffer;
}

export interface CoordinatorConfig {
  namespace: string;
  content: string;
  source: ContentSource;
  sessionId: number;
  multicastAddr: string;
  serverAddr: string;
  port: number;
  blockSize?: number; // default 1385 (KB2582106: one block per 1500-byte frame)
  blockBase?: 0 | 1; // default 1 (docs/protocol-notes.md #1)
  rateBytesPerSec?: number; // optional cap on ODATA+RDATA bytes (token bucket on `now`)
  dropPercent?: number; // random ODATA drop on send (loss simulation)
  expMaxWindow?: number; // ExpMaxWindowSize, default 64
  maxWindow?: number; // MaxWindowSize, default 2048
  fwLeadEvery?: number; // send ODATA_FW_LEAD_SEQ_NO asking for an ACK every N packets; 0 = off
  spmIntervalMs?: number; // SPMInterval, default 220
  pollBackoffMs?: number; // PollBackOff, default 200
  rng: () => number;
  // Protocol parameters with spec defaults (MS-WDSMT 3.1.1.4); overridable for tests.
  qccIntervalMs?: number; // QCCInterval: no default in the spec; 5000
  joinAckTimeoutMs?: number; // JoinAckToQCRTimeout, 500
  maxJoinAckSends?: number; // MaxJoinAckSends, 3
  noClientQccIntervalMs?: number; // NoClientQCCInterval, 500
  kickIntervalMs?: number; // KickInterval, 15000
  clientDeadTimeoutMs?: number; // ClientDeadTimeout, 60000
  cleanupIntervalMs?: number; // CleanupDataListInterval, 200
  retentionMs?: number; // Data Packet List retention (3.1.6.7), 1000
  maxNoResponseSpm?: number; // MaxNoResponseSPM, 5
  inactivityTimeoutMs?: number; // InactivityTimeout, 300000
  queryMarginMs?: number; // MA Query timer = PollBackOff + this + highest client RTT; 100
  lateJoinSec?: number; // MA 3.1.6.1: CNTCIRs from clients that joined this much later than the oldest are dropped; 30
}

export type Dest = 'multicast' | { address: string; port: number };
export interface Transmit {
  dest: Dest;
  data: Buffer;
  via: 'msi' | 'session';
}

export type SessionState = 'PreStartState' | 'QCCState' | 'DataState';
export type MaState = 'Idle' | 'QueryState' | 'DataState';
export type ClientListName = 'pending' | 'active' | 'kick';

export type CoordinatorEvent =
  | { type: 'msi'; address: string; port: number; ok: boolean; win32?: number; namespace?: string; content?: string }
  | { type: 'client-joined'; clientId: number; address: string; port: number; name: string }
  | { type: 'client-join-failed'; clientId: number; address: string; port: number }
  | { type: 'client-left'; clientId: number; reason: number }
  | { type: 'client-timeout'; clientId: number }
  | { type: 'client-kicked'; clientId: number; reason: number }
  | { type: 'state'; from: SessionState; to: SessionState }
  | { type: 'master'; clientId: number; rtt: number; why: 'qcc' | 'nack' }
  | { type: 'round-started'; round: number; ranges: number; blocks: number; clients: number; dropped: number }
  | { type: 'round-finished'; round: number }
  | { type: 'terminated' };

export const DEFAULTS = {
  blockSize: 1385,
  blockBase: 1 as 0 | 1,
  expMaxWindow: 64,
  maxWindow: 2048,
  fwLeadEvery: 0,
  spmIntervalMs: 220,
  pollBackoffMs: 200,
  qccIntervalMs: 5000,
  joinAckTimeoutMs: 500,
  maxJoinAckSends: 3,
  noClientQccIntervalMs: 500,
  kickIntervalMs: 15000,
  clientDeadTimeoutMs: 60000,
  cleanupIntervalMs: 200,
  retentionMs: 1000,
  maxNoResponseSpm: 5,
  inactivityTimeoutMs: 300000,
  queryMarginMs: 100,
  lateJoinSec: 30,
  dropPercent: 0,
} as const;

/** The Client List record of MS-WDSMT 3.1.1.2 (plus a few fields kept for stats). */
interface Client {
  clientId: number;
  address: string;
  port: number;
  name: string;
  clientTime: number;
  lastUpdate: number;
  rtt: number;
  supportsDemote: boolean;
  kickReason: number;
  joinAckSendCount: number;
  qcrReceived: boolean;
  list: ClientListName;
  joinedAt: number;
  progress?: number; // last Status trigger (PROGRESS in QCR AppData)
  timeInSession?: number;
  lossRate: number;
}

/** One entry of the Data Packet List. Payloads are rebuilt from the source on demand (no image in memory). */
interface DataEntry {
  seq: number;
  block: number;
  creationTime: number;
  lastSendTime: number;
}

interface Cntcir {
  clientId: number;
  timeInSession: number;
  progress: number;
  ranges: [number, number][];
}

/** Stats counters (all monotonic except the `clients*` gauges). */
export interface CoordinatorStats {
  msiRequests: number;
  msiReplies: number;
  msiErrors: number;
  odataSent: number;
  rdataSent: number;
  ncfSent: number;
  spmSent: number;
  qccSent: number;
  pollSent: number;
  kickSent: number;
  joinAckSent: number;
  dataBytesSent: number;
  droppedOdata: number;
  acksReceived: number;
  acksRejected: number;
  nacksReceived: number;
  qcrReceived: number;
  qcrStale: number;
  pollAcksReceived: number;
  pollAcksStale: number;
  joinsReceived: number;
  leavesReceived: number;
  malformed: number;
  checksumErrors: number;
  securityMismatch: number;
  sessionMismatch: number;
  unexpected: number; // valid packet that no rule accepts (server opcode from a client, unknown client, wrong state)
  clientsJoined: number;
  clientsLeft: number;
  clientsTimedOut: number;
  clientsKicked: number;
  joinFailures: number;
  masterChanges: number;
  spmTimeouts: number; // DataState -> QCCState after MaxNoResponseSPM
  rounds: number;
  roundsFinished: number;
  blocksQueued: number;
  terminated: number;
  clientsActive: number;
  clientsPending: number;
  clientsKick: number;
}

function newStats(): CoordinatorStats {
  return {
    msiRequests: 0, msiReplies: 0, msiErrors: 0,
    odataSent: 0, rdataSent: 0, ncfSent: 0, spmSent: 0, qccSent: 0, pollSent: 0, kickSent: 0, joinAckSent: 0,
    dataBytesSent: 0, droppedOdata: 0,
    acksReceived: 0, acksRejected: 0, nacksReceived: 0, qcrReceived: 0, qcrStale: 0, pollAcksReceived: 0,
    pollAcksStale: 0, joinsReceived: 0, leavesReceived: 0,
    malformed: 0, checksumErrors: 0, securityMismatch: 0, sessionMismatch: 0, unexpected: 0,
    clientsJoined: 0, clientsLeft: 0, clientsTimedOut: 0, clientsKicked: 0, joinFailures: 0,
    masterChanges: 0, spmTimeouts: 0, rounds: 0, roundsFinished: 0, blocksQueued: 0, terminated: 0,
    clientsActive: 0, clientsPending: 0, clientsKick: 0,
  };
}

/** The server's timers, in the order they fire when due at the same instant (keeps runs reproducible). */
const TIMERS = ['inactivity', 'joinAck', 'inStateQcc', 'spm', 'cleanup', 'rate', 'query', 'outStateQcc', 'kick', 'clientCleanup'] as const;
type TimerName = (typeof TIMERS)[number];

const U16 = 0xffff;
const KICK_MAX_PER_PACKET = 200; // 3.1.5.6.1 refers to the 200-client maximum of 3.1.1.2

/** LossRate from the wire: scaled by 10^16 (values <= 1 taken as already unscaled), clamped to [0, 1]. */
export function lossFromWire(v: number): number {
  if (!Number.isFinite(v) || v <= 0) return 0;
  const x = v <= 1 ? v : v / LOSS_SCALE;
  return Math.min(1, Math.max(0, x));
}

/** MS-WDSMT 3.1.5.9.6.1: M = (RTT/1000) x sqrt(L) x (1 + 9L(1 + 32L^2)); throughput = 1/M. RTT floored at 1 ms. */
export function throughput(rttMs: number, loss: number): number {
  const m = (Math.max(1, rttMs) / 1000) * Math.sqrt(loss) * (1 + 9 * loss * (1 + 32 * loss * loss));
  return 1 / m; // Infinity when loss is 0
}

export class Coordinator {
  readonly stats: CoordinatorStats = newStats();

  private readonly cfg: Required<Omit<CoordinatorConfig, 'rateBytesPerSec'>> & { rateBytesPerSec: number };
  readonly totalBlocks: number;
  private readonly firstBlock: number;
  private readonly lastBlock: number;

  // ---- transmit / event queues
  private readonly txq = new Outbox<Transmit>();
  private readonly evq = new Outbox<CoordinatorEvent>();

  // ---- MT: Multicast Session Configuration (3.1.1.1)
  private state: SessionState = 'PreStartState';
  private nextClientId: number;
  private nextPollSeqNo = 1;
  // ---- MT: client lists (3.1.1.2), one map; `list` says which list an entry is on
  private clientMap = new Map<number, Client>();
  // ---- MT: Data State Configuration (3.1.1.3)
  private minNackBackoff = 1;
  private maxNackBackoff = 1;
  private mcRtt = 1;
  private masterId = 0;
  private nextSpmSeqNo = 1;
  private spmCount = 0;
  private nextOdataSeqNo = 1;
  private mcTrail = 0;
  private mcLead = 0;
  private mcLossRate = 0;
  private window = 1;
  private dataList: DataEntry[] = [];
  private dataHead = 0;
  // ---- MT: QCC State Configuration (3.1.1.5)
  private nextQccSeqNo = 1;
  private waitTime = 1;
  /** QCCs in a row that got no valid QCR (3.1.5.7: the InState timeout MUST keep growing then). */
  private qccUnanswered = 0;
  // ---- timers (absolute ms), one handler each; joinAck has one timer per pending client (id = ClientId)
  private readonly timers = new Timers<TimerName>(TIMERS);
  private readonly onTimer: Record<TimerName, (now: number, id: number | undefined) => void> = {
    inactivity: () => {
      if (this.state !== 'PreStartState') this.terminate();
    },
    joinAck: (now, id) => this.onJoinAckTimer(this.clientMap.get(id!)!, now),
    inStateQcc: (now) => this.onInStateQcc(now),
    spm: (now) => this.onSpmTimer(now),
    cleanup: (now) => this.onCleanup(now),
    rate: (now) => this.release(now),
    query: (now) => this.maQueryTimer(now),
    outStateQcc: (now) => this.onOutStateQcc(now),
    kick: (now) => this.onKickTimer(now),
    clientCleanup: (now) => this.onClientCleanup(now),
  };
  // ---- rate cap (token bucket)
  private tokens = 0;
  private tokensAt = 0;
  private readonly bucket: number;
  // ---- MA server (MS-WDSMA 3.1)
  private maState: MaState = 'Idle';
  private cntcirs = new Map<number, Cntcir>();
  private missing: [number, number][] = [];
  private rangeIdx = 0;
  private nextBlockNo = 0;
  private round = 0;

  constructor(cfg: CoordinatorConfig, now: number) {
    const c = { ...DEFAULTS, rateBytesPerSec: 0, ...stripUndefined(cfg) } as Coordinator['cfg'];
    if (!(c.blockSize >= 1 && c.blockSize <= 0xffff - DATA_HEADER_LEN - 64)) throw new Error(`block size ${c.blockSize} out of range`);
    if (c.blockBase !== 0 && c.blockBase !== 1) throw new Error(`block base must be 0 or 1`);
    if (c.expMaxWindow < 1 || c.maxWindow < c.expMaxWindow) throw new Error('need 1 <= expMaxWindow <= maxWindow');
    this.cfg = c;
    this.totalBlocks = Math.ceil(c.source.size / c.blockSize);
    this.firstBlock = c.blockBase;
    this.lastBlock = c.blockBase + this.totalBlocks - 1;
    this.nextClientId = Math.floor(c.rng() * 0x1_0000_0000) >>> 0 || 1;
    // Client Cleanup Timer is recurring from initialization (3.1.3).
    this.timers.arm('clientCleanup', now + c.clientDeadTimeoutMs);
    const wire = this.odataWireSize(c.blockSize);
    this.bucket = c.rateBytesPerSec > 0 ? Math.max(4 * wire, Math.floor(c.rateBytesPerSec / 100)) : 0;
    this.tokens = this.bucket;
    this.tokensAt = now;
  }

  // =====================================================================================================
  // Public surface
  // =====================================================================================================

  get sessionState(): SessionState {
    return this.state;
  }
  get applicationState(): MaState {
    return this.maState;
  }
  get masterClientId(): number {
    return this.masterId;
  }
  get currentWindowSize(): number {
    return this.window;
  }
  get dataListLength(): number {
    return this.dataList.length - this.dataHead;
  }
  get trailSeq(): number {
    return this.mcTrail;
  }
  get leadSeq(): number {
    return this.mcLead;
  }
  get mcRttMs(): number {
    return this.mcRtt;
  }
  get roundNumber(): number {
    return this.round;
  }

  clients(): { clientId: number; address: string; port: number; state: string; name: string; rtt: number; progress?: number; master: boolean }[] {
    return [...this.clientMap.values()].map((c) => ({
      clientId: c.clientId,
      address: c.address,
      port: c.port,
      state: c.list,
      name: c.name,
      rtt: c.rtt,
      progress: c.progress,
      master: c.clientId === this.masterId,
    }));
  }

  pollTransmit(): Transmit | undefined {
    return this.txq.poll();
  }

  pollEvent(): CoordinatorEvent | undefined {
    return this.evq.poll();
  }

  pollTimeout(): number | undefined {
    return this.timers.next();
  }

  /** Runs every timer due at `now`, earliest first (a timer re-armed at or before `now` runs again). */
  handleTimeout(now: number): void {
    for (let guardCount = 0; guardCount < 10000; guardCount++) {
      const f = this.timers.popExpired(now);
      if (!f) return;
      this.onTimer[f.name](now, f.id);
    }
  }

  /** MS-WDSMSI 2.2.2 / 3.1.5.3: a request on the MSI socket. */
  handleMsi(buf: Buffer, from: { address: string; port: number }, now: number): void {
    void now;
    const d = decodeMsi(buf);
    if (!d.ok) {
      if (d.error.code === 'missing-option') {
        // 3.1.5.3: the request MUST carry NAMESPACE, CONTENT and MAC_ADDRESS.
        this.stats.msiRequests++;
        this.msiError(from, 87 /* ERROR_INVALID_PARAMETER */);
      } else this.stats.malformed++;
      return;
    }
    const p = d.value;
    if (p.kind !== 'request') {
      this.stats.unexpected++;
      return;
    }
    this.stats.msiRequests++;
    if (p.mac.length === 0) return this.msiError(from, 87);
    if (p.namespace.toLowerCase() !== this.cfg.namespace.toLowerCase()) return this.msiError(from, 1168, p.namespace, p.content);
    if (p.content.toLowerCase() !== this.cfg.content.toLowerCase()) return this.msiError(from, 2, p.namespace, p.content);
    this.stats.msiReplies++;
    this.emit({ type: 'msi', address: from.address, port: from.port, ok: true, namespace: p.namespace, content: p.content });
    this.txq.push({
      dest: { address: from.address, port: from.port },
      via: 'msi',
      data: encodeMsiReply({
        multicastAddr: this.cfg.multicastAddr,
        serverAddr: this.cfg.serverAddr,
        multicastPort: this.cfg.port,
        serverPort: this.cfg.port, // MUST equal MULTICAST_PORT (2.2.2.2)
        contentSize: this.cfg.source.size,
        blockSize: this.cfg.blockSize,
        totalBlocks: this.totalBlocks,
        sessionId: this.cfg.sessionId >>> 0,
      }),
    });
  }

  /** MS-WDSMT 3.1.5.1: a datagram from a client on the session (unicast) socket. Never throws. */
  handleDatagram(buf: Buffer, from: { address: string; port: number }, now: number): void {
    try {
      this.onDatagram(buf, from, now);
    } catch {
      this.stats.malformed++;
    }
  }

  /** KICK trigger (3.1.5.6). Returns false when the client is on neither the Active nor the Pending list. */
  kick(clientId: number, reason: number, now: number): boolean {
    const c = this.clientMap.get(clientId);
    if (!c || c.list === 'kick') return false;
    c.list = 'kick';
    c.kickReason = reason & 0xff;
    this.timers.drop('joinAck', clientId);
    this.stats.clientsKicked++;
    this.emit({ type: 'client-kicked', clientId, reason });
    this.cntcirs.delete(clientId);
    this.updateGauges();
    if (!this.timers.armed('kick')) {
      this.sendKick(now);
      this.timers.arm('kick', now + this.cfg.kickIntervalMs);
    }
    return true;
  }

  // =====================================================================================================
  // Packet processing (3.1.5)
  // =====================================================================================================

  private onDatagram(buf: Buffer, from: { address: string; port: number }, now: number): void {
    const d = decodeMt(buf, { from: 'client' });
    if (!d.ok) {
      if (d.error.code === 'checksum') this.stats.checksumErrors++;
      else if (d.error.code === 'unsupported-security') this.stats.securityMismatch++;
      else this.stats.malformed++;
      return;
    }
    const p = d.value;
    // 3.1.5.1.1: the security header MUST match the client security mode (CHECKSUM over UDP MSI); SessionId MUST match.
    if (p.secType !== Sec.CHECKSUM) {
      this.stats.securityMismatch++;
      return;
    }
    if (p.sessionId !== this.cfg.sessionId >>> 0) {
      this.stats.sessionMismatch++;
      return;
    }
    if (this.state !== 'PreStartState' || p.body.op === Op.JOIN) this.timers.arm('inactivity', now + this.cfg.inactivityTimeoutMs);
    const b = p.body;
    switch (b.op) {
      case Op.JOIN:
        this.onJoin(b, p.senderTime, p.options, from, now);
        return;
      case Op.QCR:
        this.onQcr(b, now);
        return;
      case Op.LEAVE:
        this.onLeave(b.clientId, b.reason);
        return;
      case Op.POLLACK:
        this.onPollAck(b.clientId, b.pollSeqNo, b.appData);
        return;
      case Op.ACK:
        this.onAck(b, now);
        return;
      case Op.NACK:
        this.onNack(b, now);
        return;
      default:
        this.stats.unexpected++; // a server opcode from a client
    }
  }

  // ---- 3.1.5.2 JOIN
  private onJoin(b: Extract<MtBody, { op: typeof Op.JOIN }>, senderTime: number, options: MtOption[], from: { address: string; port: number }, now: number): void {
    this.stats.joinsReceived++;
    const caps = options.find((o) => o.id === MtOpt.CAPABILITIES)?.value;
    const supportsDemote = !!caps && caps.includes(CAP_MULTISTREAM);
    // A client re-sends JOIN every JoinInterval until a JOINACK arrives (MT 3.2.5.3.1). A second JOIN from the
    // same address:port while the first is pending reuses the pending record instead of minting a new ClientId.
    for (const c of this.clientMap.values()) {
      if (c.address !== from.address || c.port !== from.port) continue;
      if (c.list === 'pending') {
        c.clientTime = senderTime;
        c.lastUpdate = now;
        c.supportsDemote = supportsDemote;
        this.sendJoinAck(c, now);
        this.timers.arm('joinAck', now + this.cfg.joinAckTimeoutMs, c.clientId);
        return;
      }
      if (c.list === 'active') {
        // The same socket joining again is a new incarnation of that client: the old record is gone.
        this.removeClient(c);
        this.stats.clientsLeft++;
        this.emit({ type: 'client-left', clientId: c.clientId, reason: -1 });
      }
    }
    // 3.1.5.2.1 Adding a client to the Pending Client List.
    const clientId = this.allocClientId();
    const c: Client = {
      clientId,
      address: from.address,
      port: from.port,
      name: b.clientName,
      clientTime: senderTime,
      lastUpdate: now,
      rtt: 0,
      supportsDemote,
      kickReason: 0x02, // "WDSMCTP_KICK_REAON_POLICY_FAIL" on initialization (3.1.1.2): FAIL
      joinAckSendCount: 0,
      qcrReceived: false,
      list: 'pending',
      joinedAt: now,
      lossRate: 0,
    };
    this.clientMap.set(clientId, c);
    this.updateGauges();
    this.sendJoinAck(c, now);
    this.timers.arm('joinAck', now + this.cfg.joinAckTimeoutMs, c.clientId);
  }

  private allocClientId(): number {
    for (;;) {
      const id = this.nextClientId >>> 0;
      this.nextClientId = (this.nextClientId + 1) >>> 0;
      if (id !== 0 && !this.clientMap.has(id)) return id;
    }
  }

  // ---- 3.1.5.2.2
  private sendJoinAck(c: Client, now: number): void {
    c.joinAckSendCount++;
    this.stats.joinAckSent++;
    this.sendTo(
      { address: c.address, port: c.port },
      {
        op: Op.JOINACK,
        clientId: c.clientId,
        minNackBackoff: clamp16(this.minNackBackoff),
        maxNackBackoff: clamp16(this.maxNackBackoff),
        // 3.1.5.2.2 says MCRTT; 2.2.6 says zero unless a Master Client exists. Both hold with this.
        rtt: this.masterId !== 0 ? clamp16(this.mcRtt) : 0,
        clientTime: c.clientTime,
      },
      now,
    );
  }

  // ---- 3.1.5.8 QCR (and 3.1.5.2.3 for the reply to JOINACK)
  private onQcr(b: Extract<MtBody, { op: typeof Op.QCR }>, now: number): void {
    const c = this.clientMap.get(b.clientId);
    if (b.qccSeqNo === 0 && c && c.list === 'pending') {
      // 3.1.5.2.3: move to the Active list, destroy the JoinAck timer.
      this.stats.qcrReceived++;
      c.list = 'active';
      this.timers.drop('joinAck', c.clientId);
      c.rtt = this.rttFrom(b.serverTime, b.backoff, now) ?? c.rtt;
      c.lastUpdate = now;
      c.lossRate = lossFromWire(b.lossRate);
      this.stats.clientsJoined++;
      this.updateGauges();
      this.emit({ type: 'client-joined', clientId: c.clientId, address: c.address, port: c.port, name: c.name });
      this.statusTrigger(c, b.appData);
      if (this.state === 'PreStartState') this.enterQcc(now);
      // MS-WDSMA 1.3: the first client joining starts the application protocol.
      if (this.maState === 'Idle') this.maEnterQuery(now);
      return;
    }
    if (b.qccSeqNo !== 0 && b.qccSeqNo !== this.nextQccSeqNo - 1) {
      this.stats.qcrStale++;
      return;
    }
    if (!c || c.list === 'pending') {
      this.stats.unexpected++;
      return;
    }
    this.stats.qcrReceived++;
    c.lastUpdate = now;
    const rtt = this.rttFrom(b.serverTime, b.backoff, now);
    if (rtt !== undefined) c.rtt = rtt;
    c.lossRate = lossFromWire(b.lossRate);
    c.qcrReceived = true;
    this.statusTrigger(c, b.appData);
  }

  /**
   * RTT from a QCR: 3.1.5.8 says (now - ServerTime), but ServerTime is the QCC's SenderTime and the client waited
   * a random 0..QCRBackOff before answering, which it reports in BackOff (2.2.8.2): that wait is subtracted.
   * A voluntary QCR has ServerTime 0 (2.2.8.3) and carries no RTT sample.
   */
  private rttFrom(serverTime: number, backoff: number, now: number): number | undefined {
    if (serverTime <= 0 || serverTime > now) return undefined;
    return Math.max(0, Math.round(now - serverTime - backoff));
  }

  /** MS-WDSMA 3.1.5.3: the QCR payload is a PROGRESS packet; kept per client for stats. */
  private statusTrigger(c: Client, appData: Buffer): void {
    if (appData.length === 0) return;
    const m = decodeMa(appData);
    if (!m.ok || m.value.op !== MaOp.PROGRESS) {
      this.stats.malformed++;
      return;
    }
    c.progress = Math.min(100, m.value.progress);
    c.timeInSession = m.value.timeInSession;
  }

  // ---- 3.1.5.3 LEAVE
  private onLeave(clientId: number, reason: number): void {
    this.stats.leavesReceived++;
    const c = this.clientMap.get(clientId);
    if (!c) {
      this.stats.unexpected++;
      return;
    }
    this.removeClient(c);
    this.stats.clientsLeft++;
    this.emit({ type: 'client-left', clientId, reason });
  }

  private removeClient(c: Client): void {
    this.clientMap.delete(c.clientId);
    this.timers.drop('joinAck', c.clientId);
    this.cntcirs.delete(c.clientId);
    this.updateGauges();
  }

  // ---- 3.1.5.5 POLLACK
  private onPollAck(clientId: number, pollSeqNo: number, appData: Buffer): void {
    if (pollSeqNo !== this.nextPollSeqNo - 1) {
      this.stats.pollAcksStale++;
      return;
    }
    const c = this.clientMap.get(clientId);
    if (!c || c.list !== 'active') {
      this.stats.unexpected++;
      return;
    }
    this.stats.pollAcksReceived++;
    this.maPollAck(c, appData);
  }

  // ---- 3.1.5.9.5 ACK
  private onAck(b: Extract<MtBody, { op: typeof Op.ACK }>, now: number): void {
    this.stats.acksReceived++;
    if (this.state !== 'DataState' || b.clientId !== this.masterId || b.seq < this.mcTrail || b.seq > this.mcLead) {
      this.stats.acksRejected++;
      return;
    }
    this.spmCount = 0;
    if (b.serverTime > 0 && b.serverTime <= now) this.mcRtt = Math.round(now - b.serverTime);
    this.mcLossRate = lossFromWire(b.lossRate);
    const acked = b.seq - this.mcTrail;
    if (this.window < this.cfg.expMaxWindow) this.window = Math.min(this.window + acked * 2, this.cfg.expMaxWindow);
    else this.window = Math.min(this.window + acked, this.cfg.maxWindow);
    this.mcTrail = b.seq;
    this.release(now);
  }

  // ---- 3.1.5.9.6 NACK
  private onNack(b: Extract<MtBody, { op: typeof Op.NACK }>, now: number): void {
    this.stats.nacksReceived++;
    if (this.state !== 'DataState') {
      this.stats.unexpected++;
      return;
    }
    const loss = lossFromWire(b.lossRate);
    const c = this.clientMap.get(b.clientId);
    if (c) c.lossRate = loss;
    if (b.clientId === this.masterId) this.mcLossRate = loss;
    else if (c && c.list === 'active') this.considerMaster(c, loss);
    this.window = Math.max(this.window * 0.75, 2);
    if (b.ranges.length === 0) return; // a Zero NACK (cache full): only the window shrinks
    this.stats.ncfSent++;
    this.sendMulticast({ op: Op.NCF, ranges: b.ranges.slice(0, U16) }, now);
    const head = this.headSeq();
    if (head === undefined) return;
    const limit = 4 * this.mcRtt;
    for (const [s0, e0] of b.ranges) {
      const s = Math.max(s0, head);
      const e = Math.min(e0, this.mcLead);
      for (let seq = s; seq <= e; seq++) {
        const entry = this.dataList[this.dataHead + (seq - head)];
        if (!entry || entry.seq !== seq) continue;
        if (now - entry.lastSendTime < limit) continue;
        this.sendData(Op.RDATA, entry, now);
        entry.lastSendTime = now;
      }
    }
  }

  // ---- 3.1.5.9.6.1
  private considerMaster(c: Client, loss: number): void {
    const client = throughput(c.rtt, loss);
    const master = throughput(this.mcRtt, this.mcLossRate);
    if (client < 0.75 * master) {
      this.masterId = c.clientId;
      this.mcLossRate = loss;
      this.mcRtt = Math.max(1, c.rtt); // not said by the spec: start from the new master's last known RTT
      this.stats.masterChanges++;
      this.emit({ type: 'master', clientId: c.clientId, rtt: c.rtt, why: 'nack' });
    }
  }

  // =====================================================================================================
  // States (3.1.5.7 QCC, 3.1.5.9 Data)
  // =====================================================================================================

  private setState(to: SessionState): void {
    if (to === this.state) return;
    this.emit({ type: 'state', from: this.state, to });
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
    const active = this.activeClients();
    for (const c of active) c.qcrReceived = false;
    // 3.1.5.7.3 gives 1 ms per client; 3.1.5.7 adds that the timeout MUST keep increasing while no reply comes.
    // Without that growth a client whose random QCR wait (0..QCRBackOff) outlasts the timer answers a QCC the
    // server has already replaced, forever (livelock seen on loopback; docs/coordinator.md).
    if (active.length > 0) this.waitTime = Math.min(active.length * 2 ** this.qccUnanswered, this.cfg.noClientQccIntervalMs);
    else this.waitTime = Math.min(this.waitTime * 2, this.cfg.noClientQccIntervalMs);
    this.waitTime += this.maxRtt(active);
    const qccSeqNo = this.nextQccSeqNo++;
    this.stats.qccSent++;
    this.sendMulticast({ op: Op.QCC, qccSeqNo, qcrBackoff: clamp16(this.waitTime) }, now);
    this.timers.arm('inStateQcc', now + this.waitTime);
  }

  // 3.1.6.4
  private onInStateQcc(now: number): void {
    let best: Client | undefined;
    for (const c of this.activeClients()) if (c.qcrReceived && (!best || c.rtt > best.rtt)) best = c;
    if (!best) {
      this.qccUnanswered++;
      this.sendInStateQcc(now);
      return;
    }
    if (best.clientId !== this.masterId) this.stats.masterChanges++;
    this.masterId = best.clientId;
    this.emit({ type: 'master', clientId: best.clientId, rtt: best.rtt, why: 'qcc' });
    this.timers.disarm('inStateQcc'); // 3.1.5.7.2
    this.enterData(now);
  }

  // 3.1.5.9.1
  private enterData(now: number): void {
    this.setState('DataState');
    this.spmCount = 0;
    this.timers.arm('cleanup', now + this.cfg.cleanupIntervalMs);
    this.timers.arm('outStateQcc', now + this.cfg.qccIntervalMs);
    this.sendSpm(now);
    // Data triggers queued while there was no Master Client start flowing now (within CurrentWindowSize).
    this.release(now);
  }

  // 3.1.5.9.2
  private leaveData(): void {
    this.timers.disarm('spm');
    this.timers.disarm('cleanup');
    this.timers.disarm('outStateQcc');
    this.timers.disarm('rate');
  }

  // 3.1.5.9.3
  private sendSpm(now: number): void {
    this.minNackBackoff = Math.max(this.mcRtt * 2, 1);
    this.maxNackBackoff = Math.max(this.minNackBackoff + Math.floor(this.activeCount() / 5), 1);
    this.stats.spmSent++;
    this.sendMulticast(
      {
        op: Op.SPM,
        spmSeqNo: this.nextSpmSeqNo++,
        masterClientId: this.masterId,
        minNackBackoff: clamp16(this.minNackBackoff),
        maxNackBackoff: clamp16(this.maxNackBackoff),
        trailSeq: this.trailForPacket(),
        leadSeq: this.mcLead,
        rtt: clamp16(this.mcRtt),
      },
      now,
    );
    this.spmCount++;
    this.timers.arm('spm', now + Math.max(this.cfg.spmIntervalMs, 4 * this.mcRtt));
  }

  // 3.1.6.6
  private onSpmTimer(now: number): void {
    if (this.spmCount >= this.cfg.maxNoResponseSpm) {
      this.stats.spmTimeouts++;
      this.enterQcc(now);
      return;
    }
    this.sendSpm(now);
  }

  // 3.1.6.5
  private onOutStateQcc(now: number): void {
    const active = this.activeClients();
    const backoff = Math.min(U16, Math.max(this.cfg.qccIntervalMs, active.length) + this.maxRtt(active));
    this.stats.qccSent++;
    this.sendMulticast({ op: Op.QCC, qccSeqNo: this.nextQccSeqNo++, qcrBackoff: backoff }, now);
    this.timers.arm('outStateQcc', now + backoff);
  }

  // 3.1.6.7
  private onCleanup(now: number): void {
    let removed = 0;
    while (this.dataHead < this.dataList.length) {
      const e = this.dataList[this.dataHead]!;
      // "older than 1000 ms and lower than MCTrailODATASeqNo": <= rather than <, else the last packet of a round
      // (which the Master Client acknowledges as exactly MCTrailODATASeqNo) could never leave and the list
      // would never empty (docs/coordinator.md).
      if (now - e.creationTime <= this.cfg.retentionMs || e.seq > this.mcTrail) break;
      this.dataList[this.dataHead++] = undefined as unknown as DataEntry;
      removed++;
    }
    if (this.dataHead > 1024 && this.dataHead * 2 > this.dataList.length) {
      this.dataList = this.dataList.slice(this.dataHead);
      this.dataHead = 0;
    }
    if (removed > 0) this.sendSpm(now);
    this.maybeDataEmpty(now);
    this.timers.arm('cleanup', now + this.cfg.cleanupIntervalMs);
  }

  // =====================================================================================================
  // ODATA release (3.1.5.9.4 data trigger + 3.1.5.9.5 window)
  // =====================================================================================================

  /**
   * Sends as many new ODATA packets as the window (and the rate cap) allow. The MA server supplies blocks lazily:
   * a data trigger happens only when a packet can leave at once, so the Data Packet List holds only packets
   * between TrailODATASeqNo and LeadODATASeqNo plus the retention period, never the image.
   */
  private release(now: number): void {
    if (this.state !== 'DataState' || this.masterId === 0) return;
    const fw = this.cfg.fwLeadEvery;
    for (;;) {
      const inFlight = this.mcLead - this.mcTrail;
      const allowed = Math.floor(this.window) - inFlight;
      if (allowed <= 0) return;
      if (!this.maHasBlock()) return;
      if (this.bucket > 0) {
        this.refill(now);
        const need = this.odataWireSize(this.cfg.blockSize);
        if (this.tokens < need) {
          const rate = this.cfg.rateBytesPerSec;
          this.timers.arm('rate', now + Math.max(1, Math.ceil(((need - this.tokens) * 1000) / rate)));
          return;
        }
      }
      const block = this.maNextBlock()!;
      // 3.1.5.9.4: data trigger -> ODATA at the tail of the Data Packet List.
      const entry: DataEntry = { seq: this.nextOdataSeqNo++, block, creationTime: now, lastSendTime: now };
      this.dataList.push(entry);
      this.mcLead = entry.seq;
      let options: MtOption[] | undefined;
      if (fw > 0) {
        // ODATA_FW_LEAD_SEQ_NO (2.2.16, Server 2012+): the Master Client ACKs only when the value >= ODATASeqNo.
        // Ask for an ACK every fw packets, and always on the packet that fills the window or ends the round.
        const ask = entry.seq % fw === 0 || allowed === 1 || !this.maHasBlock();
        const v = Buffer.alloc(8);
        v.writeBigUInt64BE(BigInt(ask ? entry.seq : entry.seq - 1));
        options = [{ id: MtOpt.ODATA_FW_LEAD_SEQ_NO, value: v }];
      }
      if (this.cfg.dropPercent > 0 && this.cfg.rng() * 100 < this.cfg.dropPercent) {
        this.stats.droppedOdata++;
        if (this.bucket > 0) this.tokens -= this.odataWireSize(this.cfg.blockSize);
        continue;
      }
      this.sendData(Op.ODATA, entry, now, options);
    }
  }

  private refill(now: number): void {
    if (now > this.tokensAt) {
      this.tokens = Math.min(this.bucket, this.tokens + ((now - this.tokensAt) * this.cfg.rateBytesPerSec) / 1000);
      this.tokensAt = now;
    }
  }

  private odataWireSize(dataLen: number): number {
    // security(9) + session(13) + ODATA fixed(22) + MA DATA header(13) + data + options(2 or 2+4+8)
    return 9 + 13 + 22 + DATA_HEADER_LEN + dataLen + (this.cfg.fwLeadEvery ? 14 : 2);
  }

  private blockPayload(block: number): Buffer {
    const index = block - this.firstBlock;
    const offset = index * this.cfg.blockSize;
    const len = Math.min(this.cfg.blockSize, this.cfg.source.size - offset);
    const out = Buffer.allocUnsafe(DATA_HEADER_LEN + len);
    writeDataHeader(out, 0, block, len);
    const data = this.cfg.source.read(offset, len);
    if (data.length !== len) throw new Error(`content source returned ${data.length} bytes at ${offset}, expected ${len}`);
    data.copy(out, DATA_HEADER_LEN);
    return out;
  }

  /** 3.1.5.9.7 / 3.1.5.9.8: ODATA and RDATA carry the current MasterClientId and head-of-list trail. */
  private sendData(op: typeof Op.ODATA | typeof Op.RDATA, e: DataEntry, now: number, options?: MtOption[]): void {
    const data = this.blockPayload(e.block);
    const pkt = encodeMt(
      { op, clientId: this.masterId, seq: e.seq, trailSeq: this.trailForPacket(), data },
      { secMode: Sec.CHECKSUM, sessionId: this.cfg.sessionId >>> 0, senderTime: Math.floor(now), options },
    );
    if (op === Op.ODATA) this.stats.odataSent++;
    else this.stats.rdataSent++;
    this.stats.dataBytesSent += pkt.length;
    if (this.bucket > 0) {
      this.refill(now);
      this.tokens -= pkt.length; // RDATA may run the bucket into debt; ODATA then waits
    }
    this.txq.push({ dest: 'multicast', data: pkt, via: 'session' });
  }

  private headSeq(): number | undefined {
    return this.dataHead < this.dataList.length ? this.dataList[this.dataHead]!.seq : undefined;
  }

  /**
   * TrailODATASeqNo = ODATASeqNo at the head of the Data Packet List. The list is never empty when an ODATA or
   * RDATA leaves (the packet is in it: 3.1.5.9.4's "same value as the ODATASeqNo" rule). For an SPM sent while
   * the list is empty the spec gives no value; we send LeadODATASeqNo. Sending LeadODATASeqNo + 1 would make a
   * literal client (3.2.1.3.1.1 sets EndODATASeqNo to the new start) ACK Lead + 1, which 3.1.5.9.5 rejects as
   * beyond MCLeadODATASeqNo, and the session would fall back to QCCState after MaxNoResponseSPM.
   */
  private trailForPacket(): number {
    return this.headSeq() ?? this.mcLead;
  }

  private maybeDataEmpty(now: number): void {
    // docs/protocol-notes.md #14: Data Empty = the MA round is fully queued and the Data Packet List is empty.
    if (this.dataListLength === 0 && this.maState === 'DataState' && !this.maHasBlock()) this.maDataEmpty(now);
  }

  // =====================================================================================================
  // KICK (3.1.5.6.1, 3.1.6.3), client cleanup (3.1.6.2), JoinAck timer (3.1.6.1), inactivity (3.1.6.9)
  // =====================================================================================================

  private sendKick(now: number): void {
    const list = [...this.clientMap.values()].filter((c) => c.list === 'kick');
    for (let i = 0; i < list.length; i += KICK_MAX_PER_PACKET) {
      const clients = list.slice(i, i + KICK_MAX_PER_PACKET).map((c) => ({ clientId: c.clientId, reason: c.kickReason }));
      this.stats.kickSent++;
      this.sendMulticast({ op: Op.KICK, clients }, now);
    }
  }

  private onKickTimer(now: number): void {
    if (![...this.clientMap.values()].some((c) => c.list === 'kick')) return;
    this.sendKick(now);
    this.timers.arm('kick', now + this.cfg.kickIntervalMs);
  }

  private onClientCleanup(now: number): void {
    for (const c of [...this.clientMap.values()]) {
      if (c.list === 'pending') continue;
      if (now - c.lastUpdate > this.cfg.clientDeadTimeoutMs) {
        this.removeClient(c);
        this.stats.clientsTimedOut++;
        this.emit({ type: 'client-timeout', clientId: c.clientId });
      }
    }
    this.timers.arm('clientCleanup', now + this.cfg.clientDeadTimeoutMs);
  }

  private onJoinAckTimer(c: Client, now: number): void {
    if (c.joinAckSendCount >= this.cfg.maxJoinAckSends) {
      this.removeClient(c);
      this.stats.joinFailures++;
      this.emit({ type: 'client-join-failed', clientId: c.clientId, address: c.address, port: c.port });
      return;
    }
    this.sendJoinAck(c, now);
    this.timers.arm('joinAck', now + this.cfg.joinAckTimeoutMs, c.clientId);
  }

  /** 3.1.6.9: terminate the session. The coordinator keeps serving: it starts over in PreStartState. */
  private terminate(): void {
    this.stats.terminated++;
    this.emit({ type: 'terminated' });
    if (this.state !== 'PreStartState') this.emit({ type: 'state', from: this.state, to: 'PreStartState' });
    this.state = 'PreStartState';
    this.clientMap.clear();
    this.updateGauges();
    this.minNackBackoff = 1;
    this.maxNackBackoff = 1;
    this.mcRtt = 1;
    this.masterId = 0;
    this.nextSpmSeqNo = 1;
    this.spmCount = 0;
    this.nextOdataSeqNo = 1;
    this.mcTrail = 0;
    this.mcLead = 0;
    this.mcLossRate = 0;
    this.window = 1;
    this.dataList = [];
    this.dataHead = 0;
    this.nextQccSeqNo = 1;
    this.nextPollSeqNo = 1;
    this.waitTime = 1;
    this.timers.disarmAll(['clientCleanup']); // the Client Cleanup timer recurs from initialization (3.1.3)
    this.maState = 'Idle';
    this.cntcirs.clear();
    this.missing = [];
  }

  // =====================================================================================================
  // MS-WDSMA server (3.1)
  // =====================================================================================================

  // 3.1.5.1 QueryState: clear ClientCNTCIRPackets, POLL(SRVCIR), arm the Query timer.
  private maEnterQuery(now: number): void {
    if (this.activeCount() === 0) {
      // Nobody to ask: the application protocol waits for the next client to join.
      this.maState = 'Idle';
      this.timers.disarm('query');
      return;
    }
    this.maState = 'QueryState';
    this.cntcirs.clear();
    const backoff = this.pollTrigger(encodeMa({ op: MaOp.SRVCIR }), now);
    this.timers.arm('query', now + backoff + this.cfg.queryMarginMs + this.maxRtt(this.activeClients()));
  }

  /** MT 3.1.5.4: the POLL trigger. Returns PollBackOff (the value that sets the MA Query timer). */
  private pollTrigger(appData: Buffer, now: number): number {
    this.stats.pollSent++;
    this.sendMulticast({ op: Op.POLL, pollSeqNo: this.nextPollSeqNo++, backoff: clamp16(this.cfg.pollBackoffMs), appData }, now);
    return this.cfg.pollBackoffMs;
  }

  // 3.1.5.1.1 POLLACK trigger
  private maPollAck(c: Client, appData: Buffer): void {
    if (this.maState !== 'QueryState') return;
    const m = decodeMa(appData);
    if (!m.ok || m.value.op !== MaOp.CNTCIR) {
      this.stats.malformed++;
      return;
    }
    c.progress = Math.min(100, m.value.progress);
    c.timeInSession = m.value.timeInSession;
    this.cntcirs.set(c.clientId, { clientId: c.clientId, timeInSession: m.value.timeInSession, progress: m.value.progress, ranges: m.value.ranges });
  }

  // 3.1.6.1 Query timer
  private maQueryTimer(now: number): void {
    if (this.cntcirs.size === 0) {
      this.maEnterQuery(now);
      return;
    }
    // Drop CNTCIRs of clients that joined more than lateJoinSec after the oldest one. Only CNTCIRs that still
    // miss something anchor "the oldest": a finished client that has not left yet must not starve late joiners.
    const all = [...this.cntcirs.values()];
    const needing = all.filter((x) => x.ranges.length > 0);
    const oldest = needing.reduce((m, x) => Math.max(m, x.timeInSession), 0);
    const kept = needing.filter((x) => oldest - x.timeInSession <= this.cfg.lateJoinSec);
    const dropped = needing.length - kept.length;
    this.missing = mergeRanges(kept.flatMap((x) => x.ranges), this.firstBlock, this.lastBlock);
    this.rangeIdx = 0;
    this.nextBlockNo = this.missing.length ? this.missing[0]![0] : 0;
    this.maState = 'DataState';
    this.timers.disarm('query');
    this.round++;
    this.stats.rounds++;
    const blocks = this.missing.reduce((n, [s, e]) => n + (e - s + 1), 0);
    this.emit({ type: 'round-started', round: this.round, ranges: this.missing.length, blocks, clients: kept.length, dropped });
    // 3.1.5.2: each block becomes a data trigger; here they are pulled by release() as the window opens.
    this.release(now);
    this.maybeDataEmpty(now);
  }

  private maHasBlock(): boolean {
    return this.maState === 'DataState' && this.rangeIdx < this.missing.length;
  }

  private maNextBlock(): number | undefined {
    if (!this.maHasBlock()) return undefined;
    const block = this.nextBlockNo;
    const [, end] = this.missing[this.rangeIdx]!;
    if (block >= end) {
      this.rangeIdx++;
      if (this.rangeIdx < this.missing.length) this.nextBlockNo = this.missing[this.rangeIdx]![0];
    } else this.nextBlockNo = block + 1;
    this.stats.blocksQueued++;
    return block;
  }

  // 3.1.5.2.1 Data Empty trigger
  private maDataEmpty(now: number): void {
    if (this.maState !== 'DataState') return;
    this.stats.roundsFinished++;
    this.emit({ type: 'round-finished', round: this.round });
    this.maEnterQuery(now);
  }

  // =====================================================================================================
  // helpers
  // =====================================================================================================

  private activeClients(): Client[] {
    const out: Client[] = [];
    for (const c of this.clientMap.values()) if (c.list === 'active') out.push(c);
    return out;
  }

  private activeCount(): number {
    let n = 0;
    for (const c of this.clientMap.values()) if (c.list === 'active') n++;
    return n;
  }

  private maxRtt(list: Client[]): number {
    let m = 0;
    for (const c of list) if (c.rtt > m) m = c.rtt;
    return m;
  }

  private updateGauges(): void {
    let a = 0;
    let p = 0;
    let k = 0;
    for (const c of this.clientMap.values()) {
      if (c.list === 'active') a++;
      else if (c.list === 'pending') p++;
      else k++;
    }
    this.stats.clientsActive = a;
    this.stats.clientsPending = p;
    this.stats.clientsKick = k;
  }

  private emit(e: CoordinatorEvent): void {
    this.evq.push(e);
  }

  private msiError(from: { address: string; port: number }, win32: number, namespace?: string, content?: string): void {
    this.stats.msiErrors++;
    this.emit({ type: 'msi', address: from.address, port: from.port, ok: false, win32, namespace, content });
    this.txq.push({ dest: { address: from.address, port: from.port }, via: 'msi', data: encodeMsiError(win32, MsiOp.REPLY) });
  }

  private encode(body: MtBody, now: number): Buffer {
    return encodeMt(body, { secMode: Sec.CHECKSUM, sessionId: this.cfg.sessionId >>> 0, senderTime: Math.floor(now) });
  }

  private sendMulticast(body: MtBody, now: number): void {
    this.txq.push({ dest: 'multicast', data: this.encode(body, now), via: 'session' });
  }

  private sendTo(dest: { address: string; port: number }, body: MtBody, now: number): void {
    this.txq.push({ dest, data: this.encode(body, now), via: 'session' });
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

function clamp16(v: number): number {
  return Math.max(0, Math.min(U16, Math.round(v)));
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  const out: Partial<T> = {};
  for (const [k, v] of Object.entries(o)) if (v !== undefined) (out as Record<string, unknown>)[k] = v;
  return out;
}
