/**
 * Session initiation behind one small interface, whatever carries it.
 *
 * - A datagram initiator (`DatagramInitiator`) exchanges whole packets: `handleDatagram` / `pollTransmit`.
 *   `MsiUdpInitiator` is MS-WDSMSI over UDP (2.2.2, answered by Windows Server 2008 R2 – 2012 R2).
 * - A byte-stream initiator (`StreamInitiator`, e.g. MS-WDSC over a TCP/RPC connection for Server 2016+) is told
 *   that its stream is connected, fed the bytes that arrive in whatever pieces they come, and told when the stream
 *   closed; it hands back bytes to send (`pollSend`) and says when it is done with the stream (`pollClose`).
 *
 * Both: sans-I/O, time in ms passed in; `handleTimeout(now)` when `pollTimeout()` is reached; `result` is set
 * once, after which no more input is needed. A successful result carries the `SessionInfo` (with its security
 * modes and keys per direction) so the caller never reads a transport's reply format.
 */
import { MsiReply, decodeMsi, encodeMsiRequest, win32Name } from './codec/msi';
import type { Endpoint, Transmit } from './mt-client';
import { SessionInfo, sessionFromMsiReply } from './session';

export type InitiationResult =
  | { ok: true; session: SessionInfo; reply?: MsiReply }
  /** The server's answer: a Win32 error (final: asking again, or another way, gets the same answer). */
  | { ok: false; kind: 'error'; win32: number; message: string }
  | { ok: false; kind: 'timeout'; tries: number; message: string }
  /** The stream closed (or failed) before an answer. */
  | { ok: false; kind: 'closed'; message: string }
  /** The stream could not be opened: nothing listens there, or no route. */
  | { ok: false; kind: 'refused'; message: string }
  /**
   * The server refused the authentication or the access (bind_nak, an access or authentication fault, the
   * association ended after the last leg). `authTypeRejected`: the server would not use this authentication type
   * at all (another type may work); `status`: the fault status when a fault said it.
   */
  | { ok: false; kind: 'auth'; message: string; authTypeRejected: boolean; status?: number }
  /** Anything else that ended the exchange (an unknown interface, a reply that does not decode). */
  | { ok: false; kind: 'protocol'; message: string };

interface InitiatorCommon {
  handleTimeout(now: number): void;
  pollTimeout(): number | undefined;
  readonly result: InitiationResult | undefined;
  /** Answers that could not be decoded (counted and ignored). */
  readonly malformed: number;
}

export interface DatagramInitiator extends InitiatorCommon {
  readonly transport: 'datagram';
  handleDatagram(buf: Buffer, from: Endpoint, now: number): void;
  pollTransmit(): Transmit | undefined;
}

/** The stream half of a StreamInitiator: one exchange over one byte stream, with a result of type R. */
export interface StreamMachine<R> {
  /** Where the caller opens the stream. */
  readonly server: Endpoint;
  handleConnected(now: number): void;
  /** The stream could not be opened: refused (nothing listens), or unreachable (no route, host down). */
  handleConnectFailed(now: number, why: 'refused' | 'unreachable', message: string): void;
  /** Bytes as they arrive: any split, in order. */
  handleBytes(chunk: Buffer, now: number): void;
  /** The stream ended (by the peer, or with an error). */
  handleClosed(now: number, error?: string): void;
  handleTimeout(now: number): void;
  pollTimeout(): number | undefined;
  /** Next bytes to write to the stream. */
  pollSend(): Buffer | undefined;
  /** True when the machine is done with the stream and the caller should close it. */
  pollClose(): boolean;
  readonly result: R | undefined;
}

export interface StreamInitiator extends InitiatorCommon, StreamMachine<InitiationResult> {
  readonly transport: 'stream';
}

/** @internal Either shape of initiator (the seam; the agent drives each through its own transport). */
export type SessionInitiator = DatagramInitiator | StreamInitiator;

export interface MsiUdpConfig {
  server: Endpoint;
  namespace: string;
  content: string;
  mac: Buffer;
  /** 3.1.6: wait 1 s for the reply before sending the request again. */
  retryMs?: number;
  /** Requests sent before giving up. */
  maxTries?: number;
}

export class MsiUdpInitiator implements DatagramInitiator {
  readonly transport = 'datagram' as const;
  private res: InitiationResult | undefined;
  private bad = 0;
  private tries = 0;
  private next: number;
  private out: Transmit[] = [];
  private readonly request: Buffer;
  /** Why the last malformed datagram was dropped. */
  private lastBad: string | undefined;

  constructor(
    private readonly cfg: MsiUdpConfig,
    now: number,
  ) {
    this.request = encodeMsiRequest({ namespace: cfg.namespace, content: cfg.content, mac: cfg.mac });
    this.next = now;
    this.handleTimeout(now);
  }

  get result(): InitiationResult | undefined {
    return this.res;
  }
  get malformed(): number {
    return this.bad;
  }

  handleDatagram(buf: Buffer, _from: Endpoint, _now: number): void {
    if (this.res) return;
    const d = decodeMsi(buf);
    if (!d.ok) {
      this.bad++;
      this.lastBad = d.error.message;
      return;
    }
    const p = d.value;
    if (p.kind === 'reply') this.res = { ok: true, session: sessionFromMsiReply(p), reply: p };
    else if (p.kind === 'error')
      this.res = { ok: false, kind: 'error', win32: p.win32, message: `server refused the session: ${win32Name(p.win32)}` };
    else {
      this.bad++; // a request echoed back is not an answer
      this.lastBad = 'a session request, not an answer';
    }
  }

  handleTimeout(now: number): void {
    if (this.res || now < this.next) return;
    const max = this.cfg.maxTries ?? 5;
    if (this.tries >= max) {
      // Unusable answers are said so: "no reply" would send an administrator looking for a firewall (protocol-notes #108).
      const from = `${this.cfg.server.address}:${this.cfg.server.port} after ${this.tries} requests`;
      const message = this.lastBad === undefined ? `no reply from ${from}` : `no usable reply from ${from}: ${this.bad} unusable answer${this.bad === 1 ? '' : 's'} dropped, the last: ${this.lastBad}`;
      this.res = { ok: false, kind: 'timeout', tries: this.tries, message };
      return;
    }
    this.tries++;
    this.out.push({ to: this.cfg.server, data: this.request });
    this.next = now + (this.cfg.retryMs ?? 1000);
  }

  pollTransmit(): Transmit | undefined {
    return this.out.shift();
  }
  pollTimeout(): number | undefined {
    return this.res ? undefined : this.next;
  }
}
