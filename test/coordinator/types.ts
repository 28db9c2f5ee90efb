/**
 * The coordinator's vocabulary, shared by its modules and by the programs that drive it: the configuration
 * (with the protocol defaults of MS-WDSMT 3.1.1.4 and the values we chose where the spec gives none, see
 * docs/coordinator.md), what it sends (`Transmit`), what it reports (`CoordinatorEvent`) and its counters.
 */
import { DATA_HEADER_LEN } from '../../core/codec/ma';
import type { CoordinatorSecurity } from './security';

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
  fwLeadEvery?: number; // send ODATA_FW_LEAD_SEQ_NO asking for an ACK every N packets (default 32, protocol-notes #45); 0 = off: an ACK per ODATA (2008 R2)
  repeatGuard?: 'rdata' | 'odata'; // what LastSendTime (3.1.5.9.6's 4 x MCRTT skip) starts from: 'rdata' (default) = set only by an RDATA; 'odata' = the ODATA's send
  nackCut?: 'nack' | 'window'; // 3.1.5.9.6's x0.75 on every NACK ('nack', as written), or at most once per window of data ('window': not again until an ACK names a packet sent after the cut; protocol-notes #107)
  queueTargetMs?: number; // the window grows (3.1.5.9.5) only while MCRTT is within this of the lowest MCRTT of the last 10-20 s and shrinks above twice that (ours, protocol-notes #105; 0, the default = grow on every ACK, as written)
  masterHoldMs?: number; // after a Master Client switch, no NACK-driven switch for this long (ours; 0 = 3.1.5.9.6.1 literally, the default)
  spmIntervalMs?: number; // SPMInterval, default 220
  pollBackoffMs?: number; // PollBackOff, default 200
  rng: () => number;
  // Protocol parameters with spec defaults (MS-WDSMT 3.1.1.4); overridable for tests.
  qccIntervalMs?: number; // QCCInterval: no default in the spec; 5000
  joinAckTimeoutMs?: number; // JoinAckToQCRTimeout, 500
  maxJoinAckSends?: number; // MaxJoinAckSends, 3
  noClientQccIntervalMs?: number; // NoClientQCCInterval, 500
  kickIntervalMs?: number; // KickInterval, 15000
  demoteIntervalMs?: number; // DemoteInterval, 500 (3.1.1.4)
  clientDeadTimeoutMs?: number; // ClientDeadTimeout, 60000
  cleanupIntervalMs?: number; // CleanupDataListInterval, 200
  retentionMs?: number; // Data Packet List retention (3.1.6.7), 1000
  maxNoResponseSpm?: number; // MaxNoResponseSPM, 5
  inactivityTimeoutMs?: number; // InactivityTimeout, 300000
  queryMarginMs?: number; // MA Query timer = PollBackOff + this + highest client RTT; 100
  lateJoinSec?: number; // MA 3.1.6.1: CNTCIRs from clients that joined this much later than the oldest are dropped; 30
  security?: CoordinatorSecurity; // MS-WDSMT security of the session (security.ts); CHECKSUM
  rpcAnonymous?: boolean; // WDSC: serve unauthenticated and anonymous-NTLM session initiation; false
}

export const DEFAULTS = {
  blockSize: 1385,
  blockBase: 1 as 0 | 1,
  expMaxWindow: 64,
  maxWindow: 2048,
  fwLeadEvery: 32,
  masterHoldMs: 0,
  repeatGuard: 'rdata' as 'rdata' | 'odata',
  queueTargetMs: 0,
  nackCut: 'nack' as 'nack' | 'window',
  spmIntervalMs: 220,
  pollBackoffMs: 200,
  qccIntervalMs: 5000,
  joinAckTimeoutMs: 500,
  maxJoinAckSends: 3,
  noClientQccIntervalMs: 500,
  kickIntervalMs: 15000,
  demoteIntervalMs: 500,
  clientDeadTimeoutMs: 60000,
  cleanupIntervalMs: 200,
  retentionMs: 1000,
  maxNoResponseSpm: 5,
  inactivityTimeoutMs: 300000,
  queryMarginMs: 100,
  lateJoinSec: 30,
  dropPercent: 0,
  rpcAnonymous: false,
} as const;

/** The configuration with every default filled in (rateBytesPerSec 0 = no cap). */
export type ResolvedConfig = Required<Omit<CoordinatorConfig, 'rateBytesPerSec' | 'security'>> & { rateBytesPerSec: number; security?: CoordinatorSecurity };

/** Fills in the defaults and rejects a configuration the server cannot run with. */
export function resolveConfig(cfg: CoordinatorConfig): ResolvedConfig {
  const c = { ...DEFAULTS, rateBytesPerSec: 0, ...stripUndefined(cfg) } as ResolvedConfig;
  if (!(c.blockSize >= 1 && c.blockSize <= 0xffff - DATA_HEADER_LEN - 64)) throw new Error(`block size ${c.blockSize} out of range`);
  if (c.blockBase !== 0 && c.blockBase !== 1) throw new Error(`block base must be 0 or 1`);
  if (c.expMaxWindow < 1 || c.maxWindow < c.expMaxWindow) throw new Error('need 1 <= expMaxWindow <= maxWindow');
  return c;
}

export type Dest = 'multicast' | { address: string; port: number };
export interface Transmit {
  dest: Dest;
  data: Buffer;
  via: 'msi' | 'session';
}

export type SessionState = 'PreStartState' | 'QCCState' | 'DataState';
export type MaState = 'Idle' | 'QueryState' | 'DataState';
export type ClientListName = 'pending' | 'active' | 'kick' | 'demoted';

/**
 * A lower-speed multicast session of the same content, as the Demote trigger obtains it (MS-WDSMT 3.1.5.10): what a
 * DEMOTE packet tells the clients to join (2.2.13: LowerSessionId, MAddress:MPort, UAddress:UPort).
 */
export interface LowerSession {
  sessionId: number;
  multicastAddr: string;
  multicastPort: number;
  serverAddr: string;
  serverPort: number;
}

export type CoordinatorEvent =
  | { type: 'msi'; address: string; port: number; ok: boolean; win32?: number; namespace?: string; content?: string; via: 'udp' | 'rpc'; user?: string }
  | { type: 'client-joined'; clientId: number; address: string; port: number; name: string }
  | { type: 'client-join-failed'; clientId: number; address: string; port: number }
  | { type: 'client-left'; clientId: number; reason: number }
  | { type: 'client-timeout'; clientId: number }
  | { type: 'client-kicked'; clientId: number; reason: number }
  | { type: 'client-demoted'; clientId: number; lowerSessionId: number }
  | { type: 'state'; from: SessionState; to: SessionState }
  | { type: 'master'; clientId: number; rtt: number; why: 'qcc' | 'nack' }
  | { type: 'round-started'; round: number; ranges: number; blocks: number; clients: number; dropped: number }
  | { type: 'round-finished'; round: number }
  | { type: 'terminated' };

/** Stats counters (all monotonic except the `clients*` gauges). */
export interface CoordinatorStats {
  msiRequests: number;
  msiReplies: number;
  msiErrors: number;
  /** WdsRpcMessage calls (MS-WDSC), whatever they asked for; those refused before MS-WDSMSI saw them. */
  wdscCalls: number;
  wdscRefused: number;
  odataSent: number;
  rdataSent: number;
  ncfSent: number;
  spmSent: number;
  qccSent: number;
  pollSent: number;
  kickSent: number;
  demoteSent: number;
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
  authFailed: number; // HASH packets from clients whose HMAC did not verify
  sessionMismatch: number;
  unexpected: number; // valid packet that no rule accepts (server opcode from a client, unknown client, wrong state)
  clientsJoined: number;
  clientsLeft: number;
  clientsTimedOut: number;
  clientsKicked: number;
  clientsDemoted: number;
  joinFailures: number;
  masterChanges: number;
  /** NACKs from the Master Client; Zero NACKs (no ranges) from anyone. */
  nacksFromMaster: number;
  zeroNacksReceived: number;
  /** NACKed sequence numbers not repeated: sent within 4 x MCRTT (3.1.5.9.6), or no longer in the Data Packet List. */
  rdataSkippedRecent: number;
  rdataSkippedGone: number;
  /** RDATA held back: already repeated once with no Master Client ACK echoing a packet sent since (pacing.ts). */
  rdataSkippedUnechoed: number;
  /** Times the window (not the rate cap) held back a block that was ready, and the ms until the next ODATA left. */
  windowStalls: number;
  windowStallMs: number;
  /** Window stalls by length: < 1, < 5, < 20, < 100, >= 100 ms. */
  windowStallHist: number[];
  /** MCRTT samples from accepted ACKs: their sum and the largest (ms). */
  mcRttSum: number;
  /** ACKs that did not grow the window: MCRTT over the lowest of the last 10-20 s by more than queueTargetMs. */
  windowHolds: number;
  /** SPMs sent at once because an ACK left the window full with no ODATA asking for an ACK (pacing.ts acked). */
  ackRequests: number;
  /** ACKs that cut the window (once per window of data): MCRTT over the lowest by more than 2 x queueTargetMs. */
  windowQueueCuts: number;
  /** NACKs that did not cut the window (nackCut 'window': a cut of this window of data came first). */
  nackCutsSkipped: number;
  mcRttMax: number;
  /** Sum of CurrentWindowSize over the ODATA sent (the mean window is this / odataSent). */
  windowSum: number;
  spmTimeouts: number; // DataState -> QCCState after MaxNoResponseSPM
  masterLeft: number; // DataState -> QCCState because the Master Client left or timed out (protocol-notes #103)
  rounds: number;
  roundsFinished: number;
  blocksQueued: number;
  terminated: number;
  clientsActive: number;
  clientsPending: number;
  clientsKick: number;
  /** Gauge: clients on the Demoted Client List (3.1.1.2), until their LEAVE or the Client Cleanup timer. */
  clientsDemote: number;
}

export function newStats(): CoordinatorStats {
  return {
    msiRequests: 0, msiReplies: 0, msiErrors: 0, wdscCalls: 0, wdscRefused: 0,
    odataSent: 0, rdataSent: 0, ncfSent: 0, spmSent: 0, qccSent: 0, pollSent: 0, kickSent: 0, demoteSent: 0, joinAckSent: 0,
    dataBytesSent: 0, droppedOdata: 0,
    acksReceived: 0, acksRejected: 0, nacksReceived: 0, qcrReceived: 0, qcrStale: 0, pollAcksReceived: 0,
    pollAcksStale: 0, joinsReceived: 0, leavesReceived: 0,
    malformed: 0, checksumErrors: 0, securityMismatch: 0, authFailed: 0, sessionMismatch: 0, unexpected: 0,
    clientsJoined: 0, clientsLeft: 0, clientsTimedOut: 0, clientsKicked: 0, clientsDemoted: 0, joinFailures: 0,
    masterChanges: 0, nacksFromMaster: 0, zeroNacksReceived: 0, rdataSkippedRecent: 0, rdataSkippedGone: 0, rdataSkippedUnechoed: 0,
    windowStalls: 0, windowStallMs: 0, windowStallHist: [0, 0, 0, 0, 0], mcRttSum: 0, mcRttMax: 0, windowHolds: 0, ackRequests: 0, windowQueueCuts: 0, nackCutsSkipped: 0, windowSum: 0, spmTimeouts: 0, masterLeft: 0, rounds: 0, roundsFinished: 0, blocksQueued: 0, terminated: 0,
    clientsActive: 0, clientsPending: 0, clientsKick: 0, clientsDemote: 0,
  };
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  const out: Partial<T> = {};
  for (const [k, v] of Object.entries(o)) if (v !== undefined) (out as Record<string, unknown>)[k] = v;
  return out;
}
