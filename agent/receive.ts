/**
 * `osdcast receive`: session initiation (MS-WDSMSI over UDP), then the sans-I/O Receiver driven by two UDP
 * sockets, a timer and the file sink. Hops from the CLI: cli.ts → receive.ts → net.ts (dgram).
 */
import crypto from 'node:crypto';
import os from 'node:os';
import type dgram from 'node:dgram';
import { ipToBytes } from '../core/codec/msi';
import { KickReason } from '../core/codec/mt';
import { MsiUdpInitiator } from '../core/msi-client';
import { Receiver, SessionInfo, storeFor } from '../core/receiver';
import type { TaggedWriteJob } from '../core/block-store';
import { Exit, OsdcastError, ioError } from './errors';
import type { Logger } from './log';
import { MulticastSocket, closeSocket, isLocalAddress, macFor, openMulticast, openUnicast, routeTo } from './net';
import type { Report } from './report';
import { FileSink } from './sink';

export interface ReceiveOptions {
  server: string;
  port: number;
  namespace: string;
  content: string;
  out: string;
  iface?: string;
  cacheMiB: number;
  /** Overall wall-clock limit (s). */
  timeout?: number;
  blockBase?: 'auto' | 0 | 1;
  /** MSI requests per attempt (1 s apart, MS-WDSMSI 3.1.6). */
  msiTries?: number;
  msiRetryMs?: number;
  /** MS-WDSMT InactivityTimeout (ms), default 30 000. */
  inactivityMs?: number;
}

export interface ReceiveDeps {
  log: Logger;
  now?: () => number;
  rng?: () => number;
  /** Test hook: drop this fraction of received multicast datagrams (independent loss per agent). */
  dropRate?: number;
  dropRng?: () => number;
  signal?: AbortSignal;
  onProgress?: (p: Progress) => void;
}

export interface Progress {
  blocks: number;
  totalBlocks: number;
  bytes: number;
  contentSize: number;
  seconds: number;
}

const MAX_WRITES_IN_FLIGHT = 2;
const MAX_SHORT_WRITES = 3;

function rngFromCrypto(): () => number {
  // Randomness for back-off timers; passed into core (which never calls Math.random itself).
  const pool = new Uint32Array(1024);
  let i = pool.length;
  return () => {
    if (i >= pool.length) {
      crypto.getRandomValues(pool);
      i = 0;
    }
    return pool[i++]! / 0x1_0000_0000;
  };
}

export async function receive(o: ReceiveOptions, deps: ReceiveDeps): Promise<Report> {
  const now = deps.now ?? Date.now;
  const rng = deps.rng ?? rngFromCrypto();
  const log = deps.log;
  const t0 = now();
  const report: Report = { status: 'error', exitCode: Exit.TRANSFER_FAILED, bytes: 0, sha256: '', seconds: 0, multicastBytes: 0, httpBytes: 0, droppedPackets: 0 };
  let uni: dgram.Socket | undefined;
  let mc: MulticastSocket | undefined;
  let sink: FileSink | undefined;
  let rx: Receiver | undefined;
  let overall: NodeJS.Timeout | undefined;
  try {
    const iface = o.iface ?? (await routeTo(o.server, o.port).catch(() => undefined));
    if (!iface) throw new OsdcastError(Exit.NO_SESSION, `no route to ${o.server}`);
    if (o.iface && !isLocalAddress(o.iface)) throw new OsdcastError(Exit.USAGE, `--interface ${o.iface} is not an address of this machine`);
    const mac = macFor(iface);

    // ---- 1. session initiation
    let onUni: (msg: Buffer, from: { address: string; port: number }) => void = () => {};
    uni = await openUnicast(iface, (msg, r) => onUni(msg, r));
    const session = await initiate(o, mac, uni, now, log, (h) => (onUni = h), deps.signal);
    log.info({ session }, `session ${session.sessionId >>> 0} at ${session.multicast.address}:${session.multicast.port}, ${session.contentSize} bytes in ${session.totalBlocks} blocks of ${session.blockSize}`);
    if (session.totalBlocks === 0) throw new OsdcastError(Exit.TRANSFER_FAILED, 'server announced empty content');

    // ---- 2. sink, receiver, sockets
    sink = FileSink.open(o.out, session.contentSize);
    rx = new Receiver(
      {
        session,
        clientName: os.hostname().slice(0, 15),
        localAddress: ipToBytes(iface),
        macAddress: mac,
        store: storeFor(session, o.cacheMiB * 1024 * 1024),
        blockBase: o.blockBase ?? 'auto',
        params: o.inactivityMs ? { inactivityTimeout: o.inactivityMs } : undefined,
      },
      rng,
      now(),
    );
    const r = rx;
    const s = sink;
    let mcBytes = 0;
    let injectedDrops = 0;
    const dropRate = deps.dropRate ?? 0;
    const dropRng = deps.dropRng ?? rng;

    const result = await new Promise<Report>((resolve, reject) => {
      let done = false;
      let timer: NodeJS.Timeout | undefined;
      let timerAt = Infinity;
      let writes = 0;
      let shortWrites = 0;
      let completeSeen = false;
      let lastProgress = 0;

      const finish = (e?: unknown, rep?: Report) => {
        if (done) return;
        done = true;
        if (timer) clearTimeout(timer);
        if (e) reject(e);
        else resolve(rep!);
      };

      const pump = () => {
        if (done) return;
        const t = now();
        let tx;
        while ((tx = r.pollTransmit())) uni!.send(tx.data, tx.to.port, tx.to.address);
        let job: TaggedWriteJob | undefined;
        while (writes < MAX_WRITES_IN_FLIGHT && (job = r.pollWrite())) startWrite(job);
        let ev;
        while ((ev = r.pollEvent())) {
          switch (ev.type) {
            case 'joined':
              log.info({ clientId: ev.clientId >>> 0 }, `joined session as client ${ev.clientId >>> 0}`);
              break;
            case 'complete':
              completeSeen = true;
              log.info('all blocks on disk; leaving the session');
              void completeRun();
              break;
            case 'closed':
              break;
            case 'kicked': {
              const why = ev.reason === KickReason.FAIL ? 'FAIL' : ev.reason === KickReason.FALLBACK ? 'FALLBACK' : 'POLICY_NOT_MET';
              finish(new OsdcastError(Exit.TRANSFER_FAILED, `removed from the session by the server (KICK ${why})`));
              return;
            }
            case 'inactive':
              finish(new OsdcastError(Exit.TRANSFER_FAILED, `no packet from the server for ${(r.mt.params.inactivityTimeout / 1000).toFixed(0)} s (InactivityTimeout)`));
              return;
            case 'demoted':
              log.warn(ev, `demoted to slower session ${ev.sessionId >>> 0} at ${ev.multicast.address}:${ev.multicast.port}`);
              void switchGroup(ev.multicast.address, ev.multicast.port).catch((e) => finish(e));
              break;
          }
        }
        if (deps.onProgress && t - lastProgress >= 250) {
          lastProgress = t;
          deps.onProgress(progress(r, session, (t - t0) / 1000));
        }
        const next = r.pollTimeout();
        if (next !== undefined && next < timerAt) {
          if (timer) clearTimeout(timer);
          timerAt = next;
          timer = setTimeout(onTimer, Math.max(0, next - t));
        }
      };

      const onTimer = () => {
        timer = undefined;
        timerAt = Infinity;
        r.handleTimeout(now());
        pump();
      };

      const startWrite = (job: TaggedWriteJob) => {
        writes++;
        s.write(job.buffers, job.offset).then(
          (n) => {
            writes--;
            if (n !== job.bytes) {
              r.handleWriteFailed(job);
              if (++shortWrites >= MAX_SHORT_WRITES) return finish(new OsdcastError(Exit.LOCAL_IO, `writing ${s.partial}: short write (${n} of ${job.bytes} bytes); disk full?`));
            } else {
              shortWrites = 0;
              r.handleWriteDone(job, now());
            }
            pump();
          },
          (e) => {
            writes--;
            finish(ioError(e, `writing ${s.partial}`));
          },
        );
      };

      const completeRun = async () => {
        try {
          await s.finish();
          const sha = await s.hash();
          s.commit();
          // Let the LEAVE go out (it waits a random 0..MaxNACKBackOff ms).
          const deadline = now() + 1000;
          while (r.pollTimeout() !== undefined && now() < deadline) await new Promise((res) => setTimeout(res, 10));
          finish(undefined, { ...report, status: 'ok', exitCode: Exit.OK, bytes: session.contentSize, sha256: sha });
        } catch (e) {
          finish(e);
        }
      };

      const onMulticast = (msg: Buffer) => {
        if (done || completeSeen) return;
        if (dropRate > 0 && dropRng() < dropRate) {
          injectedDrops++;
          return;
        }
        mcBytes += msg.length;
        r.handleDatagram(msg, now());
        pump();
      };

      const switchGroup = async (group: string, port: number) => {
        const old = mc;
        mc = await openMulticast(group, port, iface, onMulticast);
        await closeSocket(old?.socket);
      };

      onUni = (msg) => {
        if (done) return;
        r.handleDatagram(msg, now());
        pump();
      };

      if (o.timeout) overall = setTimeout(() => {
        r.cancel(now());
        pump();
        finish(new OsdcastError(Exit.TRANSFER_FAILED, `--timeout of ${o.timeout} s reached before the image was complete`));
      }, o.timeout * 1000);
      deps.signal?.addEventListener('abort', () => {
        r.cancel(now());
        pump();
        finish(new OsdcastError(Exit.INTERRUPTED, 'interrupted'));
      });

      openMulticast(session.multicast.address, session.multicast.port, iface, onMulticast).then(
        (m) => {
          mc = m;
          if (m.granted && m.granted < 16 * 1024 * 1024) log.warn({ granted: m.granted }, `socket receive buffer is only ${(m.granted / 1048576).toFixed(1)} MiB (requested 32 MiB; raise net.core.rmem_max): bursts may be lost`);
          else log.info({ granted: m.granted }, `socket receive buffer ${(m.granted / 1048576).toFixed(1)} MiB`);
          pump();
        },
        (e) => finish(new OsdcastError(Exit.NO_SESSION, `cannot join ${session.multicast.address}:${session.multicast.port} on ${iface}: ${(e as Error).message}`)),
      );
    });
    const st = r.mt.stats;
    const malformed = Object.values(st.malformed).reduce((a, b) => a + (b ?? 0), 0);
    result.multicastBytes = r.ma.bytes;
    result.droppedPackets = malformed + st.wrongSecurity + st.wrongSession + r.ma.stats.badBlocks;
    log.info({ mt: st, ma: r.ma.stats, multicastWireBytes: mcBytes, injectedDrops }, 'receive statistics');
    return finishReport(result);
  } catch (e) {
    const err = e instanceof OsdcastError ? e : new OsdcastError(Exit.TRANSFER_FAILED, (e as Error).message);
    if (rx) {
      const st = rx.mt.stats;
      report.droppedPackets = Object.values(st.malformed).reduce((a, b) => a + (b ?? 0), 0) + st.wrongSecurity + st.wrongSession + rx.ma.stats.badBlocks;
      report.bytes = Math.min(rx.store.cfg.contentSize, rx.store.disk.count * rx.store.cfg.blockSize);
      log.info({ mt: st, ma: rx.ma.stats }, 'receive statistics');
    }
    return finishReport({ ...report, status: 'error', exitCode: err.exitCode, error: err.message });
  } finally {
    if (overall) clearTimeout(overall);
    sink?.close();
    await closeSocket(mc?.socket);
    await closeSocket(uni);
  }

  function finishReport(r: Report): Report {
    r.seconds = Math.round((now() - t0) / 10) / 100;
    return r;
  }
}

function progress(r: Receiver, s: SessionInfo, seconds: number): Progress {
  const blocks = r.store.disk.count;
  return { blocks, totalBlocks: s.totalBlocks, bytes: Math.min(s.contentSize, blocks * s.blockSize), contentSize: s.contentSize, seconds };
}

async function initiate(
  o: ReceiveOptions,
  mac: Buffer,
  uni: dgram.Socket,
  now: () => number,
  log: Logger,
  setHandler: (h: (msg: Buffer, from: { address: string; port: number }) => void) => void,
  signal: AbortSignal | undefined,
): Promise<SessionInfo> {
  const init = new MsiUdpInitiator({ server: { address: o.server, port: o.port }, namespace: o.namespace, content: o.content, mac, maxTries: o.msiTries, retryMs: o.msiRetryMs }, now());
  log.info(`requesting ${o.namespace} / ${o.content} from ${o.server}:${o.port} (MS-WDSMSI over UDP)`);
  await new Promise<void>((resolve, reject) => {
    let timer: NodeJS.Timeout | undefined;
    const pump = () => {
      let tx;
      while ((tx = init.pollTransmit())) uni.send(tx.data, tx.to.port, tx.to.address);
      if (init.result) {
        if (timer) clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        return resolve();
      }
      const t = init.pollTimeout();
      if (timer) clearTimeout(timer);
      if (t !== undefined) timer = setTimeout(() => {
        init.handleTimeout(now());
        pump();
      }, Math.max(0, t - now()));
    };
    const onAbort = () => {
      if (timer) clearTimeout(timer);
      reject(new OsdcastError(Exit.INTERRUPTED, 'interrupted'));
    };
    signal?.addEventListener('abort', onAbort);
    setHandler((msg, from) => {
      init.handleDatagram(msg, from, now());
      pump();
    });
    pump();
  });
  const res = init.result!;
  if (!res.ok) throw new OsdcastError(Exit.NO_SESSION, res.message);
  const rep = res.reply;
  if (rep.multicastAddr.includes(':')) throw new OsdcastError(Exit.NO_SESSION, 'server offered an IPv6 session; this build receives IPv4 only');
  return {
    sessionId: rep.sessionId,
    multicast: { address: rep.multicastAddr, port: rep.multicastPort },
    server: { address: rep.serverAddr, port: rep.serverPort },
    contentSize: rep.contentSize,
    blockSize: rep.blockSize,
    totalBlocks: rep.totalBlocks,
  };
}
