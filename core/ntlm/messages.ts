/**
 * NTLMSSP messages (MS-NLMP 2.2): NEGOTIATE, CHALLENGE, AUTHENTICATE and the AV_PAIR list of target info.
 * Little-endian throughout. Decoders never throw: a short or inconsistent message becomes a typed DecodeError.
 * Payload fields are located by their offsets (any order, any padding, 2.2.1), so the decoders accept what
 * Windows, Samba and impacket each lay out; the encoders lay out Domain, User, Workstation, LM, NT, session key
 * after the fixed part, which is the order of the MS-NLMP 4.2.4 example.
 */
import { Decoded, ShortRead, guard, ok } from '../codec/bytes';

/** NEGOTIATE flags (2.2.2.5). */
export const Flag = {
  UNICODE: 0x00000001,
  OEM: 0x00000002,
  REQUEST_TARGET: 0x00000004,
  SIGN: 0x00000010,
  SEAL: 0x00000020,
  LM_KEY: 0x00000080,
  NTLM: 0x00000200,
  ANONYMOUS: 0x00000800,
  OEM_DOMAIN_SUPPLIED: 0x00001000,
  OEM_WORKSTATION_SUPPLIED: 0x00002000,
  ALWAYS_SIGN: 0x00008000,
  TARGET_TYPE_DOMAIN: 0x00010000,
  TARGET_TYPE_SERVER: 0x00020000,
  EXTENDED_SESSIONSECURITY: 0x00080000,
  TARGET_INFO: 0x00800000,
  VERSION: 0x02000000,
  NEGOTIATE_128: 0x20000000,
  KEY_EXCH: 0x40000000,
  NEGOTIATE_56: 0x80000000,
} as const;

/** AV_PAIR ids (2.2.2.1). */
export const AvId = {
  EOL: 0,
  NB_COMPUTER_NAME: 1,
  NB_DOMAIN_NAME: 2,
  DNS_COMPUTER_NAME: 3,
  DNS_DOMAIN_NAME: 4,
  DNS_TREE_NAME: 5,
  FLAGS: 6,
  TIMESTAMP: 7,
  SINGLE_HOST: 8,
  TARGET_NAME: 9,
  CHANNEL_BINDINGS: 10,
} as const;

/** MsvAvFlags bit: the AUTHENTICATE carries a MIC. */
export const AV_FLAG_MIC = 0x2;

export interface AvPair {
  id: number;
  value: Buffer;
}

export interface NegotiateMessage {
  flags: number;
  /** OEM domain name; read only when OEM_DOMAIN_SUPPLIED is set. */
  domain: string;
  /** OEM workstation name; read only when OEM_WORKSTATION_SUPPLIED is set. */
  workstation: string;
  /** 8-byte VERSION; present only when the VERSION flag is set. */
  version?: Buffer;
}

export interface ChallengeMessage {
  flags: number;
  targetName: string;
  serverChallenge: Buffer;
  /** AV pairs without the terminating MsvAvEOL; empty unless TARGET_INFO is set. */
  targetInfo: AvPair[];
  version?: Buffer;
}

export interface AuthenticateMessage {
  flags: number;
  lmChallengeResponse: Buffer;
  ntChallengeResponse: Buffer;
  domain: string;
  user: string;
  workstation: string;
  /** Empty unless KEY_EXCH is set. */
  encryptedRandomSessionKey: Buffer;
  version?: Buffer;
  /** The 16-byte MIC field, when the layout leaves room for one (payload starts at 88 or later). */
  mic?: Buffer;
}

const SIGNATURE = Buffer.from('NTLMSSP\0', 'latin1');
const EMPTY = Buffer.alloc(0);
/** Offset of the AUTHENTICATE MIC field (after the 64-byte fixed part and the 8-byte VERSION). */
export const MIC_OFFSET = 72;

// ---------------------------------------------------------------------------------------------------------------
// Reading
// ---------------------------------------------------------------------------------------------------------------

function need(buf: Buffer, end: number, what: string): void {
  if (buf.length < end) throw new ShortRead('truncated', `${what} needs ${end} bytes, message has ${buf.length}`);
}

function header(buf: Buffer, type: number, fixed: number, what: string): void {
  need(buf, 12, what);
  if (!buf.subarray(0, 8).equals(SIGNATURE)) throw new ShortRead('bad-magic', `${what}: signature is not "NTLMSSP\\0"`);
  const t = buf.readUInt32LE(8);
  if (t !== type) throw new ShortRead('bad-value', `${what}: MessageType ${t}, expected ${type}`);
  need(buf, fixed, what);
}

interface FieldRef {
  len: number;
  off: number;
}

function fieldRef(buf: Buffer, at: number): FieldRef {
  return { len: buf.readUInt16LE(at), off: buf.readUInt32LE(at + 4) };
}

function fieldBytes(buf: Buffer, f: FieldRef, name: string): Buffer {
  if (f.len === 0) return EMPTY;
  if (f.off + f.len > buf.length) {
    throw new ShortRead('bad-length', `${name}: ${f.len} bytes at offset ${f.off} run past the ${buf.length}-byte message`);
  }
  return buf.subarray(f.off, f.off + f.len);
}

function text(b: Buffer, unicode: boolean, name: string): string {
  if (!unicode) return b.toString('latin1');
  if (b.length % 2 !== 0) throw new ShortRead('bad-length', `${name}: odd length ${b.length} for a Unicode string`);
  return b.toString('utf16le');
}

/** Lowest offset of a non-empty payload field (where the fixed part must end), or the message length. */
function payloadStart(buf: Buffer, fields: FieldRef[]): number {
  let low = buf.length;
  for (const f of fields) if (f.len > 0 && f.off < low) low = f.off;
  return low;
}

/** AV_PAIR list (2.2.2.1): stops at MsvAvEOL, which must be present; bytes after it are ignored. */
export function decodeAvPairs(buf: Buffer): Decoded<AvPair[]> {
  return guard('AV_PAIR list', () => {
    const pairs: AvPair[] = [];
    let pos = 0;
    for (;;) {
      if (pos + 4 > buf.length) throw new ShortRead('truncated', `AV_PAIR header at ${pos}: list ends without MsvAvEOL`);
      const id = buf.readUInt16LE(pos);
      const len = buf.readUInt16LE(pos + 2);
      pos += 4;
      if (id === AvId.EOL) return ok(pairs);
      if (pos + len > buf.length) throw new ShortRead('bad-length', `AV_PAIR ${id}: ${len} bytes, ${buf.length - pos} left`);
      pairs.push({ id, value: buf.subarray(pos, pos + len) });
      pos += len;
    }
  });
}

export function decodeNegotiate(buf: Buffer): Decoded<NegotiateMessage> {
  return guard('NEGOTIATE_MESSAGE', () => {
    header(buf, 1, 32, 'NEGOTIATE_MESSAGE');
    const flags = buf.readUInt32LE(12);
    const dom = fieldRef(buf, 16);
    const ws = fieldRef(buf, 24);
    const live = [flags & Flag.OEM_DOMAIN_SUPPLIED ? dom : undefined, flags & Flag.OEM_WORKSTATION_SUPPLIED ? ws : undefined];
    const fields = live.filter((f): f is FieldRef => f !== undefined);
    const msg: NegotiateMessage = {
      flags,
      domain: live[0] ? fieldBytes(buf, live[0], 'DomainName').toString('latin1') : '',
      workstation: live[1] ? fieldBytes(buf, live[1], 'WorkstationName').toString('latin1') : '',
    };
    if (flags & Flag.VERSION && payloadStart(buf, fields) >= 40) msg.version = Buffer.from(buf.subarray(32, 40));
    return ok(msg);
  });
}

export function decodeChallenge(buf: Buffer): Decoded<ChallengeMessage> {
  return guard('CHALLENGE_MESSAGE', () => {
    header(buf, 2, 32, 'CHALLENGE_MESSAGE');
    const flags = buf.readUInt32LE(20);
    const unicode = (flags & Flag.UNICODE) !== 0;
    const name = fieldRef(buf, 12);
    const fields = [name];
    let targetInfo: AvPair[] = [];
    if (flags & Flag.TARGET_INFO) {
      need(buf, 48, 'CHALLENGE_MESSAGE with TargetInfo');
      const info = fieldRef(buf, 40);
      fields.push(info);
      const pairs = decodeAvPairs(fieldBytes(buf, info, 'TargetInfo'));
      if (!pairs.ok) throw new ShortRead(pairs.error.code, `TargetInfo: ${pairs.error.message}`);
      targetInfo = pairs.value.map((p) => ({ id: p.id, value: Buffer.from(p.value) }));
    }
    const msg: ChallengeMessage = {
      flags,
      targetName: text(Buffer.from(fieldBytes(buf, name, 'TargetName')), unicode, 'TargetName'),
      serverChallenge: Buffer.from(buf.subarray(24, 32)),
      targetInfo,
    };
    if (flags & Flag.VERSION && buf.length >= 56 && payloadStart(buf, fields) >= 56) msg.version = Buffer.from(buf.subarray(48, 56));
    return ok(msg);
  });
}

export function decodeAuthenticate(buf: Buffer): Decoded<AuthenticateMessage> {
  return guard('AUTHENTICATE_MESSAGE', () => {
    header(buf, 3, 64, 'AUTHENTICATE_MESSAGE');
    const flags = buf.readUInt32LE(60);
    const unicode = (flags & Flag.UNICODE) !== 0;
    const [lm, nt, dom, user, ws, key] = [12, 20, 28, 36, 44, 52].map((at) => fieldRef(buf, at)) as [FieldRef, FieldRef, FieldRef, FieldRef, FieldRef, FieldRef];
    const keyLive = (flags & Flag.KEY_EXCH) !== 0;
    const start = payloadStart(buf, keyLive ? [lm, nt, dom, user, ws, key] : [lm, nt, dom, user, ws]);
    const copy = (f: FieldRef, n: string) => Buffer.from(fieldBytes(buf, f, n));
    const msg: AuthenticateMessage = {
      flags,
      lmChallengeResponse: copy(lm, 'LmChallengeResponse'),
      ntChallengeResponse: copy(nt, 'NtChallengeResponse'),
      domain: text(copy(dom, 'DomainName'), unicode, 'DomainName'),
      user: text(copy(user, 'UserName'), unicode, 'UserName'),
      workstation: text(copy(ws, 'Workstation'), unicode, 'Workstation'),
      encryptedRandomSessionKey: keyLive ? copy(key, 'EncryptedRandomSessionKey') : Buffer.alloc(0),
    };
    if (flags & Flag.VERSION && start >= 72) msg.version = Buffer.from(buf.subarray(64, 72));
    if (start >= MIC_OFFSET + 16) msg.mic = Buffer.from(buf.subarray(MIC_OFFSET, MIC_OFFSET + 16));
    return ok(msg);
  });
}

// ---------------------------------------------------------------------------------------------------------------
// Writing
// ---------------------------------------------------------------------------------------------------------------

function encodeText(s: string, unicode: boolean): Buffer {
  return Buffer.from(s, unicode ? 'utf16le' : 'latin1');
}

/** Writes `parts` after a fixed part of `fixed` bytes and fills their (len, maxLen, offset) fields at `refs`. */
function assemble(fixed: Buffer, refs: number[], parts: Buffer[]): Buffer {
  let off = fixed.length;
  for (let i = 0; i < parts.length; i++) {
    const p = parts[i]!;
    if (p.length > 0xffff) throw new RangeError(`NTLM payload field of ${p.length} bytes exceeds 65535`);
    fixed.writeUInt16LE(p.length, refs[i]!);
    fixed.writeUInt16LE(p.length, refs[i]! + 2);
    fixed.writeUInt32LE(off, refs[i]! + 4);
    off += p.length;
  }
  return Buffer.concat([fixed, ...parts]);
}

function versionBytes(v: Buffer | undefined): Buffer {
  const out = Buffer.alloc(8);
  if (v) v.copy(out, 0, 0, 8);
  return out;
}

export function encodeAvPairs(pairs: AvPair[]): Buffer {
  const parts: Buffer[] = [];
  for (const p of pairs) {
    const h = Buffer.alloc(4);
    h.writeUInt16LE(p.id, 0);
    h.writeUInt16LE(p.value.length, 2);
    parts.push(h, p.value);
  }
  parts.push(Buffer.alloc(4)); // MsvAvEOL
  return Buffer.concat(parts);
}

export function encodeNegotiate(m: NegotiateMessage): Buffer {
  const fixed = Buffer.alloc(40);
  SIGNATURE.copy(fixed, 0);
  fixed.writeUInt32LE(1, 8);
  fixed.writeUInt32LE(m.flags >>> 0, 12);
  versionBytes(m.version).copy(fixed, 32);
  return assemble(fixed, [16, 24], [Buffer.from(m.domain, 'latin1'), Buffer.from(m.workstation, 'latin1')]);
}

export function encodeChallenge(m: ChallengeMessage): Buffer {
  const unicode = (m.flags & Flag.UNICODE) !== 0;
  const fixed = Buffer.alloc(56);
  SIGNATURE.copy(fixed, 0);
  fixed.writeUInt32LE(2, 8);
  fixed.writeUInt32LE(m.flags >>> 0, 20);
  m.serverChallenge.copy(fixed, 24, 0, 8);
  versionBytes(m.version).copy(fixed, 48);
  const info = m.flags & Flag.TARGET_INFO ? encodeAvPairs(m.targetInfo) : EMPTY;
  return assemble(fixed, [12, 40], [encodeText(m.targetName, unicode), info]);
}

/** With `mic` (16 bytes, zeros while the MIC is being computed) the fixed part is 88 bytes, otherwise 72. */
export function encodeAuthenticate(m: AuthenticateMessage): Buffer {
  const unicode = (m.flags & Flag.UNICODE) !== 0;
  const fixed = Buffer.alloc(m.mic ? MIC_OFFSET + 16 : MIC_OFFSET);
  SIGNATURE.copy(fixed, 0);
  fixed.writeUInt32LE(3, 8);
  fixed.writeUInt32LE(m.flags >>> 0, 60);
  versionBytes(m.version).copy(fixed, 64);
  if (m.mic) m.mic.copy(fixed, MIC_OFFSET, 0, 16);
  // Order of the MS-NLMP 4.2.4.3 example: Domain, User, Workstation, LM, NT, EncryptedRandomSessionKey.
  return assemble(
    fixed,
    [28, 36, 44, 12, 20, 52],
    [
      encodeText(m.domain, unicode),
      encodeText(m.user, unicode),
      encodeText(m.workstation, unicode),
      m.lmChallengeResponse,
      m.ntChallengeResponse,
      m.encryptedRandomSessionKey,
    ],
  );
}
