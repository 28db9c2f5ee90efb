/**
 * NDR 2.0 for the one method of the WDS Control Protocol (MS-WDSC 3.1.4.1), interface
 * 1A927394-352E-4553-AE3F-7CF4AAFCA620 v1.0, opnum 0:
 *
 *   unsigned long WdsRpcMessage(handle_t, [in] unsigned long uRequestPacketSize,
 *     [in, size_is(uRequestPacketSize)] byte bRequestPacket[],
 *     [out] unsigned long* puReplyPacketSize, [out, size_is(, *puReplyPacketSize)] byte** pbReplyPacket);
 *
 * In: the size, then the conformant array (max_count, bytes). Out: the size (a reference pointer carries no
 * referent id), a unique pointer (referent id or 0) to a conformant array, and the return value (a Win32 error).
 */
import { Decoded, fail, guard, ok } from '../codec/bytes';
import { LeReader, LeWriter, SyntaxId } from './ndr';

export const WDSC_INTERFACE: SyntaxId = { uuid: '1a927394-352e-4553-ae3f-7cf4aafca620', major: 1, minor: 0 };
export const WDS_RPC_MESSAGE_OPNUM = 0;

export function encodeWdsRpcMessageRequest(packet: Buffer): Buffer {
  return new LeWriter(8 + packet.length).u32le(packet.length).u32le(packet.length).bytes(packet).finish();
}

export interface WdsRpcMessageResult {
  /** The reply packet, or undefined when the server returned a null pointer (typically with an error). */
  reply: Buffer | undefined;
  /** ERROR_SUCCESS (0) or a Win32 error code. */
  returnValue: number;
}

export function decodeWdsRpcMessageResponse(stub: Buffer): Decoded<WdsRpcMessageResult> {
  return guard('WdsRpcMessage', () => {
    const r = new LeReader(stub);
    const size = r.u32le('puReplyPacketSize');
    const ref = r.u32le('pbReplyPacket pointer');
    let reply: Buffer | undefined;
    if (ref !== 0) {
      const max = r.count('pbReplyPacket max_count');
      if (max !== size) return fail('bad-count', `puReplyPacketSize ${size} but the array holds ${max}`);
      reply = r.bytes(max, 'pbReplyPacket');
      r.align(4);
    }
    const returnValue = r.u32le('return value');
    if (r.remaining) return fail('trailing', `${r.remaining} bytes after the return value`);
    return ok(reply ? { reply, returnValue } : { reply: undefined, returnValue });
  });
}

/** The server side (the coordinator's WDSC listener and tests): the response stub for a reply or an error. */
export function encodeWdsRpcMessageResponse(reply: Buffer | undefined, returnValue: number): Buffer {
  const w = new LeWriter(16 + (reply?.length ?? 0));
  if (reply) w.u32le(reply.length).u32le(0x20000).u32le(reply.length).bytes(reply).align(4);
  else w.u32le(0).u32le(0);
  return w.u32le(returnValue).finish();
}

export function decodeWdsRpcMessageRequest(stub: Buffer): Decoded<Buffer> {
  return guard('WdsRpcMessage request', () => {
    const r = new LeReader(stub);
    const size = r.u32le('uRequestPacketSize');
    const max = r.count('bRequestPacket max_count');
    if (max !== size) return fail('bad-count', `uRequestPacketSize ${size} but the array holds ${max}`);
    const packet = r.bytes(max, 'bRequestPacket');
    // The array ends the stub; a sender may still pad it to 4 or 8 (NDR alignment of what would follow).
    if (r.remaining >= 8) return fail('trailing', `${r.remaining} bytes after the request packet`);
    return ok(packet);
  });
}
