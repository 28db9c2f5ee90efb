/**
 * MS-WDSMT 2.2.2.1 / 2.2.2.2: the keyed security headers, HASH (an HMAC) and SIGN (an RSA signature), and the
 * MS-WDSMSI 2.2.1 reply fields that configure them (SecMode, SymKey, SignKey, HashAlgId, HMACAlgId). Pure
 * computation: node:crypto's HMAC, hash and RSA, no I/O. The readings chosen where the specs leave a choice are
 * protocol notes #38-#42; every plausible one is accepted on receive, the literal one is sent.
 */
import { KeyObject, createHash, createHmac, createPublicKey, sign as rsaSign, timingSafeEqual, verify as rsaVerify } from 'node:crypto';
import { Sec, SecMode } from './mt';

/** CryptoAPI ALG_IDs (wincrypt.h) that the reply variables and the key blobs carry. */
export const Calg = {
  MD5: 0x8003,
  SHA1: 0x8004,
  HMAC: 0x8009,
  SHA_256: 0x800c,
  SHA_384: 0x800d,
  SHA_512: 0x800e,
  DES3: 0x6603,
  RSA_SIGN: 0x2400,
  RSA_KEYX: 0xa400,
} as const;

const HASHES: Record<number, string> = {
  [Calg.MD5]: 'md5',
  [Calg.SHA1]: 'sha1',
  [Calg.SHA_256]: 'sha256',
  [Calg.SHA_384]: 'sha384',
  [Calg.SHA_512]: 'sha512',
};

/** The node:crypto name of a HashAlgId, or undefined for one this build does not know. */
export function hashName(algId: number): string | undefined {
  return HASHES[algId];
}

// ---------------------------------------------------------------------------------------------------------------
// SecMode (protocol-notes #38)
// ---------------------------------------------------------------------------------------------------------------

/**
 * The two halves of SecMode. The diagram puts Client Security Mode in bits 0-15, i.e. the high half of the
 * number; the other order is plausible too. MS-WDSMSI 3.1.5.1 never gives a client SIGN, so when one half is SIGN
 * it is the server's, whichever half it sits in; otherwise the literal order stands.
 */
export function splitSecMode(v: number): { client: number; server: number } {
  const hi = (v >>> 16) & 0xffff;
  const lo = v & 0xffff;
  if (hi === Sec.SIGN && lo !== Sec.SIGN) return { client: lo, server: hi };
  return { client: hi, server: lo };
}

/** SecMode as sent: client mode in the high half (bits 0-15 of the diagram), server mode in the low half. */
export function joinSecMode(client: SecMode, server: SecMode): number {
  return ((client << 16) | server) >>> 0;
}

// ---------------------------------------------------------------------------------------------------------------
// Key blobs (protocol-notes #40, #41)
// ---------------------------------------------------------------------------------------------------------------

const PLAINTEXTKEYBLOB = 0x08;
const PUBLICKEYBLOB = 0x06;
const CUR_BLOB_VERSION = 0x02;
const RSA1 = 0x31415352; // "RSA1"

/**
 * The HMAC key inside a SymKey. MS-WDSMSI 4.1's example is a CryptoAPI PLAINTEXTKEYBLOB: BLOBHEADER (bType 0x08,
 * bVersion 2, reserved, aiKeyAlg CALG_3DES little-endian), dwKeySize (24, little-endian), then the key bytes. A
 * SymKey that is not such a blob is taken as the raw key.
 */
export function symKeyBytes(symKey: Buffer): Buffer {
  if (symKey.length >= 12 && symKey[0] === PLAINTEXTKEYBLOB && symKey[1] === CUR_BLOB_VERSION) {
    const n = symKey.readUInt32LE(8);
    if (n > 0 && n === symKey.length - 12) return symKey.subarray(12);
  }
  return symKey;
}

/** A PLAINTEXTKEYBLOB holding `key` (the coordinator's SymKey, the shape of MS-WDSMSI 4.1). */
export function encodeSymKeyBlob(key: Buffer, algId: number = Calg.DES3): Buffer {
  const b = Buffer.alloc(12 + key.length);
  b[0] = PLAINTEXTKEYBLOB;
  b[1] = CUR_BLOB_VERSION;
  b.writeUInt32LE(algId, 4);
  b.writeUInt32LE(key.length, 8);
  key.copy(b, 12);
  return b;
}

/** Sets each byte's low bit so the byte has odd parity (a DES key as CryptoAPI exports it; the 4.1 example has it). */
export function desParity(key: Buffer): Buffer {
  const out = Buffer.from(key);
  for (let i = 0; i < out.length; i++) {
    let x = out[i]! >> 1;
    let ones = 0;
    for (; x; x >>= 1) ones += x & 1;
    out[i] = (out[i]! & 0xfe) | (ones % 2 === 0 ? 1 : 0);
  }
  return out;
}

function reversed(b: Buffer): Buffer {
  return Buffer.from(b).reverse();
}

/**
 * The server's RSA public key from a SignKey: a CryptoAPI PUBLICKEYBLOB (BLOBHEADER bType 0x06, RSAPUBKEY "RSA1"
 * bitlen pubexp, modulus little-endian), or DER (SubjectPublicKeyInfo, or a PKCS#1 RSAPublicKey). A string says
 * why not.
 */
export function parseSignKey(b: Buffer): KeyObject | string {
  if (b.length >= 20 && b[0] === PUBLICKEYBLOB && b[1] === CUR_BLOB_VERSION) {
    if (b.readUInt32LE(8) !== RSA1) return 'SignKey is a PUBLICKEYBLOB without the RSA1 magic';
    const bits = b.readUInt32LE(12);
    const n = Math.ceil(bits / 8);
    if (bits < 512 || b.length < 20 + n) return `SignKey PUBLICKEYBLOB: a ${bits}-bit modulus in ${b.length} bytes`;
    const e = Buffer.alloc(4);
    e.writeUInt32BE(b.readUInt32LE(16));
    const firstE = e.findIndex((x) => x !== 0);
    if (firstE < 0) return 'SignKey PUBLICKEYBLOB: public exponent 0';
    const jwk = { kty: 'RSA', n: reversed(b.subarray(20, 20 + n)).toString('base64url'), e: e.subarray(firstE).toString('base64url') };
    try {
      return createPublicKey({ key: jwk, format: 'jwk' });
    } catch (err) {
      return `SignKey PUBLICKEYBLOB: ${(err as Error).message}`;
    }
  }
  for (const type of ['spki', 'pkcs1'] as const) {
    try {
      const k = createPublicKey({ key: b, format: 'der', type });
      if (k.asymmetricKeyType === 'rsa') return k;
      return `SignKey is a ${k.asymmetricKeyType ?? 'non-RSA'} key, not RSA`;
    } catch {
      // try the next form
    }
  }
  return 'SignKey is neither a CryptoAPI PUBLICKEYBLOB nor a DER RSA public key';
}

/** The CryptoAPI PUBLICKEYBLOB of an RSA key (what CryptExportKey gives; the coordinator's SignKey). */
export function encodePublicKeyBlob(key: KeyObject): Buffer {
  const jwk = key.export({ format: 'jwk' });
  const n = Buffer.from(jwk.n!, 'base64url');
  const e = Buffer.from(jwk.e!, 'base64url');
  const b = Buffer.alloc(20 + n.length);
  b[0] = PUBLICKEYBLOB;
  b[1] = CUR_BLOB_VERSION;
  b.writeUInt32LE(Calg.RSA_SIGN, 4);
  b.writeUInt32LE(RSA1, 8);
  b.writeUInt32LE(n.length * 8, 12);
  b.writeUInt32LE(e.readUIntBE(0, e.length), 16);
  reversed(n).copy(b, 20);
  return b;
}

// ---------------------------------------------------------------------------------------------------------------
// The security data of one packet
// ---------------------------------------------------------------------------------------------------------------

/**
 * One direction's keyed security: produces and checks SecurityData over the signed bytes (Session Header to the
 * end of the packet, 2.2.2.1/2.2.2.2). `verify` never throws.
 */
export interface PacketAuth {
  readonly mode: typeof Sec.HASH | typeof Sec.SIGN;
  /** Length of the SecurityData `seal` produces. */
  readonly length: number;
  seal(signed: Buffer): Buffer;
  verify(securityData: Buffer, signed: Buffer): boolean;
}

/** A keyed mode with two accepted readings `R`: SecurityData of the right length, the reading that verified last tried first. */
abstract class TwoReadings<R> {
  abstract readonly mode: typeof Sec.HASH | typeof Sec.SIGN;
  abstract readonly length: number;

  constructor(
    private first: R,
    private second: R,
  ) {}

  protected abstract check(reading: R, securityData: Buffer, signed: Buffer): boolean;

  verify(securityData: Buffer, signed: Buffer): boolean {
    if (securityData.length !== this.length) return false;
    if (this.check(this.first, securityData, signed)) return true;
    if (!this.check(this.second, securityData, signed)) return false;
    [this.first, this.second] = [this.second, this.first];
    return true;
  }
}

/** How the HMAC covers the packet (protocol-notes #39). */
export type HmacReading = 'over-hash' | 'direct';

/**
 * HASH. Sent: HMAC(SymKey, Hash(packet)), HashAlgId both as the hash and as the HMAC's hash (2.2.2.1 read
 * literally: the packet's hash, then the HMAC of that). Accepted as well: HMAC(SymKey, packet), one HMAC whose
 * hash is HashAlgId (what CryptoAPI's CALG_HMAC with HMAC_INFO.HashAlgid computes). The reading that verified
 * last is tried first.
 */
export class HmacAuth extends TwoReadings<HmacReading> implements PacketAuth {
  readonly mode = Sec.HASH;
  readonly length: number;

  constructor(
    private readonly key: Buffer,
    private readonly hash: string,
    private readonly sends: HmacReading = 'over-hash',
  ) {
    super('over-hash', 'direct');
    this.length = createHash(hash).digest().length;
  }

  private mac(reading: HmacReading, signed: Buffer): Buffer {
    const msg = reading === 'direct' ? signed : createHash(this.hash).update(signed).digest();
    return createHmac(this.hash, this.key).update(msg).digest();
  }

  seal(signed: Buffer): Buffer {
    return this.mac(this.sends, signed);
  }

  protected check(reading: HmacReading, securityData: Buffer, signed: Buffer): boolean {
    return timingSafeEqual(this.mac(reading, signed), securityData);
  }
}

/** The signature's byte order (protocol-notes #42). */
export type SigOrder = 'little-endian' | 'big-endian';

/**
 * SIGN: an RSA PKCS#1 v1.5 signature of the packet's HashAlgId hash. CryptSignHash emits the signature
 * little-endian and 2.2.2.2 forbids a byte-order change, so that is what is sent (the reverse of PKCS#1's
 * big-endian octet string); both orders are accepted, the one that verified last first. A verify-only key (the
 * client's) cannot seal.
 */
export class RsaAuth extends TwoReadings<SigOrder> implements PacketAuth {
  readonly mode = Sec.SIGN;
  readonly length: number;

  constructor(
    private readonly key: KeyObject,
    private readonly hash: string,
    private readonly sends: SigOrder = 'little-endian',
  ) {
    super('little-endian', 'big-endian');
    const bits = key.asymmetricKeyDetails?.modulusLength ?? 2048;
    this.length = Math.ceil(bits / 8);
  }

  seal(signed: Buffer): Buffer {
    if (this.key.type !== 'private') throw new Error('SIGN needs the private key to seal');
    const sig = rsaSign(this.hash, signed, this.key);
    return this.sends === 'little-endian' ? sig.reverse() : sig;
  }

  protected check(order: SigOrder, securityData: Buffer, signed: Buffer): boolean {
    try {
      return rsaVerify(this.hash, signed, this.key, order === 'little-endian' ? reversed(securityData) : securityData);
    } catch {
      return false;
    }
  }

}
