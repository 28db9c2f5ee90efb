/**
 * agent/receive/multicast.ts and agent/transport/net.ts SocketFailures, over 127.0.0.1 only: dgram reports a failed
 * send only to a send callback (without one it is lost silently, no 'error' event), so the shell passes one shared
 * callback on every send; the log then says why a session goes nowhere, once per errno code, and the statistics
 * count every failure. Provoked without leaving loopback: a datagram over 65,507 bytes (EMSGSIZE), and a connected
 * socket to a closed 127.0.0.1 port, whose second send reports the ICMP "port unreachable" (ECONNREFUSED), as
 * when a DP's WDS service is down.
 */
import dgram from 'node:dgram';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { Bitmap } from '../../../core/bitmap';
import { SessionInfo, storeFor } from '../../../core/receiver';
import { captureLogger } from '../../support/log-capture';
import { runMulticast } from '../../../agent/receive/multicast';
import { DiskPump, PumpSink } from '../../../agent/storage/disk';
import { SocketFailures, closeSocket, openConnected, openUnicast } from '../../../agent/transport/net';
import { canRun } from '../../support/env';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

/**
 * A UDP port on 127.0.0.1 that answers every datagram with ICMP "port unreachable": a socket holds it (so no other
 * test can take it meanwhile) but is connected to 127.0.0.1:1, so the kernel delivers nothing from elsewhere to it.
 */
async function closedUdpPort(): Promise<number> {
  const s = dgram.createSocket('udp4');
  await new Promise<void>((res) => s.bind(0, '127.0.0.1', res));
  await new Promise<void>((res) => s.connect(1, '127.0.0.1', res));
  cleanups.push(() => closeSocket(s));
  return s.address().port;
}

describe('SocketFailures', () => {
  it('counts EMSGSIZE and ECONNREFUSED by code and reports the first of each once', async () => {
    const firsts: string[] = [];
    const f = new SocketFailures((code, message) => firsts.push(`${code}: ${message}`));
    const port = await closedUdpPort();
    const s = await openConnected('127.0.0.1', { address: '127.0.0.1', port }, () => {}, f.callback);
    cleanups.push(() => closeSocket(s));
    const send = (b: Buffer) => new Promise<void>((res) => s.send(b, (e) => (f.callback(e), res())));
    for (let i = 0; i < 4; i++) {
      await send(Buffer.alloc(16));
      await new Promise((r) => setTimeout(r, 20)); // the ICMP answer to the first reaches the socket
    }
    await send(Buffer.alloc(70_000));
    await send(Buffer.alloc(70_000));
    expect(f.byCode.ECONNREFUSED).toBeGreaterThanOrEqual(1);
    expect(f.byCode.EMSGSIZE).toBe(2);
    expect(f.total).toBe(f.byCode.ECONNREFUSED! + 2);
    expect(firsts).toHaveLength(2);
    expect(firsts[0]).toMatch(/^ECONNREFUSED: /);
    expect(firsts[1]).toMatch(/^EMSGSIZE: /);
    f.callback(null);
    expect(f.total).toBe(f.byCode.ECONNREFUSED! + 2);
  });

  it('send(): a send dgram refuses at once (port 0, a closed socket) is counted like a failed one, and does not throw', async () => {
    const firsts: string[] = [];
    const f = new SocketFailures((code) => firsts.push(code));
    const s = await openUnicast('127.0.0.1', () => {});
    const port = await closedUdpPort();
    const done: (Error | null)[] = [];
    expect(f.send(s, Buffer.alloc(8), { address: '127.0.0.1', port: 0 }, (e) => done.push(e))).toBe(false);
    expect(f.send(s, Buffer.alloc(8), { address: '127.0.0.1', port: 0 })).toBe(false);
    expect(f.byCode.ERR_SOCKET_BAD_PORT).toBe(2);
    let sent!: () => void;
    const handed = new Promise<void>((r) => (sent = r));
    expect(f.send(s, Buffer.alloc(8), { address: '127.0.0.1', port }, (e) => (done.push(e), sent()))).toBe(true);
    await handed;
    await closeSocket(s);
    expect(f.send(s, Buffer.alloc(8), { address: '127.0.0.1', port })).toBe(false);
    expect(f.byCode.ERR_SOCKET_DGRAM_NOT_RUNNING).toBe(1);
    expect(firsts).toEqual(['ERR_SOCKET_BAD_PORT', 'ERR_SOCKET_DGRAM_NOT_RUNNING']);
    // only the send handed over called its callback
    expect(done).toEqual([null]);
  });

  it.each([
    ['port 0 (dgram throws at once)', { address: '127.0.0.1', port: 0 }, 'ERR_SOCKET_BAD_PORT'],
    ['an IPv6 address from this udp4 socket (dgram tells the connect callback)', { address: '::1', port: 4000 }, 'EINVAL'],
  ])('openConnected to %s rejects and closes the socket it opened', async (_what, to, code) => {
    const close = vi.spyOn(dgram.Socket.prototype, 'close');
    try {
      await expect(openConnected('127.0.0.1', to, () => {})).rejects.toMatchObject({ code });
      expect(close).toHaveBeenCalledTimes(1);
    } finally {
      close.mockRestore();
    }
  });
});

async function freeUdpPort(): Promise<number> {
  const s = dgram.createSocket('udp4');
  await new Promise<void>((res) => s.bind(0, '127.0.0.1', res));
  const port = s.address().port;
  await closeSocket(s);
  return port;
}

class NullSink implements PumpSink {
  readonly partial = '/nowhere/never-written.partial';
  write(buffers: Buffer[]): Promise<number> {
    return Promise.resolve(buffers.reduce((n, b) => n + b.length, 0));
  }
  sync(): Promise<void> {
    return Promise.resolve();
  }
}

describe('runMulticast send failures', () => {
  it('a session server whose port is closed: the JOIN retries fail with ECONNREFUSED, one warning names it, the statistics count them, and --mcast-timeout still decides', async () => {
    const port = await closedUdpPort();
    const session: SessionInfo = {
      sessionId: 0x51,
      multicast: { address: '239.255.41.7', port: await freeUdpPort() },
      server: { address: '127.0.0.1', port },
      contentSize: 1000,
      blockSize: 100,
      totalBlocks: 10,
    };
    const store = storeFor(session, 64 * 100);
    const pump = new DiskPump(store, new NullSink(), new Bitmap(0), undefined, Date.now);
    const uni = await openUnicast('127.0.0.1', () => {});
    cleanups.push(() => closeSocket(uni));
    const { log, lines } = captureLogger();
    const stats: unknown[] = [];
    const out = await runMulticast({
      session, iface: '127.0.0.1', mac: Buffer.alloc(6), store, pump, uni, setUniHandler: () => {}, log,
      now: Date.now, rng: Math.random, signal: new AbortController().signal, canFallBack: true, mcastTimeoutMs: 1500,
      stats: (s) => stats.push(s),
    });
    if (out.kind === 'fallback' && out.cause !== 'mcast-timeout' && /cannot join/.test(out.reason)) {
      canRun(false, `joining a multicast group on 127.0.0.1 fails here: ${out.reason}`);
      return;
    }
    expect(out).toMatchObject({ kind: 'fallback', cause: 'mcast-timeout' });
    const warned = lines.filter((l) => l.level === 'warn' && /cannot reach the multicast server/.test(l.msg));
    expect(warned).toHaveLength(1);
    expect(warned[0]!.obj.code).toBe('ECONNREFUSED');
    const st = lines.find((l) => l.msg === 'multicast statistics')!;
    // JOIN every 500 ms for 1.5 s: the first goes out, the ones after it meet the "unreachable" answer
    expect((st.obj.socketFailures as Record<string, number>).ECONNREFUSED).toBeGreaterThanOrEqual(1);
    expect(stats).toHaveLength(1);
  }, 10_000);
});
