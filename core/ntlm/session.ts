/**
 * NTLM session security (MS-NLMP 3.4) with extended session security: SIGNKEY/SEALKEY per direction, RC4 handles
 * that run across messages, per-direction sequence numbers, MAC with the checksum RC4-encrypted when KEY_EXCH was
 * negotiated (3.4.4.2), and the dummy signature of 3.4.4.3 when only ALWAYS_SIGN was. Keys live in private
 * fields; toJSON and util.inspect show none of them.
 */
import { Rc4, hmacMd5, md5, sameBytes } from './crypto';
import { Flag } from './messages';

const C2S_SIGN = Buffer.from('session key to client-to-server signing key magic constant\0', 'latin1');
const S2C_SIGN = Buffer.from('session key to server-to-client signing key magic constant\0', 'latin1');
const C2S_SEAL = Buffer.from('session key to client-to-server sealing key magic constant\0', 'latin1');
const S2C_SEAL = Buffer.from('session key to server-to-client sealing key magic constant\0', 'latin1');

export type Mode = 'client' | 'server';

/** SIGNKEY (3.4.5.2); extended session security only. */
export function signKey(exportedSessionKey: Buffer, mode: Mode): Buffer {
  return md5(exportedSessionKey, mode === 'client' ? C2S_SIGN : S2C_SIGN);
}

/** SEALKEY (3.4.5.3), extended session security: 128, 56 or 40 bits of the key, then MD5 with the constant. */
export function sealKey(flags: number, exportedSessionKey: Buffer, mode: Mode): Buffer {
  const cut = flags & Flag.NEGOTIATE_128 ? 16 : flags & Flag.NEGOTIATE_56 ? 7 : 5;
  return md5(exportedSessionKey.subarray(0, cut), mode === 'client' ? C2S_SEAL : S2C_SEAL);
}

/** Why a received signature was refused. */
export type VerifyFailure = 'bad-version' | 'bad-sequence' | 'bad-checksum' | 'bad-length';

class Direction {
  readonly #signKey: Buffer;
  readonly #sealKey: Buffer;
  #rc4: Rc4;
  seq = 0;
  constructor(signK: Buffer, sealK: Buffer) {
    this.#signKey = signK;
    this.#sealKey = sealK;
    this.#rc4 = new Rc4(sealK);
  }
  get rc4(): Rc4 {
    return this.#rc4;
  }
  /** MS-SPNG 3.1.5.1: the RC4 state after the mechListMIC is the one before it (sequence number kept). */
  resetRc4(): void {
    this.#rc4 = new Rc4(this.#sealKey);
  }
  checksum(seq: number, message: Uint8Array, keyExch: boolean): Buffer {
    const s = Buffer.alloc(4);
    s.writeUInt32LE(seq >>> 0, 0);
    const c = hmacMd5(this.#signKey, s, message).subarray(0, 8);
    if (keyExch) this.#rc4.apply(c);
    return c;
  }
}

function signature(checksum: Buffer, seq: number): Buffer {
  const sig = Buffer.alloc(16);
  sig.writeUInt32LE(1, 0);
  checksum.copy(sig, 4);
  sig.writeUInt32LE(seq >>> 0, 12);
  return sig;
}

const DUMMY_SIGNATURE = signature(Buffer.alloc(8), 0);

/**
 * One established NTLM context's message protection, as seen from `mode`: outgoing uses this side's keys
 * (client-to-server for a client), incoming the peer's.
 */
export class NtlmSession {
  readonly flags: number;
  readonly #out: Direction;
  readonly #in: Direction;
  readonly #integrity: boolean;
  readonly #keyExch: boolean;

  constructor(flags: number, exportedSessionKey: Buffer, mode: Mode) {
    this.flags = flags;
    const peer: Mode = mode === 'client' ? 'server' : 'client';
    this.#out = new Direction(signKey(exportedSessionKey, mode), sealKey(flags, exportedSessionKey, mode));
    this.#in = new Direction(signKey(exportedSessionKey, peer), sealKey(flags, exportedSessionKey, peer));
    this.#integrity = (flags & (Flag.SIGN | Flag.SEAL)) !== 0;
    this.#keyExch = (flags & Flag.KEY_EXCH) !== 0;
  }

  /** Next sequence numbers (for tests and diagnostics). */
  get sequence(): { out: number; in: number } {
    return { out: this.#out.seq, in: this.#in.seq };
  }

  /** GSS_GetMICEx over `message`. */
  sign(message: Uint8Array): Buffer {
    if (!this.#integrity) return Buffer.from(DUMMY_SIGNATURE);
    const seq = this.#out.seq++;
    return signature(this.#out.checksum(seq, message, this.#keyExch), seq);
  }

  /** GSS_VerifyMICEx; the expected sequence number advances only on success (3.4.4). */
  verify(message: Uint8Array, sig: Uint8Array): VerifyFailure | undefined {
    if (sig.length !== 16) return 'bad-length';
    if (!this.#integrity) return sameBytes(sig, DUMMY_SIGNATURE) ? undefined : 'bad-checksum';
    return this.#check(message, Buffer.from(sig));
  }

  /**
   * GSS_WrapEx: the signature covers `signed` (plaintext, which includes the part to encrypt); then
   * `buf[start, end)` is encrypted in place. RC4 order is the one of SEAL() (3.4.3): message, then checksum.
   */
  seal(signed: Uint8Array, buf: Uint8Array, start: number, end: number): Buffer {
    const seq = this.#out.seq++;
    const s = Buffer.alloc(4);
    s.writeUInt32LE(seq >>> 0, 0);
    const plain = Buffer.from(signed); // the HMAC covers the plaintext; `signed` may alias `buf`
    this.#out.rc4.apply(buf, start, end);
    return signature(this.#out.checksum(seq, plain, this.#keyExch), seq);
  }

  /**
   * GSS_UnwrapEx: decrypts `buf[start, end)` in place, then checks `sig` over `signed`, a view that includes the
   * decrypted bytes (e.g. a subarray of `buf`).
   */
  unseal(buf: Uint8Array, start: number, end: number, signed: Uint8Array, sig: Uint8Array): VerifyFailure | undefined {
    if (sig.length !== 16) return 'bad-length';
    const saved = this.#in.rc4.snapshot();
    this.#in.rc4.apply(buf, start, end);
    const f = this.#check(signed, Buffer.from(sig));
    if (f) this.#in.rc4.restore(saved);
    return f;
  }

  /** MS-SPNG 3.1.5.1: restore the RC4 state of one direction after the mechListMIC. */
  resetRc4(direction: 'out' | 'in'): void {
    (direction === 'out' ? this.#out : this.#in).resetRc4();
  }

  /**
   * Checks a received signature. On any failure the incoming RC4 state is put back as it was, so a forged PDU
   * that is dropped leaves the context usable for the next genuine one.
   */
  #check(message: Uint8Array, sig: Buffer): VerifyFailure | undefined {
    const seq = this.#in.seq;
    if (sig.readUInt32LE(0) !== 1) return 'bad-version';
    if (sig.readUInt32LE(12) !== seq) return 'bad-sequence';
    const saved = this.#in.rc4.snapshot();
    const expected = this.#in.checksum(seq, message, this.#keyExch);
    if (!sameBytes(sig.subarray(4, 12), expected)) {
      this.#in.rc4.restore(saved);
      return 'bad-checksum';
    }
    this.#in.seq++;
    return undefined;
  }

  toJSON(): object {
    return { flags: this.flags, keys: '[hidden]' };
  }
  [Symbol.for('nodejs.util.inspect.custom')](): string {
    return `NtlmSession { flags: 0x${(this.flags >>> 0).toString(16)}, keys: [hidden] }`;
  }
}
