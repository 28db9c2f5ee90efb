/**
 * The coordinator's I/O shell: two UDP sockets, one timer, a content source. All protocol logic is in the
 * sans-I/O Coordinator (coordinator.ts and the parts it lists); this file only moves datagrams and time in and
 * out of it.
 *
 *   MSI socket      iface:msiPort (default 5041): session initiation requests and replies; absent with
 *                   udpMsi: false (a Server 2016+ DP does not answer there).
 *   RPC listeners   with `rpc`: TCP iface:rpc.port for the WDS Control Protocol and, if asked, iface:rpc.epmPort
 *                   for the endpoint mapper (tcp.ts, rpc.ts).
 *   session socket  iface:port, reuseAddr, multicast interface = iface, loopback on, TTL 1. Receives the
 *                   clients' unicast packets; sends multicast to group:port and unicast (JOINACK) to clients.
 *                   Bound to iface, not 0.0.0.0: agents on the same host bind 0.0.0.0:port (reuseAddr) to
 *                   receive the multicast, and the more specific binding keeps unicast to iface:port ours.
 */
import { randomBytes } from 'node:crypto';
import dgram from 'node:dgram';
import fs from 'node:fs';
import { MSI_PORT } from '../../core/codec/msi';
import { Credentials } from '../../core/ntlm/auth';
import { Coordinator } from './coordinator';
import { RpcFront } from './rpc';
import { RpcService, RpcShellEvent, TcpListener, bindTcp, serveRpc } from './tcp';
import { ContentSource, CoordinatorConfig, CoordinatorEvent } from './types';

export const DEFAULT_GROUP = '239.192.0.1';
export const DEFAULT_IFACE = '127.0.0.1';
/** Default sendBufferBytes: 128 KiB, 256 KiB in the kernel's accounting, about 110 datagrams of 1385-byte blocks. */
export const SEND_BUFFER = 128 * 1024;
/** Session datagrams handed to the socket and not yet sent, at most (see pump). */
const MAX_UNSENT = 64;
/** Session datagrams per send callback (see pump). */
const SENT_BATCH = 8;

export interface StartOptions
  extends Partial<Omit<CoordinatorConfig, 'source' | 'rng' | 'multicastAddr' | 'serverAddr' | 'port' | 'namespace' | 'content' | 'sessionId'>> {
  file?: string;
  data?: Buffer;
  namespace: string;
  content: string;
  msiPort?: number; // 0 = ephemeral; default 5041
  port?: number; // session port; 0 (default) = a free one
  group?: string; // default 239.192.0.1
  iface?: string; // default 127.0.0.1
  sessionId?: number; // default random
  rng?: () => number; // default Math.random
  onEvent?: (e: CoordinatorEvent) => void;
  /** Monotonic ms clock; default performance.timeOrigin + performance.now(). */
  clock?: () => number;
  /** Answer MS-WDSMSI over UDP (default true); false behaves like Windows Server 2016+. */
  udpMsi?: boolean;
  /**
   * SO_SNDBUF of the session socket in bytes (the kernel doubles it; capped by net.core.wmem_max): what the
   * kernel queues (a shaped link's qdisc included) before the socket pushes back, and so what an RDATA may wait
   * behind besides the MAX_UNSENT datagrams (protocol-notes #106). Default SEND_BUFFER.
   */
  sendBufferBytes?: number;
  /** Serve WDSMC_OP_INITIATE over DCE/RPC (MS-WDSC). */
  rpc?: RpcOptions;
  /**
   * The lower-speed session a DEMOTE sends clients to (MS-WDSMT 3.1.5.10): started on the first demote(), on the
   * same interface, with the same content, block size and security (2.2.13: same mode, algorithms and keys), no
   * session initiation of its own (clients reach it only by DEMOTE).
   */
  lower?: LowerOptions;
}

export interface LowerOptions {
  /** Its rate cap (bytes/s); default half of rateBytesPerSec, or 10 MB/s when that has no cap. */
  rateBytesPerSec?: number;
  /** Its multicast group; default 239.192.0.2 (the session's group + 1 in its last octet). */
  group?: string;
  /** Its session port; 0 (default) = a free one. */
  port?: number;
  /** Its events; default the session's onEvent. */
  onEvent?: (e: CoordinatorEvent) => void;
}

export interface RpcOptions {
  /** TCP port of the WDSC interface; 0 = ephemeral. */
  port: number;
  /** TCP port of an endpoint mapper answering ept_map for it (135 only inside a lab namespace). */
  epmPort?: number;
  /** The account NTLMv2 is verified against. */
  account?: Credentials;
  /** Serve unauthenticated calls and anonymous NTLM. */
  allowAnonymous: boolean;
  onEvent?: (e: RpcShellEvent) => void;
}

export interface RunningCoordinator {
  /** 0 when UDP session initiation is off. */
  msiPort: number;
  rpcPort?: number;
  epmPort?: number;
  port: number;
  group: string;
  iface: string;
  sessionId: number;
  size: number;
  coordinator: Coordinator;
  stop(): Promise<void>;
  kick(clientId: number, reason: number): void;
  /**
   * Demote trigger (an administrator's, MS-WDSMT 3.1.4): starts the lower-speed session if none runs yet, then
   * moves the client there (3.1.5.10). False when the coordinator refuses (not Active, no CAP_MULTISTREAM).
   */
  demote(clientId: number): Promise<boolean>;
  /** The lower-speed session, once a demote() started it. */
  lower(): RunningCoordinator | undefined;
  /** Send errors seen on either socket (e.g. ENOBUFS under load); the protocol recovers from the loss. */
  sendErrors(): number;
}

/** Bytes read ahead per file read: the MA round reads forward, one block per ODATA. */
const READ_AHEAD = 1 << 20;

/**
 * A content source reading a file at positions (also used by the bench's HTTP server). Forward reads are served
 * from a 1 MiB read-ahead chunk (one read per ~750 blocks instead of one per block); a read behind it (RDATA, a
 * later MA round going back) reads just that range. A new chunk is a new buffer, so what an earlier call returned
 * never changes.
 */
export function fileSource(path: string): { source: ContentSource; close(): void } {
  const fd = fs.openSync(path, 'r');
  const size = fs.fstatSync(fd).size;
  const readAt = (buf: Buffer, offset: number, length: number): number => {
    let got = 0;
    while (got < length) {
      const n = fs.readSync(fd, buf, got, length - got, offset + got);
      if (n === 0) break;
      got += n;
    }
    return got;
  };
  let chunk = Buffer.alloc(0);
  let chunkAt = 0;
  return {
    source: {
      size,
      read(offset: number, length: number): Buffer {
        if (offset >= chunkAt && offset + length <= chunkAt + chunk.length) return chunk.subarray(offset - chunkAt, offset - chunkAt + length);
        if (offset < chunkAt || length > READ_AHEAD / 4) {
          const buf = Buffer.allocUnsafe(length);
          const got = readAt(buf, offset, length);
          return got === length ? buf : buf.subarray(0, got);
        }
        const next = Buffer.allocUnsafe(Math.min(READ_AHEAD, Math.max(0, size - offset)));
        chunk = next.subarray(0, readAt(next, offset, next.length));
        chunkAt = offset;
        return chunk.subarray(0, Math.min(length, chunk.length));
      },
    },
    close: () => fs.closeSync(fd),
  };
}

function bufferSource(data: Buffer): ContentSource {
  return { size: data.length, read: (offset, length) => data.subarray(offset, offset + length) };
}

function bind(sock: dgram.Socket, port: number, address: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (e: Error) => reject(e);
    sock.once('error', onError);
    sock.bind({ port, address, exclusive: true }, () => {
      sock.off('error', onError);
      resolve();
    });
  });
}

function close(sock: dgram.Socket): Promise<void> {
  return new Promise((resolve) => {
    try {
      sock.close(() => resolve());
    } catch {
      resolve(); // already closed
    }
  });
}

/** The next group address (last octet + 1, wrapping within the /24). */
function nextGroup(group: string): string {
  const o = group.split('.').map(Number);
  o[3] = ((o[3]! + 1) & 0xff) || 1;
  return o.join('.');
}

/** A session id for the lower session: random, never 0, never the session's own. */
function lowerSessionId(own: number, rng: () => number): number {
  for (;;) {
    const id = (Math.floor(rng() * 0xffff_fffe) + 1) >>> 0;
    if (id !== own >>> 0) return id;
  }
}

export async function startCoordinator(opts: StartOptions): Promise<RunningCoordinator> {
  if (!opts.file === !opts.data) throw new Error('give exactly one of file and data');
  const iface = opts.iface ?? DEFAULT_IFACE;
  const group = opts.group ?? DEFAULT_GROUP;
  const clock = opts.clock ?? (() => Math.floor(performance.timeOrigin + performance.now()));
  const rng = opts.rng ?? Math.random;
  const src = opts.file ? fileSource(opts.file) : { source: bufferSource(opts.data!), close() {} };

  const udpMsi = opts.udpMsi ?? true;
  const msi = udpMsi ? dgram.createSocket({ type: 'udp4' }) : undefined;
  const session = dgram.createSocket({ type: 'udp4', reuseAddr: true });
  const tcp: TcpListener[] = [];
  const closeAll = () => Promise.all([msi && close(msi), close(session), ...tcp.map((l) => new Promise<void>((r) => l.server.close(() => r())))]);
  try {
    if (msi) await bind(msi, opts.msiPort ?? MSI_PORT, iface);
    await bind(session, opts.port ?? 0, iface);
    if (opts.rpc) tcp.push(await bindTcp(iface, opts.rpc.port));
    if (opts.rpc?.epmPort !== undefined) tcp.push(await bindTcp(iface, opts.rpc.epmPort));
  } catch (e) {
    await closeAll();
    src.close();
    throw e;
  }
  session.setMulticastInterface(iface);
  session.setMulticastLoopback(true);
  session.setMulticastTTL(1);
  try {
    session.setSendBufferSize(opts.sendBufferBytes ?? SEND_BUFFER);
  } catch {
    // capped by net.core.wmem_max: not fatal
  }
  try {
    // The Master Client ACKs every ODATA; with the default buffer they overflowed while we were busy sending
    // (docs/performance.md, "ACKs lost"). Capped by net.core.rmem_max.
    session.setRecvBufferSize(8 * 1024 * 1024);
  } catch {
    // not fatal
  }
  const msiPort = msi ? msi.address().port : 0;
  const port = session.address().port;
  const sessionId = (opts.sessionId ?? Math.floor(rng() * 0xffff_fffe) + 1) >>> 0;

  const { file: _f, data: _d, msiPort: _m, port: _p, group: _g, iface: _i, onEvent, clock: _c, rng: _r, sessionId: _s, udpMsi: _u, rpc, lower: _lo, ...cfg } = opts;
  const coordinator = new Coordinator(
    { ...cfg, source: src.source, rng, sessionId, multicastAddr: group, serverAddr: iface, port, rpcAnonymous: rpc?.allowAnonymous ?? false },
    clock(),
  );
  const services: RpcService[] = [];
  if (rpc) {
    const front = new RpcFront((stub, auth, from) => {
      const answer = coordinator.handleWdsc(stub, auth, from, clock());
      setImmediate(pump); // events of the decision (logged like the UDP ones)
      return answer;
    }, { wdscPort: tcp[0]!.port, address: iface, ...(rpc.account ? { account: rpc.account } : {}), allowAnonymous: rpc.allowAnonymous, randomBytes });
    services.push(serveRpc(tcp[0]!, 'wdsc', front, clock, rpc.onEvent));
    if (tcp[1]) services.push(serveRpc(tcp[1], 'epm', front, clock, rpc.onEvent));
  }

  let timer: NodeJS.Timeout | undefined;
  let armedAt: number | undefined;
  let stopped = false;
  let sendErrors = 0;
  let lower: Promise<RunningCoordinator> | undefined;
  let lowerRunning: RunningCoordinator | undefined;
  const startLower = (): Promise<RunningCoordinator> => {
    const l = opts.lower ?? {};
    const { lower: _l, msiPort: _mp, port: _pp, group: _gg, sessionId: _ss, udpMsi: _uu, rpc: _rr, onEvent: _oe, rateBytesPerSec, ...same } = opts;
    return startCoordinator({
      ...same,
      udpMsi: false,
      port: l.port ?? 0,
      group: l.group ?? nextGroup(group),
      rateBytesPerSec: l.rateBytesPerSec ?? (rateBytesPerSec ? rateBytesPerSec / 2 : 10e6),
      sessionId: lowerSessionId(sessionId, rng),
      onEvent: l.onEvent ?? onEvent,
    });
  };

  // Session datagrams go out with a callback, and the coordinator releases ODATA only while fewer than MAX_UNSENT
  // of them wait for it (limitSends / handleSent): dgram sends on the next tick, after its address lookup, and
  // libuv queues what the socket's buffer cannot take. Handed over all at once, as before, the whole window waited
  // in libuv's queue or, with the 4 MiB send buffer this socket had, in a shaped link's qdisc, every RDATA behind it,
  // and every ODATA carried the time it was queued, not sent (protocol-notes #106). RDATA and control packets are
  // not held back.
  // A callback on every SENT_BATCH-th session datagram and on the last of each run of them credits the ones since
  // the one before: a socket sends in order, so when it runs they have all gone. dgram reports a failed send only
  // to a callback (a send without one fails silently), so every other send gets the shared countError: sendErrors
  // counts them all. A send that throws at once (a closed socket) is credited on the next turn, so no room is lost.
  coordinator.limitSends(MAX_UNSENT);
  const groupDest = { address: group, port };
  let uncredited = 0;
  const countError = (err: Error | null) => {
    if (err && !stopped) sendErrors++; // closing the socket cancels what it had not sent: not a send error
  };
  const onSent = (err: Error | null, n: number) => {
    if (stopped) return; // closing the socket cancels what it had not sent
    countError(err);
    if (coordinator.handleSent(n, clock())) pump();
  };
  /** `n` > 0: this send's callback credits n session datagrams. */
  const send = (sock: dgram.Socket, data: Buffer, dest: { address: string; port: number }, n: number) => {
    try {
      sock.send(data, dest.port, dest.address, n > 0 ? (err) => onSent(err, n) : countError);
    } catch {
      sendErrors++;
      if (n > 0) setImmediate(() => onSent(null, n)); // not from inside the pump's loop, nor at once again
    }
  };
  const pump = () => {
    if (stopped) return;
    for (let t = coordinator.pollTransmit(); t; ) {
      const next = coordinator.pollTransmit();
      const sock = t.via === 'msi' ? msi : session;
      const dest = t.dest === 'multicast' ? groupDest : t.dest;
      if (sock === session) {
        if (++uncredited >= SENT_BATCH || next?.via !== 'session') {
          const n = uncredited;
          uncredited = 0;
          send(sock, t.data, dest, n);
        } else send(sock, t.data, dest, 0);
      } else if (sock) send(sock, t.data, dest, 0);
      t = next;
    }
    for (let e = coordinator.pollEvent(); e; e = coordinator.pollEvent()) onEvent?.(e);
    const at = coordinator.pollTimeout();
    if (at === armedAt && timer) return; // the common case under load: same deadline, keep the timer
    if (timer) clearTimeout(timer);
    timer = undefined;
    armedAt = at;
    if (at !== undefined) timer = setTimeout(onTimer, Math.max(0, at - clock()));
  };
  const onTimer = () => {
    timer = undefined;
    armedAt = undefined;
    if (stopped) return;
    coordinator.handleTimeout(clock());
    pump();
  };

  msi?.on('message', (buf, rinfo) => {
    coordinator.handleMsi(buf, { address: rinfo.address, port: rinfo.port }, clock());
    pump();
  });
  session.on('message', (buf, rinfo) => {
    coordinator.handleDatagram(buf, { address: rinfo.address, port: rinfo.port }, clock());
    pump();
  });
  // Errors after bind (ICMP-driven errors on some platforms): count and carry on.
  msi?.on('error', () => sendErrors++);
  session.on('error', () => sendErrors++);
  pump();

  return {
    msiPort,
    ...(tcp[0] ? { rpcPort: tcp[0].port } : {}),
    ...(tcp[1] ? { epmPort: tcp[1].port } : {}),
    port,
    group,
    iface,
    sessionId,
    size: src.source.size,
    coordinator,
    kick(clientId: number, reason: number) {
      coordinator.kick(clientId, reason, clock());
      pump();
    },
    async demote(clientId: number) {
      if (stopped) return false;
      lower ??= startLower().then(
        (r) => (lowerRunning = r),
        (e: unknown) => {
          lower = undefined; // e.g. its port was taken: the next demote tries again
          throw e;
        },
      );
      const l = await lower;
      if (stopped) return false;
      const ok = coordinator.demote(clientId, { sessionId: l.sessionId, multicastAddr: l.group, multicastPort: l.port, serverAddr: l.iface, serverPort: l.port }, clock());
      pump();
      return ok;
    },
    lower: () => lowerRunning,
    sendErrors: () => sendErrors,
    async stop() {
      if (stopped) return;
      stopped = true;
      if (lower) await (await lower.catch(() => undefined))?.stop();
      if (timer) clearTimeout(timer);
      timer = undefined;
      await Promise.all(services.map((x) => x.stop()));
      await Promise.all([msi && close(msi), close(session)]);
      src.close();
    },
  };
}
