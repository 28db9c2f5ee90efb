/**
 * Errors an operator can act on (issue 11, point 5), through the built CLI: each is found before any request
 * reaches the DP and says what is wrong in one line, with its exit code.
 * - a DP name that does not resolve: exit 3 "cannot resolve …", no retries; with --http it falls back at once.
 *   The name is under `.invalid` (RFC 6761: never resolves; the agent answers such names itself), so the test
 *   needs no DNS.
 * - --out a folder: exit 2; its parent missing or read-only (a read-only tmpfs, root): exit 6; nothing touched.
 * - empty --namespace / --content, --cache above the machine's limit: exit 2.
 * - a second osdcast on the same --out: exit 6 "… is in use by osdcast PID n", the first one's files untouched;
 *   a lock whose PID is dead is taken over and the run resumes.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ChildProcess, execFileSync, spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { startCoordinator } from '../coordinator/udp';
import { bufferContent, startContentServer } from '../coordinator/http';
import type { CoordinatorEvent } from '../coordinator/types';
import { canRun } from '../support/env';
import { randomImage, sha256, tempDir } from './harness';

const CLI = path.resolve(__dirname, '../../dist/osdcast.cjs');
const MIB = 1024 * 1024;

interface Run {
  p: ChildProcess;
  done: Promise<{ code: number; stdout: string; stderr: string }>;
}

function start(args: string[], timeoutMs = 60_000): Run {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const k of ['OSDCAST_SERVER', '_SMSTSLogPath']) delete env[k];
  const p = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env });
  let stdout = '';
  let stderr = '';
  p.stdout!.on('data', (d) => (stdout += d));
  p.stderr!.on('data', (d) => (stderr += d));
  const t = setTimeout(() => p.kill('SIGKILL'), timeoutMs);
  const done = new Promise<{ code: number; stdout: string; stderr: string }>((resolve) =>
    p.on('exit', (code) => {
      clearTimeout(t);
      resolve({ code: code ?? -1, stdout, stderr });
    }),
  );
  return { p, done };
}
const run = (args: string[]) => start(args).done;
const report = (stdout: string) => JSON.parse(stdout.trim().split('\n').pop()!) as Record<string, unknown>;
const logMsgs = (stderr: string) =>
  stderr
    .trim()
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => (JSON.parse(l) as { msg: string }).msg);
const digest = (f: string) => crypto.createHash('sha256').update(fs.readFileSync(f)).digest('hex');

const image = randomImage(4 * MIB + 77, 51);
const NS = 'WDS:OE/x.wim/1';
let dir: string;
const cleanups: (() => Promise<void> | void)[] = [];
beforeAll(() => {
  expect(fs.existsSync(CLI), 'dist/osdcast.cjs is built by npm test before vitest runs').toBe(true);
  dir = tempDir('osdcast-operr-');
});
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const base = (out: string) => ['receive', '--namespace', NS, '--content', 'x.wim', '--out', out];

describe('a DP name that does not resolve', () => {
  it.each([['udp'], ['rpc'], ['auto']])('--initiation %s: exit 3 "cannot resolve dp01.invalid: …", no request, no retries', async (method) => {
    const out = path.join(dir, `unres-${method}.wim`);
    // retries that would take minutes if they happened
    const r = await run([...base(out), '--server', 'dp01.invalid', '--initiation', method, '--retries', '5', '--retry-delay', '30', '--json']);
    expect(r.code, r.stderr).toBe(3);
    const rep = report(r.stdout);
    expect(rep).toMatchObject({ status: 'error', exitCode: 3, errorKind: 'no-session', initiation: 'none' });
    expect(rep.error).toMatch(/^cannot resolve dp01\.invalid: no such host/);
    const msgs = logMsgs(r.stderr);
    expect(msgs.filter((m) => /retrying|requesting|asking/.test(m))).toEqual([]);
    expect(fs.readdirSync(dir).filter((f) => f.startsWith(`unres-${method}`))).toEqual([]);
  });

  it('without --json: the one error line says so', async () => {
    const r = await run([...base(path.join(dir, 'unres.wim')), '--server', 'dp01.invalid', '--log-level', 'error', '--log-file', path.join(dir, 'unres.log')]);
    expect(r.code).toBe(3);
    expect(r.stderr.trim().split('\n')).toEqual([expect.stringMatching(/^osdcast: cannot resolve dp01\.invalid: no such host/)]);
  });

  it('with --http: falls back to HTTP at once (fallbackCause "unresolved")', async () => {
    const web = await startContentServer({ source: bufferContent(image), path: '/x.wim' });
    cleanups.push(() => web.stop());
    const out = path.join(dir, 'unres-http.wim');
    const r = await run([...base(out), '--server', 'dp01.invalid', '--http', web.url, '--retries', '5', '--retry-delay', '30', '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(report(r.stdout)).toMatchObject({ status: 'ok', fallbackCause: 'unresolved', httpBytes: image.length, multicastBytes: 0, sha256: sha256(image) });
    expect(report(r.stdout).fallback).toMatch(/cannot resolve dp01\.invalid/);
    expect(logMsgs(r.stderr).filter((m) => /retrying|requesting|asking/.test(m))).toEqual([]);
    expect(sha256(fs.readFileSync(out))).toBe(sha256(image));
  });
});

describe('an HTTP host that does not resolve (--sha256-url, --http)', () => {
  it('--sha256-url on a name that does not resolve: one line, exit 4, no retries, nothing sent to the DP', async () => {
    const requests: CoordinatorEvent[] = [];
    const coord = await startCoordinator({ data: image, namespace: NS, content: 'x.wim', msiPort: 0, port: 0, iface: '127.0.0.1', onEvent: (e) => requests.push(e) });
    cleanups.push(() => coord.stop());
    const out = path.join(dir, 'unres-sha.wim');
    // 5 retries 30 s apart would outlast the test's 60 s if they happened
    const r = await run([...base(out), '--server', `127.0.0.1:${coord.msiPort}`, '--interface', '127.0.0.1', '--sha256-url', 'http://sums.invalid/x.sha256', '--retries', '5', '--retry-delay', '30', '--log-level', 'error', '--log-file', path.join(dir, 'unres-sha.log')]);
    expect(r.code, r.stderr).toBe(4);
    expect(r.stderr.trim().split('\n')).toEqual([expect.stringMatching(/^osdcast: cannot fetch --sha256-url: http:\/\/sums\.invalid\/x\.sha256: cannot resolve sums\.invalid: no such host \(ENOTFOUND\)$/)]);
    expect(requests, 'nothing reached the DP').toEqual([]);
    expect(fs.readdirSync(dir).filter((f) => f.startsWith('unres-sha.wim'))).toEqual([]);
  });

  it('--http-only with a first URL that does not resolve: no retries on it, the next URL serves byte-exact', async () => {
    const web = await startContentServer({ source: bufferContent(image), path: '/x.wim' });
    cleanups.push(() => web.stop());
    const out = path.join(dir, 'unres-httponly.wim');
    const r = await run([...base(out), '--http-only', '--http', 'http://dp01.invalid/x.wim', '--http', web.url, '--retries', '5', '--retry-delay', '30', '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(report(r.stdout)).toMatchObject({ status: 'ok', httpBytes: image.length, sha256: sha256(image) });
    const msgs = logMsgs(r.stderr);
    expect(msgs.filter((m) => /cannot resolve dp01\.invalid: no such host/.test(m) && /trying the next URL/.test(m)).length, msgs.join('\n')).toBeGreaterThan(0);
    expect(msgs.filter((m) => /retry \d+\/5/.test(m)), 'no retries on a name that does not resolve').toEqual([]);
    expect(digest(out)).toBe(sha256(image));
  });
});

describe('--out, --namespace, --content, --cache: one line, nothing touched', () => {
  const oneLine = (stderr: string) => stderr.trim().split('\n');

  it('--out naming a folder exits 2', async () => {
    const folder = path.join(dir, 'afolder');
    fs.mkdirSync(folder);
    for (const out of [folder, `${folder}/`]) {
      const r = await run([...base(out), '--server', '127.0.0.1:9']);
      expect(r.code).toBe(2);
      expect(oneLine(r.stderr)).toEqual([expect.stringMatching(/^osdcast: --out .*afolder\/? (is|names) a folder; give a file name/)]);
    }
    expect(fs.readdirSync(folder)).toEqual([]);
  });

  it('a parent folder that does not exist exits 6', async () => {
    const before = fs.readdirSync(dir).sort();
    const r = await run([...base(path.join(dir, 'nope', 'x.wim')), '--server', '127.0.0.1:9']);
    expect(r.code).toBe(6);
    expect(oneLine(r.stderr)).toEqual([`osdcast: --out ${path.join(dir, 'nope', 'x.wim')}: folder ${path.join(dir, 'nope')} does not exist`]);
    expect(fs.readdirSync(dir).sort()).toEqual(before);
  });

  it('the same with --json and --ts-var: the report on stdout and the variables step run, as for any failed run', async () => {
    const out = path.join(dir, 'nope', 'x.wim');
    const r = await run([...base(out), '--server', '127.0.0.1:9', '--json', '--ts-var', 'OSDCAST_STATUS=status']);
    expect(r.code).toBe(6);
    expect(report(r.stdout)).toMatchObject({ status: 'error', exitCode: 6, errorKind: 'io', error: `--out ${out}: folder ${path.join(dir, 'nope')} does not exist`, bytes: 0 });
    const lines = oneLine(r.stderr);
    expect(lines[0]).toBe(`osdcast: --out ${out}: folder ${path.join(dir, 'nope')} does not exist`);
    expect(logMsgs(r.stderr)).toEqual([expect.stringMatching(/^--ts-var: not running in a task sequence, variables not set/)]);
  });

  it('a read-only parent folder exits 6 (a read-only tmpfs mount)', async () => {
    if (!canRun(process.getuid?.() === 0 && process.platform === 'linux', 'mounting a read-only tmpfs needs root on Linux')) return;
    const ro = path.join(dir, 'ro');
    fs.mkdirSync(ro);
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'ro,size=1m', 'tmpfs', ro]);
    cleanups.push(() => void execFileSync('umount', [ro]));
    const r = await run([...base(path.join(ro, 'x.wim')), '--server', '127.0.0.1:9']);
    expect(r.code).toBe(6);
    expect(oneLine(r.stderr)).toEqual([`osdcast: --out ${path.join(ro, 'x.wim')}: folder ${ro} is on a read-only file system (EROFS)`]);
    expect(fs.readdirSync(ro)).toEqual([]);
  });

  it.each([
    [['--namespace', ''], '--namespace must not be empty'],
    [['--content', ' '], '--content must not be empty'],
    [['--out', ''], '--out must not be empty'],
    [['--out', '  '], '--out must not be empty'],
    [['--cache', '99999999'], /--cache must be at most \d+ MiB \((Node's largest Buffer|half of this machine's memory)\), got "99999999"/],
  ])('%j exits 2 naming what is wrong', async (extra, msg) => {
    const out = path.join(dir, 'flags.wim');
    const r = await run([...base(out), '--server', '127.0.0.1:9', ...extra]);
    expect(r.code).toBe(2);
    const lines = oneLine(r.stderr);
    expect(lines).toHaveLength(1);
    if (typeof msg === 'string') expect(lines[0]).toContain(msg);
    else expect(lines[0]).toMatch(msg);
    expect(fs.readdirSync(dir).filter((f) => f.startsWith('flags.wim'))).toEqual([]);
  });
});

describe('one osdcast per --out (the lock beside the state file)', () => {
  async function slowCoordinator(events: CoordinatorEvent[] = []) {
    const coord = await startCoordinator({ data: image, namespace: NS, content: 'x.wim', msiPort: 0, port: 0, iface: '127.0.0.1', rateBytesPerSec: 1e6, onEvent: (e) => events.push(e) });
    cleanups.push(() => coord.stop());
    return coord;
  }

  it('a second osdcast while the first runs exits 6 naming the first one\'s PID; the first completes byte-exact', async () => {
    const events: CoordinatorEvent[] = [];
    const coord = await slowCoordinator(events);
    const out = path.join(dir, 'busy.wim');
    const args = [...base(out), '--server', `127.0.0.1:${coord.msiPort}`, '--interface', '127.0.0.1', '--json'];
    const first = start(args);
    cleanups.push(() => void (first.p.exitCode === null && first.p.kill('SIGKILL')));
    while (!fs.existsSync(`${out}.partial`)) await new Promise((r) => setTimeout(r, 20));
    const lock = fs.readFileSync(`${out}.osdcast.lock`, 'utf8');
    const second = await run(args);
    expect(second.code, second.stderr).toBe(6);
    const rep = report(second.stdout);
    expect(rep).toMatchObject({ status: 'error', exitCode: 6, errorKind: 'io' });
    expect(rep.error).toMatch(new RegExp(`^${out.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} is in use by osdcast PID ${first.p.pid}\\b`));
    expect(fs.readFileSync(`${out}.osdcast.lock`, 'utf8')).toBe(lock);
    // the second never asked the DP
    expect(events.filter((e) => e.type === 'msi')).toHaveLength(1);
    const r1 = await first.done;
    expect(r1.code, r1.stderr).toBe(0);
    expect(sha256(fs.readFileSync(out))).toBe(sha256(image));
    expect(fs.existsSync(`${out}.osdcast.lock`)).toBe(false);
  }, 90_000);

  it('--http-only takes the lock too: a live owner stops it before any HTTP request', async () => {
    const web = await startContentServer({ source: bufferContent(image), path: '/x.wim' });
    cleanups.push(() => web.stop());
    const out = path.join(dir, 'httponly.wim');
    fs.writeFileSync(`${out}.osdcast.lock`, `${process.pid}\n`); // this test process: alive, not the agent
    const r = await run([...base(out), '--http-only', '--http', web.url, '--json']);
    expect(r.code, r.stderr).toBe(6);
    expect(report(r.stdout).error).toContain(`is in use by osdcast PID ${process.pid}`);
    expect(web.requests).toBe(0);
    expect(fs.readdirSync(dir).filter((f) => f.startsWith('httponly.wim'))).toEqual(['httponly.wim.osdcast.lock']);
    fs.rmSync(`${out}.osdcast.lock`);
    const ok = await run([...base(out), '--http-only', '--http', web.url, '--json']);
    expect(ok.code, ok.stderr).toBe(0);
    expect(sha256(fs.readFileSync(out))).toBe(sha256(image));
  });

  it('a lock held by a live process stops the run with the files unchanged; once that process is dead, the lock is taken over and the run resumes', async () => {
    const coord = await slowCoordinator();
    const out = path.join(dir, 'stale.wim');
    const args = [...base(out), '--server', `127.0.0.1:${coord.msiPort}`, '--interface', '127.0.0.1', '--json'];
    // An interrupted run: --timeout ends it with exit 4, the partial file and its resume state kept.
    const cut = await run([...args, '--timeout', '2']);
    expect(cut.code, cut.stderr).toBe(4);
    expect(fs.existsSync(`${out}.partial`) && fs.existsSync(`${out}.osdcast`)).toBe(true);
    expect(fs.existsSync(`${out}.osdcast.lock`)).toBe(false);

    const sleeper = spawn('sleep', ['120'], { stdio: 'ignore' });
    const exited = new Promise((r) => sleeper.on('exit', r));
    cleanups.push(() => void (sleeper.exitCode === null && sleeper.kill('SIGKILL')));
    fs.writeFileSync(`${out}.osdcast.lock`, `${sleeper.pid}\n`);
    const files = [`${out}.partial`, `${out}.osdcast`, `${out}.osdcast.lock`];
    const before = files.map(digest);
    const busy = await run(args);
    expect(busy.code, busy.stderr).toBe(6);
    expect(report(busy.stdout).error).toContain(`is in use by osdcast PID ${sleeper.pid}`);
    expect(files.map(digest)).toEqual(before);

    sleeper.kill('SIGKILL');
    await exited;
    const resumed = await run(args);
    expect(resumed.code, resumed.stderr).toBe(0);
    const rep = report(resumed.stdout);
    expect(rep.resumedBytes as number).toBeGreaterThan(0);
    expect(rep.sha256).toBe(sha256(image));
    expect(logMsgs(resumed.stderr)).toContain(`taking over the stale lock ${out}.osdcast.lock of osdcast PID ${sleeper.pid}: that process is no longer running`);
    expect(fs.existsSync(`${out}.osdcast.lock`)).toBe(false);
  }, 90_000);
});
