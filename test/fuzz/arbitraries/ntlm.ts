/** Arbitraries for the NTLM (MS-NLMP 2.2) and SPNEGO (RFC 4178) codecs. */
import fc from 'fast-check';
import { AuthenticateMessage, AvPair, ChallengeMessage, Flag, NegotiateMessage, encodeAuthenticate, encodeAvPairs, encodeChallenge, encodeNegotiate } from '../../../core/ntlm/messages';
import { NegTokenResp, encodeNegTokenInit, encodeNegTokenResp } from '../../../core/ntlm/spnego';
import { bytes, u32 } from './common';

const latin1 = fc.array(fc.integer({ min: 0, max: 0xff }), { maxLength: 20 }).map((cs) => String.fromCharCode(...cs));
const utf16 = fc.array(fc.integer({ min: 1, max: 0xd7ff }), { maxLength: 20 }).map((cs) => String.fromCharCode(...cs));
const version = bytes(8, 8);
export const avPairs: fc.Arbitrary<AvPair[]> = fc.array(fc.record({ id: fc.integer({ min: 1, max: 0xffff }), value: bytes(40) }), { maxLength: 6 });

export const negotiate: fc.Arbitrary<NegotiateMessage> = fc.record({ flags: u32, domain: latin1, workstation: latin1, version }).map((m) => ({
  flags: m.flags,
  domain: m.flags & Flag.OEM_DOMAIN_SUPPLIED ? m.domain : '',
  workstation: m.flags & Flag.OEM_WORKSTATION_SUPPLIED ? m.workstation : '',
  ...(m.flags & Flag.VERSION ? { version: m.version } : {}),
}));

export const challenge: fc.Arbitrary<ChallengeMessage> = fc
  .record({ flags: u32, latin: latin1, wide: utf16, serverChallenge: bytes(8, 8), targetInfo: avPairs, version })
  .map((m) => ({
    flags: m.flags,
    targetName: m.flags & Flag.UNICODE ? m.wide : m.latin,
    serverChallenge: m.serverChallenge,
    targetInfo: m.flags & Flag.TARGET_INFO ? m.targetInfo : [],
    ...(m.flags & Flag.VERSION ? { version: m.version } : {}),
  }));

export const authenticate: fc.Arbitrary<AuthenticateMessage> = fc
  .record({
    flags: u32,
    lm: bytes(24),
    nt: bytes(120),
    names: fc.tuple(latin1, latin1, latin1),
    wnames: fc.tuple(utf16, utf16, utf16),
    key: bytes(16),
    version,
    mic: fc.option(bytes(16, 16), { nil: undefined }),
  })
  .map((m) => {
    const [domain, user, workstation] = m.flags & Flag.UNICODE ? m.wnames : m.names;
    return {
      flags: m.flags,
      lmChallengeResponse: m.lm,
      ntChallengeResponse: m.nt,
      domain,
      user,
      workstation,
      encryptedRandomSessionKey: m.flags & Flag.KEY_EXCH ? m.key : Buffer.alloc(0),
      ...(m.flags & Flag.VERSION ? { version: m.version } : {}),
      ...(m.mic ? { mic: m.mic } : {}),
    };
  });

const oid = bytes(12, 1);
export const negTokenInit = fc.record({
  mechTypes: fc.array(oid, { maxLength: 4 }),
  mechToken: fc.option(bytes(300), { nil: undefined }),
  mechListMIC: fc.option(bytes(16), { nil: undefined }),
});
export const negTokenResp: fc.Arbitrary<NegTokenResp> = fc
  .record({
    negState: fc.option(fc.integer({ min: 0, max: 3 }), { nil: undefined }),
    supportedMech: fc.option(oid, { nil: undefined }),
    responseToken: fc.option(bytes(300), { nil: undefined }),
    mechListMIC: fc.option(bytes(16), { nil: undefined }),
  })
  .map((r) => Object.fromEntries(Object.entries(r).filter(([, v]) => v !== undefined)) as NegTokenResp);

export const encoded = fc.oneof(
  negotiate.map(encodeNegotiate),
  challenge.map(encodeChallenge),
  authenticate.map(encodeAuthenticate),
  avPairs.map(encodeAvPairs),
  negTokenInit.map((t) => encodeNegTokenInit(t)),
  negTokenResp.map(encodeNegTokenResp),
);
