/**
 * The coordinator's DCE/RPC front, sans-I/O: one RpcLink per TCP connection (core/rpc/server.ts underneath),
 * the NTLM server providers it authenticates with (auth types 9 and 10, NTLMv2 against the configured account,
 * anonymous when allowed), and the dispatch of each call:
 *   'wdsc' listener  WdsRpcMessage (MS-WDSC, opnum 0) → the coordinator's WDSC responder (wdsc.ts)
 *   'epm' listener   ept_map (opnum 3) → the tower of our own WDSC port for the WDSC interface,
 *                    ept_s_not_registered for anything else; other endpoint-mapper opnums: op_rng_error
 * Time and randomness come from the caller (the TCP shell, tcp.ts).
 */
import { Credentials } from '../../core/ntlm/auth';
import { NtlmServerProvider, SpnegoServerProvider } from '../../core/ntlm/providers';
import { EPM_INTERFACE, EPT_MAP_OPNUM, EPT_S_NOT_REGISTERED, decodeEptMapRequest, encodeEptMapResponse } from '../../core/rpc/epm';
import { syntaxEquals } from '../../core/rpc/ndr';
import { AuthLevel, AuthType, ServerSecurityProvider } from '../../core/rpc/security';
import { CallAuth, FaultStatus, RpcServerConnection, RpcServerEvent, RpcServerInterface } from '../../core/rpc/server';
import { WDSC_INTERFACE, WDS_RPC_MESSAGE_OPNUM } from '../../core/rpc/wds-rpc';
import { RPC_X_BAD_STUB_DATA, WdscAnswer } from './wdsc';

type From = { address: string; port: number };
export type Listener = 'wdsc' | 'epm';

export interface RpcFrontConfig {
  /** The WDSC listener's port: the bind_ack's sec_addr and what ept_map answers. */
  wdscPort: number;
  /** Our IPv4 address, put in the ept_map tower. */
  address: string;
  /** The one account NTLMv2 is verified against; undefined: only anonymous (if allowed). */
  account?: Credentials;
  allowAnonymous: boolean;
  computerName?: string;
  domainName?: string;
  randomBytes(n: number): Buffer;
  idleTimeoutMs?: number;
}

/** One WdsRpcMessage call, answered by the coordinator. */
export type WdscService = (stub: Buffer, auth: CallAuth, from: From) => WdscAnswer;

/** Interfaces per listener. Access rules for WDSC are MS-WDSC's (wdsc.ts): the RPC layer lets every level in. */
const INTERFACES: Record<Listener, RpcServerInterface[]> = {
  wdsc: [{ syntax: WDSC_INTERFACE, opnums: WDS_RPC_MESSAGE_OPNUM + 1, minLevel: AuthLevel.NONE }],
  epm: [{ syntax: EPM_INTERFACE, opnums: 8, minLevel: AuthLevel.NONE }],
};
/** ept_map's opnum is 3; the other endpoint-mapper operations (insert, lookup, …) are not served. */
const EPM_SERVED = new Set([EPT_MAP_OPNUM]);

export class RpcFront {
  private nextGroup = 0x10;
  constructor(
    private readonly service: WdscService,
    private readonly cfg: RpcFrontConfig,
  ) {}

  open(listener: Listener, from: From, now: number): RpcLink {
    const link: RpcLink = new RpcLink(listener, from, now, (t) => this.provider(t, link.now), this.service, this.cfg, this.nextGroup++);
    return link;
  }

  private provider(authType: number, now: number): ServerSecurityProvider | undefined {
    const c = this.cfg;
    const opts = {
      serverChallenge: c.randomBytes(8),
      nowMs: now,
      computerName: c.computerName ?? 'OSDCAST-DP',
      domainName: c.domainName ?? (c.account?.domain || 'WORKGROUP'),
      accounts: c.account ? [c.account] : [],
      allowAnonymous: c.allowAnonymous,
    };
    if (authType === AuthType.WINNT) return new NtlmServerProvider(opts);
    if (authType === AuthType.SPNEGO) return new SpnegoServerProvider(opts);
    return undefined;
  }
}

export class RpcLink {
  private readonly conn: RpcServerConnection;
  private readonly events: RpcServerEvent[] = [];
  /** The time of the latest input (handed to a security provider created during it). */
  now: number;

  constructor(
    readonly listener: Listener,
    readonly from: From,
    now: number,
    securityProvider: (authType: number) => ServerSecurityProvider | undefined,
    private readonly service: WdscService,
    private readonly cfg: RpcFrontConfig,
    assocGroupId: number,
  ) {
    this.now = now;
    this.conn = new RpcServerConnection(
      {
        interfaces: INTERFACES[listener],
        securityProvider,
        assocGroupId,
        secondaryAddress: String(listener === 'wdsc' ? cfg.wdscPort : 135),
        ...(cfg.idleTimeoutMs !== undefined ? { idleTimeoutMs: cfg.idleTimeoutMs } : {}),
      },
      now,
    );
  }

  get closed(): boolean {
    return this.conn.closed;
  }
  get stats(): RpcServerConnection['stats'] {
    return this.conn.stats;
  }

  handleBytes(buf: Buffer, now: number): void {
    this.now = now;
    this.conn.handleBytes(buf, now);
    this.serve();
  }

  handleTimeout(now: number): void {
    this.now = now;
    this.conn.handleTimeout(now);
    this.serve();
  }

  handleClosed(): void {
    this.conn.handleClosed();
  }

  pollSend(): Buffer | undefined {
    return this.conn.pollSend();
  }

  /** What happened on the connection other than the calls it served (for the log and the counters). */
  pollEvent(): RpcServerEvent | undefined {
    return this.events.shift();
  }

  pollTimeout(): number | undefined {
    return this.conn.pollTimeout();
  }

  private serve(): void {
    for (let e = this.conn.pollEvent(); e; e = this.conn.pollEvent()) {
      if (e.type !== 'request') {
        this.events.push(e);
        continue;
      }
      if (syntaxEquals(e.iface, WDSC_INTERFACE)) {
        const a = this.service(e.stub, e.auth, this.from);
        if ('fault' in a) this.conn.fault(e.callId, a.fault);
        else this.conn.respond(e.callId, a.stub);
      } else if (EPM_SERVED.has(e.opnum)) {
        const answer = this.eptMap(e.stub);
        if (answer) this.conn.respond(e.callId, answer);
        else this.conn.fault(e.callId, RPC_X_BAD_STUB_DATA);
      } else {
        this.conn.fault(e.callId, FaultStatus.OP_RNG_ERROR);
      }
    }
  }

  private eptMap(stub: Buffer): Buffer | undefined {
    const q = decodeEptMapRequest(stub);
    if (!q.ok) return undefined;
    const ours = q.value.iface !== undefined && syntaxEquals(q.value.iface, WDSC_INTERFACE);
    return encodeEptMapResponse(
      ours ? { status: 0, endpoints: [{ iface: WDSC_INTERFACE, port: this.cfg.wdscPort, address: this.cfg.address }] } : { status: EPT_S_NOT_REGISTERED, endpoints: [] },
      Math.max(1, q.value.maxTowers),
    );
  }
}
