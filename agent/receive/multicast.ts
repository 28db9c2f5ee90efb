/**
 * One multicast session, driven: the sans-I/O Receiver on two UDP sockets, one timer, the disk pump's write
 * completions, and the core fallback policy (core/multicast-policy.ts). This file decides nothing itself: it feeds
 * the Receiver and the policy, and carries out what the policy says (leave for HTTP, fail, fetch blocks by HTTP).
 */
import os from 'node:os';
import type dgram from 'node:dgram';
import { ipToBytes } from '../../core/codec/msi';
import { FetchDecision, MulticastPolicy, PolicyDecision } from '../../core/multicast-policy';
import type { FallbackCause } from '../../core/outcome';
import { Receiver, ReceiverEvent, ReceiverStats, SessionInfo } from '../../core/receiver';
import type { BlockStore } from '../../core/block-store';
import type { DiskPump } from '../storage/disk';
import { OsdcastError } from '../errors';
import { showHostPort } from '../transport/address';
import type { Logger } from '../log/log';
import { Handler, MulticastSocket, SocketFailures, closeSocket, openConnected, openMulticast, recvBufferNote } from '../transport/net';
import { Outcome } from '../util/outcome';
import { WakeTimer } from '../util/wake-timer';

/** At the end of a session: how long to keep sending (the LEAVE waits its random delay, at most MaxLeaveDelay), and how often to look. */
const LEAVE_GRACE_MS = 1000;
const LEAVE_POLL_MS = 50;

export type McOutcome = { kind: 'complete' } | { kind: 'fallback'; cause: FallbackCause; reason: string };

export interface McContext {
  session: SessionInfo;
  iface: string;
  mac: Buffer;
  store: BlockStore;
  pump: DiskPump;
  uni: dgram.Socket;
  setUniHandler: (h: Handler) => void;
  log: Logger;
  now: () => number;
  rng: () => number;
  signal: AbortSignal;
  blockBase?: 'auto' | 0 | 1;
  /** Called once the server's block numbering is known (recorded in the resume state). */
  onBlockBase?: (base: 0 | 1) => void;
  inactivityMs?: number;
  /** An HTTP source exists: multicast troubles end in a fallback outcome instead of a failure. */
  canFallBack: boolean;
  /** Fall back when no multicast block arrived this long after JOIN (ms). */
  mcastTimeoutMs?: number;
  /** Fall back when the multicast rate stays below bytesPerSec over windowMs. */
  minRate?: { bytesPerSec: number; windowMs: number };
  /** Hybrid: the policy's "fetch these blocks by HTTP now" (blocks multicast keeps missing). */
  onFetch?: (f: FetchDecision) => void;
  dropRate?: number;
  dropRng?: () => number;
  dropFilter?: (msg: Buffer) => boolean;
  /** Told the new SessionId whenever a DEMOTE moves the receive to a lower-speed session. */
  onDemoted?: (sessionId: number) => void;
  /** Statistics out, also on failure. */
  stats?: (s: ReceiverStats) => void;
}

export async function runMulticast(c: McContext): Promise<McOutcome> {
  const { session, log, now, store, pump } = c;
  const rx = new Receiver(
    {
      session,
      clientName: os.hostname().slice(0, 15),
      localAddress: ipToBytes(c.iface),
      macAddress: c.mac,
      store,
      blockBase: c.blockBase ?? 'auto',
      params: c.inactivityMs ? { inactivityTimeout: c.inactivityMs } : undefined,
    },
    c.rng,
    now(),
  );
  const policy = new MulticastPolicy(
    { canFallBack: c.canFallBack, mcastTimeoutMs: c.mcastTimeoutMs, minRate: c.minRate, inactivityMs: rx.stats().inactivityMs, hybridHave: c.onFetch ? store.have : undefined },
    now(),
  );
  let mc: MulticastSocket | undefined;
  // MT packets to the session's server go out on a connected socket; anything else (a LEAVE to the old server
  // after a DEMOTE) on the unconnected one.
  let sess: dgram.Socket | undefined;
  /** Where `sess` is connected to (compared per send without building a string). */
  let sessTo = { address: '', port: -1 };
  const netFailures = new SocketFailures((code, message) =>
    log.warn({ code }, `cannot reach the multicast server ${showHostPort(sessTo.address, sessTo.port)}: ${message} (the session's timers decide what follows; further failures are counted in "multicast statistics")`),
  );
  const send = (tx: { to: { address: string; port: number }; data: Buffer }) => {
    if (sess && tx.to.port === sessTo.port && tx.to.address === sessTo.address) netFailures.send(sess, tx.data);
    else netFailures.send(c.uni, tx.data, tx.to);
  };
  const dropRate = c.dropRate ?? 0;
  const dropRng = c.dropRng ?? c.rng;
  let injectedDrops = 0;

  const out = new Outcome<McOutcome>();
  const finish = (o: McOutcome | Error) => out.finish(o);
  const carryOut = (d: PolicyDecision) => finish(d.action === 'fail' ? new OsdcastError(d.kind, d.message) : { kind: 'fallback', cause: d.cause, reason: d.message });

  /** What the agent shows of an event; the policy decides what it means. */
  const logEvent = (ev: ReceiverEvent) => {
    switch (ev.type) {
      case 'joined':
        return log.info({ clientId: ev.clientId >>> 0 }, `joined session ${session.sessionId >>> 0} as client ${ev.clientId >>> 0}`);
      case 'complete':
        return log.info('every block is on disk; leaving the session');
      case 'conflicting-duplicate':
        // One per session (core): tampering, or a broken server; the first copy was kept.
        return log.warn({ sessionId: ev.sessionId >>> 0, block: ev.block }, `block ${ev.block} arrived twice with different bytes (first copy kept): a forged sender or a broken server; further conflicts in session ${ev.sessionId >>> 0} are only counted (verify with --sha256)`);
      case 'demoted':
        return log.warn(ev, `demoted to the slower session ${ev.sessionId >>> 0} at ${ev.multicast.address}:${ev.multicast.port}`);
      default:
        return;
    }
  };

  /**
   * After every input. `withStats`: also feed the policy the receiver's progress counters (only on the timer:
   * rounds only change in handleTimeout, and datagrams and writes that matter to the policy come as events).
   */
  const service = (withStats: boolean) => {
    if (out.done) return;
    let tx;
    while ((tx = rx.pollTransmit())) send(tx);
    pump.kick();
    let ev;
    while ((ev = rx.pollEvent())) {
      logEvent(ev);
      policy.handleEvent(now(), ev, rx.progress());
      if (ev.type === 'complete') return finish({ kind: 'complete' });
      if (ev.type === 'demoted') {
        c.onDemoted?.(ev.sessionId >>> 0);
        // A lower session that cannot be joined (its port taken, a privileged port, …) is the policy's to decide, as
        // at the first join: HTTP when it may, a clear failure otherwise (it once failed the receive with the bare bind error).
        const group = ev.multicast;
        void switchGroup(group.address, group.port, ev.server).catch((e: Error) => {
          if (out.done) return;
          policy.handleGroupJoinFailed(now(), `cannot join the lower session ${group.address}:${group.port} on ${c.iface}: ${e.message}`);
          const d = policy.pollDecision();
          if (d) carryOut(d);
          else finish(e);
        });
      }
      const d = policy.pollDecision();
      if (d) return carryOut(d);
    }
    if (withStats) {
      const st = rx.progress();
      if (st.baseKnown) c.onBlockBase?.(st.base);
      policy.handleStats(now(), st);
      const d = policy.pollDecision();
      if (d) return carryOut(d);
      const f = policy.pollFetch();
      if (f) c.onFetch?.(f);
    }
    const next = Math.min(rx.pollTimeout() ?? Infinity, policy.pollTimeout() ?? Infinity);
    wake.wakeBy(next);
  };
  const wake = new WakeTimer(() => {
    rx.handleTimeout(now());
    service(true);
  }, now);
  const onMulticast: Handler = (msg, from) => {
    if (out.done) return;
    if ((dropRate > 0 && dropRng() < dropRate) || c.dropFilter?.(msg)) {
      injectedDrops++;
      return;
    }
    rx.handleDatagram(msg, from, now());
    service(false);
  };
  const onUnicast: Handler = (msg, from) => {
    if (out.done) return;
    rx.handleDatagram(msg, from, now());
    service(false);
  };
  const connect = async (to: { address: string; port: number }) => {
    const old = sess;
    sess = undefined; // until connected, sends go out unconnected
    sessTo = { address: to.address, port: to.port };
    try {
      sess = await openConnected(c.iface, to, onUnicast, netFailures.callback);
    } finally {
      await closeSocket(old); // also when the connect failed (a DEMOTE's server): nothing else holds it
    }
  };
  // One switch at a time: two DEMOTEs in quick succession (a forger's DEMOTE, JOINACK, DEMOTE) each read `mc` before
  // awaiting, so the one that finished first left its socket open and joined (found by an audit, from the code).
  let switching: Promise<void> = Promise.resolve();
  const switchGroup = (group: string, port: number, server: { address: string; port: number }): Promise<void> => {
    const run = switching.then(async () => {
      if (out.done) return;
      const old = mc;
      mc = await openMulticast(group, port, c.iface, onMulticast);
      await closeSocket(old?.socket);
      await connect(server);
    });
    switching = run.catch(() => undefined);
    return run;
  };
  const onAbort = () => finish(c.signal.reason instanceof Error ? c.signal.reason : new OsdcastError('interrupted', 'interrupted'));

  // Write completions (of multicast and hybrid HTTP blocks alike) release the transport's cache and may complete.
  // A pump failure aborts the whole receive (receive.ts), which ends this session through the signal. No statistics
  // copy here: on a fast disk a write completes every packet or two, and the policy's time-based rules run on its
  // own timer (a copy per write doubled the agent's young heap and raised its peak RSS by ~25 MiB).
  const stopListening = pump.onWritten(() => {
    if (out.done) return;
    rx.handleWritten(now());
    service(false);
  });
  c.setUniHandler(onUnicast);
  c.signal.addEventListener('abort', onAbort);
  if (c.signal.aborted) onAbort();

  try {
    try {
      mc = await openMulticast(session.multicast.address, session.multicast.port, c.iface, onMulticast);
    } catch (e) {
      policy.handleGroupJoinFailed(now(), `cannot join ${session.multicast.address}:${session.multicast.port} on ${c.iface}: ${(e as Error).message}`);
      carryOut(policy.pollDecision()!);
      return await out.promise;
    }
    const note = recvBufferNote(mc.granted);
    if (note.warn) log.warn({ granted: mc.granted }, note.text);
    else log.info({ granted: mc.granted }, note.text);
    await connect(session.server);
    policy.handleGroupJoined(now(), rx.progress());
    service(true);
    return await out.promise;
  } finally {
    out.done = true;
    wake.clear();
    stopListening();
    c.signal.removeEventListener('abort', onAbort);
    // Leave politely: LEAVE goes out after its random delay (at most MaxNACKBackOff / MaxLeaveDelay).
    rx.cancel(now());
    const deadline = now() + LEAVE_GRACE_MS;
    for (;;) {
      rx.handleTimeout(now());
      let tx;
      while ((tx = rx.pollTransmit())) send(tx);
      const t = rx.pollTimeout();
      if (t === undefined || now() >= deadline) break;
      await new Promise((r) => setTimeout(r, Math.max(1, Math.min(LEAVE_POLL_MS, t - now()))));
    }
    c.setUniHandler(() => {});
    await switching; // a switch still opening sockets: let it finish, so what it opened is closed below
    await closeSocket(mc?.socket);
    await closeSocket(sess);
    const st = rx.stats();
    const { mt, blocks, duplicates, conflicting, outOfRange, badBlocks, badPoll, ringFull, renumbered, drops } = st;
    log.info({ mt, ma: { blocks, duplicates, conflicting, outOfRange, badBlocks, badPoll, ringFull, renumbered }, drops, injectedDrops, socketFailures: netFailures.byCode, disk: { ...pump.counts } }, 'multicast statistics');
    if (st.baseKnown) c.onBlockBase?.(st.base);
    c.stats?.(st);
  }
}
