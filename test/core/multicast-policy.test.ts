import { describe, expect, it } from 'vitest';
import { Bitmap } from '../../core/bitmap';
import { KickReason } from '../../core/codec/mt';
import { MulticastPolicy, MulticastPolicyConfig, PolicyStats } from '../../core/multicast-policy';

/** A fake clock and a receiver's statistics, advanced by hand. */
function harness(cfg: Partial<MulticastPolicyConfig> = {}) {
  let now = 10_000;
  const s: PolicyStats = { blocks: 0, duplicates: 0, bytes: 0, rounds: 0, allOnDisk: false };
  const p = new MulticastPolicy({ canFallBack: true, inactivityMs: 30_000, ...cfg }, now);
  return {
    p,
    s,
    get now() {
      return now;
    },
    /** Advances the clock, waking the policy at every deadline it asked for on the way (as the agent's timer does). */
    advance(ms: number) {
      const end = now + ms;
      for (;;) {
        const t = p.pollTimeout();
        if (t === undefined || t > end) break;
        now = Math.max(now, t);
        p.handleStats(now, s);
      }
      now = end;
      p.handleStats(now, s);
    },
    /** `seconds` seconds of multicast at `bytesPerSec`, the bytes counted at the start of each second. */
    flow(bytesPerSec: number, seconds: number, eachSecond: () => void = () => {}) {
      for (let i = 0; i < seconds; i++) {
        s.bytes += bytesPerSec;
        this.advance(1000);
        eachSecond();
      }
    },
  };
}

describe('multicast policy: --mcast-timeout', () => {
  it('falls back when no DATA arrived within the timeout of the group join, not a millisecond earlier', () => {
    const h = harness({ mcastTimeoutMs: 60_000 });
    h.p.handleGroupJoined(h.now, h.s);
    expect(h.p.pollTimeout()).toBe(h.now + 1000); // the once-a-second checks come first
    h.advance(59_999);
    expect(h.p.pollDecision()).toBeUndefined();
    h.advance(1);
    expect(h.p.pollDecision()).toEqual({ action: 'fallback', cause: 'mcast-timeout', message: 'no multicast data within 60 s of JOIN (--mcast-timeout)' });
    expect(h.p.pollTimeout()).toBeUndefined();
    h.advance(10_000);
    expect(h.p.pollDecision()).toBeUndefined(); // one decision, ever
  });

  it('a duplicate counts as data (a resumed run may first see blocks it has)', () => {
    const h = harness({ mcastTimeoutMs: 5_000 });
    h.p.handleGroupJoined(h.now, h.s);
    h.advance(4_000);
    h.s.duplicates = 1;
    h.advance(10_000);
    expect(h.p.pollDecision()).toBeUndefined();
  });

  it('is armed again by a DEMOTE: the lower session must deliver data within the timeout too', () => {
    const h = harness({ mcastTimeoutMs: 5_000 });
    h.p.handleGroupJoined(h.now, h.s);
    h.s.blocks = 10;
    h.advance(3_000);
    h.p.handleEvent(h.now, { type: 'demoted', sessionId: 2, multicast: { address: '239.0.0.2', port: 1 }, server: { address: '10.0.0.1', port: 2 } }, h.s);
    h.advance(4_999);
    expect(h.p.pollDecision()).toBeUndefined();
    h.advance(1);
    expect(h.p.pollDecision()).toMatchObject({ action: 'fallback', cause: 'mcast-timeout' });
  });

  it('is off at 0, and does nothing before the group is joined', () => {
    const off = harness({ mcastTimeoutMs: 0 });
    off.p.handleGroupJoined(off.now, off.s);
    off.advance(600_000);
    expect(off.p.pollDecision()).toBeUndefined();
    const early = harness({ mcastTimeoutMs: 1_000 });
    early.advance(600_000);
    expect(early.p.pollDecision()).toBeUndefined();
  });
});

describe('multicast policy: --min-rate', () => {
  const minRate = { bytesPerSec: 1e6, windowMs: 10_000 };

  it('falls back once the samples span the window and the rate over it is below the minimum', () => {
    const h = harness({ minRate });
    h.p.handleGroupJoined(h.now, h.s);
    // 0.5 MB/s from the first second on
    h.flow(500_000, 10, () => expect(h.p.pollDecision()).toBeUndefined());
    h.flow(500_000, 1);
    expect(h.p.pollDecision()).toEqual({ action: 'fallback', cause: 'min-rate', message: 'multicast rate 0.50 MB/s stayed below --min-rate 1.00 MB/s for 10 s' });
  });

  it('keeps multicast at or above the minimum, before any multicast byte, and once every block is on disk', () => {
    const fast = harness({ minRate });
    fast.p.handleGroupJoined(fast.now, fast.s);
    fast.flow(1_000_000, 60);
    expect(fast.p.pollDecision()).toBeUndefined();
    const silent = harness({ minRate });
    silent.p.handleGroupJoined(silent.now, silent.s);
    silent.advance(120_000);
    expect(silent.p.pollDecision()).toBeUndefined();
    const done = harness({ minRate });
    done.p.handleGroupJoined(done.now, done.s);
    done.s.bytes = 1;
    done.s.allOnDisk = true;
    done.advance(120_000);
    expect(done.p.pollDecision()).toBeUndefined();
  });

  it('measures over a sliding window: a slow start is forgiven once the window holds enough', () => {
    const h = harness({ minRate });
    h.p.handleGroupJoined(h.now, h.s);
    h.s.bytes = 1;
    h.advance(9_000); // nine slow seconds, window not yet spanned
    h.flow(10_000_000, 30);
    expect(h.p.pollDecision()).toBeUndefined();
    // then it stalls: the window slides past the fast part
    h.advance(11_000);
    expect(h.p.pollDecision()).toMatchObject({ action: 'fallback', cause: 'min-rate' });
  });
});

describe('multicast policy: server events', () => {
  it('KICK FAIL is a failure even with an HTTP source (no other means allowed)', () => {
    const h = harness();
    h.p.handleEvent(h.now, { type: 'kicked', reason: KickReason.FAIL }, h.s);
    expect(h.p.pollDecision()).toEqual({ action: 'fail', kind: 'kick-fail', message: 'removed from the session by the server (KICK FAIL); the server forbids other means' });
  });

  it.each([
    [KickReason.FALLBACK, 'FALLBACK'],
    [KickReason.POLICY_NOT_MET, 'POLICY_NOT_MET'],
    [77, 'reason 77'],
  ])('KICK %s is a fallback with an HTTP source and a failure without one', (reason, name) => {
    const h = harness();
    h.p.handleEvent(h.now, { type: 'kicked', reason }, h.s);
    expect(h.p.pollDecision()).toEqual({ action: 'fallback', cause: 'kick-fallback', message: `removed from the session by the server (KICK ${name})` });
    const alone = harness({ canFallBack: false });
    alone.p.handleEvent(alone.now, { type: 'kicked', reason }, alone.s);
    expect(alone.p.pollDecision()).toEqual({ action: 'fail', kind: 'kick-fallback', message: `removed from the session by the server (KICK ${name}); no --http fallback configured` });
  });

  it('InactivityTimeout is a fallback, naming the timeout in force; without HTTP a failure', () => {
    const h = harness({ inactivityMs: 45_000 });
    h.p.handleEvent(h.now, { type: 'inactive' }, h.s);
    expect(h.p.pollDecision()).toEqual({ action: 'fallback', cause: 'inactivity', message: 'no packet from the server for 45 s (InactivityTimeout)' });
    const alone = harness({ canFallBack: false });
    alone.p.handleEvent(alone.now, { type: 'inactive' }, alone.s);
    expect(alone.p.pollDecision()).toMatchObject({ action: 'fail', kind: 'inactivity' });
  });

  it('a group that cannot be joined is a fallback with an HTTP source, else the no-session failure with the same message', () => {
    const h = harness();
    h.p.handleGroupJoinFailed(h.now, 'cannot join 239.0.0.1:5000 on 10.0.0.5: EADDRINUSE');
    expect(h.p.pollDecision()).toEqual({ action: 'fallback', cause: 'join-failed', message: 'cannot join 239.0.0.1:5000 on 10.0.0.5: EADDRINUSE' });
    const alone = harness({ canFallBack: false });
    alone.p.handleGroupJoinFailed(alone.now, 'cannot join x');
    expect(alone.p.pollDecision()).toEqual({ action: 'fail', kind: 'no-session', message: 'cannot join x' });
  });

  it('after completion nothing is decided any more (a late KICK or a stall does not turn a success into a fallback)', () => {
    const h = harness({ mcastTimeoutMs: 1000, minRate: { bytesPerSec: 1e9, windowMs: 1000 } });
    h.p.handleGroupJoined(h.now, h.s);
    h.p.handleEvent(h.now, { type: 'complete' }, h.s);
    h.p.handleEvent(h.now, { type: 'kicked', reason: KickReason.FAIL }, h.s);
    h.advance(60_000);
    expect(h.p.pollDecision()).toBeUndefined();
    expect(h.p.pollTimeout()).toBeUndefined();
  });

  it('the first decision stands: a KICK after a fallback was decided changes nothing', () => {
    const h = harness({ mcastTimeoutMs: 1000 });
    h.p.handleGroupJoined(h.now, h.s);
    h.advance(1000);
    h.p.handleEvent(h.now, { type: 'kicked', reason: KickReason.FAIL }, h.s);
    expect(h.p.pollDecision()).toMatchObject({ cause: 'mcast-timeout' });
    expect(h.p.pollDecision()).toBeUndefined();
  });
});

describe('multicast policy: hybrid (blocks multicast keeps missing go to HTTP)', () => {
  function hybrid() {
    const have = new Bitmap(8);
    const h = harness({ hybridHave: have });
    h.p.handleGroupJoined(h.now, h.s);
    const round = (r: number) => {
      h.s.rounds = r;
      h.p.handleStats(h.now, h.s);
    };
    const eligible = () => {
      const f = h.p.pollFetch();
      return f && [...Array(8).keys()].filter((i) => f.eligible(i));
    };
    return { h, have, round, eligible };
  }

  it('nothing before MS-WDSMA round 3; then a block missing at the last two rounds is eligible, at the round and every second', () => {
    const { h, have, round, eligible } = hybrid();
    have.set(0);
    round(1);
    expect(eligible()).toBeUndefined();
    have.set(1);
    round(2);
    expect(eligible()).toBeUndefined();
    h.advance(5_000);
    expect(eligible()).toBeUndefined(); // the once-a-second check waits for round 3 too
    have.set(2);
    round(3); // judged on the snapshots of rounds 1 and 2: blocks 2..7 missing at both
    expect(eligible()).toEqual([2, 3, 4, 5, 6, 7]);
    have.set(3);
    h.advance(1000); // now the snapshots of rounds 2 and 3
    expect(eligible()).toEqual([3, 4, 5, 6, 7]);
    expect(eligible()).toBeUndefined(); // drained
    have.set(4);
    round(4);
    expect(eligible()).toEqual([3, 4, 5, 6, 7]); // snapshots of rounds 2, 3: block 4 arrived after round 3
    h.advance(1000); // now the snapshots of rounds 3 and 4
    expect(eligible()).toEqual([5, 6, 7]);
  });

  it('a block present at either of the last two rounds is not eligible', () => {
    const { have, round, eligible } = hybrid();
    round(1);
    have.set(5);
    round(2);
    have.clear(5); // e.g. renumbering forgot it
    round(3);
    expect(eligible()).toEqual([0, 1, 2, 3, 4, 6, 7]);
  });

  it('several rounds seen at once count as one new round; no fetch without the bitmap or after a decision', () => {
    const { h, round, eligible } = hybrid();
    round(5);
    expect(eligible()).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    h.p.handleEvent(h.now, { type: 'inactive' }, h.s);
    round(6);
    h.advance(3000);
    expect(eligible()).toBeUndefined();
    const plain = harness();
    plain.s.rounds = 9;
    plain.advance(3000);
    expect(plain.p.pollFetch()).toBeUndefined();
  });
});
