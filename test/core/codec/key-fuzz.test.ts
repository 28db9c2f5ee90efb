/**
 * Property tests (fast-check) for the DP-supplied key material of a session reply (MS-WDSMSI 2.2.1 over MS-WDSC):
 * parseSignKey, symKeyBytes, sessionFromWdscReply and sessionAuth never throw on any SecMode, SymKey, SignKey,
 * HashAlgId or HMACAlgId; garbage gets a typed refusal (a string naming why), and the keys that are accepted give
 * PacketAuths whose verify never throws either.
 */
import { generateKeyPairSync } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Sec } from '../../../core/codec/mt';
import { Calg, encodePublicKeyBlob, encodeSymKeyBlob, joinSecMode, parseSignKey, symKeyBytes } from '../../../core/codec/mt-security';
import { sessionAuth, sessionFromWdscReply } from '../../../core/session';
import type { InitiateReply } from '../../../core/wdsc/initiate';
import { bytes, mutated, u16, u32 } from '../../fuzz/arbitraries/common';

const RUNS = { numRuns: 400 };

const rsa = generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey;
const EC = generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).publicKey.export({ format: 'der', type: 'spki' });
const GOOD_SIGN_KEYS = [encodePublicKeyBlob(rsa), rsa.export({ format: 'der', type: 'spki' }), rsa.export({ format: 'der', type: 'pkcs1' })];

const truncated = (v: Buffer) => fc.nat(v.length - 1).map((n) => v.subarray(0, n));

/** A PUBLICKEYBLOB header (06 02 …) with the RSA1 magic or not, any bit length and exponent, any modulus bytes. */
const blobLike = fc.tuple(fc.boolean(), u32, fc.oneof(fc.integer({ min: 0, max: 4096 }), u32), u32, bytes(300)).map(([magic, alg, bits, e, rest]) => {
  const b = Buffer.alloc(20);
  b[0] = 0x06;
  b[1] = 0x02;
  b.writeUInt32LE(alg, 4);
  b.writeUInt32LE(magic ? 0x31415352 : alg, 8);
  b.writeUInt32LE(bits, 12);
  b.writeUInt32LE(e, 16);
  return Buffer.concat([b, rest]);
});
/** A PLAINTEXTKEYBLOB header (08 02 …) with any dwKeySize and any key bytes. */
const symBlobLike = fc.tuple(u32, u32, bytes(64)).map(([alg, size, key]) => {
  const b = Buffer.alloc(12);
  b[0] = 0x08;
  b[1] = 0x02;
  b.writeUInt32LE(alg, 4);
  b.writeUInt32LE(size, 8);
  return Buffer.concat([b, key]);
});

const signKey = fc.oneof(bytes(300), blobLike, fc.constant(EC), ...GOOD_SIGN_KEYS.flatMap((k) => [mutated(k), truncated(k), fc.constant(k)]));
const symKey = fc.oneof(bytes(64), symBlobLike, mutated(encodeSymKeyBlob(Buffer.alloc(24, 7))));
const mode = fc.oneof({ weight: 1, arbitrary: u16 }, { weight: 4, arbitrary: fc.constantFrom(Sec.NONE, Sec.HASH, Sec.SIGN, Sec.CHECKSUM) });
const secMode = fc.oneof(u32, fc.tuple(mode, mode).map(([c, s]) => joinSecMode(c as never, s as never)));
const algId = fc.oneof({ weight: 1, arbitrary: u32 }, { weight: 4, arbitrary: fc.constantFrom(Calg.MD5, Calg.SHA1, Calg.SHA_256, Calg.SHA_384, Calg.SHA_512, Calg.HMAC, Calg.DES3) });
const opt = <T>(a: fc.Arbitrary<T>) => fc.option(a, { nil: undefined });

const reply: fc.Arbitrary<InitiateReply> = fc
  .record({
    secMode: opt(secMode),
    symKey: opt(symKey),
    signKey: opt(signKey),
    hashAlgId: opt(algId),
    hmacAlgId: opt(algId),
    userSid: opt(bytes(28)),
    sessionId: u32,
  })
  .map((r) => {
    const out: InitiateReply = {
      kind: 'reply',
      multicastAddr: '239.0.0.1',
      multicastPort: 5000,
      serverAddr: '127.0.0.1',
      serverPort: 5001,
      sessionId: r.sessionId,
      contentSize: 1000,
      blockSize: 1000,
      totalBlocks: 1,
      contentMetadata: Buffer.alloc(0),
    };
    for (const k of ['secMode', 'symKey', 'signKey', 'hashAlgId', 'hmacAlgId', 'userSid'] as const) if (r[k] !== undefined) (out as unknown as Record<string, unknown>)[k] = r[k];
    return out;
  });

describe('key fuzz: parseSignKey', () => {
  it('never throws: a KeyObject that is an RSA public key, or a string', () => {
    fc.assert(
      fc.property(signKey, (b) => {
        const k = parseSignKey(b);
        if (typeof k === 'string') expect(k).toMatch(/^SignKey /);
        else {
          expect(k.type).toBe('public');
          expect(k.asymmetricKeyType).toBe('rsa');
        }
      }),
      RUNS,
    );
  });

  it('garbage is refused by name; the three accepted forms of a real key are taken', () => {
    fc.assert(fc.property(bytes(300), (b) => typeof parseSignKey(b) === 'string'), RUNS);
    fc.assert(fc.property(fc.constantFrom(EC, Buffer.alloc(0)), blobLike.filter((b) => b.readUInt32LE(8) !== 0x31415352), (a, b) => typeof parseSignKey(a) === 'string' && typeof parseSignKey(b) === 'string'));
    for (const k of GOOD_SIGN_KEYS) expect(typeof parseSignKey(k)).toBe('object');
  });
});

describe('key fuzz: symKeyBytes', () => {
  it('never throws: the key after a PLAINTEXTKEYBLOB header whose size agrees, else the bytes as given', () => {
    fc.assert(
      fc.property(fc.oneof(symKey, bytes(40)), (b) => {
        const k = symKeyBytes(b);
        const isBlob = b.length > 12 && b[0] === 0x08 && b[1] === 0x02 && b.readUInt32LE(8) === b.length - 12;
        expect(k.equals(isBlob ? b.subarray(12) : b)).toBe(true);
      }),
      RUNS,
    );
  });
});

describe('key fuzz: sessionFromWdscReply and sessionAuth', () => {
  it('any SecMode, SymKey, SignKey, HashAlgId, HMACAlgId: never throws; a refusal is a string, an acceptance verifies without throwing', () => {
    const seen = { refused: 0, hash: 0, sign: 0 };
    fc.assert(
      fc.property(reply, bytes(300), bytes(300), (r, sd, signed) => {
        const s = sessionFromWdscReply(r);
        const a = sessionAuth(s.security!);
        if (typeof a === 'string') {
          expect(a).toMatch(/^the session uses client security \S+ and server security \S+; ./);
          seen.refused++;
          return;
        }
        for (const side of ['client', 'server'] as const) {
          const p = a[side];
          const m = s.security![side].mode;
          if (m === Sec.CHECKSUM) expect(p).toBeUndefined();
          else {
            expect(p!.mode).toBe(m);
            expect(p!.verify(sd, signed)).toBe(false); // random bytes never authenticate
            expect(p!.verify(sd.subarray(0, p!.length), signed)).toBe(false);
          }
        }
        if (a.client) expect(a.client.mode, 'a client never signs').toBe(Sec.HASH);
        if (a.client || a.server?.mode === Sec.HASH) seen.hash++;
        if (a.server?.mode === Sec.SIGN) seen.sign++;
      }),
      { numRuns: 1000 },
    );
    // the generator reaches refusals and both keyed modes, so the checks above ran on each
    expect(Object.values(seen).every((n) => n > 0), JSON.stringify(seen)).toBe(true);
  });

  it('a keyed mode whose key is garbage or missing, or whose HashAlgId is unknown, is refused', () => {
    fc.assert(
      fc.property(bytes(300), u32, (garbage, alg) => {
        const base = { kind: 'reply', multicastAddr: '239.0.0.1', multicastPort: 1, serverAddr: '127.0.0.1', serverPort: 2, sessionId: 1, contentSize: 1, blockSize: 1, totalBlocks: 1, contentMetadata: Buffer.alloc(0) } as const;
        const sign = sessionAuth(sessionFromWdscReply({ ...base, secMode: joinSecMode(Sec.CHECKSUM, Sec.SIGN), signKey: garbage, hashAlgId: Calg.SHA_256 }).security!);
        const noKey = sessionAuth(sessionFromWdscReply({ ...base, secMode: joinSecMode(Sec.HASH, Sec.HASH), hashAlgId: Calg.SHA_256 }).security!);
        const known = [Calg.MD5, Calg.SHA1, Calg.SHA_256, Calg.SHA_384, Calg.SHA_512] as number[];
        const badAlg = sessionAuth(sessionFromWdscReply({ ...base, secMode: joinSecMode(Sec.HASH, Sec.HASH), symKey: Buffer.alloc(16, 1), hashAlgId: known.includes(alg) ? 0 : alg }).security!);
        expect(sign).toMatch(/SignKey/);
        expect(noKey).toMatch(/needs the SymKey/);
        expect(badAlg).toMatch(/HashAlgId 0x[0-9a-f]+ is not a hash this build knows/);
      }),
      RUNS,
    );
  });
});
