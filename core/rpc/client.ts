/**
 * A connection-oriented DCE/RPC client for one TCP connection, sans-I/O (quinn-proto style): the I/O shell calls
 * handleConnected / handleBytes / handleClosed / handleTimeout with the time, and drains pollSend (bytes to write),
 * pollTimeout (when to call handleTimeout next) and pollEvent (what happened, as typed values).
 *
 *   bind (NDR 2.0, one presentation context, optional auth verifier with the provider's first token)
 *   → bind_ack (frag sizes, context result, server token) → rpc_auth_3 (last token, no reply) or alter_context
 *   (more legs) → bound; calls queued before that go out then. bind_nak → a `bindNak` event naming the reason.
 *
 * Requests are fragmented to the negotiated max_recv_frag of the server, responses reassembled by call_id; with a
 * provider at PKT_INTEGRITY each fragment is signed, at PKT_PRIVACY sealed (MS-RPCE 3.3.1.5.2.2); at level NONE
 * no sec_trailer is sent. A fault becomes a `fault` event naming its status (`bindFault` when it answers the bind or
 * its alter_context). A PDU that does not decode is counted
 * and dropped; one that breaks the framing or the security context ends the connection (an `error` event with
 * `fatal: true`: the shell then closes the socket).
 */
import { fragments } from './fragment';
import { AuthLevel, SecurityProvider } from './security';
import { Pdu, Pfc, PType, REQUEST_HEADER_LEN, SEC_TRAILER_LEN, decodePdu, encodePduLayout, pduLength, ResponsePdu } from './pdu';
import { NDR_SYNTAX, SyntaxId, syntaxEquals } from './ndr';
import { bindNakName, contextResultName, faultName, isAccessFault } from './status';

export interface RpcSecurity {
  provider: SecurityProvider;
  level: typeof AuthLevel.PKT_INTEGRITY | typeof AuthLevel.PKT_PRIVACY;
  /** sec_trailer auth_context_id (unique per connection; default 1). */
  authContextId?: number;
}

export interface RpcClientOptions {
  abstractSyntax: SyntaxId;
  /** Largest fragment we offer to send and to receive (default 4280, what Windows and Samba use). */
  maxXmitFrag?: number;
  maxRecvFrag?: number;
  /** Absent: RPC_C_AUTHN_LEVEL_NONE, no sec_trailer anywhere. */
  security?: RpcSecurity;
  /** Bound on the bind and on each call, in ms from handleConnected / call (default 10 000). */
  timeoutMs?: number;
  /** A reassembled response larger than this fails its call (default 16 MiB). */
  maxResponseBytes?: number;
}

export type RpcErrorCode =
  | 'malformed' // a PDU that does not decode (dropped)
  | 'protocol' // a PDU that breaks the framing or arrives where it cannot
  | 'context-rejected' // bind_ack did not accept the presentation context
  | 'security' // the provider refused a token or a signature, or a protected PDU came without protection
  | 'timeout'
  | 'too-large';

export type RpcEvent =
  | {
      type: 'bound';
      maxXmitFrag: number;
      maxRecvFrag: number;
      assocGroupId: number;
      secondaryAddress: string;
      /** Both sides set PFC_SUPPORT_HEADER_SIGN (MS-RPCE 3.3.1.5.2.2); never true without a security provider. */
      headerSigning: boolean;
    }
  | { type: 'response'; callId: number; stub: Buffer }
  | { type: 'fault'; callId: number; status: number; name: string; accessDenied: boolean; didNotExecute: boolean }
  | { type: 'bindNak'; reason: number; name: string }
  /**
   * A fault answering the bind or the alter_context that carries the security context's next leg (Samba:
   * rpc_s_sec_pkg_error for a wrong password under SPNEGO): the association is over, like after a bind_nak.
   */
  | { type: 'bindFault'; leg: 'bind' | 'alter_context'; status: number; name: string; accessDenied: boolean }
  | { type: 'error'; code: RpcErrorCode; message: string; callId?: number; fatal: boolean }
  | { type: 'closed'; duringBind: boolean; pendingCallIds: number[] };

type State = 'idle' | 'binding' | 'authenticating' | 'bound' | 'failed' | 'closed';

interface Call {
  callId: number;
  opnum: number;
  stub: Buffer;
  deadline: number;
  fragments: Buffer[];
  received: number;
}

const CONTEXT_ID = 0;
const DEFAULT_FRAG = 4280;
/** C706 12.6.3.1: MustRecvFragSize; nothing smaller can carry a request header and a sec_trailer. */
const MIN_FRAG = 1432;

export class RpcClient {
  private state: State = 'idle';
  private readonly sendQueue: Buffer[] = [];
  private readonly events: RpcEvent[] = [];
  private readonly queued: Call[] = [];
  private readonly calls = new Map<number, Call>();
  private inbox: Buffer = Buffer.alloc(0);
  private nextCallId = 1;
  private bindCallId = 0;
  private bindDeadline: number | undefined;
  /** What the bind_ack negotiated (reported in the `bound` event). */
  private bound: Omit<Extract<RpcEvent, { type: 'bound' }>, 'type'> | undefined;
  private xmitFrag: number;
  private readonly offerXmit: number;
  private readonly offerRecv: number;
  private readonly timeoutMs: number;
  private readonly maxResponse: number;
  /** PDUs that did not decode or arrived for no call: counted and dropped. */
  readonly stats = { malformed: 0, unexpected: 0 };

  constructor(private readonly opts: RpcClientOptions) {
    this.offerXmit = Math.max(MIN_FRAG, Math.min(0xffff, opts.maxXmitFrag ?? DEFAULT_FRAG));
    this.offerRecv = Math.max(MIN_FRAG, Math.min(0xffff, opts.maxRecvFrag ?? DEFAULT_FRAG));
    this.xmitFrag = this.offerXmit;
    this.timeoutMs = opts.timeoutMs ?? 10_000;
    this.maxResponse = opts.maxResponseBytes ?? 16 * 1024 * 1024;
  }

  private ended(): boolean {
    return this.state === 'failed' || this.state === 'closed';
  }

  get isBound(): boolean {
    return this.state === 'bound';
  }

  // -------------------------------------------------------------------------------------------------------------
  // Inputs
  // -------------------------------------------------------------------------------------------------------------

  handleConnected(now: number): void {
    if (this.state !== 'idle') return;
    this.state = 'binding';
    this.bindCallId = this.nextCallId++;
    this.bindDeadline = now + this.timeoutMs;
    const sec = this.opts.security;
    let flags = Pfc.FIRST_FRAG | Pfc.LAST_FRAG;
    if (sec) flags |= Pfc.SUPPORT_HEADER_SIGN; // integrity or privacy: header signing offered (MS-RPCE 3.3.1.5.2.2)
    this.sendQueue.push(this.bindPdu(PType.BIND, flags, sec ? sec.provider.initialToken() : undefined));
  }

  /** Queues a call (sent once bound); returns its call id, which its response, fault or error carries. */
  call(opnum: number, stub: Buffer, now: number): number {
    const c: Call = { callId: this.nextCallId++, opnum, stub, deadline: now + this.timeoutMs, fragments: [], received: 0 };
    if (this.state === 'failed' || this.state === 'closed') {
      this.events.push({ type: 'error', code: 'protocol', message: `connection is ${this.state}`, callId: c.callId, fatal: true });
    } else if (this.state === 'bound') {
      this.sendCall(c);
    } else {
      this.queued.push(c);
    }
    return c.callId;
  }

  handleBytes(buf: Buffer, _now: number): void {
    if (this.state === 'idle' || this.state === 'failed' || this.state === 'closed') return;
    this.inbox = this.inbox.length ? Buffer.concat([this.inbox, buf]) : buf;
    for (;;) {
      const n = pduLength(this.inbox);
      if (n === undefined) return;
      if (n === 'bad') return this.fatal('protocol', 'the byte stream does not start with a DCE/RPC 5.x little-endian PDU header');
      if (this.inbox.length < n) return;
      // A copy: the PDU may be unsealed in place, and the caller's buffer is not ours to change.
      const pdu = Buffer.from(this.inbox.subarray(0, n));
      this.inbox = this.inbox.subarray(n);
      this.handlePdu(pdu);
      if (this.ended()) return;
    }
  }

  handleClosed(_now: number): void {
    if (this.state === 'closed') return;
    const duringBind = this.state === 'binding' || this.state === 'authenticating' || this.state === 'idle';
    const pendingCallIds = [...this.calls.keys(), ...this.queued.map((c) => c.callId)];
    this.state = 'closed';
    this.calls.clear();
    this.queued.length = 0;
    this.bindDeadline = undefined;
    this.events.push({ type: 'closed', duringBind, pendingCallIds });
  }

  handleTimeout(now: number): void {
    if (this.bindDeadline !== undefined && now >= this.bindDeadline) {
      this.fatal('timeout', `no answer to the bind within ${this.timeoutMs} ms`);
      return;
    }
    for (const list of [[...this.calls.values()], [...this.queued]]) {
      for (const c of list) {
        if (now < c.deadline) continue;
        this.forget(c.callId);
        this.events.push({ type: 'error', code: 'timeout', message: `call ${c.callId} (opnum ${c.opnum}): no answer within ${this.timeoutMs} ms`, callId: c.callId, fatal: false });
      }
    }
  }

  // -------------------------------------------------------------------------------------------------------------
  // Outputs
  // -------------------------------------------------------------------------------------------------------------

  pollSend(): Buffer | undefined {
    return this.sendQueue.shift();
  }

  pollEvent(): RpcEvent | undefined {
    return this.events.shift();
  }

  pollTimeout(): number | undefined {
    if (this.state === 'failed' || this.state === 'closed') return undefined;
    let t = this.bindDeadline;
    for (const c of this.calls.values()) if (t === undefined || c.deadline < t) t = c.deadline;
    for (const c of this.queued) if (t === undefined || c.deadline < t) t = c.deadline;
    return t;
  }

  // -------------------------------------------------------------------------------------------------------------
  // Receiving
  // -------------------------------------------------------------------------------------------------------------

  private handlePdu(buf: Buffer): void {
    const d = decodePdu(buf);
    if (!d.ok) {
      this.stats.malformed++;
      this.events.push({ type: 'error', code: 'malformed', message: `dropped a PDU: ${d.error.toString()}`, fatal: false });
      return;
    }
    const p = d.value;
    switch (p.type) {
      case PType.BIND_ACK:
      case PType.ALTER_CONTEXT_RESP:
        return this.onBindAck(p);
      case PType.BIND_NAK:
        if (this.state !== 'binding') return this.unexpected(p);
        this.events.push({ type: 'bindNak', reason: p.rejectReason, name: bindNakName(p.rejectReason) });
        return this.fail();
      case PType.RESPONSE:
        return this.onResponse(p, buf);
      case PType.FAULT: {
        if (this.state === 'binding' || this.state === 'authenticating') {
          // A fault to the bind or to its alter_context leg: the association is unusable, and says why.
          const leg = this.state === 'binding' ? 'bind' : 'alter_context';
          this.events.push({ type: 'bindFault', leg, status: p.status, name: faultName(p.status), accessDenied: isAccessFault(p.status) });
          return this.fail();
        }
        if (p.callId === 0 && this.calls.size === 0) {
          return this.fatal('protocol', `fault ${faultName(p.status)} (0x${p.status.toString(16)}) for no call`);
        }
        // Samba answers call_id 0 to a request it cannot read; without a call id the oldest call is the one.
        const callId = this.calls.has(p.callId) ? p.callId : p.callId === 0 ? this.calls.keys().next().value! : undefined;
        if (callId === undefined) return this.unexpected(p);
        this.forget(callId);
        this.events.push({
          type: 'fault',
          callId,
          status: p.status,
          name: faultName(p.status),
          accessDenied: isAccessFault(p.status),
          didNotExecute: (p.flags & Pfc.DID_NOT_EXECUTE) !== 0,
        });
        return;
      }
      default:
        return this.unexpected(p);
    }
  }

  private onBindAck(p: Extract<Pdu, { type: typeof PType.BIND_ACK | typeof PType.ALTER_CONTEXT_RESP }>): void {
    const expected = this.state === 'binding' ? PType.BIND_ACK : this.state === 'authenticating' ? PType.ALTER_CONTEXT_RESP : undefined;
    if (p.type !== expected) return this.unexpected(p);
    const r = p.results[0];
    if (!r || r.result !== 0) {
      const what = r ? contextResultName(r.result, r.reason) : 'no result';
      return this.fatal('context-rejected', `the server did not accept ${this.opts.abstractSyntax.uuid} v${this.opts.abstractSyntax.major}.${this.opts.abstractSyntax.minor}: ${what}`);
    }
    if (!syntaxEquals(r.transferSyntax, NDR_SYNTAX)) return this.fatal('context-rejected', `the server chose transfer syntax ${r.transferSyntax.uuid}, not NDR 2.0`);
    if (p.type === PType.BIND_ACK) {
      // bind_ack: max_xmit_frag is what the server sends, max_recv_frag what it accepts (C706 12.6.4.4).
      this.xmitFrag = Math.max(MIN_FRAG, Math.min(this.offerXmit, p.maxRecvFrag));
      this.bound = {
        maxXmitFrag: this.xmitFrag,
        maxRecvFrag: Math.min(this.offerRecv, p.maxXmitFrag),
        assocGroupId: p.assocGroupId,
        secondaryAddress: p.secondaryAddress,
        // Offered only with a provider. For NTLMv2 the answer changes nothing: GSS_WrapEx / GetMICEx sign every
        // buffer handed in whatever its sign flag (MS-NLMP 3.4.6), so the signature covers header, body and
        // sec_trailer either way (protocol note #37).
        headerSigning: this.opts.security !== undefined && (p.flags & Pfc.SUPPORT_HEADER_SIGN) !== 0,
      };
    }
    const sec = this.opts.security;
    if (!sec) return this.becomeBound();
    const provider = sec.provider;
    const token = p.auth?.authValue;
    if (!token || token.length === 0) {
      if (provider.established) return this.becomeBound();
      return this.fatal('security', `${p.type === PType.BIND_ACK ? 'bind_ack' : 'alter_context_resp'} carries no token from the server`);
    }
    if (p.auth!.authType !== provider.authType) return this.fatal('security', `the server answered with auth_type ${p.auth!.authType}, not ${provider.authType}`);
    // The answer is built from what the server sent (an NTLM AUTHENTICATE echoes the CHALLENGE's TargetInfo): a
    // token too large for its 16-bit fields or for one PDU (frag_length) throws in the encoders. That is the server's
    // doing and fails the association, never the caller (protocol-notes #108).
    let next: { step: ReturnType<typeof provider.handleServerToken>; pdu?: Buffer };
    try {
      const step = provider.handleServerToken(token);
      next = { step };
      if (step.ok && step.token) {
        next.pdu = step.established
          ? // The last leg: rpc_auth_3, which the server never answers (MS-RPCE 3.3.1.5.2.1).
            encodePduLayout({ type: PType.AUTH3, flags: Pfc.FIRST_FRAG | Pfc.LAST_FRAG, callId: this.bindCallId, auth: this.authVerifier(step.token) }).pdu
          : this.bindPdu(PType.ALTER_CONTEXT, Pfc.FIRST_FRAG | Pfc.LAST_FRAG, step.token);
      }
    } catch (e) {
      return this.fatal('security', `cannot answer the server's ${p.type === PType.BIND_ACK ? 'bind_ack' : 'alter_context_resp'} token: ${(e as Error).message}`);
    }
    const { step, pdu } = next;
    if (!step.ok) return this.fatal('security', `${step.error.kind}: ${step.error.message}`);
    if (step.token && step.established) {
      this.sendQueue.push(pdu!);
      return this.becomeBound();
    }
    if (step.token) {
      this.state = 'authenticating';
      this.sendQueue.push(pdu!);
      return;
    }
    if (step.established) return this.becomeBound();
    return this.fatal('security', 'the security provider neither finished nor produced a token');
  }

  private becomeBound(): void {
    this.state = 'bound';
    this.bindDeadline = undefined;
    this.events.push({ type: 'bound', ...this.bound! });
    for (const c of this.queued.splice(0)) this.sendCall(c);
  }

  private onResponse(p: ResponsePdu, buf: Buffer): void {
    const c = this.calls.get(p.callId);
    if (this.state !== 'bound' || !c) return this.unexpected(p);
    if (c.fragments.length === 0 && !(p.flags & Pfc.FIRST_FRAG)) return this.failCall(c, 'protocol', 'the first response fragment lacks PFC_FIRST_FRAG');
    if (c.fragments.length > 0 && p.flags & Pfc.FIRST_FRAG) return this.failCall(c, 'protocol', 'a second PFC_FIRST_FRAG within one response');
    const sec = this.opts.security;
    if (sec) {
      const a = p.auth;
      if (!a) return this.fatal('security', `response to call ${c.callId} is not protected`);
      if (a.authType !== sec.provider.authType || a.authLevel !== sec.level || a.authContextId !== (sec.authContextId ?? 1))
        return this.fatal('security', `response to call ${c.callId} has auth_type ${a.authType} level ${a.authLevel} context ${a.authContextId}`);
      const signedEnd = buf.length - a.authValue.length;
      const trailerAt = signedEnd - SEC_TRAILER_LEN;
      const err =
        sec.level === AuthLevel.PKT_PRIVACY
          ? sec.provider.unseal(buf, REQUEST_HEADER_LEN, trailerAt, signedEnd, a.authValue)
          : sec.provider.verify(buf, signedEnd, a.authValue);
      if (err) return this.fatal('security', `response to call ${c.callId}: ${err.kind}: ${err.message}`);
    }
    c.received += p.stub.length;
    if (c.received > this.maxResponse) return this.failCall(c, 'too-large', `response to call ${c.callId} passes ${this.maxResponse} bytes`);
    c.fragments.push(p.stub);
    if (!(p.flags & Pfc.LAST_FRAG)) return;
    this.forget(c.callId);
    this.events.push({ type: 'response', callId: c.callId, stub: c.fragments.length === 1 ? c.fragments[0]! : Buffer.concat(c.fragments) });
  }

  // -------------------------------------------------------------------------------------------------------------
  // Sending
  // -------------------------------------------------------------------------------------------------------------

  private authVerifier(token: Buffer) {
    const sec = this.opts.security!;
    return { authType: sec.provider.authType, authLevel: sec.level, authPadLength: 0, authContextId: sec.authContextId ?? 1, authValue: token };
  }

  private bindPdu(type: typeof PType.BIND | typeof PType.ALTER_CONTEXT, flags: number, token: Buffer | undefined): Buffer {
    return encodePduLayout({
      type,
      flags,
      callId: this.bindCallId,
      maxXmitFrag: this.offerXmit,
      maxRecvFrag: this.offerRecv,
      assocGroupId: this.bound?.assocGroupId ?? 0,
      contexts: [{ contextId: CONTEXT_ID, abstractSyntax: this.opts.abstractSyntax, transferSyntaxes: [NDR_SYNTAX] }],
      ...(token ? { auth: this.authVerifier(token) } : {}),
    }).pdu;
  }

  /** Splits a call's stub into request fragments no longer than the negotiated size, protecting each one. */
  private sendCall(c: Call): void {
    this.calls.set(c.callId, c);
    const sec = this.opts.security;
    const protection = sec ? { provider: sec.provider, level: sec.level, verifier: (v: Buffer) => this.authVerifier(v) } : undefined;
    const pdus = fragments(c.stub, this.xmitFrag, protection, (stub, flags, allocHint, auth) => ({
      type: PType.REQUEST,
      flags,
      callId: c.callId,
      allocHint,
      contextId: CONTEXT_ID,
      opnum: c.opnum,
      stub,
      ...(auth ? { auth } : {}),
    }));
    this.sendQueue.push(...pdus);
  }

  // -------------------------------------------------------------------------------------------------------------
  // Failure
  // -------------------------------------------------------------------------------------------------------------

  private forget(callId: number): void {
    this.calls.delete(callId);
    const i = this.queued.findIndex((q) => q.callId === callId);
    if (i >= 0) this.queued.splice(i, 1);
  }

  private unexpected(p: Pdu): void {
    this.stats.unexpected++;
    this.events.push({ type: 'error', code: 'protocol', message: `dropped an unexpected PDU (PTYPE ${p.type}, call ${p.callId}) while ${this.state}`, fatal: false });
  }

  private failCall(c: Call, code: RpcErrorCode, message: string): void {
    this.forget(c.callId);
    this.events.push({ type: 'error', code, message, callId: c.callId, fatal: false });
  }

  private fatal(code: RpcErrorCode, message: string): void {
    this.events.push({ type: 'error', code, message, fatal: true });
    this.fail();
  }

  /** Ends the association: every call still open fails with it (the shell closes the socket). */
  private fail(): void {
    this.state = 'failed';
    this.bindDeadline = undefined;
    const open = [...this.calls.keys(), ...this.queued.map((c) => c.callId)];
    this.calls.clear();
    this.queued.length = 0;
    for (const callId of open) this.events.push({ type: 'error', code: 'protocol', message: `call ${callId} abandoned: the association failed`, callId, fatal: true });
  }
}
