/** Arbitraries for the DCE/RPC PDU codec (MS-RPCE 2.2.2): every PDU type the client and server use. */
import fc from 'fast-check';
import { Pdu, PType } from '../../../core/rpc/pdu';
import { SyntaxId } from '../../../core/rpc/ndr';
import { bytes, u16, u32, u8 } from './common';

export const syntax: fc.Arbitrary<SyntaxId> = fc.record({ uuid: fc.uuid(), major: u16, minor: u16 });
const auth = fc.record({ authType: u8, authLevel: u8, authPadLength: fc.constant(0), authContextId: u32, authValue: bytes(64, 1) });
const flags = u8.map((f) => f & ~0x80);

export const pdu: fc.Arbitrary<Pdu> = fc.oneof(
  fc.record({
    type: fc.constantFrom(PType.BIND, PType.ALTER_CONTEXT),
    flags,
    callId: u32,
    maxXmitFrag: u16,
    maxRecvFrag: u16,
    assocGroupId: u32,
    contexts: fc.array(fc.record({ contextId: u16, abstractSyntax: syntax, transferSyntaxes: fc.array(syntax, { maxLength: 3 }) }), { maxLength: 3 }),
    auth: fc.option(auth, { nil: undefined }),
  }),
  fc.record({
    type: fc.constantFrom(PType.BIND_ACK, PType.ALTER_CONTEXT_RESP),
    flags,
    callId: u32,
    maxXmitFrag: u16,
    maxRecvFrag: u16,
    assocGroupId: u32,
    secondaryAddress: fc.stringMatching(/^[0-9]{0,6}$/),
    results: fc.array(fc.record({ result: u16, reason: u16, transferSyntax: syntax }), { maxLength: 3 }),
    auth: fc.option(auth, { nil: undefined }),
  }),
  fc.record({ type: fc.constant(PType.BIND_NAK), flags, callId: u32, rejectReason: u16, versions: fc.array(fc.record({ major: u8, minor: u8 }), { maxLength: 3 }) }),
  fc.record({ type: fc.constant(PType.AUTH3), flags, callId: u32, auth }),
  fc.record({
    type: fc.constant(PType.REQUEST),
    flags,
    callId: u32,
    allocHint: u32,
    contextId: u16,
    opnum: u16,
    object: fc.option(fc.uuid(), { nil: undefined }),
    stub: bytes(200),
    auth: fc.option(auth, { nil: undefined }),
  }),
  fc.record({ type: fc.constant(PType.RESPONSE), flags, callId: u32, allocHint: u32, contextId: u16, cancelCount: u8, stub: bytes(200), auth: fc.option(auth, { nil: undefined }) }),
  fc.record({ type: fc.constant(PType.FAULT), flags, callId: u32, allocHint: u32, contextId: u16, cancelCount: u8, status: u32, auth: fc.option(auth, { nil: undefined }) }),
) as fc.Arbitrary<Pdu>; // absent optional fields come as undefined, which toEqual treats as missing

/** What decode(encode(p)) must give: the computed auth padding, OBJECT_UUID set exactly when an object is present. */
export function expectedPdu(p: Pdu, back: Pdu): Pdu {
  const e = { ...p } as Pdu;
  if (e.auth) e.auth = { ...e.auth, authPadLength: back.auth?.authPadLength ?? -1 };
  if (e.type === PType.REQUEST && e.object !== undefined) e.flags |= 0x80;
  return e;
}
