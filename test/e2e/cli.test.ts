/** The CLI contract: exit codes, one-line usage errors, --json report, never touching an existing <out> on failure. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { startCoordinator } from '../coordinator/udp';
import { randomImage, runAgent, sha256, tempDir } from './harness';

const CLI = path.resolve(__dirname, '../../dist/osdcast.cjs');

function run(args: string[], timeoutMs = 60_000): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d) => (stdout += d));
    p.stderr.on('data', (d) => (stderr += d));
    const t = setTimeout(() => {
      p.kill('SIGKILL');
      reject(new Error(`osdcast ${args.join(' ')} did not exit in ${timeoutMs} ms`));
    }, timeoutMs);
    p.on('exit', (code) => {
      clearTimeout(t);
      resolve({ code: code ?? -1, stdout, stderr });
    });
  });
}

const image = randomImage(3 * 1024 * 1024 + 123, 11);
let coord: Awaited<ReturnType<typeof startCoordinator>>;
let dir: string;
beforeAll(async () => {
  expect(fs.existsSync(CLI), 'dist/osdcast.cjs is built by npm test before vitest runs').toBe(true);
  coord = await startCoordinator({ data: image, namespace: 'WDS:CLI/x.wim/1', content: 'x.wim', msiPort: 0, port: 0, iface: '127.0.0.1' });
  dir = tempDir();
});
afterAll(async () => {
  await coord?.stop();
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('osdcast CLI', () => {
  it('prints its version and the Node version', async () => {
    const r = await run(['--version']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^osdcast \d+\.\d+\.\d+ \(node v\d+\.\d+\.\d+\)\n$/);
  });

  it('teaches with --help: options, an example and the exit codes', async () => {
    const r = await run(['receive', '--help']);
    expect(r.code).toBe(0);
    for (const s of ['--server', '--namespace', '--content', '--out', '--interface', '--cache', '--timeout', '--json', '--log-file', 'Examples:', 'Exit codes']) expect(r.stdout).toContain(s);
  });

  it.each([
    [['receive', '--server', 'h', '--namespace', 'n', '--content', 'c', '--out', 'o', '--bogus'], "unknown option '--bogus'"],
    [['receive', '--server', 'h', '--namespace', 'n', '--content', 'c'], "'--out <path>' not specified"],
    [['receive', '--server', 'h:0', '--namespace', 'n', '--content', 'c', '--out', 'o'], 'port in --server'],
    [['receive', '--server', 'h', '--namespace', 'n', '--content', 'c', '--out', 'o', '--cache', 'lots'], '--cache must be'],
    [['receive', '--server', 'h', '--namespace', 'n', '--content', 'c', '--out', 'o', '--timeout', '-1'], '--timeout must be'],
    [['frobnicate'], "unknown command 'frobnicate'"],
  ])('usage error %j exits 2 with one line', async (args, msg) => {
    const r = await run(args as string[]);
    expect(r.code).toBe(2);
    const lines = r.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain(msg);
  });

  it('receives over loopback multicast and prints the JSON report as the last stdout line', async () => {
    const out = path.join(dir, 'ok.wim');
    const r = await run(['receive', '--server', `127.0.0.1:${coord.msiPort}`, '--namespace', 'WDS:CLI/x.wim/1', '--content', 'x.wim', '--out', out, '--interface', '127.0.0.1', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const rep = JSON.parse(r.stdout.trim().split('\n').pop()!);
    expect(rep).toMatchObject({ status: 'ok', exitCode: 0, bytes: image.length, sha256: sha256(image), httpBytes: 0, droppedPackets: 0 });
    expect(typeof rep.seconds).toBe('number');
    expect(sha256(fs.readFileSync(out))).toBe(sha256(image));
  });

  it('an unknown content exits 3, names the Win32 error, and leaves an existing output untouched', async () => {
    const out = path.join(dir, 'existing.wim');
    fs.writeFileSync(out, 'precious');
    const r = await run(['receive', '--server', `127.0.0.1:${coord.msiPort}`, '--namespace', 'WDS:CLI/x.wim/1', '--content', 'nope.wim', '--out', out, '--json']);
    expect(r.code).toBe(3);
    const rep = JSON.parse(r.stdout.trim().split('\n').pop()!);
    expect(rep).toMatchObject({ status: 'error', exitCode: 3 });
    expect(rep.error).toContain('ERROR_FILE_NOT_FOUND');
    expect(fs.readFileSync(out, 'utf8')).toBe('precious');
    expect(fs.existsSync(`${out}.partial`)).toBe(false);
  });

  it('no reply from the server is exit 3 after the MS-WDSMSI resends', async () => {
    // a port nobody answers on: the coordinator's MSI port after it is closed
    const c2 = await startCoordinator({ data: image, namespace: 'n', content: 'c', msiPort: 0, port: 0, iface: '127.0.0.1' });
    const port = c2.msiPort;
    await c2.stop();
    const rep = await runAgent({ server: '127.0.0.1', port, namespace: 'n', content: 'c', out: path.join(dir, 'never.wim'), msiTries: 3, msiRetryMs: 50, retries: 1, retryDelay: 0.05 });
    expect(rep).toMatchObject({ status: 'error', exitCode: 3 });
    expect(rep.error).toContain('no reply');
    expect(fs.existsSync(path.join(dir, 'never.wim.partial'))).toBe(false);
  });
});
