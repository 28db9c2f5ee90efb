/**
 * A stand-in SecurityProvider for the client's tests, and its server half: tokens are fixed strings; "sealing"
 * XORs the stub with 0x5a; the 16-byte signature is an HMAC-SHA-256 (truncated) over the signed bytes and a
 * per-direction sequence number, so reordering, tampering or a skipped PDU all fail verification.
 */
import { createHmac } from 'node:crypto';
import { AuthType, SecurityError, SecurityProvider, TokenStep } from '../../../core/rpc/security';

const KEY = 'fake-session-key';

export function fakeSignature(pdu: Buffer, signedEnd: number, seq: number, dir: 'c2s' | 's2c'): Buffer {
  return createHmac('sha256', KEY).update(dir).update(String(seq)).update(pdu.subarray(0, signedEnd)).digest().subarray(0, 16);
}

export function xorInPlace(b: Buffer, start: number, end: number): void {
  for (let i = start; i < end; i++) b[i]! ^= 0x5a;
}

export interface FakeOptions {
  /** The server tokens to expect, in order; after the last one the context is established. */
  legs?: string[];
  /** Refuse every server token (a provider error). */
  refuse?: boolean;
  authType?: number;
}

export class FakeProvider implements SecurityProvider {
  readonly authType: number;
  readonly signatureLength = 16;
  established = false;
  private leg = 0;
  private sendSeq = 0;
  private recvSeq = 0;
  readonly seen: string[] = [];
  constructor(private readonly o: FakeOptions = {}) {
    this.authType = o.authType ?? AuthType.WINNT;
  }
  initialToken(): Buffer {
    return Buffer.from('NEGOTIATE');
  }
  handleServerToken(token: Buffer): TokenStep {
    const legs = this.o.legs ?? ['CHALLENGE'];
    this.seen.push(token.toString());
    if (this.o.refuse) return { ok: false, error: { kind: 'rejected', message: 'fake refusal' } };
    if (token.toString() !== legs[this.leg]) return { ok: false, error: { kind: 'malformed-token', message: `unexpected ${token.toString()}` } };
    this.leg++;
    this.established = this.leg === legs.length;
    return { ok: true, token: Buffer.from(`AUTH-${this.leg}`), established: this.established };
  }
  seal(pdu: Buffer, dataStart: number, dataEnd: number, signedEnd: number): Buffer {
    const sig = fakeSignature(pdu, signedEnd, this.sendSeq++, 'c2s');
    xorInPlace(pdu, dataStart, dataEnd);
    return sig;
  }
  unseal(pdu: Buffer, dataStart: number, dataEnd: number, signedEnd: number, signature: Buffer): SecurityError | undefined {
    xorInPlace(pdu, dataStart, dataEnd);
    return this.verify(pdu, signedEnd, signature);
  }
  sign(pdu: Buffer, signedEnd: number): Buffer {
    return fakeSignature(pdu, signedEnd, this.sendSeq++, 'c2s');
  }
  verify(pdu: Buffer, signedEnd: number, signature: Buffer): SecurityError | undefined {
    if (!fakeSignature(pdu, signedEnd, this.recvSeq++, 's2c').equals(signature)) return { kind: 'bad-signature', message: 'fake signature mismatch' };
    return undefined;
  }
}
