/**
 * The RPC server connection (core/rpc/server.ts) with the WDSC and EPM interfaces and NTLM/SPNEGO providers, fed
 * chunks and answering every request, and a real client's NTLM PKT_PRIVACY exchange to mutate: shared by
 * test/core/rpc/server-fuzz.test.ts and the fuzz target rpc-server. No vitest here.
 */
import fc from 'fast-check';
import { RpcClient } from '../../../core/rpc/client';
import { decodePdu } from '../../../core/rpc/pdu';
import { EPM_INTERFACE } from '../../../core/rpc/epm';
import { AuthLevel, AuthType } from '../../../core/rpc/security';
import { RpcServerConnection } from '../../../core/rpc/server';
import { WDSC_INTERFACE, encodeWdsRpcMessageRequest } from '../../../core/rpc/wds-rpc';
import { Credentials } from '../../../core/ntlm/auth';
import { NtlmClientProvider, NtlmServerProvider, SpnegoServerProvider } from '../../../core/ntlm/providers';

export const bytes = (maxLength: number) => fc.uint8Array({ maxLength }).map((a) => Buffer.from(a));
const account = new Credentials({ domain: 'D', user: 'u', password: 'p' });
const ntlmOpts = { serverChallenge: Buffer.alloc(8, 1), nowMs: 0, computerName: 'DP', domainName: 'D', accounts: [account], allowAnonymous: true };
const EVENT_TYPES = ['request', 'authenticated', 'auth-failed', 'refused', 'close'];

export function newServer(): RpcServerConnection {
  return new RpcServerConnection(
    {
      interfaces: [
        { syntax: WDSC_INTERFACE, opnums: 1, minLevel: AuthLevel.NONE },
        { syntax: EPM_INTERFACE, opnums: 8, minLevel: AuthLevel.NONE },
      ],
      securityProvider: (t) => (t === AuthType.WINNT ? new NtlmServerProvider(ntlmOpts) : t === AuthType.SPNEGO ? new SpnegoServerProvider(ntlmOpts) : undefined),
      assocGroupId: 1,
      secondaryAddress: '5040',
      maxRequestBytes: 4096,
    },
    0,
  );
}

/** Feeds chunks, answers every request, and checks everything that comes out. */
export function feed(s: RpcServerConnection, chunks: Buffer[]): void {
  for (const ch of chunks) {
    s.handleBytes(ch, 1);
    for (let e = s.pollEvent(); e; e = s.pollEvent()) {
      if (!EVENT_TYPES.includes(e.type)) throw new Error(`the server emitted an event of type ${e.type}`);
      if (e.type === 'request') s.respond(e.callId, Buffer.alloc(8));
    }
    for (let b = s.pollSend(); b; b = s.pollSend()) if (!decodePdu(b).ok) throw new Error(`the server sent a PDU that does not decode: ${b.toString('hex')}`);
  }
  s.handleTimeout(1e12);
  if (!s.closed) throw new Error('the server is not closed after the idle timeout');
}

/** What a real client sends for an NTLM PKT_PRIVACY bind and one call, as raw PDUs. */
export function clientPdus(): Buffer[] {
  const c = new RpcClient({
    abstractSyntax: WDSC_INTERFACE,
    security: { provider: new NtlmClientProvider({ credentials: account, clientChallenge: Buffer.alloc(8, 2), exportedSessionKey: Buffer.alloc(16, 3), nowMs: 0 }), level: AuthLevel.PKT_PRIVACY },
  });
  const s = newServer();
  c.handleConnected(0);
  const out: Buffer[] = [];
  c.call(0, encodeWdsRpcMessageRequest(Buffer.alloc(100, 7)), 0);
  for (let i = 0; i < 6; i++) {
    for (let b = c.pollSend(); b; b = c.pollSend()) {
      out.push(Buffer.from(b));
      s.handleBytes(b, 0);
    }
    for (let b = s.pollSend(); b; b = s.pollSend()) c.handleBytes(b, 0);
    while (s.pollEvent());
  }
  return out;
}

export const mutatePdus = (pdus: Buffer[]) =>
  fc.tuple(fc.nat(pdus.length - 1), fc.array(fc.tuple(fc.nat(4000), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 6 })).map(([which, muts]) =>
    pdus.map((p, i) => {
      if (i !== which) return p;
      const b = Buffer.from(p);
      for (const [at, x] of muts) b[at % b.length] = x;
      return b;
    }),
  );
