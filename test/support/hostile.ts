/**
 * Hostile packets for a CHECKSUM session, one builder per kind of the report's `drops` (issue 11 point 3), shared by
 * the unit test (test/core/drops.test.ts: each kind moves exactly its own counter) and the lab's injector
 * (test/lab/forger.ts `--kinds`, live). Each is made from a real ODATA of the session (and, for `replayed`, the last
 * real SPM / QCC / POLL seen) and is meant to arrive from the server's own address, so it passes the source check
 * and reaches the check it is named for. `i` picks the variant (and varies the numbers), so no randomness is needed.
 *
 *   wrongSession   the ODATA re-sealed with another SessionId (valid checksum)
 *   wrongSecurity  the ODATA with security header NONE, or HASH with random SecurityData (no key for it)
 *   badChecksum    the ODATA with its Checksum field changed, or one payload byte changed
 *   truncated      the ODATA cut short anywhere before the end of its Data (checksum recomputed over what is left)
 *   badCount       an NCF whose RangeCount, or the ODATA whose OptionsCount, is larger than the packet (valid checksum)
 *   outOfRange     the ODATA carrying MS-WDSMA DATA for a block past the content: TotalBlocks + 1.., 2^40.., >= 2^53
 *   replayed       the last real SPM / QCC / POLL again, byte for byte (or, none seen yet, one with SeqNo 0)
 *   malformed      Identifier not "WD"; an unknown opcode; bytes after the options; MS-WDSMA DATA with a wrong Packet-Size
 */
import { MaOp, encodeMa } from '../../core/codec/ma';
import { MtBody, MtPacket, Op, Sec, checksum, decodeMt, encodeMt } from '../../core/codec/mt';

export const HOSTILE_KINDS = ['wrongSession', 'wrongSecurity', 'badChecksum', 'truncated', 'badCount', 'outOfRange', 'replayed', 'malformed'] as const;
export type HostileKind = (typeof HOSTILE_KINDS)[number];

export interface HostileContext {
  /** A real ODATA of the session as received (CHECKSUM), carrying MS-WDSMA DATA. */
  odata: Buffer;
  /** The content's TotalBlocks. */
  totalBlocks: number;
  /** The last real SPM, QCC and POLL the receiver has already taken (raw), by opcode. */
  control?: Partial<Record<typeof Op.SPM | typeof Op.QCC | typeof Op.POLL, Buffer>>;
}

/** Offsets in a CHECKSUM packet: SecurityData at 5..9, the Session Header from 9, the packet section from 22. */
const SEC_DATA = 5;
const SESSION = 9;
const BODY = SESSION + 13;
/** ODATA: ClientId(4) ODATASeqNo(8) TrailODATASeqNo(8) DataLen(2), then Data. */
const ODATA_DATA = BODY + 22;

/** Recomputes the CHECKSUM of a packet changed in place. */
function reseal(buf: Buffer): Buffer {
  if (buf.length >= BODY) buf.writeUInt32BE(checksum(buf, SESSION), SEC_DATA);
  return buf;
}

function realOdata(raw: Buffer): MtPacket & { body: Extract<MtBody, { op: typeof Op.ODATA | typeof Op.RDATA }> } {
  const d = decodeMt(raw, { from: 'server' });
  if (!d.ok || d.value.body.op !== Op.ODATA || d.value.secType !== Sec.CHECKSUM) throw new Error('hostile packets are made from a real CHECKSUM ODATA');
  return d.value as MtPacket & { body: Extract<MtBody, { op: typeof Op.ODATA | typeof Op.RDATA }> };
}

function seal(p: MtPacket, body: MtBody, o: { sessionId?: number; secMode?: typeof Sec.CHECKSUM | typeof Sec.NONE } = {}): Buffer {
  return encodeMt(body, { secMode: o.secMode ?? Sec.CHECKSUM, sessionId: o.sessionId ?? p.sessionId, senderTime: p.senderTime });
}

/** One hostile packet of `kind` (variant `i`). */
export function hostilePacket(kind: HostileKind, i: number, ctx: HostileContext): Buffer {
  const p = realOdata(ctx.odata);
  const b = p.body;
  switch (kind) {
    case 'wrongSession': {
      const sid = (p.sessionId + 1 + (i % 0xfffe)) >>> 0;
      return seal(p, b, { sessionId: sid === p.sessionId ? sid + 1 : sid });
    }
    case 'wrongSecurity': {
      if (i % 2 === 0) return seal(p, b, { secMode: Sec.NONE });
      // HASH with 32 bytes of SecurityData: a client with no key for it cannot check it.
      const plain = seal(p, b, { secMode: Sec.NONE });
      const sd = Buffer.alloc(32, 0x5a ^ (i & 0xff));
      return Buffer.concat([Buffer.from([0x57, 0x44, Sec.HASH, 0, 32]), sd, plain.subarray(5)]);
    }
    case 'badChecksum': {
      const x = Buffer.from(ctx.odata);
      if (i % 2 === 0) x.writeUInt32BE((x.readUInt32BE(SEC_DATA) ^ (1 + (i % 0xffff))) >>> 0, SEC_DATA);
      else {
        const at = ODATA_DATA + (i % b.data.length);
        x[at] = 0xff - x[at]!; // changes the byte sum (255 - 2x is never 0)
      }
      return x;
    }
    case 'truncated': {
      // Anywhere in [1, end of Data - 1]: inside a header, the ODATA section, or its Data; never a whole packet.
      const end = ODATA_DATA + b.data.length;
      const len = 1 + ((i * 7919) % (end - 1));
      return reseal(Buffer.from(ctx.odata.subarray(0, len)));
    }
    case 'badCount': {
      if (i % 2 === 0) {
        // NCF: RangeCount n, one range present.
        const ncf = seal(p, { op: Op.NCF, ranges: [[b.seq, b.seq]] });
        ncf.writeUInt16BE(2 + (i % 200), BODY);
        return reseal(ncf);
      }
      // The ODATA with OptionsCount 1.. and no option after it.
      const x = seal(p, b); // OptionsCount 0 at the end
      x.writeUInt16BE(1 + (i % 7), x.length - 2);
      return reseal(x);
    }
    case 'outOfRange': {
      const v = i % 3;
      const block = v === 0 ? ctx.totalBlocks + 1 + (i % 1000) : 2 ** 40 + i;
      const x = seal(p, { ...b, data: encodeMa({ op: MaOp.DATA, blockNumber: block, data: b.data.subarray(13) }) });
      if (v === 2) {
        // BlockNumber >= 2^53 (no JS number encodes it): the high word of the u64 set to 0xffffffff.
        x.writeUInt32BE(0xffffffff, ODATA_DATA + 3);
        reseal(x);
      }
      return x;
    }
    case 'replayed': {
      const ops = [Op.SPM, Op.QCC, Op.POLL] as const;
      const op = ops[i % 3]!;
      const seen = ctx.control?.[op];
      if (seen) return Buffer.from(seen);
      if (op === Op.SPM) return seal(p, { op, spmSeqNo: 0, masterClientId: b.clientId, minNackBackoff: 1, maxNackBackoff: 2, trailSeq: b.trailSeq, leadSeq: b.seq, rtt: 1 });
      if (op === Op.QCC) return seal(p, { op, qccSeqNo: 0, qcrBackoff: 10 });
      return seal(p, { op, pollSeqNo: 0, backoff: 10, appData: encodeMa({ op: MaOp.SRVCIR }) });
    }
    case 'malformed': {
      const v = i % 4;
      if (v === 0) {
        const x = Buffer.from(ctx.odata);
        x[1] = 0x58; // "WX"
        return x;
      }
      if (v === 1) {
        const x = Buffer.from(ctx.odata);
        x[SESSION + 4] = 0x20 + (i % 0xc0); // opcodes above DEMOTE (0x0f)
        return reseal(x);
      }
      if (v === 2) return reseal(Buffer.concat([seal(p, b), Buffer.from([0, 1 + (i % 250)])])); // trailing bytes
      // MS-WDSMA DATA whose Packet-Size is neither reading of its length.
      const ma = encodeMa({ op: MaOp.DATA, blockNumber: 1, data: b.data.subarray(13) });
      ma.writeUInt16BE(ma.length + 7, 0);
      return seal(p, { ...b, data: ma });
    }
  }
}
