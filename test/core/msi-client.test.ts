import { describe, expect, it } from 'vitest';
import { encodeMsiError, encodeMsiReply, decodeMsi } from '../../core/codec/msi';
import { MsiUdpInitiator } from '../../core/msi-client';

const server = { address: '127.0.0.1', port: 5041 };
const cfg = { server, namespace: 'WDS:G/i.wim/1', content: 'i.wim', mac: Buffer.from([1, 2, 3, 4, 5, 6]) };

describe('MS-WDSMSI over UDP initiator', () => {
  it('sends the request with NAMESPACE, CONTENT and MAC, resends every second, gives up after maxTries', () => {
    const m = new MsiUdpInitiator({ ...cfg, maxTries: 3 }, 0);
    const first = m.pollTransmit()!;
    const d = decodeMsi(first.data);
    expect(d.ok && d.value).toEqual({ kind: 'request', namespace: 'WDS:G/i.wim/1', content: 'i.wim', mac: Buffer.from([1, 2, 3, 4, 5, 6]) });
    expect(m.pollTimeout()).toBe(1000);
    m.handleTimeout(999);
    expect(m.pollTransmit()).toBeUndefined();
    m.handleTimeout(1000);
    m.handleTimeout(2000);
    expect([m.pollTransmit(), m.pollTransmit()].every(Boolean)).toBe(true);
    m.handleTimeout(3000);
    expect(m.result).toMatchObject({ ok: false, kind: 'timeout', tries: 3 });
    expect(m.pollTimeout()).toBeUndefined();
  });

  it('returns the reply, or the Win32 error by name; malformed answers are counted and ignored', () => {
    const m = new MsiUdpInitiator(cfg, 0);
    m.handleDatagram(Buffer.from([2, 0, 9]), server, 1);
    expect(m.malformed).toBe(1);
    expect(m.result).toBeUndefined();
    m.handleDatagram(encodeMsiError(2), server, 2);
    expect(m.result).toMatchObject({ ok: false, kind: 'error', win32: 2 });
    expect((m.result as { message: string }).message).toContain('ERROR_FILE_NOT_FOUND');
    const ok = new MsiUdpInitiator(cfg, 0);
    // the reply of MS-WDSMSI 4.1's example
    ok.handleDatagram(encodeMsiReply({ multicastAddr: '239.0.0.111', serverAddr: '192.168.0.200', multicastPort: 0xfa84, serverPort: 0xfa84, contentSize: 0xef8b56ec, blockSize: 0x2251, totalBlocks: 0x6fb00, sessionId: 0x6d19ee7e }), server, 3);
    expect(ok.result).toMatchObject({ ok: true, reply: { multicastAddr: '239.0.0.111', serverAddr: '192.168.0.200', multicastPort: 64132, totalBlocks: 457472, blockSize: 8785 } });
    // a reply whose TotalBlocks cannot cover ContentSize is malformed (counted, ignored)
    const ex = new MsiUdpInitiator(cfg, 0);
    ex.handleDatagram(encodeMsiReply({ multicastAddr: '239.0.0.111', serverAddr: '192.168.0.200', multicastPort: 1, serverPort: 1, contentSize: 0xef8b56ec, blockSize: 0x2251, totalBlocks: 0x6fa00, sessionId: 1 }), server, 3);
    expect(ex.result).toBeUndefined();
    expect(ex.malformed).toBe(1);
  });

  it('protocol-notes #108: when only unusable answers came, the timeout says so and why, not "no reply"', () => {
    const m = new MsiUdpInitiator({ ...cfg, maxTries: 2 }, 0);
    const reply = { multicastAddr: '239.0.0.111', serverAddr: '192.168.0.200', multicastPort: 4000, serverPort: 4000, contentSize: 70_000, totalBlocks: 1, sessionId: 1 };
    m.handleDatagram(encodeMsiReply({ ...reply, blockSize: 70_000 }), server, 1);
    m.handleDatagram(encodeMsiReply({ ...reply, blockSize: 70_000, serverPort: 0 }), server, 2);
    m.handleTimeout(1000);
    m.handleTimeout(2000);
    expect(m.result).toMatchObject({ ok: false, kind: 'timeout', tries: 2 });
    expect((m.result as { message: string }).message).toBe('no usable reply from 127.0.0.1:5041 after 2 requests: 2 unusable answers dropped, the last: BLOCK_SIZE 70000 is more than one MS-WDSMA DATA packet carries (65522)');
  });
});
