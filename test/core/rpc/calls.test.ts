/**
 * NDR of the two calls osdcast makes: ept_map (against the stub Samba answered) and WdsRpcMessage (hand-written
 * from MS-WDSC 3.1.4.1), plus the NDR UUID form.
 */
import { describe, expect, it } from 'vitest';
import { EPT_S_NOT_REGISTERED, decodeEptMapResponse, encodeEptMapRequest, encodeTcpTower } from '../../../core/rpc/epm';
import { uuidFromBytes, uuidToBytes } from '../../../core/rpc/ndr';
import { decodeWdsRpcMessageRequest, decodeWdsRpcMessageResponse, encodeWdsRpcMessageRequest, encodeWdsRpcMessageResponse, WDSC_INTERFACE } from '../../../core/rpc/wds-rpc';
import { expectFail, expectOk, hex } from '../codec/helpers';
import { SRVSVC } from './srvsvc';
import { V } from './vectors';

describe('NDR UUIDs', () => {
  it('first three fields little-endian, the rest as written (as on the wire in the capture)', () => {
    expect(uuidToBytes(SRVSVC.uuid).toString('hex')).toBe('c84f324b7016d30112785a47bf6ee188');
    expect(uuidFromBytes(hex('c84f324b7016d30112785a47bf6ee188'))).toBe(SRVSVC.uuid);
    expect(() => uuidToBytes('not-a-uuid')).toThrow();
  });
});

describe('ept_map', () => {
  it('encodes the request Samba answered (nil object, 75-octet tower, null handle, max_towers 4)', () => {
    expect(encodeEptMapRequest(SRVSVC).toString('hex')).toBe(V.eptMapRequest.subarray(24).toString('hex'));
    expect(encodeTcpTower(SRVSVC).length).toBe(75);
  });

  it("decodes Samba's answer into the TCP port and address", () => {
    expect(expectOk(decodeEptMapResponse(V.eptMapResponse.subarray(24)))).toEqual({
      status: 0,
      endpoints: [{ iface: SRVSVC, port: 49154, address: '10.77.50.1' }],
    });
  });

  it('round-trips a tower with a port through a response', () => {
    const tower = encodeTcpTower(WDSC_INTERFACE, 5040, '10.1.2.3');
    const pad = Buffer.alloc((4 - (tower.length % 4)) % 4);
    const stub = Buffer.concat([
      Buffer.alloc(20),
      hex('01000000 01000000 00000000 01000000 03000000'),
      Buffer.from([tower.length, 0, 0, 0, tower.length, 0, 0, 0]),
      tower,
      pad,
      hex('00000000'),
    ]);
    expect(expectOk(decodeEptMapResponse(stub)).endpoints).toEqual([{ iface: WDSC_INTERFACE, port: 5040, address: '10.1.2.3' }]);
  });

  it('not registered: no towers and status 0x16c9a0d6', () => {
    const stub = Buffer.concat([Buffer.alloc(20), hex('00000000 04000000 00000000 00000000 d6a0c916')]);
    expect(expectOk(decodeEptMapResponse(stub))).toEqual({ status: EPT_S_NOT_REGISTERED, endpoints: [] });
  });

  it('every prefix, a count beyond the stub, and trailing bytes are typed errors', () => {
    const stub = V.eptMapResponse.subarray(24);
    for (let n = 0; n < stub.length; n++) expectFail(decodeEptMapResponse(stub.subarray(0, n)));
    const huge = Buffer.from(stub);
    huge.writeUInt32LE(0x7fffffff, 32); // ITowers actual_count
    expectFail(decodeEptMapResponse(huge), 'bad-count');
    expectFail(decodeEptMapResponse(Buffer.concat([stub, Buffer.alloc(4)])), 'trailing');
  });
});

describe('WdsRpcMessage (MS-WDSC 3.1.4.1)', () => {
  it('request: size, then the conformant array', () => {
    expect(encodeWdsRpcMessageRequest(Buffer.from('abc')).toString('hex')).toBe('03000000' + '03000000' + '616263');
    expect(expectOk(decodeWdsRpcMessageRequest(hex('03000000 03000000 616263')))).toEqual(Buffer.from('abc'));
    expectFail(decodeWdsRpcMessageRequest(hex('04000000 03000000 616263')), 'bad-count');
  });

  it('response: size, unique pointer, conformant array, padding, return value', () => {
    const v = hex('05000000 00000200 05000000 68656c6c6f 000000 00000000');
    expect(expectOk(decodeWdsRpcMessageResponse(v))).toEqual({ reply: Buffer.from('hello'), returnValue: 0 });
    expect(encodeWdsRpcMessageResponse(Buffer.from('hello'), 0).toString('hex')).toBe(v.toString('hex'));
    for (let n = 0; n < v.length; n++) expectFail(decodeWdsRpcMessageResponse(v.subarray(0, n)));
  });

  it('an error with no reply: null pointer and the Win32 code', () => {
    const v = hex('00000000 00000000 90040000');
    expect(expectOk(decodeWdsRpcMessageResponse(v))).toEqual({ reply: undefined, returnValue: 1168 });
    expect(encodeWdsRpcMessageResponse(undefined, 1168).toString('hex')).toBe(v.toString('hex'));
  });

  it('a size that disagrees with the array, or bytes after the return value, are typed errors', () => {
    expectFail(decodeWdsRpcMessageResponse(hex('06000000 00000200 05000000 68656c6c6f 000000 00000000')), 'bad-count');
    expectFail(decodeWdsRpcMessageResponse(hex('00000000 00000000 90040000 00')), 'trailing');
    expectFail(decodeWdsRpcMessageResponse(hex('ffffff7f 00000200 ffffff7f 00')), 'bad-count');
  });
});
