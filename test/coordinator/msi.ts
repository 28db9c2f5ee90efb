/**
 * Session initiation, MS-WDSMSI 3.1.5.3, whichever way the request came:
 *   SessionInitiation  the one decision (names compared case-insensitively; 87 missing option, 1168 unknown
 *                      namespace, 2 unknown content) and the session offered, counted and reported once
 *   MsiResponder       the request over UDP (MS-WDSMSI 2.2.2): replies go back to the sender on the MSI socket
 * The other way in, WDSMC_OP_INITIATE over the WDS Control Protocol, is wdsc.ts; it asks the same
 * SessionInitiation.
 */
import { MsiOp, MsiReply, decodeMsi, encodeMsiError, encodeMsiReply } from '../../core/codec/msi';
import { Context } from './context';

type From = { address: string; port: number };

export const ERROR_FILE_NOT_FOUND = 2;
export const ERROR_INVALID_PARAMETER = 87;
export const ERROR_NOT_FOUND = 1168;

/** What a successful request is told: the fields of the UDP reply, which the WDSC reply carries too. */
export type SessionOffer = Omit<MsiReply, 'kind'>;

export type Initiation = { ok: true; offer: SessionOffer } | { ok: false; win32: number };

export interface InitiationRequest {
  namespace: string;
  content: string;
  via: 'udp' | 'rpc';
  /** Who authenticated the RPC call ("DOMAIN\\user", "anonymous"), for the event. */
  user?: string;
}

export class SessionInitiation {
  constructor(
    private readonly ctx: Context,
    private readonly totalBlocks: number,
  ) {}

  /** Decides a well-formed request; counts it and emits the `msi` event. */
  answer(req: InitiationRequest, from: From): Initiation {
    const { cfg } = this.ctx;
    this.ctx.stats.msiRequests++;
    if (req.namespace.toLowerCase() !== cfg.namespace.toLowerCase()) return this.refuse(from, ERROR_NOT_FOUND, req, false);
    if (req.content.toLowerCase() !== cfg.content.toLowerCase()) return this.refuse(from, ERROR_FILE_NOT_FOUND, req, false);
    this.ctx.stats.msiReplies++;
    this.ctx.emit({ type: 'msi', address: from.address, port: from.port, ok: true, namespace: req.namespace, content: req.content, via: req.via, ...(req.user !== undefined ? { user: req.user } : {}) });
    return {
      ok: true,
      offer: {
        multicastAddr: cfg.multicastAddr,
        serverAddr: cfg.serverAddr,
        multicastPort: cfg.port,
        serverPort: cfg.port, // MUST equal MULTICAST_PORT (2.2.2.2)
        contentSize: cfg.source.size,
        blockSize: cfg.blockSize,
        totalBlocks: this.totalBlocks,
        sessionId: cfg.sessionId >>> 0,
      },
    };
  }

  /** A request refused before or by the decision (e.g. a MUST field missing: ERROR_INVALID_PARAMETER). */
  refuse(from: From, win32: number, req: Partial<InitiationRequest> & Pick<InitiationRequest, 'via'>, count = true): Initiation {
    if (count) this.ctx.stats.msiRequests++;
    this.ctx.stats.msiErrors++;
    this.ctx.emit({ type: 'msi', address: from.address, port: from.port, ok: false, win32, namespace: req.namespace, content: req.content, via: req.via, ...(req.user !== undefined ? { user: req.user } : {}) });
    return { ok: false, win32 };
  }
}

export class MsiResponder {
  constructor(
    private readonly ctx: Context,
    private readonly initiation: SessionInitiation,
  ) {}

  /** A request on the MSI socket. Malformed datagrams are counted and unanswered. */
  handle(buf: Buffer, from: From): void {
    const { stats } = this.ctx;
    const d = decodeMsi(buf);
    if (!d.ok) {
      // 3.1.5.3: the request MUST carry NAMESPACE, CONTENT and MAC_ADDRESS.
      if (d.error.code === 'missing-option') this.send(from, this.initiation.refuse(from, ERROR_INVALID_PARAMETER, { via: 'udp' }));
      else stats.malformed++;
      return;
    }
    const p = d.value;
    if (p.kind !== 'request') {
      stats.unexpected++;
      return;
    }
    if (p.mac.length === 0) return this.send(from, this.initiation.refuse(from, ERROR_INVALID_PARAMETER, { via: 'udp' }));
    this.send(from, this.initiation.answer({ namespace: p.namespace, content: p.content, via: 'udp' }, from));
  }

  private send(from: From, r: Initiation): void {
    this.ctx.out.push({ dest: { address: from.address, port: from.port }, via: 'msi', data: r.ok ? encodeMsiReply(r.offer) : encodeMsiError(r.win32, MsiOp.REPLY) });
  }
}
