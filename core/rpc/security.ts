/**
 * The seam between DCE/RPC (core/rpc) and a security provider (core/ntlm: raw NTLMSSP = auth type 10, SPNEGO
 * wrapping NTLMSSP = auth type 9). Sans-I/O: the provider is handed tokens and PDU bytes, never a socket, and gets
 * time and randomness from its creator. MS-RPCE 3.3.1.5.2: the bind carries the provider's first token, the bind_ack
 * the server's answer, the auth3 (or alter_context) the provider's last token; afterwards each request/response
 * is protected per its auth_level (PKT_INTEGRITY: sign; PKT_PRIVACY: seal the stub and sign).
 */

/** MS-RPCE 2.2.1.1.7 authentication types used here. */
export const AuthType = { NONE: 0, SPNEGO: 9, WINNT: 10 } as const;
/** MS-RPCE 2.2.1.1.8 authentication levels. */
export const AuthLevel = { DEFAULT: 0, NONE: 1, CONNECT: 2, CALL: 3, PKT: 4, PKT_INTEGRITY: 5, PKT_PRIVACY: 6 } as const;

/** Why a security exchange or a protected PDU failed (typed, counted; never thrown past the provider). */
export type SecurityErrorKind = 'malformed-token' | 'rejected' | 'unsupported' | 'bad-signature' | 'not-established';
export interface SecurityError {
  kind: SecurityErrorKind;
  message: string;
}

export type TokenStep =
  | { ok: true; token: Buffer | undefined; established: boolean }
  | { ok: false; error: SecurityError };

export interface SecurityProvider {
  /** The auth_type to put in the sec_trailer (9 or 10). */
  readonly authType: number;
  /** Token for the bind PDU's auth_value (NEGOTIATE, or a SPNEGO negTokenInit around it). */
  initialToken(): Buffer;
  /**
   * The server's token from bind_ack (CHALLENGE, or a SPNEGO negTokenResp around it). Returns the token for auth3
   * (AUTHENTICATE), `established` once the context is complete, or a typed error.
   * A token with `established: false` needs an answer: send it in alter_context and hand the alter_context_resp's
   * token back here (SPNEGO does this when it sent a mechListMIC: the server's final negTokenResp carries its own,
   * which the client checks). A token with `established: true` goes in auth3 and nothing comes back.
   */
  handleServerToken(token: Buffer): TokenStep;
  readonly established: boolean;
  /** Length of the signature (auth_value of a protected request/response): 16 for NTLM. */
  readonly signatureLength: number;
  /**
   * PKT_PRIVACY, sending side (GSS_WrapEx): `pdu` is the whole PDU as it will go out, with the plaintext stub (and
   * its padding) at `pdu[dataStart, dataEnd)` and the sec_trailer written; the signature covers `pdu` up to the
   * sec_trailer's end. Encrypts the stub in place and returns the signature. Per-direction sequence numbers are
   * the provider's own state.
   */
  seal(pdu: Buffer, dataStart: number, dataEnd: number, signedEnd: number): Buffer;
  /** PKT_PRIVACY, receiving side (GSS_UnwrapEx): decrypts `pdu[dataStart, dataEnd)` in place and checks `signature`. */
  unseal(pdu: Buffer, dataStart: number, dataEnd: number, signedEnd: number, signature: Buffer): SecurityError | undefined;
  /** PKT_INTEGRITY (GSS_GetMICEx / GSS_VerifyMICEx) over `pdu[0, signedEnd)`. */
  sign(pdu: Buffer, signedEnd: number): Buffer;
  verify(pdu: Buffer, signedEnd: number, signature: Buffer): SecurityError | undefined;
}

/**
 * The server side of the same exchange (the coordinator's WDSC listener): the client's tokens come in, the
 * answers go out; once established, the same PDU protection as SecurityProvider, with the server's keys.
 */
export interface ServerSecurityProvider extends Pick<SecurityProvider, 'authType' | 'established' | 'signatureLength' | 'seal' | 'unseal' | 'sign' | 'verify'> {
  /**
   * The client's token from bind, auth3 or alter_context. Returns the token to answer with (bind_ack /
   * alter_context_resp; after auth3 it is not sent), `established` once the client is authenticated, or a typed
   * error ('rejected': wrong password or refused account).
   */
  handleClientToken(token: Buffer): TokenStep;
  /** Who authenticated, once established. */
  readonly identity: { user: string; domain: string; anonymous: boolean } | undefined;
}
