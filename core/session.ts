/**
 * What session initiation hands to the receive: the session's addresses, the content's shape, and the security
 * of MS-WDSMT packets in each direction (MS-WDSMSI 2.2.1: a client security mode and a server security mode, each
 * with its own key). Over UDP (MS-WDSMSI 2.2.2) no key can reach the client, so both modes are CHECKSUM; the RPC
 * form (MS-WDSC, Windows Server 2016+) may carry a SymKey (HASH) and the server's SignKey (SIGN).
 */
import { Sec, SecMode } from './codec/mt';
import type { MsiReply } from './codec/msi';
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

/** The session an MS-WDSMSI-over-UDP reply describes. */
export function sessionFromMsiReply(r: MsiReply): SessionInfo {
  return {
    sessionId: r.sessionId,
    multicast: { address: r.multicastAddr, port: r.multicastPort },
    server: { address: r.serverAddr, port: r.serverPort },
    contentSize: r.contentSize,
    blockSize: r.blockSize,
    totalBlocks: r.totalBlocks,
    security: UDP_SECURITY,
  };
}
