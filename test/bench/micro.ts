/**
 * 1. Codec and Missing ODATA List micro-benchmarks (in this process, no I/O).
 */
import crypto from 'node:crypto';
import { MaOp, encodeMa, peekData } from '../../core/codec/ma';
import { LOSS_SCALE, MtBody, Op, Sec, checksum, decodeMt, encodeMt } from '../../core/codec/mt';
import { HmacAuth, PacketAuth, RsaAuth } from '../../core/codec/mt-security';
import { BlockStore } from '../../core/block-store';
import { MissingList } from '../../core/missing-list';
import { LoopResult, log, nowNs, summarize, timeLoop } from './util';

export interface MicroRow {
  name: string;
  what: string;
  result: LoopResult;
}

/** An ODATA packet as the coordinator sends it: CHECKSUM security, MA DATA inside, OptionsCount 0. */
export function odataPacket(blockSize: number, seq: number, block: number, sessionId = 0x1234abcd): Buffer {
  const payload = crypto.randomBytes(blockSize);
  const data = encodeMa({ op: MaOp.DATA, blockNumber: block, data: payload });
  return encodeMt({ op: Op.ODATA, clientId: 7, seq, trailSeq: Math.max(1, seq - 100), data }, { secMode: Sec.CHECKSUM, sessionId, senderTime: 1_700_000_000_000 });
}

export function runMicro(quick: boolean): MicroRow[] {
  const rounds = quick ? 5 : 15;
  const rows: MicroRow[] = [];
  const add = (name: string, what: string, fn: (i: number) => number, batch: number) => {
    const result = timeLoop(fn, { batch, rounds, warmupMs: quick ? 100 : 250 });
    rows.push({ name, what, result });
    log(`micro ${name}: median ${result.median.toFixed(1)} ns/op`);
  };

  // ---- codec
  const pkts = Array.from({ length: 64 }, (_, i) => odataPacket(1385, 1000 + i, 500 + i));
  if (pkts[0]!.length !== 1444) throw new Error(`ODATA of a 1385-byte block is ${pkts[0]!.length} bytes, expected 1444`);
  const big = Array.from({ length: 16 }, (_, i) => odataPacket(8192, 1000 + i, 500 + i));
  for (const p of [...pkts, ...big]) {
    const d = decodeMt(p);
    if (!d.ok) throw new Error(`test packet does not decode: ${d.error}`);
  }
  add('decodeMt ODATA 1444 B', 'CHECKSUM verified, header parsed, payload a view', (i) => {
    const d = decodeMt(pkts[i & 63]!, { from: 'server' });
    return d.ok ? d.value.senderTime : 0;
  }, 20_000);
  add('checksum only, 1435 B', 'the 2.2.2.3 byte sum over the Session Header and on (part of the row above)', (i) => checksum(pkts[i & 63]!, 9), 20_000);
  add('decodeMt ODATA 8245 B', 'same, 8192-byte block', (i) => {
    const d = decodeMt(big[i & 15]!, { from: 'server' });
    return d.ok ? d.value.senderTime : 0;
  }, 5_000);
  const payloads = pkts.map((p) => {
    const d = decodeMt(p);
    if (!d.ok || d.value.body.op !== Op.ODATA) throw new Error('bad packet');
    return d.value.body.data;
  });
  const out = { dataStart: 0, dataLen: 0 };
  add('peekData (MA DATA header)', 'block number and payload bounds, no allocation', (i) => peekData(payloads[i & 63]!, out) + out.dataLen, 200_000);
  add('encodeMt ACK', 'what the Master Client sends per ODATA (CHECKSUM, 55 B)', (i) =>
    encodeMt({ op: Op.ACK, clientId: 7, seq: 1000 + i, serverTime: 1_700_000_000_000 + i, hiSeq: 1000 + i, lossRate: 0.0076 * LOSS_SCALE }, { secMode: Sec.CHECKSUM, sessionId: 0x1234abcd, senderTime: 1_700_000_000_000 }).length, 50_000);

  // ---- HASH and SIGN (issue 9): cost per packet, not held to line rate (docs/performance.md)
  const hmac = new HmacAuth(crypto.randomBytes(24), 'sha256');
  const { privateKey, publicKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  const signer = new RsaAuth(privateKey, 'sha256');
  const rsa = new RsaAuth(publicKey, 'sha256');
  const sealed = (auth: PacketAuth, n: number) =>
    pkts.slice(0, n).map((p) => {
      const d = decodeMt(p);
      if (!d.ok) throw new Error('bad packet');
      return encodeMt(d.value.body as MtBody, { secMode: auth.mode, sessionId: d.value.sessionId, senderTime: d.value.senderTime, auth });
    });
  const hashed = sealed(hmac, 64);
  const signed = sealed(signer, 16);
  for (const [p, auth] of [[hashed[0]!, hmac], [signed[0]!, rsa]] as const) if (!decodeMt(p, { auth }).ok) throw new Error('sealed packet does not verify');
  add('decodeMt ODATA HASH 1472 B', 'HMAC-SHA256 over the SHA-256 of the packet verified (the reading sent), header parsed', (i) => {
    const d = decodeMt(hashed[i & 63]!, { from: 'server', auth: hmac });
    return d.ok ? d.value.senderTime : 0;
  }, 5_000);
  add('decodeMt ODATA SIGN 1696 B', 'RSA-2048 PKCS#1 v1.5 / SHA-256 signature verified (little-endian, the order sent)', (i) => {
    const d = decodeMt(signed[i & 15]!, { from: 'server', auth: rsa });
    return d.ok ? d.value.senderTime : 0;
  }, 500);
  add('encodeMt ACK HASH', 'what a HASH client seals per ACK (83 B)', (i) =>
    encodeMt({ op: Op.ACK, clientId: 7, seq: 1000 + i, serverTime: 1_700_000_000_000 + i, hiSeq: 1000 + i, lossRate: 0.0076 * LOSS_SCALE }, { secMode: Sec.HASH, sessionId: 0x1234abcd, senderTime: 1_700_000_000_000, auth: hmac }).length, 5_000);
  add('encodeMt ODATA SIGN (server)', 'what a SIGN server pays per packet: RSA-2048 signature', (i) =>
    encodeMt({ op: Op.ODATA, clientId: 7, seq: i, trailSeq: 1, data: payloads[i & 63]! }, { secMode: Sec.SIGN, sessionId: 1, senderTime: 1, auth: signer }).length, 100);

  // ---- block store: one block in, one single-block write job out (what DiskPump does per block when the disk keeps up)
  {
    const src = Buffer.alloc(1398, 3);
    const fresh = () => new BlockStore({ totalBlocks: 1 << 21, blockSize: 1385, contentSize: (1 << 21) * 1385, ringSlots: 48_000 });
    let st = fresh();
    let b = 0;
    add('BlockRing put + takeWrite + complete', 'core/ring.ts: copy 1385 B into a slot, hand it out as a 1-block job, free it', () => {
      if (b === 1 << 21) {
        st = fresh();
        b = 0;
      }
      st.ring.put(b++, src, 13, 1385, 1398);
      const j = st.ring.takeWrite()!;
      return st.ring.complete(j);
    }, 20_000);
    let st2 = fresh();
    let b2 = 0;
    add('BlockStore put + takeWrite + writeDone', 'core/block-store.ts around the same ring (bitmaps, epoch-tagged job)', () => {
      if (b2 === 1 << 21) {
        st2 = fresh();
        b2 = 0;
      }
      st2.put(b2++, src, 13, 1385, 1398);
      const j = st2.takeWrite()!;
      st2.writeDone(j);
      return st2.takeReleased();
    }, 20_000);
  }

  // ---- Missing ODATA List (core/missing-list.ts), per ODATA as MtClient.onData calls it
  {
    const m = new MissingList();
    let seq = 0;
    add('MissingList in order', 'updateStart + updateEnd + received + highestContinuous per packet, no loss', () => {
      seq++;
      m.updateStart(Math.max(1, seq - 1000));
      m.updateEnd(seq);
      m.received(seq);
      return m.highestContinuous();
    }, 100_000);
  }
  {
    // 2 % loss, holes repaired 2048 packets later (an RDATA), start of list trailing 4096 behind: ~80 open ranges.
    const m = new MissingList();
    let seq = 0;
    const lost: number[] = [];
    let lh = 0;
    let r = 12345;
    const rnd = () => ((r = (Math.imul(r, 1103515245) + 12345) >>> 0) / 2 ** 32);
    add('MissingList 2 % loss', 'same, 2 % of packets arrive 2048 later; ~40 ranges open', () => {
      seq++;
      m.updateStart(Math.max(1, seq - 4096));
      m.updateEnd(seq);
      if (rnd() < 0.02) lost.push(seq);
      else m.received(seq);
      while (lh < lost.length && lost[lh]! <= seq - 2048) m.received(lost[lh++]!);
      if (lh > 4096) {
        lost.splice(0, lh);
        lh = 0;
      }
      return m.highestContinuous();
    }, 100_000);
    add('MissingList.ranges(80)', 'the NACK RangeList, with the list above', () => m.ranges(80).length, 20_000);
  }
  {
    // received() in the middle of a list of ~1000 ranges: the splice case (one range split in two). Lists are
    // built outside the timed part.
    const lists = (n: number) =>
      Array.from({ length: n }, () => {
        const m = new MissingList();
        m.updateEnd(2_000_000);
        for (let k = 1; k <= 1000; k++) m.received(k * 1000);
        return m;
      });
    const perList = 500;
    const vals: number[] = [];
    for (let r = 0; r < rounds + 3; r++) {
      const ls = lists(20);
      const t0 = nowNs();
      let sink = 0;
      for (const m of ls) for (let n = 1; n <= perList; n++) {
        m.received(1000 * (((n * 7919) % 999) + 1) + 1 + (n % 997));
        sink += m.length;
      }
      if (r >= 3) vals.push(Number(nowNs() - t0) / (20 * perList));
      if (sink < 0) log('');
    }
    const result = summarize(vals, 20 * perList * rounds);
    rows.push({ name: 'MissingList split, 1000 ranges', what: 'received() inside a range of a ~1000-range list (splice)', result });
    log(`micro split: median ${result.median.toFixed(1)} ns/op`);
  }
  return rows;
}
