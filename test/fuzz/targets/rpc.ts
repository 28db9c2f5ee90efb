/** Fuzz targets: the DCE/RPC PDU codec (MS-RPCE 2.2.2) and the NDR call stubs (WdsRpcMessage, ept_map). */
import fc from 'fast-check';
import { PType, Pdu, decodePdu, encodePdu } from '../../../core/rpc/pdu';
import { SyntaxId } from '../../../core/rpc/ndr';
import { EptMapRequest, EptMapResult, decodeEptMapRequest, decodeEptMapResponse, encodeEptMapRequest, encodeEptMapResponse } from '../../../core/rpc/epm';
import { WdsRpcMessageResult, decodeWdsRpcMessageRequest, decodeWdsRpcMessageResponse, encodeWdsRpcMessageRequest, encodeWdsRpcMessageResponse } from '../../../core/rpc/wds-rpc';
import { bytes, mutate, mutation, u16, u32, u8 } from '../arbitraries/common';
import { expectedPdu, pdu, syntax } from '../arbitraries/rpc';
import { V } from '../../core/rpc/vectors';
import { FuzzTarget, codecTarget, ignoredBytes, onlyAt, trailingIgnored } from '../target';

/**
 * The byte-level forms a PDU may take beyond the encoder's, together (a mutation may hit several): bytes the decoder
 * does not read (reserved fields, pad octets, packed_drep's last three bytes, the auth padding's content), found by
 * probing; rpc_vers_minor 1 (C706 12.6.3.1 / MS-RPCE 2.2.2.1); a bind_ack's port_any_t with or without its NUL, an
 * empty one also as a lone NUL (C706 12.6.4.4).
 */
const pduIgnored = ignoredBytes(decodePdu, 'unlisted (MS-RPCE 2.2.2, C706 12.6)', 'bytes the decoder does not read (reserved, pads, drep[1..3]), rpc_vers_minor 1, port_any_t with or without its NUL', (i, x, y) => {
  if (i === 1) return x[1] === 1 && y[1] === 0;
  if (x.length < 28 || (x[2] !== PType.BIND_ACK && x[2] !== PType.ALTER_CONTEXT_RESP)) return false;
  return i >= 24 && i < 26 + Math.max(x.readUInt16LE(24), y.readUInt16LE(24)) + 4;
});
/** ept_map towers are read leniently (C706 appendix L): only the interface, TCP port and IP floors; the rest skipped. */
const towerLenient = <V>() => onlyAt<V>('unlisted (MS-RPCE 2.2.1.2.5, C706 14.3 and appendix L)', 'coarse: same length, same value: the entry handle, object UUID, referent ids, max_count, pads and tower floors the decoder does not read', () => true);

const rpcPdu = codecTarget<Pdu>({
  name: 'rpc-pdu',
  about: 'DCE/RPC PDUs: bind, alter_context, bind_ack, bind_nak, rpc_auth_3, request, response, fault, with and without sec_trailer',
  messages: fc.oneof({ weight: 4, arbitrary: pdu }, { weight: 1, arbitrary: fc.constantFrom(...Object.values(V)).map((v) => decodePdu(v)).filter((r) => r.ok).map((r) => (r as { value: Pdu }).value) }),
  encode: encodePdu,
  decode: decodePdu,
  expected: (m, back) => expectedPdu(m, back),
  normalize: (v) => (v.auth ? { ...v, auth: { ...v.auth, authPadLength: 0 } } : v),
  exemptions: [
    pduIgnored,
    {
      note: 'unlisted (MS-RPCE 2.2.2.11: auth_pad_length)',
      what: 'any auth_pad_length that fits the body is taken; the encoder pads the stub to 16 (request, response) or the body to 4',
      applies: (x, y, v) => {
        if (!v.auth) return false;
        const at = (b: Buffer) => b[b.length - v.auth!.authValue.length - 8 + 2];
        return at(x) !== at(y); // coarse: the stub's end moves with it
      },
    },
    {
      note: 'unlisted (C706 12.6.4: bodies are padded; Samba pads bind_nak to 4)',
      what: 'bytes after the PDU body, inside frag_length, are not read',
      applies: (x, y, v) => {
        if (x.length <= y.length) return false;
        const t = Buffer.from(x.subarray(0, y.length));
        t.writeUInt16LE(y.length, 8);
        return t.equals(y) || pduIgnored.applies(t, y, v);
      },
    },
    {
      note: 'unlisted (the forms above, combined)',
      what: 'coarse: same PDU type and call id, same value after a mutation that hit several of the forms above',
      applies: (x, y) => x.length >= 16 && x[2] === y[2] && x.readUInt32LE(12) === y.readUInt32LE(12),
    },
  ],
  extra: [
    // PDUs captured from Windows and Samba, as they are and mutated
    fc.tuple(fc.constantFrom(...Object.values(V)), fc.array(mutation, { maxLength: 4 })).map(([v, ms]) => ms.reduce(mutate, v)),
    // arbitrary bodies behind a plausible header (version 5.0, a known type, NDR little-endian, frag_length right)
    fc.tuple(u8, u8, bytes(300), u16).map(([type, fl, rest, authLength]) => {
      const b = Buffer.concat([Buffer.from([5, 0, type % 20, fl, 0x10, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0]), rest]);
      b.writeUInt16LE(b.length, 8);
      b.writeUInt16LE(authLength % (b.length + 8), 10);
      return b;
    }),
  ],
});

const wdsRpcRequest = codecTarget<Buffer>({
  name: 'rpc-wdsrpc-request',
  about: 'NDR stub of a WdsRpcMessage request (the server reads it)',
  messages: bytes(300),
  encode: encodeWdsRpcMessageRequest,
  decode: decodeWdsRpcMessageRequest,
  exemptions: [trailingIgnored(decodeWdsRpcMessageRequest, 'unlisted (core/rpc/wds-rpc.ts: NDR alignment)', 'up to 7 pad bytes after the request packet')],
});

const wdsRpcResponse = codecTarget<WdsRpcMessageResult>({
  name: 'rpc-wdsrpc-response',
  about: 'NDR stub of a WdsRpcMessage response (the client reads it)',
  messages: fc.record({ reply: fc.option(bytes(300), { nil: undefined }), returnValue: u32 }),
  encode: (m) => encodeWdsRpcMessageResponse(m.reply, m.returnValue),
  decode: decodeWdsRpcMessageResponse,
  exemptions: [
    ignoredBytes(decodeWdsRpcMessageResponse, 'unlisted (C706 14.3.10: a referent id is any non-zero value; pad octets unspecified)', "the pointer's referent id and alignment padding", (i, x, y) => i >= 4 && i < 8 && x.readUInt32LE(4) !== 0 && y.readUInt32LE(4) !== 0),
  ],
});

const endpoint = fc.record({ iface: syntax, port: u16, address: fc.ipV4() });
const lower = (r: EptMapResult): EptMapResult => ({ ...r, endpoints: r.endpoints.map((e) => ({ ...e, iface: { ...e.iface, uuid: e.iface.uuid.toLowerCase() } })) });

const eptMapResponse = codecTarget<{ r: EptMapResult; maxTowers: number }, EptMapResult>({
  name: 'rpc-eptmap-response',
  about: 'NDR stub of an ept_map response with ncacn_ip_tcp towers (the client reads it)',
  // max_count (the request's max_towers) is not part of the result: the canonical form has max_count = the towers sent
  messages: fc.record({ status: u32, endpoints: fc.array(endpoint, { maxLength: 3 }) }).map((r) => ({ r, maxTowers: Math.max(1, r.endpoints.length) })),
  encode: (m) => encodeEptMapResponse(m.r, m.maxTowers),
  decode: decodeEptMapResponse,
  expected: (m) => lower(m.r),
  reencode: (v) => (v.endpoints.some((e) => e.address === '') ? undefined : encodeEptMapResponse(v, Math.max(v.endpoints.length, 1))),
  unencodable: "unlisted (MS-RPCE 2.2.1.2.5; only the port is used): a tower without a 4-byte IP floor has address ''",
  exemptions: [
    { note: 'unlisted (MS-RPCE 2.2.1.2.5)', what: 'towers that are not ncacn_ip_tcp (or null pointers) are skipped', applies: (x, _y, v) => x.length >= 24 && x.readUInt32LE(20) > v.endpoints.length },
    towerLenient(),
  ],
  extra: [fc.constant(V.eptMapResponse.subarray(24))],
});

const eptMapRequest = codecTarget<{ iface: SyntaxId; maxTowers: number }, EptMapRequest>({
  name: 'rpc-eptmap-request',
  about: 'NDR stub of an ept_map request (the coordinator reads it)',
  messages: fc.record({ iface: syntax, maxTowers: u32 }),
  encode: (m) => encodeEptMapRequest(m.iface, m.maxTowers),
  decode: decodeEptMapRequest,
  expected: (m) => ({ iface: { ...m.iface, uuid: m.iface.uuid.toLowerCase() }, maxTowers: m.maxTowers }),
  reencode: (v) => (v.iface ? encodeEptMapRequest(v.iface, v.maxTowers) : undefined),
  unencodable: 'unlisted (MS-RPCE 2.2.1.2.5): a tower that is not ncacn_ip_tcp is read as no interface',
  exemptions: [ignoredBytes(decodeEptMapRequest, 'unlisted (C706 14.3: the object UUID and the entry handle are not read)', 'bytes the decoder does not read'), towerLenient()],
});

export const rpcTargets: FuzzTarget[] = [rpcPdu, wdsRpcRequest, wdsRpcResponse, eptMapRequest, eptMapResponse] as FuzzTarget[];
