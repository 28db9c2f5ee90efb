/**
 * A tiny I/O shell for tests: moves bytes between a node:net socket and the sans-I/O RpcClient, honours
 * pollTimeout with a real timer, and resolves with every event once `until` says so (or the connection ends).
 */
import net from 'node:net';
import { RpcClient, RpcClientOptions, RpcEvent } from '../../../core/rpc/client';

export interface Session {
  client: RpcClient;
  events: RpcEvent[];
  /** Waits for the first event matching `match` (rejects when the connection closes or fails first). */
  next(match: (e: RpcEvent) => boolean): Promise<RpcEvent>;
  call(opnum: number, stub: Buffer): number;
  close(): void;
}

export function connect(host: string, port: number, opts: RpcClientOptions): Promise<Session> {
  return new Promise((resolve, reject) => {
    const client = new RpcClient(opts);
    const events: RpcEvent[] = [];
    const waiters: { match: (e: RpcEvent) => boolean; resolve: (e: RpcEvent) => void; reject: (e: Error) => void }[] = [];
    const sock = net.connect({ host, port });
    let timer: NodeJS.Timeout | undefined;
    const pump = (): void => {
      for (let b = client.pollSend(); b; b = client.pollSend()) sock.write(b);
      for (let e = client.pollEvent(); e; e = client.pollEvent()) {
        events.push(e);
        for (const w of [...waiters]) {
          if (w.match(e)) {
            waiters.splice(waiters.indexOf(w), 1);
            w.resolve(e);
          } else if (e.type === 'closed' || (e.type === 'error' && e.fatal) || e.type === 'bindNak' || e.type === 'bindFault') {
            waiters.splice(waiters.indexOf(w), 1);
            w.reject(new Error(`connection ended: ${JSON.stringify(e)}`));
          }
        }
        if ((e.type === 'error' && e.fatal) || e.type === 'bindNak' || e.type === 'bindFault') sock.destroy();
      }
      if (timer) clearTimeout(timer);
      const t = client.pollTimeout();
      if (t !== undefined) timer = setTimeout(() => (client.handleTimeout(Date.now()), pump()), Math.max(0, t - Date.now()));
    };
    sock.on('connect', () => {
      client.handleConnected(Date.now());
      pump();
      resolve({
        client,
        events,
        next: (match) => {
          const seen = events.find(match);
          if (seen) return Promise.resolve(seen);
          return new Promise((res, rej) => waiters.push({ match, resolve: res, reject: rej }));
        },
        call: (opnum, stub) => {
          const id = client.call(opnum, stub, Date.now());
          pump();
          return id;
        },
        close: () => sock.destroy(),
      });
    });
    sock.on('data', (d) => (client.handleBytes(d, Date.now()), pump()));
    sock.on('close', () => {
      if (timer) clearTimeout(timer);
      client.handleClosed(Date.now());
      pump();
    });
    sock.on('error', (err) => reject(err));
  });
}
