/**
 * The receive's fallback policy, sans-I/O: when to leave multicast and why, and which blocks to fetch by HTTP
 * while multicast runs (hybrid). It owns no socket, timer or clock; it is fed what happened and the receiver's
 * statistics, and says what to do.
 *
 * Contract (quinn-proto style):
 * - `new MulticastPolicy(cfg, now)`, then `handleGroupJoined(now, stats)` once the multicast group is joined and
 *   the first MS-WDSMT JOIN goes out (this arms --mcast-timeout), or `handleGroupJoinFailed(now, message)`.
 * - `handleEvent(now, ev, stats)` for every `ReceiverEvent` (KICK, InactivityTimeout, DEMOTE, completion).
 * - `handleStats(now, stats)` after any other input (a datagram, a disk write) and whenever `pollTimeout()` is
 *   reached; time-based rules (the rate window, the no-data deadline, the once-a-second hybrid check) run there.
 * - Then drain `pollDecision()` (at most one, ever: leave multicast for HTTP, or fail) and `pollFetch()` (blocks
 *   HTTP may fetch now), and sleep until `pollTimeout()`.
 * Time is milliseconds on any monotonic clock, the same one for every call.
 *
 * The rules (thresholds as the CLI documents them):
 * - --mcast-timeout: no DATA (new or duplicate: a resumed run may first see blocks it has) within `mcastTimeoutMs`
 *   of the group join, or of the JOIN a DEMOTE starts → fallback 'mcast-timeout'.
 * - --min-rate: sampled once a second while multicast bytes have arrived; once the samples span `windowMs`, a rate
 *   over the window below `bytesPerSec` (while blocks are still missing) → fallback 'min-rate'.
 * - KICK FAIL → failure 'kick-fail' (the server forbids other means, even with an HTTP source); any other KICK
 *   (FALLBACK, POLICY_NOT_MET) → fallback 'kick-fallback'.
 * - InactivityTimeout → fallback 'inactivity'.
 * - The group cannot be joined → fallback 'join-failed'.
 * - Without an HTTP source (`canFallBack` false) every fallback becomes a failure (`failureWithoutFallback`).
 * - Hybrid: the `have` bitmap is snapshot at every MS-WDSMA round (a POLL answered); from round 3 on, a block
 *   missing from the last two snapshots (missing across two whole repair rounds) is eligible for HTTP, checked at
 *   each new round and once a second.
 */
import { Bitmap } from './bitmap';
import { KickReason } from './codec/mt';
import { FailureKind, FallbackCause, failureWithoutFallback } from './outcome';
import type { ReceiverEvent } from './receiver';

/** What the policy reads from the receiver (a subset of `ReceiverStats`). */
export interface PolicyStats {
  /** New blocks accepted from multicast. */
  blocks: number;
  /** Blocks multicast delivered again (they still prove that multicast works). */
  duplicates: number;
  /** Payload bytes accepted from multicast. */
  bytes: number;
  /** MS-WDSMA repair rounds (POLLs answered). */
  rounds: number;
  /** Every block is on disk (from any source). */
  allOnDisk: boolean;
}

export interface MulticastPolicyConfig {
  /** An HTTP source exists: multicast troubles become fallbacks instead of failures. */
  canFallBack: boolean;
  /** --mcast-timeout in ms; undefined or 0 = off. */
  mcastTimeoutMs?: number;
  /** --min-rate / --min-rate-window. */
  minRate?: { bytesPerSec: number; windowMs: number };
  /** MS-WDSMT InactivityTimeout in ms (for the message). */
  inactivityMs: number;
  /** The received-blocks bitmap (read at each repair round); with it, hybrid fetch decisions are made. */
  hybridHave?: Pick<Bitmap, 'size' | 'toBuffer'>;
  /** Period of the time-based checks (rate samples, hybrid). */
  tickMs?: number;
}

export type PolicyDecision =
  | { action: 'fallback'; cause: FallbackCause; message: string }
  | { action: 'fail'; kind: FailureKind; message: string };

/** Blocks (0-based) HTTP may fetch now. `eligible` is valid until the next handle… call. */
export interface FetchDecision {
  eligible: (idx: number) => boolean;
}

export const FIRST_HYBRID_ROUND = 3;
const KICK_NAMES: Record<number, string> = { [KickReason.POLICY_NOT_MET]: 'POLICY_NOT_MET', [KickReason.FALLBACK]: 'FALLBACK', [KickReason.FAIL]: 'FAIL' };
const NONE = Number.POSITIVE_INFINITY;

export class MulticastPolicy {
  private decision: PolicyDecision | undefined;
  private decided = false;
  private finished = false;
  private fetch: FetchDecision | undefined;
  private readonly tickMs: number;
  private nextTick = NONE;
  private noDataAt = NONE;
  private noDataBefore = 0;
  private readonly samples: [number, number][] = [];
  private round = 0;
  // `have` at the last two repair rounds, plus a spare so a decision's predicate outlives one rotation.
  private seen1: Bitmap | undefined;
  private seen2: Bitmap | undefined;
  private spare: Bitmap | undefined;

  constructor(
    private readonly cfg: MulticastPolicyConfig,
    now: number,
  ) {
    this.tickMs = cfg.tickMs ?? 1000;
    if (cfg.hybridHave) {
      const n = cfg.hybridHave.size;
      this.seen1 = new Bitmap(n);
      this.seen2 = new Bitmap(n);
      this.spare = new Bitmap(n);
    }
    this.nextTick = now + this.tickMs;
  }

  /** The group is joined and the first JOIN is on its way: --mcast-timeout starts. */
  handleGroupJoined(now: number, s: PolicyStats): void {
    this.armNoData(now, s);
    this.handleStats(now, s);
  }

  /** The multicast group could not be joined (no multicast route, port in use). */
  handleGroupJoinFailed(_now: number, message: string): void {
    this.leave('join-failed', message);
  }

  handleEvent(now: number, ev: ReceiverEvent, s: PolicyStats): void {
    if (this.over()) return;
    switch (ev.type) {
      case 'complete':
        this.finished = true;
        return;
      case 'kicked': {
        const why = KICK_NAMES[ev.reason] ?? `reason ${ev.reason}`;
        const message = `removed from the session by the server (KICK ${why})`;
        if (ev.reason === KickReason.FAIL) return this.failWith('kick-fail', `${message}; the server forbids other means`);
        return this.leave('kick-fallback', message);
      }
      case 'inactive':
        return this.leave('inactivity', `no packet from the server for ${(this.cfg.inactivityMs / 1000).toFixed(0)} s (InactivityTimeout)`);
      case 'demoted':
        // The lower session is joined from scratch: its data gets the same --mcast-timeout.
        this.armNoData(now, s);
        return;
      case 'joined':
      case 'closed':
        return;
    }
  }

  handleStats(now: number, s: PolicyStats): void {
    if (this.over()) return;
    if (s.rounds !== this.round) {
      this.round = s.rounds;
      if (this.round >= FIRST_HYBRID_ROUND) this.offerFetch();
      this.rotateSeen();
    }
    if (now >= this.noDataAt) {
      this.noDataAt = NONE;
      if (s.blocks + s.duplicates === this.noDataBefore) return this.leave('mcast-timeout', `no multicast data within ${(this.cfg.mcastTimeoutMs! / 1000).toFixed(0)} s of JOIN (--mcast-timeout)`);
    }
    if (now >= this.nextTick) {
      this.nextTick = now + this.tickMs;
      this.checkRate(now, s);
      if (this.over()) return;
      if (this.round >= FIRST_HYBRID_ROUND) this.offerFetch();
    }
  }

  pollDecision(): PolicyDecision | undefined {
    const d = this.decision;
    this.decision = undefined;
    return d;
  }

  pollFetch(): FetchDecision | undefined {
    const f = this.fetch;
    this.fetch = undefined;
    return f;
  }

  pollTimeout(): number | undefined {
    if (this.over()) return undefined;
    return Math.min(this.nextTick, this.noDataAt);
  }

  private over(): boolean {
    return this.decided || this.finished;
  }

  private armNoData(now: number, s: PolicyStats): void {
    if (!this.cfg.mcastTimeoutMs) return;
    this.noDataBefore = s.blocks + s.duplicates;
    this.noDataAt = now + this.cfg.mcastTimeoutMs;
  }

  private checkRate(now: number, s: PolicyStats): void {
    const mr = this.cfg.minRate;
    if (!mr || s.bytes <= 0) return;
    const samples = this.samples;
    samples.push([now, s.bytes]);
    while (samples.length > 1 && now - samples[1]![0] >= mr.windowMs) samples.shift();
    const [t0, b0] = samples[0]!;
    if (now - t0 < mr.windowMs) return;
    const rate = (s.bytes - b0) / ((now - t0) / 1000);
    if (rate < mr.bytesPerSec && !s.allOnDisk)
      this.leave('min-rate', `multicast rate ${(rate / 1e6).toFixed(2)} MB/s stayed below --min-rate ${(mr.bytesPerSec / 1e6).toFixed(2)} MB/s for ${(mr.windowMs / 1000).toFixed(0)} s`);
  }

  private offerFetch(): void {
    const a = this.seen1;
    const b = this.seen2;
    if (!a || !b) return;
    this.fetch = { eligible: (i) => !a.has(i) && !b.has(i) };
  }

  private rotateSeen(): void {
    if (!this.seen1 || !this.cfg.hybridHave) return;
    const next = this.spare!;
    this.spare = this.seen2;
    this.seen2 = this.seen1;
    next.loadFrom(this.cfg.hybridHave.toBuffer());
    this.seen1 = next;
  }

  private leave(cause: FallbackCause, message: string): void {
    if (this.decided) return;
    if (this.cfg.canFallBack) this.settle({ action: 'fallback', cause, message });
    // A group that cannot be joined is the same failure with or without HTTP; the others say what was missing.
    else this.settle({ action: 'fail', kind: failureWithoutFallback(cause), message: cause === 'join-failed' ? message : `${message}; no --http fallback configured` });
  }

  private failWith(kind: FailureKind, message: string): void {
    if (!this.decided) this.settle({ action: 'fail', kind, message });
  }

  private settle(d: PolicyDecision): void {
    this.decided = true;
    this.decision = d;
    this.fetch = undefined;
  }
}

