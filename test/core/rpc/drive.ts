/**
 * A tiny I/O shell for tests: moves bytes between a node:net socket and the sans-I/O RpcClient, honours
 * pollTimeout with a real timer, and resolves with every event once `until` says so (or the connection ends);
 * and the same for the RpcConnector (one socket per attempt).
 */
import net from 'node:net';
import { RpcClient, RpcClientOptions, RpcEvent } from '../../../core/rpc/client';
import { ConnectorEvent, RpcConnector } from '../../../core/rpc/connect';

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

/**
 * Drives an RpcConnector over node:net: one socket per attempt, closed when the attempt fails. Resolves with every
 * connector event once it is `done` (the socket is then closed too) or `failed`.
 */
export function runConnector(host: string, port: number, connector: RpcConnector): Promise<ConnectorEvent[]> {
  return new Promise((resolve) => {
    const events: ConnectorEvent[] = [];
    let sock: net.Socket | undefined;
    let timer: NodeJS.Timeout | undefined;
    let finished = false;
    const pump = (): void => {
      for (let b = connector.pollSend(); b; b = connector.pollSend()) sock?.write(b);
      for (let e = connector.pollEvent(); e; e = connector.pollEvent()) {
        events.push(e);
        if (e.type === 'attemptFailed' || e.type === 'done') sock?.destroy();
        if (e.type === 'done' || e.type === 'failed') finished = true;
      }
      if (timer) clearTimeout(timer);
      if (finished) return resolve(events);
      const action = connector.pollAction(Date.now());
      if (action) {
        const n = action.attempt.n;
        let connected = false;
        const s = net.connect({ host, port });
        sock = s;
        s.on('connect', () => ((connected = true), connector.handleConnected(n, Date.now()), pump()));
        s.on('data', (d) => (connector.handleBytes(n, d, Date.now()), pump()));
        s.on('error', (err: NodeJS.ErrnoException) => {
          if (!connected) connector.handleConnectFailed(n, Date.now(), err.code ?? err.message);
          pump();
        });
        s.on('close', () => (connector.handleClosed(n, Date.now()), pump()));
      }
      const t = connector.pollTimeout();
      if (t !== undefined) timer = setTimeout(() => (connector.handleTimeout(Date.now()), pump()), Math.max(0, t - Date.now()));
    };
    pump();
  });
}
