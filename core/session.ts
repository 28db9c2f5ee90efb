/**
 * What session initiation hands to the receive: the session's addresses, the content's shape, and the security
 * of MS-WDSMT packets in each direction (MS-WDSMSI 2.2.1: a client security mode and a server security mode, each
 * with its own key). Over UDP (MS-WDSMSI 2.2.2) no key can reach the client, so both modes are CHECKSUM; the RPC
 * form (MS-WDSC, Windows Server 2016+) may carry a SymKey (HASH) and the server's SignKey (SIGN).
 */
import { Sec, SecMode } from './codec/mt';
import { Calg, HmacAuth, PacketAuth, RsaAuth, hashName, parseSignKey, splitSecMode, symKeyBytes } from './codec/mt-security';
import type { MsiReply } from './codec/msi';
import type { InitiateReply } from './wdsc/initiate';
import type { Endpoint } from './mt-client';

/** The security of one direction: how its packets are validated, and with what key. */
export interface SecuritySide {
  mode: SecMode;
  /**
   * HASH: the shared SymKey used for the HMAC (MS-WDSMSI 2.2.1, "SymKey"); SIGN (server side only): the server's
   * RSA public key ("SignKey"). Absent for NONE and CHECKSUM.
   */
  key?: Buffer;
}

export interface SessionSecurity {
  /** Packets the client sends (ClientSecurityMode). */
  client: SecuritySide;
  /** Packets the server sends (ServerSecurityMode). */
  server: SecuritySide;
  /** HashAlgId / HMACAlgId of the reply, when a HASH or SIGN mode uses them. */
  hashAlgId?: number;
  hmacAlgId?: number;
}

export interface SessionInfo {
  sessionId: number;
  multicast: Endpoint;
  server: Endpoint;
  contentSize: number;
  blockSize: number;
  totalBlocks: number;
  /** Absent means CHECKSUM both ways (MS-WDSMSI over UDP). */
  security?: SessionSecurity;
  /** The reply's UserSid (MS-WDSC initiation only), echoed in JOIN as WDSMCTP_OPT_USER_SID (MS-WDSMT 2.2.5, <1>). */
  userSid?: Buffer;
}

/** MS-WDSMSI over UDP: both directions CHECKSUM, no key (3.1.5.1, the pre-OS row). */
export const UDP_SECURITY: SessionSecurity = Object.freeze({ client: Object.freeze({ mode: Sec.CHECKSUM }), server: Object.freeze({ mode: Sec.CHECKSUM }) });

export function sessionSecurity(s: Pick<SessionInfo, 'security'>): SessionSecurity {
  return s.security ?? UDP_SECURITY;
}

const SEC_NAMES: Record<number, string> = { [Sec.NONE]: 'NONE', [Sec.HASH]: 'HASH', [Sec.SIGN]: 'SIGN', [Sec.CHECKSUM]: 'CHECKSUM' };
/** A security mode's name (NONE, HASH, SIGN, CHECKSUM), or its number in hex. */
export const secName = (m: number) => SEC_NAMES[m] ?? `0x${m.toString(16)}`;

/** The keys that seal what the client sends and check what the server sends (undefined: no keyed mode there). */
export interface SessionAuth {
  client?: PacketAuth;
  server?: PacketAuth;
}

/**
 * Builds the HMAC and RSA keys of a session, or says by name why this build cannot take part in it. Accepted:
 * CHECKSUM, HASH (either direction, with SymKey and a known HashAlgId; HMACAlgId absent or CALG_HMAC) and SIGN
 * from the server (with a SignKey that parses, protocol-notes #41). Refused: a client SIGN (MS-WDSMSI 3.1.5.1 never
 * gives one; the client has no private key), NONE (no Windows DP offers it to a pre-OS client), a missing key.
 */
export function sessionAuth(sec: SessionSecurity): SessionAuth | string {
  const why = (reason: string) => `the session uses client security ${secName(sec.client.mode)} and server security ${secName(sec.server.mode)}; ${reason}`;
  const out: SessionAuth = {};
  for (const side of ['client', 'server'] as const) {
    const { mode, key } = sec[side];
    if (mode === Sec.CHECKSUM) continue;
    if (mode === Sec.NONE) return why('NONE is not accepted: no Windows DP offers it to a pre-OS client and it validates nothing');
    if (mode === Sec.SIGN && side === 'client') return why('a client never signs (MS-WDSMSI 3.1.5.1): SIGN is a server security mode');
    if (mode !== Sec.HASH && mode !== Sec.SIGN) return why(`${side} security mode ${secName(mode)} is not one MS-WDSMSI defines`);
    const keyName = mode === Sec.HASH ? 'SymKey' : 'SignKey';
    if (!key || key.length === 0) return why(`${secName(mode)} needs the ${keyName}, which the session reply did not carry`);
    if (sec.hashAlgId === undefined) return why(`${secName(mode)} needs HashAlgId, which the session reply did not carry`);
    const hash = hashName(sec.hashAlgId);
    if (!hash) return why(`HashAlgId 0x${sec.hashAlgId.toString(16)} is not a hash this build knows (MD5, SHA-1, SHA-256, SHA-384, SHA-512)`);
    if (mode === Sec.HASH) {
      if (sec.hmacAlgId !== undefined && sec.hmacAlgId !== Calg.HMAC) return why(`HMACAlgId 0x${sec.hmacAlgId.toString(16)} is not CALG_HMAC (0x8009)`);
      out[side] = new HmacAuth(symKeyBytes(key), hash);
    } else {
      const k = parseSignKey(key);
      if (typeof k === 'string') return why(k);
      out[side] = new RsaAuth(k, hash);
    }
  }
  return out;
}

/** Why this build cannot take part in a session with these security modes, or undefined when it can (`sessionAuth`). */
export function unsupportedSecurity(sec: SessionSecurity): string | undefined {
  const a = sessionAuth(sec);
  return typeof a === 'string' ? a : undefined;
}

/** The security fields of a session reply (MS-WDSMSI 2.2.1; over RPC, core/wdsc/initiate.ts InitiateReply). */
export interface ReplySecurity {
  secMode?: number;
  symKey?: Buffer;
  signKey?: Buffer;
  hashAlgId?: number;
  hmacAlgId?: number;
}

/**
 * The session security a reply describes. SecMode's halves are read per protocol-notes #38. A reply without
 * SecMode (Server 2016+, MS-WDSMSI note <4>) is read from its keys: a SignKey means server SIGN and client HASH, a
 * SymKey alone HASH both ways, neither CHECKSUM both ways (protocol-notes #38).
 */
export function securityFromReply(r: ReplySecurity): SessionSecurity {
  let client: number;
  let server: number;
  if (r.secMode !== undefined) ({ client, server } = splitSecMode(r.secMode));
  else if (r.signKey?.length) [client, server] = [Sec.HASH, Sec.SIGN];
  else if (r.symKey?.length) [client, server] = [Sec.HASH, Sec.HASH];
  else [client, server] = [Sec.CHECKSUM, Sec.CHECKSUM];
  const keyFor = (m: number) => (m === Sec.HASH ? r.symKey : m === Sec.SIGN ? r.signKey : undefined);
  const side = (m: number): SecuritySide => {
    const key = keyFor(m);
    return key ? { mode: m as SecMode, key } : { mode: m as SecMode };
  };
  const sec: SessionSecurity = { client: side(client), server: side(server) };
  if (r.hashAlgId !== undefined) sec.hashAlgId = r.hashAlgId;
  if (r.hmacAlgId !== undefined) sec.hmacAlgId = r.hmacAlgId;
  return sec;
}

type ReplyFields = Pick<MsiReply, 'sessionId' | 'multicastAddr' | 'multicastPort' | 'serverAddr' | 'serverPort' | 'contentSize' | 'blockSize' | 'totalBlocks'>;

/** What either reply (UDP or WDSC) says about the session, with the security it implies. */
function sessionOf(r: ReplyFields, security: SessionSecurity): SessionInfo {
  return {
    sessionId: r.sessionId,
    multicast: { address: r.multicastAddr, port: r.multicastPort },
    server: { address: r.serverAddr, port: r.serverPort },
    contentSize: r.contentSize,
    blockSize: r.blockSize,
    totalBlocks: r.totalBlocks,
    security,
  };
}

/** The session an MS-WDSMSI-over-UDP reply describes. */
export function sessionFromMsiReply(r: MsiReply): SessionInfo {
  return sessionOf(r, UDP_SECURITY);
}

/** The session an MS-WDSC WDSMC_OP_INITIATE reply describes: its security per protocol-notes #38. */
export function sessionFromWdscReply(r: InitiateReply): SessionInfo {
  const s = sessionOf(r, securityFromReply(r));
  return r.userSid?.length ? { ...s, userSid: r.userSid } : s;
}
