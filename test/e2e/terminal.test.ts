/**
 * A terminal a person can read (issue 11, point 6): the agent under a pseudo-terminal (`script` from util-linux)
 * against the test coordinator on loopback. The byte stream is rendered through a small CR / erase-line terminal
 * (test/support/screen.ts) and the final screen checked: plain text log lines (time, level, message, no JSON),
 * one progress line (percent, MiB done/total, rate, ETA, multicast and HTTP shares) that log lines never land in,
 * redrawn after them; --quiet hides it; --log-format json still chooses JSON.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { startCoordinator } from '../coordinator/udp';
import { bufferContent, startContentServer, type ContentServer } from '../coordinator/http';
import { canRun } from '../support/env';
import { renderScreen } from '../support/screen';
import { randomImage, sha256, tempDir } from './harness';

const CLI = path.resolve(__dirname, '../../dist/osdcast.cjs');
const MIB = 1024 * 1024;
const COLUMNS = 160;
const hasScript = spawnSync('script', ['--version'], { encoding: 'utf8' }).stdout?.includes('util-linux') ?? false;

const quote = (a: string) => `'${a.replace(/'/g, `'\\''`)}'`;

/** The agent with stdin/stdout/stderr on a fresh pseudo-terminal of COLUMNS columns; what the terminal received. */
function underPty(args: string[], timeoutMs = 60_000): Promise<{ code: number; raw: string }> {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const k of ['OSDCAST_SERVER', '_SMSTSLogPath']) delete env[k];
  const cmd = `stty cols ${COLUMNS} rows 50; exec ${[process.execPath, CLI, ...args].map(quote).join(' ')}`;
  return new Promise((resolve, reject) => {
    const p = spawn('script', ['-q', '-e', '-c', cmd, '/dev/null'], { stdio: ['ignore', 'pipe', 'pipe'], env });
    let raw = '';
    p.stdout.on('data', (d) => (raw += d));
    p.stderr.on('data', (d) => (raw += d));
    const t = setTimeout(() => {
      p.kill('SIGKILL');
      reject(new Error(`osdcast under script did not exit in ${timeoutMs} ms:\n${raw}`));
    }, timeoutMs);
    p.on('exit', (code) => {
      clearTimeout(t);
      resolve({ code: code ?? -1, raw });
    });
  });
}

const LOG_LINE = /^\d\d:\d\d:\d\d (DEBUG|INFO |WARN |ERROR) \S/;
const PROGRESS = /^\s*(\d+\.\d)%  ([\d.]+)\/([\d.]+) MiB  [\d.]+ MB\/s  ETA (\d+:\d\d(:\d\d)?|--:--)  multicast ([\d.]+) MiB  HTTP ([\d.]+) MiB$/;

const image = randomImage(8 * MIB + 321, 61);
const NS = 'WDS:TTY/x.wim/1';
let coord: Awaited<ReturnType<typeof startCoordinator>>;
let web: ContentServer;
let dir: string;
beforeAll(async () => {
  expect(fs.existsSync(CLI), 'dist/osdcast.cjs is built by npm test before vitest runs').toBe(true);
  coord = await startCoordinator({ data: image, namespace: NS, content: 'x.wim', msiPort: 0, port: 0, iface: '127.0.0.1', rateBytesPerSec: 4e6 });
  web = await startContentServer({ source: bufferContent(image), path: '/x.wim' });
  dir = tempDir('osdcast-tty-');
});
afterAll(async () => {
  await coord?.stop();
  await web?.stop();
  fs.rmSync(dir, { recursive: true, force: true });
});

const receiveArgs = (out: string) => ['receive', '--server', `127.0.0.1:${coord.msiPort}`, '--initiation', 'udp', '--namespace', NS, '--content', 'x.wim', '--out', path.join(dir, out), '--interface', '127.0.0.1'];

describe('on a terminal', () => {
  it('text log lines above one progress line, redrawn after them; 100 % at the end; nothing interleaved', async (ctx) => {
    if (!canRun(hasScript, 'script (util-linux) is needed to run the agent under a pseudo-terminal')) return ctx.skip();
    const r = await underPty(receiveArgs('a.wim'));
    expect(r.code, r.raw).toBe(0);
    expect(sha256(fs.readFileSync(path.join(dir, 'a.wim')))).toBe(sha256(image));
    const screen = renderScreen(r.raw).filter((l) => l !== '');
    const progress = screen.filter((l) => PROGRESS.test(l));
    const logs = screen.filter((l) => !PROGRESS.test(l));
    // every other line is a plain log line: time, level, message; no JSON anywhere on the screen
    expect(logs.filter((l) => !LOG_LINE.test(l)), screen.join('\n')).toEqual([]);
    expect(screen.filter((l) => /[{}]/.test(l))).toEqual([]);
    expect(logs.some((l) => / INFO  DP 127\.0\.0\.1:\d+ from --server$/.test(l))).toBe(true);
    expect(logs.some((l) => / INFO  complete: \d+ bytes in [\d.]+ s, sha256 [0-9a-f]{64}$/.test(l))).toBe(true);
    // one progress line is left on the screen, showing the whole image, all by multicast
    expect(progress).toHaveLength(1);
    const m = PROGRESS.exec(progress[0]!)!;
    expect(m[1]).toBe('100.0');
    expect(Number(m[2])).toBe(Number(m[3]));
    expect(Number(m[3])).toBeCloseTo(image.length / MIB, 0);
    expect(m[4]).toBe('0:00');
    expect(Number(m[6])).toBeCloseTo(image.length / MIB, 0);
    expect(m[7]).toBe('0.0');
    // it stays where it was drawn last: below the transfer's log lines, above the final ones
    const at = screen.indexOf(progress[0]!);
    expect(screen.slice(at + 1).some((l) => / complete: /.test(l))).toBe(true);
    // drawn many times in place, and at least once a log line came while it was shown (erased, printed, redrawn)
    expect(r.raw.match(/\r\x1b\[2K\s*\d+\.\d%/g)!.length).toBeGreaterThan(3);
    expect(r.raw).toMatch(/\r\x1b\[2K\d\d:\d\d:\d\d (INFO |WARN |DEBUG) [^\r\n]*\r?\n\s*\d+\.\d%  /);
  });

  it('the progress line counts HTTP bytes (an --http-only receive)', async (ctx) => {
    if (!canRun(hasScript, 'script (util-linux) is needed to run the agent under a pseudo-terminal')) return ctx.skip();
    const r = await underPty(['receive', '--http-only', '--http', web.url, '--namespace', NS, '--content', 'x.wim', '--out', path.join(dir, 'h.wim')]);
    expect(r.code, r.raw).toBe(0);
    const screen = renderScreen(r.raw).filter((l) => l !== '');
    const progress = screen.filter((l) => PROGRESS.test(l));
    expect(progress).toHaveLength(1);
    const m = PROGRESS.exec(progress[0]!)!;
    expect(m[1]).toBe('100.0');
    expect(m[6]).toBe('0.0');
    expect(Number(m[7])).toBeCloseTo(image.length / MIB, 0);
    expect(screen.filter((l) => !PROGRESS.test(l) && !LOG_LINE.test(l))).toEqual([]);
  });

  it('--quiet: no progress line, the log lines stay text', async (ctx) => {
    if (!canRun(hasScript, 'script (util-linux) is needed to run the agent under a pseudo-terminal')) return ctx.skip();
    const r = await underPty([...receiveArgs('q.wim'), '--quiet']);
    expect(r.code, r.raw).toBe(0);
    const screen = renderScreen(r.raw).filter((l) => l !== '');
    expect(screen.filter((l) => PROGRESS.test(l) || /%/.test(l))).toEqual([]);
    expect(r.raw).not.toContain('\x1b[2K');
    expect(screen.length).toBeGreaterThan(3);
    expect(screen.filter((l) => !LOG_LINE.test(l))).toEqual([]);
  });

  it('--log-format json on a terminal: JSON log lines, still above the progress line', async (ctx) => {
    if (!canRun(hasScript, 'script (util-linux) is needed to run the agent under a pseudo-terminal')) return ctx.skip();
    const r = await underPty([...receiveArgs('j.wim'), '--log-format', 'json']);
    expect(r.code, r.raw).toBe(0);
    const screen = renderScreen(r.raw).filter((l) => l !== '');
    const progress = screen.filter((l) => PROGRESS.test(l));
    expect(progress).toHaveLength(1);
    const logs = screen.filter((l) => !PROGRESS.test(l)).map((l) => JSON.parse(l) as { msg: string });
    expect(logs.some((l) => l.msg.startsWith('complete: '))).toBe(true);
  });
});

describe('into a pipe', () => {
  it('stderr stays pino JSON lines, nothing else (no progress line, no escape codes, no CR); stdout only the --json report', async () => {
    const env: NodeJS.ProcessEnv = { ...process.env };
    for (const k of ['OSDCAST_SERVER', '_SMSTSLogPath']) delete env[k];
    const p = spawn(process.execPath, [CLI, ...receiveArgs('p.wim'), '--json', '--log-level', 'debug'], { stdio: ['ignore', 'pipe', 'pipe'], env });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d) => (stdout += d));
    p.stderr.on('data', (d) => (stderr += d));
    const code = await new Promise<number>((resolve) => p.on('exit', (c) => resolve(c ?? -1)));
    expect(code, stderr).toBe(0);
    expect(sha256(fs.readFileSync(path.join(dir, 'p.wim')))).toBe(sha256(image));
    expect(stderr).not.toMatch(/[\x1b\r]/);
    const lines = stderr.split('\n');
    expect(lines.pop()).toBe('');
    expect(lines.length).toBeGreaterThan(3);
    for (const l of lines) expect(() => JSON.parse(l), l).not.toThrow();
    expect(lines.map((l) => (JSON.parse(l) as { msg: string }).msg).some((m) => m.startsWith('complete: '))).toBe(true);
    expect(stdout.split('\n')).toEqual([expect.stringMatching(/^\{"status":"ok",/), '']);
  });
});
