import { MtBody, MtOption, Sec, decodeMt, encodeMt, MtPacket } from '../../core/codec/mt';
import { MtApplication } from '../../core/mt-client';

export const SID = 0x6d19ee7e;
export const SERVER = { address: '10.0.0.1', port: 64001 };

/** A server packet as a real DP would send it (CHECKSUM security, our session). */
export function srv(body: MtBody, senderTime = 1000, options?: MtOption[], sessionId = SID): Buffer {
  return encodeMt(body, { secMode: Sec.CHECKSUM, sessionId, senderTime, options });
}

export function decodeOut(data: Buffer): MtPacket {
  const d = decodeMt(data, { from: 'client' });
  if (!d.ok) throw new Error(`client sent an undecodable packet: ${d.error}`);
  return d.value;
}

/** Deterministic randomness: a fixed value, or a sequence. */
export function fixedRng(v: number): () => number {
  return () => v;
}

export class FakeApp implements MtApplication {
  data: Buffer[] = [];
  cache = 1 << 20;
  queryCache(): number {
    return this.cache;
  }
  onData(appData: Buffer): void {
    this.data.push(Buffer.from(appData));
  }
  onQcc(): Buffer {
    return Buffer.from([0xaa]);
  }
  onPoll(appData: Buffer): Buffer {
    return Buffer.concat([Buffer.from([0xbb]), appData]);
  }
}
