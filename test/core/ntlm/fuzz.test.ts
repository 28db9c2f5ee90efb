/**
 * Property tests (fast-check) for the NTLM and SPNEGO decoders, in the style of test/core/codec/fuzz.test.ts:
 *  (a) arbitrary bytes (also behind a valid NTLMSSP header or DER tag) never make a decoder or provider throw;
 *  (b) arbitrary valid messages round-trip encode -> decode -> deep-equal;
 *  (c) mutated valid messages never make a decoder throw;
 *  (d) every strict prefix of a valid message (generated ones and those of a real exchange) is a typed error;
 *      a NEGOTIATE without payload is the exception: 32 bytes are a complete (pre-VERSION) NEGOTIATE.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Credentials } from '../../../core/ntlm/auth';
import { readAll, readTlv } from '../../../core/ntlm/der';
import {
  Flag,
  decodeAuthenticate,
  decodeAvPairs,
  decodeChallenge,
  decodeNegotiate,
  encodeAuthenticate,
  encodeAvPairs,
  encodeChallenge,
  encodeNegotiate,
} from '../../../core/ntlm/messages';
import { NtlmClientProvider, NtlmServerProvider, SpnegoClientProvider, SpnegoServerProvider } from '../../../core/ntlm/providers';
import { decodeNegTokenInit, decodeNegTokenResp, encodeMechTypeList, encodeNegTokenInit, encodeNegTokenResp } from '../../../core/ntlm/spnego';
import { isWellFormedResult } from '../codec/helpers';
import { bytes, u32 } from '../../fuzz/arbitraries/common';
import { authenticate, avPairs, challenge, encoded, negTokenInit, negTokenResp, negotiate } from '../../fuzz/arbitraries/ntlm';

const RUNS = { numRuns: 400 };
// Arbitraries: test/fuzz/arbitraries/ntlm.ts (shared with the fuzz target table).
function decodeAll(buf: Buffer): unknown[] {
  return [decodeNegotiate(buf), decodeChallenge(buf), decodeAuthenticate(buf), decodeAvPairs(buf), decodeNegTokenInit(buf), decodeNegTokenResp(buf), readTlv(buf), readAll(buf)];
}

const NOW = Date.UTC(2026, 0, 1);
const clientOpts = { credentials: new Credentials({ domain: 'D', user: 'u', password: 'p' }), clientChallenge: Buffer.alloc(8, 1), exportedSessionKey: Buffer.alloc(16, 2), nowMs: NOW };
const serverOpts = { serverChallenge: Buffer.alloc(8, 3), nowMs: NOW, computerName: 'S', domainName: 'D', accounts: [clientOpts.credentials], allowAnonymous: true };

describe('(a) arbitrary bytes never throw', () => {
  it('uniform random bytes', () => {
    fc.assert(
      fc.property(bytes(400), (buf) => {
        for (const r of decodeAll(buf)) expect(isWellFormedResult(r)).toBe(true);
      }),
      { numRuns: 1000 },
    );
  });
  it('random bytes behind a valid NTLMSSP header of each type, or behind a SPNEGO tag', () => {
    const head = fc.oneof(
      fc.constantFrom(1, 2, 3).map((t) => Buffer.concat([Buffer.from('NTLMSSP\0', 'latin1'), Buffer.from([t, 0, 0, 0])])),
      fc.constantFrom(0x60, 0xa0, 0xa1, 0x30).map((t) => Buffer.from([t])),
    );
    fc.assert(
      fc.property(head, bytes(200), (h, tail) => {
        for (const r of decodeAll(Buffer.concat([h, tail]))) expect(isWellFormedResult(r)).toBe(true);
      }),
      { numRuns: 1000 },
    );
  });
  it('providers of both roles answer random tokens with a TokenStep, never a throw', () => {
    fc.assert(
      fc.property(bytes(300), bytes(300), (t1, t2) => {
        const clients = [new NtlmClientProvider(clientOpts), new SpnegoClientProvider(clientOpts)];
        for (const c of clients) {
          c.initialToken();
          for (const t of [t1, t2]) expect(typeof c.handleServerToken(t).ok).toBe('boolean');
        }
        const servers = [new NtlmServerProvider(serverOpts), new SpnegoServerProvider(serverOpts)];
        for (const s of servers) for (const t of [t1, t2]) expect(typeof s.handleClientToken(t).ok).toBe('boolean');
      }),
      RUNS,
    );
  });
});

describe('(b) round trips', () => {
  it('NEGOTIATE_MESSAGE', () => {
    fc.assert(
      fc.property(negotiate, (m) => {
        expect(decodeNegotiate(encodeNegotiate(m))).toEqual({ ok: true, value: m });
      }),
      RUNS,
    );
  });
  it('CHALLENGE_MESSAGE', () => {
    fc.assert(
      fc.property(challenge, (m) => {
        expect(decodeChallenge(encodeChallenge(m))).toEqual({ ok: true, value: m });
      }),
      RUNS,
    );
  });
  it('AUTHENTICATE_MESSAGE (with and without MIC field)', () => {
    fc.assert(
      fc.property(authenticate, (m) => {
        expect(decodeAuthenticate(encodeAuthenticate(m))).toEqual({ ok: true, value: m });
      }),
      RUNS,
    );
  });
  it('AV_PAIR list', () => {
    fc.assert(
      fc.property(avPairs, (p) => {
        expect(decodeAvPairs(encodeAvPairs(p))).toEqual({ ok: true, value: p });
      }),
      RUNS,
    );
  });
  it('SPNEGO negTokenInit (short and long DER lengths)', () => {
    fc.assert(
      fc.property(negTokenInit, (t) => {
        const want = { mechTypes: t.mechTypes, mechTypesDer: encodeMechTypeList(t.mechTypes), ...(t.mechToken ? { mechToken: t.mechToken } : {}), ...(t.mechListMIC ? { mechListMIC: t.mechListMIC } : {}) };
        expect(decodeNegTokenInit(encodeNegTokenInit(t))).toEqual({ ok: true, value: want });
      }),
      RUNS,
    );
  });
  it('SPNEGO negTokenResp', () => {
    fc.assert(
      fc.property(negTokenResp, (t) => {
        expect(decodeNegTokenResp(encodeNegTokenResp(t))).toEqual({ ok: true, value: t });
      }),
      RUNS,
    );
  });
});

describe('(c) mutated valid messages never throw', () => {
  it('byte flips, truncations and insertions', () => {
    fc.assert(
      fc.property(encoded, fc.array(fc.tuple(fc.nat(), u32), { minLength: 1, maxLength: 6 }), fc.nat(), (wire, flips, cut) => {
        const m = Buffer.from(wire);
        for (const [at, v] of flips) if (m.length) m[at % m.length] = v & 0xff;
        for (const b of [m, m.subarray(0, m.length ? cut % m.length : 0), Buffer.concat([m, Buffer.from([0, 0x81, 0xff])])]) {
          for (const r of decodeAll(b)) expect(isWellFormedResult(r)).toBe(true);
        }
      }),
      RUNS,
    );
  });
});

describe('(d) every strict prefix is a typed error', () => {
  function prefixesFail(wire: Buffer, decode: (b: Buffer) => unknown, completeFrom = wire.length): void {
    for (let n = 0; n < wire.length; n++) {
      const r = decode(wire.subarray(0, n)) as { ok: boolean };
      expect(isWellFormedResult(r)).toBe(true);
      expect(r.ok, `prefix of ${n}/${wire.length} bytes`).toBe(n >= completeFrom);
    }
  }
  it('generated NEGOTIATE / CHALLENGE / AUTHENTICATE with a non-empty last payload field', () => {
    fc.assert(
      fc.property(challenge, authenticate, (c, a) => {
        prefixesFail(encodeChallenge({ ...c, flags: c.flags | Flag.TARGET_INFO, targetInfo: c.targetInfo }), decodeChallenge);
        prefixesFail(encodeAuthenticate({ ...a, flags: a.flags | Flag.KEY_EXCH, encryptedRandomSessionKey: Buffer.alloc(16, 9) }), decodeAuthenticate);
        prefixesFail(encodeNegotiate({ flags: Flag.OEM_WORKSTATION_SUPPLIED, domain: '', workstation: 'WS' }), decodeNegotiate);
      }),
      { numRuns: 30 },
    );
  });
  it('generated SPNEGO tokens and AV_PAIR lists', () => {
    fc.assert(
      fc.property(negTokenInit, negTokenResp, avPairs, (i, r, p) => {
        prefixesFail(encodeNegTokenInit(i), decodeNegTokenInit);
        prefixesFail(encodeNegTokenResp(r), decodeNegTokenResp);
        prefixesFail(encodeAvPairs(p), decodeAvPairs);
      }),
      { numRuns: 30 },
    );
  });
  it('the tokens of a real exchange (both auth types)', () => {
    for (const [C, S] of [
      [NtlmClientProvider, NtlmServerProvider],
      [SpnegoClientProvider, SpnegoServerProvider],
    ] as const) {
      const c = new C(clientOpts);
      const s = new S(serverOpts);
      const t1 = c.initialToken();
      const r1 = s.handleClientToken(t1);
      if (!r1.ok || !r1.token) throw new Error('exchange');
      const r2 = c.handleServerToken(r1.token);
      if (!r2.ok || !r2.token) throw new Error('exchange');
      const isSpnego = C === SpnegoClientProvider;
      if (isSpnego) prefixesFail(t1, decodeNegTokenInit);
      else prefixesFail(t1, decodeNegotiate, 32);
      prefixesFail(r1.token, isSpnego ? decodeNegTokenResp : decodeChallenge);
      prefixesFail(r2.token, isSpnego ? decodeNegTokenResp : decodeAuthenticate);
    }
  });
});
