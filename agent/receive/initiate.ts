/**
 * Session initiation, the chain of methods (`--initiation`):
 *   rpc   MS-WDSC over TCP (Windows Server 2016+): --rpc-port (default 5040), on refusal the endpoint mapper on
 *         TCP 135 for the WDSC port; per connection the attempt plan of core/wdsc/initiator.ts (SPNEGO, raw NTLM
 *         when SPNEGO is rejected; without credentials anonymous NTLM, then no authentication).
 *   udp   MS-WDSMSI over UDP on the --server port (Server 2008 R2 – 2012 R2).
 *   auto  rpc, and when it fails in any way but a Win32 error from the DP, udp. A Win32 error in a WDSC reply
 *         (e.g. unknown content) is the DP's answer and final.
 * --retries / --retry-delay repeat an attempt that got no answer (a timeout, a connection ended before the
 * answer), for either method. Every failure is typed (NoSession.why), and the message names each method tried.
 */
import crypto from 'node:crypto';
import os from 'node:os';
import type dgram from 'node:dgram';
import { MsiUdpInitiator, type InitiationResult } from '../../core/msi-client';
import type { FallbackCause } from '../../core/outcome';
import { NtlmClientProvider, SpnegoClientProvider } from '../../core/ntlm/providers';
import type { Credentials } from '../../core/ntlm/auth';
import { AuthLevel, AuthType } from '../../core/rpc/security';
import { SessionInfo, secName, sessionSecurity, unsupportedSecurity } from '../../core/session';
import { buildInitiateRequest } from '../../core/wdsc/initiate';
import { Attempt, firstAttempt, nextAttempt } from '../../core/rpc/connect';
import { EptMapLookup, verdictOf, WdscInitiator } from '../../core/wdsc/initiator';
import { DEFAULTS } from '../defaults';
import { OsdcastError } from '../errors';
import type { Logger } from '../log/log';
import { showHostPort } from '../transport/address';
import { SocketFailures } from '../transport/net';
import { runStream } from '../transport/stream';
import { sleep } from '../util/sleep';

export type InitiationMethod = 'auto' | 'rpc' | 'udp';

/** The endpoint mapper's well-known port (C706, MS-RPCE 2.1.1.1). */
const EPM_PORT = 135;

export interface InitiationInputs {
  server: string;
  /** The MS-WDSMSI UDP port (--server host:port). */
  port: number;
  namespace: string;
  content: string;
  method?: InitiationMethod;
  rpcPort?: number;
  rpcTimeoutMs?: number;
  credentials?: Credentials;
  /** WinPE or --pre-os: WDSMC_CLIENT_CAP_BOOT_DEVICE. */
  bootDevice?: boolean;
  msiTries?: number;
  msiRetryMs?: number;
  retries: number;
  retryDelayMs: number;
}

export interface InitiationContext {
  mac: Buffer;
  uni: dgram.Socket;
  setHandler: (h: (msg: Buffer) => void) => void;
  now: () => number;
  log: Logger;
  signal: AbortSignal;
  /** Test hook: 16 bytes of randomness per call (NTLM client challenge and session key). */
  random?: (n: number) => Buffer;
  /** The machine name sent as Client (default os.hostname()). */
  clientName?: string;
}

/** No multicast session, and why: a name that does not resolve, no route, no reply (worth another attempt, unlike an error reply), or refused. */
export class NoSession extends OsdcastError {
  constructor(
    readonly why: Extract<FallbackCause, 'unresolved' | 'no-route' | 'no-reply' | 'no-session' | 'auth-refused'>,
    message: string,
  ) {
    super('no-session', message);
  }
}

type Failure = Extract<InitiationResult, { ok: false }>;

/** An attempt worth repeating after --retry-delay: nothing answered. */
const unanswered = (f: Failure) => f.kind === 'timeout' || f.kind === 'closed';

function causeOf(f: Failure): NoSession['why'] {
  return f.kind === 'timeout' ? 'no-reply' : f.kind === 'refused' ? 'no-route' : f.kind === 'auth' ? 'auth-refused' : 'no-session';
}

/** The session, and which method gave it; NoSession when every method failed. */
export async function initiateSession(o: InitiationInputs, ctx: InitiationContext): Promise<{ session: SessionInfo; method: 'rpc' | 'udp' }> {
  const method = o.method ?? (DEFAULTS.initiation as InitiationMethod);
  const failures: string[] = [];
  if (method !== 'udp') {
    const r = await withRetries(o, ctx, () => initiateRpc(o, ctx));
    if (r.ok) return { session: accept(r.session, ctx.log), method: 'rpc' };
    if (r.kind === 'error' || method === 'rpc') throw new NoSession(causeOf(r), `RPC: ${r.message}`);
    // A DP that does not listen for RPC at all (Server 2008 R2 – 2012 R2) is the ordinary case for UDP: info.
    // Anything else (an authentication refusal, silence, a foreign answer) is worth an administrator's look.
    const line = `session initiation over RPC failed: ${r.message}; trying MS-WDSMSI over UDP at ${showHostPort(o.server, o.port)}`;
    if (r.kind === 'refused') ctx.log.info(line);
    else ctx.log.warn(line);
    failures.push(`RPC: ${r.message}`);
  }
  const r = await withRetries(o, ctx, () => initiateUdp(o, ctx));
  if (r.ok) return { session: accept(r.session, ctx.log), method: 'udp' };
  failures.push(`${method === 'udp' ? '' : 'UDP: '}${r.message}`);
  throw new NoSession(causeOf(r), failures.join('; '));
}

async function withRetries(o: InitiationInputs, ctx: InitiationContext, once: () => Promise<InitiationResult>): Promise<InitiationResult> {
  for (let attempt = 0; ; attempt++) {
    const r = await once();
    // An answer (a session, an error, a refusal) will not change on asking again; silence may.
    if (r.ok || !unanswered(r) || attempt >= o.retries) return r;
    ctx.log.warn(`${r.message}; retrying in ${o.retryDelayMs / 1000} s (${attempt + 1} of ${o.retries})`);
    await sleep(o.retryDelayMs, ctx.signal);
  }
}

/** A session this build can receive, or NoSession. */
function accept(rep: SessionInfo, log: Logger): SessionInfo {
  if (rep.multicast.address.includes(':')) throw new NoSession('no-session', 'server offered an IPv6 session; this build receives IPv4 only');
  const refused = unsupportedSecurity(sessionSecurity(rep));
  if (refused) throw new NoSession('no-session', refused);
  const sec = sessionSecurity(rep);
  log.info(`session ${rep.sessionId >>> 0} at ${rep.multicast.address}:${rep.multicast.port}, ${rep.contentSize} bytes in ${rep.totalBlocks} blocks of ${rep.blockSize}; security: client ${secName(sec.client.mode)}, server ${secName(sec.server.mode)}`);
  return rep;
}

function describeAttempt(a: Attempt): string {
  if (a.authType === AuthType.NONE) return 'no authentication';
  return `${a.authType === AuthType.SPNEGO ? 'SPNEGO/NTLM' : 'NTLM'}${a.anonymous ? ' (anonymous)' : ''} at PKT_PRIVACY`;
}

async function initiateRpc(o: InitiationInputs, ctx: InitiationContext): Promise<InitiationResult> {
  const timeoutMs = o.rpcTimeoutMs ?? DEFAULTS.rpcTimeoutMs;
  const built = buildInitiateRequest({ namespace: o.namespace, content: o.content, clientName: ctx.clientName ?? os.hostname(), bootDevice: !!o.bootDevice });
  if (built.clientNameCut) ctx.log.info(`machine name cut to "${built.clientName}" for the MS-WDSC request (15 characters at most)`);
  const random = ctx.random ?? ((n: number) => crypto.randomBytes(n));
  let port = o.rpcPort ?? DEFAULTS.rpcPort;
  let askedEpm = false;
  let a: Attempt | undefined = firstAttempt(!!o.credentials);
  let last: Failure | undefined;
  // What is reported when every attempt failed: the first refused authentication, else the last failure (#34).
  let firstAuth: Failure | undefined;
  while (a) {
    const at = showHostPort(o.server, port);
    ctx.log.info(`asking ${at} for ${o.namespace} / ${o.content} over MS-WDSC (RPC, ${describeAttempt(a)}${o.credentials && !a.anonymous ? ` as ${o.credentials.domain ? `${o.credentials.domain}\\` : ''}${o.credentials.user}` : ''})`);
    const security =
      a.authType === AuthType.NONE
        ? undefined
        : {
            provider: new (a.authType === AuthType.SPNEGO ? SpnegoClientProvider : NtlmClientProvider)({
              ...(a.anonymous ? {} : { credentials: o.credentials }),
              clientChallenge: random(8),
              exportedSessionKey: random(16),
              nowMs: ctx.now(),
            }),
            level: AuthLevel.PKT_PRIVACY,
          };
    const init = new WdscInitiator({ server: { address: o.server, port }, request: built.packet, timeoutMs, ...(security ? { security } : {}) }, ctx.now());
    const r = await runStream(init, ctx.now, ctx.signal);
    if (r.ok || r.kind === 'error') return r;
    if (r.kind === 'refused' && !askedEpm) {
      askedEpm = true;
      ctx.log.info(`${r.message}; asking the endpoint mapper at ${showHostPort(o.server, EPM_PORT)} for the WDS Control Protocol port`);
      const epm = await runStream(new EptMapLookup({ server: { address: o.server, port: EPM_PORT }, timeoutMs }, ctx.now()), ctx.now, ctx.signal);
      if (epm.ok) {
        port = epm.port;
        ctx.log.info(`the endpoint mapper names port ${port}`);
        continue;
      }
      return { ...r, message: `${r.message}; endpoint mapper: ${epm.message}` };
    }
    last = r;
    if (r.kind === 'auth') firstAuth ??= r;
    a = nextAttempt(a, verdictOf(r));
    if (a) ctx.log.warn(`${r.message}; trying ${describeAttempt(a)}`);
  }
  return firstAuth ?? last!;
}

async function initiateUdp(o: InitiationInputs, ctx: InitiationContext): Promise<InitiationResult> {
  const { now, signal } = ctx;
  const init = new MsiUdpInitiator({ server: { address: o.server, port: o.port }, namespace: o.namespace, content: o.content, mac: ctx.mac, maxTries: o.msiTries, retryMs: o.msiRetryMs }, now());
  ctx.log.info(`requesting ${o.namespace} / ${o.content} from ${showHostPort(o.server, o.port)} (MS-WDSMSI over UDP)`);
  const netFailures = new SocketFailures((code, message) => ctx.log.warn({ code }, `cannot send the MS-WDSMSI request to ${showHostPort(o.server, o.port)}: ${message}`));
  await new Promise<void>((resolve, reject) => {
    let timer: NodeJS.Timeout | undefined;
    const onAbort = () => {
      if (timer) clearTimeout(timer);
      reject(signal.reason);
    };
    const pump = () => {
      let tx;
      while ((tx = init.pollTransmit())) netFailures.send(ctx.uni, tx.data, tx.to);
      if (timer) clearTimeout(timer);
      if (init.result) {
        signal.removeEventListener('abort', onAbort);
        return resolve();
      }
      const t = init.pollTimeout();
      if (t !== undefined)
        timer = setTimeout(() => {
          init.handleTimeout(now());
          pump();
        }, Math.max(0, t - now()));
    };
    if (signal.aborted) return reject(signal.reason);
    signal.addEventListener('abort', onAbort);
    ctx.setHandler((msg) => {
      init.handleDatagram(msg, { address: o.server, port: o.port }, now());
      pump();
    });
    pump();
  });
  return init.result!;
}
