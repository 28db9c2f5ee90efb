/**
 * A WDSC server for client tests, built from core pieces (PDU codec, NTLM/SPNEGO server providers, the WDSC
 * codec): bytes in, bytes out, one connection. Binds with auth types 9 and 10 or none, verifies NTLMv2 against one
 * account (or anonymous), seals at PKT_PRIVACY, and answers WdsRpcMessage through `answer`. Knobs make it refuse
 * the ways a real server does: bind_nak, a fault after a refused AUTHENTICATE, level NONE refused, close.
 */
import { Credentials } from '../../../core/ntlm/auth';
import { NtlmServerProvider, SpnegoServerProvider } from '../../../core/ntlm/providers';
import { decodePdu, encodePdu, encodePduLayout, pduLength, Pdu, PType, REQUEST_HEADER_LEN, SEC_TRAILER_LEN } from '../../../core/rpc/pdu';
import { NDR_SYNTAX } from '../../../core/rpc/ndr';
import { AuthLevel, AuthType, ServerSecurityProvider } from '../../../core/rpc/security';
import { decodeWdsRpcMessageRequest, encodeWdsRpcMessageResponse } from '../../../core/rpc/wds-rpc';
import { decodeInitiateRequest, InitiateRequest } from '../../../core/wdsc/initiate';

export const ACCESS_DENIED = 0x5;
export const NCA_S_PROTO_ERROR = 0x1c01000b;
export const NCA_S_UNK_IF = 0x1c010003;

export interface FakeServerOptions {
  account?: { domain: string; user: string; password: string };
  allowAnonymous?: boolean;
  /** Refuse calls without authentication (fault access denied). */
  requireAuth?: boolean;
  /** Answer every bind with this bind_nak reason. */
  nakReason?: number;
  /** Auth types the server takes (default 9 and 10); another one gets bind_nak 8. */
  authTypes?: number[];
  /** What WdsRpcMessage returns: the reply packet and the return value. */
  answer(req: InitiateRequest): { reply?: Buffer; status: number };
  /** Close the connection instead of answering a refused call. */
  closeOnRefusal?: boolean;
  /** Answer the request with this fault status. */
  faultStatus?: number;
}

export class FakeWdscServer {
  private inbox = Buffer.alloc(0);
  private readonly out: Buffer[] = [];
  private provider: ServerSecurityProvider | undefined;
  private refused = false;
  private level = AuthLevel.NONE as number;
  closed = false;
  readonly requests: InitiateRequest[] = [];
  identity: ServerSecurityProvider['identity'];

  constructor(private readonly o: FakeServerOptions) {}

  handleBytes(b: Buffer): void {
    this.inbox = Buffer.concat([this.inbox, b]);
    for (;;) {
      const n = pduLength(this.inbox);
      if (n === undefined || n === 'bad' || this.inbox.length < n) return;
      const pdu = Buffer.from(this.inbox.subarray(0, n));
      this.inbox = this.inbox.subarray(n);
      this.handlePdu(pdu);
    }
  }

  pollSend(): Buffer | undefined {
    return this.out.shift();
  }

  private newProvider(authType: number): ServerSecurityProvider {
    const opts = {
      serverChallenge: Buffer.alloc(8, 0x11),
      nowMs: 1_700_000_000_000,
      computerName: 'DP01',
      domainName: 'CORP',
      accounts: this.o.account ? [new Credentials(this.o.account)] : [],
      allowAnonymous: this.o.allowAnonymous ?? false,
    };
    return authType === AuthType.SPNEGO ? new SpnegoServerProvider(opts) : new NtlmServerProvider(opts);
  }

  private handlePdu(buf: Buffer): void {
    const d = decodePdu(buf);
    if (!d.ok) throw new Error(`fake server: ${d.error.toString()}`);
    const p = d.value;
    switch (p.type) {
      case PType.BIND:
      case PType.ALTER_CONTEXT: {
        const nak = this.o.nakReason ?? (p.auth && !(this.o.authTypes ?? [9, 10]).includes(p.auth.authType) ? 8 : undefined);
        if (p.type === PType.BIND && nak !== undefined) {
          this.out.push(encodePdu({ type: PType.BIND_NAK, flags: 3, callId: p.callId, rejectReason: nak, versions: [{ major: 5, minor: 0 }] }));
          return;
        }
        let token: Buffer | undefined;
        if (p.auth) {
          if (p.type === PType.BIND) {
            this.provider = this.newProvider(p.auth.authType);
            this.level = p.auth.authLevel;
          }
          const step = this.provider!.handleClientToken(p.auth.authValue);
          if (!step.ok) {
            this.out.push(this.fault(p.callId, ACCESS_DENIED));
            return;
          }
          token = step.token;
          if (step.established) this.identity = this.provider!.identity;
        }
        this.out.push(
          encodePdu({
            type: p.type === PType.BIND ? PType.BIND_ACK : PType.ALTER_CONTEXT_RESP,
            flags: 3,
            callId: p.callId,
            maxXmitFrag: 4280,
            maxRecvFrag: 4280,
            assocGroupId: 0x4242,
            secondaryAddress: p.type === PType.BIND ? '5040' : '',
            results: [{ result: 0, reason: 0, transferSyntax: NDR_SYNTAX }],
            ...(token ? { auth: { authType: p.auth!.authType, authLevel: p.auth!.authLevel, authPadLength: 0, authContextId: p.auth!.authContextId, authValue: token } } : {}),
          }),
        );
        return;
      }
      case PType.AUTH3: {
        const step = this.provider!.handleClientToken(p.auth!.authValue);
        if (!step.ok) this.refused = true;
        else this.identity = this.provider!.identity;
        return;
      }
      case PType.REQUEST: {
        if (this.refused || (!this.provider && this.o.requireAuth)) {
          if (this.o.closeOnRefusal) {
            this.closed = true;
            return;
          }
          this.out.push(this.fault(p.callId, this.refused ? NCA_S_PROTO_ERROR : ACCESS_DENIED));
          return;
        }
        let stub = p.stub;
        if (this.provider) {
          const a = p.auth!;
          const signedEnd = buf.length - a.authValue.length;
          const err = this.provider.unseal(buf, REQUEST_HEADER_LEN, signedEnd - SEC_TRAILER_LEN, signedEnd, a.authValue);
          if (err) throw new Error(`fake server: ${err.message}`);
          stub = buf.subarray(REQUEST_HEADER_LEN, REQUEST_HEADER_LEN + p.stub.length);
        }
        if (this.o.faultStatus !== undefined) {
          this.out.push(this.fault(p.callId, this.o.faultStatus));
          return;
        }
        const packet = decodeWdsRpcMessageRequest(stub);
        if (!packet.ok) throw new Error(`fake server: ${packet.error.toString()}`);
        const req = decodeInitiateRequest(packet.value);
        if (!req.ok) throw new Error(`fake server: ${req.error.toString()}`);
        this.requests.push(req.value);
        const a = this.o.answer(req.value);
        this.out.push(this.response(p.callId, encodeWdsRpcMessageResponse(a.reply, a.status)));
        return;
      }
      default:
        throw new Error(`fake server: unexpected PTYPE ${p.type}`);
    }
  }

  private fault(callId: number, status: number): Buffer {
    return encodePdu({ type: PType.FAULT, flags: 3 | 0x20, callId, allocHint: 32, contextId: 0, cancelCount: 0, status });
  }

  private response(callId: number, stub: Buffer): Buffer {
    const prov = this.provider;
    const p: Pdu = {
      type: PType.RESPONSE,
      flags: 3,
      callId,
      allocHint: stub.length,
      contextId: 0,
      cancelCount: 0,
      stub,
      ...(prov ? { auth: { authType: prov.authType, authLevel: this.level, authPadLength: 0, authContextId: 1, authValue: Buffer.alloc(prov.signatureLength) } } : {}),
    };
    const l = encodePduLayout(p);
    if (prov) {
      const sig = this.level === AuthLevel.PKT_PRIVACY ? prov.seal(l.pdu, l.dataStart, l.dataEnd, l.signedEnd) : prov.sign(l.pdu, l.signedEnd);
      sig.copy(l.pdu, l.signedEnd);
    }
    return l.pdu;
  }
}
