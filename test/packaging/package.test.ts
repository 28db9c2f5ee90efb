/**
 * packaging/package.mjs, run as a program. The fast tests check its argument handling and failure messages;
 * "builds signed binaries" runs the whole pipeline on the stand-in entry into a temporary folder (about 20 s with
 * a filled .cache/node/, plus about 5 s of npm pack the first time).
 */
import { afterAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { canRun } from '../support/env';

const ROOT = path.resolve(__dirname, '../..');
const SCRIPT = path.join(ROOT, 'packaging/package.mjs');
const PKG_VERSION = (JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
const NODE = 'v22.22.2';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'osdcast-package-test-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

function hasTool(name: string): boolean {
  return (process.env.PATH ?? '').split(path.delimiter).some((d) => d !== '' && fs.existsSync(path.join(d, name)));
}

/** A folder holding only the named fake tools (shell scripts that fail if ever run). */
function fakeToolDir(name: string, tools: string[]): string {
  const dir = path.join(tmp, name);
  fs.mkdirSync(dir, { recursive: true });
  for (const t of tools) fs.writeFileSync(path.join(dir, t), '#!/bin/sh\necho "fake tool called" >&2\nexit 99\n', { mode: 0o755 });
  return dir;
}

function runScript(args: string[], env: Record<string, string | undefined> = {}, timeout = 30_000) {
  const r = spawnSync(process.execPath, [SCRIPT, ...args], { encoding: 'utf8', env: { ...process.env, ...env }, timeout, cwd: ROOT });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr, all: `${r.stdout}${r.stderr}` };
}

describe('package.mjs arguments and failures', () => {
  it('prints usage', () => {
    const r = runScript(['--help']);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/usage: node packaging\/package\.mjs/);
    expect(r.stdout).toMatch(/SIGN_CERT, SIGN_KEY/);
  });

  it('rejects unknown options (exit 2) and unknown targets (exit 1)', () => {
    expect(runScript(['--frobnicate'])).toMatchObject({ status: 2, stderr: expect.stringMatching(/Unknown option '--frobnicate'/) });
    expect(runScript(['--targets', 'linux-arm64'])).toMatchObject({ status: 1, stderr: expect.stringMatching(/unknown target linux-arm64/) });
    expect(runScript(['--standin', '--bundle', 'x.cjs'])).toMatchObject({ status: 1, stderr: expect.stringMatching(/exclude each other/) });
  });

  it('names every missing tool and its Debian package before doing any work', () => {
    const empty = fakeToolDir('empty', []);
    const r = runScript(['--offline', '--cache-dir', path.join(tmp, 'nocache')], { PATH: empty });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('missing tools: strip (Debian package binutils), osslsigncode (Debian package osslsigncode)');
    expect(r.stderr).toContain('bash packaging/ci-deps.sh');
    // Fetching needs npm and tar as well.
    const f = runScript(['--targets', 'linux-x64', '--cache-dir', path.join(tmp, 'nocache')], { PATH: empty });
    expect(f.stderr).toContain('missing tools: npm (Debian package npm (comes with Node.js)), tar (Debian package tar), strip (Debian package binutils)');
    // Only the tool the chosen target needs.
    const onlyStrip = fakeToolDir('only-strip', ['strip']);
    const w = runScript(['--offline', '--cache-dir', path.join(tmp, 'nocache')], { PATH: onlyStrip });
    expect(w.stderr).toMatch(/missing tool: osslsigncode \(Debian package osslsigncode\)\./);
    expect(runScript(['--offline', '--targets', 'linux-x64', '--cache-dir', path.join(tmp, 'nocache'), '--bundle', SCRIPT], { PATH: onlyStrip }).stderr).not.toMatch(
      /missing tool/,
    );
  });

  it('explains a missing bundle', () => {
    const tools = fakeToolDir('tools', ['strip', 'osslsigncode']);
    const r = runScript(['--offline', '--bundle', path.join(tmp, 'nope.cjs'), '--cache-dir', path.join(tmp, 'nocache')], { PATH: tools });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/bundle .*nope\.cjs not found: /);
  });

  it('refuses a cached Node binary whose hash is not the pinned one', () => {
    const tools = fakeToolDir('tools', ['strip', 'osslsigncode']);
    const cache = path.join(tmp, 'badcache');
    fs.mkdirSync(path.join(cache, `${NODE}`, 'linux-x64'), { recursive: true });
    fs.writeFileSync(path.join(cache, `${NODE}`, 'linux-x64', 'node'), '#!/bin/sh\necho v22.22.2\n', { mode: 0o755 });
    const r = runScript(['--offline', '--targets', 'linux-x64', '--cache-dir', cache, '--bundle', SCRIPT], { PATH: tools });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/linux-x64\/node: sha256 [0-9a-f]{64} does not match the pinned 81925c09/);
    const missing = runScript(['--offline', '--targets', 'linux-x64', '--cache-dir', path.join(tmp, 'nocache'), '--bundle', SCRIPT], { PATH: tools });
    expect(missing.stderr).toMatch(/is not cached and --offline was given/);
  });
});

function sha256(file: string): string {
  return createHash('sha256').update(fs.readFileSync(file)).digest('hex');
}

describe('package.mjs full build (stand-in entry)', () => {
  const need = ['strip', 'osslsigncode', 'openssl', 'npm', 'tar'];
  const missing = need.filter((t) => !hasTool(t));

  it('builds, strips, injects and signs both binaries', { timeout: 300_000 }, (ctx) => {
    if (!canRun(missing.length === 0, `package build test needs ${missing.join(', ')} (bash packaging/ci-deps.sh)`)) return ctx.skip();
    const out = path.join(tmp, 'out');
    const cert = path.join(tmp, 'sign-cert.pem');
    const key = path.join(tmp, 'sign-key.pem');
    const o = spawnSync(
      'openssl',
      ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '2', '-subj', '/CN=osdcast test signing', '-addext', 'extendedKeyUsage=codeSigning'],
      { encoding: 'utf8' },
    );
    expect(o.status, o.stderr).toBe(0);

    const r = runScript(['--standin', '--out-dir', out], { SIGN_CERT: cert, SIGN_KEY: key, SIGN_DESCRIPTION: 'osdcast test' }, 280_000);
    expect(r.status, r.all).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`smoke: .*osdcast-linux-x64 --version -> osdcast ${PKG_VERSION.replace(/\./g, '\\.')} \\(node ${NODE}\\)`));
    expect(r.stdout).toMatch(/osdcast-linux-x64 {2}\d+ bytes \(\d+\.\d MiB\)/);
    expect(r.stdout).toMatch(/osdcast-win-x64\.exe {2}\d+ bytes .* signed with sign-cert\.pem/);

    const linux = path.join(out, 'osdcast-linux-x64');
    const exe = path.join(out, 'osdcast-win-x64.exe');
    const elf = fs.readFileSync(linux);
    expect(elf.subarray(0, 4).toString('latin1')).toBe('\x7fELF');
    // Stripped: no .symtab section name left in the section-header string table.
    expect(elf.includes(Buffer.from('.symtab\0'))).toBe(false);
    const pe = fs.readFileSync(exe);
    expect(pe.subarray(0, 2).toString('latin1')).toBe('MZ');
    expect(pe.readUInt32LE(pe.readUInt32LE(0x3c))).toBe(0x4550);
    expect(pe.includes(Buffer.from('NODE_SEA_BLOB'))).toBe(true);
    // Sizes as measured with Node 22.22.2: about 102 MiB and 83 MiB. A big change means the recipe changed.
    expect(elf.length).toBeGreaterThan(95e6);
    expect(elf.length).toBeLessThan(125e6);
    expect(pe.length).toBeGreaterThan(80e6);
    expect(pe.length).toBeLessThan(100e6);

    const v = spawnSync(linux, ['--version'], { encoding: 'utf8' });
    expect(v.stdout.trim()).toBe(`osdcast ${PKG_VERSION} (node ${NODE})`);
    const info = JSON.parse(spawnSync(linux, ['sea-info'], { encoding: 'utf8' }).stdout) as { isSea: boolean; node: string };
    expect(info).toMatchObject({ isSea: true, node: NODE });

    // Our signature only (the OpenJS one was removed first), valid against the test CA, PE checksum correct.
    const ver = spawnSync('osslsigncode', ['verify', '-CAfile', cert, '-in', exe], { encoding: 'utf8' });
    const vout = `${ver.stdout}${ver.stderr}`;
    expect(vout, vout).toMatch(/Signature verification: ok/);
    expect(vout).toMatch(/Number of (verified )?signatures: 1\b/);
    expect(vout).toMatch(/CN=osdcast test signing/);
    expect(vout).not.toMatch(/OpenJS/);
    expect(vout).not.toMatch(/invalid PE checksum/i);

    const sums = fs.readFileSync(path.join(out, 'SHA256SUMS'), 'utf8');
    expect(sums).toBe(`${sha256(linux)}  osdcast-linux-x64\n${sha256(exe)}  osdcast-win-x64.exe\n`);
    expect(fs.readdirSync(out).filter((f) => f.endsWith('.partial') || f.endsWith('.signed'))).toEqual([]);
  });
});
