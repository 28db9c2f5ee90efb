/**
 * Known answers: RFC 1320's MD4 suite, RC4 vectors, and the MS-NLMP 4.2 worked examples (4.2.2 and 4.2.3 for the
 * parts NTLMv2 shares with them, 4.2.4 NTLMv2 whole: keys, responses, both messages byte for byte, GSS_WrapEx).
 */
import { describe, expect, it } from 'vitest';
import { computeV2Response, ntowfv1, ntowfv2 } from '../../../core/ntlm/auth';
import { Rc4, hmacMd5, md4, rc4k } from '../../../core/ntlm/crypto';
import { AvId, Flag, decodeAuthenticate, decodeChallenge, encodeAuthenticate, encodeAvPairs, encodeChallenge } from '../../../core/ntlm/messages';
import { NtlmSession, sealKey, signKey } from '../../../core/ntlm/session';
import { hex } from '../codec/helpers';

/** MS-NLMP hex dumps: "0000010: 38 00 ..." lines; offsets and the ASCII column are dropped. */
function dump(s: string): Buffer {
  const bytes: string[] = [];
  for (const line of s.trim().split('\n')) {
    const m = /^\s*[0-9A-Fa-f]+:\s+((?:[0-9a-fA-F]{2}\s)*[0-9a-fA-F]{2})/.exec(line + ' ');
    if (!m) throw new Error(`bad dump line: ${line}`);
    bytes.push(m[1]!.replace(/\s+/g, ''));
  }
  return hex(bytes.join(''));
}

describe('MD4 (RFC 1320 appendix A.5)', () => {
  const suite: [string, string][] = [
    ['', '31d6cfe0d16ae931b73c59d7e0c089c0'],
    ['a', 'bde52cb31de33e46245e05fbdbd6fb24'],
    ['abc', 'a448017aaf21d8525fc10ae87aa6729d'],
    ['message digest', 'd9130a8164549fe818874806e1c7014b'],
    ['abcdefghijklmnopqrstuvwxyz', 'd79e1c308aa5bbcdeea8ed63df412da9'],
    ['ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789', '043f8582f241db351ce627e153e7f0e4'],
    ['1234567890'.repeat(8), 'e33b4ddc9c38f2199c3e7b164fcc0536'],
  ];
  for (const [input, digest] of suite) {
    it(`MD4(${JSON.stringify(input.length > 20 ? input.slice(0, 20) + '…' : input)})`, () => {
      expect(md4(Buffer.from(input, 'latin1')).toString('hex')).toBe(digest);
    });
  }
  it('block boundaries: 55, 56, 63, 64 and 65 bytes differ from each other', () => {
    const ds = [55, 56, 63, 64, 65].map((n) => md4(Buffer.alloc(n, 0x61)).toString('hex'));
    expect(new Set(ds).size).toBe(5);
  });
});

describe('RC4', () => {
  it('classic vectors (Key/Plaintext, Wiki/pedia, Secret/Attack at dawn)', () => {
    expect(rc4k(Buffer.from('Key'), Buffer.from('Plaintext')).toString('hex')).toBe('bbf316e8d940af0ad3');
    expect(rc4k(Buffer.from('Wiki'), Buffer.from('pedia')).toString('hex')).toBe('1021bf0420');
    expect(rc4k(Buffer.from('Secret'), Buffer.from('Attack at dawn')).toString('hex')).toBe('45a01f645fc35b383552544b9bf5');
  });
  it('MS-NLMP 4.2.2.2.3: RC4K(SessionBaseKey, RandomSessionKey)', () => {
    expect(rc4k(hex('d87262b0cde4b1cb7499becccdf10784'), Buffer.alloc(16, 0x55)).toString('hex')).toBe('518822b1b3f350c8958682ecbb3e3cb7');
  });
  it('MS-NLMP 4.2.2.4: one handle continues across the message, RandomPad, Checksum and SeqNum', () => {
    const h = new Rc4(Buffer.alloc(16, 0x55));
    const data = Buffer.from('Plaintext', 'utf16le');
    h.apply(data);
    expect(data.toString('hex')).toBe('56fe04d861f9319af0d7238a2e3b4d457fb8');
    const pad = Buffer.alloc(4);
    h.apply(pad);
    expect(pad.toString('hex')).toBe('45c844e5');
    const crc = hex('7d84aa93');
    h.apply(crc);
    expect(crc.toString('hex')).toBe('09dcd1df');
    const seq = Buffer.alloc(4);
    h.apply(seq);
    expect(seq.toString('hex')).toBe('2e459d36');
  });
});

describe('MS-NLMP 4.2.2 / 4.2.3 (shared parts)', () => {
  it('NTOWFv1 and the NTLMv1 SessionBaseKey = MD4(NTOWFv1)', () => {
    expect(ntowfv1('Password').toString('hex')).toBe('a4f49c406510bdcab6824ee7c30fd852');
    expect(md4(ntowfv1('Password')).toString('hex')).toBe('d87262b0cde4b1cb7499becccdf10784');
  });
  it('4.2.3.1.3 KXKEY with extended session security (HMAC_MD5 over ServerChallenge + LM[0..7])', () => {
    const lm = Buffer.concat([Buffer.alloc(8, 0xaa), Buffer.alloc(16)]);
    const kx = hmacMd5(hex('d87262b0cde4b1cb7499becccdf10784'), hex('0123456789abcdef'), lm.subarray(0, 8));
    expect(kx.toString('hex')).toBe('eb93429a8bd952f8b89c55b87f475edc');
  });
  it('4.2.3.4 GSS_WrapEx, 56-bit, no KEY_EXCH: SEALKEY, SIGNKEY, sealed data, signature', () => {
    const flags = 0x820a8233; // 4.2.3 challenge flags
    const kx = hex('eb93429a8bd952f8b89c55b87f475edc'); // ExportedSessionKey = KeyExchangeKey (no KEY_EXCH)
    expect(sealKey(flags, kx, 'client').toString('hex')).toBe('04dd7f014d8504d265a25cc86a3a7c06');
    // The text says RandomSessionKey, but the value given is MD5 over the (exported) key exchange key.
    expect(signKey(kx, 'client').toString('hex')).toBe('60e799be5c72fc92922ae8ebe961fb8d');
    const data = Buffer.from('Plaintext', 'utf16le');
    const sig = new NtlmSession(flags, kx, 'client').seal(Buffer.from(data), data, 0, data.length);
    expect(data.toString('hex')).toBe('a02372f6530273f3aa1eb90190ce5200c99d');
    expect(sig.toString('hex')).toBe('01000000ff2aeb52f681793a00000000');
  });
  it('4.2.2.3 / 4.2.3.3 CHALLENGE messages without target info decode', () => {
    const c = decodeChallenge(
      dump(`0000000: 4e 54 4c 4d 53 53 50 00 02 00 00 00 0c 00 0c 00
0000010: 38 00 00 00 33 82 0a 82 01 23 45 67 89 ab cd ef
0000020: 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00
0000030: 06 00 70 17 00 00 00 0f 53 00 65 00 72 00 76 00
0000040: 65 00 72 00`),
    );
    expect(c.ok && c.value).toMatchObject({ flags: 0x820a8233, targetName: 'Server', targetInfo: [] });
    expect(c.ok && c.value.version?.toString('hex')).toBe('060070170000000f');
  });
});

describe('MS-NLMP 4.2.4 NTLMv2', () => {
  const serverChallenge = hex('0123456789abcdef');
  const clientChallenge = Buffer.alloc(8, 0xaa);
  const time = Buffer.alloc(8);
  const random = Buffer.alloc(16, 0x55);
  const challengeBytes = dump(`0000000: 4e 54 4c 4d 53 53 50 00 02 00 00 00 0c 00 0c 00
0000010: 38 00 00 00 33 82 8a e2 01 23 45 67 89 ab cd ef
0000020: 00 00 00 00 00 00 00 00 24 00 24 00 44 00 00 00
0000030: 06 00 70 17 00 00 00 0f 53 00 65 00 72 00 76 00
0000040: 65 00 72 00 02 00 0c 00 44 00 6f 00 6d 00 61 00
0000050: 69 00 6e 00 01 00 0c 00 53 00 65 00 72 00 76 00
0000060: 65 00 72 00 00 00 00 00`);
  const authenticateBytes = dump(`0000000: 4e 54 4c 4d 53 53 50 00 03 00 00 00 18 00 18 00
0000010: 6c 00 00 00 54 00 54 00 84 00 00 00 0c 00 0c 00
0000020: 48 00 00 00 08 00 08 00 54 00 00 00 10 00 10 00
0000030: 5c 00 00 00 10 00 10 00 d8 00 00 00 35 82 88 e2
0000040: 05 01 28 0a 00 00 00 0f 44 00 6f 00 6d 00 61 00
0000050: 69 00 6e 00 55 00 73 00 65 00 72 00 43 00 4f 00
0000060: 4d 00 50 00 55 00 54 00 45 00 52 00 86 c3 50 97
0000070: ac 9c ec 10 25 54 76 4a 57 cc cc 19 aa aa aa aa
0000080: aa aa aa aa 68 cd 0a b8 51 e5 1c 96 aa bc 92 7b
0000090: eb ef 6a 1c 01 01 00 00 00 00 00 00 00 00 00 00
00000A0: 00 00 00 00 aa aa aa aa aa aa aa aa 00 00 00 00
00000B0: 02 00 0c 00 44 00 6f 00 6d 00 61 00 69 00 6e 00
00000C0: 01 00 0c 00 53 00 65 00 72 00 76 00 65 00 72 00
00000D0: 00 00 00 00 00 00 00 00 c5 da d2 54 4f c9 79 90
00000E0: 94 ce 1c e9 0b c9 d0 3e`);

  it('4.2.4.1.1 NTOWFv2("Password", "User", "Domain")', () => {
    expect(ntowfv2('Password', 'User', 'Domain').toString('hex')).toBe('0c868a403bfd7a93a3001ef22ef02e3f');
  });

  it('the CHALLENGE_MESSAGE decodes to the example values and re-encodes byte for byte', () => {
    const c = decodeChallenge(challengeBytes);
    expect(c.ok).toBe(true);
    if (!c.ok) return;
    expect(c.value.flags).toBe(0xe28a8233);
    expect(c.value.targetName).toBe('Server');
    expect(c.value.serverChallenge).toEqual(serverChallenge);
    expect(c.value.targetInfo).toEqual([
      { id: AvId.NB_DOMAIN_NAME, value: Buffer.from('Domain', 'utf16le') },
      { id: AvId.NB_COMPUTER_NAME, value: Buffer.from('Server', 'utf16le') },
    ]);
    expect(encodeChallenge(c.value)).toEqual(challengeBytes);
  });

  it('4.2.4.1.2 / 4.2.4.2: temp, NTProofStr, SessionBaseKey, LMv2 response, encrypted session key', () => {
    const c = decodeChallenge(challengeBytes);
    if (!c.ok) throw new Error(c.error.message);
    const r = computeV2Response(ntowfv2('Password', 'User', 'Domain'), serverChallenge, clientChallenge, time, encodeAvPairs(c.value.targetInfo));
    const temp = dump(`0000090: 01 01 00 00 00 00 00 00 00 00 00 00
00000A0: 00 00 00 00 aa aa aa aa aa aa aa aa 00 00 00 00
00000B0: 02 00 0c 00 44 00 6f 00 6d 00 61 00 69 00 6e 00
00000C0: 01 00 0c 00 53 00 65 00 72 00 76 00 65 00 72 00
00000D0: 00 00 00 00 00 00 00 00`);
    expect(r.ntChallengeResponse.subarray(16)).toEqual(temp);
    expect(r.ntChallengeResponse.subarray(0, 16).toString('hex')).toBe('68cd0ab851e51c96aabc927bebef6a1c');
    expect(r.sessionBaseKey.toString('hex')).toBe('8de40ccadbc14a82f15cb0ad0de95ca3');
    expect(r.lmChallengeResponse.toString('hex')).toBe('86c35097ac9cec102554764a57cccc19aaaaaaaaaaaaaaaa');
    expect(rc4k(r.sessionBaseKey, random).toString('hex')).toBe('c5dad2544fc9799094ce1ce90bc9d03e');
  });

  it('4.2.4.3: the AUTHENTICATE_MESSAGE built from those values equals the example byte for byte', () => {
    const c = decodeChallenge(challengeBytes);
    if (!c.ok) throw new Error(c.error.message);
    const r = computeV2Response(ntowfv2('Password', 'User', 'Domain'), serverChallenge, clientChallenge, time, encodeAvPairs(c.value.targetInfo));
    const built = encodeAuthenticate({
      flags: 0xe2888235,
      lmChallengeResponse: r.lmChallengeResponse,
      ntChallengeResponse: r.ntChallengeResponse,
      domain: 'Domain',
      user: 'User',
      workstation: 'COMPUTER',
      encryptedRandomSessionKey: rc4k(r.sessionBaseKey, random),
      version: hex('0501280a0000000f'),
    });
    expect(built).toEqual(authenticateBytes);
  });

  it('4.2.4.3: the example AUTHENTICATE_MESSAGE decodes (no MIC field: the payload starts at 72)', () => {
    const a = decodeAuthenticate(authenticateBytes);
    expect(a.ok).toBe(true);
    if (!a.ok) return;
    expect(a.value).toMatchObject({ flags: 0xe2888235, domain: 'Domain', user: 'User', workstation: 'COMPUTER' });
    expect(a.value.mic).toBeUndefined();
    expect(a.value.encryptedRandomSessionKey.toString('hex')).toBe('c5dad2544fc9799094ce1ce90bc9d03e');
    expect(a.value.flags & Flag.KEY_EXCH).not.toBe(0);
    expect(encodeAuthenticate(a.value)).toEqual(authenticateBytes);
  });

  it('4.2.4.4 GSS_WrapEx: SEALKEY, SIGNKEY, sealed data, RC4-encrypted checksum, signature; the server unseals it', () => {
    const flags = 0xe28a8233;
    expect(sealKey(flags, random, 'client').toString('hex')).toBe('59f600973cc4960a25480a7c196e4c58');
    expect(signKey(random, 'client').toString('hex')).toBe('4788dc861b4782f35d43fd98fe1a2d39');
    const plain = Buffer.from('Plaintext', 'utf16le');
    const data = Buffer.from(plain);
    const sig = new NtlmSession(flags, random, 'client').seal(data, data, 0, data.length);
    expect(data.toString('hex')).toBe('54e50165bf1936dc996020c1811b0f06fb5f');
    expect(sig.toString('hex')).toBe('010000007fb38ec5c55d497600000000');
    const server = new NtlmSession(flags, random, 'server');
    expect(server.unseal(data, 0, data.length, data, sig)).toBeUndefined();
    expect(data).toEqual(plain);
    expect(server.sequence.in).toBe(1);
  });
});
