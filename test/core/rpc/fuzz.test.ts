/**
 * Property tests (fast-check) for the DCE/RPC decoders: arbitrary bytes and mutated captured PDUs never make a
 * decoder throw (the result is ok or a known error code); arbitrary valid PDUs and call stubs round-trip; the
 * client fed arbitrary bytes in arbitrary chunks never throws and only emits typed events; neither does the connect
 * plan, which ends at most once.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodePdu, encodePdu } from '../../../core/rpc/pdu';
import { decodeEptMapResponse, encodeTcpTower } from '../../../core/rpc/epm';
import { decodeWdsRpcMessageRequest, decodeWdsRpcMessageResponse, encodeWdsRpcMessageRequest, encodeWdsRpcMessageResponse } from '../../../core/rpc/wds-rpc';
import { RpcClient } from '../../../core/rpc/client';
import { driveConnector } from '../../fuzz/arbitraries/connect';
import { expectOk, isWellFormedResult } from '../codec/helpers';
import { bytes, mutated, u16, u32, u8 } from '../../fuzz/arbitraries/common';
import { expectedPdu, pdu, syntax } from '../../fuzz/arbitraries/rpc';
import { SRVSVC } from './srvsvc';
import { V } from './vectors';

const RUNS = { numRuns: 400 };
// Arbitraries: test/fuzz/arbitraries/rpc.ts (shared with the fuzz target table).
describe('rpc fuzz: decoders never throw', () => {
  it('decodePdu on arbitrary bytes, and on arbitrary bytes behind a plausible header', () => {
    fc.assert(fc.property(bytes(300), (b) => isWellFormedResult(decodePdu(b))), RUNS);
    fc.assert(
      fc.property(u8, u8, bytes(300), u16, (type, fl, rest, authLength) => {
        const b = Buffer.concat([Buffer.from([5, 0, type % 20, fl, 0x10, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0]), rest]);
        b.writeUInt16LE(b.length, 8);
        b.writeUInt16LE(authLength % (b.length + 8), 10);
        return isWellFormedResult(decodePdu(b));
      }),
      RUNS,
    );
  });

  it('decodePdu on mutated captured PDUs', () => {
    for (const v of Object.values(V)) fc.assert(fc.property(mutated(v), (b) => isWellFormedResult(decodePdu(b))), { numRuns: 60 });
  });

  it('the call stub decoders on arbitrary and mutated stubs', () => {
    fc.assert(fc.property(bytes(200), (b) => [decodeEptMapResponse(b), decodeWdsRpcMessageResponse(b), decodeWdsRpcMessageRequest(b)].every(isWellFormedResult)), RUNS);
    fc.assert(fc.property(mutated(V.eptMapResponse.subarray(24)), (b) => isWellFormedResult(decodeEptMapResponse(b))), RUNS);
  });
});

describe('rpc fuzz: round trips', () => {
  it('decode(encode(pdu)) gives the PDU back', () => {
    fc.assert(
      fc.property(pdu, (p) => {
        const back = expectOk(decodePdu(encodePdu(p)));
        expect(back).toEqual(expectedPdu(p, back));
        if (back.auth) expect(back.auth.authPadLength).toBeLessThan(16);
      }),
      RUNS,
    );
  });

  it('WdsRpcMessage request and response stubs', () => {
    fc.assert(fc.property(bytes(300), (b) => expectOk(decodeWdsRpcMessageRequest(encodeWdsRpcMessageRequest(b))).equals(b)), RUNS);
    fc.assert(
      fc.property(fc.option(bytes(300), { nil: undefined }), u32, (reply, rv) => {
        expect(expectOk(decodeWdsRpcMessageResponse(encodeWdsRpcMessageResponse(reply, rv)))).toEqual({ reply, returnValue: rv });
      }),
      RUNS,
    );
  });

  it('ept_map towers with any port and address', () => {
    fc.assert(
      fc.property(syntax, u16, fc.ipV4(), (iface, port, address) => {
        const tower = encodeTcpTower(iface, port, address);
        const pad = Buffer.alloc((4 - (tower.length % 4)) % 4);
        const head = Buffer.alloc(40);
        head.writeUInt32LE(1, 20); // num_towers
        head.writeUInt32LE(1, 24); // max_count
        head.writeUInt32LE(1, 32); // actual_count
        head.writeUInt32LE(3, 36); // referent
        const len = Buffer.alloc(8);
        len.writeUInt32LE(tower.length, 0);
        len.writeUInt32LE(tower.length, 4);
        const stub = Buffer.concat([head, len, tower, pad, Buffer.alloc(4)]);
        expect(expectOk(decodeEptMapResponse(stub)).endpoints).toEqual([{ iface: { ...iface, uuid: iface.uuid.toLowerCase() }, port, address }]);
      }),
      RUNS,
    );
  });
});

describe('rpc fuzz: the client', () => {
  it('arbitrary bytes in arbitrary chunks after a bind never throw and yield only typed events', () => {
    const TYPES = ['bound', 'response', 'fault', 'bindNak', 'bindFault', 'error', 'closed'];
    fc.assert(
      fc.property(fc.array(fc.oneof(bytes(40), fc.constantFrom(...Object.values(V))), { maxLength: 8 }), (chunks) => {
        const c = new RpcClient({ abstractSyntax: SRVSVC });
        c.handleConnected(0);
        c.call(0, Buffer.alloc(4), 0);
        for (const ch of chunks) c.handleBytes(ch, 1);
        c.handleTimeout(1e9);
        c.handleClosed(2);
        for (let e = c.pollEvent(); e; e = c.pollEvent()) expect(TYPES).toContain(e.type);
        while (c.pollSend());
      }),
      { numRuns: 300 },
    );
  });
});

describe('rpc fuzz: the connect plan', () => {
  it('arbitrary server bytes, closes and timeouts over several attempts never throw; at most one done or failed, last', () => {
    const step = fc.oneof(
      fc.record({ kind: fc.constant('bytes' as const), b: fc.oneof(bytes(40), fc.constantFrom(...Object.values(V))) }),
      fc.record({ kind: fc.constantFrom('close' as const, 'timeout' as const, 'connect' as const, 'refused' as const) }),
    );
    fc.assert(
      fc.property(fc.boolean(), fc.array(step, { maxLength: 14 }), (hasCredentials, steps) => {
        const events = driveConnector(hasCredentials, steps);
        for (const t of events) expect(['attemptFailed', 'done', 'failed']).toContain(t);
        const ends = events.filter((t) => t !== 'attemptFailed');
        expect(ends.length).toBeLessThanOrEqual(1);
        if (ends.length) expect(events[events.length - 1]).toBe(ends[0]);
        expect(events.filter((t) => t === 'attemptFailed').length, 'at most 9, 10, NONE').toBeLessThanOrEqual(3);
      }),
      RUNS,
    );
  });
});
