/**
 * MS-WDSMSI 2.2.2 (session initiation over UDP): hand-written vectors for the request, reply and error packets,
 * protocol-notes #4 (error opcode) and #13 (numeric widths, strings with/without null), and the typed errors.
 * Packet: OpCode(1) OptionsCount(2) { OptionId(2) OptionLength(2) OptionValue }*, network byte order.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MsiOpt, decodeMsi, decodeMsiRaw, encodeMsiError, encodeMsiRaw, encodeMsiReply, encodeMsiRequest, win32Name } from '../../../core/codec/msi';
import { MAX_BLOCK_SIZE } from '../../../core/codec/ma';
import { expectFail, expectOk, hex, toHex } from './helpers';

const REQUEST =
  '01' + // OpCode WDSMCSE_OP_REQUEST
  '0004' + // OptionsCount 4
  '0601' + '0008' + '6e00' + '7300' + '3100' + '0000' + // NAMESPACE, len 8, "ns1" UTF-16LE + null
  '0602' + '000c' + '6100' + '2e00' + '7700' + '6900' + '6d00' + '0000' + // CONTENT, len 12, "a.wim" + null
  '050c' + '0006' + '001122334455' + // MAC_ADDRESS, len 6
  '010d' + '0001' + '01'; // IPV6_CAPABLE, len 1, 1

const REQUEST_FIELDS = { namespace: 'ns1', content: 'a.wim', mac: hex('001122334455'), ipv6Capable: true };

/** The reply's options in the order encodeMsiReply writes them, each as [OptionId, hand-written option bytes]. */
const REPLY_OPTS: [number, string][] = [
  [MsiOpt.MULTICAST_ADDR, '0503' + '0004' + 'ef000001'], // MULTICAST_ADDR, len 4, 239.0.0.1
  [MsiOpt.SERVER_ADDR, '0504' + '0004' + 'c0a80a01'], // SERVER_ADDR, len 4, 192.168.10.1
  [MsiOpt.MULTICAST_PORT, '0205' + '0002' + '0fa0'], // MULTICAST_PORT, len 2, 4000
  [MsiOpt.SERVER_PORT, '0206' + '0002' + '0fa0'], // SERVER_PORT, len 2, 4000 (MUST equal MULTICAST_PORT)
  [MsiOpt.CONTENT_SIZE, '0407' + '0008' + '0000000000a00001'], // CONTENT_SIZE, len 8, 10485761 (10 MiB + 1)
  [MsiOpt.BLOCK_SIZE, '0309' + '0004' + '00008000'], // BLOCK_SIZE, len 4, 32768
  [MsiOpt.TOTAL_BLOCKS, '0408' + '0008' + '0000000000000141'], // TOTAL_BLOCKS, len 8, 321 = ceil(10485761 / 32768)
  [MsiOpt.SESSION_ID, '030a' + '0004' + '00c0ffee'], // SESSION_ID, len 4
];
const reply = (opts: string[]) => '02' + opts.length.toString(16).padStart(4, '0') + opts.join(''); // OpCode REPLY, OptionsCount
const REPLY = reply(REPLY_OPTS.map(([, h]) => h));

const REPLY_FIELDS = {
  multicastAddr: '239.0.0.1',
  serverAddr: '192.168.10.1',
  multicastPort: 4000,
  serverPort: 4000,
  contentSize: 10485761,
  blockSize: 32768,
  totalBlocks: 321,
  sessionId: 0x00c0ffee,
};

describe('MSI request (2.2.2.1)', () => {
  it('decodes to the fields of the table', () => {
    expect(expectOk(decodeMsi(hex(REQUEST)))).toEqual({ kind: 'request', ...REQUEST_FIELDS });
  });

  it('encodes to exactly the vector', () => {
    expect(toHex(encodeMsiRequest(REQUEST_FIELDS))).toBe(REQUEST);
  });

  it('without the optional IPV6_CAPABLE', () => {
    const v =
      '01' + '0003' + // REQUEST, 3 options
      '0601' + '0008' + '6e00730031000000' + // NAMESPACE "ns1\0"
      '0602' + '000c' + '61002e00770069006d000000' + // CONTENT "a.wim\0"
      '050c' + '0006' + '001122334455'; // MAC_ADDRESS
    const p = expectOk(decodeMsi(hex(v)));
    expect(p).toEqual({ kind: 'request', namespace: 'ns1', content: 'a.wim', mac: hex('001122334455') });
    expect('ipv6Capable' in p).toBe(false);
    expect(toHex(encodeMsiRequest({ namespace: 'ns1', content: 'a.wim', mac: hex('001122334455') }))).toBe(v);
  });

  it('IPV6_CAPABLE 0 is false', () => {
    const p = expectOk(decodeMsi(hex(REQUEST.slice(0, -2) + '00')));
    expect(p).toMatchObject({ ipv6Capable: false });
    expect(toHex(encodeMsiRequest({ ...REQUEST_FIELDS, ipv6Capable: false }))).toBe(REQUEST.slice(0, -2) + '00');
  });

  it('protocol-notes #13: strings without the terminating null are accepted', () => {
    const v =
      '01' + '0003' +
      '0601' + '0006' + '6e0073003100' + // NAMESPACE, len 6, "ns1" with no null
      '0602' + '000a' + '61002e00770069006d00' + // CONTENT, len 10, "a.wim" with no null
      '050c' + '0006' + '001122334455';
    expect(expectOk(decodeMsi(hex(v)))).toMatchObject({ namespace: 'ns1', content: 'a.wim' });
  });

  it('non-ASCII names are UTF-16LE', () => {
    const v = '01' + '0003' + '0601' + '0006' + 'e9006e000000' + '0602' + '0004' + '3d d8 00 de'.replace(/ /g, '') + '050c' + '0000';
    // "én\0" and U+1F600 as a surrogate pair without null; an empty MAC is still present
    expect(expectOk(decodeMsi(hex(v)))).toEqual({ kind: 'request', namespace: 'én', content: '\u{1f600}', mac: Buffer.alloc(0) });
  });

  for (const [name, id] of [['NAMESPACE', '0601'], ['CONTENT', '0602'], ['MAC_ADDRESS', '050c']] as const) {
    it(`missing ${name} is missing-option`, () => {
      const all = [
        ['0601', '0601' + '0008' + '6e00730031000000'],
        ['0602', '0602' + '000c' + '61002e00770069006d000000'],
        ['050c', '050c' + '0006' + '001122334455'],
      ];
      const kept = all.filter(([i]) => i !== id).map(([, h]) => h);
      expectFail(decodeMsi(hex('01' + '0002' + kept.join(''))), 'missing-option');
    });
  }
});

describe('MSI reply (2.2.2.2)', () => {
  it('decodes to the fields of the table', () => {
    expect(expectOk(decodeMsi(hex(REPLY)))).toEqual({ kind: 'reply', ...REPLY_FIELDS });
  });

  it('encodes to exactly the vector', () => {
    expect(toHex(encodeMsiReply(REPLY_FIELDS))).toBe(REPLY);
  });

  it('IPv6 addresses (16-byte values)', () => {
    const v = reply([
      '0503' + '0010' + 'ff150000000000000000000000000001', // MULTICAST_ADDR ff15::1
      '0504' + '0010' + 'fd000000000000000000000000000005', // SERVER_ADDR fd00::5
      ...REPLY_OPTS.slice(2).map(([, h]) => h),
    ]);
    const p = expectOk(decodeMsi(hex(v)));
    expect(p).toMatchObject({ multicastAddr: 'ff15:0:0:0:0:0:0:1', serverAddr: 'fd00:0:0:0:0:0:0:5' });
    expect(toHex(encodeMsiReply({ ...REPLY_FIELDS, multicastAddr: 'ff15::1', serverAddr: 'fd00::5' }))).toBe(v);
    expect(toHex(encodeMsiReply({ ...REPLY_FIELDS, multicastAddr: 'ff15:0:0:0:0:0:0:1', serverAddr: 'fd00:0:0:0:0:0:0:5' }))).toBe(v);
  });

  it('options in another order decode the same', () => {
    expect(expectOk(decodeMsi(hex(reply(REPLY_OPTS.map(([, h]) => h).reverse()))))).toEqual({ kind: 'reply', ...REPLY_FIELDS });
  });

  it('unknown options are ignored; a repeated option: the first one counts', () => {
    const v = reply([...REPLY_OPTS.map(([, h]) => h), '7777' + '0002' + 'abcd', '030a' + '0004' + '00000001']);
    expect(expectOk(decodeMsi(hex(v)))).toEqual({ kind: 'reply', ...REPLY_FIELDS });
  });

  describe('protocol-notes #13: numeric options in 2-, 4- and 8-byte widths', () => {
    it('WDSC widths: ports as 4-byte ULONG (MS-WDSMSI 2.2.1)', () => {
      const v = reply([
        REPLY_OPTS[0]![1],
        REPLY_OPTS[1]![1],
        '0205' + '0004' + '00000fa0', // MULTICAST_PORT in 4 bytes
        '0206' + '0004' + '00000fa0', // SERVER_PORT in 4 bytes
        ...REPLY_OPTS.slice(4).map(([, h]) => h),
      ]);
      expect(expectOk(decodeMsi(hex(v)))).toEqual({ kind: 'reply', ...REPLY_FIELDS });
    });

    it('every number in 8 bytes', () => {
      const v = reply([
        REPLY_OPTS[0]![1],
        REPLY_OPTS[1]![1],
        '0205' + '0008' + '0000000000000fa0', // MULTICAST_PORT
        '0206' + '0008' + '0000000000000fa0', // SERVER_PORT
        '0407' + '0008' + '0000000000a00001', // CONTENT_SIZE
        '0309' + '0008' + '0000000000008000', // BLOCK_SIZE
        '0408' + '0008' + '0000000000000141', // TOTAL_BLOCKS
        '030a' + '0008' + '0000000000c0ffee', // SESSION_ID
      ]);
      expect(expectOk(decodeMsi(hex(v)))).toEqual({ kind: 'reply', ...REPLY_FIELDS });
    });

    it('every number that fits in 2 bytes, in 2 bytes; the others in 4', () => {
      const v = reply([
        REPLY_OPTS[0]![1],
        REPLY_OPTS[1]![1],
        '0205' + '0002' + '0fa0', // MULTICAST_PORT
        '0206' + '0002' + '0fa0', // SERVER_PORT
        '0407' + '0004' + '00a00001', // CONTENT_SIZE in 4
        '0309' + '0002' + '8000', // BLOCK_SIZE in 2
        '0408' + '0002' + '0141', // TOTAL_BLOCKS in 2
        '030a' + '0004' + '00c0ffee', // SESSION_ID
      ]);
      expect(expectOk(decodeMsi(hex(v)))).toEqual({ kind: 'reply', ...REPLY_FIELDS });
    });

    it('each numeric option alone at widths 1 to 8 where its value fits; 0 and 9 are bad-length', () => {
      const numeric = REPLY_OPTS.filter(([id]) => id !== MsiOpt.MULTICAST_ADDR && id !== MsiOpt.SERVER_ADDR);
      for (const [id, h] of numeric) {
        const value = BigInt('0x' + h.slice(8));
        const others = REPLY_OPTS.filter(([i]) => i !== id).map(([, x]) => x);
        const optionAt = (width: number) =>
          h.slice(0, 4) + width.toString(16).padStart(4, '0') + value.toString(16).padStart(width * 2, '0').slice(-width * 2);
        for (let width = 1; width <= 8; width++) {
          if (value >= 1n << BigInt(8 * width)) continue;
          expect(expectOk(decodeMsi(hex(reply([...others, optionAt(width)])))), `0x${id.toString(16)} width ${width}`).toEqual({ kind: 'reply', ...REPLY_FIELDS });
        }
        expectFail(decodeMsi(hex(reply([...others, h.slice(0, 4) + '0000']))), 'bad-length');
        expectFail(decodeMsi(hex(reply([...others, h.slice(0, 4) + '0009' + value.toString(16).padStart(18, '0')]))), 'bad-length');
      }
    });
  });

  it('a number wider than its field is bad-value, not cut: ports above 0xffff, BLOCK_SIZE and SESSION_ID above 0xffffffff (found by npm run fuzz)', () => {
    const others = (id: number) => REPLY_OPTS.filter(([i]) => i !== id).map(([, x]) => x);
    for (const wide of [
      '0205' + '0004' + '00010fa0', // MULTICAST_PORT 69536 = 4000 + 2^16
      '0206' + '0003' + '010fa0', // SERVER_PORT
      '0309' + '0008' + '0000000100008000', // BLOCK_SIZE 2^32 + 32768
      '030a' + '0005' + '0100c0ffee', // SESSION_ID: was read as 0x00c0ffee
    ]) {
      const id = parseInt(wide.slice(0, 4), 16);
      expectFail(decodeMsi(hex(reply([...others(id), wide]))), 'bad-value');
    }
    // at the limit, in a wider option, it is taken
    const atMax = reply([...others(MsiOpt.SESSION_ID), '030a' + '0008' + '00000000ffffffff']);
    expect(expectOk(decodeMsi(hex(atMax)))).toEqual({ kind: 'reply', ...REPLY_FIELDS, sessionId: 0xffffffff });
  });

  it('protocol-notes #108: a zero MULTICAST_PORT or SERVER_PORT is bad-value (port 0 names no UDP port)', () => {
    const others = (id: number) => REPLY_OPTS.filter(([i]) => i !== id).map(([, x]) => x);
    for (const [zero, what] of [
      ['0205' + '0002' + '0000', /MULTICAST_PORT is zero/],
      ['0206' + '0002' + '0000', /SERVER_PORT is zero/],
    ] as const) {
      const d = decodeMsi(hex(reply([...others(parseInt(zero.slice(0, 4), 16)), zero])));
      expectFail(d, 'bad-value');
      expect(d.ok ? '' : d.error.message).toMatch(what);
    }
    // port 1 is a port
    expect(expectOk(decodeMsi(hex(reply([...others(MsiOpt.SERVER_PORT), '0206' + '0002' + '0001']))))).toMatchObject({ serverPort: 1 });
  });

  for (const [id] of REPLY_OPTS) {
    it(`missing option 0x${id.toString(16).padStart(4, '0')} is missing-option`, () => {
      expectFail(decodeMsi(hex(reply(REPLY_OPTS.filter(([i]) => i !== id).map(([, x]) => x)))), 'missing-option');
    });
  }

  it('an address of neither 4 nor 16 bytes is bad-length', () => {
    const v = reply(['0503' + '0005' + 'ef00000100', ...REPLY_OPTS.slice(1).map(([, h]) => h)]);
    expectFail(decodeMsi(hex(v)), 'bad-length');
    const w = reply([REPLY_OPTS[0]![1], '0504' + '0000', ...REPLY_OPTS.slice(2).map(([, h]) => h)]);
    expectFail(decodeMsi(hex(w)), 'bad-length');
  });

  describe('TOTAL_BLOCKS must equal ceil(CONTENT_SIZE / BLOCK_SIZE)', () => {
    const withNumbers = (contentSize: string, blockSize: string, totalBlocks: string) =>
      hex(
        reply([
          ...REPLY_OPTS.slice(0, 4).map(([, h]) => h),
          '0407' + '0008' + contentSize, // CONTENT_SIZE
          '0309' + '0004' + blockSize, // BLOCK_SIZE
          '0408' + '0008' + totalBlocks, // TOTAL_BLOCKS
          REPLY_OPTS[7]![1],
        ]),
      );

    it('one block too few or too many is bad-value', () => {
      expectFail(decodeMsi(withNumbers('0000000000a00001', '00008000', '0000000000000140')), 'bad-value'); // 320
      expectFail(decodeMsi(withNumbers('0000000000a00001', '00008000', '0000000000000142')), 'bad-value'); // 322
    });

    it('an exact multiple has no partial last block', () => {
      expect(expectOk(decodeMsi(withNumbers('0000000000a00000', '00008000', '0000000000000140')))).toMatchObject({ totalBlocks: 320 });
      expectFail(decodeMsi(withNumbers('0000000000a00000', '00008000', '0000000000000141')), 'bad-value');
    });

    it('protocol-notes #108: a BLOCK_SIZE above what one MS-WDSMA DATA carries (65535 - 13 = 65522) is bad-value', () => {
      expect(MAX_BLOCK_SIZE).toBe(65522);
      expect(expectOk(decodeMsi(withNumbers('000000000000fff2', '0000fff2', '0000000000000001')))).toMatchObject({ blockSize: 65522, totalBlocks: 1 });
      const big = decodeMsi(withNumbers('00000000fffffffe', 'ffffffff', '0000000000000001'));
      expect(expectFail(big, 'bad-value').message).toMatch(/BLOCK_SIZE 4294967295 is more than one MS-WDSMA DATA packet carries \(65522\)/);
      expectFail(decodeMsi(withNumbers('000000000000fff3', '0000fff3', '0000000000000001')), 'bad-value');
    });

    it('empty content has zero blocks; a zero BLOCK_SIZE is bad-value', () => {
      expect(expectOk(decodeMsi(withNumbers('0000000000000000', '00008000', '0000000000000000')))).toMatchObject({ totalBlocks: 0 });
      expectFail(decodeMsi(withNumbers('0000000000000000', '00000000', '0000000000000000')), 'bad-value');
    });

    it('a number at or above 2^53 is bad-value (it cannot be held exactly, so the check above would be unsound)', () => {
      // 2^53 + 1 reads as 2^53 in a double: CONTENT_SIZE and TOTAL_BLOCKS would "agree" on a wrong size.
      expectFail(decodeMsi(withNumbers('0020000000000001', '00000001', '0020000000000001')), 'bad-value');
      expectFail(decodeMsi(withNumbers('ffffffffffffffff', '00000001', 'ffffffffffffffff')), 'bad-value');
      expect(expectOk(decodeMsi(withNumbers('001fffffffffffff', '00000001', '001fffffffffffff')))).toMatchObject({ contentSize: Number.MAX_SAFE_INTEGER });
    });

    it('agrees with exact integer arithmetic for every size below 2^53', () => {
      fc.assert(
        fc.property(fc.maxSafeNat(), fc.integer({ min: 1, max: MAX_BLOCK_SIZE }), fc.integer({ min: -1, max: 1 }), (contentSize, blockSize, delta) => {
          const exact = (BigInt(contentSize) + BigInt(blockSize) - 1n) / BigInt(blockSize);
          const total = exact + BigInt(delta);
          if (total < 0n) return;
          const h8 = (n: bigint | number) => BigInt(n).toString(16).padStart(16, '0');
          const r = decodeMsi(withNumbers(h8(contentSize), blockSize.toString(16).padStart(8, '0'), h8(total)));
          if (delta === 0) expect(expectOk(r)).toMatchObject({ contentSize, blockSize, totalBlocks: Number(exact) });
          else expectFail(r, 'bad-value');
        }),
        { numRuns: 300 },
      );
    });
  });
});

describe('MSI error packet (2.2.2.3) and protocol-notes #4', () => {
  const ERROR_02 =
    '02' + // OpCode REPLY (what osdcast sends)
    '0001' + // OptionsCount 1
    '030b' + '0004' + '00000005'; // WDSMCSE_OPT_ERROR, len 4, ERROR_ACCESS_DENIED
  const ERROR_03 =
    '03' + // OpCode 0x03: no such opcode in 2.2.2; still an error packet
    '0001' + // OptionsCount 1
    '030b' + '0004' + '00000490'; // ERROR, len 4, 1168 ERROR_NOT_FOUND

  it('opcode 0x02: decodes and encodes', () => {
    expect(expectOk(decodeMsi(hex(ERROR_02)))).toEqual({ kind: 'error', opcode: 2, win32: 5 });
    expect(toHex(encodeMsiError(5))).toBe(ERROR_02);
  });

  it('opcode 0x03: decodes and encodes', () => {
    expect(expectOk(decodeMsi(hex(ERROR_03)))).toEqual({ kind: 'error', opcode: 3, win32: 1168 });
    expect(toHex(encodeMsiError(1168, 3))).toBe(ERROR_03);
  });

  it('opcode 0x01 with ERROR is an error too', () => {
    expect(expectOk(decodeMsi(hex('01' + '0001' + '030b' + '0004' + '00000002')))).toEqual({ kind: 'error', opcode: 1, win32: 2 });
  });

  it('ERROR wins over a complete reply in the same packet', () => {
    const v = reply([...REPLY_OPTS.map(([, h]) => h), '030b' + '0004' + '0000139f']);
    expect(expectOk(decodeMsi(hex(v)))).toEqual({ kind: 'error', opcode: 2, win32: 0x139f });
  });

  it('the Win32 code in 2 and 8 bytes; 0 and 9 bytes are bad-length', () => {
    expect(expectOk(decodeMsi(hex('02' + '0001' + '030b' + '0002' + '0005')))).toMatchObject({ win32: 5 });
    expect(expectOk(decodeMsi(hex('02' + '0001' + '030b' + '0008' + '0000000080070005')))).toMatchObject({ win32: 0x80070005 });
    expectFail(decodeMsi(hex('02' + '0001' + '030b' + '0000')), 'bad-length');
    expectFail(decodeMsi(hex('02' + '0001' + '030b' + '0009' + '000000000000000005')), 'bad-length');
  });

  it('an ERROR wider than 32 bits is bad-value, not wrapped (2^32 was read as 0, ERROR_SUCCESS; found by npm run fuzz)', () => {
    expectFail(decodeMsi(hex('00' + '0001' + '030b' + '0005' + '0100000000')), 'bad-value');
    expectFail(decodeMsi(hex('02' + '0001' + '030b' + '0008' + '0000000100000005')), 'bad-value');
    expect(expectOk(decodeMsi(hex('02' + '0001' + '030b' + '0008' + '00000000ffffffff')))).toMatchObject({ win32: 0xffffffff });
  });

  it('an HRESULT is kept unsigned and named', () => {
    expect(expectOk(decodeMsi(hex('02' + '0001' + '030b' + '0004' + '80070005')))).toMatchObject({ win32: 0x80070005 });
    expect(win32Name(5)).toBe('ERROR_ACCESS_DENIED (5)');
    expect(win32Name(0x80070005)).toBe('HRESULT 0x80070005 (2147942405)');
  });
});

describe('MSI typed errors', () => {
  it('empty and 1-2 byte buffers are truncated', () => {
    expectFail(decodeMsi(Buffer.alloc(0)), 'truncated');
    expectFail(decodeMsi(hex('01')), 'truncated');
    expectFail(decodeMsi(hex('0100')), 'truncated');
  });

  for (const [name, v] of [['request', REQUEST], ['reply', REPLY], ['error', '02' + '0001' + '030b' + '0004' + '00000005']] as const) {
    it(`every proper prefix of the ${name} is a typed error`, () => {
      const wire = hex(v);
      for (let n = 0; n < wire.length; n++) {
        // OptionsCount >= 1 in every vector, so no prefix can be a complete packet.
        const err = expectFail(decodeMsi(Buffer.from(wire.subarray(0, n))));
        expect(['truncated', 'bad-count', 'bad-length'], `prefix ${n}: ${err.message}`).toContain(err.code);
      }
    });
  }

  it('OptionsCount larger than the options present', () => {
    expectFail(decodeMsi(hex('02' + '0009' + REPLY.slice(6))), 'bad-count');
  });

  it('OptionLength past the end', () => {
    expectFail(decodeMsi(hex('02' + '0001' + '030b' + '0005' + '00000005')), 'bad-length');
  });

  it('trailing bytes', () => {
    expectFail(decodeMsi(hex(REQUEST + '00')), 'trailing');
    expectFail(decodeMsi(hex('02' + '0000' + 'ff')), 'trailing');
  });

  it('unknown opcode without ERROR', () => {
    expectFail(decodeMsi(hex('03' + '0000')), 'unknown-opcode');
    expectFail(decodeMsi(hex('00' + REPLY.slice(2))), 'unknown-opcode');
  });

  it('the raw option layer round-trips', () => {
    const raw = expectOk(decodeMsiRaw(hex(REQUEST)));
    expect(raw.opcode).toBe(1);
    expect(raw.options.map((o) => o.id)).toEqual([0x0601, 0x0602, 0x050c, 0x010d]);
    expect(toHex(encodeMsiRaw(raw.opcode, raw.options))).toBe(REQUEST);
  });
});
