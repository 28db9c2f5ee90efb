/**
 * Interop with a real DCE/RPC server: Samba's samba-dcerpcd (Debian package `samba`) on host `dp` of the namespace
 * lab (test/lab/: a bridge and one namespace per host, addresses that exist only inside the lab; nothing is bound
 * in the host namespace, least of all port 135). A child node process on host `client` drives the sans-I/O client
 * (test/core/rpc/samba-driver.ts): ept_map on 135 for srvsvc → the TCP port → bind, no authentication →
 * NetrServerGetInfo level 101 → the server's name; then an opnum srvsvc lacks → a fault named nca_s_op_rng_error.
 *
 * Skips with a reason without root, Linux, iproute2 or Samba (fails under OSDCAST_STRICT=1).
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildSync } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { canRun } from '../../support/env';
import { Lab, createLab, labUnavailable } from '../../lab/lab';

const DCERPCD = '/usr/libexec/samba/samba-dcerpcd';
const reason = labUnavailable() ?? (existsSync(DCERPCD) ? undefined : `the Samba interop test needs ${DCERPCD} (Debian package samba)`);
const run = canRun(reason === undefined, reason ?? '');

describe.skipIf(!run)('DCE/RPC client against Samba (samba-dcerpcd in a namespace)', () => {
  let dir = '';
  let bundle = '';
  let lab: Lab | undefined;
  let addr = '';

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'osdcast-samba-'));
    bundle = join(dir, 'driver.cjs');
    buildSync({ entryPoints: [join(__dirname, 'samba-driver.ts')], bundle: true, platform: 'node', target: 'node20', outfile: bundle, logLevel: 'warning' });
    lab = await createLab({ hosts: [{ name: 'dp', host: 1 }, { name: 'client', host: 10 }] });
    addr = lab.address('dp');

    for (const d of ['private', 'lock', 'state', 'cache', 'pid', 'ncalrpc']) mkdirSync(join(dir, d));
    const conf = join(dir, 'smb.conf');
    writeFileSync(
      conf,
      [
        '[global]',
        'server role = standalone server',
        'netbios name = OSDCASTRPC',
        'workgroup = OSDLAB',
        `interfaces = ${addr}/24`,
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
    // The lab ends it by PID in teardown; ending samba-dcerpcd ends its rpcd workers.
    const samba = lab.start('dp', [DCERPCD, '-s', conf, '--libexec-rpcds', '-F', '--no-process-group']);
    const deadline = Date.now() + 15_000;
    for (;;) {
      if ((await lab.exec('dp', ['ss', '-Hltn'])).includes(`${addr}:135 `)) break;
      if (samba.child.exitCode !== null || Date.now() > deadline) throw new Error(`samba-dcerpcd did not listen on ${addr}:135 (exit ${samba.child.exitCode}): ${samba.stderr()}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  });

  afterAll(async () => {
    await lab?.teardown();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('ept_map → port → bind (no auth) → NetrServerGetInfo 101 → the server name; an unknown opnum → nca_s_op_rng_error', async () => {
    // The rpcd workers register with the endpoint mapper shortly after it listens: retry while srvsvc is unknown.
    let out: Record<string, any> = {};
    for (let i = 0; i < 20; i++) {
      const driver = lab!.start('client', [process.execPath, bundle, addr]);
      await driver.exited;
      out = JSON.parse(driver.stdout().trim().split('\n').pop() || '{}');
      if (!String(out.error ?? '').includes('named no TCP port')) break;
      await new Promise((res) => setTimeout(res, 300));
    }
    expect(out.error, JSON.stringify(out)).toBeUndefined();
    expect(out.epmBound).toMatchObject({ type: 'bound', secondaryAddress: '135' });
    expect(out.eptMap.status).toBe(0);
    expect(out.eptMap.endpoints[0]).toMatchObject({ iface: { uuid: '4b324fc8-1670-01d3-1278-5a47bf6ee188', major: 3, minor: 0 }, address: addr });
    expect(out.eptMap.endpoints[0].port).toBeGreaterThan(1024);
    expect(out.srvsvcBound).toMatchObject({ type: 'bound' });
    expect(out.serverInfo).toMatchObject({ name: 'OSDCASTRPC', platformId: 500, werror: 0 });
    expect(out.serverInfo.comment).toMatch(/^Samba /);
    expect(out.badOpnum).toMatchObject({ type: 'fault', name: 'nca_s_op_rng_error', status: 0x1c010002 });
  });
});
