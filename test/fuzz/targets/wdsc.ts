/** Fuzz targets: the MS-WDSC packet codec and WDSMC_OP_INITIATE requests and replies (MS-WDSMSI 2.2.1). */
import fc from 'fast-check';
import { InitiateRequest, InitiateResult, buildInitiateRequest, decodeInitiateRequest, decodeInitiateResult, encodeInitiateError, encodeInitiateReply } from '../../../core/wdsc/initiate';
import { WdscPacket, decodeWdsc, encodeWdsc } from '../../../core/wdsc/packet';
import { bytes, u32 } from '../arbitraries/common';
import { reply, request, wdscPacket } from '../arbitraries/wdsc';
import { Exemption, FuzzTarget, codecTarget } from '../target';

/**
 * The MS-WDSC forms protocol-notes #22-#28 accept (Size-Of-Header >= 24, Reserved not checked, a name without its
 * null, ARRAY in either half of Variable-Type, both array layouts, numbers of any width 1..8, padding of the last
 * block, the RFC 4122 GUID order, exact repeats). Coarse: any x that decodes to the same packet (decode(encode(v))
 * = v is still checked).
 */
const packetExemptions: Exemption<WdscPacket>[] = [{ note: '#22-#28', what: 'coarse: the accepted MS-WDSC packet forms', applies: () => true }];
/** #29-#31 (absent/zero-length ContentMetadata, names case-insensitive, HashKey, types, variables beside an error), on top of #22-#28. */
const initiateExemptions: Exemption<unknown>[] = [{ note: '#22-#31', what: 'coarse: the accepted MS-WDSC packet and INITIATE variable forms', applies: () => true }];

const wdsc = codecTarget<WdscPacket>({
  name: 'wdsc-packet',
  about: 'MS-WDSC packets: endpoint header, operation header, variables of every type and array form',
  messages: wdscPacket,
  encode: encodeWdsc,
  decode: decodeWdsc,
  reencode: (v) => (v.variables.some((x) => Array.isArray(x.value) && x.value.length === 0) ? undefined : encodeWdsc(v)),
  unencodable: '#24: Array-Size 0 is read as an empty array, which the encoder refuses (2.2.1.3.3.2 "MUST NOT be zero")',
  exemptions: packetExemptions,
  maxRandom: 400,
});

const initiateRequest = codecTarget<{ namespace: string; content: string; clientName: string; bootDevice: boolean }, InitiateRequest>({
  name: 'wdsc-initiate-request',
  about: 'WDSMC_OP_INITIATE request (the coordinator reads it)',
  messages: request,
  encode: (r) => buildInitiateRequest(r).packet,
  decode: decodeInitiateRequest,
  expected: (r) => {
    const b = buildInitiateRequest(r);
    return { namespace: r.namespace, content: r.content, client: b.clientName, cap: b.cap };
  },
  reencode: (v) => ((v.cap === 1 || v.cap === 5) && v.client.length <= 15 && buildInitiateRequest({ namespace: v.namespace, content: v.content, clientName: v.client, bootDevice: false }).clientName === v.client ? buildInitiateRequest({ namespace: v.namespace, content: v.content, clientName: v.client, bootDevice: v.cap === 5 }).packet : undefined),
  unencodable: '#31, MS-WDSMSI note <3>: a request without Cap, with another Cap, or with a longer Client than osdcast sends, has no buildInitiateRequest form',
  exemptions: initiateExemptions,
});

type Reply = Parameters<typeof encodeInitiateReply>[0];
const initiateResult = codecTarget<{ k: 'reply'; r: Reply } | { k: 'error'; code: number }, InitiateResult>({
  name: 'wdsc-initiate-reply',
  about: 'WDSMC_OP_INITIATE reply and error reply (the client reads them)',
  messages: fc.oneof(reply.map((r) => ({ k: 'reply' as const, r })), fc.integer({ min: 1, max: 0xffffffff }).map((code) => ({ k: 'error' as const, code }))),
  encode: (m) => (m.k === 'reply' ? encodeInitiateReply(m.r) : encodeInitiateError(m.code)),
  decode: (b) => decodeInitiateResult(0, b),
  expected: (m, v) => (m.k === 'reply' ? { kind: 'reply', ...m.r } : { ...v, kind: 'error', source: 'reply', win32: m.code }),
  reencode: (v) => {
    if (v.kind === 'error') return encodeInitiateError(v.win32);
    const { kind: _k, ...r } = v;
    return encodeInitiateReply(r);
  },
  exemptions: initiateExemptions,
  alsoNeverThrow: [(b) => decodeInitiateResult(0x5, b), (b) => decodeInitiateResult(0, undefined)],
  maxRandom: 400,
  extra: [u32.map(encodeInitiateError), bytes(0)],
});

export const wdscTargets: FuzzTarget[] = [wdsc, initiateRequest, initiateResult] as FuzzTarget[];
