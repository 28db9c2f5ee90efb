/**
 * What session initiation hands to the receive: the session's addresses, the content's shape, and the security
 * of MS-WDSMT packets in each direction (MS-WDSMSI 2.2.1: a client security mode and a server security mode, each
 * with its own key). Over UDP (MS-WDSMSI 2.2.2) no key can reach the client, so both modes are CHECKSUM; the RPC
 * form (MS-WDSC, Windows Server 2016+) may carry a SymKey (HASH) and the server's SignKey (SIGN).
 */
import { Sec, SecMode } from './codec/mt';
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
}

/** MS-WDSMSI over UDP: both directions CHECKSUM, no key (3.1.5.1, the pre-OS row). */
export const UDP_SECURITY: SessionSecurity = Object.freeze({ client: Object.freeze({ mode: Sec.CHECKSUM }), server: Object.freeze({ mode: Sec.CHECKSUM }) });

export function sessionSecurity(s: Pick<SessionInfo, 'security'>): SessionSecurity {
  return s.security ?? UDP_SECURITY;
}

const SEC_NAMES: Record<number, string> = { [Sec.NONE]: 'NONE', [Sec.HASH]: 'HASH', [Sec.SIGN]: 'SIGN', [Sec.CHECKSUM]: 'CHECKSUM' };

/**
 * Why this build cannot take part in a session with these security modes, or undefined when it can. Only
 * CHECKSUM in both directions is implemented: HASH and SIGN need the keys' algorithms, and NONE is refused because
 * no Windows DP offers it to a pre-OS client (MS-WDSMSI 3.1.5.1).
 */
export function unsupportedSecurity(sec: SessionSecurity): string | undefined {
  if (sec.client.mode === Sec.CHECKSUM && sec.server.mode === Sec.CHECKSUM) return undefined;
  const name = (m: number) => SEC_NAMES[m] ?? `0x${m.toString(16)}`;
  return `the session uses client security ${name(sec.client.mode)} and server security ${name(sec.server.mode)}; this build supports only CHECKSUM in both directions`;
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

/** MS-WDSMSI 3.1.5.1: the combinations a server supports, as (server, client). */
const SUPPORTED: readonly (readonly [number, number])[] = [
  [Sec.CHECKSUM, Sec.CHECKSUM],
  [Sec.SIGN, Sec.HASH],
  [Sec.HASH, Sec.HASH],
  [Sec.NONE, Sec.NONE],
];

/**
 * The two security modes of an MS-WDSC reply (protocol-notes #38). SecMode present: its two 16-bit halves are
 * the client mode and the server mode, in an order the spec's figure does not settle; a client mode is never SIGN
 * (3.1.5.1), so a SIGN half is the server's, and every other supported combination has equal halves. Halves
 * that form no supported combination either way are read literally (high half client, as the figure lists it
 * first). SecMode absent (Server 2016+, note <4>): the keys say it: SignKey → SIGN/HASH, SymKey → HASH/HASH,
 * neither → CHECKSUM/CHECKSUM (what a client that sent Cap CHECKSUM is given).
 */
export function wdscSecurityModes(r: Pick<InitiateReply, 'secMode' | 'symKey' | 'signKey'>): { client: number; server: number } {
  if (r.secMode === undefined) {
    if (r.signKey?.length) return { client: Sec.HASH, server: Sec.SIGN };
    if (r.symKey?.length) return { client: Sec.HASH, server: Sec.HASH };
    return { client: Sec.CHECKSUM, server: Sec.CHECKSUM };
  }
  const hi = (r.secMode >>> 16) & 0xffff;
  const lo = r.secMode & 0xffff;
  const ok = (server: number, client: number) => SUPPORTED.some(([s, c]) => s === server && c === client);
  if (!ok(lo, hi) && ok(hi, lo)) return { client: lo, server: hi };
  return { client: hi, server: lo };
}

/**
 * The session an MS-WDSC WDSMC_OP_INITIATE reply describes. Keys per direction (MS-WDSMSI 3.1.1.3, 3.1.5.2):
 * the client's HASH uses SymKey (the HashKey); the server's HASH uses SymKey too, its SIGN the SignKey (RSA
 * public key). HashAlgId / HMACAlgId are carried as sent. A mode outside the four named ones is kept as a number,
 * and unsupportedSecurity() names it.
 */
export function sessionFromWdscReply(r: InitiateReply): SessionInfo {
  const m = wdscSecurityModes(r);
  const side = (mode: number, key: Buffer | undefined): SecuritySide => {
    const s: SecuritySide = { mode: mode as SecMode };
    if (key && (mode === Sec.HASH || mode === Sec.SIGN)) s.key = key;
    return s;
  };
  const security: SessionSecurity = {
    client: side(m.client, r.symKey),
    server: side(m.server, m.server === Sec.SIGN ? r.signKey : r.symKey),
  };
  if (r.hashAlgId !== undefined) security.hashAlgId = r.hashAlgId;
  if (r.hmacAlgId !== undefined) security.hmacAlgId = r.hmacAlgId;
  return sessionOf(r, security);
}
