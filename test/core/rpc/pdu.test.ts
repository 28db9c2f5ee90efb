/**
 * The PDU codec against PDUs captured from Samba and impacket (test/core/rpc/vectors.ts): each decodes to the
 * fields tshark showed, encodes back to the same bytes where osdcast would write the same, and every truncation
 * is a typed error.
 */
import { describe, expect, it } from 'vitest';
import { decodePdu, encodePdu, encodePduLayout, Pdu, PType, pduLength } from '../../../core/rpc/pdu';
import { NDR_SYNTAX } from '../../../core/rpc/ndr';
import { EPM_INTERFACE } from '../../../core/rpc/epm';
import { expectFail, expectOk, isWellFormedResult } from '../codec/helpers';
import { SRVSVC } from './srvsvc';
import { V } from './vectors';

const SAME_BYTES: (keyof typeof V)[] = [
  'bindEpm',
  'bindAckEpm',
  'eptMapRequest',
  'eptMapResponse',
  'bindAckSrvsvc',
  'getInfoRequest',
  'getInfoResponse',
  'badOpnumRequest',
  'faultOpRng',
  'bindNtlm',
  'bindAckNtlm',
  'sealedResponse',
  'alterContext',
  'alterContextResp',
  'bindAckUnknownIf',
];

function decode(b: Buffer): Pdu {
  return expectOk(decodePdu(b));
}

describe('rpc PDU codec: captured vectors', () => {
  it('bind (no auth): EPM v3.0 with NDR 2.0', () => {
    expect(decode(V.bindEpm)).toEqual({
      type: PType.BIND,
      flags: 3,
      callId: 1,
      maxXmitFrag: 4280,
      maxRecvFrag: 4280,
      assocGroupId: 0,
      contexts: [{ contextId: 0, abstractSyntax: EPM_INTERFACE, transferSyntaxes: [NDR_SYNTAX] }],
    });
  });

  it('bind_ack: secondary address, group, acceptance', () => {
    expect(decode(V.bindAckEpm)).toEqual({
      type: PType.BIND_ACK,
      flags: 3,
      callId: 1,
      maxXmitFrag: 4280,
      maxRecvFrag: 4280,
      assocGroupId: 0x6a63,
      secondaryAddress: '135',
      results: [{ result: 0, reason: 0, transferSyntax: NDR_SYNTAX }],
    });
    const p = decode(V.bindAckSrvsvc);
    expect(p.type === PType.BIND_ACK && p.secondaryAddress).toBe('');
  });

  it('bind_ack refusing an interface: provider_rejection / abstract_syntax_not_supported, nil transfer syntax', () => {
    const p = decode(V.bindAckUnknownIf);
    expect(p.type === PType.BIND_ACK && p.results).toEqual([{ result: 2, reason: 1, transferSyntax: { uuid: '00000000-0000-0000-0000-000000000000', major: 0, minor: 0 } }]);
  });

  it('request and response: alloc_hint, context, opnum, stub', () => {
    const q = decode(V.eptMapRequest);
    expect(q).toMatchObject({ type: PType.REQUEST, flags: 3, callId: 2, allocHint: 132, contextId: 0, opnum: 3 });
    expect(q.type === PType.REQUEST && q.stub).toEqual(V.eptMapRequest.subarray(24));
    const r = decode(V.getInfoResponse);
    expect(r).toMatchObject({ type: PType.RESPONSE, callId: 2, allocHint: 128, contextId: 0, cancelCount: 0 });
    expect(r.type === PType.RESPONSE && r.stub.length).toBe(128);
    const empty = decode(V.badOpnumRequest);
    expect(empty).toMatchObject({ type: PType.REQUEST, callId: 3, opnum: 200, allocHint: 0 });
    expect(empty.type === PType.REQUEST && empty.stub.length).toBe(0);
  });

  it('fault: status and did_not_execute', () => {
    expect(decode(V.faultOpRng)).toEqual({ type: PType.FAULT, flags: 0x23, callId: 3, allocHint: 24, contextId: 0, cancelCount: 0, status: 0x1c010002 });
  });

  it('bind_nak: reason 8 and the supported versions (trailing padding ignored)', () => {
    expect(decode(V.bindNakAuthType)).toEqual({ type: PType.BIND_NAK, flags: 3, callId: 1, rejectReason: 8, versions: [{ major: 5, minor: 0 }] });
  });

  it('alter_context and alter_context_resp', () => {
    expect(decode(V.alterContext)).toMatchObject({ type: PType.ALTER_CONTEXT, callId: 2, contexts: [{ contextId: 0, abstractSyntax: SRVSVC, transferSyntaxes: [NDR_SYNTAX] }] });
    expect(decode(V.alterContextResp)).toMatchObject({ type: PType.ALTER_CONTEXT_RESP, callId: 2, assocGroupId: 0x68b9, secondaryAddress: '', results: [{ result: 0 }] });
  });

  it('sec_trailer on bind, bind_ack, auth3: type, level, pad, context id, token', () => {
    const b = decode(V.bindNtlm);
    expect(b.auth).toMatchObject({ authType: 10, authLevel: 6, authPadLength: 0, authContextId: 0x1357f });
    expect(b.auth!.authValue.subarray(0, 8).toString('latin1')).toBe('NTLMSSP\0');
    expect(b.auth!.authValue.readUInt32LE(8)).toBe(1); // NEGOTIATE
    const a = decode(V.bindAckNtlm);
    expect(a.auth!.authValue.length).toBe(0x98);
    expect(a.auth!.authValue.readUInt32LE(8)).toBe(2); // CHALLENGE
    const t = decode(V.auth3);
    expect(t).toMatchObject({ type: PType.AUTH3, callId: 1, auth: { authType: 10, authLevel: 6, authContextId: 0x1357f } });
    expect(t.auth!.authValue.readUInt32LE(8)).toBe(3); // AUTHENTICATE
  });

  it('protected request/response: the stub ends at the padding, the token is the 16-byte signature', () => {
    const q = decode(V.sealedRequest);
    expect(q).toMatchObject({ type: PType.REQUEST, callId: 2, opnum: 21, auth: { authType: 10, authLevel: 6, authPadLength: 0 } });
    expect(q.type === PType.REQUEST && q.stub).toEqual(V.sealedRequest.subarray(24, 32));
    expect(q.auth!.authValue).toEqual(V.sealedRequest.subarray(40));
    const s = decode(V.signedRequest);
    expect(s.type === PType.REQUEST && s.stub).toEqual(Buffer.from('0000000065000000', 'hex'));
    expect(s.auth!.authLevel).toBe(5);
    const r = decode(V.sealedResponse);
    expect(r.type === PType.RESPONSE && r.stub.length).toBe(128);
    expect(r.auth!.authValue.length).toBe(16);
  });

  it('encodes back to the captured bytes', () => {
    for (const k of SAME_BYTES) expect(encodePdu(decode(V[k])).toString('hex'), k).toBe(V[k].toString('hex'));
    // auth3: the 4-byte pad is arbitrary (impacket sends spaces, we send zeros).
    const auth3 = Buffer.from(V.auth3);
    auth3.fill(0, 16, 20);
    expect(encodePdu(decode(V.auth3)).toString('hex')).toBe(auth3.toString('hex'));
  });

  it('pads a protected stub to 16 bytes and records auth_pad_length (MS-RPCE 2.2.2.11)', () => {
    const q = decode(V.signedRequest);
    const { pdu, dataStart, dataEnd, signedEnd } = encodePduLayout(q);
    expect([dataStart, dataEnd, signedEnd, pdu.length]).toEqual([24, 40, 48, 64]);
    expect(pdu.readUInt16LE(8)).toBe(64); // frag_length
    expect(pdu.readUInt16LE(10)).toBe(16); // auth_length
    expect(pdu[42]).toBe(8); // auth_pad_length
    const back = decode(pdu);
    expect(back.type === PType.REQUEST && back.stub).toEqual(Buffer.from('0000000065000000', 'hex'));
  });
});

describe('rpc PDU codec: malformed input', () => {
  const all = Object.entries(V) as [string, Buffer][];

  it('every proper prefix of every vector is a typed error', () => {
    for (const [name, v] of all) {
      for (let n = 0; n < v.length; n++) {
        const e = expectFail(decodePdu(v.subarray(0, n)));
        expect(['truncated', 'bad-length'], `${name}[0,${n})`).toContain(e.code);
      }
    }
  });

  it('every prefix with frag_length claiming its own length decodes or fails typed, never throws', () => {
    for (const [name, v] of all) {
      for (let n = 16; n < v.length; n++) {
        const b = Buffer.from(v.subarray(0, n));
        b.writeUInt16LE(n, 8);
        if (b.readUInt16LE(10) + 8 > n - 16) b.writeUInt16LE(0, 10); // keep some prefixes without a trailer
        const r = decodePdu(b);
        expect(isWellFormedResult(r), `${name}[0,${n})`).toBe(true);
      }
    }
  });

  it('refuses other versions, big-endian data representation, unknown PTYPEs, impossible auth_length', () => {
    const v = Buffer.from(V.bindEpm);
    expectFail(decodePdu(Object.assign(Buffer.from(v), { 0: 4 })), 'bad-value');
    expectFail(decodePdu(Object.assign(Buffer.from(v), { 4: 0x00 })), 'bad-value');
    expectFail(decodePdu(Object.assign(Buffer.from(v), { 2: 17 })), 'unknown-opcode');
    const a = Buffer.from(v);
    a.writeUInt16LE(200, 10);
    expectFail(decodePdu(a), 'bad-length');
    const pad = Buffer.from(V.sealedRequest);
    pad[34] = 250; // auth_pad_length beyond the body
    expectFail(decodePdu(pad), 'bad-length');
    const noTrailer = Buffer.from(V.auth3);
    noTrailer.writeUInt16LE(0, 10);
    expectFail(decodePdu(noTrailer), 'missing-option');
  });

  it('pduLength frames a stream and rejects what cannot be a header', () => {
    expect(pduLength(V.bindEpm.subarray(0, 9))).toBeUndefined();
    expect(pduLength(V.bindEpm)).toBe(72);
    expect(pduLength(Buffer.from([0x16, 0x03]))).toBe('bad'); // a TLS record, say
    expect(pduLength(Buffer.from('0500000300', 'hex'))).toBe('bad'); // big-endian drep
    const short = Buffer.from(V.bindEpm);
    short.writeUInt16LE(8, 8);
    expect(pduLength(short)).toBe('bad');
  });
});
