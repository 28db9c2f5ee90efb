/**
 * TCP plumbing for a sans-I/O stream machine (core StreamMachine: a StreamInitiator such as MS-WDSC over RPC,
 * or the endpoint-mapper lookup): the only place the agent opens a TCP connection to a DP's RPC ports. The
 * machine owns every deadline (its connect timeout is --rpc-timeout); this driver connects, moves bytes, follows
 * pollTimeout with one timer, and destroys the socket once pollClose() says so. It logs nothing: what it carries
 * may be authentication tokens.
 */
import net from 'node:net';
import type { StreamMachine } from '../../core/msi-client';
import { abortReason } from '../util/sleep';

/** Node's connect errors that mean "nothing listens there" vs "cannot reach it". */
const REFUSED = new Set(['ECONNREFUSED', 'ECONNRESET']);

export function runStream<R>(m: StreamMachine<R>, now: () => number, signal?: AbortSignal): Promise<R> {
  return new Promise<R>((resolve, reject) => {
    if (signal?.aborted) return reject(abortReason(signal));
    let connected = false;
    let timer: NodeJS.Timeout | undefined;
    let ended = false;
    const sock = net.connect({ host: m.server.address, port: m.server.port });
    sock.setNoDelay(true);
    const finish = (): void => {
      if (ended) return;
      ended = true;
      if (timer) clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      sock.destroy();
    };
    const onAbort = (): void => {
      finish();
      reject(abortReason(signal!));
    };
    const pump = (): void => {
      if (ended) return;
      for (let b = m.pollSend(); b; b = m.pollSend()) sock.write(b);
      if (m.pollClose() || m.result !== undefined) {
        finish();
        if (m.result !== undefined) resolve(m.result);
        else reject(new Error('the stream machine closed without a result'));
        return;
      }
      if (timer) clearTimeout(timer);
      const t = m.pollTimeout();
      timer =
        t === undefined
          ? undefined
          : setTimeout(() => step(() => m.handleTimeout(now())), Math.max(0, t - now()));
    };
    /**
     * One input to the machine, then pump. The machines never throw on what a server sends (core's contract); if one
     * did, the initiation fails with that error (as an internal one) instead of the throw escaping a socket or timer
     * listener and ending the process (protocol-notes #108).
     */
    const step = (input: () => void): void => {
      try {
        input();
        pump();
      } catch (e) {
        finish();
        reject(e);
      }
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    sock.on('connect', () => {
      connected = true;
      step(() => m.handleConnected(now()));
    });
    sock.on('data', (b: Buffer) => step(() => m.handleBytes(b, now())));
    sock.on('error', (e: NodeJS.ErrnoException) => {
      if (ended) return;
      step(() => {
        if (!connected) m.handleConnectFailed(now(), REFUSED.has(e.code ?? '') ? 'refused' : 'unreachable', e.code ?? e.message);
        else m.handleClosed(now(), e.code ?? e.message);
      });
    });
    sock.on('close', () => {
      if (ended) return;
      step(() => m.handleClosed(now()));
    });
    step(() => undefined);
  });
}
