/**
 * core/udpcast/codec.ts against the captured packets of Debian's udp-sender / udp-receiver 20120424
 * (vectors.json: a copy of ../shared/notes/udpcast-vectors.json, one real packet of each type per capture).
 * Every vector decodes to the fields at the offsets the notes give (§3, read here with plain Buffer reads, not the
 * codec's Reader), and re-encodes byte-exact. Captures longer than 43 bytes are stored cut; they are checked cut
 * (what the decoder says about a short packet) and zero-padded to their captured length (the full form).
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { MAP_BYTES, UdpMessage, decodeUdpcast, defaultDataGroup, encodeUdpcast } from '../../../core/udpcast/codec';
import { expectFail, expectOk } from '../codec/helpers';

interface Vector {
  capture: string;
  name: string;
  opcode: number;
  src: string;
  dst: string;
  udp_payload_len: number;
  hex: string;
  complete: boolean;
}

const VECTORS: Vector[] = JSON.parse(readFileSync(path.join(__dirname, 'vectors.json'), 'utf8'));

const ip = (b: Buffer, at: number) => `${b[at]}.${b[at + 1]}.${b[at + 2]}.${b[at + 3]}`;

/** The notes' §3 layouts, field by field. */
function fromNotes(name: string, b: Buffer): UdpMessage {
  switch (name) {
    case 'OK':
      return { op: 'ok', slice: b.readUInt32BE(4) };
    case 'RETRANSMIT':
      return { op: 'retransmit', slice: b.readUInt32BE(4), rxmit: b.readUInt32BE(8), map: b.subarray(12, 140) };
    case 'GO':
      return { op: 'go' };
    case 'CONNECT_REQ':
      return { op: 'connect-req', capabilities: b.readUInt32BE(4), rcvbuf: b.readUInt32BE(8) };
    case 'DISCONNECT':
      return { op: 'disconnect' };
    case 'REQACK':
      return { op: 'reqack', slice: b.readUInt32BE(4), bytes: b.readUInt32BE(8), rxmit: b.readUInt32BE(12), ready: b.subarray(16, 144) };
    case 'CONNECT_REPLY':
      return { op: 'connect-reply', client: b.readInt32BE(4), blockSize: b.readInt32BE(8), capabilities: b.readUInt32BE(12), dataAddress: ip(b, 16) };
    case 'DATA':
      return { op: 'data', slice: b.readUInt32BE(4), block: b.readUInt16BE(8), sliceBytes: b.readUInt32BE(12), payload: b.subarray(16) };
    case 'FEC':
      return { op: 'fec', stripes: b.readUInt16BE(2), slice: b.readUInt32BE(4), index: b.readUInt16BE(8), sliceBytes: b.readUInt32BE(12), payload: b.subarray(16) };
    case 'HELLO':
      return { op: 'hello', opcode: b.readUInt16BE(0), capabilities: b.readUInt32BE(4), dataAddress: ip(b, 8), blockSize: b.readUInt16BE(24) };
  }
  throw new Error(`no layout for ${name}`);
}

function full(v: Vector): Buffer {
  const b = Buffer.alloc(v.udp_payload_len);
  Buffer.from(v.hex, 'hex').copy(b);
  return b;
}

describe('udpcast codec: every captured packet', () => {
  it('holds every message type of the notes', () => {
    expect(new Set(VECTORS.map((v) => v.name))).toEqual(new Set(['OK', 'RETRANSMIT', 'GO', 'CONNECT_REQ', 'DISCONNECT', 'REQACK', 'CONNECT_REPLY', 'DATA', 'FEC', 'HELLO']));
  });

  for (const v of VECTORS) {
    it(`${v.capture}: ${v.name} ${v.src} -> ${v.dst}`, () => {
      const b = full(v);
      expect(b.readUInt16BE(0)).toBe(v.opcode);
      const m = expectOk(decodeUdpcast(b));
      expect(m).toEqual(fromNotes(v.name, b));
      expect(encodeUdpcast(m).toString('hex')).toBe(b.toString('hex'));
      if (!v.complete) {
        // the stored cut: the fixed-size messages are too short; DATA and FEC carry a shorter payload
        const cut = Buffer.from(v.hex, 'hex');
        if (v.name === 'REQACK' || v.name === 'RETRANSMIT') expectFail(decodeUdpcast(cut), 'truncated');
        else expect(expectOk(decodeUdpcast(cut))).toEqual(fromNotes(v.name, cut));
      }
    });
  }

  it('reads the values the notes quote', () => {
    const one = (capture: string, name: string) => expectOk(decodeUdpcast(full(VECTORS.find((v) => v.capture === capture && v.name === name)!)));
    expect(one('basic', 'HELLO')).toEqual({ op: 'hello', opcode: 0x0500, capabilities: 9, dataAddress: '234.77.0.1', blockSize: 1456 });
    expect(one('async-fec8x4', 'HELLO')).toMatchObject({ capabilities: 0x29 });
    expect(one('basic', 'CONNECT_REPLY')).toEqual({ op: 'connect-reply', client: 0, blockSize: 1456, capabilities: 9, dataAddress: '234.77.0.1' });
    expect(one('fec8x8', 'CONNECT_REPLY')).toMatchObject({ client: 1 });
    expect(one('basic', 'CONNECT_REQ')).toEqual({ op: 'connect-req', capabilities: 9, rcvbuf: 212992 });
    expect(one('basic', 'REQACK')).toMatchObject({ slice: 0, bytes: 163072, rxmit: 0 });
    expect(one('fec8x8', 'FEC')).toMatchObject({ stripes: 8, slice: 0, index: 0, sliceBytes: 1024 * 1456 });
    expect(one('basic', 'DATA')).toMatchObject({ slice: 0, block: 0, sliceBytes: 163072 });
    expect(one('basic', 'DATA').op === 'data' && (one('basic', 'DATA') as { payload: Buffer }).payload.length).toBe(1456);
    const rx = one('go', 'RETRANSMIT');
    expect(rx).toMatchObject({ slice: 1, rxmit: 1 });
    // have-map LSB first: bytes ff×10 then 0f = blocks 0..83 received
    const map = (rx as { map: Buffer }).map;
    expect(map.length).toBe(MAP_BYTES);
    const have = [...Array(1024).keys()].filter((n) => (map[n >> 3]! >> (n & 7)) & 1);
    expect(have).toEqual([...Array(84).keys()]);
  });
});

describe('udpcast codec: liberal receive, literal send', () => {
  it('treats 0x0500, 10 and 11 as HELLO and keeps the opcode', () => {
    for (const opcode of [0x0500, 10, 11]) {
      const b = encodeUdpcast({ op: 'hello', opcode, capabilities: 9, dataAddress: '239.1.2.3', blockSize: 1000 });
      expect(b.length).toBe(28);
      expect(expectOk(decodeUdpcast(b))).toMatchObject({ op: 'hello', opcode, blockSize: 1000 });
    }
  });
  it('accepts a HELLO without its 2 pad bytes, and longer messages (the bytes after the struct not read)', () => {
    const hello = encodeUdpcast({ op: 'hello', opcode: 0x0500, capabilities: 9, dataAddress: '234.77.0.1', blockSize: 1456 });
    expect(expectOk(decodeUdpcast(hello.subarray(0, 26)))).toMatchObject({ op: 'hello', blockSize: 1456 });
    expectFail(decodeUdpcast(hello.subarray(0, 25)), 'truncated');
    const ok = Buffer.concat([encodeUdpcast({ op: 'ok', slice: 7 }), Buffer.from('junk')]);
    expect(expectOk(decodeUdpcast(ok))).toEqual({ op: 'ok', slice: 7 });
  });
  it('ignores reserved fields and the 12 zero bytes after an IPv4 address', () => {
    const b = Buffer.from(encodeUdpcast({ op: 'connect-reply', client: 3, blockSize: 1456, capabilities: 9, dataAddress: '234.77.0.1' }));
    b.writeUInt16BE(0xffff, 2);
    b.fill(0xaa, 20, 32);
    expect(expectOk(decodeUdpcast(b))).toEqual({ op: 'connect-reply', client: 3, blockSize: 1456, capabilities: 9, dataAddress: '234.77.0.1' });
  });
  it('reads the CONNECT_REPLY client number as signed (-1: table full)', () => {
    const b = encodeUdpcast({ op: 'connect-reply', client: -1, blockSize: 1456, capabilities: 9, dataAddress: '234.77.0.1' });
    expect(b.readUInt32BE(4)).toBe(0xffffffff);
    expect(expectOk(decodeUdpcast(b))).toMatchObject({ client: -1 });
  });
  it('gives typed errors, never throws', () => {
    expectFail(decodeUdpcast(Buffer.alloc(0)), 'truncated');
    expectFail(decodeUdpcast(Buffer.from('00', 'hex')), 'truncated');
    expectFail(decodeUdpcast(Buffer.from('0005 0000'.replace(/ /g, ''), 'hex')), 'unknown-opcode');
    expectFail(decodeUdpcast(Buffer.from('000c0000', 'hex')), 'unknown-opcode');
    expectFail(decodeUdpcast(Buffer.from('00080000000000010002', 'hex')), 'truncated');
    expectFail(decodeUdpcast(Buffer.from('0006000000000001', 'hex')), 'truncated');
  });
  it('DATA: the payload is a view of the datagram, not a copy', () => {
    const b = encodeUdpcast({ op: 'data', slice: 2, block: 5, sliceBytes: 5000, payload: Buffer.alloc(100, 7) });
    const m = expectOk(decodeUdpcast(b));
    expect(m.op === 'data' && m.payload.buffer === b.buffer && m.payload.byteOffset === b.byteOffset + 16).toBe(true);
  });
});

describe('udp-sender default data group', () => {
  it('is the low 27 bits of the sender address under 232.0.0.0/5 (the lab capture: 10.77.0.1 → 234.77.0.1)', () => {
    expect(defaultDataGroup('10.77.0.1')).toBe('234.77.0.1');
    expect(defaultDataGroup('192.168.1.20')).toBe('232.168.1.20');
    expect(defaultDataGroup('127.0.0.1')).toBe('239.0.0.1');
    expect(defaultDataGroup('172.16.5.9')).toBe('236.16.5.9');
  });
});
