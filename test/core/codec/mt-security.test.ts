/**
 * MS-WDSMT HASH and SIGN security headers (2.2.2.1, 2.2.2.2) and the MS-WDSMSI fields that configure them, both
 * ways: what osdcast sends (the literal readings) and every reading it accepts (protocol-notes #38-#42).
 * The HMAC vectors were computed with Python's hmac/hashlib from the packet layout of MS-WDSMT 2.2.3 and 2.2.5,
 * independently of this code; the RSA checks recompute EMSA-PKCS1-v1_5 with BigInt arithmetic.
 */
import { createHash, createHmac, createPrivateKey, generateKeyPairSync, sign as rsaSign } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { Op, Sec, decodeMt, encodeMt } from '../../../core/codec/mt';
import {
  Calg,
  HmacAuth,
  RsaAuth,
  desParity,
  encodePublicKeyBlob,
  encodeSymKeyBlob,
  hashName,
  joinSecMode,
  parseSignKey,
  splitSecMode,
  symKeyBytes,
} from '../../../core/codec/mt-security';
import { securityFromReply, sessionAuth } from '../../../core/session';
import { expectFail, expectOk } from './helpers';

const SPM = { op: Op.SPM, spmSeqNo: 3, masterClientId: 7, minNackBackoff: 10, maxNackBackoff: 30, trailSeq: 100, leadSeq: 200, rtt: 15 } as const;
const HDR = { sessionId: 0x6d19ee7e, senderTime: 1000 };
/** Session Header + SPM section + OptionsCount 0: the bytes HASH and SIGN cover. */
const SIGNED = '6d19ee7e0100000000000003e8000000000000000300000007000a001e000000000000006400000000000000c8000f0000';
/** MS-WDSMSI 4.1's SymKey: PLAINTEXTKEYBLOB, CALG_3DES, 24 bytes. */
const SYMKEY_41 = Buffer.from('0802000003660000180000002F15F82AE0683EF79E6D62A70BDC519D2A3246E0FDB354E9', 'hex');
const KEY_41 = Buffer.from('2F15F82AE0683EF79E6D62A70BDC519D2A3246E0FDB354E9', 'hex');
/** HMAC-SHA256(key, SHA256(SIGNED)) and HMAC-SHA256(key, SIGNED), by Python. */
const HMAC_OVER_HASH = 'b038a66bbde4382d2ed33b74f7043e40f73548ccbd1c438a530e865f23a0ace5';
const HMAC_DIRECT = '00d85655b306821e7b41adb36f68903bd66b200dbb260a0b547aff3d2e0b3fbb';
const HMAC_SHA1_OVER_HASH = '9e4fd6718d23941392e78697cc14dd9aea4ac6fc';

const hashPacket = (securityData: string) => Buffer.from('5744' + '01' + (securityData.length / 2).toString(16).padStart(4, '0') + securityData + SIGNED, 'hex');

describe('HASH (MS-WDSMT 2.2.2.1, protocol-notes #39)', () => {
  const auth = () => new HmacAuth(symKeyBytes(SYMKEY_41), 'sha256');

  it('sends HMAC(SymKey, Hash(packet)) over the Session Header onward: the exact bytes', () => {
    const wire = encodeMt(SPM, { secMode: Sec.HASH, ...HDR, auth: auth() });
    expect(wire.toString('hex')).toBe(hashPacket(HMAC_OVER_HASH).toString('hex'));
    expect(wire.subarray(0, 5).toString('hex')).toBe('5744010020'); // "WD", HASH, SecurityDataLen 32
  });

  it('accepts both readings: HMAC over the hash and one HMAC over the packet', () => {
    for (const sd of [HMAC_OVER_HASH, HMAC_DIRECT]) {
      const p = expectOk(decodeMt(hashPacket(sd), { from: 'server', auth: auth() }));
      expect(p).toMatchObject({ secType: Sec.HASH, sessionId: HDR.sessionId, senderTime: 1000, body: SPM });
    }
    // The same verifier, readings alternating: each packet is judged on its own.
    const a = auth();
    for (const sd of [HMAC_DIRECT, HMAC_OVER_HASH, HMAC_DIRECT]) expectOk(decodeMt(hashPacket(sd), { auth: a }));
  });

  it('SHA-1 as HashAlgId: a 20-byte HMAC', () => {
    const a = new HmacAuth(KEY_41, 'sha1');
    expect(encodeMt(SPM, { secMode: Sec.HASH, ...HDR, auth: a }).toString('hex')).toBe(hashPacket(HMAC_SHA1_OVER_HASH).toString('hex'));
  });

  it('a changed byte, a wrong key, a truncated HMAC are unauthenticated; without the key it is unsupported-security', () => {
    const good = hashPacket(HMAC_OVER_HASH);
    for (let i = 5; i < good.length; i++) {
      const b = Buffer.from(good);
      b[i] ^= 0x01;
      expectFail(decodeMt(b, { auth: auth() }), 'unauthenticated'); // checked before anything is parsed
    }
    expectFail(decodeMt(good, { auth: new HmacAuth(Buffer.alloc(24, 1), 'sha256') }), 'unauthenticated');
    expectFail(decodeMt(hashPacket(HMAC_OVER_HASH.slice(0, 40)), { auth: auth() }), 'unauthenticated');
    expectFail(decodeMt(good), 'unsupported-security');
    expectFail(decodeMt(good, { auth: new RsaAuth(generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey, 'sha256') }), 'unsupported-security');
    expectFail(decodeMt(Buffer.from('5744010020' + HMAC_OVER_HASH + '6d19ee7e01', 'hex'), { auth: auth() }), 'truncated');
  });

  it('encodeMt refuses HASH without its key', () => {
    expect(() => encodeMt(SPM, { secMode: Sec.HASH, ...HDR })).toThrow(/needs its key/);
  });
});

/** EMSA-PKCS1-v1_5 of SHA-256(m) for a k-byte modulus (RFC 8017 9.2), built by hand. */
function emsaSha256(m: Buffer, k: number): bigint {
  const t = Buffer.concat([Buffer.from('3031300d060960864801650304020105000420', 'hex'), createHash('sha256').update(m).digest()]);
  const em = Buffer.concat([Buffer.from([0, 1]), Buffer.alloc(k - t.length - 3, 0xff), Buffer.from([0]), t]);
  return BigInt('0x' + em.toString('hex'));
}
function modPow(b: bigint, e: bigint, m: bigint): bigint {
  let r = 1n;
  b %= m;
  for (; e > 0n; e >>= 1n, b = (b * b) % m) if (e & 1n) r = (r * b) % m;
  return r;
}

describe('SIGN (MS-WDSMT 2.2.2.2, protocol-notes #41, #42)', () => {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 1024 });
  const jwk = publicKey.export({ format: 'jwk' });
  const n = BigInt('0x' + Buffer.from(jwk.n!, 'base64url').toString('hex'));
  const e = BigInt('0x' + Buffer.from(jwk.e!, 'base64url').toString('hex'));

  it('sends the PKCS#1 v1.5 signature of the SHA-256 hash little-endian (as CryptSignHash emits it)', () => {
    const wire = encodeMt(SPM, { secMode: Sec.SIGN, ...HDR, auth: new RsaAuth(privateKey, 'sha256') });
    expect(wire.subarray(0, 5).toString('hex')).toBe('5744020080'); // SIGN, 128 bytes
    expect(wire.subarray(5 + 128).toString('hex')).toBe(SIGNED);
    const sd = Buffer.from(wire.subarray(5, 5 + 128));
    const asInteger = BigInt('0x' + Buffer.from(sd).reverse().toString('hex')); // little-endian integer
    expect(modPow(asInteger, e, n)).toBe(emsaSha256(Buffer.from(SIGNED, 'hex'), 128));
  });

  it('accepts the signature little-endian and big-endian, with the key as PUBLICKEYBLOB, SPKI DER or PKCS#1 DER', () => {
    const be = rsaSign('sha256', Buffer.from(SIGNED, 'hex'), privateKey);
    const le = Buffer.from(be).reverse();
    const keys = [encodePublicKeyBlob(publicKey), publicKey.export({ format: 'der', type: 'spki' }), publicKey.export({ format: 'der', type: 'pkcs1' })];
    for (const k of keys) {
      const pub = parseSignKey(k);
      if (typeof pub === 'string') throw new Error(pub);
      const auth = new RsaAuth(pub, 'sha256');
      for (const sig of [le, be, le]) {
        const wire = Buffer.concat([Buffer.from('5744020080', 'hex'), sig, Buffer.from(SIGNED, 'hex')]);
        expect(expectOk(decodeMt(wire, { from: 'server', auth })).body).toEqual(SPM);
      }
    }
  });

  it('a changed byte, another key or a short signature are unauthenticated; a public key cannot seal', () => {
    const auth = new RsaAuth(publicKey, 'sha256');
    const wire = encodeMt(SPM, { secMode: Sec.SIGN, ...HDR, auth: new RsaAuth(privateKey, 'sha256') });
    for (const i of [5, 70, 5 + 127, 5 + 128, wire.length - 3]) {
      const b = Buffer.from(wire);
      b[i] ^= 0x80;
      expectFail(decodeMt(b, { auth }), 'unauthenticated');
    }
    expectFail(decodeMt(wire, { auth: new RsaAuth(generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey, 'sha256') }), 'unauthenticated');
    const short = Buffer.concat([Buffer.from('5744020040', 'hex'), wire.subarray(5, 5 + 64), wire.subarray(5 + 128)]);
    expectFail(decodeMt(short, { auth }), 'unauthenticated');
    expect(() => encodeMt(SPM, { secMode: Sec.SIGN, ...HDR, auth })).toThrow(/private key/);
  });

  it('PUBLICKEYBLOB layout: BLOBHEADER 06 02 0000 CALG_RSA_SIGN, "RSA1", bit length, exponent, modulus little-endian', () => {
    const b = encodePublicKeyBlob(publicKey);
    expect(b.subarray(0, 20).toString('hex')).toBe('0602000000240000' + '52534131' + '00040000' + '01000100');
    expect(b.subarray(20).toString('hex')).toBe(Buffer.from(jwk.n!, 'base64url').reverse().toString('hex'));
  });

  it('a SignKey that is no RSA public key is refused by name', () => {
    expect(parseSignKey(Buffer.alloc(64, 2))).toBe('SignKey is neither a CryptoAPI PUBLICKEYBLOB nor a DER RSA public key');
    const blob = encodePublicKeyBlob(publicKey);
    const noMagic = Buffer.from(blob);
    noMagic.writeUInt32LE(0x32415352, 8); // "RSA2": a private-key blob
    expect(parseSignKey(noMagic)).toMatch(/without the RSA1 magic/);
    expect(parseSignKey(blob.subarray(0, 100))).toMatch(/1024-bit modulus in 100 bytes/);
    const ec = generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).publicKey.export({ format: 'der', type: 'spki' });
    expect(parseSignKey(ec)).toBe('SignKey is a ec key, not RSA');
    expect(createPrivateKey(privateKey.export({ format: 'pem', type: 'pkcs8' })).type).toBe('private');
  });
});

describe('SymKey (protocol-notes #40)', () => {
  it("MS-WDSMSI 4.1's PLAINTEXTKEYBLOB gives its 24 key bytes, and the coordinator's blob has that shape", () => {
    expect(symKeyBytes(SYMKEY_41)).toEqual(KEY_41);
    expect(encodeSymKeyBlob(KEY_41)).toEqual(SYMKEY_41);
    expect(desParity(KEY_41)).toEqual(KEY_41); // the example key already has DES parity
    expect(desParity(Buffer.from([0x00, 0xff, 0x2e]))).toEqual(Buffer.from([0x01, 0xfe, 0x2f]));
  });

  it('a SymKey that is no blob (or a blob whose size disagrees) is the raw key', () => {
    const raw = Buffer.from('00112233445566778899aabbccddeeff', 'hex');
    expect(symKeyBytes(raw)).toBe(raw);
    const bad = Buffer.from(SYMKEY_41);
    bad.writeUInt32LE(16, 8);
    expect(symKeyBytes(bad)).toBe(bad);
    const hmac = createHmac('sha256', raw).update(createHash('sha256').update(Buffer.from(SIGNED, 'hex')).digest()).digest();
    expect(new HmacAuth(symKeyBytes(raw), 'sha256').seal(Buffer.from(SIGNED, 'hex'))).toEqual(hmac);
  });
});

describe('SecMode and the reply fields (protocol-notes #38)', () => {
  it('client mode in the high half, server in the low (the diagram), with a SIGN half always the server', () => {
    expect(splitSecMode(0x00010001)).toEqual({ client: Sec.HASH, server: Sec.HASH }); // MS-WDSMSI 4.1
    expect(splitSecMode(0x00010002)).toEqual({ client: Sec.HASH, server: Sec.SIGN });
    expect(splitSecMode(0x00020001)).toEqual({ client: Sec.HASH, server: Sec.SIGN }); // the other order
    expect(splitSecMode(0x00030003)).toEqual({ client: Sec.CHECKSUM, server: Sec.CHECKSUM });
    expect(splitSecMode(0x00000000)).toEqual({ client: Sec.NONE, server: Sec.NONE });
    expect(splitSecMode(0x00020002)).toEqual({ client: Sec.SIGN, server: Sec.SIGN }); // refused later, by name
    expect(joinSecMode(Sec.HASH, Sec.SIGN)).toBe(0x00010002);
    expect(joinSecMode(Sec.CHECKSUM, Sec.CHECKSUM)).toBe(0x00030003);
  });

  it('maps a reply onto SessionSecurity: keys to the modes that use them; no SecMode is read from the keys', () => {
    const signKey = Buffer.alloc(10, 5);
    expect(securityFromReply({ secMode: 0x00020001, symKey: SYMKEY_41, signKey, hashAlgId: Calg.SHA_256, hmacAlgId: Calg.HMAC })).toEqual({
      client: { mode: Sec.HASH, key: SYMKEY_41 },
      server: { mode: Sec.SIGN, key: signKey },
      hashAlgId: Calg.SHA_256,
      hmacAlgId: Calg.HMAC,
    });
    expect(securityFromReply({ symKey: SYMKEY_41, hashAlgId: Calg.SHA_256 })).toEqual({ client: { mode: Sec.HASH, key: SYMKEY_41 }, server: { mode: Sec.HASH, key: SYMKEY_41 }, hashAlgId: Calg.SHA_256 });
    expect(securityFromReply({ symKey: SYMKEY_41, signKey })).toMatchObject({ client: { mode: Sec.HASH }, server: { mode: Sec.SIGN, key: signKey } });
    expect(securityFromReply({})).toEqual({ client: { mode: Sec.CHECKSUM }, server: { mode: Sec.CHECKSUM } });
    expect(securityFromReply({ secMode: 0x00030003, symKey: SYMKEY_41 })).toEqual({ client: { mode: Sec.CHECKSUM }, server: { mode: Sec.CHECKSUM } });
  });

  it("the 4.1 example reply's security is one this build takes part in: HASH both ways, HMAC-SHA256", () => {
    const a = sessionAuth(securityFromReply({ secMode: 0x00010001, symKey: SYMKEY_41, hashAlgId: 0x800c, hmacAlgId: 0x8009 }));
    if (typeof a === 'string') throw new Error(a);
    expect(a.client?.seal(Buffer.from(SIGNED, 'hex')).toString('hex')).toBe(HMAC_OVER_HASH);
    expect(a.server?.verify(Buffer.from(HMAC_DIRECT, 'hex'), Buffer.from(SIGNED, 'hex'))).toBe(true);
  });

  it('knows the CryptoAPI hashes by ALG_ID', () => {
    expect([Calg.MD5, Calg.SHA1, Calg.SHA_256, Calg.SHA_384, Calg.SHA_512].map(hashName)).toEqual(['md5', 'sha1', 'sha256', 'sha384', 'sha512']);
    expect(hashName(Calg.HMAC)).toBeUndefined();
  });
});
