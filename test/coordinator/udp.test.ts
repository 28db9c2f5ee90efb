import dgram from 'node:dgram';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, test } from 'vitest';
import { decodeMsi, encodeMsiRequest } from '../../core/codec/msi';
import { canRun } from '../support/env';
import { ClientHost, SimClient } from './sim';
import { RunningCoordinator, startCoordinator } from './udp';

const running: RunningCoordinator[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((r) => r.stop()));
});

async function start(o: Parameters<typeof startCoordinator>[0]): Promise<RunningCoordinator> {
  const r = await startCoordinator(o);
  running.push(r);
  return r;
}

function msiRequest(port: number, ns: string, content: string): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const s = dgram.createSocket('udp4');
    const timer = setTimeout(() => {
      s.close();
      reject(new Error('no MSI reply within 2 s'));
    }, 2000);
    s.on('message', (m) => {
      clearTimeout(timer);
      s.close();
      resolve(m);
    });
    s.bind(0, '127.0.0.1', () => {
      s.send(encodeMsiRequest({ namespace: ns, content, mac: Buffer.from([2, 0, 0, 0, 0, 1]) }), port, '127.0.0.1');
    });
  });
}

async function settle(cond: () => boolean): Promise<void> {
  for (let i = 0; i < 50 && !cond(); i++) await new Promise((res) => setTimeout(res, 10));
}

function udpHandles(): number {
  return process.getActiveResourcesInfo().filter((r) => r === 'UDPWrap').length;
}

describe('startCoordinator over loopback UDP', () => {
  test('answers a real MSI request with the session it bound (ephemeral ports)', async () => {
    const data = randomBytes(100_000);
    const r = await start({ data, namespace: 'SMSNamespace', content: 'PKG00001', msiPort: 0, port: 0 });
    expect(r.msiPort).toBeGreaterThan(0);
    expect(r.port).toBeGreaterThan(0);
    const d = decodeMsi(await msiRequest(r.msiPort, 'SMSNamespace', 'PKG00001'));
    expect(d.ok && d.value).toEqual({
      kind: 'reply',
      multicastAddr: '239.192.0.1',
      serverAddr: '127.0.0.1',
      multicastPort: r.port,
      serverPort: r.port,
      contentSize: 100_000,
      blockSize: 1385,
      totalBlocks: Math.ceil(100_000 / 1385),
      sessionId: r.sessionId,
    });
    const e = decodeMsi(await msiRequest(r.msiPort, 'nope', 'PKG00001'));
    expect(e.ok && e.value.kind === 'error' && e.value.win32).toBe(1168);
  });

  test('stop() closes both sockets and the timer, and frees the ports', async () => {
    await settle(() => udpHandles() === 0); // sockets of earlier tests finish closing
    const before = udpHandles();
    const timeouts = () => process.getActiveResourcesInfo().filter((x) => x === 'Timeout').length;
    const timersBefore = timeouts();
    const r = await startCoordinator({ data: Buffer.alloc(5000), namespace: 'n', content: 'c', msiPort: 0, port: 0 });
    expect(udpHandles()).toBe(before + 2);
    expect(timeouts()).toBe(timersBefore + 1); // the single re-armed timer
    await r.stop();
    await r.stop(); // idempotent
    // libuv finishes closing a handle on a later loop turn: give it a moment.
    await settle(() => udpHandles() === before);
    expect(udpHandles()).toBe(before);
    expect(timeouts()).toBe(timersBefore);
    // Both ports can be bound again at once.
    for (const port of [r.msiPort, r.port]) {
      const s = dgram.createSocket('udp4');
      await new Promise<void>((resolve, reject) => {
        s.once('error', reject);
        s.bind(port, '127.0.0.1', () => resolve());
      });
      await new Promise<void>((resolve) => s.close(() => resolve()));
    }
  });

  test('a busy MSI port is reported, not swallowed', async () => {
    const r = await start({ data: Buffer.alloc(10), namespace: 'n', content: 'c', msiPort: 0, port: 0 });
    await expect(startCoordinator({ data: Buffer.alloc(10), namespace: 'n', content: 'c', msiPort: r.msiPort, port: 0 })).rejects.toThrow(/EADDRINUSE/);
  });

  test('file content is read at positions (fs.readSync) and the image arrives whole over multicast', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'osdcast-coord-'));
    const file = path.join(dir, 'image.bin');
    const data = randomBytes(1385 * 700 + 123);
    fs.writeFileSync(file, data);
    try {
      const r = await start({ file, namespace: 'SMSNamespace', content: 'PKG00001', msiPort: 0, port: 0 });
      if (!(await multicastWorks(r.group))) {
        canRun(false, 'multicast on the loopback interface does not deliver here (no 224.0.0.0/4 route and IP_MULTICAST_IF ignored)');
        return;
      }
      const host = await UdpHost.create(r, data.length, 1385);
      try {
        const a = host.addClient();
        const b = host.addClient();
        await host.until(() => a.complete && b.complete, 20_000);
        expect(a.image.equals(data)).toBe(true);
        expect(b.image.equals(data)).toBe(true);
        await host.until(() => r.coordinator.stats.clientsLeft === 2, 5000);
        expect(r.coordinator.stats.odataSent).toBeGreaterThanOrEqual(701);
        expect(r.coordinator.stats.malformed).toBe(0);
      } finally {
        await host.close();
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }, 30_000);
});

/** True when a datagram sent to the group (IP_MULTICAST_IF 127.0.0.1) reaches a member socket on this host. */
async function multicastWorks(group: string): Promise<boolean> {
  const rx = dgram.createSocket({ type: 'udp4', reuseAddr: true });
  const tx = dgram.createSocket('udp4');
  try {
    await new Promise<void>((resolve) => rx.bind(0, '0.0.0.0', () => resolve()));
    rx.addMembership(group, '127.0.0.1');
    await new Promise<void>((resolve) => tx.bind(0, '127.0.0.1', () => resolve()));
    tx.setMulticastInterface('127.0.0.1');
    tx.setMulticastLoopback(true);
    const got = new Promise<boolean>((resolve) => {
      rx.once('message', () => resolve(true));
      setTimeout(() => resolve(false), 500);
    });
    tx.send(Buffer.from('probe'), rx.address().port, group);
    return await got;
  } catch {
    return false;
  } finally {
    rx.close();
    tx.close();
  }
}

/**
 * Real-socket host for the fake clients: one unicast socket per client (as MS-WDSMT 3.2.3 says: any available
 * port) and one shared multicast socket bound to 0.0.0.0:port with reuseAddr, joined to the group.
 */
class UdpHost implements ClientHost {
  readonly sessionId: number;
  readonly blockBase = 1;
  readonly totalBlocks: number;
  private readonly clients: { c: SimClient; sock: dgram.Socket }[] = [];
  private readonly timers = new Set<NodeJS.Timeout>();

  private constructor(
    private readonly r: RunningCoordinator,
    private readonly mc: dgram.Socket,
    readonly size: number,
    readonly blockSize: number,
  ) {
    this.sessionId = r.sessionId;
    this.totalBlocks = Math.ceil(size / blockSize);
    mc.on('message', (m) => {
      for (const { c } of this.clients) c.onPacket(m);
    });
  }

  static async create(r: RunningCoordinator, size: number, blockSize: number): Promise<UdpHost> {
    const mc = dgram.createSocket({ type: 'udp4', reuseAddr: true });
    await new Promise<void>((resolve) => mc.bind(r.port, '0.0.0.0', () => resolve()));
    mc.addMembership(r.group, '127.0.0.1');
    return new UdpHost(r, mc, size, blockSize);
  }

  get now(): number {
    return Math.floor(performance.timeOrigin + performance.now());
  }

  at(t: number, fn: () => void): void {
    const h = setTimeout(() => {
      this.timers.delete(h);
      fn();
    }, Math.max(0, t - this.now));
    this.timers.add(h);
  }

  toCoordinator(c: SimClient, buf: Buffer): void {
    const e = this.clients.find((x) => x.c === c);
    e?.sock.send(buf, this.r.port, this.r.iface);
  }

  addClient(): SimClient {
    const sock = dgram.createSocket('udp4');
    sock.bind(0, '127.0.0.1');
    // Port is known only after bind; the client starts then.
    const entry = { c: undefined as unknown as SimClient, sock };
    sock.on('listening', () => {
      entry.c = new SimClient(this, { address: '127.0.0.1', port: sock.address().port }, this.clients.length);
      this.clients.push(entry);
      sock.on('message', (m) => entry.c.onPacket(m));
      entry.c.start();
    });
    return new Proxy({} as SimClient, {
      get: (_t, k) => (entry.c as unknown as Record<string | symbol, unknown>)?.[k],
    });
  }

  async until(cond: () => boolean, ms: number): Promise<void> {
    const end = Date.now() + ms;
    while (!cond()) {
      if (Date.now() > end) throw new Error('timed out');
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  async close(): Promise<void> {
    for (const t of this.timers) clearTimeout(t);
    for (const { c } of this.clients) c.state = 'stopped';
    await Promise.all([this.mc, ...this.clients.map((x) => x.sock)].map((s) => new Promise<void>((r) => s.close(() => r()))));
  }
}
