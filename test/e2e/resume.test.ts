/**
 * Resume: SIGKILL the agent at about 60 %, run the same command again: it keeps what is on disk and receives
 * the rest, re-downloading at most 5 % of the image. Another content under the same output starts over.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { startCoordinator } from '../coordinator/udp';
import { bufferContent, startContentServer } from '../coordinator/http';
import { randomImage, sha256, tempDir } from './harness';

const CLI = path.resolve(__dirname, '../../dist/osdcast.cjs');
const MIB = 1024 * 1024;
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

function start(args: string[]) {
  const p = spawn(process.execPath, [CLI, 'receive', ...args, '--json'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  p.stdout.on('data', (d) => (stdout += d));
  p.stderr.on('data', (d) => (stderr += d));
  const done = new Promise<{ code: number | null; signal: NodeJS.Signals | null; report?: Record<string, unknown>; stderr: string }>((resolve) =>
    p.on('exit', (code, signal) => {
      const last = stdout.trim().split('\n').pop();
      resolve({ code, signal, report: last ? JSON.parse(last) : undefined, stderr });
    }),
  );
  cleanups.push(() => {
    if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
  });
  return { p, done };
}

describe('resume after a crash', () => {
  it('SIGKILL at ~60 %: the restart keeps what is on disk and re-downloads at most 5 %', async () => {
    const image = randomImage(32 * MIB, 44);
    const coord = await startCoordinator({ data: image, namespace: 'WDS:R/i/1', content: 'i', msiPort: 0, port: 0, rateBytesPerSec: 12e6 });
    cleanups.push(() => coord.stop());
    const dir = tempDir();
    cleanups.push(() => fs.rmSync(dir, { recursive: true, force: true }));
    const out = path.join(dir, 'i.wim');
    const args = ['--server', `127.0.0.1:${coord.msiPort}`, '--namespace', 'WDS:R/i/1', '--content', 'i', '--out', out, '--interface', '127.0.0.1'];

    const first = start(args);
    // What the agent had received when it was killed: the Master Client's ACK point (it is the only client, so
    // it is the master; in the first MS-WDSMA round ODATA n carries block n of 1385 bytes).
    const received = () => Math.min(image.length, coord.coordinator.trailSeq * 1385);
    while (received() < 0.6 * image.length) await new Promise((r) => setTimeout(r, 10));
    const sentAtKill = received();
    first.p.kill('SIGKILL');
    const r1 = await first.done;
    expect(r1.signal).toBe('SIGKILL');
    expect(fs.existsSync(out)).toBe(false);
    expect(fs.existsSync(`${out}.osdcast`)).toBe(true);
    // The killed agent's lock stays behind, naming a PID that is gone: the restart takes it over and says so.
    expect(JSON.parse(fs.readFileSync(`${out}.osdcast.lock`, 'utf8')).pid).toBe(first.p.pid);

    const second = await start(args).done;
    expect(second.code, second.stderr).toBe(0);
    expect(second.stderr).toContain(`taking over the stale lock ${out}.osdcast.lock of osdcast PID ${first.p.pid}`);
    expect(fs.existsSync(`${out}.osdcast.lock`)).toBe(false);
    const rep = second.report!;
    expect(rep.sha256).toBe(sha256(image));
    expect(sha256(fs.readFileSync(out))).toBe(sha256(image));
    const resumed = rep.resumedBytes as number;
    console.log(`resume: received before SIGKILL ${(sentAtKill / image.length * 100).toFixed(1)} %, kept ${(resumed / image.length * 100).toFixed(1)} %`);
    // what the first run had received, less what the restart kept, is at most 5 % of the image
    expect(resumed).toBeGreaterThanOrEqual(sentAtKill - 0.05 * image.length);
    expect((rep.multicastBytes as number) + (rep.httpBytes as number)).toBe(image.length - resumed);
    expect(fs.existsSync(`${out}.osdcast`)).toBe(false);
  }, 120_000);

  it('a different content under the same output starts over and never mixes old and new bytes', async () => {
    const a = randomImage(8 * MIB, 1);
    const b = randomImage(8 * MIB, 2); // same size, different bytes and name
    const ca = await startCoordinator({ data: a, namespace: 'WDS:R/a/1', content: 'a', msiPort: 0, port: 0, rateBytesPerSec: 6e6 });
    cleanups.push(() => ca.stop());
    const dir = tempDir();
    cleanups.push(() => fs.rmSync(dir, { recursive: true, force: true }));
    const out = path.join(dir, 'x.wim');
    const first = start(['--server', `127.0.0.1:${ca.msiPort}`, '--namespace', 'WDS:R/a/1', '--content', 'a', '--out', out, '--interface', '127.0.0.1']);
    while (ca.coordinator.stats.dataBytesSent < 0.5 * a.length) await new Promise((r) => setTimeout(r, 20));
    first.p.kill('SIGKILL');
    await first.done;
    expect(fs.existsSync(`${out}.osdcast`)).toBe(true);

    const cb = await startCoordinator({ data: b, namespace: 'WDS:R/b/1', content: 'b', msiPort: 0, port: 0 });
    cleanups.push(() => cb.stop());
    const second = await start(['--server', `127.0.0.1:${cb.msiPort}`, '--namespace', 'WDS:R/b/1', '--content', 'b', '--out', out, '--interface', '127.0.0.1', '--log-file', path.join(dir, 'b.log')]).done;
    expect(second.code, second.stderr).toBe(0);
    expect(second.report!.resumedBytes).toBeUndefined();
    expect(second.report!.multicastBytes).toBe(b.length);
    expect(sha256(fs.readFileSync(out))).toBe(sha256(b));
    expect(fs.readFileSync(path.join(dir, 'b.log'), 'utf8')).toMatch(/other content/);
  }, 120_000);

  it('remembers a 0-based server in the state, so the resumed run keeps its blocks (protocol-notes #1)', async () => {
    const image = randomImage(16 * MIB, 45);
    const coord = await startCoordinator({ data: image, namespace: 'WDS:R/z/1', content: 'z', msiPort: 0, port: 0, rateBytesPerSec: 8e6, blockBase: 0 });
    cleanups.push(() => coord.stop());
    const dir = tempDir();
    cleanups.push(() => fs.rmSync(dir, { recursive: true, force: true }));
    const out = path.join(dir, 'z.wim');
    const args = ['--server', `127.0.0.1:${coord.msiPort}`, '--namespace', 'WDS:R/z/1', '--content', 'z', '--out', out, '--interface', '127.0.0.1'];
    // The first run is told the numbering; the resumed run runs with the default (auto) and must take it from
    // the state file instead of guessing 1-based, which would discard everything once block 0 shows up.
    const first = start([...args, '--block-base', '0']);
    while (coord.coordinator.trailSeq * 1385 < 0.5 * image.length) await new Promise((r) => setTimeout(r, 10));
    first.p.kill('SIGKILL');
    await first.done;
    const second = await start(args).done;
    expect(second.code, second.stderr).toBe(0);
    expect(second.report!.sha256).toBe(sha256(image));
    const resumed = second.report!.resumedBytes as number;
    expect(resumed).toBeGreaterThan(0.4 * image.length);
    // nothing kept was thrown away and fetched again (learning 0-based numbering anew would discard it all)
    expect((second.report!.multicastBytes as number) + (second.report!.httpBytes as number)).toBe(image.length - resumed);
  }, 120_000);

  it('a run that falls back to HTTP resumes what an interrupted multicast run left (same block size)', async () => {
    const image = randomImage(8 * MIB, 46);
    const coord = await startCoordinator({ data: image, namespace: 'WDS:R/h/1', content: 'h', msiPort: 0, port: 0, rateBytesPerSec: 4e6 });
    cleanups.push(() => coord.stop());
    const web = await startContentServer({ source: bufferContent(image), path: '/h.wim' });
    cleanups.push(() => web.stop());
    const dir = tempDir();
    cleanups.push(() => fs.rmSync(dir, { recursive: true, force: true }));
    const out = path.join(dir, 'h.wim');
    const first = start(['--server', `127.0.0.1:${coord.msiPort}`, '--namespace', 'WDS:R/h/1', '--content', 'h', '--out', out, '--interface', '127.0.0.1']);
    while (coord.coordinator.trailSeq * 1385 < 0.5 * image.length) await new Promise((r) => setTimeout(r, 10));
    first.p.kill('SIGKILL');
    await first.done;
    const msiPort = coord.msiPort;
    await coord.stop(); // the DP's multicast is gone: the rerun falls back to HTTP
    const second = await start(['--server', `127.0.0.1:${msiPort}`, '--namespace', 'WDS:R/h/1', '--content', 'h', '--out', out, '--interface', '127.0.0.1', '--http', web.url, '--retries', '0']).done;
    expect(second.code, second.stderr).toBe(0);
    const rep = second.report!;
    expect(rep.sha256).toBe(sha256(image));
    expect(rep.fallback).toMatch(/no multicast session/);
    expect(['no-reply', 'no-route', 'no-session']).toContain(rep.fallbackCause);
    expect(rep.resumedBytes as number).toBeGreaterThan(0.4 * image.length);
    expect(rep.httpBytes).toBe(image.length - (rep.resumedBytes as number));
  }, 120_000);
});
