/**
 * SecurityProvider (core/rpc/security.ts) implementations over NTLM, for both roles:
 *   NtlmClientProvider / NtlmServerProvider      raw NTLMSSP, auth type 10 (RPC_C_AUTHN_WINNT)
 *   SpnegoClientProvider / SpnegoServerProvider  SPNEGO around NTLMSSP, auth type 9
 * SPNEGO's mechListMIC is NTLM's GSS_GetMIC over the DER MechTypeList (sequence number 0 of its direction); after
 * it, that direction's RC4 state is restored and its sequence number kept (MS-SPNG 3.1.5.1), so the first sealed
 * PDU carries sequence number 1. The client sends a mechListMIC unless anonymous and, either way, waits for the
 * server's final negTokenResp (alter_context; never auth3, which Samba refuses for SPNEGO); the server sends its
 * own mechListMIC only when the client sent one.
 */
import { AuthType, SecurityError, SecurityErrorKind, SecurityProvider, ServerSecurityProvider, TokenStep } from '../rpc/security';
import { NtlmClient, NtlmClientOptions, NtlmServer, NtlmServerOptions, ServerAuthentication } from './auth';
import { NtlmSession, VerifyFailure } from './session';
import { NegState, OID_NTLMSSP, decodeNegTokenInit, decodeNegTokenResp, encodeMechTypeList, encodeNegTokenInit, encodeNegTokenResp } from './spnego';

const err = (kind: SecurityErrorKind, message: string): SecurityError => ({ kind, message });
const stepErr = (kind: SecurityErrorKind, message: string): TokenStep => ({ ok: false, error: err(kind, message) });

const FAILURE_TEXT: Record<VerifyFailure, string> = {
  'bad-version': 'signature version is not 1',
  'bad-sequence': 'signature sequence number is not the expected one',
  'bad-checksum': 'signature checksum does not match',
  'bad-length': 'signature is not 16 bytes',
};

/** PDU protection shared by every provider, once a session exists. */
abstract class Protection {
  readonly signatureLength = 16;
  protected session: NtlmSession | undefined;
  #done = false;

  get established(): boolean {
    return this.#done;
  }
  protected finish(): void {
    this.#done = true;
  }
  #need(): NtlmSession {
    if (!this.session || !this.#done) throw new Error('NTLM: PDU protection used before the security context is established');
    return this.session;
  }
  seal(pdu: Buffer, dataStart: number, dataEnd: number, signedEnd: number): Buffer {
    return this.#need().seal(pdu.subarray(0, signedEnd), pdu, dataStart, dataEnd);
  }
  unseal(pdu: Buffer, dataStart: number, dataEnd: number, signedEnd: number, signature: Buffer): SecurityError | undefined {
    if (!this.session || !this.#done) return err('not-established', 'sealed PDU before the security context is established');
    const f = this.session.unseal(pdu, dataStart, dataEnd, pdu.subarray(0, signedEnd), signature);
    return f ? err('bad-signature', FAILURE_TEXT[f]) : undefined;
  }
  sign(pdu: Buffer, signedEnd: number): Buffer {
    return this.#need().sign(pdu.subarray(0, signedEnd));
  }
  verify(pdu: Buffer, signedEnd: number, signature: Buffer): SecurityError | undefined {
    if (!this.session || !this.#done) return err('not-established', 'signed PDU before the security context is established');
    const f = this.session.verify(pdu.subarray(0, signedEnd), signature);
    return f ? err('bad-signature', FAILURE_TEXT[f]) : undefined;
  }
  toJSON(): object {
    return { established: this.#done, keys: '[hidden]' };
  }
  [Symbol.for('nodejs.util.inspect.custom')](): string {
    return `${this.constructor.name} { established: ${this.#done}, keys: [hidden] }`;
  }
}

/** Raw NTLMSSP client (auth type 10): NEGOTIATE in bind, AUTHENTICATE in auth3. */
export class NtlmClientProvider extends Protection implements SecurityProvider {
  readonly authType = AuthType.WINNT;
  readonly #client: NtlmClient;
  constructor(opts: NtlmClientOptions) {
    super();
    this.#client = new NtlmClient(opts);
  }
  initialToken(): Buffer {
    return this.#client.negotiate();
  }
  handleServerToken(token: Buffer): TokenStep {
    if (this.session) return stepErr('malformed-token', 'NTLM: a second server token after the CHALLENGE');
    const r = this.#client.authenticate(token);
    if (!r.ok) return { ok: false, error: r.error };
    this.session = r.value.session;
    this.finish();
    return { ok: true, token: r.value.token, established: true };
  }
}

/** SPNEGO(NTLMSSP) client (auth type 9). */
export class SpnegoClientProvider extends Protection implements SecurityProvider {
  readonly authType = AuthType.SPNEGO;
  readonly #client: NtlmClient;
  readonly #mechTypes = encodeMechTypeList([OID_NTLMSSP]);
  constructor(opts: NtlmClientOptions) {
    super();
    this.#client = new NtlmClient(opts);
  }
  initialToken(): Buffer {
    return encodeNegTokenInit({ mechTypes: [OID_NTLMSSP], mechToken: this.#client.negotiate() });
  }
  handleServerToken(token: Buffer): TokenStep {
    if (this.established) return stepErr('malformed-token', 'SPNEGO: server token after the context was established');
    const d = decodeNegTokenResp(token);
    if (!d.ok) return stepErr('malformed-token', `SPNEGO negTokenResp: ${d.error.message}`);
    const resp = d.value;
    if (resp.negState === NegState.REJECT) return stepErr('rejected', 'SPNEGO: the server rejected the negotiation (negState reject)');
    if (!this.session) {
      if (resp.supportedMech && !resp.supportedMech.equals(OID_NTLMSSP)) return stepErr('unsupported', 'SPNEGO: the server chose a mechanism other than NTLMSSP');
      if (!resp.responseToken) return stepErr('malformed-token', 'SPNEGO: the server answer carries no NTLM CHALLENGE');
      const r = this.#client.authenticate(resp.responseToken);
      if (!r.ok) return { ok: false, error: r.error };
      this.session = r.value.session;
      let mechListMIC: Buffer | undefined;
      if (!this.#client.anonymous) {
        mechListMIC = this.session.sign(this.#mechTypes);
        this.session.resetRc4('out');
      }
      // Not established yet, with or without a mechListMIC: the server answers this negTokenResp with its final
      // one, so it goes in alter_context, never auth3 (Samba refuses an auth3 whose SPNEGO leg produces a token:
      // "GENSEC produced output token at AUTH3", then access_denied on the first call; protocol note #36).
      return { ok: true, token: encodeNegTokenResp({ responseToken: r.value.token, ...(mechListMIC ? { mechListMIC } : {}) }), established: false };
    }
    // The server's final negTokenResp (alter_context_resp).
    if (resp.negState !== undefined && resp.negState !== NegState.ACCEPT_COMPLETED) {
      return stepErr('rejected', `SPNEGO: final negState ${resp.negState}, expected accept-completed`);
    }
    if (resp.mechListMIC) {
      const f = this.session.verify(this.#mechTypes, resp.mechListMIC);
      if (f) return stepErr('bad-signature', `SPNEGO: server mechListMIC: ${FAILURE_TEXT[f]}`);
      this.session.resetRc4('in');
    }
    this.finish();
    return { ok: true, token: undefined, established: true };
  }
}

type Identity = ServerSecurityProvider['identity'];

/** What both server providers share: the NTLM verifier and, once it says yes, the session and identity. */
abstract class ServerProtection extends Protection {
  protected readonly server: NtlmServer;
  #identity: Identity;
  constructor(opts: NtlmServerOptions) {
    super();
    this.server = new NtlmServer(opts);
  }
  get identity(): Identity {
    return this.#identity;
  }
  protected accept(a: ServerAuthentication): void {
    this.session = a.session;
    this.#identity = { user: a.user, domain: a.domain, anonymous: a.anonymous };
    this.finish();
  }
}

/** Raw NTLMSSP server (auth type 10): CHALLENGE for the bind's NEGOTIATE, verdict on the auth3's AUTHENTICATE. */
export class NtlmServerProvider extends ServerProtection implements ServerSecurityProvider {
  readonly authType = AuthType.WINNT;
  #challenged = false;
  handleClientToken(token: Buffer): TokenStep {
    if (this.established) return stepErr('malformed-token', 'NTLM: client token after the context was established');
    if (!this.#challenged) {
      const c = this.server.challenge(token);
      if (!c.ok) return { ok: false, error: c.error };
      this.#challenged = true;
      return { ok: true, token: c.value, established: false };
    }
    const a = this.server.authenticate(token);
    if (!a.ok) return { ok: false, error: a.error };
    this.accept(a.value);
    return { ok: true, token: undefined, established: true };
  }
}

/** SPNEGO(NTLMSSP) server (auth type 9). */
export class SpnegoServerProvider extends ServerProtection implements ServerSecurityProvider {
  readonly authType = AuthType.SPNEGO;
  #state: 'init' | 'negotiate' | 'authenticate' = 'init';
  #mechTypes: Buffer = Buffer.alloc(0);
  /** RFC 4178 section 5: NTLMSSP was not the client's first mechanism, so a mechListMIC is required. */
  #micRequired = false;
  handleClientToken(token: Buffer): TokenStep {
    if (this.established) return stepErr('malformed-token', 'SPNEGO: client token after the context was established');
    if (this.#state === 'init') {
      const d = decodeNegTokenInit(token);
      if (!d.ok) return stepErr('malformed-token', `SPNEGO negTokenInit: ${d.error.message}`);
      const idx = d.value.mechTypes.findIndex((m) => m.equals(OID_NTLMSSP));
      if (idx < 0) return stepErr('unsupported', 'SPNEGO: the client does not offer NTLMSSP');
      this.#mechTypes = d.value.mechTypesDer;
      this.#micRequired = idx > 0;
      if (idx > 0 || !d.value.mechToken) {
        // The optimistic token (if any) is for another mechanism: ask for NTLM's NEGOTIATE.
        this.#state = 'negotiate';
        return { ok: true, token: encodeNegTokenResp({ negState: NegState.ACCEPT_INCOMPLETE, supportedMech: OID_NTLMSSP }), established: false };
      }
      return this.#challenge(d.value.mechToken, true);
    }
    const d = decodeNegTokenResp(token);
    if (!d.ok) return stepErr('malformed-token', `SPNEGO negTokenResp: ${d.error.message}`);
    if (d.value.negState === NegState.REJECT) return stepErr('rejected', 'SPNEGO: the client gave up (negState reject)');
    if (!d.value.responseToken) return stepErr('malformed-token', 'SPNEGO: the client token carries no NTLM message');
    if (this.#state === 'negotiate') return this.#challenge(d.value.responseToken, false);
    const a = this.server.authenticate(d.value.responseToken);
    if (!a.ok) return { ok: false, error: a.error };
    const session = a.value.session;
    let mechListMIC: Buffer | undefined;
    if (d.value.mechListMIC) {
      const f = session.verify(this.#mechTypes, d.value.mechListMIC);
      if (f) return stepErr('rejected', `SPNEGO: client mechListMIC: ${FAILURE_TEXT[f]}`);
      session.resetRc4('in');
      mechListMIC = session.sign(this.#mechTypes);
      session.resetRc4('out');
    } else if (this.#micRequired) {
      return stepErr('rejected', 'SPNEGO: mechListMIC missing although NTLMSSP was not the first mechanism offered');
    }
    this.accept(a.value);
    const out = encodeNegTokenResp({ negState: NegState.ACCEPT_COMPLETED, ...(mechListMIC ? { mechListMIC } : {}) });
    return { ok: true, token: out, established: true };
  }
  #challenge(negotiate: Buffer, withMech: boolean): TokenStep {
    const c = this.server.challenge(negotiate);
    if (!c.ok) return { ok: false, error: c.error };
    this.#state = 'authenticate';
    const out = encodeNegTokenResp({ negState: NegState.ACCEPT_INCOMPLETE, ...(withMech ? { supportedMech: OID_NTLMSSP } : {}), responseToken: c.value });
    return { ok: true, token: out, established: false };
  }
}
