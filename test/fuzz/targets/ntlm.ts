/** Fuzz targets: NTLMSSP messages (MS-NLMP 2.2), the AV_PAIR list, SPNEGO tokens (RFC 4178) and their DER. */
import fc from 'fast-check';
import { readAll, readTlv } from '../../../core/ntlm/der';
import {
  AuthenticateMessage,
  AvPair,
  ChallengeMessage,
  NegotiateMessage,
  decodeAuthenticate,
  decodeAvPairs,
  decodeChallenge,
  decodeNegotiate,
  encodeAuthenticate,
  encodeAvPairs,
  encodeChallenge,
  encodeNegotiate,
} from '../../../core/ntlm/messages';
import { NegTokenInit, NegTokenResp, decodeNegTokenInit, decodeNegTokenResp, encodeMechTypeList, encodeNegTokenInit, encodeNegTokenResp } from '../../../core/ntlm/spnego';
import { bytes } from '../arbitraries/common';
import { authenticate, avPairs, challenge, negTokenInit, negTokenResp, negotiate } from '../arbitraries/ntlm';
import { Exemption, FuzzTarget, codecTarget, onlyAt } from '../target';

/** Random bytes behind a valid NTLMSSP signature and message type. */
const behindHeader = (type: number) => bytes(200).map((tail) => Buffer.concat([Buffer.from('NTLMSSP\0', 'latin1'), Buffer.from([type, 0, 0, 0]), tail]));
const der = [(b: Buffer) => readTlv(b), (b: Buffer) => readAll(b)];

/**
 * MS-NLMP 2.2: payload fields are found by their offsets, in any order and with any padding; Reserved fields,
 * MaxLen, and the fields a flag says are absent (Version without NEGOTIATE_VERSION, Domain/Workstation without their
 * OEM_*_SUPPLIED flag, target info without TARGET_INFO) are not read. Coarse: any x whose signature, type and value
 * equal y's.
 */
const ntlmLayout = { note: 'unlisted (MS-NLMP 2.2 payload layout, core/ntlm/messages.ts)', what: 'coarse: payload offsets, order, padding, MaxLen, Reserved, and fields their flag marks absent', applies: (x: Buffer, y: Buffer) => x.length >= 12 && x.subarray(0, 12).equals(y.subarray(0, 12)) };
/** AV_PAIRs after MsvAvEOL are not read (MS-NLMP 2.2.2.1: the list ends there). */
const avAfterEol = { note: 'unlisted (MS-NLMP 2.2.2.1)', what: "MsvAvEOL's AvLen and the bytes after it are not read", applies: (x: Buffer, y: Buffer) => x.length >= y.length && x.subarray(0, y.length - 4).equals(y.subarray(0, y.length - 4)) && x.readUInt16LE(y.length - 4) === 0 };
/** SPNEGO/DER: context-tagged fields the decoder does not know are skipped (RFC 4178 4.2), reqFlags is not read. */
const derLenient = onlyAt<unknown>('unlisted (RFC 4178 4.2.1/4.2.2; X.690)', 'coarse: unknown context tags skipped, reqFlags not read, BER length forms', () => true);
const derAny = { note: derLenient.note, what: derLenient.what, applies: () => true };
const exemptions: Exemption<unknown>[] = [ntlmLayout];
/**
 * NEGOTIATE_VERSION set in a message whose header ends before the Version field (pre-VERSION layout, accepted):
 * decoded without a version, re-encoded with a zero one.
 */
const noZeroVersion = <T extends { version?: Buffer }>(v: T): T => {
  if (!v.version || v.version.some((b) => b !== 0)) return v;
  const { version: _v, ...rest } = v;
  return rest as T;
};

const ntlmNegotiate = codecTarget<NegotiateMessage>({
  name: 'ntlm-negotiate',
  about: 'NTLMSSP NEGOTIATE_MESSAGE',
  messages: negotiate,
  encode: encodeNegotiate,
  decode: decodeNegotiate,
  normalize: noZeroVersion,
  exemptions,
  extra: [behindHeader(1)],
});
const ntlmChallenge = codecTarget<ChallengeMessage>({
  name: 'ntlm-challenge',
  about: 'NTLMSSP CHALLENGE_MESSAGE with its target info',
  messages: challenge,
  encode: encodeChallenge,
  decode: decodeChallenge,
  normalize: noZeroVersion,
  exemptions,
  extra: [behindHeader(2)],
});
const ntlmAuthenticate = codecTarget<AuthenticateMessage>({
  name: 'ntlm-authenticate',
  about: 'NTLMSSP AUTHENTICATE_MESSAGE, with and without MIC',
  messages: authenticate,
  encode: encodeAuthenticate,
  decode: decodeAuthenticate,
  normalize: noZeroVersion,
  exemptions,
  extra: [behindHeader(3)],
});
const ntlmAvPairs = codecTarget<AvPair[]>({
  name: 'ntlm-avpairs',
  about: 'NTLMSSP AV_PAIR list (MsvAvEOL-terminated)',
  messages: avPairs,
  encode: encodeAvPairs,
  decode: decodeAvPairs,
  exemptions: [avAfterEol],
});

const spnegoInit = codecTarget<{ mechTypes: Buffer[]; mechToken?: Buffer; mechListMIC?: Buffer }, NegTokenInit>({
  name: 'spnego-init',
  about: 'SPNEGO negTokenInit in its GSS-API framing; DER readTlv/readAll never throw',
  messages: negTokenInit,
  encode: (m) => encodeNegTokenInit(m),
  decode: decodeNegTokenInit,
  expected: (t) => ({ mechTypes: t.mechTypes, mechTypesDer: encodeMechTypeList(t.mechTypes), ...(t.mechToken ? { mechToken: t.mechToken } : {}), ...(t.mechListMIC ? { mechListMIC: t.mechListMIC } : {}) }),
  reencode: (v) => encodeNegTokenInit(v),
  exemptions: [derAny],
  alsoNeverThrow: der,
  extra: [fc.tuple(fc.constantFrom(0x60, 0xa0, 0xa1, 0x30), bytes(200)).map(([t, tail]) => Buffer.concat([Buffer.from([t]), tail]))],
});
const spnegoResp = codecTarget<NegTokenResp>({
  name: 'spnego-resp',
  about: 'SPNEGO negTokenResp; DER readTlv/readAll never throw',
  messages: negTokenResp,
  encode: encodeNegTokenResp,
  decode: decodeNegTokenResp,
  exemptions: [derAny],
  alsoNeverThrow: der,
  extra: [fc.tuple(fc.constantFrom(0xa1, 0x30), bytes(200)).map(([t, tail]) => Buffer.concat([Buffer.from([t]), tail]))],
});

export const ntlmTargets: FuzzTarget[] = [ntlmNegotiate, ntlmChallenge, ntlmAuthenticate, ntlmAvPairs, spnegoInit, spnegoResp] as FuzzTarget[];
