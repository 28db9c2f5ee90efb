/**
 * What every part of the coordinator shares: the resolved configuration, the counters, the timer table
 * (core/timers.ts), the outboxes for transmits and events (core/outbox.ts), and MT encoding with the session's
 * security header (security.ts: CHECKSUM, HASH, SIGN or NONE, MS-WDSMT 2.2.2) and SessionId. No I/O: the owner
 * (coordinator.ts) drains them.
 */
import { EncodeOptions, LOSS_SCALE, MtBody, MtDataOut, MtOption, SecMode, encodeMt, encodeMtData } from '../../core/codec/mt';
import { Outbox } from '../../core/outbox';
import { Timers } from '../../core/timers';
import { SessionKeys } from './security';
import { CoordinatorEvent, CoordinatorStats, Dest, ResolvedConfig, Transmit, newStats } from './types';

/**
 * The server's timers (MS-WDSMT 3.1.2, MS-WDSMA 3.1.2), in the order they fire when due at the same instant,
 * which keeps runs reproducible. joinAck has one timer per pending client (id = ClientId); rate is ours (the
 * token bucket of the optional rate cap).
 */
export const TIMERS = ['inactivity', 'joinAck', 'inStateQcc', 'spm', 'cleanup', 'rate', 'query', 'outStateQcc', 'kick', 'demote', 'clientCleanup'] as const;
export type TimerName = (typeof TIMERS)[number];

export const U16 = 0xffff;

export class Context {
  readonly stats: CoordinatorStats = newStats();
  readonly timers = new Timers<TimerName>(TIMERS);
  readonly out = new Outbox<Transmit>();
  /**
   * Session-socket datagrams the shell can still take (Coordinator.limitSends, handleSent): each one queued takes
   * one, and the pacer releases no ODATA while none is left (RDATA and control packets are queued regardless, so
   * it can go below zero). Infinity (the default): a shell that sends at once.
   */
  sendRoom = Infinity;
  readonly events = new Outbox<CoordinatorEvent>();

  readonly keys: SessionKeys;
  /**
   * The server modes the clients on the lists use (clients.ts keeps it current); multicast packets go out once
   * in each. Empty: the configured server mode.
   */
  serverModes: SecMode[] = [];

  private readonly ownMode: readonly SecMode[];

  constructor(readonly cfg: ResolvedConfig) {
    this.keys = new SessionKeys(cfg.security);
    this.ownMode = [this.keys.serverMode];
  }

  emit(e: CoordinatorEvent): void {
    this.events.push(e);
  }

  /** An MT packet of this session in server security `mode`, as it goes on the wire. */
  encode(body: MtBody, now: number, options?: MtOption[], mode: SecMode = this.keys.serverMode): Buffer {
    return encodeMt(body, this.encodeOptions(mode, now, options));
  }

  /** Queues an MT packet to the group, once per server mode in use; returns the bytes queued. */
  multicast(body: MtBody, now: number, options?: MtOption[]): number {
    return this.toGroup((m) => this.encode(body, now, options, m));
  }

  /** `multicast` for ODATA and RDATA, Data given in parts (encodeMtData: one allocation per packet). */
  multicastData(f: MtDataOut, parts: readonly Uint8Array[], now: number, options?: MtOption[]): number {
    return this.toGroup((m) => encodeMtData(f, parts, this.encodeOptions(m, now, options)));
  }

  private toGroup(encode: (mode: SecMode) => Buffer): number {
    let bytes = 0;
    for (const m of this.serverModes.length ? this.serverModes : this.ownMode) {
      const data = encode(m);
      bytes += data.length;
      this.queue('multicast', data);
    }
    return bytes;
  }

  /** The one place a session-socket datagram is queued: it takes one of the shell's room (sendRoom). */
  private queue(dest: Dest, data: Buffer): void {
    this.out.push({ dest, data, via: 'session' });
    this.sendRoom--;
  }

  private encodeOptions(mode: SecMode, now: number, options: MtOption[] | undefined): EncodeOptions {
    return { secMode: mode, sessionId: this.cfg.sessionId >>> 0, senderTime: Math.floor(now), options, auth: this.keys.sealer(mode) };
  }

  /** Queues an MT packet on the session socket, to the group or to one client (in that client's server `mode`). */
  send(dest: Dest, body: MtBody, now: number, mode?: SecMode): void {
    if (dest === 'multicast') this.multicast(body, now);
    else this.queue(dest, this.encode(body, now, undefined, mode));
  }
}

/** LossRate from the wire: scaled by 10^16 (values <= 1 taken as already unscaled), clamped to [0, 1]. */
export function lossFromWire(v: number): number {
  if (!Number.isFinite(v) || v <= 0) return 0;
  const x = v <= 1 ? v : v / LOSS_SCALE;
  return Math.min(1, Math.max(0, x));
}

export function clamp16(v: number): number {
  return Math.max(0, Math.min(U16, Math.round(v)));
}
