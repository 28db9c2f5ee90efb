/**
 * The session's MS-WDSMT security, server side (MS-WDSMSI 3.1.1.3, 3.1.5.1, 3.1.5.2): the configured mode
 * (checksum, hash, sign or none), its keys (a SymKey for the HMAC, an RSA key pair for SIGN), what the server
 * seals its packets with and what it checks the clients' with, and the security fields of a session reply.
 *
 * Pre-OS clients always get CHECKSUM both ways (3.1.5.1; over UDP MS-WDSMSI every client is pre-OS, 3.1.5.1.1;
 * over the WDS Control Protocol the INITIATE's Cap says so with BOOT_DEVICE). The coordinator runs one session,
 * so when clients of both kinds are in it every multicast packet goes out once per server mode in use (see
 * context.ts); a client drops the copy not in its mode as wrong security.
 */
import { KeyObject, generateKeyPairSync } from 'node:crypto';
import { Sec, SecMode } from '../../core/codec/mt';
import { Calg, HmacAuth, PacketAuth, RsaAuth, desParity, encodePublicKeyBlob, encodeSymKeyBlob, hashName, joinSecMode } from '../../core/codec/mt-security';
import type { ReplySecurity } from '../../core/session';
import { Cap } from '../../core/wdsc/initiate';

export const SEC_MODE_NAMES = ['checksum', 'hash', 'sign', 'none'] as const;
export type SecModeName = (typeof SEC_MODE_NAMES)[number];

/** The configured security: the mode and, for hash and sign, the keys (make them with `newSecurity`). */
export interface CoordinatorSecurity {
  mode: SecModeName;
  /** HASH and SIGN: the raw SymKey (a 3DES key with DES parity, 24 bytes, like MS-WDSMSI 4.1's). */
  symKey?: Buffer;
  /** SIGN: the server's RSA private key (its public half is the reply's SignKey). */
  signKey?: KeyObject;
  /** Default CALG_SHA_256, as in MS-WDSMSI 4.1. */
  hashAlgId?: number;
}

/**
 * Keys for a mode: the SymKey from `rng` (so a seeded simulation is reproducible), the RSA pair from node:crypto
 * (PKCS#1 v1.5 signatures are deterministic for a given key, so the run still is).
 */
export function newSecurity(mode: SecModeName, rng: () => number, rsaBits = 2048): CoordinatorSecurity {
  if (mode === 'checksum' || mode === 'none') return { mode };
  const symKey = desParity(Buffer.from(Array.from({ length: 24 }, () => Math.floor(rng() * 256))));
  if (mode === 'hash') return { mode, symKey, hashAlgId: Calg.SHA_256 };
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: rsaBits });
  return { mode, symKey, signKey: privateKey, hashAlgId: Calg.SHA_256 };
}

/** True when a WDSC INITIATE's Cap marks a pre-OS client (MS-WDSMSI 3.1.5.1.1). */
export function isPreOs(cap: number | undefined): boolean {
  return cap !== undefined && (cap & Cap.BOOT_DEVICE) !== 0;
}

export class SessionKeys {
  /** Modes of the configuration (3.1.1.3); pre-OS clients use CHECKSUM instead. */
  readonly clientMode: SecMode;
  readonly serverMode: SecMode;
  private readonly serverAuth?: PacketAuth;
  /** HASH: checks what clients send. */
  readonly clientAuth?: PacketAuth;
  private readonly symKey?: Buffer;
  private readonly signKey?: KeyObject;
  private readonly hashAlgId: number;

  constructor(sec: CoordinatorSecurity = { mode: 'checksum' }) {
    const modes: Record<SecModeName, [SecMode, SecMode]> = {
      checksum: [Sec.CHECKSUM, Sec.CHECKSUM],
      hash: [Sec.HASH, Sec.HASH],
      sign: [Sec.HASH, Sec.SIGN], // 3.1.5.1: server SIGN goes with client HASH
      none: [Sec.NONE, Sec.NONE],
    };
    [this.clientMode, this.serverMode] = modes[sec.mode];
    this.hashAlgId = sec.hashAlgId ?? Calg.SHA_256;
    if (sec.mode !== 'hash' && sec.mode !== 'sign') return;
    const hash = hashName(this.hashAlgId);
    if (!hash) throw new Error(`HashAlgId 0x${this.hashAlgId.toString(16)} is not supported`);
    if (!sec.symKey?.length) throw new Error(`--sec-mode ${sec.mode} needs a SymKey`);
    this.symKey = sec.symKey;
    this.clientAuth = new HmacAuth(sec.symKey, hash);
    if (sec.mode === 'hash') this.serverAuth = this.clientAuth;
    else {
      if (sec.signKey?.type !== 'private') throw new Error('--sec-mode sign needs an RSA private key');
      this.signKey = sec.signKey;
      this.serverAuth = new RsaAuth(this.signKey, hash);
    }
  }

  /** The key a server packet in `mode` is sealed with (undefined for CHECKSUM and NONE). */
  sealer(mode: SecMode): PacketAuth | undefined {
    return mode === this.serverMode ? this.serverAuth : undefined;
  }

  /** Client modes a packet may carry: the configured one, and CHECKSUM for pre-OS clients. */
  accepts(clientMode: number): boolean {
    return clientMode === this.clientMode || clientMode === Sec.CHECKSUM;
  }

  /** The server mode that goes with a client's mode (the rows of 3.1.5.1). */
  serverModeFor(clientMode: SecMode): SecMode {
    return clientMode === this.clientMode ? this.serverMode : Sec.CHECKSUM;
  }

  /**
   * The security fields of a WDSC INITIATE reply (MS-WDSMSI 3.1.5.2; core/wdsc/initiate.ts InitiateReply): SecMode
   * (client mode in the high half, protocol-notes #38); SignKey (PUBLICKEYBLOB) and SymKey (PLAINTEXTKEYBLOB) for
   * server SIGN; SymKey, HashAlgId and HMACAlgId for HASH. CHECKSUM both ways (a pre-OS client, or a checksum
   * session) is no field at all, as a Server 2016+ reply (MS-WDSMSI note <4>: no SecMode), which a client reads
   * as CHECKSUM.
   */
  replySecurity(preOs: boolean): ReplySecurity {
    if (preOs || this.serverMode === Sec.CHECKSUM) return {};
    const out: ReplySecurity = { secMode: joinSecMode(this.clientMode, this.serverMode) };
    if (this.serverMode === Sec.NONE) return out;
    out.symKey = encodeSymKeyBlob(this.symKey!);
    if (this.signKey) out.signKey = encodePublicKeyBlob(this.signKey);
    out.hashAlgId = this.hashAlgId;
    out.hmacAlgId = Calg.HMAC;
    return out;
  }
}
