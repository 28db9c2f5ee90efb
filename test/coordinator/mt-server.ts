/**
 * The MT server's packet side and client lifecycle, MS-WDSMT 3.1.5–3.1.6: every datagram from a client is
 * validated (3.1.5.1.1: the client security mode, CHECKSUM or the session's HASH with its HMAC checked
 * (security.ts), the same mode the client joined with; our SessionId) and dispatched; JOIN puts a client on the Pending
 * list and sends JOINACK (3.1.5.2, JoinAck timer 3.1.6.1), its QCR(0) moves it to the Active list (3.1.5.2.3);
 * QCR (3.1.5.8, with the MA Status trigger), LEAVE (3.1.5.3), POLLACK (3.1.5.5); KICK and the Kick timer
 * (3.1.5.6, 3.1.6.3), DEMOTE and the Demote timer (3.1.5.10, 3.1.6.8), the Client Cleanup timer (3.1.6.2) and the Inactivity timer that terminates the session
 * (3.1.6.9). ACK and NACK go to the session (session.ts), POLLACK payloads to the MA server (ma-server.ts).
 */
import { MaOp, decodeMa } from '../../core/codec/ma';
import { CAP_MULTISTREAM, MtBody, MtOption, MtOpt, Op, SecMode, decodeMt } from '../../core/codec/mt';
import { ipToBytes } from '../../core/codec/msi';
import { Client, ClientList, noteProgress } from './clients';
import { Context, clamp16, lossFromWire } from './context';
import { MaServer } from './ma-server';
import { Session } from './session';
import type { LowerSession } from './types';

type From = { address: string; port: number };

const KICK_MAX_PER_PACKET = 200; // 3.1.5.6.1 refers to the 200-client maximum of 3.1.1.2
const DEMOTE_MAX_PER_PACKET = 250; // 2.2.13
const KICK_REASON_FAIL = 0x02; // "WDSMCTP_KICK_REAON_POLICY_FAIL" on initialization (3.1.1.2)

export class MtServer {
  constructor(
    private readonly ctx: Context,
    private readonly clients: ClientList,
    private readonly session: Session,
    private readonly ma: MaServer,
  ) {}

  /** 3.1.5.1: a datagram from a client on the session (unicast) socket. Never throws. */
  handleDatagram(buf: Buffer, from: From, now: number): void {
    try {
      this.onDatagram(buf, from, now);
    } catch {
      this.ctx.stats.malformed++;
    }
  }

  /** KICK trigger (3.1.5.6). Returns false when the client is on neither the Active nor the Pending list. */
  kick(clientId: number, reason: number, now: number): boolean {
    const c = this.clients.get(clientId);
    if (!c || c.list === 'kick') return false;
    c.list = 'kick';
    c.kickReason = reason & 0xff;
    this.ctx.timers.drop('joinAck', clientId);
    this.ctx.stats.clientsKicked++;
    this.ctx.emit({ type: 'client-kicked', clientId, reason });
    this.ma.forget(clientId);
    this.clients.updateGauges();
    if (!this.ctx.timers.armed('kick')) {
      this.sendKick(now);
      this.ctx.timers.arm('kick', now + this.ctx.cfg.kickIntervalMs);
    }
    return true;
  }

  /**
   * Demote trigger (3.1.5.10): moves an Active client to the Demoted list, told to join `lower`; the first DEMOTE
   * leaves at once, then every DemoteInterval while the list is not empty (3.1.6.8). Returns false for a client
   * that is not Active, or that did not advertise WDSMCTP_CAP_MULTISTREAM in its JOIN (SupportsDemote FALSE: it
   * would not understand the packet, protocol-notes #90), or when `lower` is this session.
   */
  demote(clientId: number, lower: LowerSession, now: number): boolean {
    const c = this.clients.get(clientId);
    if (!c || c.list !== 'active' || !c.supportsDemote) return false;
    if (lower.sessionId >>> 0 === this.ctx.cfg.sessionId >>> 0) return false;
    c.list = 'demoted';
    c.demotedTo = lower;
    this.ctx.stats.clientsDemoted++;
    this.ctx.emit({ type: 'client-demoted', clientId, lowerSessionId: lower.sessionId >>> 0 });
    this.ma.forget(clientId);
    this.clients.updateGauges();
    if (!this.ctx.timers.armed('demote')) {
      this.sendDemote(now);
      this.ctx.timers.arm('demote', now + this.ctx.cfg.demoteIntervalMs);
    }
    return true;
  }

  private onDatagram(buf: Buffer, from: From, now: number): void {
    const stats = this.ctx.stats;
    const d = decodeMt(buf, { from: 'client', auth: this.ctx.keys.clientAuth });
    if (!d.ok) {
      if (d.error.code === 'checksum') stats.checksumErrors++;
      else if (d.error.code === 'unauthenticated') stats.authFailed++;
      else if (d.error.code === 'unsupported-security') stats.securityMismatch++;
      else stats.malformed++;
      return;
    }
    const p = d.value;
    // 3.1.5.1.1: the security header MUST match the client security mode (CHECKSUM for pre-OS clients, else the
    // session's; a known client keeps the mode it joined with); SessionId MUST match.
    if (!this.ctx.keys.accepts(p.secType)) {
      stats.securityMismatch++;
      return;
    }
    const known = 'clientId' in p.body ? this.clients.get(p.body.clientId) : undefined;
    if (known && known.secMode !== p.secType && p.body.op !== Op.JOIN) {
      stats.securityMismatch++;
      return;
    }
    if (p.sessionId !== this.ctx.cfg.sessionId >>> 0) {
      stats.sessionMismatch++;
      return;
    }
    if (this.session.state !== 'PreStartState' || p.body.op === Op.JOIN) this.ctx.timers.arm('inactivity', now + this.ctx.cfg.inactivityTimeoutMs);
    const b = p.body;
    switch (b.op) {
      case Op.JOIN:
        return this.onJoin(b, p.senderTime, p.options, from, p.secType as SecMode, now);
      case Op.QCR:
        return this.onQcr(b, now);
      case Op.LEAVE:
        return this.onLeave(b.clientId, b.reason, now);
      case Op.POLLACK:
        return this.onPollAck(b.clientId, b.pollSeqNo, b.appData);
      case Op.ACK:
        return this.session.onAck(b, now);
      case Op.NACK:
        return this.session.onNack(b, now);
      default:
        stats.unexpected++; // a server opcode from a client
    }
  }

  // ---- 3.1.5.2 JOIN
  private onJoin(b: Extract<MtBody, { op: typeof Op.JOIN }>, senderTime: number, options: MtOption[], from: From, secMode: SecMode, now: number): void {
    this.ctx.stats.joinsReceived++;
    const caps = options.find((o) => o.id === MtOpt.CAPABILITIES)?.value;
    const supportsDemote = !!caps && caps.includes(CAP_MULTISTREAM);
    // A client re-sends JOIN every JoinInterval until a JOINACK arrives (MT 3.2.5.3.1). A second JOIN from the
    // same address:port while the first is pending reuses the pending record instead of minting a new ClientId.
    for (const c of this.clients.all()) {
      if (c.address !== from.address || c.port !== from.port) continue;
      if (c.list === 'pending' && c.secMode === secMode) {
        c.clientTime = senderTime;
        c.lastUpdate = now;
        c.supportsDemote = supportsDemote;
        this.sendJoinAck(c, now);
        return;
      }
      if (c.list === 'active' || c.list === 'pending') {
        // The same socket joining again is a new incarnation of that client: the old record is gone.
        this.removeClient(c);
        this.ctx.stats.clientsLeft++;
        this.ctx.emit({ type: 'client-left', clientId: c.clientId, reason: -1 });
      }
    }
    // 3.1.5.2.1 Adding a client to the Pending Client List.
    const c: Client = {
      clientId: this.clients.allocId(),
      address: from.address,
      port: from.port,
      name: b.clientName,
      clientTime: senderTime,
      lastUpdate: now,
      rtt: 0,
      supportsDemote,
      kickReason: KICK_REASON_FAIL,
      joinAckSendCount: 0,
      qcrReceived: false,
      list: 'pending',
      joinedAt: now,
      lossRate: 0,
      secMode,
    };
    this.clients.add(c);
    this.sendJoinAck(c, now);
  }

  /** 3.1.5.2.2: JOINACK to the client, and (re)arm its JoinAck timer. */
  private sendJoinAck(c: Client, now: number): void {
    const s = this.session;
    c.joinAckSendCount++;
    this.ctx.stats.joinAckSent++;
    this.ctx.send(
      { address: c.address, port: c.port },
      {
        op: Op.JOINACK,
        clientId: c.clientId,
        minNackBackoff: clamp16(s.minNackBackoff),
        maxNackBackoff: clamp16(s.maxNackBackoff),
        // 3.1.5.2.2 says MCRTT; 2.2.6 says zero unless a Master Client exists. Both hold with this.
        rtt: s.masterId !== 0 ? clamp16(s.mcRtt) : 0,
        clientTime: c.clientTime,
      },
      now,
      this.ctx.keys.serverModeFor(c.secMode),
    );
    this.ctx.timers.arm('joinAck', now + this.ctx.cfg.joinAckTimeoutMs, c.clientId);
  }

  // ---- 3.1.5.8 QCR (and 3.1.5.2.3 for the reply to JOINACK)
  private onQcr(b: Extract<MtBody, { op: typeof Op.QCR }>, now: number): void {
    const stats = this.ctx.stats;
    const c = this.clients.get(b.clientId);
    if (b.qccSeqNo === 0 && c && c.list === 'pending') {
      // 3.1.5.2.3: move to the Active list, destroy the JoinAck timer.
      stats.qcrReceived++;
      c.list = 'active';
      this.ctx.timers.drop('joinAck', c.clientId);
      c.rtt = rttFrom(b.serverTime, b.backoff, now) ?? c.rtt;
      c.lastUpdate = now;
      c.lossRate = lossFromWire(b.lossRate);
      stats.clientsJoined++;
      this.clients.updateGauges();
      this.ctx.emit({ type: 'client-joined', clientId: c.clientId, address: c.address, port: c.port, name: c.name });
      this.statusTrigger(c, b.appData);
      this.session.clientJoined(now);
      this.ma.clientJoined(now);
      return;
    }
    if (!this.session.isCurrentQcc(b.qccSeqNo)) {
      stats.qcrStale++;
      return;
    }
    if (!c || c.list === 'pending') {
      stats.unexpected++;
      return;
    }
    stats.qcrReceived++;
    c.lastUpdate = now;
    const rtt = rttFrom(b.serverTime, b.backoff, now);
    if (rtt !== undefined) c.rtt = rtt;
    c.lossRate = lossFromWire(b.lossRate);
    c.qcrReceived = true;
    this.statusTrigger(c, b.appData);
  }

  /** MS-WDSMA 3.1.5.3: the QCR payload is a PROGRESS packet; kept per client for stats. */
  private statusTrigger(c: Client, appData: Buffer): void {
    if (appData.length === 0) return;
    const m = decodeMa(appData);
    if (!m.ok || m.value.op !== MaOp.PROGRESS) {
      this.ctx.stats.malformed++;
      return;
    }
    noteProgress(c, m.value);
  }

  // ---- 3.1.5.3 LEAVE: off whichever list the client is on. 3.1.5.3 names the Active and Kick lists; a demoted
  // client's LEAVE (CANCELLED, 3.2.5.16) takes it off the Demoted list too, which ends its DEMOTE repeats
  // (protocol-notes #91).
  private onLeave(clientId: number, reason: number, now: number): void {
    this.ctx.stats.leavesReceived++;
    const c = this.clients.get(clientId);
    if (!c) {
      this.ctx.stats.unexpected++;
      return;
    }
    this.removeClient(c);
    this.ctx.stats.clientsLeft++;
    this.ctx.emit({ type: 'client-left', clientId, reason });
    this.session.clientGone(clientId, now);
  }

  private removeClient(c: Client): void {
    this.clients.remove(c);
    this.ctx.timers.drop('joinAck', c.clientId);
    this.ma.forget(c.clientId);
  }

  // ---- 3.1.5.5 POLLACK
  private onPollAck(clientId: number, pollSeqNo: number, appData: Buffer): void {
    if (!this.session.isCurrentPoll(pollSeqNo)) {
      this.ctx.stats.pollAcksStale++;
      return;
    }
    const c = this.clients.get(clientId);
    if (!c || c.list !== 'active') {
      this.ctx.stats.unexpected++;
      return;
    }
    this.ctx.stats.pollAcksReceived++;
    this.ma.onPollAck(c, appData);
  }

  // ---- 3.1.5.6.1 KICK, 3.1.6.3 Kick timer
  private sendKick(now: number): void {
    const list = [...this.clients.all()].filter((c) => c.list === 'kick');
    for (let i = 0; i < list.length; i += KICK_MAX_PER_PACKET) {
      const clients = list.slice(i, i + KICK_MAX_PER_PACKET).map((c) => ({ clientId: c.clientId, reason: c.kickReason }));
      this.ctx.stats.kickSent++;
      this.ctx.send('multicast', { op: Op.KICK, clients }, now);
    }
  }

  onKickTimer(now: number): void {
    if (!this.clients.anyOn('kick')) return;
    this.sendKick(now);
    this.ctx.timers.arm('kick', now + this.ctx.cfg.kickIntervalMs);
  }

  // ---- 3.1.5.10.1 DEMOTE, 3.1.6.8 Demote timer
  /** Every client on the Demoted list, at most 250 per packet (2.2.13), one run of packets per lower session. */
  private sendDemote(now: number): void {
    const byLower = new Map<number, { lower: LowerSession; ids: number[] }>();
    for (const c of this.clients.all()) {
      if (c.list !== 'demoted' || !c.demotedTo) continue;
      const key = c.demotedTo.sessionId >>> 0;
      const g = byLower.get(key) ?? { lower: c.demotedTo, ids: [] };
      g.ids.push(c.clientId);
      byLower.set(key, g);
    }
    for (const { lower, ids } of byLower.values()) {
      for (let i = 0; i < ids.length; i += DEMOTE_MAX_PER_PACKET) {
        this.ctx.stats.demoteSent++;
        this.ctx.send(
          'multicast',
          {
            op: Op.DEMOTE,
            lowerSessionId: lower.sessionId >>> 0,
            mAddress: ipToBytes(lower.multicastAddr),
            mPort: lower.multicastPort,
            uAddress: ipToBytes(lower.serverAddr),
            uPort: lower.serverPort,
            clients: ids.slice(i, i + DEMOTE_MAX_PER_PACKET),
          },
          now,
        );
      }
    }
  }

  onDemoteTimer(now: number): void {
    if (!this.clients.anyOn('demoted')) return;
    this.sendDemote(now);
    this.ctx.timers.arm('demote', now + this.ctx.cfg.demoteIntervalMs);
  }

  // ---- 3.1.6.2 Client Cleanup timer (recurring from initialization, 3.1.3). It names the Active and Kick lists;
  // the Demoted list is cleaned the same way, else a demoted client whose LEAVE was lost would be sent DEMOTE for
  // ever (protocol-notes #91).
  onClientCleanupTimer(now: number): void {
    for (const c of [...this.clients.all()]) {
      if (c.list === 'pending') continue;
      if (now - c.lastUpdate > this.ctx.cfg.clientDeadTimeoutMs) {
        this.removeClient(c);
        this.ctx.stats.clientsTimedOut++;
        this.ctx.emit({ type: 'client-timeout', clientId: c.clientId });
        this.session.clientGone(c.clientId, now);
      }
    }
    this.ctx.timers.arm('clientCleanup', now + this.ctx.cfg.clientDeadTimeoutMs);
  }

  // ---- 3.1.6.1 JoinAck timer
  onJoinAckTimer(clientId: number, now: number): void {
    const c = this.clients.get(clientId)!;
    if (c.joinAckSendCount >= this.ctx.cfg.maxJoinAckSends) {
      this.removeClient(c);
      this.ctx.stats.joinFailures++;
      this.ctx.emit({ type: 'client-join-failed', clientId: c.clientId, address: c.address, port: c.port });
      return;
    }
    this.sendJoinAck(c, now);
  }

  /** 3.1.6.9 Inactivity timer: terminate the session. The coordinator keeps serving: it starts over in PreStartState. */
  onInactivityTimer(): void {
    if (this.session.state === 'PreStartState') return;
    this.ctx.stats.terminated++;
    this.ctx.emit({ type: 'terminated' });
    this.session.reset();
    this.clients.clear();
    this.ctx.timers.disarmAll(['clientCleanup']); // the Client Cleanup timer keeps running (3.1.3)
    this.ma.reset();
  }
}

/**
 * RTT from a QCR: 3.1.5.8 says (now - ServerTime), but ServerTime is the QCC's SenderTime and the client waited
 * a random 0..QCRBackOff before answering, which it reports in BackOff (2.2.8.2): that wait is subtracted.
 * A voluntary QCR has ServerTime 0 (2.2.8.3) and carries no RTT sample.
 */
function rttFrom(serverTime: number, backoff: number, now: number): number | undefined {
  if (serverTime <= 0 || serverTime > now) return undefined;
  return Math.max(0, Math.round(now - serverTime - backoff));
}
