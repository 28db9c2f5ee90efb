/**
 * The coordinator's TCP shell for DCE/RPC (beside udp.ts): a node:net listener per endpoint ('wdsc' on the RPC
 * port, optionally 'epm' for the endpoint mapper), one RpcLink (rpc.ts) per connection. It only moves bytes and
 * time: reads go into the link, what the link sends is written, its timeout is honoured with one timer, and
 * the socket is ended once the link says close. Listens only on the address it is given.
 */
import net from 'node:net';
import { RpcServerEvent } from '../../core/rpc/server';
import { Listener, RpcFront } from './rpc';

export type RpcShellEvent = { listener: Listener; address: string; port: number } & ({ type: 'connected' } | { type: 'disconnected' } | { type: 'rpc'; event: RpcServerEvent });

export interface TcpListener {
  server: net.Server;
  port: number;
}

/** Binds address:port (0 = ephemeral) without serving yet, so the port is known before the front is built. */
export function bindTcp(address: string, port: number): Promise<TcpListener> {
  return new Promise((resolve, reject) => {
    const server = net.createServer({ noDelay: true });
    server.once('error', reject);
    server.listen({ host: address, port, exclusive: true }, () => {
      server.off('error', reject);
      resolve({ server, port: (server.address() as net.AddressInfo).port });
    });
  });
}

export interface RpcService {
  stop(): Promise<void>;
  connections(): number;
}

export function serveRpc(l: TcpListener, listener: Listener, front: RpcFront, clock: () => number, onEvent?: (e: RpcShellEvent) => void): RpcService {
  const sockets = new Set<net.Socket>();
  l.server.on('connection', (sock) => {
    sockets.add(sock);
    const from = { address: sock.remoteAddress ?? '?', port: sock.remotePort ?? 0 };
    const tag = { listener, ...from };
    const link = front.open(listener, from, clock());
    let timer: NodeJS.Timeout | undefined;
    let done = false;
    onEvent?.({ type: 'connected', ...tag });
    const pump = () => {
      for (let b = link.pollSend(); b; b = link.pollSend()) if (!sock.destroyed) sock.write(b);
      for (let e = link.pollEvent(); e; e = link.pollEvent()) onEvent?.({ type: 'rpc', event: e, ...tag });
      if (timer) clearTimeout(timer);
      timer = undefined;
      if (link.closed) {
        if (!done) {
          done = true;
          sock.end();
        }
        return;
      }
      const at = link.pollTimeout();
      if (at !== undefined) timer = setTimeout(() => (link.handleTimeout(clock()), pump()), Math.max(0, at - clock()));
    };
    sock.on('data', (d) => {
      link.handleBytes(d, clock());
      pump();
    });
    sock.on('error', () => sock.destroy());
    sock.on('close', () => {
      sockets.delete(sock);
      if (timer) clearTimeout(timer);
      link.handleClosed();
      onEvent?.({ type: 'disconnected', ...tag });
    });
    pump();
  });
  return {
    connections: () => sockets.size,
    stop: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        l.server.close(() => resolve());
      }),
  };
}
