/**
 * The coordinator: the distribution-point (server) side of WDS multicast, as a sans-I/O state machine.
 * This file is its front: the public surface the shells (udp.ts, sim.ts, the bench) drive, the wiring of the
 * parts, and the timer table's handlers. The protocol lives in the parts:
 *
 *   msi.ts        MS-WDSMSI 3.1.5.3  session initiation: the decision, and the request over UDP
 *   wdsc.ts       MS-WDSC 3.1.4      WdsRpcMessage carrying WDSMC_OP_INITIATE (the same decision; the DCE/RPC
 *                                    connection around it is rpc.ts, its TCP shell tcp.ts)
 *   security.ts   MS-WDSMSI 3.1.5.1  the session's MS-WDSMT security: modes, keys, the reply's security fields
 *   mt-server.ts  MS-WDSMT  3.1.5-6  packet validation and dispatch, JOIN/JOINACK/QCR/LEAVE/POLLACK, KICK,
 *                                    client cleanup, inactivity (the Client List itself: clients.ts)
 *   session.ts    MS-WDSMT  3.1.5.7, 3.1.5.9  PreStart -> QCC -> Data, Master Client, SPM, ACK/NACK
 *   pacing.ts     MS-WDSMT  3.1.5.9.4-8, 3.1.6.7  Data Packet List, ACK-clocked window, rate cap, ODATA/RDATA
 *   ma-server.ts  MS-WDSMA  3.1      QueryState (POLL/SRVCIR, collect CNTCIRs) -> DataState (DATA blocks)
 *
 * No sockets, timers, clocks or randomness in here: the caller passes `now` (ms) into every entry point and an
 * `rng` in the config, drains `pollTransmit()` / `pollEvent()` after every call and wakes us at `pollTimeout()`.
 * Readings chosen where the specs are silent or contradict themselves are listed in docs/coordinator.md.
 */
import type { ReplySecurity } from '../../core/session';
import { ClientList, ClientSummary } from './clients';
import { Context, TimerName } from './context';
import { MaServer } from './ma-server';
import { MsiResponder, SessionInitiation } from './msi';
import { WdscAnswer, WdscResponder } from './wdsc';
import { CallAuth } from '../../core/rpc/server';
import { MtServer } from './mt-server';
import { Session } from './session';
import { CoordinatorConfig, CoordinatorEvent, CoordinatorStats, LowerSession, MaState, SessionState, Transmit, resolveConfig } from './types';

export class Coordinator {
  readonly stats: CoordinatorStats;
  readonly totalBlocks: number;

  private readonly ctx: Context;
  private readonly clientList: ClientList;
  private readonly msi: MsiResponder;
  private readonly wdsc: WdscResponder;
  private readonly ma: MaServer;
  private readonly session: Session;
  private readonly mt: MtServer;
  /** One handler per timer of the table (context.ts TIMERS). */
  private readonly onTimer: Record<TimerName, (now: number, id: number | undefined) => void>;
  private sendLimit = Infinity;

  constructor(cfg: CoordinatorConfig, now: number) {
    const c = resolveConfig(cfg);
    const ctx = (this.ctx = new Context(c));
    this.stats = ctx.stats;
    this.totalBlocks = Math.ceil(c.source.size / c.blockSize);
    this.clientList = new ClientList(ctx.stats, c.rng, (m) => (ctx.serverModes = m), (m) => ctx.keys.serverModeFor(m));
    // Client Cleanup Timer is recurring from initialization (3.1.3).
    ctx.timers.arm('clientCleanup', now + c.clientDeadTimeoutMs);
    const initiation = new SessionInitiation(ctx, this.totalBlocks);
    this.msi = new MsiResponder(ctx, initiation);
    this.wdsc = new WdscResponder(ctx, initiation, c.rpcAnonymous);
    this.ma = new MaServer(
      ctx,
      this.clientList,
      {
        poll: (appData, t) => this.session.pollTrigger(appData, t),
        release: (t) => this.session.pacer.release(t),
        dataListEmpty: () => this.session.pacer.length === 0,
      },
      c.blockBase,
      c.blockBase + this.totalBlocks - 1,
    );
    this.session = new Session(ctx, this.clientList, this.ma, now);
    this.mt = new MtServer(ctx, this.clientList, this.session, this.ma);
    const { mt, session, ma } = this;
    this.onTimer = {
      inactivity: () => mt.onInactivityTimer(),
      joinAck: (t, id) => mt.onJoinAckTimer(id!, t),
      inStateQcc: (t) => session.onInStateQccTimer(t),
      spm: (t) => session.onSpmTimer(t),
      cleanup: (t) => session.onCleanupTimer(t),
      rate: (t) => session.pacer.release(t),
      query: (t) => ma.onQueryTimer(t),
      outStateQcc: (t) => session.onOutStateQccTimer(t),
      kick: (t) => mt.onKickTimer(t),
      demote: (t) => mt.onDemoteTimer(t),
      clientCleanup: (t) => mt.onClientCleanupTimer(t),
    };
  }

  get sessionState(): SessionState {
    return this.session.state;
  }
  get applicationState(): MaState {
    return this.ma.state;
  }
  get masterClientId(): number {
    return this.session.masterId;
  }
  get currentWindowSize(): number {
    return this.session.pacer.window;
  }
  get dataListLength(): number {
    return this.session.pacer.length;
  }
  get trailSeq(): number {
    return this.session.pacer.trail;
  }
  get leadSeq(): number {
    return this.session.pacer.lead;
  }
  get mcRttMs(): number {
    return this.session.mcRtt;
  }
  get roundNumber(): number {
    return this.ma.round;
  }

  /**
   * The security fields of a session reply (MS-WDSMSI 3.1.5.2) for a client that is pre-OS (`security.ts`
   * isPreOs of the INITIATE's Cap; CHECKSUM, no key) or not (the configured mode and its keys).
   */
  replySecurity(preOs: boolean): ReplySecurity {
    return this.ctx.keys.replySecurity(preOs);
  }

  clients(): ClientSummary[] {
    return this.clientList.summary(this.session.masterId);
  }

  pollTransmit(): Transmit | undefined {
    return this.ctx.out.poll();
  }

  pollEvent(): CoordinatorEvent | undefined {
    return this.ctx.events.poll();
  }

  pollTimeout(): number | undefined {
    return this.ctx.timers.next();
  }

  /**
   * For a shell that hands datagrams to a socket which may not send them at once (udp.ts); call it before the
   * first event. At most `max` session datagrams queued and not yet sent, counted down as they are queued and up
   * by handleSent: while none is left no new ODATA is released, so ODATA leaves when the socket can take it (its
   * SenderTime is then its send time), and an RDATA, queued at once whatever the room, waits behind at most `max`
   * datagrams rather than a window of them (protocol-notes #106). Without this call: no limit.
   */
  limitSends(max: number): void {
    this.sendLimit = max;
    this.ctx.sendRoom = max;
  }

  /**
   * `n` session datagrams the shell had taken have been sent. True when the pacer ran again: the shell then polls
   * (ODATA may be queued, or the rate cap's timer armed).
   */
  handleSent(n: number, now: number): boolean {
    const room = (this.ctx.sendRoom += n);
    if (!this.session.pacer.roomBlocked || room < this.sendLimit / 2) return false;
    this.session.pacer.release(now);
    return true;
  }

  /** Runs every timer due at `now`, earliest first (a timer re-armed at or before `now` runs again). */
  handleTimeout(now: number): void {
    for (let guardCount = 0; guardCount < 10000; guardCount++) {
      const f = this.ctx.timers.popExpired(now);
      if (!f) return;
      this.onTimer[f.name](now, f.id);
    }
  }

  /** MS-WDSMSI 2.2.2 / 3.1.5.3: a request on the MSI socket. */
  handleMsi(buf: Buffer, from: { address: string; port: number }, now: number): void {
    void now;
    this.msi.handle(buf, from);
  }

  /** MS-WDSC 3.1.4.1: one WdsRpcMessage call (its NDR request stub) on an RPC connection; returns its answer. */
  handleWdsc(stub: Buffer, auth: CallAuth, from: { address: string; port: number }, now: number): WdscAnswer {
    void now;
    return this.wdsc.handle(stub, auth, from);
  }

  /** MS-WDSMT 3.1.5.1: a datagram from a client on the session (unicast) socket. Never throws. */
  handleDatagram(buf: Buffer, from: { address: string; port: number }, now: number): void {
    this.mt.handleDatagram(buf, from, now);
  }

  /** KICK trigger (3.1.5.6). Returns false when the client is on neither the Active nor the Pending list. */
  kick(clientId: number, reason: number, now: number): boolean {
    return this.mt.kick(clientId, reason, now);
  }

  /**
   * Demote trigger (3.1.5.10): tell an Active client that advertised WDSMCTP_CAP_MULTISTREAM to leave for the
   * lower-speed session `lower` (the caller runs that session: udp.ts starts one). Returns false when the client
   * is not Active, does not support DEMOTE, or `lower` is this session.
   */
  demote(clientId: number, lower: LowerSession, now: number): boolean {
    return this.mt.demote(clientId, lower, now);
  }
}
