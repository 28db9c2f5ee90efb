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
 * timers (inactivity, --mcast-timeout) decide what a silent server means. Swallowed, never thrown.
 */
function tolerateErrors(s: dgram.Socket): void {
  s.on('error', () => undefined);
}

export function openUnicast(iface: string | undefined, onMessage: Handler): Promise<dgram.Socket> {
  return new Promise((resolve, reject) => {
    const s = dgram.createSocket({ type: 'udp4' });
    s.once('error', reject);
    s.on('message', onMessage);
    s.bind(0, iface, () => {
      s.off('error', reject);
      tolerateErrors(s);
      resolve(s);
    });
  });
}

/**
 * A unicast socket connected to the session's server address: sends skip Node's per-send address lookup
 * (about a quarter of the agent's CPU as Master Client, which ACKs every ODATA: docs/performance.md), and the
 * kernel only delivers datagrams from that server (JOINACK) to it.
 */
export function openConnected(iface: string, to: { address: string; port: number }, onMessage: Handler): Promise<dgram.Socket> {
  return openUnicast(iface, onMessage).then(
    (s) =>
      new Promise((resolve, reject) => {
        s.once('error', reject);
        s.connect(to.port, to.address, () => {
          s.off('error', reject);
          resolve(s);
        });
      }),
  );
}

export interface MulticastSocket {
  socket: dgram.Socket;
  /** recvBufferSize granted by the kernel (capped by net.core.rmem_max). */
  granted: number;
}

export function openMulticast(group: string, port: number, iface: string, onMessage: Handler): Promise<MulticastSocket> {
  return new Promise((resolve, reject) => {
    const s = dgram.createSocket({ type: 'udp4', reuseAddr: true, recvBufferSize: RECV_BUFFER_BYTES });
    s.once('error', reject);
    s.on('message', onMessage);
    s.bind(port, '0.0.0.0', () => {
      try {
        s.addMembership(group, iface);
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

/** The local address the kernel would use to reach `server` (no packet is sent by a UDP connect). */
export function routeTo(server: string, port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = dgram.createSocket('udp4');
    s.once('error', (e) => {
      s.close();
      reject(e);
    });
    s.connect(port, server, () => {
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
