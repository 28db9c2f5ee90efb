/**
 * Session initiation behind one small interface. `MsiUdpInitiator` is MS-WDSMSI over UDP (2.2.2, answered by
 * Windows Server 2008 R2 – 2012 R2); the RPC form (MS-WDSC) that Server 2016+ needs would be another
 * implementation of `SessionInitiator`.
 */
import { MsiReply, decodeMsi, encodeMsiRequest, win32Name } from './codec/msi';
import type { Endpoint, Transmit } from './mt-client';

export type InitiationResult =
  | { ok: true; reply: MsiReply }
  | { ok: false; kind: 'error'; win32: number; message: string }
  | { ok: false; kind: 'timeout'; tries: number; message: string };

export interface SessionInitiator {
  handleDatagram(buf: Buffer, from: Endpoint, now: number): void;
  handleTimeout(now: number): void;
  pollTransmit(): Transmit | undefined;
  pollTimeout(): number | undefined;
  readonly result: InitiationResult | undefined;
  readonly malformed: number;
}

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

export class MsiUdpInitiator implements SessionInitiator {
  result: InitiationResult | undefined;
  malformed = 0;
  private tries = 0;
  private next: number;
  private out: Transmit[] = [];
  private readonly request: Buffer;

  constructor(
    private readonly cfg: MsiUdpConfig,
    now: number,
  ) {
    this.request = encodeMsiRequest({ namespace: cfg.namespace, content: cfg.content, mac: cfg.mac });
    this.next = now;
    this.handleTimeout(now);
  }

  handleDatagram(buf: Buffer, _from: Endpoint, _now: number): void {
    if (this.result) return;
    const d = decodeMsi(buf);
    if (!d.ok) {
      this.malformed++;
      return;
    }
    const p = d.value;
    if (p.kind === 'reply') this.result = { ok: true, reply: p };
    else if (p.kind === 'error')
      this.result = { ok: false, kind: 'error', win32: p.win32, message: `server refused the session: ${win32Name(p.win32)}` };
    else this.malformed++; // a request echoed back is not an answer
  }

  handleTimeout(now: number): void {
    if (this.result || now < this.next) return;
    const max = this.cfg.maxTries ?? 5;
    if (this.tries >= max) {
      this.result = { ok: false, kind: 'timeout', tries: this.tries, message: `no reply from ${this.cfg.server.address}:${this.cfg.server.port} after ${this.tries} requests` };
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
    return this.result ? undefined : this.next;
  }
}
