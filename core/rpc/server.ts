/**
 * A connection-oriented DCE/RPC server for one TCP connection, sans-I/O (the counterpart of client.ts): the I/O
 * shell calls handleBytes / handleTimeout with the time, and drains pollSend (bytes to write), pollEvent (typed
 * values: requests to answer, authentication outcomes, what was dropped, when to close) and pollTimeout.
 * Requests are answered with respond(callId, stub) or fault(callId, status).
 * Over ~450 lines on purpose: one connection's state machine (bind, authentication legs, reassembly, per-PDU
 * protection, faults) whose steps share the association's state; the codec (pdu.ts), NDR (ndr.ts) and the
 * security providers (core/ntlm) already live beside it.
 *
 *   bind → bind_ack: presentation contexts accepted for the configured interfaces in NDR 2.0 only (others:
 *     provider_rejection naming the reason; bind-time feature negotiation: negotiate_ack with no features).
 *     With a sec_trailer, a ServerSecurityProvider for its auth_type (9 SPNEGO, 10 NTLMSSP) takes the client's
 *     token and its answer goes back in the bind_ack; an auth_type we do not offer is a bind_nak
 *     (authentication_type_not_recognized).
 *   rpc_auth_3 (no reply) or alter_context → alter_context_resp finish the exchange. A refused authentication
 *     (wrong password, anonymous not allowed) is not answered there: the first request then gets an
 *     access-denied fault and the connection closes (what Windows is expected to do, MS-RPCE 3.3.1.5.2).
 *   request: fragments reassembled by call id up to maxRequestBytes; at PKT_INTEGRITY each fragment's signature is
 *     verified, at PKT_PRIVACY each is unsealed (MS-RPCE 3.3.1.5.2.2); responses are fragmented to the client's
 *     max_recv_frag and protected the same way.
 *
 * Faults: nca_s_op_rng_error (opnum out of range), nca_s_unk_if (unknown presentation context), access_denied
 * (call below the interface's minimum auth level, or after a refused authentication), rpc_s_sec_pkg_error (bad
 * signature), nca_s_proto_error (anything that breaks the protocol; the connection is then closed). Nothing here
 * throws on input: every malformed PDU is counted, answered with a fault when it has a call id, and closes.
 */
import { fragments } from './fragment';
import { AuthLevel, ServerSecurityProvider } from './security';
import { BindPdu, ContextResult, Pdu, Pfc, PType, REQUEST_HEADER_LEN, RequestPdu, SEC_TRAILER_LEN, STUB_AUTH_ALIGN, decodePdu, encodePduLayout, pduLength } from './pdu';
import { NDR_SYNTAX, SyntaxId, syntaxEquals } from './ndr';

export interface RpcServerInterface {
  syntax: SyntaxId;
  /** Operations offered: an opnum at or above this is nca_s_op_rng_error. */
  opnums: number;
  /** Lowest auth level a call must have (AuthLevel.NONE: unauthenticated calls allowed). */
  minLevel: number;
}

export interface RpcServerOptions {
  interfaces: RpcServerInterface[];
  /** A fresh provider for the auth_type a bind asks for, or undefined when that type is not offered. */
  securityProvider(authType: number): ServerSecurityProvider | undefined;
  /** assoc_group_id given in the bind_ack (nonzero). */
  assocGroupId: number;
  /** sec_addr of the bind_ack: the listening port as text ("5040"). */
  secondaryAddress: string;
  /** Largest fragment we send / accept (default 4280 each, what Windows and Samba use). */
  maxXmitFrag?: number;
  maxRecvFrag?: number;
  /** A reassembled request larger than this is a protocol error (default 1 MiB). */
  maxRequestBytes?: number;
  /** Calls being reassembled or awaiting an answer at once (default 16); beyond: nca_s_server_too_busy. */
  maxCalls?: number;
  /** Close after this long without a PDU from the client (default 120 000 ms). */
  idleTimeoutMs?: number;
}

export const FaultStatus = {
  ACCESS_DENIED: 0x00000005,
  OP_RNG_ERROR: 0x1c010002,
  UNK_IF: 0x1c010003,
  PROTO_ERROR: 0x1c01000b,
  SERVER_TOO_BUSY: 0x1c010014,
  SEC_PKG_ERROR: 0x00000721,
} as const;

/** bind_nak reasons used here (C706 12.6.3.1, MS-RPCE 2.2.2.5). */
const NAK = { NOT_SPECIFIED: 0, PROTOCOL_VERSION: 4, AUTH_TYPE: 8 } as const;

/** Bind-time feature negotiation (MS-RPCE 3.3.1.5.3): its transfer syntax UUID starts 6cb71c2c-9812-4540. */
const BTFN_PREFIX = '6cb71c2c-9812-4540-';
const NIL_SYNTAX: SyntaxId = { uuid: '00000000-0000-0000-0000-000000000000', major: 0, minor: 0 };

export interface CallAuth {
  /** AuthLevel.NONE for an unauthenticated association. */
  level: number;
  authType: number;
  identity?: { user: string; domain: string; anonymous: boolean };
}

export type RpcServerDropCode = 'malformed' | 'protocol' | 'security' | 'too-large' | 'busy' | 'policy';

export type RpcServerEvent =
  | { type: 'request'; callId: number; iface: SyntaxId; opnum: number; stub: Buffer; auth: CallAuth }
  | { type: 'authenticated'; authType: number; level: number; user: string; domain: string; anonymous: boolean }
  | { type: 'auth-failed'; authType: number; kind: string; message: string }
  /** A PDU or call refused (counted); `fatal` when the connection closes because of it. */
  | { type: 'refused'; code: RpcServerDropCode; message: string; callId?: number; status?: number; fatal: boolean }
  /** Close the socket once pollSend is drained; nothing more is read or written. */
  | { type: 'close'; reason: 'protocol' | 'idle' | 'bind-nak' | 'auth'; message: string };

type AuthState = 'pending' | 'established' | 'failed';
interface Auth {
  provider: ServerSecurityProvider;
  authType: number;
  level: number;
  contextId: number;
  state: AuthState;
}

interface Incoming {
  contextId: number;
  opnum: number;
  fragments: Buffer[];
  size: number;
}

const DEFAULT_FRAG = 4280;
/** Room for a request header, a sec_trailer, a signature and a 16-byte stub chunk. */
const MIN_FRAG = REQUEST_HEADER_LEN + SEC_TRAILER_LEN + 16 + STUB_AUTH_ALIGN;

export class RpcServerConnection {
  private state: 'new' | 'bound' | 'closed' = 'new';
  private readonly sendQueue: Buffer[] = [];
  private readonly events: RpcServerEvent[] = [];
  private inbox: Buffer = Buffer.alloc(0);
  /** Accepted presentation contexts: p_cont_id → interface. */
  private readonly contexts = new Map<number, RpcServerInterface>();
  private readonly incoming = new Map<number, Incoming>();
  /** Calls handed out in a `request` event and not yet answered. */
  private readonly pending = new Set<number>();
  private auth: Auth | undefined;
  private xmitFrag: number;
  private recvFrag: number;
  private readonly ourXmit: number;
  private readonly ourRecv: number;
  private readonly maxRequest: number;
  private readonly maxCalls: number;
  private readonly idleMs: number;
  private lastInput: number;
  readonly stats = { pdus: 0, malformed: 0, protocolErrors: 0, faults: 0, authFailures: 0, securityErrors: 0, requests: 0, idleCloses: 0, bindNaks: 0 };

  constructor(
    private readonly opts: RpcServerOptions,
    now: number,
  ) {
    this.ourXmit = clampFrag(opts.maxXmitFrag ?? DEFAULT_FRAG);
    this.ourRecv = clampFrag(opts.maxRecvFrag ?? DEFAULT_FRAG);
    this.xmitFrag = this.ourXmit;
    this.recvFrag = this.ourRecv;
    this.maxRequest = opts.maxRequestBytes ?? 1024 * 1024;
    this.maxCalls = opts.maxCalls ?? 16;
    this.idleMs = opts.idleTimeoutMs ?? 120_000;
    this.lastInput = now;
  }

  get closed(): boolean {
    return this.state === 'closed';
  }

  // -------------------------------------------------------------------------------------------------------------
  // Inputs
  // -------------------------------------------------------------------------------------------------------------

  handleBytes(buf: Buffer, now: number): void {
    if (this.state === 'closed') return;
    this.lastInput = now;
    this.inbox = this.inbox.length ? Buffer.concat([this.inbox, buf]) : buf;
    for (;;) {
      const n = pduLength(this.inbox);
      if (n === undefined) return;
      if (n === 'bad') {
        this.stats.malformed++;
        return this.close('protocol', 'the byte stream does not start with a DCE/RPC 5.x little-endian PDU header');
      }
      if (n > this.recvFrag) {
        this.stats.malformed++;
        return this.protocolFault(this.inbox.length >= 16 ? this.inbox.readUInt32LE(12) : 0, `a ${n}-byte fragment exceeds max_recv_frag ${this.recvFrag}`);
      }
      if (this.inbox.length < n) return;
      // A copy: the PDU is unsealed in place, and the caller's buffer is not ours to change.
      const pdu = Buffer.from(this.inbox.subarray(0, n));
      this.inbox = this.inbox.subarray(n);
      this.handlePdu(pdu);
      if (this.closed) return;
    }
  }

  /** The peer closed the connection: forget everything (no event; the shell knows). */
  handleClosed(): void {
    this.state = 'closed';
    this.incoming.clear();
    this.pending.clear();
  }

  handleTimeout(now: number): void {
    if (this.state === 'closed') return;
    if (now < this.lastInput + this.idleMs) return;
    this.stats.idleCloses++;
    this.close('idle', `no PDU for ${this.idleMs} ms`);
  }

  /** Answers a call from a `request` event. False when the call is not awaiting an answer. */
  respond(callId: number, stub: Buffer): boolean {
    if (this.state === 'closed' || !this.pending.delete(callId)) return false;
    this.sendResponse(callId, stub);
    return true;
  }

  /** Fails a call from a `request` event with a fault status (e.g. FaultStatus.ACCESS_DENIED). */
  fault(callId: number, status: number): boolean {
    if (this.state === 'closed' || !this.pending.delete(callId)) return false;
    this.sendFault(callId, status, false);
    return true;
  }

  // -------------------------------------------------------------------------------------------------------------
  // Outputs
  // -------------------------------------------------------------------------------------------------------------

  pollSend(): Buffer | undefined {
    return this.sendQueue.shift();
  }

  pollEvent(): RpcServerEvent | undefined {
    return this.events.shift();
  }

  pollTimeout(): number | undefined {
    return this.state === 'closed' ? undefined : this.lastInput + this.idleMs;
  }

  // -------------------------------------------------------------------------------------------------------------
  // Receiving
  // -------------------------------------------------------------------------------------------------------------

  private handlePdu(buf: Buffer): void {
    this.stats.pdus++;
    const ptype = buf[2];
    const callId = buf.length >= 16 ? buf.readUInt32LE(12) : 0;
    if (ptype === 18 || ptype === 19) {
      // co_cancel / orphaned (C706 12.6.4.1, 12.6.4.9): the client abandons a call; we stop reassembling it.
      this.incoming.delete(callId);
      return;
    }
    const d = decodePdu(buf);
    if (!d.ok) {
      this.stats.malformed++;
      return this.protocolFault(callId, `malformed PDU: ${d.error.toString()}`, 'malformed');
    }
    const p = d.value;
    switch (p.type) {
      case PType.BIND:
        return this.onBind(p);
      case PType.ALTER_CONTEXT:
        return this.onAlterContext(p);
      case PType.AUTH3:
        return this.onAuth3(p);
      case PType.REQUEST:
        return this.onRequest(p, buf);
      default:
        return this.protocolFault(p.callId, `PTYPE ${p.type} is not sent to a server`);
    }
  }

  private negotiateContexts(p: BindPdu): ContextResult[] {
    return p.contexts.map((c): ContextResult => {
      if (c.transferSyntaxes.some((t) => t.uuid.toLowerCase().startsWith(BTFN_PREFIX)) && !c.transferSyntaxes.some((t) => syntaxEquals(t, NDR_SYNTAX))) {
        return { result: 3, reason: 0, transferSyntax: NIL_SYNTAX }; // negotiate_ack, no features (bitmask 0)
      }
      const iface = this.opts.interfaces.find((i) => syntaxEquals(i.syntax, c.abstractSyntax));
      if (!iface) return { result: 2, reason: 1, transferSyntax: NIL_SYNTAX }; // abstract_syntax_not_supported
      if (!c.transferSyntaxes.some((t) => syntaxEquals(t, NDR_SYNTAX))) return { result: 2, reason: 2, transferSyntax: NIL_SYNTAX };
      const known = this.contexts.get(c.contextId);
      if (known && known !== iface) return { result: 2, reason: 1, transferSyntax: NIL_SYNTAX }; // p_cont_id taken
      this.contexts.set(c.contextId, iface);
      return { result: 0, reason: 0, transferSyntax: NDR_SYNTAX };
    });
  }

  private onBind(p: BindPdu): void {
    if (this.state !== 'new') return this.protocolFault(p.callId, 'a second bind on the association');
    // bind_ack: our max_xmit_frag no larger than what the client receives, and the reverse (C706 12.6.4.4).
    this.xmitFrag = clampFrag(Math.min(this.ourXmit, p.maxRecvFrag));
    this.recvFrag = clampFrag(Math.min(this.ourRecv, p.maxXmitFrag));
    let token: Buffer | undefined;
    if (p.auth) {
      const a = p.auth;
      if (a.authLevel < AuthLevel.CONNECT || a.authLevel > AuthLevel.PKT_PRIVACY) return this.bindNak(p.callId, NAK.NOT_SPECIFIED, `auth_level ${a.authLevel} is not one we serve`);
      const provider = this.opts.securityProvider(a.authType);
      if (!provider) return this.bindNak(p.callId, NAK.AUTH_TYPE, `auth_type ${a.authType} is not offered`);
      const step = provider.handleClientToken(a.authValue);
      if (!step.ok) {
        this.authFailed(a.authType, step.error.kind, step.error.message);
        return this.bindNak(p.callId, step.error.kind === 'unsupported' ? NAK.AUTH_TYPE : NAK.NOT_SPECIFIED, `bind token refused: ${step.error.kind}`);
      }
      // CALL and PKT are promoted to PKT_INTEGRITY on connection-oriented transports (MS-RPCE 3.3.1.5.2).
      const level = a.authLevel === AuthLevel.CALL || a.authLevel === AuthLevel.PKT ? AuthLevel.PKT_INTEGRITY : a.authLevel;
      this.auth = { provider, authType: a.authType, level, contextId: a.authContextId, state: 'pending' };
      if (step.established) this.established();
      token = step.token;
    }
    const results = this.negotiateContexts(p);
    this.state = 'bound';
    const flags = Pfc.FIRST_FRAG | Pfc.LAST_FRAG | (p.auth && p.flags & Pfc.SUPPORT_HEADER_SIGN ? Pfc.SUPPORT_HEADER_SIGN : 0);
    this.sendQueue.push(
      encodePduLayout({
        type: PType.BIND_ACK,
        flags,
        callId: p.callId,
        maxXmitFrag: this.xmitFrag,
        maxRecvFrag: this.recvFrag,
        assocGroupId: this.opts.assocGroupId,
        secondaryAddress: this.opts.secondaryAddress,
        results,
        ...(token && this.auth ? { auth: this.verifier(token) } : {}),
      }).pdu,
    );
  }

  private onAlterContext(p: BindPdu): void {
    if (this.state !== 'bound') return this.protocolFault(p.callId, 'alter_context before bind');
    let token: Buffer | undefined;
    if (p.auth) {
      const auth = this.auth;
      if (!auth) return this.protocolFault(p.callId, 'alter_context starts a security context the bind did not');
      if (p.auth.authType !== auth.authType || p.auth.authContextId !== auth.contextId) return this.protocolFault(p.callId, `alter_context auth_type ${p.auth.authType} context ${p.auth.authContextId} differs from the bind's`);
      if (auth.state === 'pending') {
        const step = auth.provider.handleClientToken(p.auth.authValue);
        if (!step.ok) {
          auth.state = 'failed';
          this.authFailed(auth.authType, step.error.kind, step.error.message);
          this.sendFault(p.callId, FaultStatus.ACCESS_DENIED, true);
          return this.close('auth', `authentication refused in alter_context: ${step.error.kind}`);
        }
        if (step.established) this.established();
        token = step.token;
      } else if (auth.state === 'failed') {
        this.sendFault(p.callId, FaultStatus.ACCESS_DENIED, true);
        return this.close('auth', 'alter_context after a refused authentication');
      }
      // established: a token-bearing alter_context only adds contexts; its token is ignored.
    }
    const results = this.negotiateContexts(p);
    this.sendQueue.push(
      encodePduLayout({
        type: PType.ALTER_CONTEXT_RESP,
        flags: Pfc.FIRST_FRAG | Pfc.LAST_FRAG,
        callId: p.callId,
        maxXmitFrag: this.xmitFrag,
        maxRecvFrag: this.recvFrag,
        assocGroupId: this.opts.assocGroupId,
        secondaryAddress: '',
        results,
        ...(token && this.auth ? { auth: this.verifier(token) } : {}),
      }).pdu,
    );
  }

  private onAuth3(p: Extract<Pdu, { type: typeof PType.AUTH3 }>): void {
    const auth = this.auth;
    // rpc_auth_3 has no reply (MS-RPCE 3.3.1.5.2.1): problems with it surface at the next request.
    if (this.state !== 'bound' || !auth || auth.state !== 'pending') return this.protocolClose(`rpc_auth_3 where none is expected`);
    if (p.auth!.authType !== auth.authType || p.auth!.authContextId !== auth.contextId) return this.protocolClose(`rpc_auth_3 auth_type ${p.auth!.authType} context ${p.auth!.authContextId} differs from the bind's`);
    const step = auth.provider.handleClientToken(p.auth!.authValue);
    if (!step.ok) {
      auth.state = 'failed';
      return this.authFailed(auth.authType, step.error.kind, step.error.message);
    }
    if (!step.established) {
      auth.state = 'failed';
      return this.authFailed(auth.authType, 'rejected', 'the security context needs another leg, which rpc_auth_3 cannot carry');
    }
    this.established();
  }

  private onRequest(p: RequestPdu, buf: Buffer): void {
    if (this.state !== 'bound') return this.protocolFault(p.callId, 'request before bind');
    const auth = this.auth;
    if (auth && auth.state !== 'established') {
      this.stats.faults++;
      this.refused('policy', `call ${p.callId}: the association's authentication ${auth.state === 'failed' ? 'was refused' : 'never completed'}`, p.callId, FaultStatus.ACCESS_DENIED, true);
      this.sendFault(p.callId, FaultStatus.ACCESS_DENIED, true, false);
      return this.close('auth', 'request on an association whose authentication failed');
    }
    const protectedLevel = auth && auth.level >= AuthLevel.PKT_INTEGRITY;
    if (protectedLevel) {
      const a = p.auth;
      if (!a) return this.protocolFault(p.callId, `request ${p.callId} is not protected at auth_level ${auth.level}`);
      if (a.authType !== auth.authType || a.authLevel !== auth.level || a.authContextId !== auth.contextId)
        return this.protocolFault(p.callId, `request ${p.callId} has auth_type ${a.authType} level ${a.authLevel} context ${a.authContextId}`);
      const signedEnd = buf.length - a.authValue.length;
      const trailerAt = signedEnd - SEC_TRAILER_LEN;
      const dataStart = REQUEST_HEADER_LEN + (p.object !== undefined ? 16 : 0);
      const err =
        auth.level === AuthLevel.PKT_PRIVACY
          ? auth.provider.unseal(buf, dataStart, trailerAt, signedEnd, a.authValue)
          : auth.provider.verify(buf, signedEnd, a.authValue);
      if (err) {
        this.stats.securityErrors++;
        this.refused('security', `request ${p.callId}: ${err.kind}: ${err.message}`, p.callId, FaultStatus.SEC_PKG_ERROR, true);
        this.sendFault(p.callId, FaultStatus.SEC_PKG_ERROR, true, false);
        return this.close('protocol', `request ${p.callId} failed verification`);
      }
    } else if (p.auth && !auth) {
      return this.protocolFault(p.callId, `request ${p.callId} carries a sec_trailer on an unauthenticated association`);
    }

    let inc = this.incoming.get(p.callId);
    if (p.flags & Pfc.FIRST_FRAG) {
      if (inc || this.pending.has(p.callId)) return this.protocolFault(p.callId, `call id ${p.callId} is already in use`);
      if (this.incoming.size + this.pending.size >= this.maxCalls) {
        this.refused('busy', `call ${p.callId}: ${this.maxCalls} calls already open`, p.callId, FaultStatus.SERVER_TOO_BUSY, false);
        return this.sendFault(p.callId, FaultStatus.SERVER_TOO_BUSY, true);
      }
      inc = { contextId: p.contextId, opnum: p.opnum, fragments: [], size: 0 };
      this.incoming.set(p.callId, inc);
    } else if (!inc) {
      return this.protocolFault(p.callId, `request fragment for call ${p.callId} without its PFC_FIRST_FRAG`);
    } else if (inc.contextId !== p.contextId || inc.opnum !== p.opnum) {
      return this.protocolFault(p.callId, `fragments of call ${p.callId} disagree on p_cont_id or opnum`);
    }
    inc.size += p.stub.length;
    if (inc.size > this.maxRequest) {
      this.incoming.delete(p.callId);
      this.stats.faults++;
      this.refused('too-large', `call ${p.callId}: request exceeds ${this.maxRequest} bytes`, p.callId, FaultStatus.PROTO_ERROR, true);
      this.sendFault(p.callId, FaultStatus.PROTO_ERROR, true, false);
      return this.close('protocol', `request ${p.callId} too large`);
    }
    inc.fragments.push(p.stub);
    if (!(p.flags & Pfc.LAST_FRAG)) return;
    this.incoming.delete(p.callId);
    this.dispatch(p.callId, inc, inc.fragments.length === 1 ? inc.fragments[0]! : Buffer.concat(inc.fragments));
  }

  private dispatch(callId: number, inc: Incoming, stub: Buffer): void {
    const iface = this.contexts.get(inc.contextId);
    if (!iface) {
      this.refused('policy', `call ${callId}: presentation context ${inc.contextId} was not accepted`, callId, FaultStatus.UNK_IF, false);
      return this.sendFault(callId, FaultStatus.UNK_IF, true);
    }
    if (inc.opnum >= iface.opnums) {
      this.refused('policy', `call ${callId}: opnum ${inc.opnum} out of range`, callId, FaultStatus.OP_RNG_ERROR, false);
      return this.sendFault(callId, FaultStatus.OP_RNG_ERROR, true);
    }
    const auth = this.auth;
    const level = auth ? auth.level : AuthLevel.NONE;
    if (level < iface.minLevel) {
      this.refused('policy', `call ${callId}: auth_level ${level} below the interface's ${iface.minLevel}`, callId, FaultStatus.ACCESS_DENIED, false);
      return this.sendFault(callId, FaultStatus.ACCESS_DENIED, true);
    }
    this.stats.requests++;
    this.pending.add(callId);
    const identity = auth?.provider.identity;
    this.events.push({
      type: 'request',
      callId,
      iface: iface.syntax,
      opnum: inc.opnum,
      stub,
      auth: { level, authType: auth?.authType ?? 0, ...(identity ? { identity } : {}) },
    });
  }

  // -------------------------------------------------------------------------------------------------------------
  // Sending
  // -------------------------------------------------------------------------------------------------------------

  private verifier(token: Buffer) {
    const a = this.auth!;
    return { authType: a.authType, authLevel: a.level, authPadLength: 0, authContextId: a.contextId, authValue: token };
  }

  private sendResponse(callId: number, stub: Buffer): void {
    const auth = this.auth;
    const sec = auth && auth.state === 'established' && auth.level >= AuthLevel.PKT_INTEGRITY ? auth : undefined;
    const protection = sec ? { provider: sec.provider, level: sec.level, verifier: (v: Buffer) => this.verifier(v) } : undefined;
    const pdus = fragments(stub, this.xmitFrag, protection, (chunk, flags, allocHint, a) => ({
      type: PType.RESPONSE,
      flags,
      callId,
      allocHint,
      contextId: 0,
      cancelCount: 0,
      stub: chunk,
      ...(a ? { auth: a } : {}),
    }));
    this.sendQueue.push(...pdus);
  }

  /** Faults go unprotected (as Windows and Samba send them): a client that cannot verify them can still read them. */
  private sendFault(callId: number, status: number, didNotExecute: boolean, count = true): void {
    if (count) this.stats.faults++;
    this.sendQueue.push(
      encodePduLayout({
        type: PType.FAULT,
        flags: Pfc.FIRST_FRAG | Pfc.LAST_FRAG | (didNotExecute ? Pfc.DID_NOT_EXECUTE : 0),
        callId,
        allocHint: 0,
        contextId: 0,
        cancelCount: 0,
        status,
      }).pdu,
    );
  }

  private bindNak(callId: number, reason: number, message: string): void {
    this.stats.bindNaks++;
    this.sendQueue.push(encodePduLayout({ type: PType.BIND_NAK, flags: Pfc.FIRST_FRAG | Pfc.LAST_FRAG, callId, rejectReason: reason, versions: [{ major: 5, minor: 0 }] }).pdu);
    this.close('bind-nak', message);
  }

  // -------------------------------------------------------------------------------------------------------------
  // Outcomes
  // -------------------------------------------------------------------------------------------------------------

  private established(): void {
    const a = this.auth!;
    a.state = 'established';
    const id = a.provider.identity ?? { user: '', domain: '', anonymous: true };
    this.events.push({ type: 'authenticated', authType: a.authType, level: a.level, ...id });
  }

  private authFailed(authType: number, kind: string, message: string): void {
    this.stats.authFailures++;
    this.events.push({ type: 'auth-failed', authType, kind, message });
  }

  private refused(code: RpcServerDropCode, message: string, callId: number | undefined, status: number | undefined, fatal: boolean): void {
    this.events.push({ type: 'refused', code, message, ...(callId !== undefined ? { callId } : {}), ...(status !== undefined ? { status } : {}), fatal });
  }

  /** A protocol error with a call id to answer: nca_s_proto_error, then close (C706 12.6.4.7). */
  private protocolFault(callId: number, message: string, code: RpcServerDropCode = 'protocol'): void {
    this.stats.protocolErrors++;
    this.refused(code, message, callId, FaultStatus.PROTO_ERROR, true);
    this.sendFault(callId, FaultStatus.PROTO_ERROR, true);
    this.close('protocol', message);
  }

  /** A protocol error on a PDU that is never answered (rpc_auth_3). */
  private protocolClose(message: string): void {
    this.stats.protocolErrors++;
    this.refused('protocol', message, undefined, undefined, true);
    this.close('protocol', message);
  }

  private close(reason: Extract<RpcServerEvent, { type: 'close' }>['reason'], message: string): void {
    if (this.state === 'closed') return;
    this.state = 'closed';
    this.incoming.clear();
    this.pending.clear();
    this.events.push({ type: 'close', reason, message });
  }
}

function clampFrag(n: number): number {
  return Math.max(MIN_FRAG, Math.min(0xffff, n));
}
