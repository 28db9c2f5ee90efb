/**
 * The built single binaries, and the Windows-only code paths under Wine.
 *
 *   npx vitest run test/packaging/sea.test.ts
 *
 * Binaries are taken from dist/ (npm run package) or from OSDCAST_SEA_DIR (e.g. .cache/standin after
 * `node packaging/package.mjs --standin`). Each test that lacks what it needs (binary, wine64, the cached node.exe)
 * skips with a printed reason, and fails instead when OSDCAST_STRICT=1 (CI).
 *
 * Wine notes (shared/notes/packaging.md): Debian's wine64 lives in /usr/lib/wine; the prefix is created in a
 * temporary folder and set to report Windows 10 (node 22 refuses Windows 7, Wine's default); a Windows program's
 * stdout/stderr must be FILES, not pipes (node.exe under Wine dies with EBADF on a pipe). A pass under Wine
 * proves the packaging and our Windows code paths, not WinPE compatibility.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { build } from 'esbuild';
import { canRun } from '../support/env';
import { startCoordinator } from '../coordinator/udp';
import { SEA_EXEC_ARGV } from '../../packaging/node-flags.mjs';

const ROOT = path.resolve(__dirname, '../..');
const PKG_VERSION = (JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
const NODE = 'v22.22.2';
const VERSION_LINE = `osdcast ${PKG_VERSION} (node ${NODE})`;
const SEA_DIR = path.resolve(ROOT, process.env.OSDCAST_SEA_DIR ?? 'dist');
const LINUX = path.join(SEA_DIR, 'osdcast-linux-x64');
const EXE = path.join(SEA_DIR, 'osdcast-win-x64.exe');
const NODE_EXE = path.join(ROOT, '.cache/node', NODE, 'win-x64/node.exe');
const WINE_PATH = `/usr/lib/wine${path.delimiter}${process.env.PATH ?? ''}`;
const WINE = WINE_PATH.split(path.delimiter)
  .map((d) => path.join(d, 'wine64'))
  .find((p) => fs.existsSync(p));

const notBuilt = (f: string): string => `${path.relative(ROOT, f)} not built (npm run package, or OSDCAST_SEA_DIR=<dir>)${buildNote ? `: ${buildNote}` : ''}`;

// `npm test` builds the single binaries here when they are missing and the tools exist (strip, osslsigncode),
// so the README's test command needs no extra step; without the tools the binary tests skip (fail under CI).
let buildNote = '';
beforeAll(() => {
  if (process.env.OSDCAST_SEA_DIR || (fs.existsSync(LINUX) && fs.existsSync(EXE) && fs.statSync(LINUX).mtimeMs >= fs.statSync(path.join(ROOT, 'dist/osdcast.cjs')).mtimeMs)) return;
  const have = (cmd: string) => spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;
  if (!have('strip') || !have('osslsigncode')) {
    buildNote = 'strip (binutils) or osslsigncode missing';
    return;
  }
  const r = spawnSync(process.execPath, [path.join(ROOT, 'packaging/package.mjs')], { cwd: ROOT, encoding: 'utf8', timeout: 280_000 });
  if (r.status !== 0) buildNote = `npm run package failed: ${(r.stderr || r.stdout).trim().split('\n').slice(-3).join(' | ')}`;
}, 300_000);

describe('linux-x64 binary', () => {
  it('--version prints the version and the embedded Node', (ctx) => {
    if (!canRun(fs.existsSync(LINUX), notBuilt(LINUX))) return ctx.skip();
    const r = spawnSync(LINUX, ['--version'], { encoding: 'utf8', timeout: 30_000, env: { PATH: '/usr/bin:/bin' } });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout.trim()).toBe(VERSION_LINE);
    expect(r.stderr).not.toMatch(/ExperimentalWarning|single executable/i);
  });

  it('starts with the Node flags of packaging/package.mjs SEA_EXEC_ARGV (the young-generation cap that keeps peak RSS in bounds)', (ctx) => {
    if (!canRun(fs.existsSync(LINUX), notBuilt(LINUX))) return ctx.skip();
    expect(SEA_EXEC_ARGV).toContain('--max-semi-space-size=2');
    // a receive that fails at once (nothing listens on that 127.0.0.1 port), with the debug line naming the flags
    const r = spawnSync(LINUX, ['receive', '--server', '127.0.0.1:9', '--namespace', 'N', '--content', 'C', '--out', path.join(os.tmpdir(), `osdcast-sea-flags-${process.pid}.bin`), '--interface', '127.0.0.1', '--log-level', 'debug', '--timeout', '1'], { encoding: 'utf8', timeout: 30_000 });
    expect(r.stderr).toContain(`[${SEA_EXEC_ARGV.join(' ')}]; logs:`);
  });

  it('--help shows the command line', (ctx) => {
    if (!canRun(fs.existsSync(LINUX), notBuilt(LINUX))) return ctx.skip();
    const r = spawnSync(LINUX, ['--help'], { encoding: 'utf8', timeout: 30_000 });
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^Usage: osdcast /m);
  });

  it('completes a loopback multicast receive against the coordinator', async (ctx) => {
    if (!canRun(fs.existsSync(LINUX), notBuilt(LINUX))) return ctx.skip();
    const data = Buffer.alloc(2 * 1024 * 1024 + 17);
    for (let i = 0; i < data.length; i++) data[i] = (i * 2654435761) >>> 24;
    const coord = await startCoordinator({ data, namespace: 'WDS:SEA/x/1', content: 'x', msiPort: 0, port: 0 });
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'osdcast-sea-rx-'));
    try {
      const out = path.join(dir, 'x.wim');
      const r = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
        const p = spawn(LINUX, ['receive', '--server', `127.0.0.1:${coord.msiPort}`, '--namespace', 'WDS:SEA/x/1', '--content', 'x', '--out', out, '--interface', '127.0.0.1', '--json'], { stdio: ['ignore', 'pipe', 'pipe'] });
        let stdout = '';
        let stderr = '';
        p.stdout.on('data', (d) => (stdout += d));
        p.stderr.on('data', (d) => (stderr += d));
        p.on('exit', (code) => resolve({ code, stdout, stderr }));
      });
      expect(r.code, r.stderr).toBe(0);
      const rep = JSON.parse(r.stdout.trim().split('\n').pop()!);
      expect(rep.sha256).toBe(createHash('sha256').update(data).digest('hex'));
      expect(fs.readFileSync(out).equals(data)).toBe(true);
    } finally {
      await coord.stop();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);

  it('runs from another folder without node_modules', (ctx) => {
    if (!canRun(fs.existsSync(LINUX), notBuilt(LINUX))) return ctx.skip();
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'osdcast-sea-copy-'));
    try {
      const copy = path.join(dir, 'osdcast');
      fs.copyFileSync(LINUX, copy);
      fs.chmodSync(copy, 0o755);
      const r = spawnSync(copy, ['--version'], { encoding: 'utf8', cwd: dir, timeout: 30_000 });
      expect(r.stdout.trim()).toBe(VERSION_LINE);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

// ------------------------------------------------------------------------------------------------------------
// Wine

let prefix: string | undefined;
let work: string | undefined;
let wineBootError: string | undefined;

function wineEnv(): NodeJS.ProcessEnv {
  return { ...process.env, PATH: WINE_PATH, WINEPREFIX: prefix, WINEDEBUG: '-all', WINEDLLOVERRIDES: 'mscoree,mshtml=' };
}

/** Runs a program under Wine with stdout/stderr in files (never pipes). */
function wine(args: string[], timeout = 120_000): { status: number | null; stdout: string; stderr: string } {
  const out = path.join(work!, `out-${process.hrtime.bigint()}.txt`);
  const err = `${out}.err`;
  const fo = fs.openSync(out, 'w');
  const fe = fs.openSync(err, 'w');
  try {
    const r = spawnSync(WINE!, args, { stdio: ['ignore', fo, fe], env: wineEnv(), timeout });
    return { status: r.status, stdout: fs.readFileSync(out, 'utf8'), stderr: fs.readFileSync(err, 'utf8') + (r.error ? String(r.error) : '') };
  } finally {
    fs.closeSync(fo);
    fs.closeSync(fe);
  }
}

/** /tmp/x -> Z:\tmp\x (Wine maps Z: to /). */
const winPath = (p: string): string => `Z:${p.replace(/\//g, '\\')}`;

const wineMissing = 'wine64 not installed (bash packaging/ci-deps.sh)';

describe('under Wine', () => {
  beforeAll(() => {
    if (!WINE) return;
    work = fs.mkdtempSync(path.join(os.tmpdir(), 'osdcast-wine-'));
    prefix = path.join(work, 'prefix');
    const boot = wine(['wineboot', '--init'], 240_000);
    if (boot.status !== 0) {
      wineBootError = `wineboot --init failed (${boot.status}): ${boot.stderr.slice(-500)}`;
      return;
    }
    // Node 22 refuses Windows < 8.1; Wine's default prefix says Windows 7.
    const v = wine(['reg', 'add', 'HKCU\\Software\\Wine', '/v', 'Version', '/d', 'win10', '/f']);
    if (v.status !== 0) wineBootError = `reg add Version failed: ${v.stderr}`;
  }, 300_000);

  afterAll(() => {
    if (!WINE || !work) return;
    // Stop this prefix's wineserver (started by us), then remove the prefix.
    spawnSync(path.join(path.dirname(WINE), 'wineserver'), ['-k'], { env: wineEnv(), stdio: 'ignore', timeout: 30_000 });
    spawnSync(path.join(path.dirname(WINE), 'wineserver'), ['-w'], { env: wineEnv(), stdio: 'ignore', timeout: 30_000 });
    fs.rmSync(work, { recursive: true, force: true });
  }, 60_000);

  const ready = (ctx: { skip: () => void }, needs: [boolean, string][]): boolean => {
    for (const [ok, reason] of [[!!WINE, wineMissing] as [boolean, string], ...needs]) {
      if (!canRun(ok, reason)) {
        ctx.skip();
        return false;
      }
    }
    expect(wineBootError).toBeUndefined();
    return true;
  };

  it('win-x64 exe: --version', { timeout: 120_000 }, (ctx) => {
    if (!ready(ctx, [[fs.existsSync(EXE), notBuilt(EXE)]])) return;
    const r = wine([EXE, '--version']);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout.trim()).toBe(VERSION_LINE);
  });

  it('win-x64 exe: --help', { timeout: 120_000 }, (ctx) => {
    if (!ready(ctx, [[fs.existsSync(EXE), notBuilt(EXE)]])) return;
    const r = wine([EXE, '--help']);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^Usage: osdcast /m);
  });

  it('tsenv through the real cscript, discovery through the real reg.exe, CMTrace rotation on Windows', { timeout: 180_000 }, async (ctx) => {
    if (!ready(ctx, [[fs.existsSync(NODE_EXE), `${path.relative(ROOT, NODE_EXE)} not cached (node packaging/package.mjs --fetch-only)`]])) return;
    const driver = path.join(work!, 'driver.cjs');
    await build({
      entryPoints: [path.join(__dirname, 'wine/driver.ts')],
      outfile: driver,
      bundle: true,
      platform: 'node',
      format: 'cjs',
      target: 'node20',
      logLevel: 'warning',
    });
    const set = wine(['reg', 'add', 'HKLM\\SYSTEM\\CurrentControlSet\\Control', '/v', 'PEBootServerAddr', '/d', '10.9.8.7', '/f']);
    expect(set.status, set.stderr).toBe(0);
    const logDir = path.join(work!, 'logs');
    fs.mkdirSync(logDir);
    const resultFile = path.join(work!, 'result.json');
    const r = wine([NODE_EXE, winPath(driver), winPath(resultFile), winPath(logDir)]);
    expect(r.status, `${r.stdout}\n${r.stderr}`).toBe(0);
    const res = JSON.parse(fs.readFileSync(resultFile, 'utf8')) as Record<string, unknown>;
    expect(res.exception).toBeUndefined();
    expect(res.platform).toBe('win32');
    // Scripting.Dictionary stands in for TSEnvironment: the value survives env -> VBScript -> UTF-16 file -> Node.
    expect(res.setDict).toEqual({ ok: true });
    // A new cscript process gets a new, empty Dictionary: reads work, values are "".
    expect(res.getDict).toEqual({ ok: true, values: { OSDCAST_A: '', _SMSTSLogPath: '' } });
    // Outside a task sequence the COM class does not exist: exit 3 from the helper.
    expect(res.setReal).toMatchObject({ ok: false, reason: 'not-in-task-sequence' });
    expect((res.setReal as { message: string }).message).toMatch(/0x1AD/);
    expect(res.missingCscript).toMatchObject({ ok: false, reason: 'cscript-missing' });
    expect(res.discovery).toMatchObject({ found: { server: '10.9.8.7', source: 'pxe-registry' } });
    expect(res.rotations).toBeGreaterThan(0);
    expect(res.failedWrites).toBe(0);
    expect(res.logFiles).toEqual(['osdcast.lo_', 'osdcast.log']);
    const tail = fs.readFileSync(path.join(logDir, 'osdcast.log'), 'utf8');
    expect(tail).toMatch(/<!\[LOG\[record i=99\]LOG\]!><time="\d\d:\d\d:\d\d\.\d{3}[+-]\d{3}" date="\d\d-\d\d-\d{4}" component="osdcast" context="" type="1" thread="\d+" file="">\r\n$/);
  });
});
