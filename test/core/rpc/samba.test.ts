/**
 * Interop with a real DCE/RPC server: Samba's samba-dcerpcd (Debian package `samba`) in a network namespace this
 * test creates (a veth pair inside it carries a private address that exists only there; nothing is bound in the
 * host namespace, least of all port 135). A child node process inside the namespace drives the sans-I/O client
 * (test/core/rpc/samba-driver.ts): ept_map on 135 for srvsvc → the TCP port → bind, no authentication →
 * NetrServerGetInfo level 101 → the server's name; then an opnum srvsvc lacks → a fault named nca_s_op_rng_error.
 *
 * The namespace lab of test/lab/ is not on this branch yet: the few `ip` commands it needs are here.
 * Skips with a reason without root, Linux, iproute2 or Samba (fails under OSDCAST_STRICT=1).
 */
import { ChildProcess, execFile, execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildSync } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { canRun } from '../../support/env';

const DCERPCD = '/usr/libexec/samba/samba-dcerpcd';
const NS = `osdrpc-${process.pid}`;
const ADDR = '10.77.51.1';

function unavailable(): string | undefined {
  if (process.platform !== 'linux') return 'the Samba interop test needs Linux';
  if (process.getuid?.() !== 0) return 'the Samba interop test needs root (ip netns)';
  try {
    execFileSync('ip', ['-V'], { stdio: 'ignore' });
  } catch {
    return 'the Samba interop test needs iproute2';
  }
  if (!existsSync(DCERPCD)) return `the Samba interop test needs ${DCERPCD} (Debian package samba)`;
  return undefined;
}

const reason = unavailable();
const run = canRun(reason === undefined, reason ?? '');

function ip(...args: string[]): void {
  execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

function inNs(argv: string[], timeoutMs = 15_000): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile('ip', ['netns', 'exec', NS, ...argv], { encoding: 'utf8', timeout: timeoutMs }, (err, stdout, stderr) =>
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

describe.skipIf(!run)('DCE/RPC client against Samba (samba-dcerpcd in a namespace)', () => {
  let dir = '';
  let bundle = '';
  let samba: ChildProcess | undefined;
  let sambaExit: Promise<void> | undefined;
  let nsCreated = false;
  const teardownSync = (): void => {
    if (samba?.pid && samba.exitCode === null && samba.signalCode === null) {
      try {
        process.kill(samba.pid, 'SIGKILL');
      } catch {
        /* already gone */
      }
    }
    if (nsCreated) {
      try {
        ip('netns', 'del', NS);
      } catch {
        /* already gone */
      }
      nsCreated = false;
    }
  };

  beforeAll(async () => {
    process.once('exit', teardownSync);
    dir = mkdtempSync(join(tmpdir(), 'osdcast-samba-'));
    bundle = join(dir, 'driver.cjs');
    buildSync({ entryPoints: [join(__dirname, 'samba-driver.ts')], bundle: true, platform: 'node', target: 'node20', outfile: bundle, logLevel: 'warning' });

    ip('netns', 'add', NS);
    nsCreated = true;
    ip('-n', NS, 'link', 'set', 'lo', 'up');
    ip('-n', NS, 'link', 'add', 'v0', 'type', 'veth', 'peer', 'name', 'v1');
    ip('-n', NS, 'addr', 'add', `${ADDR}/24`, 'dev', 'v0');
    ip('-n', NS, 'link', 'set', 'v0', 'up');
    ip('-n', NS, 'link', 'set', 'v1', 'up');

    for (const d of ['private', 'lock', 'state', 'cache', 'pid', 'ncalrpc']) mkdirSync(join(dir, d));
    const conf = join(dir, 'smb.conf');
    writeFileSync(
      conf,
      [
        '[global]',
        'server role = standalone server',
        'netbios name = OSDCASTRPC',
        'workgroup = OSDLAB',
        `interfaces = ${ADDR}/24`,
        'bind interfaces only = yes',
        `private dir = ${join(dir, 'private')}`,
        `lock directory = ${join(dir, 'lock')}`,
        `state directory = ${join(dir, 'state')}`,
        `cache directory = ${join(dir, 'cache')}`,
        `pid directory = ${join(dir, 'pid')}`,
        `ncalrpc dir = ${join(dir, 'ncalrpc')}`,
        `passdb backend = tdbsam:${join(dir, 'private', 'passdb.tdb')}`,
        'rpc start on demand helpers = false',
        `log file = ${join(dir, 'log.%m')}`,
        'log level = 1',
        'load printers = no',
        'disable spoolss = yes',
        '',
      ].join('\n'),
    );
    // `ip netns exec` execs samba-dcerpcd, so this PID is Samba's; ending it ends its rpcd workers.
    samba = spawn('ip', ['netns', 'exec', NS, DCERPCD, '-s', conf, '--libexec-rpcds', '-F', '--no-process-group'], { stdio: 'ignore' });
    sambaExit = new Promise((resolve) => samba!.once('exit', () => resolve()));
    const deadline = Date.now() + 15_000;
    for (;;) {
      const ss = await inNs(['ss', '-Hltn']);
      if (ss.stdout.includes(`${ADDR}:135 `)) break;
      if (samba.exitCode !== null || Date.now() > deadline) throw new Error(`samba-dcerpcd did not listen on ${ADDR}:135 (exit ${samba.exitCode})`);
      await new Promise((r) => setTimeout(r, 200));
    }
  });

  afterAll(async () => {
    if (samba?.pid && samba.exitCode === null && samba.signalCode === null) {
      process.kill(samba.pid, 'SIGTERM');
      await Promise.race([sambaExit, new Promise((r) => setTimeout(r, 3000))]);
    }
    teardownSync();
    process.removeListener('exit', teardownSync);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('ept_map → port → bind (no auth) → NetrServerGetInfo 101 → the server name; an unknown opnum → nca_s_op_rng_error', async () => {
    // The rpcd workers register with the endpoint mapper shortly after it listens: retry while srvsvc is unknown.
    let out: Record<string, any> = {};
    for (let i = 0; i < 20; i++) {
      const r = await inNs([process.execPath, bundle, ADDR]);
      out = JSON.parse(r.stdout.trim().split('\n').pop() || '{}');
      if (!String(out.error ?? '').includes('named no TCP port')) break;
      await new Promise((res) => setTimeout(res, 300));
    }
    expect(out.error, JSON.stringify(out)).toBeUndefined();
    expect(out.epmBound).toMatchObject({ type: 'bound', secondaryAddress: '135' });
    expect(out.eptMap.status).toBe(0);
    expect(out.eptMap.endpoints[0]).toMatchObject({ iface: { uuid: '4b324fc8-1670-01d3-1278-5a47bf6ee188', major: 3, minor: 0 }, address: ADDR });
    expect(out.eptMap.endpoints[0].port).toBeGreaterThan(1024);
    expect(out.srvsvcBound).toMatchObject({ type: 'bound' });
    expect(out.serverInfo).toMatchObject({ name: 'OSDCASTRPC', platformId: 500, werror: 0 });
    expect(out.serverInfo.comment).toMatch(/^Samba /);
    expect(out.badOpnum).toMatchObject({ type: 'fault', name: 'nca_s_op_rng_error', status: 0x1c010002 });
  });
});
