/**
 * NTLMv2 authentication (MS-NLMP 3.1.5.1, 3.2.5.1, 3.3.2), both roles, sans-I/O: the client challenge, the
 * exported session key, the server challenge and the current time are handed in by the caller.
 *
 * Client: NEGOTIATE -> (CHALLENGE) -> AUTHENTICATE with NTProofStr, the CHALLENGE's MsvAvTimestamp (else the given
 * time), MsvAvFlags bit 0x2 and a MIC when that timestamp is present, extended session security, 128-bit,
 * KEY_EXCH. Anonymous (no credentials): empty user and NT response, LM response Z(1), SessionBaseKey Z(16).
 * Server: CHALLENGE for a NEGOTIATE, then verifies an AUTHENTICATE against configured accounts (or accepts
 * anonymous), checks the MIC when MsvAvFlags announces one, and derives the same keys.
 */
import { hmacMd5, md4, rc4k, sameBytes } from './crypto';
import {
  AV_FLAG_MIC,
  AuthenticateMessage,
  AvId,
  AvPair,
  ChallengeMessage,
  Flag,
  MIC_OFFSET,
  decodeAuthenticate,
  decodeAvPairs,
  decodeChallenge,
  decodeNegotiate,
  encodeAuthenticate,
  encodeAvPairs,
  encodeChallenge,
  encodeNegotiate,
} from './messages';
import { NtlmSession } from './session';

const HIDDEN = '[hidden]';

/** A user's credentials. The password is in a private field: JSON, util.inspect and String() never show it. */
export class Credentials {
  readonly domain: string;
  readonly user: string;
  readonly #password: string;
  constructor(c: { domain: string; user: string; password: string }) {
    this.domain = c.domain;
    this.user = c.user;
    this.#password = c.password;
  }
  /** NTOWFv2 (3.3.2) for this user: the only way the password leaves the object. */
  responseKey(domain = this.domain): Buffer {
    return ntowfv2(this.#password, this.user, domain);
  }
  toJSON(): object {
    return { domain: this.domain, user: this.user, password: HIDDEN };
  }
  toString(): string {
    return `${this.domain ? `${this.domain}\\` : ''}${this.user}`;
  }
  [Symbol.for('nodejs.util.inspect.custom')](): string {
    return `Credentials { domain: ${JSON.stringify(this.domain)}, user: ${JSON.stringify(this.user)}, password: ${HIDDEN} }`;
  }
}

/** NTOWFv1 = MD4(UNICODE(Passwd)) (3.3.1); NTOWFv2 is an HMAC keyed with it. */
export function ntowfv1(password: string): Buffer {
  return md4(Buffer.from(password, 'utf16le'));
}

/** NTOWFv2(Passwd, User, UserDom) = HMAC_MD5(MD4(UNICODE(Passwd)), UNICODE(Uppercase(User) || UserDom)). */
export function ntowfv2(password: string, user: string, domain: string): Buffer {
  return hmacMd5(ntowfv1(password), Buffer.from(user.toUpperCase() + domain, 'utf16le'));
}

/** FILETIME (100 ns since 1601-01-01 UTC) for a Unix time in milliseconds. */
export function filetime(unixMs: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE((BigInt(Math.floor(unixMs)) + 11_644_473_600_000n) * 10_000n);
  return b;
}

export interface V2Response {
  ntChallengeResponse: Buffer;
  lmChallengeResponse: Buffer;
  sessionBaseKey: Buffer;
}

/**
 * ComputeResponse for NTLMv2 (3.3.2). `serverName` is the AV_PAIR list as it goes into the response (with its
 * MsvAvEOL); `time` is an 8-byte FILETIME.
 */
export function computeV2Response(
  responseKeyNT: Buffer,
  serverChallenge: Buffer,
  clientChallenge: Buffer,
  time: Buffer,
  serverName: Buffer,
): V2Response {
  const temp = Buffer.concat([Buffer.from([1, 1]), Buffer.alloc(6), time, clientChallenge, Buffer.alloc(4), serverName, Buffer.alloc(4)]);
  const ntProofStr = hmacMd5(responseKeyNT, serverChallenge, temp);
  return {
    ntChallengeResponse: Buffer.concat([ntProofStr, temp]),
    lmChallengeResponse: Buffer.concat([hmacMd5(responseKeyNT, serverChallenge, clientChallenge), clientChallenge]),
    sessionBaseKey: hmacMd5(responseKeyNT, ntProofStr),
  };
}

/** Why authentication failed, in the vocabulary of core/rpc/security.ts. */
export type AuthFailure = { kind: 'malformed-token' | 'rejected' | 'unsupported'; message: string };
export type AuthResult<T> = { ok: true; value: T } | { ok: false; error: AuthFailure };

const failure = <T>(kind: AuthFailure['kind'], message: string): AuthResult<T> => ({ ok: false, error: { kind, message } });

/** What the client asks for: NTLMv2 with extended session security, 128-bit, key exchange, sign and seal. */
export const CLIENT_FLAGS =
  Flag.UNICODE |
  Flag.REQUEST_TARGET |
  Flag.SIGN |
  Flag.SEAL |
  Flag.NTLM |
  Flag.ALWAYS_SIGN |
  Flag.EXTENDED_SESSIONSECURITY |
  Flag.TARGET_INFO |
  Flag.NEGOTIATE_128 |
  Flag.KEY_EXCH |
  Flag.NEGOTIATE_56;

/** Flags whose absence in the CHALLENGE the client drops from what it sends back. */
const NEGOTIABLE = Flag.SIGN | Flag.SEAL | Flag.ALWAYS_SIGN | Flag.EXTENDED_SESSIONSECURITY | Flag.NEGOTIATE_128 | Flag.NEGOTIATE_56 | Flag.KEY_EXCH | Flag.TARGET_INFO;

export interface NtlmClientOptions {
  /** Undefined: anonymous NTLM. */
  credentials?: Credentials;
  /** 8 random bytes (ChallengeFromClient). */
  clientChallenge: Buffer;
  /** 16 random bytes: the ExportedSessionKey sent under KEY_EXCH. */
  exportedSessionKey: Buffer;
  /** Current time (Unix ms), used only when the CHALLENGE has no MsvAvTimestamp. */
  nowMs: number;
  workstation?: string;
  /** MsvAvTargetName (an SPN such as "host/dp01"); empty when not given (3.1.5.1.2). */
  targetName?: string;
}

export interface ClientAuthentication {
  token: Buffer;
  session: NtlmSession;
}

/** Client side: the NEGOTIATE, then the AUTHENTICATE for the server's CHALLENGE. */
export class NtlmClient {
  readonly #opts: NtlmClientOptions;
  readonly #negotiate: Buffer;
  constructor(opts: NtlmClientOptions) {
    if (opts.clientChallenge.length !== 8) throw new RangeError('clientChallenge must be 8 bytes');
    if (opts.exportedSessionKey.length !== 16) throw new RangeError('exportedSessionKey must be 16 bytes');
    this.#opts = opts;
    this.#negotiate = encodeNegotiate({ flags: CLIENT_FLAGS, domain: '', workstation: '' });
  }

  get anonymous(): boolean {
    return this.#opts.credentials === undefined;
  }

  /** The NEGOTIATE_MESSAGE (the same bytes every time: they go into the MIC). */
  negotiate(): Buffer {
    return this.#negotiate;
  }

  authenticate(challengeBytes: Buffer): AuthResult<ClientAuthentication> {
    const decoded = decodeChallenge(challengeBytes);
    if (!decoded.ok) return failure('malformed-token', `CHALLENGE_MESSAGE: ${decoded.error.message}`);
    const ch = decoded.value;
    if (!(ch.flags & Flag.UNICODE)) return failure('unsupported', 'server did not choose Unicode (OEM strings are not supported)');
    if (!(ch.flags & Flag.EXTENDED_SESSIONSECURITY)) return failure('unsupported', 'server refused extended session security');
    if (!(ch.flags & Flag.NEGOTIATE_128)) return failure('unsupported', 'server refused 128-bit session keys');
    const flags = ((CLIENT_FLAGS & ~NEGOTIABLE) | (CLIENT_FLAGS & ch.flags & NEGOTIABLE) | (this.anonymous ? Flag.ANONYMOUS : 0)) >>> 0;
    const keyExch = (flags & Flag.KEY_EXCH) !== 0 && (flags & (Flag.SIGN | Flag.SEAL)) !== 0;
    const creds = this.#opts.credentials;
    const workstation = this.#opts.workstation ?? '';

    let lm: Buffer;
    let nt: Buffer;
    let sessionBaseKey: Buffer;
    let withMic = false;
    if (!creds) {
      lm = Buffer.alloc(1);
      nt = Buffer.alloc(0);
      sessionBaseKey = Buffer.alloc(16);
    } else {
      if (flags & (Flag.SIGN | Flag.SEAL)) {
        const has = (id: number) => ch.targetInfo.some((p) => p.id === id);
        if (!has(AvId.NB_COMPUTER_NAME) || !has(AvId.NB_DOMAIN_NAME)) {
          return failure('rejected', 'CHALLENGE target info lacks MsvAvNbComputerName or MsvAvNbDomainName (STATUS_LOGON_FAILURE, 3.1.5.1.2)');
        }
      }
      const stamp = ch.targetInfo.find((p) => p.id === AvId.TIMESTAMP && p.value.length === 8);
      const time = stamp ? stamp.value : filetime(this.#opts.nowMs);
      withMic = stamp !== undefined;
      const pairs = responsePairs(ch.targetInfo, withMic, this.#opts.targetName ?? '');
      const r = computeV2Response(creds.responseKey(), ch.serverChallenge, this.#opts.clientChallenge, time, encodeAvPairs(pairs));
      nt = r.ntChallengeResponse;
      // With MsvAvTimestamp the client SHOULD send Z(24) instead of the LMv2 response (3.1.5.1.2).
      lm = stamp ? Buffer.alloc(24) : r.lmChallengeResponse;
      sessionBaseKey = r.sessionBaseKey;
    }
    const keyExchangeKey = sessionBaseKey; // KXKEY for NTLMv2 (3.4.5.1); anonymous: Z(16)
    const exported = keyExch ? Buffer.from(this.#opts.exportedSessionKey) : keyExchangeKey;
    const msg: AuthenticateMessage = {
      flags,
      lmChallengeResponse: lm,
      ntChallengeResponse: nt,
      domain: creds?.domain ?? '',
      user: creds?.user ?? '',
      workstation,
      encryptedRandomSessionKey: keyExch ? rc4k(keyExchangeKey, exported) : Buffer.alloc(0),
      ...(withMic ? { mic: Buffer.alloc(16) } : {}),
    };
    const token = encodeAuthenticate(msg);
    if (withMic) hmacMd5(exported, this.#negotiate, challengeBytes, token).copy(token, MIC_OFFSET);
    return { ok: true, value: { token, session: new NtlmSession(flags, exported, 'client') } };
  }

  toJSON(): object {
    return { anonymous: this.anonymous, keys: HIDDEN };
  }
  [Symbol.for('nodejs.util.inspect.custom')](): string {
    return `NtlmClient { anonymous: ${this.anonymous}, keys: ${HIDDEN} }`;
  }
}

/** The CHALLENGE's AV pairs as the client returns them: MsvAvFlags |= MIC, channel bindings Z(16), target name. */
function responsePairs(challengePairs: AvPair[], withMic: boolean, targetName: string): AvPair[] {
  const pairs = challengePairs
    .filter((p) => p.id !== AvId.CHANNEL_BINDINGS && p.id !== AvId.TARGET_NAME)
    .map((p) => ({ id: p.id, value: Buffer.from(p.value) }));
  if (withMic) {
    const f = pairs.find((p) => p.id === AvId.FLAGS && p.value.length === 4);
    if (f) f.value.writeUInt32LE((f.value.readUInt32LE(0) | AV_FLAG_MIC) >>> 0, 0);
    else {
      const v = Buffer.alloc(4);
      v.writeUInt32LE(AV_FLAG_MIC, 0);
      pairs.push({ id: AvId.FLAGS, value: v });
    }
  }
  pairs.push({ id: AvId.CHANNEL_BINDINGS, value: Buffer.alloc(16) });
  pairs.push({ id: AvId.TARGET_NAME, value: Buffer.from(targetName, 'utf16le') });
  return pairs;
}

// ---------------------------------------------------------------------------------------------------------------
// Server
// ---------------------------------------------------------------------------------------------------------------

export interface NtlmServerOptions {
  /** 8 random bytes. */
  serverChallenge: Buffer;
  /** Current time (Unix ms), sent as MsvAvTimestamp. */
  nowMs: number;
  /** NetBIOS computer and domain names for the target info (both MUST be present, 3.1.5.1.2). */
  computerName: string;
  domainName: string;
  dnsComputerName?: string;
  /** Accounts accepted; user names compare case-insensitively (3.2.5.1.2). */
  accounts: Credentials[];
  allowAnonymous: boolean;
}

export interface ServerAuthentication {
  user: string;
  domain: string;
  anonymous: boolean;
  session: NtlmSession;
}

/** Flags the server grants when the client asks for them. */
const SERVER_GRANTS = Flag.UNICODE | Flag.SIGN | Flag.SEAL | Flag.EXTENDED_SESSIONSECURITY | Flag.NEGOTIATE_128 | Flag.NEGOTIATE_56 | Flag.KEY_EXCH;

/** Server side: a CHALLENGE for the client's NEGOTIATE, then the verdict on its AUTHENTICATE. */
export class NtlmServer {
  readonly #opts: NtlmServerOptions;
  #negotiate: Buffer | undefined;
  #challenge: Buffer | undefined;
  #flags = 0;
  constructor(opts: NtlmServerOptions) {
    if (opts.serverChallenge.length !== 8) throw new RangeError('serverChallenge must be 8 bytes');
    this.#opts = opts;
  }

  challenge(negotiateBytes: Buffer): AuthResult<Buffer> {
    const neg = decodeNegotiate(negotiateBytes);
    if (!neg.ok) return failure('malformed-token', `NEGOTIATE_MESSAGE: ${neg.error.message}`);
    const asked = neg.value.flags;
    if (!(asked & Flag.UNICODE)) return failure('unsupported', 'client does not offer Unicode');
    if (!(asked & Flag.EXTENDED_SESSIONSECURITY)) return failure('unsupported', 'client does not offer extended session security');
    const o = this.#opts;
    const utf16 = (s: string) => Buffer.from(s, 'utf16le');
    const info: AvPair[] = [
      { id: AvId.NB_COMPUTER_NAME, value: utf16(o.computerName) },
      { id: AvId.NB_DOMAIN_NAME, value: utf16(o.domainName) },
    ];
    if (o.dnsComputerName) info.push({ id: AvId.DNS_COMPUTER_NAME, value: utf16(o.dnsComputerName) });
    info.push({ id: AvId.TIMESTAMP, value: filetime(o.nowMs) });
    const flags = ((asked & SERVER_GRANTS) | Flag.REQUEST_TARGET | Flag.NTLM | Flag.ALWAYS_SIGN | Flag.TARGET_INFO | Flag.TARGET_TYPE_SERVER) >>> 0;
    const msg: ChallengeMessage = { flags, targetName: o.computerName, serverChallenge: o.serverChallenge, targetInfo: info };
    this.#negotiate = Buffer.from(negotiateBytes);
    this.#challenge = encodeChallenge(msg);
    this.#flags = flags;
    return { ok: true, value: this.#challenge };
  }

  authenticate(authBytes: Buffer): AuthResult<ServerAuthentication> {
    if (!this.#negotiate || !this.#challenge) return failure('malformed-token', 'AUTHENTICATE_MESSAGE before any NEGOTIATE_MESSAGE');
    const decoded = decodeAuthenticate(authBytes);
    if (!decoded.ok) return failure('malformed-token', `AUTHENTICATE_MESSAGE: ${decoded.error.message}`);
    const a = decoded.value;
    // Connection-oriented: the flags negotiated are the CHALLENGE's, narrowed by what the client confirms.
    const flags = (a.flags === 0 ? this.#flags : this.#flags & (a.flags | ~NEGOTIABLE)) >>> 0;
    const serverChallenge = this.#opts.serverChallenge;
    const lmZero = a.lmChallengeResponse.length === 0 || (a.lmChallengeResponse.length === 1 && a.lmChallengeResponse[0] === 0);
    const anonymous = a.user === '' && a.ntChallengeResponse.length === 0 && lmZero;

    let sessionBaseKey: Buffer;
    let micExpected = false;
    let account: Credentials | undefined;
    if (anonymous) {
      if (!this.#opts.allowAnonymous) return failure('rejected', 'anonymous authentication is not allowed');
      sessionBaseKey = Buffer.alloc(16);
    } else {
      if (a.ntChallengeResponse.length <= 24) return failure('rejected', 'not an NTLMv2 response (NTLMv1 is refused)');
      const nt = a.ntChallengeResponse;
      const proof = nt.subarray(0, 16);
      const temp = nt.subarray(16);
      if (temp.length < 28 || temp[0] !== 1) return failure('malformed-token', 'NTLMv2_CLIENT_CHALLENGE is malformed');
      const pairs = decodeAvPairs(temp.subarray(28));
      if (!pairs.ok) return failure('malformed-token', `NTLMv2_CLIENT_CHALLENGE AvPairs: ${pairs.error.message}`);
      const avFlags = pairs.value.find((p) => p.id === AvId.FLAGS && p.value.length === 4);
      micExpected = avFlags !== undefined && (avFlags.value.readUInt32LE(0) & AV_FLAG_MIC) !== 0;
      account = this.#opts.accounts.find((c) => c.user.toUpperCase() === a.user.toUpperCase());
      let base: Buffer | undefined;
      if (account) {
        // The user's domain as sent, then NIL for clients that compute without one (3.2.5.1.2).
        for (const dom of [a.domain, '']) {
          const key = account.responseKey(dom);
          if (sameBytes(hmacMd5(key, serverChallenge, temp), proof)) {
            base = hmacMd5(key, proof);
            break;
          }
        }
      }
      if (!base) return failure('rejected', `authentication failed for user ${JSON.stringify(a.user)}`);
      sessionBaseKey = base;
    }
    const keyExch = (flags & Flag.KEY_EXCH) !== 0 && (flags & (Flag.SIGN | Flag.SEAL)) !== 0;
    let exported = sessionBaseKey;
    if (keyExch) {
      if (a.encryptedRandomSessionKey.length !== 16) return failure('malformed-token', 'KEY_EXCH negotiated but EncryptedRandomSessionKey is not 16 bytes');
      exported = rc4k(sessionBaseKey, a.encryptedRandomSessionKey);
    }
    if (micExpected) {
      if (!a.mic) return failure('malformed-token', 'MsvAvFlags announces a MIC but the message has no MIC field');
      const zeroed = Buffer.from(authBytes);
      zeroed.fill(0, MIC_OFFSET, MIC_OFFSET + 16);
      if (!sameBytes(hmacMd5(exported, this.#negotiate, this.#challenge, zeroed), a.mic)) return failure('rejected', 'MIC does not match');
    }
    return {
      ok: true,
      value: { user: a.user, domain: a.domain, anonymous, session: new NtlmSession(flags, exported, 'server') },
    };
  }

  toJSON(): object {
    return { keys: HIDDEN };
  }
  [Symbol.for('nodejs.util.inspect.custom')](): string {
    return `NtlmServer { keys: ${HIDDEN} }`;
  }
}
