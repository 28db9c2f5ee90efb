/**
 * The MSI responder: MS-WDSMSI 2.2.2 / 3.1.5.3 session initiation over UDP. A request naming our namespace and
 * content gets the reply with the session's addresses, port, sizes and SessionId; anything else gets the error
 * the spec names (87 missing option, 1168 unknown namespace, 2 unknown content). Names compare
 * case-insensitively. Replies go back to the sender on the MSI socket.
 */
import { MsiOp, decodeMsi, encodeMsiError, encodeMsiReply } from '../../core/codec/msi';
import { Context } from './context';

type From = { address: string; port: number };

const ERROR_FILE_NOT_FOUND = 2;
const ERROR_INVALID_PARAMETER = 87;
const ERROR_NOT_FOUND = 1168;

export class MsiResponder {
  constructor(
    private readonly ctx: Context,
    private readonly totalBlocks: number,
  ) {}

  /** A request on the MSI socket. Malformed datagrams are counted and unanswered. */
  handle(buf: Buffer, from: From): void {
    const { cfg, stats } = this.ctx;
    const d = decodeMsi(buf);
    if (!d.ok) {
      if (d.error.code === 'missing-option') {
        // 3.1.5.3: the request MUST carry NAMESPACE, CONTENT and MAC_ADDRESS.
        stats.msiRequests++;
        this.error(from, ERROR_INVALID_PARAMETER);
      } else stats.malformed++;
      return;
    }
    const p = d.value;
    if (p.kind !== 'request') {
      stats.unexpected++;
      return;
    }
    stats.msiRequests++;
    if (p.mac.length === 0) return this.error(from, ERROR_INVALID_PARAMETER);
    if (p.namespace.toLowerCase() !== cfg.namespace.toLowerCase()) return this.error(from, ERROR_NOT_FOUND, p.namespace, p.content);
    if (p.content.toLowerCase() !== cfg.content.toLowerCase()) return this.error(from, ERROR_FILE_NOT_FOUND, p.namespace, p.content);
    stats.msiReplies++;
    this.ctx.emit({ type: 'msi', address: from.address, port: from.port, ok: true, namespace: p.namespace, content: p.content });
    this.ctx.out.push({
      dest: { address: from.address, port: from.port },
      via: 'msi',
      data: encodeMsiReply({
        multicastAddr: cfg.multicastAddr,
        serverAddr: cfg.serverAddr,
        multicastPort: cfg.port,
        serverPort: cfg.port, // MUST equal MULTICAST_PORT (2.2.2.2)
        contentSize: cfg.source.size,
        blockSize: cfg.blockSize,
        totalBlocks: this.totalBlocks,
        sessionId: cfg.sessionId >>> 0,
      }),
    });
  }

  private error(from: From, win32: number, namespace?: string, content?: string): void {
    this.ctx.stats.msiErrors++;
    this.ctx.emit({ type: 'msi', address: from.address, port: from.port, ok: false, win32, namespace, content });
    this.ctx.out.push({ dest: { address: from.address, port: from.port }, via: 'msi', data: encodeMsiError(win32, MsiOp.REPLY) });
  }
}
