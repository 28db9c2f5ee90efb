/**
 * How osdcast gets one authenticated call through to an RPC server, sans-I/O: a plan of attempts, one TCP
 * connection each, and the reading of each attempt's RpcClient events (protocol notes #32-#35).
 *
 *   credentials:    SPNEGO (9) at PKT_PRIVACY → raw NTLMSSP (10) at PKT_PRIVACY when the server rejects 9
 *   no credentials: anonymous 9 → anonymous 10 when 9 is rejected → RPC_C_AUTHN_LEVEL_NONE when anonymous is
 *                   refused (MS-WDSC 2.1.2)
 *
 * An attempt ends with the first call (the one that matters, e.g. WDSMC_OP_INITIATE): a wrong password shows only
 * there (auth3 has no answer). The I/O shell: `pollAction()` says connect (to the same host and port), then it
 * feeds handleConnected / handleConnectFailed / handleBytes / handleClosed with that attempt's number and the
 * time, handleTimeout with the time, and drains pollSend / pollTimeout / pollEvent; on an `attemptFailed` event
 * it closes that socket and asks pollAction again (input still arriving from an old socket is ignored). A `done`
 * event hands over the bound client: further calls and their events go through it directly.
 */
import { RpcClient, RpcEvent } from './client';
import { SyntaxId } from './ndr';
import { AuthLevel, AuthType, SecurityProvider } from './security';
import { isAccessFault } from './status';

export interface Attempt {
  /** 1, 2, … */
  n: number;
  authType: typeof AuthType.SPNEGO | typeof AuthType.WINNT | typeof AuthType.NONE;
  /** PKT_PRIVACY with a provider; NONE without. */
  level: typeof AuthLevel.PKT_PRIVACY | typeof AuthLevel.NONE;
  /** NTLM without credentials (meaningless at level NONE). */
  anonymous: boolean;
}

/**
 * What one attempt came to:
 *   answered            the call got a response, or a fault of its own (not an authentication refusal)
 *   auth-type-rejected  the server will not use this auth type (move to the next one)
 *   auth-refused        the server refused these credentials (or anonymity) or access
 *   network             no usable connection: connect refused or timed out, closed before any answer, a timeout
 *   protocol            anything else that ends the association (a context the server does not know, a response
 *                       that fails verification, a malformed stream): never a reason to lower protection
 */
export type VerdictKind = 'answered' | 'auth-type-rejected' | 'auth-refused' | 'network' | 'protocol';
export interface Verdict {
  kind: VerdictKind;
  /** One line for the log and the error message (status names, never credentials). */
  detail: string;
  /** The fault status, when a fault decided it. */
  status?: number;
}

/** The first attempt of the plan. */
export function firstAttempt(hasCredentials: boolean): Attempt {
  return { n: 1, authType: AuthType.SPNEGO, level: AuthLevel.PKT_PRIVACY, anonymous: !hasCredentials };
}

/** The attempt after `prev` ended with `v`, or undefined when the plan is over (protocol notes #32, #34). */
export function nextAttempt(prev: Attempt, v: Verdict): Attempt | undefined {
  if (prev.authType === AuthType.NONE) return undefined;
  const n = prev.n + 1;
  if (v.kind === 'auth-type-rejected') {
    if (prev.authType === AuthType.SPNEGO) return { ...prev, n, authType: AuthType.WINNT };
    return prev.anonymous ? { n, authType: AuthType.NONE, level: AuthLevel.NONE, anonymous: false } : undefined;
  }
  if (v.kind === 'auth-refused' && prev.anonymous) return { n, authType: AuthType.NONE, level: AuthLevel.NONE, anonymous: false };
  return undefined;
}

/** Fault statuses that, answering the first call of an authenticated association, mean "not you" (#33). */
const NCA_S_PROTO_ERROR = 0x1c01000b;
function isAuthRefusalFault(status: number): boolean {
  return isAccessFault(status) || status >>> 0 === NCA_S_PROTO_ERROR;
}

/**
 * Reads one event of an attempt whose probe call is `probeCallId`; undefined while undecided (#32, #33, #35).
 * `bound`: the bind (and auth3 or alter_context) completed before this event. Also the reading of
 * core/wdsc/initiator.ts, which drives one attempt per stream.
 */
export function judge(e: RpcEvent, a: { authType: number }, probeCallId: number, bound: boolean): Verdict | undefined {
  const authenticated = a.authType !== AuthType.NONE;
  switch (e.type) {
    case 'bound':
      return undefined;
    case 'response':
      return e.callId === probeCallId ? { kind: 'answered', detail: 'response' } : undefined;
    case 'fault':
      if (e.callId !== probeCallId) return undefined;
      if (isAuthRefusalFault(e.status)) return { kind: 'auth-refused', detail: `fault ${e.name}`, status: e.status };
      return { kind: 'answered', detail: `fault ${e.name}`, status: e.status };
    case 'bindNak':
      // 1 temporary_congestion, 2 local_limit_exceeded: busy, not a refusal of the auth type.
      if (e.reason === 1 || e.reason === 2) return { kind: 'network', detail: `bind_nak ${e.name}` };
      return { kind: authenticated ? 'auth-type-rejected' : 'auth-refused', detail: `bind_nak ${e.name}` };
    case 'bindFault':
      // To the bind: the first token (the auth type) was refused; to the alter_context: the AUTHENTICATE was.
      if (!authenticated) return { kind: 'auth-refused', detail: `fault ${e.name} to the bind`, status: e.status };
      return { kind: e.leg === 'bind' ? 'auth-type-rejected' : 'auth-refused', detail: `fault ${e.name} to the ${e.leg}`, status: e.status };
    case 'closed':
      if (!bound) return { kind: 'network', detail: 'connection closed before the bind was answered' };
      // After an auth3 that had no answer, the server ending the association on the first call is its refusal.
      return { kind: authenticated ? 'auth-refused' : 'network', detail: 'connection closed by the server before the first call was answered' };
    case 'error':
      if (!e.fatal && e.callId !== probeCallId) return undefined; // a dropped PDU: counted by the client
      if (e.code === 'timeout') return { kind: 'network', detail: e.message };
      // The provider refused the server's token (SPNEGO negState reject, a mechanism other than NTLM, a
      // CHALLENGE it cannot answer): this auth type will not work with this server. After the bind, a security
      // error is a response that failed verification: never a reason to try with less protection.
      if (e.code === 'security' && !bound) return { kind: 'auth-type-rejected', detail: e.message };
      return { kind: 'protocol', detail: e.message };
  }
}

export interface ConnectorOptions {
  abstractSyntax: SyntaxId;
  hasCredentials: boolean;
  /** A fresh provider for an attempt (time and randomness are the caller's; credentials unless anonymous). */
  provider(a: Attempt): SecurityProvider;
  /** The first call: opnum and stub. */
  opnum: number;
  stub: Buffer;
  /** Bound on the connect, the bind and the call of each attempt (ms; default 10 000). */
  timeoutMs?: number;
}

export type ConnectorEvent =
  | { type: 'attemptFailed'; attempt: Attempt; verdict: Verdict }
  | { type: 'done'; attempt: Attempt; client: RpcClient; callId: number; answer: Extract<RpcEvent, { type: 'response' | 'fault' }> }
  | { type: 'failed'; attempts: { attempt: Attempt; verdict: Verdict }[]; verdict: Verdict };

/** @internal The whole plan as one state machine: the Samba interop tests drive it; the agent uses judge/firstAttempt/nextAttempt through core/wdsc/initiator.ts. */
export class RpcConnector {
  private attempt: Attempt | undefined;
  private client: RpcClient | undefined;
  private probe = 0;
  private bound = false;
  private connectDeadline: number | undefined;
  private pendingConnect = true;
  private readonly history: { attempt: Attempt; verdict: Verdict }[] = [];
  private readonly events: ConnectorEvent[] = [];
  private readonly timeoutMs: number;
  private over = false;
  private doneAttempt: number | undefined;

  constructor(private readonly o: ConnectorOptions) {
    this.timeoutMs = o.timeoutMs ?? 10_000;
    this.attempt = firstAttempt(o.hasCredentials);
  }

  /** Connect (again) when this returns an attempt; the shell then reports handleConnected or handleConnectFailed. */
  pollAction(now: number): { type: 'connect'; attempt: Attempt } | undefined {
    if (!this.pendingConnect || !this.attempt) return undefined;
    this.pendingConnect = false;
    this.connectDeadline = now + this.timeoutMs;
    return { type: 'connect', attempt: this.attempt };
  }

  handleConnected(n: number, now: number): void {
    const a = this.attempt;
    if (!a || a.n !== n || this.client || this.connectDeadline === undefined) return;
    this.connectDeadline = undefined;
    this.bound = false;
    const c = new RpcClient({
      abstractSyntax: this.o.abstractSyntax,
      timeoutMs: this.timeoutMs,
      ...(a.authType !== AuthType.NONE ? { security: { provider: this.o.provider(a), level: AuthLevel.PKT_PRIVACY } } : {}),
    });
    this.client = c;
    c.handleConnected(now);
    this.probe = c.call(this.o.opnum, this.o.stub, now);
    this.pump();
  }

  /** Refused, unreachable, or the shell's own connect timeout. */
  handleConnectFailed(n: number, _now: number, why: string): void {
    if (!this.attempt || this.attempt.n !== n || this.client || this.connectDeadline === undefined) return;
    this.connectDeadline = undefined;
    this.decide({ kind: 'network', detail: `connect: ${why}` });
  }

  handleBytes(n: number, buf: Buffer, now: number): void {
    if (!this.mine(n)) return;
    this.client?.handleBytes(buf, now);
    this.pump();
  }

  handleClosed(n: number, now: number): void {
    if (!this.mine(n)) return;
    this.client?.handleClosed(now);
    this.pump();
  }

  handleTimeout(now: number): void {
    if (this.connectDeadline !== undefined && now >= this.connectDeadline) {
      this.connectDeadline = undefined;
      return this.decide({ kind: 'network', detail: `connect: no connection within ${this.timeoutMs} ms` });
    }
    this.client?.handleTimeout(now);
    this.pump();
  }

  pollSend(): Buffer | undefined {
    return this.client?.pollSend();
  }

  pollTimeout(): number | undefined {
    return this.connectDeadline ?? this.client?.pollTimeout();
  }

  pollEvent(): ConnectorEvent | undefined {
    return this.events.shift();
  }

  /** Input from attempt n's socket: an earlier attempt's socket may still report its close. */
  private mine(n: number): boolean {
    return this.attempt?.n === n || (this.over && this.doneAttempt === n);
  }

  private pump(): void {
    const c = this.client;
    const a = this.attempt;
    if (!c || !a || this.over) return;
    for (let e = c.pollEvent(); e; e = c.pollEvent()) {
      const v = judge(e, a, this.probe, this.bound);
      if (e.type === 'bound') this.bound = true;
      if (!v) continue;
      if (v.kind === 'answered' && (e.type === 'response' || e.type === 'fault')) {
        this.over = true;
        this.doneAttempt = a.n;
        this.events.push({ type: 'done', attempt: a, client: c, callId: this.probe, answer: e });
        return;
      }
      return this.decide(v);
    }
  }

  private decide(v: Verdict): void {
    const a = this.attempt!;
    // The bytes the failed client still wanted to send are dropped with it: the shell closes that socket.
    this.client = undefined;
    this.history.push({ attempt: a, verdict: v });
    this.events.push({ type: 'attemptFailed', attempt: a, verdict: v });
    this.attempt = nextAttempt(a, v);
    if (this.attempt) {
      this.pendingConnect = true;
      return;
    }
    this.over = true;
    this.events.push({ type: 'failed', attempts: [...this.history], verdict: finalVerdict(this.history) });
  }
}

/**
 * The verdict the caller reports when every attempt failed: an authentication refusal wins over what followed it
 * (anonymous refused, then level NONE refused too: still "authentication failed or access denied"), #34.
 */
function finalVerdict(h: { verdict: Verdict }[]): Verdict {
  return h.find((x) => x.verdict.kind === 'auth-refused')?.verdict ?? h[h.length - 1]!.verdict;
}
