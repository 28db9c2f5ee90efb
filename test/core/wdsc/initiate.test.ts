/**
 * WDSMC_OP_INITIATE over MS-WDSC (MS-WDSMSI 2.2.1): the 4.1 example request and reply as bytes built from the
 * spec text, the client's request, the reply and its two error channels, the server side, protocol-notes #29-#31.
 */
import { describe, expect, it } from 'vitest';
import { Cap, buildInitiateRequest, decodeInitiateRequest, decodeInitiateResult, encodeInitiateError, encodeInitiateReply } from '../../../core/wdsc/initiate';
import { expectFail, expectOk, hex, toHex } from '../codec/helpers';
import { T, block, le, packet, utf16 } from './spec';

const wstr = (name: string, s: string) => block(name, T.WSTRING, (s.length + 1) * 2, 0, utf16(s));
const ulong = (name: string, v: number) => block(name, T.ULONG, 4, 0, le(v, 4));
const ulong64 = (name: string, v: number) => block(name, T.ULONG64, 8, 0, le(v, 8));
const blob = (name: string, h: string) => block(name, T.BLOB, h.length / 2, 0, h);

/** MS-WDSMSI 4.1 request. */
const EXAMPLE_REQUEST = packet(1, 6, [wstr('Namespace', 'WDS:default/install.wim/1'), wstr('Content', 'install.wim'), wstr('Client', 'TestMachine'), ulong('Cap', 3)]);

const SYM_KEY = '0802000003660000180000002F15F82AE0683EF79E6D62A70BDC519D2A3246E0FDB354E9';
const USER_SID = '0105000000000005150000006BE79ECE8F2C9599DC2F39DCF4010000';

/** MS-WDSMSI 4.1 reply, variables in the order the example lists them (SymKey twice, as printed). */
const EXAMPLE_REPLY_BLOCKS = [
  ulong('TpMcAddress.Port', 0x0000fa84),
  blob('TpMcAddress.Address', 'EF00006F'),
  ulong('TpUniAddress.Port', 0x0000fa84),
  blob('TpUniAddress.Address', 'C0A800C8'),
  ulong64('ContentSize', 0x00000000ef8b56ec),
  ulong64('TotalBlocks', 0x6fb00),
  ulong('BlockSize', 0x00002251),
  ulong('SessionId', 0x6d19ee7e),
  blob('SymKey', SYM_KEY),
  blob('SymKey', SYM_KEY),
  blob('UserSid', USER_SID),
  ulong('HMACAlgId', 0x00008009),
  ulong('HashAlgId', 0x0000800c),
  ulong('SecMode', 0x00010001),
];
const EXAMPLE_REPLY = packet(2, 0, EXAMPLE_REPLY_BLOCKS);

const EXAMPLE_FIELDS = {
  kind: 'reply',
  multicastAddr: '239.0.0.111',
  multicastPort: 0xfa84,
  serverAddr: '192.168.0.200',
  serverPort: 0xfa84,
  sessionId: 0x6d19ee7e,
  contentSize: 0xef8b56ec,
  blockSize: 0x2251,
  totalBlocks: 0x6fb00,
  contentMetadata: Buffer.alloc(0),
  secMode: 0x00010001,
  symKey: hex(SYM_KEY),
  hashAlgId: 0x800c,
  hmacAlgId: 0x8009,
  userSid: hex(USER_SID),
};

describe('request (client side)', () => {
  it('is Namespace, Content, Client (WSTRING) and Cap = CHECKSUM (ULONG), exactly', () => {
    const r = buildInitiateRequest({ namespace: 'WDS:default/install.wim/1', content: 'install.wim', clientName: 'TestMachine', bootDevice: false });
    expect(toHex(r.packet)).toBe(packet(1, 6, [wstr('Namespace', 'WDS:default/install.wim/1'), wstr('Content', 'install.wim'), wstr('Client', 'TestMachine'), ulong('Cap', 1)]));
    expect(r).toMatchObject({ clientName: 'TestMachine', clientNameCut: false, cap: Cap.CHECKSUM });
  });

  it('bootDevice adds BOOT_DEVICE; IPV6 is never claimed', () => {
    const r = buildInitiateRequest({ namespace: 'n', content: 'c', clientName: 'PC', bootDevice: true });
    expect(r.cap).toBe(0x5);
    expect(toHex(r.packet)).toBe(packet(1, 6, [wstr('Namespace', 'n'), wstr('Content', 'c'), wstr('Client', 'PC'), ulong('Cap', 5)]));
    expect(r.cap & Cap.IPV6).toBe(0);
  });

  it('#31: a machine name over 15 characters is cut to 15 (the 16th is the null) and the cut reported', () => {
    const r = buildInitiateRequest({ namespace: 'n', content: 'c', clientName: 'ABCDEFGHIJKLMNOPQRS', bootDevice: false });
    expect(r).toMatchObject({ clientName: 'ABCDEFGHIJKLMNO', clientNameCut: true });
    expect(toHex(r.packet)).toContain(utf16('ABCDEFGHIJKLMNO'));
    expect(expectOk(decodeInitiateRequest(r.packet)).client).toBe('ABCDEFGHIJKLMNO');
    expect(buildInitiateRequest({ namespace: 'n', content: 'c', clientName: 'ABCDEFGHIJKLMNO', bootDevice: false }).clientNameCut).toBe(false);
    // A surrogate pair is not split: 14 units then the pair would be 16, so the name stops at 14.
    const astral = 'A'.repeat(14) + '\u{1F600}' + 'B';
    expect(buildInitiateRequest({ namespace: 'n', content: 'c', clientName: astral, bootDevice: false }).clientName).toBe('A'.repeat(14));
  });
});

describe('request (server side)', () => {
  it('decodes the MS-WDSMSI 4.1 example', () => {
    expect(expectOk(decodeInitiateRequest(hex(EXAMPLE_REQUEST)))).toEqual({ namespace: 'WDS:default/install.wim/1', content: 'install.wim', client: 'TestMachine', cap: 3 });
  });

  it('round-trips what the client builds', () => {
    const r = buildInitiateRequest({ namespace: 'SMSPKG\\C$\\ABC00001', content: 'image.wim', clientName: 'MININT-1234', bootDevice: true });
    expect(expectOk(decodeInitiateRequest(r.packet))).toEqual({ namespace: 'SMSPKG\\C$\\ABC00001', content: 'image.wim', client: 'MININT-1234', cap: 5 });
  });

  it('without Cap (MS-WDSMSI note <3>), cap is absent', () => {
    const p = expectOk(decodeInitiateRequest(hex(packet(1, 6, [wstr('Namespace', 'n'), wstr('Content', 'c'), wstr('Client', 'x')]))));
    expect(p).toEqual({ namespace: 'n', content: 'c', client: 'x' });
  });

  it('a missing required variable, another opcode, another endpoint, a wrong type', () => {
    expectFail(decodeInitiateRequest(hex(packet(1, 6, [wstr('Namespace', 'n'), wstr('Client', 'x')]))), 'missing-option');
    expectFail(decodeInitiateRequest(hex(packet(1, 7, [wstr('Namespace', 'n'), wstr('Content', 'c'), wstr('Client', 'x')]))), 'unknown-opcode');
    expectFail(decodeInitiateRequest(hex(packet(1, 6, [], '00'.repeat(16)))), 'bad-magic');
    expectFail(decodeInitiateRequest(hex(packet(1, 6, [wstr('Namespace', 'n'), blob('Content', '00'), wstr('Client', 'x')]))), 'bad-value');
  });

  it('#30: STRING for a string variable is accepted', () => {
    const v = packet(1, 6, [block('namespace', T.STRING, 2, 0, '6e00'), wstr('CONTENT', 'c'), wstr('client', 'x')]);
    expect(expectOk(decodeInitiateRequest(hex(v)))).toEqual({ namespace: 'n', content: 'c', client: 'x' });
  });
});

describe('reply (client side)', () => {
  it('decodes the MS-WDSMSI 4.1 example (SymKey twice, #28; no ContentMetadata, #29)', () => {
    expect(expectOk(decodeInitiateResult(0, hex(EXAMPLE_REPLY)))).toEqual(EXAMPLE_FIELDS);
  });

  it('the server encoder round-trips the example fields', () => {
    const { kind: _k, ...fields } = EXAMPLE_FIELDS;
    const wire = encodeInitiateReply(fields);
    expect(expectOk(decodeInitiateResult(0, wire))).toEqual(EXAMPLE_FIELDS);
    // The same bytes as the example with SymKey once, SymKey after the eight MUSTs as the encoder orders them.
    const [mcPort, mcAddr, uniPort, uniAddr, size, total, blockSize, sessionId, sym, , sid, hmac, hash, sec] = EXAMPLE_REPLY_BLOCKS;
    expect(toHex(wire)).toBe(packet(2, 0, [mcPort!, mcAddr!, uniPort!, uniAddr!, sessionId!, size!, blockSize!, total!, sym!, hash!, hmac!, sec!, sid!]).toLowerCase());
  });

  it('#29: ContentMetadata absent or zero-length is empty; present is its bytes; the encoder omits an empty one', () => {
    const zero = packet(2, 0, [...EXAMPLE_REPLY_BLOCKS, blob('ContentMetadata', '')]);
    expect(expectOk(decodeInitiateResult(0, hex(zero)))).toEqual(EXAMPLE_FIELDS);
    const some = packet(2, 0, [...EXAMPLE_REPLY_BLOCKS, blob('ContentMetadata', 'c0ffee')]);
    expect(expectOk(decodeInitiateResult(0, hex(some)))).toEqual({ ...EXAMPLE_FIELDS, contentMetadata: hex('c0ffee') });
    const { kind: _k, ...fields } = EXAMPLE_FIELDS;
    expect(toHex(encodeInitiateReply(fields))).not.toContain(utf16('ContentMetadata'));
    expect(toHex(encodeInitiateReply({ ...fields, contentMetadata: hex('c0ffee') }))).toContain(utf16('ContentMetadata'));
  });

  it('#30: only the eight MUST variables (Server 2016+: no SecMode, no UserSid); optional fields absent', () => {
    const v = packet(2, 0, EXAMPLE_REPLY_BLOCKS.slice(0, 8));
    const r = expectOk(decodeInitiateResult(0, hex(v)));
    expect(r).toEqual({ ...EXAMPLE_FIELDS, secMode: undefined, symKey: undefined, hashAlgId: undefined, hmacAlgId: undefined, userSid: undefined });
    for (const k of ['secMode', 'symKey', 'signKey', 'hashAlgId', 'hmacAlgId', 'userSid']) expect(k in r).toBe(false);
  });

  it('#30: SignKey; SymKey sent as HashKey; numbers in another numeric type; names in another case', () => {
    const v = packet(2, 0, [
      block('tpmcaddress.port', T.USHORT, 2, 0, le(0xfa84, 2)),
      blob('TPMCADDRESS.ADDRESS', 'EF00006F'),
      ulong64('TpUniAddress.Port', 0xfa84),
      blob('TpUniAddress.Address', 'C0A800C8'),
      ulong('ContentSize', 0xef8b56ec),
      ulong('TotalBlocks', 0x6fb00),
      ulong('BlockSize', 0x2251),
      ulong('SessionId', 0x6d19ee7e),
      blob('HashKey', SYM_KEY),
      blob('SignKey', '0602'),
      ulong('HMACAlgId', 0x8009),
      ulong('HashAlgId', 0x800c),
    ]);
    expect(expectOk(decodeInitiateResult(0, hex(v)))).toEqual({ ...EXAMPLE_FIELDS, signKey: hex('0602'), secMode: undefined, userSid: undefined });
  });

  it('an IPv6 session is decoded as IPv6 text (the receiver decides what to do with it)', () => {
    const { kind: _k, ...fields } = EXAMPLE_FIELDS;
    const r = expectOk(decodeInitiateResult(0, encodeInitiateReply({ ...fields, multicastAddr: 'ff15:0:0:0:0:0:0:1', serverAddr: 'fe80:0:0:0:0:0:0:2' })));
    expect(r).toMatchObject({ multicastAddr: 'ff15:0:0:0:0:0:0:1', serverAddr: 'fe80:0:0:0:0:0:0:2' });
  });

  it('malformed replies are typed errors', () => {
    const without = (name: string) => packet(2, 0, EXAMPLE_REPLY_BLOCKS.filter((b) => !b.startsWith(utf16(name).padEnd(132, '0'))));
    for (const name of ['TpMcAddress.Port', 'TpMcAddress.Address', 'TpUniAddress.Port', 'TpUniAddress.Address', 'SessionId', 'ContentSize', 'BlockSize', 'TotalBlocks']) {
      expect(hex(without(name)).length).toBeLessThan(hex(EXAMPLE_REPLY).length);
      expectFail(decodeInitiateResult(0, hex(without(name))), 'missing-option');
    }
    const replace = (i: number, b: string) => packet(2, 0, EXAMPLE_REPLY_BLOCKS.map((x, j) => (j === i ? b : x)));
    expectFail(decodeInitiateResult(0, hex(replace(0, ulong('TpMcAddress.Port', 0x10000)))), 'bad-value');
    expectFail(decodeInitiateResult(0, hex(replace(1, blob('TpMcAddress.Address', 'EF0000')))), 'bad-length');
    expectFail(decodeInitiateResult(0, hex(replace(1, ulong('TpMcAddress.Address', 1)))), 'bad-value');
    expectFail(decodeInitiateResult(0, hex(replace(5, ulong64('TotalBlocks', 0x6fb01)))), 'bad-value'); // #18
    expectFail(decodeInitiateResult(0, hex(replace(6, ulong('BlockSize', 0)))), 'bad-value');
    expect(expectFail(decodeInitiateResult(0, hex(replace(6, ulong('BlockSize', 65523)))), 'bad-value').message).toMatch(/BlockSize 65523 is more than one MS-WDSMA DATA packet carries/);
    // protocol-notes #108: port 0 names no UDP port
    expect(expectFail(decodeInitiateResult(0, hex(replace(0, ulong('TpMcAddress.Port', 0)))), 'bad-value').message).toMatch(/TpMcAddress.Port is zero/);
    expect(expectFail(decodeInitiateResult(0, hex(replace(2, ulong('TpUniAddress.Port', 0)))), 'bad-value').message).toMatch(/TpUniAddress.Port is zero/);
    expectFail(decodeInitiateResult(0, hex(replace(4, block('ContentSize', T.ULONG64, 8, 0, 'ff'.repeat(8))))), 'bad-value'); // above 2^53
    expectFail(decodeInitiateResult(0, hex(replace(13, blob('SecMode', '01')))), 'bad-value');
    expectFail(decodeInitiateResult(0, hex(packet(2, 0, EXAMPLE_REPLY_BLOCKS, 'ff'.repeat(16)))), 'bad-magic');
  });

  it('every prefix of the example reply is a typed error', () => {
    const b = hex(EXAMPLE_REPLY);
    for (let n = 1; n < b.length; n++) expectFail(decodeInitiateResult(0, b.subarray(0, n)));
    expectFail(decodeInitiateResult(0, Buffer.alloc(0)), 'truncated');
    expectFail(decodeInitiateResult(0, undefined), 'truncated');
  });
});

describe('#31 (errors): return value and OpCode-ErrorCode', () => {
  it('a non-zero WdsRpcMessage return value is the error; the reply is not read', () => {
    expect(expectOk(decodeInitiateResult(5, undefined))).toEqual({ kind: 'error', source: 'status', win32: 5, name: 'ERROR_ACCESS_DENIED (5)' });
    expect(expectOk(decodeInitiateResult(0x80070002, hex('00')))).toEqual({ kind: 'error', source: 'status', win32: 0x80070002, name: 'HRESULT 0x80070002 (2147942402)' });
  });

  it('a reply with a non-zero OpCode-ErrorCode is the error, named like the UDP error', () => {
    expect(toHex(encodeInitiateError(2))).toBe(packet(2, 2, []));
    expect(expectOk(decodeInitiateResult(0, encodeInitiateError(2)))).toEqual({ kind: 'error', source: 'reply', win32: 2, name: 'ERROR_FILE_NOT_FOUND (2)' });
    // Variables beside the error code are ignored; Packet-Type not checked.
    expect(expectOk(decodeInitiateResult(0, hex(packet(1, 1168, EXAMPLE_REPLY_BLOCKS.slice(0, 2)))))).toEqual({ kind: 'error', source: 'reply', win32: 1168, name: 'ERROR_NOT_FOUND (1168)' });
    expect(expectOk(decodeInitiateResult(0, encodeInitiateError(1326)))).toMatchObject({ name: 'ERROR_LOGON_FAILURE (1326)' });
  });
});
