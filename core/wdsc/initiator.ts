/**
 * MS-WDSMSI over the WDS Control Protocol (MS-WDSC), the way Windows Server 2016+ starts a multicast session:
 * one DCE/RPC call of WdsRpcMessage (interface 1A927394-…, opnum 0) carrying WDSMC_OP_INITIATE, over one TCP
 * stream. `WdscInitiator` is a StreamInitiator (core/msi-client.ts): the I/O shell opens the stream to `server`,
 * feeds bytes and closes it when `pollClose()` says so; the result is the SessionInfo or a typed failure.
 *
 * `EptMapLookup` is the same shape for the step before it when the RPC port refuses: ept_map on the endpoint
 * mapper (TCP 135) for the WDSC interface, giving the port.
 *
 * Both drive core/rpc's RpcClient for one call and read its events with the connect plan's judge
 * (core/rpc/connect.ts) into one typed outcome (protocol-notes #43):
 *   refused / unreachable connect, timeout (connect, bind or call), closed before the bind was answered  network
 *   bind_nak (other than "busy"), an access or authentication fault, a security provider that refused the
 *   server's token, or the server ending an authenticated association before the first answer             auth
 *   a Win32 error from WdsRpcMessage or in the reply's OpCode-ErrorCode                                    error (final)
 *   anything else (unknown interface, a reply that does not decode, a response that fails verification)   protocol
 */
import type { Endpoint } from '../mt-client';
import type { InitiationResult, StreamInitiator, StreamMachine } from '../msi-client';
import { RpcClient, RpcEvent, RpcSecurity } from '../rpc/client';
import { judge, Verdict } from '../rpc/connect';
import { EPM_INTERFACE, EPT_MAP_OPNUM, EPT_S_NOT_REGISTERED, decodeEptMapResponse, encodeEptMapRequest } from '../rpc/epm';
import type { SyntaxId } from '../rpc/ndr';
import { AuthType } from '../rpc/security';
import { WDSC_INTERFACE, WDS_RPC_MESSAGE_OPNUM, decodeWdsRpcMessageResponse, encodeWdsRpcMessageRequest } from '../rpc/wds-rpc';
import { sessionFromWdscReply } from '../session';
import { decodeInitiateResult } from './initiate';

type Failure = Extract<InitiationResult, { ok: false }>;

interface ExchangeOptions {
  server: Endpoint;
  abstractSyntax: SyntaxId;
  /** Absent: RPC_C_AUTHN_LEVEL_NONE. */
  security?: RpcSecurity;
  /** Bounds the connect, the bind and the call, each (ms). */
  timeoutMs: number;
  /** The call's opnum and request stub. */
  opnum: number;
  stub: Buffer;
  now: number;
}

/** One RPC call over one stream; subclasses read the response stub. */
abstract class RpcExchange<R> implements StreamMachine<R | Failure> {
  readonly server: Endpoint;
  protected res: R | Failure | undefined;
  private readonly client: RpcClient;
  private connectDeadline: number | undefined;
  private callId = 0;
  private bound = false;
  protected bad = 0;

  constructor(private readonly x: ExchangeOptions) {
    this.server = x.server;
    this.connectDeadline = x.now + x.timeoutMs;
    this.client = new RpcClient({ abstractSyntax: x.abstractSyntax, timeoutMs: x.timeoutMs, ...(x.security ? { security: x.security } : {}) });
  }

  get result(): R | Failure | undefined {
    return this.res;
  }
  get malformed(): number {
    return this.bad + this.client.stats.malformed;
  }

  private where(): string {
    return `${this.server.address}:${this.server.port}`;
  }

  handleConnected(now: number): void {
    if (this.res || this.connectDeadline === undefined) return;
    this.connectDeadline = undefined;
    this.client.handleConnected(now);
    this.callId = this.client.call(this.x.opnum, this.x.stub, now);
    this.pump();
  }

  handleConnectFailed(_now: number, why: 'refused' | 'unreachable', message: string): void {
    if (this.res) return;
    this.connectDeadline = undefined;
    this.res = { ok: false, kind: 'refused', message: `${why === 'refused' ? 'connection refused' : 'unreachable'} at ${this.where()} (${message})` };
  }

  handleBytes(chunk: Buffer, now: number): void {
    if (this.res) return;
    this.client.handleBytes(chunk, now);
    this.pump();
  }

  handleClosed(now: number, error?: string): void {
    if (this.res) return;
    if (this.connectDeadline !== undefined) {
      this.connectDeadline = undefined;
      this.res = { ok: false, kind: 'closed', message: `the connection to ${this.where()} ended before it was open${error ? ` (${error})` : ''}` };
      return;
    }
    this.client.handleClosed(now);
    this.pump();
  }

  handleTimeout(now: number): void {
    if (this.res) return;
    if (this.connectDeadline !== undefined) {
      if (now < this.connectDeadline) return;
      this.connectDeadline = undefined;
      this.res = { ok: false, kind: 'timeout', tries: 1, message: `no connection to ${this.where()} within ${this.x.timeoutMs / 1000} s` };
      return;
    }
    this.client.handleTimeout(now);
    this.pump();
  }

  pollTimeout(): number | undefined {
    if (this.res) return undefined;
    return this.connectDeadline ?? this.client.pollTimeout();
  }
  pollSend(): Buffer | undefined {
    return this.res ? undefined : this.client.pollSend();
  }
  pollClose(): boolean {
    return this.res !== undefined;
  }

  /** The answer to the call: the result, or a failure. */
  protected abstract answer(stub: Buffer): R | Failure;

  private pump(): void {
    for (let e = this.client.pollEvent(); e && !this.res; e = this.client.pollEvent()) {
      if (e.type === 'bound') this.bound = true;
      const r = this.judge(e);
      if (r) this.res = r;
    }
  }

  private judge(e: RpcEvent): R | Failure | undefined {
    const at = this.where();
    const v = judge(e, { authType: this.x.security?.provider.authType ?? AuthType.NONE }, this.callId, this.bound);
    if (!v) return undefined;
    const status = v.status !== undefined ? { status: v.status } : {};
    switch (v.kind) {
      case 'answered':
        if (e.type === 'response') return this.answer(e.stub);
        return { ok: false, kind: 'protocol', message: `${at} answered with ${v.detail} (0x${((v.status ?? 0) >>> 0).toString(16)})` };
      case 'auth-type-rejected':
      case 'auth-refused':
        return { ok: false, kind: 'auth', message: `authentication failed or access denied at ${at} (${v.detail})`, authTypeRejected: v.kind === 'auth-type-rejected', ...status };
      case 'network':
        if (e.type === 'error' && e.code === 'timeout') return { ok: false, kind: 'timeout', tries: 1, message: `${at}: ${v.detail}` };
        return { ok: false, kind: 'closed', message: `${at}: ${v.detail}` };
      case 'protocol':
        return { ok: false, kind: 'protocol', message: `${at}: ${v.detail}` };
    }
  }
}

export interface WdscInitiatorConfig {
  server: Endpoint;
  /** The WDSC packet of buildInitiateRequest(). */
  request: Buffer;
  /** A provider at PKT_PRIVACY (MS-WDSC 2.1.2), or absent for RPC_C_AUTHN_LEVEL_NONE. */
  security?: RpcSecurity;
  timeoutMs: number;
}

/** Win32 ERROR_ACCESS_DENIED. */
const WIN32_ACCESS_DENIED = 5;

export class WdscInitiator extends RpcExchange<Extract<InitiationResult, { ok: true }>> implements StreamInitiator {
  readonly transport = 'stream' as const;

  constructor(cfg: WdscInitiatorConfig, now: number) {
    super({ server: cfg.server, abstractSyntax: WDSC_INTERFACE, security: cfg.security, timeoutMs: cfg.timeoutMs, opnum: WDS_RPC_MESSAGE_OPNUM, stub: encodeWdsRpcMessageRequest(cfg.request), now });
  }

  protected answer(stub: Buffer): InitiationResult {
    const m = decodeWdsRpcMessageResponse(stub);
    if (!m.ok) return this.undecodable(`WdsRpcMessage response: ${m.error.toString()}`);
    const d = decodeInitiateResult(m.value.returnValue, m.value.reply);
    if (!d.ok) return this.undecodable(`WDSMC_OP_INITIATE reply: ${d.error.toString()}`);
    const r = d.value;
    // ERROR_ACCESS_DENIED as the answer (anonymous or level NONE refused, an account without the right) is a refused
    // authentication like a fault, not the final word on the content: the plan and --initiation auto go on (#43).
    if (r.kind === 'error' && r.win32 === WIN32_ACCESS_DENIED)
      return { ok: false, kind: 'auth', message: `authentication failed or access denied at ${this.server.address}:${this.server.port} (the DP answered ${r.name})`, authTypeRejected: false };
    if (r.kind === 'error') return { ok: false, kind: 'error', win32: r.win32, message: `server refused the session: ${r.name}` };
    return { ok: true, session: sessionFromWdscReply(r) };
  }

  private undecodable(message: string): InitiationResult {
    this.bad++;
    return { ok: false, kind: 'protocol', message: `${this.server.address}:${this.server.port}: ${message}` };
  }
}

export type EptMapResultOk = { ok: true; port: number };

/** ept_map for one interface over ncacn_ip_tcp, without authentication (the endpoint mapper takes none). */
export class EptMapLookup extends RpcExchange<EptMapResultOk> {
  private readonly iface = WDSC_INTERFACE;
  constructor(cfg: { server: Endpoint; timeoutMs: number }, now: number) {
    super({ server: cfg.server, abstractSyntax: EPM_INTERFACE, timeoutMs: cfg.timeoutMs, opnum: EPT_MAP_OPNUM, stub: encodeEptMapRequest(WDSC_INTERFACE), now });
  }

  protected answer(stub: Buffer): EptMapResultOk | Failure {
    const at = `the endpoint mapper at ${this.server.address}:${this.server.port}`;
    const d = decodeEptMapResponse(stub);
    if (!d.ok) {
      this.bad++;
      return { ok: false, kind: 'protocol', message: `${at}: ept_map response: ${d.error.toString()}` };
    }
    const { status, endpoints } = d.value;
    const hit = endpoints.find((e) => e.iface.uuid.toLowerCase() === this.iface.uuid.toLowerCase() && e.iface.major === this.iface.major && e.port > 0);
    if (status === 0 && hit) return { ok: true, port: hit.port };
    const why = status === EPT_S_NOT_REGISTERED || status === 0 ? 'not registered' : `status 0x${(status >>> 0).toString(16)}`;
    return { ok: false, kind: 'protocol', message: `${at}: the WDS Control Protocol interface is ${why}` };
  }
}

/**
 * The connect plan's reading of a failed attempt (core/rpc/connect.ts nextAttempt: 9, then 10 when 9 is
 * rejected; anonymous, then level NONE when refused; protocol-notes #32, #34, #43).
 */
export function verdictOf(f: Failure): Verdict {
  if (f.kind === 'auth') return { kind: f.authTypeRejected ? 'auth-type-rejected' : 'auth-refused', detail: f.message, ...(f.status !== undefined ? { status: f.status } : {}) };
  return { kind: f.kind === 'protocol' || f.kind === 'error' ? 'protocol' : 'network', detail: f.message };
}
