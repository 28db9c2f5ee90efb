/**
 * The WDS Control Protocol responder (MS-WDSC 3.1.4.1): one WdsRpcMessage call in, its response stub out.
 * Registered endpoint: the Multicast Session Initiation endpoint (MS-WDSMSI 1.9, 6f13a317-…), OpCode
 * WDSMC_OP_INITIATE, whose request is decided by the same SessionInitiation as the UDP one (msi.ts).
 *
 *   not NDR for WdsRpcMessage            fault rpc_x_bad_stub_data
 *   Endpoint Header invalid              return value ERROR_INVALID_DATA (13), no reply (3.1.4.1)
 *   Endpoint GUID not registered         return value ERROR_NOT_SUPPORTED (50)
 *   unauthenticated call, anonymous off  return value ERROR_ACCESS_DENIED (5) (3.1.4.1; the endpoint is
 *   or authenticated below PKT_PRIVACY   "Authenticated", MS-WDSC 2.1.2 asks PKT_PRIVACY)
 *   OpCode other than INITIATE           reply with OpCode-ErrorCode ERROR_NOT_SUPPORTED (50)
 *   MUST variable missing or mistyped    reply with ERROR_INVALID_PARAMETER (87)
 *   unknown namespace / content          reply with ERROR_NOT_FOUND (1168) / ERROR_FILE_NOT_FOUND (2)
 *   success                              the session, with the security fields of security.ts for this client
 * Sans-I/O: no sockets, no clock; rpc.ts calls it for each request on the WDSC interface.
 */
import { decodeWdsc, isEndpoint } from '../../core/wdsc/packet';
import { MSI_ENDPOINT, WDSMC_OP_INITIATE, decodeInitiateRequest, encodeInitiateError, encodeInitiateReply } from '../../core/wdsc/initiate';
import { decodeWdsRpcMessageRequest, encodeWdsRpcMessageResponse } from '../../core/rpc/wds-rpc';
import { AuthLevel } from '../../core/rpc/security';
import { CallAuth } from '../../core/rpc/server';
import { Context } from './context';
import { ERROR_INVALID_PARAMETER, SessionInitiation } from './msi';
import { isPreOs } from './security';

export const ERROR_ACCESS_DENIED = 5;
export const ERROR_INVALID_DATA = 13;
export const ERROR_NOT_SUPPORTED = 50;
/** rpc_x_bad_stub_data (MS-ERREF 2.2), the fault for a stub that is not WdsRpcMessage's NDR. */
export const RPC_X_BAD_STUB_DATA = 0x6f7;

type From = { address: string; port: number };
export type WdscAnswer = { stub: Buffer } | { fault: number };

export class WdscResponder {
  constructor(
    private readonly ctx: Context,
    private readonly initiation: SessionInitiation,
    /** Unauthenticated calls (and anonymous NTLM, which rpc.ts lets through only then) are served. */
    private readonly allowAnonymous: boolean,
  ) {}

  handle(stub: Buffer, auth: CallAuth, from: From): WdscAnswer {
    const { stats } = this.ctx;
    stats.wdscCalls++;
    const packet = decodeWdsRpcMessageRequest(stub);
    if (!packet.ok) {
      stats.wdscRefused++;
      stats.malformed++;
      return { fault: RPC_X_BAD_STUB_DATA };
    }
    const status = (win32: number): WdscAnswer => {
      stats.wdscRefused++;
      return { stub: encodeWdsRpcMessageResponse(undefined, win32) };
    };
    const p = decodeWdsc(packet.value);
    if (!p.ok) {
      stats.malformed++;
      return status(ERROR_INVALID_DATA);
    }
    if (!isEndpoint(p.value, MSI_ENDPOINT)) return status(ERROR_NOT_SUPPORTED);
    const anonymous = auth.level === AuthLevel.NONE || auth.identity?.anonymous === true;
    if (anonymous ? !this.allowAnonymous : auth.level !== AuthLevel.PKT_PRIVACY) return status(ERROR_ACCESS_DENIED);
    const user = auth.level === AuthLevel.NONE ? 'unauthenticated' : anonymous ? 'anonymous' : `${auth.identity?.domain ? `${auth.identity.domain}\\` : ''}${auth.identity?.user ?? ''}`;
    const reply = (win32: number): WdscAnswer => ({ stub: encodeWdsRpcMessageResponse(encodeInitiateError(win32), 0) });
    if (p.value.code !== WDSMC_OP_INITIATE) {
      this.initiation.refuse(from, ERROR_NOT_SUPPORTED, { via: 'rpc', user });
      return reply(ERROR_NOT_SUPPORTED);
    }
    const req = decodeInitiateRequest(packet.value);
    if (!req.ok) {
      this.initiation.refuse(from, ERROR_INVALID_PARAMETER, { via: 'rpc', user });
      return reply(ERROR_INVALID_PARAMETER);
    }
    const r = this.initiation.answer({ namespace: req.value.namespace, content: req.value.content, via: 'rpc', user }, from);
    if (!r.ok) return reply(r.win32);
    // The session's security for this client (security.ts): CHECKSUM for a pre-OS one (Cap has BOOT_DEVICE,
    // MS-WDSMSI 3.1.5.1.1) and then no security field; else SecMode and the keys. No UserSid (MS-WDSMSI <5>).
    const security = this.ctx.keys.replySecurity(isPreOs(req.value.cap));
    return { stub: encodeWdsRpcMessageResponse(encodeInitiateReply({ ...r.offer, contentMetadata: Buffer.alloc(0), ...security }), 0) };
  }
}
