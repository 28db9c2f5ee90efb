/**
 * A table of named deadlines, sans-I/O: the state machines (core/mt-client.ts, the test coordinator) arm and
 * disarm timers by name with absolute times (ms, the caller's clock), `next()` is what their pollTimeout()
 * returns, and their handleTimeout(now) asks the table which timers expired and runs one handler per name.
 *
 * A name holds either one deadline, or one deadline per id (`arm('joinAck', at, clientId)`: one JoinAck timer per
 * client). Timers due at the same instant fire in a fixed order, so runs are reproducible: the order the names
 * were given to the constructor, and within a name the order its ids were first armed.
 *
 * Two ways to fire, matching the two machines that use the table:
 * - `popExpired(now)`: the earliest expired timer (ties in the fixed order), disarmed and returned; the caller
 *   runs it and asks again, so a timer its handler re-arms at or before `now` runs again in the same call.
 * - `sweep(now)`: one pass over the names in the fixed order; each timer expired when the pass reaches it is
 *   disarmed and yielded, at most once per pass. The pass is lazy: what one handler arms or disarms is seen by
 *   the names after it.
 */

const NONE = Number.POSITIVE_INFINITY;

export interface Fired<N extends string, I> {
  name: N;
  /** Undefined for a name's single timer. */
  id: I | undefined;
}

interface Slot<I> {
  at: number;
  /** Per-id deadlines; Map order is first-arm order (re-arming keeps the position). */
  ids: Map<I, number> | undefined;
}

export class Timers<N extends string, I = number> {
  private readonly slots = new Map<N, Slot<I>>();
  /** next(), kept until a timer changes (pollTimeout() runs after every datagram; arming is rarer). */
  private nextCache: number | undefined;
  private nextStale = true;

  constructor(names: readonly N[]) {
    for (const n of names) this.slots.set(n, { at: NONE, ids: undefined });
  }

  /** Sets the deadline of `name` (or of its timer for `id`) to `at`, replacing an earlier one. */
  arm(name: N, at: number, id?: I): void {
    const s = this.slot(name);
    this.nextStale = true;
    if (id === undefined) s.at = at;
    else (s.ids ??= new Map()).set(id, at);
  }

  /** Disarms a timer. An id keeps its place in the tie order; `drop` forgets it. */
  disarm(name: N, id?: I): void {
    const s = this.slot(name);
    this.nextStale = true;
    if (id === undefined) s.at = NONE;
    else if (s.ids?.has(id)) s.ids.set(id, NONE);
  }

  /** Forgets the timer of `id` under `name` (its owner is gone). */
  drop(name: N, id: I): void {
    this.nextStale = true;
    this.slot(name).ids?.delete(id);
  }

  /** Disarms every timer except those of the names in `keep`; ids are forgotten. */
  disarmAll(keep: readonly N[] = []): void {
    this.nextStale = true;
    for (const [n, s] of this.slots) {
      if (keep.includes(n)) continue;
      s.at = NONE;
      s.ids?.clear(); // in place: a sweep in progress must not see the old entries
    }
  }

  /** The deadline of a timer, or undefined when it is disarmed. */
  at(name: N, id?: I): number | undefined {
    const s = this.slot(name);
    const t = id === undefined ? s.at : s.ids?.get(id) ?? NONE;
    return t === NONE ? undefined : t;
  }

  armed(name: N, id?: I): boolean {
    return this.at(name, id) !== undefined;
  }

  /** The earliest deadline of all armed timers (what pollTimeout() returns), or undefined when none is armed. */
  next(): number | undefined {
    if (!this.nextStale) return this.nextCache;
    let t = NONE;
    for (const s of this.slots.values()) {
      if (s.at < t) t = s.at;
      if (s.ids) for (const x of s.ids.values()) if (x < t) t = x;
    }
    this.nextCache = t === NONE ? undefined : t;
    this.nextStale = false;
    return this.nextCache;
  }

  /** The earliest timer with a deadline at or before `now` (ties in the fixed order), disarmed; or undefined. */
  popExpired(now: number): Fired<N, I> | undefined {
    let best: Fired<N, I> | undefined;
    let bestAt = NONE;
    for (const [name, s] of this.slots) {
      if (s.at <= now && s.at < bestAt) {
        bestAt = s.at;
        best = { name, id: undefined };
      }
      if (s.ids) {
        for (const [id, x] of s.ids) {
          if (x <= now && x < bestAt) {
            bestAt = x;
            best = { name, id };
          }
        }
      }
    }
    if (best) this.disarm(best.name, best.id);
    return best;
  }

  /** One pass in the fixed order over `names` (default: all): each timer expired when reached is disarmed and yielded. */
  *sweep(now: number, names?: readonly N[]): Generator<Fired<N, I>> {
    this.nextStale = true;
    for (const [name, s] of this.slots) {
      if (names && !names.includes(name)) continue;
      if (s.at <= now) {
        s.at = NONE;
        this.nextStale = true;
        yield { name, id: undefined };
      }
      if (s.ids) {
        for (const [id, x] of s.ids) {
          if (x <= now) {
            s.ids.set(id, NONE);
            this.nextStale = true;
            yield { name, id };
          }
        }
      }
    }
  }

  private slot(name: N): Slot<I> {
    const s = this.slots.get(name);
    if (!s) throw new Error(`unknown timer ${name}`);
    return s;
  }
}
