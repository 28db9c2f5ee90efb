/** Fuzz targets: the MS-WDSMT codec (NONE/CHECKSUM, and the keyed HASH and SIGN decodes), MS-WDSMA and MS-WDSMSI. */
import { generateKeyPairSync } from 'node:crypto';
import fc from 'fast-check';
import { readWstring, readUintBE } from '../../../core/codec/bytes';
import { MaPacket, decodeMa, encodeMa, peekData, MaOp } from '../../../core/codec/ma';
import { MsiOpt, MsiPacket, decodeMsi, decodeMsiRaw, encodeMsiError, encodeMsiReply, encodeMsiRequest } from '../../../core/codec/msi';
import { MtPacket, Op, Sec, checksum, decodeMt, encodeMt } from '../../../core/codec/mt';
import { HmacAuth, PacketAuth, RsaAuth } from '../../../core/codec/mt-security';
import { bytes, isWellFormedResult, u16, u32 } from '../arbitraries/common';
import { MtCase, encodeCase, expectedPacket, maPacket, msiError, msiReply, msiRequest, mtCase } from '../arbitraries/codec';
import { Exemption, FuzzTarget, assert, codecTarget, same } from '../target';

type From = 'client' | 'server';
interface MtMsg {
  c: MtCase;
}
const mtMsg = (sec: fc.Arbitrary<number>) => fc.tuple(mtCase, sec).map(([c, secMode]) => ({ c: { ...c, secMode: secMode as MtCase['secMode'] } }));

const TWO53 = 2 ** 53;
const reencodeMt = (v: MtPacket, auth?: PacketAuth) =>
  encodeMt(v.body, { secMode: v.secType as MtCase['secMode'], sessionId: v.sessionId, senderTime: v.senderTime, options: v.options, emptyOptions: v.optionsPresent, ...(auth ? { auth } : {}) });

/** Offsets (from the Session Header) of the 8-byte fields read as doubles (Reader.u64f): SenderTime, LossRate. */
function u64fFields(op: number): number[] {
  const body = 13;
  const loss = op === Op.QCR ? 30 : op === Op.ACK ? 28 : op === Op.NACK ? 12 : -1;
  return loss < 0 ? [5] : [5, body + loss];
}

/**
 * The non-canonical MT forms the decoder accepts. `sd` is where the Session Header starts in x (the SecurityData
 * bytes differ whenever anything after them does: they are masked by comparing from the Session Header on, and the
 * checksum or seal of y is the encoder's, checked by decoding y).
 */
function mtExemptions(seal?: PacketAuth): Exemption<MtPacket>[] {
  const sessionStart = (x: Buffer) => 5 + x.readUInt16BE(3);
  const diffs = (x: Buffer, y: Buffer): number[] | undefined => {
    const a = x.subarray(sessionStart(x));
    const b = y.subarray(sessionStart(y));
    if (a.length !== b.length) return undefined;
    const out: number[] = [];
    for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) out.push(i);
    return out;
  };
  // One exemption for the three forms together (a mutation may hit several): every differing byte of the Session
  // Header on must be explained by one of them; the label names those used.
  const forms: Exemption<MtPacket> = {
    note: '#3 / unlisted',
    what: 'see the labels',
    applies: (x, y, v) => {
      const d = diffs(x, y);
      if (!d?.length) return false;
      const s = x.subarray(sessionStart(x));
      const wide = u64fFields(v.body.op).filter((f) => f + 8 <= s.length && s.readUInt32BE(f) * 2 ** 32 + s.readUInt32BE(f + 4) >= TWO53);
      const used = new Set<string>();
      for (const i of d) {
        if (i === 4 && v.rawOpcode === 0x0c && v.body.op === Op.POLLACK) used.add('#3: POLLACK as opcode 0x0C from a client');
        else if (wide.some((f) => i >= f && i < f + 8)) used.add('unlisted (MS-WDSMT 2.2 u64 fields; core/codec/bytes.ts u64f): SenderTime and LossRate read as doubles, a value >= 2^53 loses its low bits');
        else if (v.body.op === Op.JOIN && i >= 13 && i < 45) used.add('unlisted (MS-WDSMT 2.2.5 ClientName, 32 bytes): the bytes after its first null are not read');
        else return false;
      }
      return [...used].sort().join(' + ');
    },
  };
  return [
    forms,
    ...(seal
      ? [
          {
            note: seal.mode === Sec.HASH ? '#39' : '#42',
            what: seal.mode === Sec.HASH ? 'HASH as one HMAC over the packet (the second reading)' : 'SIGN with the signature big-endian',
            applies: (x: Buffer, y: Buffer) => diffs(x, y)?.length === 0 && x.readUInt16BE(3) === y.readUInt16BE(3),
          },
        ]
      : []),
  ];
}

/**
 * NONE and CHECKSUM, decoded as from the server (every body decodes as itself). The same input decoded as from a
 * client differs at most in the 0x0C opcode, which a client's packet means POLLACK by (protocol-notes #3).
 */
const mt = codecTarget<MtMsg, MtPacket>({
  name: 'mt',
  about: 'MS-WDSMT codec, NONE and CHECKSUM, every opcode, decoded with each direction',
  messages: mtMsg(fc.constantFrom(Sec.NONE, Sec.CHECKSUM)),
  encode: (m) => encodeCase(m.c),
  decode: (b) => decodeMt(b, { from: 'server' }),
  expected: (m) => expectedPacket(m.c),
  reencode: (v) => reencodeMt(v),
  normalize: (v) => ({ ...v, rawOpcode: v.body.op }), // #3: a 0x0C POLLACK re-encodes as 0x0D
  exemptions: mtExemptions(),
  also: (x, r) => {
    const c = decodeMt(x, { from: 'client' });
    assert(isWellFormedResult(c) && isWellFormedResult(decodeMt(x)), 'decoding from a client or with no direction gave a malformed result', { input: x });
    if (c.ok !== r.ok) assert(x[5 + x.readUInt16BE(3) + 4] === 0x0c, 'the direction changed whether a packet other than 0x0C decodes', { input: x });
    if (c.ok && r.ok && !same(c.value, r.value)) {
      assert(r.value.rawOpcode === 0x0c && r.value.body.op === Op.POLL && c.value.body.op === Op.POLLACK, 'from a client the packet decodes otherwise, and not by #3', { input: x, client: c.value, server: r.value });
    }
  },
  extra: [
    // random bodies behind a valid security header (NONE, or CHECKSUM with a correct checksum)
    fc.tuple(fc.constantFrom(0x00, 0x03), u32, fc.integer({ min: 0, max: 0x10 }), bytes(8, 8), bytes(150)).map(([sec, sid, op, time, rest]) => {
      const head = Buffer.alloc(sec === 3 ? 9 : 5);
      head.write('WD', 0, 'latin1');
      head[2] = sec;
      head.writeUInt16BE(sec === 3 ? 4 : 0, 3);
      const session = Buffer.alloc(5);
      session.writeUInt32BE(sid, 0);
      session[4] = op;
      const b = Buffer.concat([head, session, time, rest]);
      if (sec === 3) b.writeUInt32BE(checksum(b, 9), 5);
      return b;
    }),
  ],
});

/** A keyed target: the seal that sends, the key that checks, and a second sealer for the other accepted form. */
function keyedTarget(name: string, about: string, seal: PacketAuth, check: PacketAuth, other: PacketAuth, from: From): FuzzTarget {
  const base = codecTarget<MtMsg, MtPacket>({
    name,
    about,
    messages: mtMsg(fc.constant(seal.mode)).filter((m) => !(from === 'client' && m.c.body.op === Op.POLL)), // a client's 0x0C is POLLACK (#3)
    encode: (m) => encodeMt(m.c.body, { secMode: seal.mode, sessionId: m.c.sessionId, senderTime: m.c.senderTime, options: m.c.options, emptyOptions: m.c.emptyOptions, auth: seal }),
    decode: (b) => decodeMt(b, { from, auth: check }),
    expected: (m) => ({ ...expectedPacket(m.c), secType: seal.mode }),
    reencode: (v) => reencodeMt(v, seal),
    normalize: (v) => ({ ...v, rawOpcode: v.body.op }), // #3: a 0x0C POLLACK re-encodes as 0x0D
    exemptions: mtExemptions(seal),
    extra: [
      // the other accepted form (#39 / #42), which no mutation can reach without the key
      mtCase.map((c) => encodeMt(c.body, { secMode: seal.mode, sessionId: c.sessionId, senderTime: c.senderTime, options: c.options, emptyOptions: c.emptyOptions, auth: other })),
      // arbitrary bodies behind a HASH or SIGN header of any length
      fc.tuple(fc.integer({ min: 0, max: 300 }), bytes(300)).map(([len, rest]) => {
        const head = Buffer.alloc(5);
        head.write('WD', 0, 'latin1');
        head[2] = seal.mode;
        head.writeUInt16BE(len, 3);
        return Buffer.concat([head, rest]);
      }),
    ],
    also: (x, r) => {
      // a keyed decode accepts nothing but packets sealed with the key (none of the mutations forges one)
      if (r.ok) assert(r.value.secType === seal.mode, 'a keyed decode accepted a packet of another security type', { input: x });
    },
  });
  return base as FuzzTarget;
}

const HMAC_KEY = Buffer.alloc(24, 0x2f);
/** 512 bits: the smallest key a SHA-256 PKCS#1 v1.5 signature fits; signing is what this target spends its time on. */
const RSA = generateKeyPairSync('rsa', { modulusLength: 512 });
const mtHash = keyedTarget('mt-hash', 'MS-WDSMT HASH packets (HMAC-SHA-256), keyed decode from a client', new HmacAuth(HMAC_KEY, 'sha256'), new HmacAuth(HMAC_KEY, 'sha256'), new HmacAuth(HMAC_KEY, 'sha256', 'direct'), 'client');
const mtSign = keyedTarget('mt-sign', 'MS-WDSMT SIGN packets (RSA-512 PKCS#1 v1.5, SHA-256), keyed decode from the server', new RsaAuth(RSA.privateKey, 'sha256'), new RsaAuth(RSA.publicKey, 'sha256'), new RsaAuth(RSA.privateKey, 'sha256', 'big-endian'), 'server');

const ma = codecTarget<MaPacket>({
  name: 'ma',
  about: 'MS-WDSMA codec (SRVCIR, CNTCIR, DATA, PROGRESS); peekData agrees with decodeMa',
  messages: maPacket,
  encode: encodeMa,
  decode: decodeMa,
  exemptions: [{ note: '#9', what: 'Packet-Size not counting the 3-byte header', applies: (x, y) => x.length === y.length && x.readUInt16BE(0) === x.length - 3 && x.subarray(2).equals(y.subarray(2)) }],
  extra: [
    fc.tuple(fc.boolean(), fc.integer({ min: 0, max: 6 }), bytes(120)).map(([counting, op, rest]) => {
      const b = Buffer.concat([Buffer.from([0, 0, op]), rest]);
      b.writeUInt16BE(counting ? b.length : b.length - 3, 0);
      return b;
    }),
  ],
  also: (x, r) => {
    const out = { dataStart: -1, dataLen: -1 };
    const n = peekData(x, out);
    if (r.ok && r.value.op === MaOp.DATA) {
      assert(n === r.value.blockNumber && x.subarray(out.dataStart, out.dataStart + out.dataLen).equals(r.value.data), 'peekData disagrees with decodeMa on a DATA packet', { input: x, n });
    } else assert(n < 0, 'peekData took what decodeMa refuses', { input: x, n });
  },
});

const NUMERIC = new Set<number>([MsiOpt.MULTICAST_PORT, MsiOpt.SERVER_PORT, MsiOpt.CONTENT_SIZE, MsiOpt.BLOCK_SIZE, MsiOpt.TOTAL_BLOCKS, MsiOpt.SESSION_ID, MsiOpt.ERROR, MsiOpt.IPV6_CAPABLE]);
const STRINGS = new Set<number>([MsiOpt.NAMESPACE, MsiOpt.CONTENT]);

/**
 * MSI: the differences between x and encode(decode(x)), option by option, each named: #13 (numeric widths, strings
 * with or without the null), or unlisted ones (options the decoder does not read, repeats, order).
 */
function msiExplained(x: Buffer, y: Buffer): boolean {
  const rx = decodeMsiRaw(x);
  const ry = decodeMsiRaw(y);
  if (!rx.ok || !ry.ok || rx.value.opcode !== ry.value.opcode) return false;
  for (const o of ry.value.options) {
    const first = rx.value.options.find((p) => p.id === o.id);
    if (!first) {
      // IPV6_CAPABLE: x had none of width >= 1 read... the encoder writes the value it read; absent in x is a bug
      return false;
    }
    if (first.value.equals(o.value)) continue;
    if (NUMERIC.has(o.id) && o.id !== MsiOpt.IPV6_CAPABLE && readUintBE(first.value) === readUintBE(o.value)) continue;
    if (o.id === MsiOpt.IPV6_CAPABLE && (readUintBE(first.value) === 1) === (readUintBE(o.value) === 1)) continue;
    if (STRINGS.has(o.id) && readWstring(first.value) === readWstring(o.value)) continue;
    return false;
  }
  return true;
}

const msiPacket: fc.Arbitrary<MsiPacket> = fc.oneof(
  msiRequest.map((r) => ({ kind: 'request' as const, ...r })),
  msiReply.map((r) => ({ kind: 'reply' as const, ...r })),
  msiError.map((e) => ({ kind: 'error' as const, ...e })),
);
const encodeMsi = (p: MsiPacket) => (p.kind === 'request' ? encodeMsiRequest(p) : p.kind === 'reply' ? encodeMsiReply(p) : encodeMsiError(p.win32, p.opcode));

const msi = codecTarget<MsiPacket>({
  name: 'msi',
  about: 'MS-WDSMSI codec over UDP (request, reply, error)',
  messages: msiPacket,
  encode: encodeMsi,
  decode: decodeMsi,
  exemptions: [
    {
      note: '#13, #4 + unlisted (options the decoder does not read, repeats after the first, any order)',
      what: 'numeric options of any width 1..8, strings with or without their null; other options ignored',
      applies: (x, y) => msiExplained(x, y),
    },
  ],
  extra: [
    // well-formed option framing, random ids (mostly the known ones) and values
    fc.tuple(fc.integer({ min: 0, max: 4 }), fc.array(fc.tuple(fc.oneof(u16, fc.constantFrom(...NUMERIC, ...STRINGS, MsiOpt.MAC_ADDRESS, MsiOpt.MULTICAST_ADDR, MsiOpt.SERVER_ADDR)), bytes(18)), { maxLength: 12 })).map(([op, opts]) => {
      const parts = [Buffer.from([op, opts.length >> 8, opts.length & 0xff])];
      for (const [id, v] of opts) parts.push(Buffer.from([id >> 8, id & 0xff, v.length >> 8, v.length & 0xff]), v);
      return Buffer.concat(parts);
    }),
  ],
});

export const mtTargets: FuzzTarget[] = [mt, mtHash, mtSign, ma, msi] as FuzzTarget[];
