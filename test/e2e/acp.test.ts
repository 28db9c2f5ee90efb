/**
 * `osdcast acp` end to end, as the task sequence runs it (SMSTSDownloadProgram): the real CLI bundle in its own
 * folder with an osdcast.json beside it, a real WebDAV server (nginx + Debian's dav-ext module, answering
 * PROPFIND like IIS on a DP) serving /SMS_DP_SMSPKG$/<PackageID>/..., and the coordinator offering one of the
 * package's files by multicast. Needs nginx and libnginx-mod-http-dav-ext (packaging/ci-deps-http.sh); skips with
 * a reason otherwise, fails under OSDCAST_STRICT=1.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import dgram from 'node:dgram';
import fs from 'node:fs';
import path from 'node:path';
import { KickReason } from '../../core/codec/mt';
import { startCoordinator } from '../coordinator/udp';
import { canRunNginx, NginxServer, startNginx } from '../support/nginx';
import { randomImage, sha256, tempDir } from './harness';

const BUNDLE = path.resolve(__dirname, '../../dist/osdcast.cjs');
const MIB = 1024 * 1024;
const NS = 'SMSPKG';

let ng: NginxServer | undefined;
let www: string;
let bin: string;
const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

const enabled = canRunNginx(false, true);

beforeAll(async () => {
  if (!enabled) return;
  expect(fs.existsSync(BUNDLE), 'dist/osdcast.cjs is built by npm test before vitest runs').toBe(true);
  www = tempDir('osdcast-acp-www-');
  ng = await startNginx({ root: www, dav: true });
  // The CLI reads osdcast.json beside itself: give it its own folder (the bundle is self-contained).
  bin = tempDir('osdcast-acp-bin-');
  fs.copyFileSync(BUNDLE, path.join(bin, 'osdcast.cjs'));
});
afterAll(async () => {
  await ng?.stop();
  for (const d of [www, bin]) if (d) fs.rmSync(d, { recursive: true, force: true });
});

/** Writes a package under the DP's content root; returns its files. */
function makePackage(id: string, files: Record<string, Buffer>): Record<string, Buffer> {
  const dir = path.join(www, 'SMS_DP_SMSPKG$', id);
  for (const [rel, data] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
    fs.writeFileSync(path.join(dir, rel), data);
  }
  return files;
}

function writeConfig(cfg: Record<string, unknown>): void {
  fs.writeFileSync(path.join(bin, 'osdcast.json'), JSON.stringify(cfg, null, 2));
}

const httpTemplate = () => `http://{server}:${ng!.port}/SMS_DP_SMSPKG$/{PackageID}`;

interface Run {
  code: number;
  stdout: string;
  stderr: string;
  report: Record<string, unknown>;
}

function runCli(args: string[], timeoutMs = 60_000): Promise<Run> {
  const env = { ...process.env };
  delete env.OSDCAST_SERVER;
  delete env._SMSTSLogPath;
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [path.join(bin, 'osdcast.cjs'), ...args], { stdio: ['ignore', 'pipe', 'pipe'], env });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d) => (stdout += d));
    p.stderr.on('data', (d) => (stderr += d));
    const t = setTimeout(() => {
      p.kill('SIGKILL');
      reject(new Error(`osdcast ${args.join(' ')} did not exit in ${timeoutMs} ms\n${stderr}`));
    }, timeoutMs);
    p.on('exit', (code) => {
      clearTimeout(t);
      let report: Record<string, unknown> = {};
      try {
        report = JSON.parse(stdout.trim().split('\n').pop() ?? '{}');
      } catch {
        /* no --json */
      }
      resolve({ code: code ?? -1, stdout, stderr, report });
    });
  });
}

/** JSON log lines (stderr) → messages. */
const messages = (stderr: string): string[] =>
  stderr
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => (JSON.parse(l) as { msg: string }).msg);

async function coordinatorFor(id: string, file: string, data: Buffer, extra: Record<string, unknown> = {}) {
  const coord = await startCoordinator({ data, namespace: NS, content: `${id}/${file}`, msiPort: 0, port: 0, iface: '127.0.0.1', ...extra });
  cleanups.push(() => coord.stop());
  return coord;
}

async function joinedClient(coord: Awaited<ReturnType<typeof startCoordinator>>): Promise<number> {
  for (let i = 0; i < 1000; i++) {
    const c = coord.coordinator.clients().find((x) => x.state === 'active');
    if (c) return c.clientId;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error('no client joined');
}

function dest(): string {
  const d = tempDir('osdcast-acp-dest-');
  cleanups.push(() => fs.rmSync(d, { recursive: true, force: true }));
  return path.join(d, 'Packages', 'pkg');
}

/** Every file under dir, relative, "/"-separated. */
function listTree(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return (fs.readdirSync(dir, { recursive: true, withFileTypes: true }) as fs.Dirent[])
    .filter((e) => e.isFile())
    .map((e) => path.relative(dir, path.join(e.parentPath ?? (e as unknown as { path: string }).path, e.name)).split(path.sep).join('/'))
    .sort();
}

const common = ['--interface', '127.0.0.1', '--json', '--retries', '0', '--retry-delay', '0.05', '--cache', '8'];

describe.skipIf(!enabled)('osdcast acp (nginx WebDAV + coordinator)', () => {
  it('lists the package with PROPFIND and receives every file: one by multicast, the rest over HTTP', async () => {
    const files = makePackage('PKG00001', {
      'big.wim': randomImage(3 * MIB + 77, 31),
      'readme.txt': Buffer.from('hello from the DP\r\n'),
      'Sub Dir/b&c #1.bin': randomImage(200_000, 32),
      'empty.dat': Buffer.alloc(0),
    });
    const coord = await coordinatorFor('PKG00001', 'big.wim', files['big.wim']!);
    writeConfig({ server: `127.0.0.1:${coord.msiPort}`, abortCode: 99, httpTemplate: httpTemplate() });
    const out = dest();
    const r = await runCli(['acp', 'PKG00001', out, ...common]);
    expect(r.code, r.stderr).toBe(0);
    expect(listTree(out)).toEqual(Object.keys(files).sort());
    for (const [rel, data] of Object.entries(files)) expect(sha256(fs.readFileSync(path.join(out, rel))), rel).toBe(sha256(data));
    const big = files['big.wim']!.length;
    const rest = Object.entries(files).reduce((a, [k, v]) => a + (k === 'big.wim' ? 0 : v.length), 0);
    expect(r.report).toMatchObject({ status: 'ok', exitCode: 0, packageId: 'PKG00001', files: 4, filesDone: 4, bytes: big + rest, multicastBytes: big, httpBytes: rest });
    const msgs = messages(r.stderr);
    expect(msgs.some((m) => m.includes(`DP 127.0.0.1:${coord.msiPort} from osdcast.json beside the binary`)), msgs.join('\n')).toBe(true);
    // Depth: 1 on the package, then on the sub-folder, as ConfigMgr's downloader does.
    const propfinds = ng!.accessLog().split('\n').filter((l) => l.includes('"PROPFIND /SMS_DP_SMSPKG$/PKG00001'));
    expect(propfinds.length).toBe(2);
    expect(propfinds[1]).toContain('/Sub%20Dir/');
  });

  it('runs without a command word, as SMSTSDownloadProgram, and takes the DP from the ACP INI', async () => {
    const files = makePackage('PKG000A2', { 'a.txt': Buffer.from('a'), 'z/b.txt': Buffer.from('bb') });
    const coord = await coordinatorFor('PKG000A2', 'none', Buffer.from('x'));
    writeConfig({ abortCode: 99, httpTemplate: httpTemplate() }); // no "server": the INI names it
    const ini = path.join(tempDir('osdcast-acp-ini-'), 'SMSTSDownload.INI');
    cleanups.push(() => fs.rmSync(path.dirname(ini), { recursive: true, force: true }));
    fs.writeFileSync(ini, `[Download]\r\nDPServer=127.0.0.1:${coord.msiPort}\r\n`);
    const out = dest();
    const r = await runCli([ini, 'PKG000A2', out, ...common]);
    expect(r.code, r.stderr).toBe(0);
    expect(listTree(out)).toEqual(Object.keys(files).sort());
    expect(r.report).toMatchObject({ status: 'ok', files: 2, multicastBytes: 0, httpBytes: 3 });
    expect(messages(r.stderr).some((m) => m.includes(`from the ACP INI (${ini} [Download] DPServer)`))).toBe(true);
  });

  it('refuses a package whose listing names a path outside the destination, and writes nothing', async () => {
    // A Linux file name with backslashes: on Windows a\..\..\evil.txt lands beside the destination folder.
    // (dav-ext does not list names starting with a dot, so the name can't start with "..".)
    makePackage('PKG00003', { 'good.txt': Buffer.from('fine'), 'a\\..\\..\\evil.txt': Buffer.from('evil') });
    writeConfig({ server: '127.0.0.1', abortCode: 99, httpTemplate: httpTemplate() });
    const out = dest();
    const r = await runCli(['acp', 'PKG00003', out, ...common, '--http-only']);
    expect(r.code).toBe(4);
    expect(r.report).toMatchObject({ status: 'error', exitCode: 4, filesDone: 0 });
    expect(r.report.error).toMatch(/unsafe path.*evil\.txt.*(backslash|path separator)/);
    expect(r.report.errorKind).toBe('unsafe-path');
    expect(listTree(path.dirname(path.dirname(out)))).toEqual([]);
  });

  it.each([
    ['..\\x', /not a ConfigMgr package ID/],
    ['PKG/0001', /not a ConfigMgr package ID/],
    ['C:PKG0001', /not a ConfigMgr package ID/],
  ])('refuses package ID %j with exit 2 and one line', async (id, msg) => {
    writeConfig({ server: '127.0.0.1', abortCode: 99 });
    const r = await runCli(['acp', id, dest()]);
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(msg);
  });

  it('KICK with FAIL from the DP exits with abortCode and leaves no partial file', async () => {
    const files = makePackage('PKG00004', { 'big.wim': randomImage(8 * MIB + 5, 41), 'small.txt': Buffer.from('s') });
    const coord = await coordinatorFor('PKG00004', 'big.wim', files['big.wim']!, { rateBytesPerSec: 4e6 });
    writeConfig({ server: `127.0.0.1:${coord.msiPort}`, abortCode: 99, httpTemplate: httpTemplate() });
    const out = dest();
    const run = runCli(['acp', 'PKG00004', out, ...common]);
    coord.kick(await joinedClient(coord), KickReason.FAIL);
    const r = await run;
    expect(r.code, r.stderr).toBe(99);
    expect(r.report).toMatchObject({ status: 'error', exitCode: 99, aborted: true, filesDone: 0, httpBytes: 0 });
    expect(r.report.error).toMatch(/big\.wim: .*KICK FAIL/);
    expect(r.report.errorKind).toBe('kick-fail');
    expect(listTree(out)).toEqual([]);
  });

  it('KICK with FAIL without an abortCode exits 4 (the task sequence then downloads itself) and says why', async () => {
    const files = makePackage('PKG00005', { 'big.wim': randomImage(8 * MIB + 5, 42) });
    const coord = await coordinatorFor('PKG00005', 'big.wim', files['big.wim']!, { rateBytesPerSec: 4e6 });
    writeConfig({ server: `127.0.0.1:${coord.msiPort}`, httpTemplate: httpTemplate() });
    const run = runCli(['acp', 'PKG00005', dest(), ...common]);
    coord.kick(await joinedClient(coord), KickReason.FAIL);
    const r = await run;
    expect(r.code).toBe(4);
    expect(messages(r.stderr).some((m) => /KICK FAIL.*no "abortCode"/.test(m))).toBe(true);
  });

  it('a DP that never answers MS-WDSMSI: the first file falls back (no-reply), the remaining files go over HTTP only', async () => {
    makePackage('PKG00007', { 'a.bin': randomImage(50_000, 51), 'b.bin': randomImage(60_000, 52) });
    // An MSI port that swallows every request (bound, so no ICMP answer either).
    const silent = dgram.createSocket('udp4');
    await new Promise<void>((res) => silent.bind(0, '127.0.0.1', res));
    cleanups.push(() => new Promise<void>((res) => silent.close(() => res())));
    writeConfig({ server: `127.0.0.1:${silent.address().port}`, httpTemplate: httpTemplate() });
    const out = dest();
    const r = await runCli(['acp', 'PKG00007', out, ...common]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.report).toMatchObject({ status: 'ok', files: 2, filesDone: 2, multicastBytes: 0, httpBytes: 110_000 });
    const msgs = messages(r.stderr);
    // Decided on the first file's fallbackCause ('no-reply'), not on its message: only that file asked the DP.
    expect(msgs.filter((m) => m.startsWith('requesting SMSPKG / PKG00007/'))).toHaveLength(1);
    expect(msgs.some((m) => m.includes('the remaining files go over HTTP only')), msgs.join('\n')).toBe(true);
  });

  it('a file that fails exits non-zero (never abortCode), keeps completed files, removes the partial one', async () => {
    const files = makePackage('PKG00006', { 'big.wim': randomImage(4 * MIB + 3, 43), 'zz.bin': randomImage(100_000, 44) });
    const coord = await coordinatorFor('PKG00006', 'big.wim', files['big.wim']!, { rateBytesPerSec: 4e6 });
    // abortCode 4 collides with "transfer failed": the failure must still let the task sequence try itself.
    writeConfig({ server: `127.0.0.1:${coord.msiPort}`, abortCode: 4, httpTemplate: httpTemplate() });
    const out = dest();
    const run = runCli(['acp', 'PKG00006', out, ...common]);
    // The listing is complete once the agent joins the multicast of the first file: now zz.bin disappears.
    await joinedClient(coord);
    fs.rmSync(path.join(www, 'SMS_DP_SMSPKG$', 'PKG00006', 'zz.bin'));
    const r = await run;
    expect(r.code).toBe(1);
    expect(r.report).toMatchObject({ status: 'error', exitCode: 1, files: 2, filesDone: 1 });
    expect(r.report.error).toMatch(/zz\.bin: .*not-found|zz\.bin: .*404/);
    expect(listTree(out)).toEqual(['big.wim']);
    expect(messages(r.stderr).some((m) => m.includes('equals abortCode'))).toBe(true);
  });
});
