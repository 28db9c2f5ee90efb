/**
 * The connect plan (core/rpc/connect.ts) driven by a list of steps: shared by the fast-check suite
 * (test/core/rpc/fuzz.test.ts "the connect plan") and the fuzz target (test/fuzz/targets/rpc-machines.ts), which
 * check the events it returns. No vitest import.
 */
import { RpcConnector } from '../../../core/rpc/connect';
import { FakeProvider } from '../../core/rpc/fake-provider';
import { SRVSVC } from '../../core/rpc/srvsvc';

export type ConnectStep = { kind: 'bytes'; b: Buffer } | { kind: 'close' | 'timeout' | 'connect' | 'refused' };

/** Feeds each step to a fresh RpcConnector on a fake clock and returns the types of the events it emitted, in order. */
export function driveConnector(hasCredentials: boolean, steps: readonly ConnectStep[]): string[] {
  const c = new RpcConnector({ abstractSyntax: SRVSVC, hasCredentials, opnum: 0, stub: Buffer.alloc(4), timeoutMs: 100, provider: (a) => new FakeProvider({ authType: a.authType }) });
  let now = 0;
  let n = 0;
  const events: string[] = [];
  for (const s of steps) {
    const action = c.pollAction(now);
    if (action) n = action.attempt.n;
    if (s.kind === 'bytes') c.handleBytes(n, s.b, now);
    if (s.kind === 'close') c.handleClosed(n, now);
    if (s.kind === 'connect') c.handleConnected(n, now);
    if (s.kind === 'refused') c.handleConnectFailed(n, now, 'ECONNREFUSED');
    if (s.kind === 'timeout') c.handleTimeout((now += 100));
    while (c.pollSend());
    for (let e = c.pollEvent(); e; e = c.pollEvent()) events.push(e.type);
  }
  return events;
}
