/**
 * The agent's hard edges: --timeout, Ctrl-C (exit 130 with a LEAVE), a full disk (exit 6, never success),
 * an output folder that does not exist (exit 6).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { execFileSync, spawn } from 'node:child_process';
import dgram from 'node:dgram';
import fs from 'node:fs';
import path from 'node:path';
import { startCoordinator } from '../coordinator/udp';
import { canRun } from '../support/env';
import { randomImage, runAgent, tempDir } from './harness';

const CLI = path.resolve(__dirname, '../../dist/osdcast.cjs');
const image = randomImage(4 * 1024 * 1024 + 1, 5);
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

async function coordinator(rate?: number) {
  const c = await startCoordinator({ data: image, namespace: 'WDS:L/i/1', content: 'i', msiPort: 0, port: 0, rateBytesPerSec: rate });
  cleanups.push(() => c.stop());
  return c;
}
function dir() {
  const d = tempDir();
  cleanups.push(() => fs.rmSync(d, { recursive: true, force: true }));
  return d;
}

describe('limits', () => {
  it('--timeout ends a receive with exit 4 and says why', async () => {
    const c = await coordinator(500_000);
    const out = path.join(dir(), 'i.wim');
    const r = await runAgent({ server: '127.0.0.1', port: c.msiPort, namespace: 'WDS:L/i/1', content: 'i', out, timeoutMs: 1000 });
    expect(r).toMatchObject({ status: 'error', exitCode: 4 });
    expect(r.error).toMatch(/--timeout of 1 s/);
    expect(r.errorKind).toBe('timeout');
    expect(fs.existsSync(out)).toBe(false);
  });

  it('Ctrl-C (SIGINT) exits 130 after sending LEAVE; the partial file and state are kept for a resume', async () => {
    const c = await coordinator(1_000_000);
    const out = path.join(dir(), 'i.wim');
    const p = spawn(process.execPath, [CLI, 'receive', '--server', `127.0.0.1:${c.msiPort}`, '--namespace', 'WDS:L/i/1', '--content', 'i', '--out', out, '--interface', '127.0.0.1', '--json'], { stdio: ['ignore', 'pipe', 'pipe'] });
    cleanups.push(() => void (p.exitCode === null && p.kill('SIGKILL')));
    let stdout = '';
    p.stdout.on('data', (d) => (stdout += d));
    while (c.coordinator.stats.dataBytesSent < image.length / 4) await new Promise((r) => setTimeout(r, 20));
    p.kill('SIGINT');
    const code = await new Promise((r) => p.on('exit', r));
    expect(code).toBe(130);
    expect(JSON.parse(stdout.trim().split('\n').pop()!)).toMatchObject({ status: 'error', exitCode: 130, error: 'interrupted', errorKind: 'interrupted' });
    await new Promise((r) => setTimeout(r, 100));
    expect(c.coordinator.stats.leavesReceived).toBe(1);
    expect(fs.existsSync(out)).toBe(false);
    expect(fs.existsSync(`${out}.partial`)).toBe(true);
    expect(fs.existsSync(`${out}.osdcast`)).toBe(true);
  });

  it('an output folder that does not exist is exit 6 before anything is received', async () => {
    const c = await coordinator();
    const out = path.join(dir(), 'no', 'such', 'folder', 'i.wim');
    const r = await runAgent({ server: '127.0.0.1', port: c.msiPort, namespace: 'WDS:L/i/1', content: 'i', out });
    expect(r).toMatchObject({ status: 'error', exitCode: 6 });
    expect(r.error).toMatch(/cannot create/);
    expect(r.errorKind).toBe('io');
  });

  it('a full disk exits 6 and never reports success', async (ctx) => {
    const root = process.getuid?.() === 0;
    if (!canRun(root, 'disk-full test mounts a 1 MiB tmpfs: needs root')) return ctx.skip();
    const mnt = dir();
    try {
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'osdcast-test', mnt]);
    } catch (e) {
      if (!canRun(false, `cannot mount tmpfs: ${(e as Error).message}`)) return ctx.skip();
    }
    cleanups.push(() => void execFileSync('umount', [mnt]));
    const c = await coordinator();
    const out = path.join(mnt, 'i.wim');
    const r = await runAgent({ server: '127.0.0.1', port: c.msiPort, namespace: 'WDS:L/i/1', content: 'i', out });
    expect(r).toMatchObject({ status: 'error', exitCode: 6 });
    expect(r.error).toMatch(/disk full|short write/);
    expect(r.errorKind).toBe('io');
    expect(fs.existsSync(out)).toBe(false);
  });

  it('malformed datagrams on the group are dropped and counted, and the receive still succeeds', async () => {
    const c = await coordinator(2_000_000);
    const out = path.join(dir(), 'i.wim');
    const run = runAgent({ server: '127.0.0.1', port: c.msiPort, namespace: 'WDS:L/i/1', content: 'i', out });
    const s = dgram.createSocket('udp4');
    await new Promise<void>((r) => s.bind(0, '127.0.0.1', r));
    s.setMulticastInterface('127.0.0.1');
    s.setMulticastLoopback(true);
    while (c.coordinator.clients().length === 0) await new Promise((r) => setTimeout(r, 10));
    const junk = [Buffer.from('not a WDS packet'), Buffer.from([0x57, 0x44, 3, 0, 4, 1, 2, 3, 4, 0, 0]), Buffer.alloc(1500, 0x57)];
    for (let i = 0; i < 30; i++) await new Promise<void>((r) => s.send(junk[i % 3]!, c.port, c.group, () => r()));
    s.close();
    const r = await run;
    expect(r, r.error).toMatchObject({ status: 'ok', exitCode: 0 });
    expect(r.droppedPackets).toBeGreaterThanOrEqual(30);
  });
});
