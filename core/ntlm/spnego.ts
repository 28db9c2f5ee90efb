/**
 * SPNEGO tokens (RFC 4178 section 4.2) around NTLMSSP, for DCE/RPC authentication type 9:
 *   InitialContextToken ::= [APPLICATION 0] { thisMech OID 1.3.6.1.5.5.2, [0] NegTokenInit }
 *   NegTokenInit ::= SEQUENCE { mechTypes [0] MechTypeList, reqFlags [1] OPTIONAL, mechToken [2] OCTET STRING
 *                                OPTIONAL, mechListMIC [3] OCTET STRING OPTIONAL }
 *   NegTokenResp ::= [1] SEQUENCE { negState [0] ENUMERATED OPTIONAL, supportedMech [1] OID OPTIONAL,
 *                                    responseToken [2] OCTET STRING OPTIONAL, mechListMIC [3] OCTET STRING OPTIONAL }
 * Decoders never throw. OIDs are kept as their DER contents (no tag, no length).
 */
import { Decoded, fail, ok } from '../codec/bytes';
import { Tag, Tlv, readAll, readOnly, readTlv, tlv } from './der';

/** 1.3.6.1.5.5.2 */
export const OID_SPNEGO = Buffer.from('2b0601050502', 'hex');
/** 1.3.6.1.4.1.311.2.2.10 */
export const OID_NTLMSSP = Buffer.from('2b06010401823702020a', 'hex');

export const NegState = { ACCEPT_COMPLETED: 0, ACCEPT_INCOMPLETE: 1, REJECT: 2, REQUEST_MIC: 3 } as const;

export interface NegTokenInit {
  mechTypes: Buffer[];
  /** The MechTypeList exactly as received (a SEQUENCE OF OID): what the mechListMIC is computed over. */
  mechTypesDer: Buffer;
  mechToken?: Buffer;
  mechListMIC?: Buffer;
}

export interface NegTokenResp {
  negState?: number;
  supportedMech?: Buffer;
  responseToken?: Buffer;
  mechListMIC?: Buffer;
}

/** MechTypeList ::= SEQUENCE OF MechType */
export function encodeMechTypeList(mechs: Buffer[]): Buffer {
  return tlv(Tag.SEQUENCE, ...mechs.map((m) => tlv(Tag.OID, m)));
}

export function encodeNegTokenInit(m: { mechTypes: Buffer[]; mechToken?: Buffer; mechListMIC?: Buffer }): Buffer {
  const fields = [tlv(Tag.context(0), encodeMechTypeList(m.mechTypes))];
  if (m.mechToken) fields.push(tlv(Tag.context(2), tlv(Tag.OCTET_STRING, m.mechToken)));
  if (m.mechListMIC) fields.push(tlv(Tag.context(3), tlv(Tag.OCTET_STRING, m.mechListMIC)));
  return tlv(Tag.APPLICATION_0, tlv(Tag.OID, OID_SPNEGO), tlv(Tag.context(0), tlv(Tag.SEQUENCE, ...fields)));
}

export function encodeNegTokenResp(m: NegTokenResp): Buffer {
  const fields: Buffer[] = [];
  if (m.negState !== undefined) fields.push(tlv(Tag.context(0), tlv(Tag.ENUMERATED, Buffer.from([m.negState]))));
  if (m.supportedMech) fields.push(tlv(Tag.context(1), tlv(Tag.OID, m.supportedMech)));
  if (m.responseToken) fields.push(tlv(Tag.context(2), tlv(Tag.OCTET_STRING, m.responseToken)));
  if (m.mechListMIC) fields.push(tlv(Tag.context(3), tlv(Tag.OCTET_STRING, m.mechListMIC)));
  return tlv(Tag.context(1), tlv(Tag.SEQUENCE, ...fields));
}

/** The [n]-tagged fields of a SEQUENCE, each by number; duplicates and non-context elements are errors. */
function contextFields(seq: Buffer, what: string): Decoded<Map<number, Tlv>> {
  const all = readAll(seq);
  if (!all.ok) return fail(all.error.code, `${what}: ${all.error.message}`);
  const map = new Map<number, Tlv>();
  for (const t of all.value) {
    if ((t.tag & 0xe0) !== 0xa0) return fail('bad-value', `${what}: element with tag 0x${t.tag.toString(16)} is not a context field`);
    const n = t.tag & 0x1f;
    if (map.has(n)) return fail('bad-value', `${what}: field [${n}] twice`);
    map.set(n, t);
  }
  return ok(map);
}

/** The single element inside an explicitly tagged field, with the expected universal tag. */
function inner(field: Tlv | undefined, tag: number, what: string): Decoded<Buffer | undefined> {
  if (!field) return ok(undefined);
  const t = readOnly(field.value, tag, what);
  return t.ok ? ok(t.value.value) : t;
}

function decodeMechTypes(field: Tlv | undefined): Decoded<{ list: Buffer[]; der: Buffer }> {
  if (!field) return fail('missing-option', 'NegTokenInit: mechTypes [0] is missing');
  const seq = readOnly(field.value, Tag.SEQUENCE, 'mechTypes');
  if (!seq.ok) return seq;
  const items = readAll(seq.value.value);
  if (!items.ok) return fail(items.error.code, `mechTypes: ${items.error.message}`);
  const list: Buffer[] = [];
  for (const it of items.value) {
    if (it.tag !== Tag.OID) return fail('bad-value', `mechTypes: element with tag 0x${it.tag.toString(16)} is not an OID`);
    list.push(Buffer.from(it.value));
  }
  return ok({ list, der: Buffer.from(seq.value.raw) });
}

/** An InitialContextToken carrying a NegTokenInit (a bare [0] NegTokenInit is accepted too). */
export function decodeNegTokenInit(buf: Buffer): Decoded<NegTokenInit> {
  let body = buf;
  const outer = readTlv(buf);
  if (!outer.ok) return fail(outer.error.code, `SPNEGO token: ${outer.error.message}`);
  if (outer.value.tag === Tag.APPLICATION_0) {
    if (outer.value.raw.length !== buf.length) return fail('trailing', 'SPNEGO token: bytes after the InitialContextToken');
    const oid = readTlv(outer.value.value);
    if (!oid.ok) return fail(oid.error.code, `SPNEGO token: ${oid.error.message}`);
    if (oid.value.tag !== Tag.OID || !oid.value.value.equals(OID_SPNEGO)) return fail('bad-value', 'SPNEGO token: thisMech is not 1.3.6.1.5.5.2');
    body = outer.value.value.subarray(oid.value.raw.length);
  }
  const init = readOnly(body, Tag.context(0), 'NegotiationToken');
  if (!init.ok) return init;
  const seq = readOnly(init.value.value, Tag.SEQUENCE, 'NegTokenInit');
  if (!seq.ok) return seq;
  const f = contextFields(seq.value.value, 'NegTokenInit');
  if (!f.ok) return f;
  const mech = decodeMechTypes(f.value.get(0));
  if (!mech.ok) return mech;
  const token = inner(f.value.get(2), Tag.OCTET_STRING, 'NegTokenInit mechToken');
  if (!token.ok) return token;
  // [3] is mechListMIC in a NegTokenInit and NegHints (a SEQUENCE) in Microsoft's NegTokenInit2: keep only the former.
  const f3 = f.value.get(3);
  const mic = f3 && f3.value[0] === Tag.OCTET_STRING ? inner(f3, Tag.OCTET_STRING, 'NegTokenInit mechListMIC') : ok(undefined);
  if (!mic.ok) return mic;
  const out: NegTokenInit = { mechTypes: mech.value.list, mechTypesDer: mech.value.der };
  if (token.value) out.mechToken = Buffer.from(token.value);
  if (mic.value) out.mechListMIC = Buffer.from(mic.value);
  return ok(out);
}

export function decodeNegTokenResp(buf: Buffer): Decoded<NegTokenResp> {
  const resp = readOnly(buf, Tag.context(1), 'NegotiationToken');
  if (!resp.ok) return resp;
  const seq = readOnly(resp.value.value, Tag.SEQUENCE, 'NegTokenResp');
  if (!seq.ok) return seq;
  const f = contextFields(seq.value.value, 'NegTokenResp');
  if (!f.ok) return f;
  const state = inner(f.value.get(0), Tag.ENUMERATED, 'NegTokenResp negState');
  if (!state.ok) return state;
  const mech = inner(f.value.get(1), Tag.OID, 'NegTokenResp supportedMech');
  if (!mech.ok) return mech;
  const token = inner(f.value.get(2), Tag.OCTET_STRING, 'NegTokenResp responseToken');
  if (!token.ok) return token;
  const mic = inner(f.value.get(3), Tag.OCTET_STRING, 'NegTokenResp mechListMIC');
  if (!mic.ok) return mic;
  const out: NegTokenResp = {};
  if (state.value) {
    if (state.value.length !== 1 || state.value[0]! > NegState.REQUEST_MIC) return fail('bad-value', 'NegTokenResp: negState is not 0..3');
    out.negState = state.value[0]!;
  }
  if (mech.value) out.supportedMech = Buffer.from(mech.value);
  if (token.value) out.responseToken = Buffer.from(token.value);
  if (mic.value) out.mechListMIC = Buffer.from(mic.value);
  return ok(out);
}
