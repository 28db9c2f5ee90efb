/**
 * `osdcast receive`: the orchestrator. Multicast first (MS-WDSMSI session, then multicast.ts); HTTP(S) from the
 * same DP for holes multicast keeps missing (hybrid) and for everything when multicast cannot serve (fallback);
 * resume from `<out>.osdcast`; SHA-256 at the end. Hops to a socket: cli.ts → receive/receive.ts → receive/multicast.ts → transport/net.ts.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import type dgram from 'node:dgram';
import { Bitmap } from '../../core/bitmap';
import { storeFor } from '../../core/receiver';
import type { FallbackCause } from '../../core/outcome';
import type { Credentials } from '../../core/ntlm/auth';
import type { SessionInfo } from '../../core/session';
import { DEFAULTS } from '../defaults';
import { DiskPump } from '../storage/disk';
import { Exit, OsdcastError } from '../errors';
import { HttpClient, HttpError, HttpInfo } from '../transport/http';
import { HttpFiller } from './http-fill';
import { initiateSession, InitiationMethod, NoSession } from './initiate';
import type { Logger } from '../log/log';
import { runMulticast } from './multicast';
import { Handler, closeSocket, isLocalAddress, macFor, openUnicast, routeTo, subnetBroadcast } from '../transport/net';
import { type Report, noDrops } from '../report';
import { FileSink } from '../storage/sink';
import { OutputSink, StdoutSink } from '../storage/stdout';
import { BlockStore } from '../../core/block-store';
import { runUdpcast } from './udpcast';
import { OutLock } from '../storage/lock';
import { Lookup, resolveHost } from '../transport/resolve';
import { StateFile, StateIdentity, loadState, readStateIdentity, statePath } from '../storage/state';
import { redactUrl } from '../util/url';

export interface ReceiveOptions {
  server: string;
  port: number;
  namespace: string;
  content: string;
  out: string;
  iface?: string;
  /** Memory ring between network and disk (bytes); default DEFAULTS.cacheBytes. */
  cacheBytes?: number;
  /** Overall wall-clock limit (ms). */
  timeoutMs?: number;
  blockBase?: 'auto' | 0 | 1;
  /** MSI requests per attempt (1 s apart, MS-WDSMSI 3.1.6). */
  msiTries?: number;
  msiRetryMs?: number;
  /** MS-WDSMT InactivityTimeout (ms), default 30 000. */
  inactivityMs?: number;
  /** HTTP(S) URLs of the same content, tried in order. */
  http?: string[];
  httpOnly?: boolean;
  /** Retries of each MSI session attempt and each HTTP request (ConfigMgr SMSTSDownloadRetryCount). */
  retries?: number;
  /** Between retries (ms; ConfigMgr SMSTSDownloadRetryDelay). */
  retryDelayMs?: number;
  /** After JOIN without multicast data this long (ms), fall back to HTTP (only with --http; 0: never). */
  mcastTimeoutMs?: number;
  /** Below this rate (bytes/s) over minRateWindowMs, the receiver leaves multicast for HTTP. */
  minRateBytesPerSec?: number;
  minRateWindowMs?: number;
  sha256?: string;
  sha256Url?: string;
  ca?: Buffer;
  insecure?: boolean;
  /** Block size used for HTTP-only receives (bytes). */
  httpBlockSize?: number;
  /** --initiation: rpc (MS-WDSC), udp (MS-WDSMSI) or auto (rpc, then udp). */
  initiation?: InitiationMethod;
  /** --rpc-port (default DEFAULTS.rpcPort; on refusal the endpoint mapper is asked). */
  rpcPort?: number;
  /** --rpc-timeout: each RPC connect and call (ms). */
  rpcTimeoutMs?: number;
  /** --pre-os, or WinPE: claim WDSMC_CLIENT_CAP_BOOT_DEVICE. */
  preOs?: boolean;
  /** NTLM account for RPC initiation; absent: anonymous, then no authentication. */
  credentials?: Credentials;
  /**
   * acp: a failed receive leaves no `<out>.partial` or `<out>.osdcast` (the task sequence's own download comes
   * next). They are removed here, while this receive still holds the lock, and only if it held it: a receive
   * refused because another osdcast owns `<out>` never touches that one's files.
   */
  discardOnFailure?: boolean;
  /** --udpcast: receive from a udpcast udp-sender (server, namespace and content are not used). */
  udpcast?: boolean;
  /** --portbase: udpcast's receiver port P (the sender's is P+1); default DEFAULTS.udpcastPortbase. */
  portbase?: number;
  /** --rdv-address: where the udpcast sender is looked for; default the subnet broadcast of `iface`. */
  rdvAddress?: string;
}

export interface ReceiveDeps {
  log: Logger;
  now?: () => number;
  rng?: () => number;
  /** Test hook: drop this fraction of received multicast datagrams (independent loss per agent). */
  dropRate?: number;
  dropRng?: () => number;
  /** Test hook: drop multicast datagrams for which this returns true. */
  dropFilter?: (msg: Buffer) => boolean;
  signal?: AbortSignal;
  onProgress?: (p: Progress) => void;
  /** Test hook: the name lookup for --server (default: the system resolver). */
  lookup?: Lookup;
}

export interface Progress {
  blocks: number;
  totalBlocks: number;
  /** On disk (resumed ones included). */
  bytes: number;
  contentSize: number;
  seconds: number;
  /** This run's bytes by multicast (to block precision) and by HTTP. */
  multicastBytes: number;
  httpBytes: number;
  /** udpcast: the size is not announced; contentSize is what is known so far. */
  sizeUnknown?: boolean;
}

/** Block size of a receive with no session (HTTP only, or a fallback with no earlier state): 64 KiB. */
const HTTP_BLOCK_BYTES = 64 * 1024;
/** `--out -`. */
const STDOUT_OUT = '-';
/**
 * A write run that ends where a block is missing waits this long for the repair (NACK back-off + RDATA), so at
 * 1 % loss a repaired block rides in a long run instead of being a one-block write (bounded by half the ring too).
 */
const GAP_HOLD_MS = 200;
/**
 * Writes of ≥ 1 MiB (≈ 760 blocks of 1385 bytes, under Linux's 1024 buffers per writev): each write is a
 * threadpool round trip and a completion on the loop. When every packet could start one, a write carried 5-11
 * blocks; at 256 KiB (≈ 190) it was still 0.03-0.05 of the agent / listener ratio (docs/performance.md).
 */
const PUMP_OPTIONS = { batchBytes: 1024 * 1024, flushMs: 20, gapHoldMs: GAP_HOLD_MS };
/** How often the progress callback (the terminal's progress line) is called. */
const PROGRESS_INTERVAL_MS = 250;

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

function httpFailure(e: unknown): OsdcastError {
  if (e instanceof OsdcastError) return e;
  if (e instanceof HttpError) return new OsdcastError('http', `HTTP ${e.kind}: ${e.message}`);
  return new OsdcastError('internal', (e as Error).message);
}

export async function receive(o: ReceiveOptions, deps: ReceiveDeps): Promise<Report> {
  const now = deps.now ?? Date.now;
  const rng = deps.rng ?? rngFromCrypto();
  const log = deps.log;
  const t0 = now();
  const report: Report = { status: 'error', exitCode: Exit.TRANSFER_FAILED, bytes: 0, sha256: '', seconds: 0, multicastBytes: 0, httpBytes: 0, droppedPackets: 0, drops: noDrops(), conflictingDuplicates: 0, integrity: 'unverified', initiation: o.udpcast ? 'udpcast' : 'none' };
  /** --out - (udpcast only): the image goes to stdout in order; no lock, no `.partial`, no resume. */
  const toStdout = !!o.udpcast && o.out === STDOUT_OUT;
  const ac = new AbortController();
  const abort = (e: OsdcastError) => !ac.signal.aborted && ac.abort(e);
  const onOuterAbort = () => abort(new OsdcastError('interrupted', 'interrupted'));
  deps.signal?.addEventListener('abort', onOuterAbort);
  if (deps.signal?.aborted) onOuterAbort();
  const overall = o.timeoutMs ? setTimeout(() => abort(new OsdcastError('timeout', `--timeout of ${o.timeoutMs! / 1000} s reached before the image was complete`)), o.timeoutMs) : undefined;
  const aborted = () => {
    if (ac.signal.aborted) throw ac.signal.reason;
  };

  let uni: dgram.Socket | undefined;
  let sink: OutputSink | undefined;
  let http: HttpClient | undefined;
  let progressTimer: NodeJS.Timeout | undefined;
  let progressTick: (() => void) | undefined;
  let pump: DiskPump | undefined;
  let stopHybrid: () => void = () => {};
  let lock: OutLock | undefined;
  let failed = false;
  /** This run's bytes that came by HTTP (for the progress line). */
  let httpShare = () => 0;
  /** The progress callback every PROGRESS_INTERVAL_MS, on whichever store the receive has (udpcast: once it exists). */
  const startProgress = (current: () => BlockStore | undefined, sizeUnknown = () => false) => {
    if (!deps.onProgress || progressTimer) return;
    const cb = deps.onProgress;
    progressTick = () => {
      const st = current();
      if (!st) return;
      const { blockSize, contentSize, totalBlocks } = st.cfg;
      const bytes = Math.min(contentSize, st.disk.count * blockSize);
      const httpBytes = httpShare();
      // Multicast's share, to block precision: what reached the disk in this run and did not come by HTTP.
      const multicastBytes = Math.max(0, bytes - (report.resumedBytes ?? 0) - httpBytes);
      cb({ blocks: st.disk.count, totalBlocks, bytes, contentSize, seconds: (now() - t0) / 1000, multicastBytes, httpBytes, ...(sizeUnknown() ? { sizeUnknown: true } : {}) });
    };
    progressTimer = setInterval(progressTick, PROGRESS_INTERVAL_MS);
  };
  try {
    // Usage errors first: they are exit 2 whether or not another osdcast runs, and take no lock.
    const urls = o.http ?? [];
    if (o.httpOnly && urls.length === 0) throw new OsdcastError('usage', '--http-only needs at least one --http <url>');
    if (!o.httpOnly && o.iface && !isLocalAddress(o.iface)) throw new OsdcastError('usage', `--interface ${o.iface} is not an address of this machine`);
    // Nothing of <out> is read or written before the lock is ours; nothing goes to the DP before it either.
    if (!toStdout) lock = OutLock.acquire(o.out, log);
    const retries = o.retries ?? DEFAULTS.retries;
    const retryDelayMs = o.retryDelayMs ?? DEFAULTS.retryDelayMs;
    if (urls.length) http = new HttpClient({ urls, retries, retryDelayMs, ca: o.ca, insecure: o.insecure, log, signal: ac.signal });
    // The DP's name once, before any request (the --sha256-url fetch included): one that does not resolve is said
    // so, without retries; with an HTTP source the receive falls back to it below.
    const resolved = o.httpOnly || o.udpcast ? undefined : await resolveHost(o.server, deps.lookup);
    const unresolved = resolved && !resolved.ok ? new NoSession('unresolved', `cannot resolve ${o.server}: ${resolved.message}`) : undefined;
    if (unresolved && !http) throw unresolved;
    const expectedSha = (o.sha256 ?? (o.sha256Url ? await fetchDigest(o.sha256Url, o, log, ac.signal) : undefined))?.toLowerCase();

    /**
     * Steps 6 and 7 for every source: HTTP for whatever is still missing, then the SHA-256 (checked against
     * --sha256), then `<out>` appears (rename of `<out>.partial`; stdout: nothing to rename).
     */
    const finishImage = async (x: { store: BlockStore; pump: DiskPump; sink: OutputSink; filler?: HttpFiller; httpBytes: () => number; fallback?: { cause: FallbackCause; reason: string }; durable?: Bitmap; state?: StateFile; info?: HttpInfo; stPath?: string }): Promise<Report> => {
      const { store, pump: disk, sink: out, filler } = x;
      // ---- 6. HTTP for whatever is still missing
      if (!store.complete) {
        if (!filler) throw new OsdcastError('incomplete', 'multicast ended before the image was complete');
        try {
          // In file order, one range after another, when the store writes in order (a pipe): every block the
          // pump waits for then comes before any block that could fill the ring ahead of it.
          if (store.ordered) for (const r of filler.candidates()) await filler.fetch([r]);
          else await filler.fetch(filler.candidates());
        } catch (e) {
          throw httpFailure(e);
        }
      }
      await disk.drain();
      if (!store.complete) throw new OsdcastError('incomplete', `${store.cfg.totalBlocks - store.disk.count} blocks still missing`);
      report.httpBytes = x.httpBytes();
      if (x.fallback) {
        report.fallback = x.fallback.reason;
        report.fallbackCause = x.fallback.cause;
      }

      // ---- 7. integrity, then the file appears
      // Record every block as durable (so a mismatch can be inspected and a rerun does not refetch), and make sure
      // no checkpoint can rewrite the state file after it is removed below.
      await disk.close(true);
      await out.finish();
      const sha = await out.hash();
      report.sha256 = sha;
      report.bytes = store.cfg.contentSize;
      if (expectedSha && sha !== expectedSha) {
        report.integrity = 'mismatch';
        // Keep the partial file for inspection, but let a rerun fetch everything again instead of failing forever.
        x.durable?.clearAll();
        x.state?.write(now());
        const kept = toStdout ? 'the image went to stdout' : x.state ? `${out.partial} and ${x.stPath} are kept, nothing was renamed` : `nothing was renamed`;
        throw new OsdcastError('integrity', `SHA-256 mismatch: expected ${expectedSha}, received ${sha}; ${kept}`);
      }
      // An HTTP validator vouches only for bytes that all came over HTTP in this run (multicast carries none).
      const pinned = !!(x.info?.validator.etag || x.info?.validator.lastModified) && !report.multicastBytes && !report.resumedBytes;
      report.integrity = expectedSha || pinned ? 'verified' : 'unverified';
      out.commit();
      x.state?.remove();
      return finishReport({ ...report, status: 'ok', exitCode: Exit.OK });
    };

    if (o.udpcast) {
      // ---- udpcast: the store is made when the sender announces its block size, and grows slice by slice.
      const iface = o.iface!;
      const rdvAddress = o.rdvAddress ?? subnetBroadcast(iface);
      if (!rdvAddress) throw new OsdcastError('usage', `--interface ${iface} is not an IPv4 address of this machine`);
      const cacheBytes = o.cacheBytes ?? DEFAULTS.cacheBytes;
      let store: BlockStore | undefined;
      /** The end slice (or the HTTP server) told the size. */
      let sizeKnown = false;
      const open = (blockSize: number) => {
        const st = BlockStore.growable({ blockSize, ringSlots: Math.max(2, Math.floor(cacheBytes / blockSize)), ordered: toStdout });
        sink ??= toStdout ? new StdoutSink(process.stdout) : FileSink.open(o.out, 0);
        pump = new DiskPump(st, sink, new Bitmap(0), undefined, now, (e) => abort(e), PUMP_OPTIONS);
        store = st;
        startProgress(() => store, () => !sizeKnown);
        return { store: st, pump };
      };
      let fallback: { cause: FallbackCause; reason: string } | undefined;
      const res = await runUdpcast({
        iface,
        portbase: o.portbase ?? DEFAULTS.udpcastPortbase,
        rdvAddress,
        openStore: open,
        log,
        now,
        signal: ac.signal,
        mcastTimeoutMs: o.mcastTimeoutMs === 0 ? Number.POSITIVE_INFINITY : (o.mcastTimeoutMs ?? DEFAULTS.mcastTimeoutMs),
        inactivityMs: o.inactivityMs,
        canFallBack: !!http,
        stats: (st) => {
          report.multicastBytes = st.bytes;
          // udpcast's kinds in the report's fields: DATA that does not fit its slice is outOfRange; the other
          // decode errors and other receivers' messages are malformed (droppedPackets stays their sum)
          const truncated = st.drops.malformed.truncated ?? 0;
          report.drops = { ...noDrops(), wrongSource: st.drops.wrongSource, truncated, outOfRange: st.drops.badBlock, malformed: st.dropped - st.drops.wrongSource - truncated - st.drops.badBlock };
          report.droppedPackets = st.dropped;
        },
      });
      aborted();
      sizeKnown = true;
      let filler: HttpFiller | undefined;
      let info: HttpInfo | undefined;
      if (res.kind === 'fallback') {
        fallback = { cause: res.cause, reason: res.reason };
        log.warn(`falling back to HTTP: ${fallback.reason}`);
        try {
          info = await http!.probe();
        } catch (e) {
          throw httpFailure(e);
        }
        const size = info.size;
        const known = store?.cfg.contentSize ?? 0;
        // The blocks udpcast brought are kept when the HTTP content can extend them: not shorter, and the last block
        // received was a whole one (or the sizes agree).
        const fits = store && size >= known && (known % store.cfg.blockSize === 0 || size === known);
        if (store && !fits) {
          if (toStdout) throw new OsdcastError('incomplete', `the HTTP content is ${size} bytes but ${known} bytes already went to stdout from the udpcast sender: not mixing them`);
          log.warn(`the HTTP content is ${size} bytes, not an extension of the ${known} bytes from the udpcast sender: fetching all of it`);
          await pump!.drain().catch(() => undefined);
          await pump!.close();
          store = undefined;
        }
        if (!store) open(HTTP_BLOCK_BYTES);
        store!.grow(Math.ceil(size / store!.cfg.blockSize), size);
        filler = new HttpFiller(http!, store!, pump!, log, info.validator);
      }
      if (!store || !pump || !sink) throw new OsdcastError('internal', 'udpcast session ended without a store');
      const f = filler;
      return await finishImage({ store, pump, sink, filler: f, httpBytes: () => f?.bytes ?? 0, fallback, info });
    }

    // ---- 1. multicast session (unless --http-only)
    let fallback: { cause: FallbackCause; reason: string } | undefined = o.httpOnly ? { cause: 'http-only', reason: 'HTTP only (--http-only)' } : undefined;
    let session: SessionInfo | undefined;
    let iface = '';
    let mac: Buffer = Buffer.alloc(6);
    let onUni: Handler = () => {};
    if (!o.httpOnly) {
      try {
        if (!resolved?.ok) throw unresolved; // (set whenever the name did not resolve)
        const server = resolved.address;
        if (server !== o.server) log.info(`${o.server} is ${server}`);
        const route = o.iface ?? (await routeTo(server, o.port).catch(() => undefined));
        if (!route) throw new NoSession('no-route', `no route to ${o.server}`);
        iface = route;
        mac = macFor(iface);
        uni = await openUnicast(iface, (msg, from) => onUni(msg, from));
        const got = await initiateSession(
          { ...o, server, method: o.initiation, bootDevice: o.preOs, retries, retryDelayMs },
          { mac, uni, setHandler: (h) => (onUni = h), now, log, signal: ac.signal },
        );
        session = got.session;
        report.initiation = got.method;
      } catch (e) {
        if (!(e instanceof NoSession) || !http) throw e;
        fallback = { cause: e.why, reason: `no multicast session: ${e.message}` };
        log.warn(`falling back to HTTP: ${fallback.reason}`);
      }
    }
    aborted();

    // ---- 2. what the content is: size, block size, HTTP validator
    let info: HttpInfo | undefined;
    if (http) {
      try {
        info = await http.probe();
      } catch (e) {
        if (!session) throw httpFailure(e);
        log.warn(`HTTP source unusable, continuing with multicast only: ${(e as Error).message}`);
        http = undefined;
      }
      if (session && info && info.size !== session.contentSize) {
        log.error(`HTTP content is ${info.size} bytes but the multicast session announces ${session.contentSize}: not mixing them; HTTP disabled`);
        http = undefined;
        info = undefined;
      }
    }
    const size = session?.contentSize ?? info!.size;
    const identityBase = { namespace: o.namespace, content: o.content, size, validator: info?.validator, sha256: expectedSha };
    // Without a session (HTTP only or fallback), keep the block size of an earlier run of the same content, so its
    // resume state still applies (a multicast run used the session's block size).
    const earlier = session ? undefined : readStateIdentity(statePath(o.out));
    const sameContent = earlier && earlier.namespace === o.namespace && earlier.content === o.content && earlier.size === size;
    const blockSize = session?.blockSize ?? (sameContent ? earlier.blockSize : undefined) ?? o.httpBlockSize ?? HTTP_BLOCK_BYTES;
    const totalBlocks = Math.max(1, Math.ceil(size / blockSize));
    const identity: StateIdentity = { ...identityBase, blockSize, blockBase: o.blockBase === 0 || o.blockBase === 1 ? o.blockBase : undefined };
    log.info({ size, blockSize, totalBlocks, source: session ? 'multicast' : 'http' }, `content ${o.content}: ${size} bytes, ${totalBlocks} blocks of ${blockSize}`);

    // ---- 3. an empty content needs no transfer
    const stPath = statePath(o.out);
    if (size === 0) {
      sink = FileSink.open(o.out, 0);
      await sink.finish();
      const sha = await sink.hash();
      if (expectedSha && sha !== expectedSha) throw new OsdcastError('integrity', `SHA-256 mismatch: expected ${expectedSha}, received ${sha} (empty content); nothing was renamed`);
      sink.commit();
      return finishReport({ ...report, status: 'ok', exitCode: Exit.OK, bytes: 0, sha256: sha, integrity: expectedSha ? 'verified' : 'unverified' });
    }

    // ---- 4. resume
    const loaded = loadState(stPath, identity, { log });
    let onDisk: Bitmap | undefined;
    let blockBase = o.blockBase ?? DEFAULTS.blockBase;
    if (loaded && 'onDisk' in loaded) {
      if (FileSink.canResume(o.out, size)) {
        onDisk = loaded.onDisk;
        if (blockBase === 'auto' && loaded.stored.blockBase !== undefined) {
          blockBase = loaded.stored.blockBase;
          identity.blockBase = blockBase;
        }
      }
      else log.warn(`resume state found but ${o.out}.partial is missing or has the wrong size: starting over`);
    } else if (loaded && 'mismatch' in loaded) log.warn(`resume state describes other content (${loaded.mismatch}): starting over`);
    const store = storeFor({ totalBlocks, blockSize, contentSize: size }, o.cacheBytes ?? DEFAULTS.cacheBytes);
    if (onDisk) {
      store.restore(onDisk);
      report.resumedBytes = Math.min(size, store.disk.count * blockSize);
      log.info(`resuming: ${store.disk.count} of ${totalBlocks} blocks already on disk`);
    }
    // Starting over: the old state file must go before the fresh (zero-filled) partial file exists, or a crash
    // before the first checkpoint would leave a state that vouches for zeros.
    if (!onDisk) removeStale(stPath);
    sink = FileSink.open(o.out, size, !!onDisk);
    const durable = new Bitmap(totalBlocks);
    durable.loadFrom(store.disk.toBuffer());
    const state = new StateFile(stPath, identity, durable);
    pump = new DiskPump(store, sink, durable, state, now, (e) => abort(e), PUMP_OPTIONS);
    const disk = pump;
    const filler = http ? new HttpFiller(http, store, disk, log, info?.validator) : undefined;
    // Hybrid fetches run beside multicast on their own client, aborted as soon as multicast ends (its blocks would
    // be duplicates after a completion; after a KICK FAIL no other means may be used).
    const hybridAc = new AbortController();
    const hybridHttp = http && urls.length ? new HttpClient({ urls, retries, retryDelayMs, ca: o.ca, insecure: o.insecure, log, signal: AbortSignal.any([ac.signal, hybridAc.signal]) }) : undefined;
    const hybrid = hybridHttp ? new HttpFiller(hybridHttp, store, disk, log, info?.validator) : undefined;
    stopHybrid = () => {
      hybridAc.abort();
      hybridHttp?.close();
    };
    httpShare = () => (hybrid?.bytes ?? 0) + (filler?.bytes ?? 0);
    startProgress(() => store);

    // ---- 5. multicast (with hybrid hole filling)
    if (session && !store.complete) {
      let filling: Promise<void> | undefined;
      const res = await runMulticast({
        session,
        iface,
        mac,
        store,
        pump,
        uni: uni!,
        setUniHandler: (h) => (onUni = h),
        log,
        now,
        rng,
        signal: ac.signal,
        blockBase,
        onBlockBase: (base) => {
          if (state.identity.blockBase === base) return;
          state.identity = { ...state.identity, blockBase: base };
        },
        inactivityMs: o.inactivityMs,
        canFallBack: !!filler,
        mcastTimeoutMs: http && o.mcastTimeoutMs !== 0 ? (o.mcastTimeoutMs ?? DEFAULTS.mcastTimeoutMs) : undefined,
        minRate: http && o.minRateBytesPerSec ? { bytesPerSec: o.minRateBytesPerSec, windowMs: o.minRateWindowMs ?? DEFAULTS.minRateWindowMs } : undefined,
        onFetch: hybrid
          ? ({ eligible }) => {
              if (filling || hybridAc.signal.aborted) return;
              const ranges = hybrid.candidates(eligible);
              if (ranges.length === 0) return;
              filling = hybrid.fetch(ranges).then(
                () => (filling = undefined),
                (e) => {
                  filling = undefined;
                  if (!hybridAc.signal.aborted) log.warn(`hybrid HTTP fetch failed, multicast continues: ${(e as Error).message}`);
                },
              );
            }
          : undefined,
        dropRate: deps.dropRate,
        dropRng: deps.dropRng,
        dropFilter: deps.dropFilter,
        onDemoted: (sid) => (report.demotedTo = [...(report.demotedTo ?? []), sid]),
        stats: (st) => {
          report.multicastBytes = st.bytes;
          report.drops = { ...st.drops };
          report.droppedPackets = st.dropped;
          report.conflictingDuplicates = st.conflicting;
        },
      }).finally(() => stopHybrid());
      if (filling) await filling.catch(() => undefined);
      report.httpBytes = (hybrid?.bytes ?? 0) + (filler?.bytes ?? 0);
      // Without an HTTP source the policy turned every reason to leave into a failure (thrown above).
      if (res.kind === 'fallback') {
        fallback = { cause: res.cause, reason: res.reason };
        log.warn(`falling back to HTTP: ${fallback.reason}`);
      }
    }
    await closeSocket(uni);
    uni = undefined;
    aborted();
    return await finishImage({ store, pump, sink, filler, httpBytes: () => (hybrid?.bytes ?? 0) + (filler?.bytes ?? 0), fallback, durable, state, info, stPath });
  } catch (e) {
    const err = e instanceof OsdcastError ? e : ac.signal.aborted && ac.signal.reason instanceof OsdcastError ? ac.signal.reason : httpFailure(e);
    // At exit the state file records what is safely on disk, so a rerun resumes from there.
    if (pump && err.exitCode !== Exit.LOCAL_IO) await pump.close(true).catch(() => undefined);
    await pump?.quiesce(); // no write may still be running when the file is closed below
    failed = true;
    return finishReport({ ...report, status: 'error', exitCode: err.exitCode, error: err.message, errorKind: err.kind });
  } finally {
    if (overall) clearTimeout(overall);
    if (progressTimer) clearInterval(progressTimer);
    progressTick?.(); // the last state (100 % on success) is what stays on the terminal
    deps.signal?.removeEventListener('abort', onOuterAbort);
    stopHybrid();
    http?.close();
    sink?.close();
    await closeSocket(uni);
    // udpcast has no resume: a failed receive leaves no `<out>.partial` either.
    if (failed && lock && (o.discardOnFailure || o.udpcast)) discardLeftovers(o.out, log);
    lock?.release();
  }

  function finishReport(r: Report): Report {
    r.seconds = Math.round((now() - t0) / 10) / 100;
    r.maxRssBytes = peakRss();
    return r;
  }
}

/** A failed receive's `<out>.partial` and `<out>.osdcast`, removed (with the lock held: they are this run's). */
function discardLeftovers(out: string, log: Logger): void {
  for (const f of [`${out}.partial`, statePath(out), `${statePath(out)}.tmp`]) {
    try {
      fs.rmSync(f, { force: true });
    } catch (e) {
      log.warn(`could not remove ${f}: ${(e as Error).message}`);
    }
  }
}

/** Removes a state file that no longer describes the partial file (absent is fine). */
function removeStale(file: string): void {
  for (const f of [file, `${file}.tmp`]) {
    try {
      fs.unlinkSync(f);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw new OsdcastError('io', `cannot remove the stale resume state ${f}: ${(e as Error).message}`);
    }
  }
}

/**
 * Peak resident memory of this process. On Linux getrusage's ru_maxrss also counts what the parent had before
 * exec (a child of a big process reports the parent's size: docs/performance.md §4), so VmHWM is read instead.
 */
function peakRss(): number {
  try {
    const m = /^VmHWM:\s+(\d+) kB/m.exec(fs.readFileSync('/proc/self/status', 'utf8'));
    if (m) return Number(m[1]) * 1024;
  } catch {
    /* not Linux */
  }
  return process.resourceUsage().maxRSS * 1024;
}

/** --sha256-url: the first 64-hex-digit word of the document. */
async function fetchDigest(url: string, o: ReceiveOptions, log: Logger, signal: AbortSignal): Promise<string> {
  const c = new HttpClient({ urls: [url], retries: o.retries ?? DEFAULTS.retries, retryDelayMs: o.retryDelayMs ?? DEFAULTS.retryDelayMs, ca: o.ca, insecure: o.insecure, log, signal });
  try {
    const info = await c.probe();
    const parts: Buffer[] = [];
    if (info.size > 0) await c.fetchRange(0, Math.min(info.size, 65536) - 1, (_off, chunk) => void parts.push(Buffer.from(chunk)));
    const m = /\b[0-9a-fA-F]{64}\b/.exec(Buffer.concat(parts).toString('utf8'));
    if (!m) throw new OsdcastError('usage', `--sha256-url ${redactUrl(url)} holds no SHA-256 (64 hex digits)`);
    return m[0];
  } catch (e) {
    if (e instanceof OsdcastError) throw e;
    throw new OsdcastError('http', `cannot fetch --sha256-url: ${(e as Error).message}`);
  } finally {
    c.close();
  }
}
