/**
 * A small sans-I/O udp-sender (udpcast 20120424, acknowledged mode) written from ../shared/notes/udpcast-protocol.md
 * §5-§7, for the receiver's tests: HELLO on the rendez-vous address, CONNECT_REPLY per source IP (the same client
 * number again), a start rule (`minReceivers`, then `startDelayMs`), slices of varying size with at most two in
 * flight (full duplex: slice k+1 goes out while k is repaired; a REQACK for k+1 only once k is acknowledged),
 * REQACK rounds (answered by all → next round at once; otherwise after `roundMs`, 1 s from round 11 on), the union
 * of RETRANSMIT maps resent, clients dropped after `retriesUntilDrop` rounds, the empty end slice, DISCONNECT,
 * point-to-point when exactly one client is connected at the start, optional FEC packets (garbage parity:
 * receivers ignore them) and an async HELLO. Late CONNECT_REQs (transfer running) are not answered.
 */
import { Transmit } from '../../../core/mt-client';
import { MAP_BYTES, UdpCap, UdpMessage, decodeUdpcast, encodeUdpcast } from '../../../core/udpcast/codec';

export interface SenderOptions {
  address: string;
  portbase: number;
  /** Where HELLO goes (the subnet broadcast, or a group). */
  rdvAddress: string;
  dataAddress: string;
  data: Buffer;
  blockSize: number;
  /** Blocks of slice k (the sender takes what its read-ahead holds: vary it). Default 112. */
  sliceBlocks?: (k: number) => number;
  minReceivers?: number;
  startDelayMs?: number;
  roundMs?: number;
  retriesUntilDrop?: number;
  /** FEC packets after each slice's first transmission (parity not computed: receivers must ignore them). */
  fecPackets?: number;
  async?: boolean;
  /** Never point-to-point (--nopointopoint). */
  noPointToPoint?: boolean;
  /** Repeat HELLO every this many ms while negotiating (--rexmit-hello-interval). */
  helloEveryMs?: number;
  /** Pacing: a new slice's first transmission at most this often (ms; 0: at once). */
  sliceMs?: number;
}

interface Slice {
  no: number;
  offset: number;
  bytes: number;
  blocks: number;
  state: 'new' | 'xmitted' | 'acked';
  round: number;
  ready: Set<number>;
  answered: Set<number>;
  rxmit: Uint8Array;
  needRxmit: boolean;
}

export class FakeSender {
  readonly self: { address: string; port: number };
  /** Client number by IPv4 address. */
  readonly clients = new Map<string, number>();
  private nextClient = 0;
  private readonly out: Transmit[] = [];
  phase: 'negotiate' | 'transfer' | 'done' = 'negotiate';
  private startAt: number | undefined;
  private helloAt: number | undefined;
  private roundAt: number | undefined;
  private paceAt: number | undefined;
  private nextSliceAt = 0;
  private ptp: string | undefined;
  private xmit: Slice | undefined;
  private rexmit: Slice | undefined;
  private sliceNo = 0;
  private offset = 0;
  private atEnd = false;
  readonly log = { dataSent: 0, resent: 0, reqacks: 0, dropped: [] as number[], disconnected: [] as number[], lateIgnored: 0, sliceSizes: [] as number[] };

  constructor(
    readonly o: SenderOptions,
    now: number,
  ) {
    this.self = { address: o.address, port: o.portbase + 1 };
    this.hello();
    if (o.helloEveryMs) this.helloAt = now + o.helloEveryMs;
  }

  private send(to: { address: string; port: number }, m: UdpMessage): void {
    this.out.push({ to: { ...to }, data: encodeUdpcast(m) });
  }
  private hello(): void {
    const caps = UdpCap.NEW_GEN | UdpCap.BIG_ENDIAN | (this.o.async ? UdpCap.ASYNC : 0);
    this.send({ address: this.o.rdvAddress, port: this.o.portbase }, { op: 'hello', opcode: 0x0500, capabilities: caps, dataAddress: this.o.dataAddress, blockSize: this.o.blockSize });
  }
  private get dataTo() {
    return { address: this.ptp ?? this.o.dataAddress, port: this.o.portbase };
  }

  pollTransmit(): Transmit | undefined {
    return this.out.shift();
  }
  pollTimeout(): number | undefined {
    const t = [this.startAt, this.helloAt, this.roundAt, this.paceAt].filter((x): x is number => x !== undefined);
    return this.phase === 'done' || !t.length ? undefined : Math.min(...t);
  }

  /** A datagram to P+1. */
  handleDatagram(buf: Buffer, from: { address: string; port: number }, now: number): void {
    if (this.phase === 'done') return;
    if (from.port !== this.o.portbase && from.port !== this.o.portbase + 1) return; // "Bad message from port"
    const r = decodeUdpcast(buf);
    if (!r.ok) return;
    const m = r.value;
    if (m.op === 'connect-req') {
      if (this.phase !== 'negotiate') {
        this.log.lateIgnored++;
        return;
      }
      let c = this.clients.get(from.address);
      if (c === undefined) this.clients.set(from.address, (c = this.nextClient++));
      this.send(from, { op: 'connect-reply', client: c, blockSize: this.o.blockSize, capabilities: UdpCap.NEW_GEN | UdpCap.BIG_ENDIAN, dataAddress: this.o.dataAddress });
      if (this.clients.size >= (this.o.minReceivers ?? 1)) this.startAt = now + (this.o.startDelayMs ?? 100);
      return;
    }
    const c = this.clients.get(from.address);
    if (c === undefined) return; // unknown provenance
    if (m.op === 'disconnect') {
      this.clients.delete(from.address);
      this.log.disconnected.push(c);
      for (const s of [this.xmit, this.rexmit]) if (s) (s.ready.delete(c), s.answered.delete(c));
      if (this.phase === 'transfer') this.run(now);
      return;
    }
    if (m.op === 'go' && this.phase === 'negotiate') {
      this.startAt = now;
      return;
    }
    if (this.phase !== 'transfer') return;
    const s = [this.xmit, this.rexmit].find((x) => x && (m.op === 'ok' || m.op === 'retransmit') && x.no === m.slice);
    if (!s) return;
    if (m.op === 'ok' && !s.ready.has(c)) {
      s.ready.add(c);
      s.answered.add(c);
    } else if (m.op === 'retransmit') {
      if (m.rxmit < s.round && m.rxmit === 0) return; // the byte-order quirk: only round-0 answers are "late"
      for (let i = 0; i < MAP_BYTES; i++) s.rxmit[i]! |= ~m.map[i]! & 0xff;
      s.needRxmit = true;
      s.answered.add(c);
    }
    this.run(now);
  }

  handleTimeout(now: number): void {
    if (this.helloAt !== undefined && now >= this.helloAt && this.phase === 'negotiate') {
      this.hello();
      this.helloAt = now + this.o.helloEveryMs!;
    }
    if (this.startAt !== undefined && now >= this.startAt && this.phase === 'negotiate') {
      this.startAt = undefined;
      this.helloAt = undefined;
      this.phase = 'transfer';
      if (this.clients.size === 1 && !this.o.noPointToPoint && !this.o.async) this.ptp = [...this.clients.keys()][0];
      this.run(now);
    }
    if (this.paceAt !== undefined && now >= this.paceAt && this.phase === 'transfer') {
      this.paceAt = undefined;
      this.run(now);
    }
    if (this.roundAt !== undefined && now >= this.roundAt && this.phase === 'transfer') {
      this.roundAt = undefined;
      const s = this.rexmit;
      if (s) {
        if (s.round > (this.o.retriesUntilDrop ?? 200)) {
          for (const [ip, c] of this.clients)
            if (!s.ready.has(c)) {
              this.clients.delete(ip);
              this.log.dropped.push(c);
            }
        } else {
          s.round++;
          this.reqack(s, now);
        }
      }
      this.run(now);
    }
  }

  private makeSlice(): Slice {
    const want = (this.o.sliceBlocks?.(this.sliceNo) ?? 112) * this.o.blockSize;
    const bytes = Math.min(want, this.o.data.length - this.offset);
    const s: Slice = { no: this.sliceNo++, offset: this.offset, bytes, blocks: Math.ceil(bytes / this.o.blockSize), state: 'new', round: 0, ready: new Set(), answered: new Set(), rxmit: new Uint8Array(MAP_BYTES), needRxmit: false };
    this.offset += bytes;
    this.log.sliceSizes.push(bytes);
    return s;
  }

  private block(s: Slice, b: number): void {
    const bs = this.o.blockSize;
    const from = s.offset + b * bs;
    this.send(this.dataTo, { op: 'data', slice: s.no, block: b, sliceBytes: s.bytes, payload: this.o.data.subarray(from, Math.min(from + bs, s.offset + s.bytes)) });
  }

  private reqack(s: Slice, now: number): void {
    const ready = Buffer.alloc(MAP_BYTES);
    for (const c of s.ready) ready[c >> 3]! |= 1 << (c & 7);
    s.answered = new Set(s.ready);
    s.rxmit.fill(0);
    s.needRxmit = false;
    this.log.reqacks++;
    this.send(this.dataTo, { op: 'reqack', slice: s.no, bytes: s.bytes, rxmit: s.round, ready });
    this.roundAt = now + (s.round > 10 ? 1000 : (this.o.roundMs ?? 20));
  }

  /** The sender's main loop (senddata.c's order), until it has to wait for an answer or a timer. */
  private run(now: number): void {
    for (let guard = 0; guard < 100_000; guard++) {
      if (this.clients.size === 0) {
        this.phase = 'done';
        return;
      }
      const r = this.rexmit;
      if (r && [...this.clients.values()].every((c) => r.ready.has(c))) {
        r.state = 'acked';
        this.rexmit = undefined;
        this.roundAt = undefined;
        continue;
      }
      if (!this.rexmit && this.xmit && this.xmit.state === 'xmitted') {
        this.rexmit = this.xmit;
        this.xmit = undefined;
        this.reqack(this.rexmit, now);
        continue;
      }
      if (r && r.needRxmit) {
        for (let b = 0; b < r.blocks; b++)
          if ((r.rxmit[b >> 3]! >> (b & 7)) & 1) {
            this.block(r, b);
            this.log.resent++;
          }
        r.needRxmit = false;
        r.rxmit.fill(0);
        continue;
      }
      if (r && [...this.clients.values()].every((c) => r.answered.has(c))) {
        r.round++;
        this.reqack(r, now);
        continue;
      }
      if (!this.xmit && !this.atEnd && now < this.nextSliceAt) {
        this.paceAt = this.nextSliceAt;
        return;
      }
      if (!this.xmit && !this.atEnd) {
        this.xmit = this.makeSlice();
        this.nextSliceAt = now + (this.o.sliceMs ?? 0);
        if (this.xmit.bytes === 0) this.atEnd = true;
      }
      if (this.xmit && this.xmit.state === 'new') {
        for (let b = 0; b < this.xmit.blocks; b++) {
          this.block(this.xmit, b);
          this.log.dataSent++;
        }
        for (let i = 0; i < (this.o.fecPackets ?? 0); i++) this.send(this.dataTo, { op: 'fec', stripes: 8, slice: this.xmit.no, index: i, sliceBytes: this.xmit.bytes, payload: Buffer.alloc(this.o.blockSize, 0x5a) });
        this.xmit.state = 'xmitted';
        continue;
      }
      if (this.atEnd && !this.rexmit && !this.xmit) {
        this.phase = 'done';
        return;
      }
      return;
    }
    throw new Error('sender loop does not settle');
  }
}
