/**
 * One multicast session, driven: the sans-I/O Receiver on two UDP sockets, a timer, the disk pump, and the
 * watchdogs that decide when multicast cannot serve (no data after JOIN, too slow, KICK, inactivity).
 */
import os from 'node:os';
import type dgram from 'node:dgram';
import { ipToBytes } from '../../core/codec/msi';
import { KickReason } from '../../core/codec/mt';
import { Bitmap } from '../../core/bitmap';
import { Receiver, SessionInfo } from '../../core/receiver';
import type { BlockStore } from '../../core/block-store';
import type { DiskPump } from '../storage/disk';
import { Exit, OsdcastError } from '../errors';
import type { Logger } from '../log/log';
import { Handler, MulticastSocket, closeSocket, openConnected, openMulticast } from '../transport/net';

export type McOutcome = { kind: 'complete' } | { kind: 'fallback'; reason: string };

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
  /** Fall back when no multicast block arrived this long after JOIN (ms). */
  mcastTimeoutMs?: number;
  /** Fall back when the multicast rate stays below bytesPerSec over windowMs. */
  minRate?: { bytesPerSec: number; windowMs: number };
  /** Hybrid hook, every second and after each MS-WDSMA round: fetch blocks multicast keeps missing. */
  onRound?: (eligible: (idx: number) => boolean) => void;
  onTick?: (rx: Receiver) => void;
  dropRate?: number;
  dropRng?: () => number;
  dropFilter?: (msg: Buffer) => boolean;
  /** Statistics out, also on failure. */
  stats?: (rx: Receiver) => void;
}

const KICK_NAMES: Record<number, string> = { [KickReason.POLICY_NOT_MET]: 'POLICY_NOT_MET', [KickReason.FALLBACK]: 'FALLBACK', [KickReason.FAIL]: 'FAIL' };

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
  let mc: MulticastSocket | undefined;
  // MT packets to the session's server go out on a connected socket; anything else (a LEAVE to the old server
  // after a DEMOTE) on the unconnected one.
  let sess: dgram.Socket | undefined;
  let sessTo = '';
  const send = (tx: { to: { address: string; port: number }; data: Buffer }) => {
    if (sess && `${tx.to.address}:${tx.to.port}` === sessTo) sess.send(tx.data);
    else c.uni.send(tx.data, tx.to.port, tx.to.address);
  };
  let timer: NodeJS.Timeout | undefined;
  let timerAt = Infinity;
  let tick: NodeJS.Timeout | undefined;
  let noData: NodeJS.Timeout | undefined;
  let done = false;
  const dropRate = c.dropRate ?? 0;
  const dropRng = c.dropRng ?? c.rng;
  let injectedDrops = 0;
  // MS-WDSMA rounds seen, and the `have` bitmap at the last two POLLs (hybrid: a block missing across two
  // whole repair rounds is fetched over HTTP).
  let round = 0;
  const seen1 = new Bitmap(session.totalBlocks);
  const seen2 = new Bitmap(session.totalBlocks);
  const rateSamples: [number, number][] = [];

  let settle!: (o: McOutcome) => void;
  let fail!: (e: unknown) => void;
  const outcome = new Promise<McOutcome>((res, rej) => {
    settle = res;
    fail = rej;
  });
  const finish = (o: McOutcome | Error) => {
    if (done) return;
    done = true;
    if (o instanceof Error) fail(o);
    else settle(o);
  };

  const service = () => {
    if (done) return;
    let tx;
    while ((tx = rx.pollTransmit())) send(tx);
    pump.kick();
    let ev;
    while ((ev = rx.pollEvent())) {
      switch (ev.type) {
        case 'joined':
          log.info({ clientId: ev.clientId >>> 0 }, `joined session ${session.sessionId >>> 0} as client ${ev.clientId >>> 0}`);
          break;
        case 'complete':
          log.info('every block is on disk; leaving the session');
          return finish({ kind: 'complete' });
        case 'closed':
          break;
        case 'conflicting-duplicate':
          // One per session (core): tampering, or a broken server; the first copy was kept.
          log.warn({ sessionId: ev.sessionId >>> 0, block: ev.block }, `block ${ev.block} arrived twice with different bytes (first copy kept): a forged sender or a broken server; further conflicts in session ${ev.sessionId >>> 0} are only counted (verify with --sha256)`);
          break;
        case 'kicked': {
          const why = KICK_NAMES[ev.reason] ?? `reason ${ev.reason}`;
          if (ev.reason === KickReason.FAIL) return finish(new OsdcastError(Exit.TRANSFER_FAILED, `removed from the session by the server (KICK ${why}); the server forbids other means`));
          return finish({ kind: 'fallback', reason: `removed from the session by the server (KICK ${why})` });
        }
        case 'inactive':
          return finish({ kind: 'fallback', reason: `no packet from the server for ${(rx.stats().inactivityMs / 1000).toFixed(0)} s (InactivityTimeout)` });
        case 'demoted':
          log.warn(ev, `demoted to the slower session ${ev.sessionId >>> 0} at ${ev.multicast.address}:${ev.multicast.port}`);
          armNoData();
          void switchGroup(ev.multicast.address, ev.multicast.port, ev.server).catch((e) => finish(e));
          break;
      }
    }
    const rounds = rx.stats().rounds;
    if (rounds !== round) {
      round = rounds;
      if (c.onRound && round >= 3) c.onRound((i) => !seen1.has(i) && !seen2.has(i));
      seen2.loadFrom(seen1.toBuffer());
      seen1.loadFrom(store.have.toBuffer());
    }
    const next = rx.pollTimeout();
    if (next !== undefined && next < timerAt) {
      if (timer) clearTimeout(timer);
      timerAt = next;
      timer = setTimeout(onTimer, Math.max(0, next - now()));
    }
  };
  const onTimer = () => {
    timer = undefined;
    timerAt = Infinity;
    rx.handleTimeout(now());
    service();
  };
  const onMulticast: Handler = (msg, from) => {
    if (done) return;
    if ((dropRate > 0 && dropRng() < dropRate) || c.dropFilter?.(msg)) {
      injectedDrops++;
      return;
    }
    rx.handleDatagram(msg, from, now());
    service();
  };
  const onUnicast: Handler = (msg, from) => {
    if (done) return;
    rx.handleDatagram(msg, from, now());
    service();
  };
  const connect = async (to: { address: string; port: number }) => {
    const old = sess;
    sess = undefined; // until connected, sends go out unconnected
    sessTo = `${to.address}:${to.port}`;
    sess = await openConnected(c.iface, to, onUnicast);
    await closeSocket(old);
  };
  const switchGroup = async (group: string, port: number, server: { address: string; port: number }) => {
    const old = mc;
    mc = await openMulticast(group, port, c.iface, onMulticast);
    await closeSocket(old?.socket);
    await connect(server);
  };
  const armNoData = () => {
    if (!c.mcastTimeoutMs) return;
    if (noData) clearTimeout(noData);
    // Any DATA counts as multicast working, duplicates included (a resumed run may first see blocks it has).
    const seen = () => {
      const s = rx.stats();
      return s.blocks + s.duplicates;
    };
    const before = seen();
    noData = setTimeout(() => {
      if (seen() === before) finish({ kind: 'fallback', reason: `no multicast data within ${(c.mcastTimeoutMs! / 1000).toFixed(0)} s of JOIN (--mcast-timeout)` });
    }, c.mcastTimeoutMs);
  };
  const onAbort = () => finish(c.signal.reason instanceof Error ? c.signal.reason : new OsdcastError(Exit.INTERRUPTED, 'interrupted'));

  pump.onWritten = (job) => {
    store.writeDone(job);
    rx.handleWritten(now());
    service();
  };
  pump.onError = (e) => finish(e);
  c.setUniHandler(onUnicast);
  c.signal.addEventListener('abort', onAbort);
  if (c.signal.aborted) onAbort();

  tick = setInterval(() => {
    if (done) return;
    const t = now();
    c.onTick?.(rx);
    const st = rx.stats();
    if (st.baseKnown) c.onBlockBase?.(st.base);
    if (c.minRate && st.bytes > 0) {
      rateSamples.push([t, st.bytes]);
      while (rateSamples.length > 1 && t - rateSamples[1]![0] >= c.minRate.windowMs) rateSamples.shift();
      const [t0, b0] = rateSamples[0]!;
      if (t - t0 >= c.minRate.windowMs) {
        const rate = (st.bytes - b0) / ((t - t0) / 1000);
        if (rate < c.minRate.bytesPerSec && !store.complete)
          finish({ kind: 'fallback', reason: `multicast rate ${(rate / 1e6).toFixed(2)} MB/s stayed below --min-rate ${(c.minRate.bytesPerSec / 1e6).toFixed(2)} MB/s for ${(c.minRate.windowMs / 1000).toFixed(0)} s` });
      }
    }
    if (c.onRound && round >= 3) c.onRound((i) => !seen1.has(i) && !seen2.has(i));
  }, 1000);

  try {
    mc = await openMulticast(session.multicast.address, session.multicast.port, c.iface, onMulticast).catch((e) => {
      throw new OsdcastError(Exit.NO_SESSION, `cannot join ${session.multicast.address}:${session.multicast.port} on ${c.iface}: ${(e as Error).message}`);
    });
    if (mc.granted && mc.granted < 16 * 1024 * 1024) log.warn({ granted: mc.granted }, `socket receive buffer is only ${(mc.granted / 1048576).toFixed(1)} MiB (asked for 32 MiB; raise net.core.rmem_max): bursts may be lost`);
    else log.info({ granted: mc.granted }, `socket receive buffer ${(mc.granted / 1048576).toFixed(1)} MiB`);
    await connect(session.server);
    armNoData();
    service();
    return await outcome;
  } finally {
    done = true;
    if (timer) clearTimeout(timer);
    if (tick) clearInterval(tick);
    if (noData) clearTimeout(noData);
    c.signal.removeEventListener('abort', onAbort);
    // Leave politely: LEAVE goes out after its random delay (at most MaxNACKBackOff / MaxLeaveDelay).
    rx.cancel(now());
    const deadline = now() + 1000;
    for (;;) {
      rx.handleTimeout(now());
      let tx;
      while ((tx = rx.pollTransmit())) send(tx);
      const t = rx.pollTimeout();
      if (t === undefined || now() >= deadline) break;
      await new Promise((r) => setTimeout(r, Math.max(1, Math.min(50, t - now()))));
    }
    pump.onWritten = (job) => store.writeDone(job);
    c.setUniHandler(() => {});
    await closeSocket(mc?.socket);
    await closeSocket(sess);
    const { mt, blocks, duplicates, conflicting, badBlocks, ringFull, renumbered, drops, baseKnown, base } = rx.stats();
    log.info({ mt, ma: { blocks, duplicates, conflicting, badBlocks, ringFull, renumbered }, drops, injectedDrops }, 'multicast statistics');
    if (baseKnown) c.onBlockBase?.(base);
    c.stats?.(rx);
  }
}
