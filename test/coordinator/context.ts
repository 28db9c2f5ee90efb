/**
 * What every part of the coordinator shares: the resolved configuration, the counters, the timer table
 * (core/timers.ts), the outboxes for transmits and events (core/outbox.ts), and MT encoding with the session's
 * security header (CHECKSUM, MS-WDSMT 3.1.5.1.1) and SessionId. No I/O: the owner (coordinator.ts) drains them.
 */
import { LOSS_SCALE, MtBody, MtOption, Sec, encodeMt } from '../../core/codec/mt';
import { Outbox } from '../../core/outbox';
import { Timers } from '../../core/timers';
import { CoordinatorEvent, CoordinatorStats, Dest, ResolvedConfig, Transmit, newStats } from './types';

/**
 * The server's timers (MS-WDSMT 3.1.2, MS-WDSMA 3.1.2), in the order they fire when due at the same instant,
 * which keeps runs reproducible. joinAck has one timer per pending client (id = ClientId); rate is ours (the
 * token bucket of the optional rate cap).
 */
export const TIMERS = ['inactivity', 'joinAck', 'inStateQcc', 'spm', 'cleanup', 'rate', 'query', 'outStateQcc', 'kick', 'clientCleanup'] as const;
export type TimerName = (typeof TIMERS)[number];

export const U16 = 0xffff;

export class Context {
  readonly stats: CoordinatorStats = newStats();
  readonly timers = new Timers<TimerName>(TIMERS);
  readonly out = new Outbox<Transmit>();
  readonly events = new Outbox<CoordinatorEvent>();

  constructor(readonly cfg: ResolvedConfig) {}

  emit(e: CoordinatorEvent): void {
    this.events.push(e);
  }

  /** An MT packet of this session, as it goes on the wire. */
  encode(body: MtBody, now: number, options?: MtOption[]): Buffer {
    return encodeMt(body, { secMode: Sec.CHECKSUM, sessionId: this.cfg.sessionId >>> 0, senderTime: Math.floor(now), options });
  }

  /** Queues an MT packet on the session socket, to the group or to one client. */
  send(dest: Dest, body: MtBody, now: number): void {
    this.out.push({ dest, data: this.encode(body, now), via: 'session' });
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
