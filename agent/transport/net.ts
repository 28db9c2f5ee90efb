/**
 * UDP plumbing: the only place the agent touches dgram.
 * - a unicast socket on an ephemeral port (JOIN, QCR, ACK, NACK, POLLACK, LEAVE go out here; JOINACK and the
 *   MSI reply come back here), bound to the chosen interface;
 * - a multicast socket bound to 0.0.0.0:<session port> with SO_REUSEADDR, joined on the chosen interface.
 * The server's unicast port equals the multicast port, so on one host the two must not collide: the
 * coordinator binds <iface>:P, we bind 0.0.0.0:P and send from the ephemeral socket.
 */
import dgram from 'node:dgram';
import os from 'node:os';
import { MiB } from '../defaults';

export type Handler = (msg: Buffer, rinfo: dgram.RemoteInfo) => void;

export const RECV_BUFFER_BYTES = 32 * MiB;

/**
 * Errors after set-up (an ICMP "port unreachable" answer to a send surfaces as ECONNREFUSED on the next receive of
 * a connected socket, e.g. while the DP's WDS service restarts) must not crash the process: the protocol's own
 * timers (inactivity, --mcast-timeout) decide what a silent server means. Never thrown: counted and reported once
 * per code where the caller passes `onError` (SocketFailures), swallowed otherwise.
 */
function tolerateErrors(s: dgram.Socket, onError: (e: Error) => void = () => undefined): void {
  s.on('error', onError);
}

/**
 * Why packets do not reach the server, for the log. dgram reports a failed send (EACCES, ENETUNREACH, EHOSTUNREACH,
 * ENOBUFS, EMSGSIZE, EPERM from a firewall) only to a send callback: a send without one fails silently, with no
 * 'error' event. The ICMP "port unreachable" answer to a connected socket's send comes as an 'error' event
 * (ECONNREFUSED, from the next receive). One shared callback for both, not a closure per datagram: counts the
 * failures by errno code and calls `onFirst` once per code; the protocol's own timers (retries, inactivity,
 * --mcast-timeout) decide what they mean.
 */
export class SocketFailures {
  readonly byCode: Record<string, number> = {};
  constructor(private readonly onFirst: (code: string, message: string) => void) {}
  get total(): number {
    return Object.values(this.byCode).reduce((a, b) => a + b, 0);
  }
  readonly callback = (err: Error | null): void => {
    if (!err) return;
    const code = (err as NodeJS.ErrnoException).code ?? 'unknown';
    const n = (this.byCode[code] ?? 0) + 1;
    this.byCode[code] = n;
    if (n === 1) this.onFirst(code, err.message);
  };

  /**
   * `sock.send` with the shared callback; to `port`/`address`, or to where a connected socket is connected when
   * they are omitted. dgram throws at once for some failures (a port of 0, a closed socket): those are counted
   * the same way instead of escaping into the receive loop (a DEMOTE naming port 0 once crashed the agent there,
   * protocol-notes #108). `done` replaces the shared callback (it must call `callback` itself). False when the send
   * threw: `done` is then never called.
   */
  send(sock: dgram.Socket, data: Buffer, to?: { port: number; address: string }, done: (err: Error | null) => void = this.callback): boolean {
    try {
      if (to) sock.send(data, to.port, to.address, done);
      else sock.send(data, done);
      return true;
    } catch (e) {
      this.callback(e instanceof Error ? e : new Error(String(e)));
      return false;
    }
  }
}

export function openUnicast(iface: string | undefined, onMessage: Handler, onError?: (e: Error) => void): Promise<dgram.Socket> {
  return new Promise((resolve, reject) => {
    const s = dgram.createSocket({ type: 'udp4' });
    s.once('error', reject);
    s.on('message', onMessage);
    s.bind(0, iface, () => {
      s.off('error', reject);
      tolerateErrors(s, onError);
      resolve(s);
    });
  });
}

/**
 * A unicast socket connected to the session's server address: sends skip Node's per-send address lookup
 * (about a quarter of the agent's CPU as Master Client, which ACKs every ODATA: docs/performance.md), and the
 * kernel only delivers datagrams from that server (JOINACK) to it.
 */
export function openConnected(iface: string, to: { address: string; port: number }, onMessage: Handler, onError?: (e: Error) => void): Promise<dgram.Socket> {
  return openUnicast(iface, onMessage, onError).then(
    (s) =>
      new Promise((resolve, reject) => {
        // A failed connect (an error, or a throw at once for a bad port) closes the socket: nothing else holds it.
        const fail = (e: unknown) => {
          s.off('error', fail);
          void closeSocket(s);
          reject(e);
        };
        s.once('error', fail);
        try {
          // dgram hands a failed connect (EINVAL for an IPv6 address on this udp4 socket) to the callback, not to 'error'.
          s.connect(to.port, to.address, (err?: Error) => {
            if (err) return fail(err);
            s.off('error', fail);
            resolve(s);
          });
        } catch (e) {
          fail(e);
        }
      }),
  );
}

/** What to log about the receive buffer the kernel granted: a warning when it is under half of what was asked. */
export function recvBufferNote(granted: number): { warn: boolean; text: string } {
  const mib = (n: number) => (n / MiB).toFixed(1);
  if (granted && granted < RECV_BUFFER_BYTES / 2) return { warn: true, text: `socket receive buffer is only ${mib(granted)} MiB (asked for ${mib(RECV_BUFFER_BYTES)} MiB; raise net.core.rmem_max): bursts may be lost` };
  return { warn: false, text: `socket receive buffer ${mib(granted)} MiB` };
}

export interface MulticastSocket {
  socket: dgram.Socket;
  /** recvBufferSize granted by the kernel (capped by net.core.rmem_max). */
  granted: number;
}

/** A udp4 socket bound to 0.0.0.0:`port` with the 32 MiB receive buffer; `granted` is what the kernel gave. */
function openBound(port: number, reuseAddr: boolean, onMessage: Handler, setup: (s: dgram.Socket) => void): Promise<MulticastSocket> {
  return new Promise((resolve, reject) => {
    const s = dgram.createSocket({ type: 'udp4', reuseAddr, recvBufferSize: RECV_BUFFER_BYTES });
    s.once('error', reject);
    s.on('message', onMessage);
    s.bind(port, '0.0.0.0', () => {
      try {
        setup(s);
      } catch (e) {
        s.close();
        reject(e);
        return;
      }
      s.off('error', reject);
      tolerateErrors(s);
      let granted = 0;
      try {
        granted = s.getRecvBufferSize();
      } catch {
        /* not supported on this platform */
      }
      resolve({ socket: s, granted });
    });
  });
}

export function openMulticast(group: string, port: number, iface: string, onMessage: Handler): Promise<MulticastSocket> {
  return openBound(port, true, onMessage, (s) => s.addMembership(group, iface));
}

/**
 * udpcast's one socket (shared/notes/udpcast-protocol.md §1): bound to 0.0.0.0:`port` (P), it sends everything (the
 * sender answers only port P) and receives the broadcast or multicast HELLO, the unicast CONNECT_REPLY, and the
 * data, multicast or (one receiver: point-to-point) unicast. Broadcast sends allowed; multicast sends and joins on
 * `iface`. Not shared (no SO_REUSEADDR): a udp-receiver on the same port is an error, not a silent split of the
 * unicast traffic. `join` adds a group (the rendez-vous group, the data group) on `iface`.
 */
export async function openUdpcast(port: number, iface: string, onMessage: Handler): Promise<MulticastSocket & { join(group: string): void }> {
  const m = await openBound(port, false, onMessage, (s) => {
    s.setBroadcast(true);
    s.setMulticastInterface(iface);
    s.setMulticastLoopback(false);
  });
  const joined = new Set<string>();
  return {
    ...m,
    join(group: string) {
      if (joined.has(group)) return;
      m.socket.addMembership(group, iface);
      joined.add(group);
    },
  };
}

const ipInt = (a: string) => a.split('.').reduce((n, p) => ((n << 8) | Number(p)) >>> 0, 0);
const intIp = (n: number) => [24, 16, 8, 0].map((s) => (n >>> s) & 255).join('.');

/** The subnet broadcast address of the local IPv4 address `address` (from its netmask); undefined when not local. */
export function subnetBroadcast(address: string): string | undefined {
  for (const list of Object.values(os.networkInterfaces())) {
    for (const a of list ?? []) {
      if (a.family !== 'IPv4' || a.address !== address) continue;
      const mask = ipInt(a.netmask);
      return intIp(((ipInt(a.address) & mask) | ~mask) >>> 0);
    }
  }
  return undefined;
}

/** Whether a dotted IPv4 address is multicast (224.0.0.0/4). */
export function isMulticast(address: string): boolean {
  return (ipInt(address) >>> 28) === 14;
}

/** The local address the kernel would use to reach `server` (no packet is sent by a UDP connect). */
export function routeTo(server: string, port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = dgram.createSocket('udp4');
    s.once('error', (e) => {
      s.close();
      reject(e);
    });
    s.connect(port, server, (err?: Error) => {
      if (err) {
        s.close();
        return reject(err);
      }
      const a = s.address().address;
      s.close();
      resolve(a);
    });
  });
}

/** MAC address of the interface that owns `address` (all zeros when unknown, e.g. loopback). */
export function macFor(address: string): Buffer {
  for (const list of Object.values(os.networkInterfaces())) {
    for (const a of list ?? []) {
      if (a.address === address && a.mac) return Buffer.from(a.mac.split(':').map((h) => parseInt(h, 16)));
    }
  }
  return Buffer.alloc(6);
}

export function isLocalAddress(address: string): boolean {
  for (const list of Object.values(os.networkInterfaces())) for (const a of list ?? []) if (a.address === address) return true;
  return false;
}

export function closeSocket(s: dgram.Socket | undefined): Promise<void> {
  return new Promise((resolve) => {
    if (!s) return resolve();
    try {
      s.close(() => resolve());
    } catch {
      resolve();
    }
  });
}
