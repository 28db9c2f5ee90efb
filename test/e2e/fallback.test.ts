/**
 * Unicast fallback, hybrid hole filling and integrity, each trigger its own test (issue: fallback and resume).
 * The coordinator serves multicast; a separate HTTP content server (the DP's IIS stand-in) serves the same bytes.
 */
import { afterEach, describe, expect, it } from 'vitest';
import dgram from 'node:dgram';
import fs from 'node:fs';
import path from 'node:path';
import { KickReason, Op, Sec, encodeMt } from '../../core/codec/mt';
import { startCoordinator } from '../coordinator/udp';
import { bufferContent, startContentServer } from '../coordinator/http';
import { randomImage, runAgent, sha256, tempDir } from './harness';
import { startFaulty } from '../support/faulty-http';
import type { ReceiveDeps, ReceiveOptions } from '../../agent/receive/receive';

const MIB = 1024 * 1024;
const image = randomImage(8 * MIB + 999, 21);
const want = sha256(image);
const NS = 'WDS:FB/img.wim/1';
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

async function setup(coordOpts: Record<string, unknown> = {}) {
  const coord = await startCoordinator({ data: image, namespace: NS, content: 'img.wim', msiPort: 0, port: 0, iface: '127.0.0.1', ...coordOpts });
  cleanups.push(() => coord.stop());
  const web = await startContentServer({ source: bufferContent(image), path: '/SMS_DP_SMSPKG$/PKG00001/img.wim' });
  cleanups.push(() => web.stop());
  const dir = tempDir();
  cleanups.push(() => fs.rmSync(dir, { recursive: true, force: true }));
  const out = path.join(dir, 'img.wim');
  const base: Partial<ReceiveOptions> & Pick<ReceiveOptions, 'server' | 'port' | 'namespace' | 'content' | 'out'> = {
    server: '127.0.0.1',
    port: coord.msiPort,
    namespace: NS,
    content: 'img.wim',
    out,
    http: [web.url],
    retries: 0,
    retryDelayMs: 50,
    msiTries: 2,
    msiRetryMs: 50,
  };
  return { coord, web, dir, out, base };
}

function expectOk(r: Awaited<ReturnType<typeof runAgent>>, out: string) {
  expect(r, r.error).toMatchObject({ status: 'ok', exitCode: 0, bytes: image.length, sha256: want });
  expect(sha256(fs.readFileSync(out))).toBe(want);
  expect(fs.existsSync(`${out}.osdcast`)).toBe(false);
  expect(fs.existsSync(`${out}.partial`)).toBe(false);
}

/** Resolves with the agent's client id once it has joined (as the coordinator sees it). */
async function joinedClient(coord: Awaited<ReturnType<typeof startCoordinator>>): Promise<number> {
  for (let i = 0; i < 200; i++) {
    const c = coord.coordinator.clients().find((x) => x.state === 'active');
    if (c) return c.clientId;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error('no client joined');
}

function untilProgress(fraction: number): { deps: Partial<ReceiveDeps>; reached: Promise<void> } {
  let hit!: () => void;
  const reached = new Promise<void>((r) => (hit = r));
  return { deps: { onProgress: (p) => p.blocks / p.totalBlocks >= fraction && hit() }, reached };
}


/** A DEMOTE of client `id` to 239.192.0.99:`port` (server 127.0.0.1:`port`), sent to the session's group from loopback. */
async function sendDemote(coord: { sessionId: number; port: number; group: string }, id: number, port: number): Promise<void> {
  const demote = encodeMt(
    { op: Op.DEMOTE, lowerSessionId: 0x0bad, mAddress: Buffer.from([239, 192, 0, 99]), mPort: port, uAddress: Buffer.from([127, 0, 0, 1]), uPort: port, clients: [id] },
    { secMode: Sec.CHECKSUM, sessionId: coord.sessionId, senderTime: Date.now() },
  );
  const s = dgram.createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', r));
  s.setMulticastInterface('127.0.0.1');
  s.setMulticastLoopback(true);
  await new Promise<void>((r) => s.send(demote, coord.port, coord.group, () => r()));
  s.close();
}
describe('fallback to HTTP', () => {
  it('MSI error reply → HTTP', async () => {
    const { base, out } = await setup();
    const r = await runAgent({ ...base, content: 'unknown.wim' });
    expectOk(r, out);
    expect(r.fallback).toMatch(/no multicast session: .*ERROR_FILE_NOT_FOUND/);
    expect(r.fallbackCause).toBe('no-session');
    expect(r).toMatchObject({ multicastBytes: 0, httpBytes: image.length });
  });

  it('no MSI reply after the retries → HTTP', async () => {
    const { base, out, coord } = await setup();
    const dead = await startCoordinator({ data: image, namespace: NS, content: 'img.wim', msiPort: 0, port: 0 });
    const port = dead.msiPort;
    await dead.stop();
    const r = await runAgent({ ...base, port, retries: 1 });
    expectOk(r, out);
    expect(r.fallback).toMatch(/no reply/);
    expect(r.fallbackCause).toBe('no-reply');
    expect(coord.coordinator.stats).toBeDefined();
  });

  it('no multicast data within --mcast-timeout of JOIN → HTTP', async () => {
    const { base, out } = await setup();
    const r = await runAgent({ ...base, mcastTimeoutMs: 1000 }, { dropFilter: () => true });
    expectOk(r, out);
    expect(r.fallback).toMatch(/--mcast-timeout/);
    expect(r.fallbackCause).toBe('mcast-timeout');
    expect(r.multicastBytes).toBe(0);
  });

  it('KICK with FALLBACK → HTTP for the rest, bytes split in the report', async () => {
    const { base, out, coord } = await setup({ rateBytesPerSec: 4e6 });
    const p = untilProgress(0.3);
    const run = runAgent(base, p.deps);
    const id = await joinedClient(coord);
    await p.reached;
    coord.kick(id, KickReason.FALLBACK);
    const r = await run;
    expectOk(r, out);
    expect(r.fallback).toMatch(/KICK FALLBACK/);
    expect(r.fallbackCause).toBe('kick-fallback');
    expect(r.multicastBytes).toBeGreaterThan(0.25 * image.length);
    expect(r.httpBytes).toBeGreaterThan(0);
    expect((r.multicastBytes as number) + (r.httpBytes as number)).toBe(image.length);
  });

  it('KICK with FAIL does not fall back: exit 4', async () => {
    const { base, out, coord, web } = await setup({ rateBytesPerSec: 4e6 });
    const run = runAgent(base);
    coord.kick(await joinedClient(coord), KickReason.FAIL);
    const r = await run;
    expect(r).toMatchObject({ status: 'error', exitCode: 4, httpBytes: 0 });
    expect(r.error).toMatch(/KICK FAIL/);
    expect(r.errorKind).toBe('kick-fail');
    expect(fs.existsSync(out)).toBe(false);
    expect(web.bytesServed).toBe(0);
  });

  it('InactivityTimeout (server gone) → HTTP', async () => {
    const { base, out, coord } = await setup({ rateBytesPerSec: 4e6 });
    const p = untilProgress(0.2);
    const run = runAgent({ ...base, inactivityMs: 800 }, p.deps);
    await p.reached;
    await coord.stop();
    const r = await run;
    expectOk(r, out);
    expect(r.fallback).toMatch(/InactivityTimeout/);
    expect(r.fallbackCause).toBe('inactivity');
  });

  it('DEMOTE to a session that does not answer → HTTP', async () => {
    const { base, out, coord } = await setup({ rateBytesPerSec: 4e6 });
    // An unprivileged port nobody uses (a port below 1024 cannot be bound without root: that is join-failed, below).
    const probe = dgram.createSocket('udp4');
    await new Promise<void>((r) => probe.bind(0, '127.0.0.1', r));
    const silent = probe.address().port;
    await new Promise<void>((r) => probe.close(() => r()));
    const p = untilProgress(0.1);
    const run = runAgent({ ...base, inactivityMs: 800, mcastTimeoutMs: 2000 }, p.deps);
    const id = await joinedClient(coord);
    await p.reached;
    await sendDemote(coord, id, silent);
    const r = await run;
    expectOk(r, out);
    expect(r.fallback).toMatch(/InactivityTimeout|--mcast-timeout/);
    expect(['inactivity', 'mcast-timeout']).toContain(r.fallbackCause);
  });

  it('DEMOTE to a session whose port cannot be bound (EADDRINUSE) → HTTP, cause join-failed (it failed the receive, exit 4, with the bare bind error)', async () => {
    const { base, out, coord } = await setup({ rateBytesPerSec: 4e6 });
    // A socket without SO_REUSEADDR on 127.0.0.1:X: the agent's reuseAddr bind of 0.0.0.0:X then fails.
    const holder = dgram.createSocket('udp4');
    await new Promise<void>((r) => holder.bind(0, '127.0.0.1', r));
    const taken = holder.address().port;
    try {
      const p = untilProgress(0.1);
      const run = runAgent({ ...base }, p.deps);
      const id = await joinedClient(coord);
      await p.reached;
      await sendDemote(coord, id, taken);
      const r = await run;
      expectOk(r, out);
      expect(r.fallbackCause).toBe('join-failed');
      expect(r.fallback).toMatch(new RegExp(`cannot join the lower session 239\\.192\\.0\\.99:${taken} on 127\\.0\\.0\\.1: .*EADDRINUSE`));
    } finally {
      holder.close();
    }
  });

  it('a session rate below --min-rate for the window → the slow receiver leaves for HTTP', async () => {
    const { base, out } = await setup({ rateBytesPerSec: 300_000 });
    const r = await runAgent({ ...base, minRateBytesPerSec: 2e6, minRateWindowMs: 1000 });
    expectOk(r, out);
    expect(r.fallback).toMatch(/--min-rate/);
    expect(r.fallbackCause).toBe('min-rate');
  });

  it('--http-only never touches multicast', async () => {
    const { base, out, coord } = await setup();
    const r = await runAgent({ ...base, httpOnly: true });
    expectOk(r, out);
    expect(r).toMatchObject({ multicastBytes: 0, httpBytes: image.length, fallback: 'HTTP only (--http-only)' });
    expect(coord.coordinator.clients()).toHaveLength(0);
  });

  it('without --http, multicast failure is exit 4 and says so', async () => {
    const { base, coord } = await setup({ rateBytesPerSec: 4e6 });
    const run = runAgent({ ...base, http: undefined });
    coord.kick(await joinedClient(coord), KickReason.FALLBACK);
    const r = await run;
    expect(r).toMatchObject({ status: 'error', exitCode: 4 });
    expect(r.error).toMatch(/no --http fallback/);
    expect(r.errorKind).toBe('kick-fallback');
  });
});

describe('hybrid hole filling', () => {
  it('blocks multicast keeps missing after MS-WDSMA repair rounds come by HTTP Range while multicast continues', async () => {
    const { base, out, web } = await setup();
    // Always lose every 997th block on this agent: neither RDATA nor repair rounds can deliver them.
    const lost = (msg: Buffer) => {
      const op = msg[9 + 4];
      if (op !== Op.ODATA && op !== Op.RDATA) return false;
      const ma = 9 + 13 + 22;
      if (msg.length < ma + 11) return false;
      return msg.readUInt32BE(ma + 7) % 997 === 0;
    };
    const r = await runAgent({ ...base, mcastTimeoutMs: 0 }, { dropFilter: lost });
    expectOk(r, out);
    expect(r.fallback).toBeUndefined();
    expect(r.httpBytes).toBeGreaterThan(0);
    expect(r.httpBytes).toBeLessThan(0.03 * image.length);
    expect((r.multicastBytes as number) + (r.httpBytes as number)).toBe(image.length);
    expect(web.requests).toBeGreaterThan(1);
    // no block fetched twice: every byte the web server sent was new to the agent (the probe is a HEAD)
    expect(web.bytesServed).toBe(r.httpBytes);
  });
});

describe('integrity', () => {
  it('--sha256 that matches: integrity verified', async () => {
    const { base, out } = await setup();
    const r = await runAgent({ ...base, http: undefined, sha256: want });
    expectOk(r, out);
    expect(r.integrity).toBe('verified');
  });

  it('multicast only, no digest and no validator: integrity unverified', async () => {
    const { base, out } = await setup();
    const r = await runAgent({ ...base, http: undefined });
    expectOk(r, out);
    expect(r.integrity).toBe('unverified');
  });

  it('a mismatch exits 5, keeps the partial file and the state, renames nothing', async () => {
    const { base, out } = await setup();
    const r = await runAgent({ ...base, sha256: 'ab'.repeat(32) });
    expect(r).toMatchObject({ status: 'error', exitCode: 5, integrity: 'mismatch', sha256: want });
    expect(r.error).toMatch(/SHA-256 mismatch/);
    expect(r.errorKind).toBe('integrity');
    expect(fs.existsSync(out)).toBe(false);
    expect(fs.existsSync(`${out}.partial`)).toBe(true);
    expect(fs.existsSync(`${out}.osdcast`)).toBe(true);
  });

  it('content that changes on the web server mid-download is detected and never mixed', async () => {
    const { base, out } = await setup();
    const web = await startFaulty({ body: image, fault: { kind: 'change-etag', afterRequests: 1 } });
    cleanups.push(() => web.close());
    const r = await runAgent({ ...base, httpOnly: true, http: [web.url] });
    expect(r).toMatchObject({ status: 'error', exitCode: 4 });
    expect(r.error).toMatch(/changed/);
    expect(r.errorKind).toBe('http');
    expect(fs.existsSync(out)).toBe(false);
  });

  it('an empty content is an empty file, verified against its digest', async () => {
    const { base, out } = await setup();
    const web = await startContentServer({ source: bufferContent(Buffer.alloc(0)), path: '/empty' });
    cleanups.push(() => web.stop());
    const r = await runAgent({ ...base, httpOnly: true, http: [web.url], sha256: sha256(Buffer.alloc(0)) });
    expect(r, r.error).toMatchObject({ status: 'ok', bytes: 0, integrity: 'verified' });
    expect(fs.readFileSync(out).length).toBe(0);
    expect(fs.existsSync(`${out}.partial`)).toBe(false);
  });
});
