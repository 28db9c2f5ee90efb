/**
 * Connection-oriented DCE/RPC PDUs (C706 chapter 12.6, with MS-RPCE 2.2.2): bind, bind_ack, bind_nak,
 * alter_context, alter_context_resp, rpc_auth_3, request, response, fault. Always little-endian / ASCII / IEEE
 * (packed_drep 10 00 00 00); a peer answering in another representation is refused ('bad-value').
 *
 * Every PDU: the 16-byte common header, the body, and — when auth_length is nonzero — auth padding, the 8-byte
 * sec_trailer (MS-RPCE 2.2.2.11) and auth_length bytes of token, the trailer starting at
 * frag_length - auth_length - 8. Decoders take exactly one PDU (see `pduLength` for framing a byte stream) and
 * never throw; request/response stubs are views into the input (so a caller can unseal in place).
 */
import { Decoded, fail, guard, ok } from '../codec/bytes';
import { LeReader, LeWriter, SyntaxId } from './ndr';

export const PType = {
  REQUEST: 0,
  RESPONSE: 2,
  FAULT: 3,
  BIND: 11,
  BIND_ACK: 12,
  BIND_NAK: 13,
  ALTER_CONTEXT: 14,
  ALTER_CONTEXT_RESP: 15,
  AUTH3: 16,
} as const;

export const Pfc = {
  FIRST_FRAG: 0x01,
  LAST_FRAG: 0x02,
  /** PFC_PENDING_CANCEL on request/response/fault; PFC_SUPPORT_HEADER_SIGN on the bind family (MS-RPCE 2.2.2.3). */
  SUPPORT_HEADER_SIGN: 0x04,
  CONC_MPX: 0x10,
  DID_NOT_EXECUTE: 0x20,
  MAYBE: 0x40,
  OBJECT_UUID: 0x80,
} as const;

export const HEADER_LEN = 16;
/** Common header + alloc_hint, p_cont_id, opnum (request) or cancel_count/reserved (response). */
export const REQUEST_HEADER_LEN = 24;
export const SEC_TRAILER_LEN = 8;
/** MS-RPCE 2.2.2.11: request/response sec_trailers are 16-byte aligned from the start of the stub. */
export const STUB_AUTH_ALIGN = 16;
const DREP = [0x10, 0x00, 0x00, 0x00];

export interface AuthVerifier {
  authType: number;
  authLevel: number;
  authPadLength: number;
  authContextId: number;
  authValue: Buffer;
}

export interface ContextElem {
  contextId: number;
  abstractSyntax: SyntaxId;
  transferSyntaxes: SyntaxId[];
}

export interface ContextResult {
  /** 0 acceptance, 1 user_rejection, 2 provider_rejection, 3 negotiate_ack. */
  result: number;
  reason: number;
  transferSyntax: SyntaxId;
}

interface Common {
  flags: number;
  callId: number;
  auth?: AuthVerifier;
}

export type BindPdu = Common & {
  type: typeof PType.BIND | typeof PType.ALTER_CONTEXT;
  maxXmitFrag: number;
  maxRecvFrag: number;
  assocGroupId: number;
  contexts: ContextElem[];
};
export type BindAckPdu = Common & {
  type: typeof PType.BIND_ACK | typeof PType.ALTER_CONTEXT_RESP;
  maxXmitFrag: number;
  maxRecvFrag: number;
  assocGroupId: number;
  /** port_any_t without its terminating NUL ("135", "49152", or empty in an alter_context_resp). */
  secondaryAddress: string;
  results: ContextResult[];
};
export type BindNakPdu = Common & {
  type: typeof PType.BIND_NAK;
  rejectReason: number;
  versions: { major: number; minor: number }[];
};
export type Auth3Pdu = Common & { type: typeof PType.AUTH3 };
export type RequestPdu = Common & {
  type: typeof PType.REQUEST;
  allocHint: number;
  contextId: number;
  opnum: number;
  object?: string;
  stub: Buffer;
};
export type ResponsePdu = Common & {
  type: typeof PType.RESPONSE;
  allocHint: number;
  contextId: number;
  cancelCount: number;
  stub: Buffer;
};
export type FaultPdu = Common & {
  type: typeof PType.FAULT;
  allocHint: number;
  contextId: number;
  cancelCount: number;
  status: number;
};

export type Pdu = BindPdu | BindAckPdu | BindNakPdu | Auth3Pdu | RequestPdu | ResponsePdu | FaultPdu;

/** Where the parts of an encoded PDU are: what a security provider seals or signs. */
export interface PduLayout {
  pdu: Buffer;
  /** Start of the stub (request/response) or of the body. */
  dataStart: number;
  /** End of the stub plus its auth padding = start of the sec_trailer (= pdu.length without auth). */
  dataEnd: number;
  /** End of the sec_trailer = start of the auth token. */
  signedEnd: number;
}

// ---------------------------------------------------------------------------------------------------------------
// Encoding
// ---------------------------------------------------------------------------------------------------------------

function writeSyntax(w: LeWriter, s: SyntaxId): void {
  w.uuid(s.uuid).u16le(s.major).u16le(s.minor);
}

function writeBody(w: LeWriter, p: Pdu): void {
  switch (p.type) {
    case PType.BIND:
    case PType.ALTER_CONTEXT:
      w.u16le(p.maxXmitFrag).u16le(p.maxRecvFrag).u32le(p.assocGroupId);
      w.u8(p.contexts.length).u8(0).u16le(0);
      for (const c of p.contexts) {
        w.u16le(c.contextId).u8(c.transferSyntaxes.length).u8(0);
        writeSyntax(w, c.abstractSyntax);
        for (const t of c.transferSyntaxes) writeSyntax(w, t);
      }
      break;
    case PType.BIND_ACK:
    case PType.ALTER_CONTEXT_RESP: {
      w.u16le(p.maxXmitFrag).u16le(p.maxRecvFrag).u32le(p.assocGroupId);
      const addr = p.secondaryAddress ? Buffer.from(p.secondaryAddress + '\0', 'latin1') : Buffer.alloc(0);
      w.u16le(addr.length).bytes(addr).align(4);
      w.u8(p.results.length).u8(0).u16le(0);
      for (const r of p.results) {
        w.u16le(r.result).u16le(r.reason);
        writeSyntax(w, r.transferSyntax);
      }
      break;
    }
    case PType.BIND_NAK:
      w.u16le(p.rejectReason).u8(p.versions.length);
      for (const v of p.versions) w.u8(v.major).u8(v.minor);
      break;
    case PType.AUTH3:
      w.u32le(0); // pad (MS-RPCE 2.2.2.10)
      break;
    case PType.REQUEST:
      w.u32le(p.allocHint).u16le(p.contextId).u16le(p.opnum);
      if (p.object !== undefined) w.uuid(p.object);
      w.bytes(p.stub);
      break;
    case PType.RESPONSE:
      w.u32le(p.allocHint).u16le(p.contextId).u8(p.cancelCount).u8(0).bytes(p.stub);
      break;
    case PType.FAULT:
      w.u32le(p.allocHint).u16le(p.contextId).u8(p.cancelCount).u8(0).u32le(p.status).u32le(0);
      break;
  }
}

/**
 * Encodes a PDU and says where its parts are. With `p.auth`, the auth padding is computed here (the given
 * authPadLength is ignored): the stub of a request/response is padded to 16 bytes, any other body to 4; the
 * token is `p.auth.authValue` (for a request to be signed, pass zeros of the signature's length and write the
 * signature at `signedEnd` afterwards). flags gets OBJECT_UUID when a request has an object.
 */
export function encodePduLayout(p: Pdu): PduLayout {
  const w = new LeWriter(HEADER_LEN + 64 + ('stub' in p ? p.stub.length : 0) + (p.auth ? p.auth.authValue.length + 24 : 0));
  let flags = p.flags;
  if (p.type === PType.REQUEST) flags = p.object !== undefined ? flags | Pfc.OBJECT_UUID : flags & ~Pfc.OBJECT_UUID;
  w.u8(5).u8(0).u8(p.type).u8(flags).bytes(Buffer.from(DREP)).u16le(0).u16le(0).u32le(p.callId);
  const bodyStart = w.pos;
  writeBody(w, p);
  const dataStart = 'stub' in p ? w.pos - p.stub.length : bodyStart;
  let signedEnd = w.pos;
  let dataEnd = w.pos;
  if (p.auth) {
    const align = p.type === PType.REQUEST || p.type === PType.RESPONSE ? STUB_AUTH_ALIGN : 4;
    const before = w.pos;
    w.align(align, p.type === PType.REQUEST || p.type === PType.RESPONSE ? dataStart : 0);
    dataEnd = w.pos;
    const padLength = dataEnd - before;
    w.u8(p.auth.authType).u8(p.auth.authLevel).u8(padLength).u8(0).u32le(p.auth.authContextId);
    signedEnd = w.pos;
    w.bytes(p.auth.authValue);
  }
  const pdu = w.finish();
  pdu.writeUInt16LE(pdu.length, 8);
  pdu.writeUInt16LE(p.auth ? p.auth.authValue.length : 0, 10);
  return { pdu, dataStart, dataEnd, signedEnd };
}

/** @internal A whole PDU (tests and the fuzz suite; the client and server use encodePduLayout). */
export function encodePdu(p: Pdu): Buffer {
  return encodePduLayout(p).pdu;
}

// ---------------------------------------------------------------------------------------------------------------
// Decoding
// ---------------------------------------------------------------------------------------------------------------

/**
 * Framing a byte stream: the frag_length of the PDU at the front of `buf`, undefined while fewer than 10 bytes
 * are there, or 'bad' when the header cannot start a PDU (the stream cannot be resynchronised).
 */
export function pduLength(buf: Buffer): number | undefined | 'bad' {
  if (buf.length >= 1 && buf[0] !== 5) return 'bad';
  if (buf.length >= 5 && (buf[4]! & 0xf0) !== 0x10) return 'bad';
  if (buf.length < 10) return undefined;
  const n = buf.readUInt16LE(8);
  return n < HEADER_LEN ? 'bad' : n;
}

function readSyntax(r: LeReader, what: string): SyntaxId {
  return { uuid: r.uuid(`${what} uuid`), major: r.u16le(`${what} major`), minor: r.u16le(`${what} minor`) };
}

/** max_xmit_frag, max_recv_frag, assoc_group_id: the start of every bind-family body. */
function readFragSizes(r: LeReader): { maxXmitFrag: number; maxRecvFrag: number; assocGroupId: number } {
  return { maxXmitFrag: r.u16le('max_xmit_frag'), maxRecvFrag: r.u16le('max_recv_frag'), assocGroupId: r.u32le('assoc_group_id') };
}

export function decodePdu(buf: Buffer): Decoded<Pdu> {
  return guard('rpc', () => {
    const h = new LeReader(buf);
    const vers = h.u8('rpc_vers');
    const minor = h.u8('rpc_vers_minor');
    const type = h.u8('PTYPE');
    const flags = h.u8('pfc_flags');
    const drep = h.bytes(4, 'packed_drep');
    const fragLength = h.u16le('frag_length');
    const authLength = h.u16le('auth_length');
    const callId = h.u32le('call_id');
    if (vers !== 5 || minor > 1) return fail('bad-value', `rpc version ${vers}.${minor}, not 5.0`);
    if (drep[0] !== 0x10 || drep[1] !== 0) return fail('bad-value', `data representation ${drep.toString('hex')} is not little-endian ASCII IEEE`);
    if (fragLength !== buf.length) return fail('bad-length', `frag_length ${fragLength} but ${buf.length} bytes`);

    let bodyEnd = buf.length;
    let auth: AuthVerifier | undefined;
    if (authLength > 0) {
      const at = buf.length - authLength - SEC_TRAILER_LEN;
      if (at < HEADER_LEN) return fail('bad-length', `auth_length ${authLength} leaves no room for a sec_trailer`);
      const t = new LeReader(buf, at);
      const authType = t.u8();
      const authLevel = t.u8();
      const authPadLength = t.u8();
      t.u8();
      const authContextId = t.u32le();
      if (authPadLength > at - HEADER_LEN) return fail('bad-length', `auth_pad_length ${authPadLength} exceeds the body`);
      auth = { authType, authLevel, authPadLength, authContextId, authValue: buf.subarray(at + SEC_TRAILER_LEN) };
      bodyEnd = at - authPadLength;
    }
    const r = new LeReader(buf, HEADER_LEN, bodyEnd);
    const common = auth ? { flags, callId, auth } : { flags, callId };
    switch (type) {
      case PType.BIND:
      case PType.ALTER_CONTEXT: {
        const frag = readFragSizes(r);
        const n = r.u8('n_context_elem');
        r.bytes(3, 'reserved');
        const contexts: ContextElem[] = [];
        for (let i = 0; i < n; i++) {
          const contextId = r.u16le('p_cont_id');
          const nt = r.u8('n_transfer_syn');
          r.u8('reserved');
          const abstractSyntax = readSyntax(r, 'abstract_syntax');
          const transferSyntaxes: SyntaxId[] = [];
          for (let j = 0; j < nt; j++) transferSyntaxes.push(readSyntax(r, 'transfer_syntax'));
          contexts.push({ contextId, abstractSyntax, transferSyntaxes });
        }
        return ok({ type, ...common, ...frag, contexts });
      }
      case PType.BIND_ACK:
      case PType.ALTER_CONTEXT_RESP: {
        const frag = readFragSizes(r);
        const addrLen = r.u16le('sec_addr length');
        const addr = r.bytes(addrLen, 'sec_addr port_spec');
        r.align(4);
        const nul = addr.indexOf(0);
        const secondaryAddress = addr.subarray(0, nul >= 0 ? nul : addr.length).toString('latin1');
        const n = r.u8('n_results');
        r.bytes(3, 'reserved');
        const results: ContextResult[] = [];
        for (let i = 0; i < n; i++) {
          const result = r.u16le('result');
          const reason = r.u16le('reason');
          results.push({ result, reason, transferSyntax: readSyntax(r, 'transfer_syntax') });
        }
        return ok({ type, ...common, ...frag, secondaryAddress, results });
      }
      case PType.BIND_NAK: {
        const rejectReason = r.u16le('provider_reject_reason');
        const versions: { major: number; minor: number }[] = [];
        // Windows sometimes sends only the reason; n_protocols and what follows (Signature, MS-EERR) are optional.
        if (r.remaining > 0) {
          const n = r.u8('n_protocols');
          for (let i = 0; i < n; i++) versions.push({ major: r.u8('major'), minor: r.u8('minor') });
        }
        return ok({ type, ...common, rejectReason, versions });
      }
      case PType.AUTH3:
        if (!auth) return fail('missing-option', 'rpc_auth_3 without a sec_trailer');
        if (bodyEnd - HEADER_LEN > 4) return fail('trailing', `rpc_auth_3 has ${bodyEnd - HEADER_LEN - 4} bytes after its pad`);
        return ok({ type, ...common });
      case PType.REQUEST: {
        const allocHint = r.u32le('alloc_hint');
        const contextId = r.u16le('p_cont_id');
        const opnum = r.u16le('opnum');
        const object = flags & Pfc.OBJECT_UUID ? r.uuid('object') : undefined;
        const stub = r.bytes(r.remaining, 'stub');
        return ok(object !== undefined ? { type, ...common, allocHint, contextId, opnum, object, stub } : { type, ...common, allocHint, contextId, opnum, stub });
      }
      case PType.RESPONSE: {
        const allocHint = r.u32le('alloc_hint');
        const contextId = r.u16le('p_cont_id');
        const cancelCount = r.u8('cancel_count');
        r.u8('reserved');
        return ok({ type, ...common, allocHint, contextId, cancelCount, stub: r.bytes(r.remaining, 'stub') });
      }
      case PType.FAULT: {
        const allocHint = r.u32le('alloc_hint');
        const contextId = r.u16le('p_cont_id');
        const cancelCount = r.u8('cancel_count');
        r.u8('reserved');
        const status = r.u32le('status');
        r.u32le('reserved2');
        // MS-RPCE 2.2.2.8: any stub data (or extended error information) in a fault is ignored.
        return ok({ type, ...common, allocHint, contextId, cancelCount, status });
      }
      default:
        return fail('unknown-opcode', `PTYPE ${type}`);
    }
  });
}
