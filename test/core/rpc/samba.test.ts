/**
 * Interop with a real DCE/RPC server: Samba's samba-dcerpcd (Debian package `samba`) on hosts `dp` and `dp2` of the
 * namespace lab (test/lab/: a bridge and one namespace per host, addresses that exist only inside the lab; nothing
 * is bound in the host namespace, least of all port 135). Child node processes on host `client` drive the
 * sans-I/O client:
 *   - test/core/rpc/samba-driver.ts: ept_map on 135 for srvsvc → the TCP port → bind, no authentication →
 *     NetrServerGetInfo level 101 → the server's name; then an opnum srvsvc lacks → a fault named nca_s_op_rng_error.
 *   - test/core/rpc/samba-auth-driver.ts: the same call under NTLMv2 with core/ntlm's providers (auth types 9 and
 *     10, PKT_PRIVACY and PKT_INTEGRITY, anonymous, a wrong password), and the connect plan of core/rpc/connect.ts
 *     against dp and against dp2, which has SPNEGO switched off and `restrict anonymous = 2`.
 * Each Samba has its own tdbsam under the test's temp dir with a password for the existing account `nobody`.
 *
 * Skips with a reason without root, Linux, iproute2 or Samba (fails under OSDCAST_STRICT=1).
 */
import { randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildSync } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { canRun } from '../../support/env';
import { Lab, createLab, labUnavailable } from '../../lab/lab';
import type { Scenario } from './samba-auth-driver';

const DCERPCD = '/usr/libexec/samba/samba-dcerpcd';
const reason = labUnavailable() ?? (existsSync(DCERPCD) ? undefined : `the Samba interop test needs ${DCERPCD} (Debian package samba)`);
const run = canRun(reason === undefined, reason ?? '');
/** tshark (Debian package tshark) decrypts the sealed traffic with the password: an independent check, optional. */
const TSHARK = ['/usr/bin/tshark'].find((p) => existsSync(p));
if (run && !TSHARK) console.warn('[skip] the decryption check of the Samba test needs /usr/bin/tshark (Debian package tshark)');

describe.skipIf(!run)('DCE/RPC client against Samba (samba-dcerpcd in a namespace)', () => {
  let dir = '';
  let bundle = '';
  let authBundle = '';
  let lab: Lab | undefined;
  let addr = '';
  let addr2 = '';
  /** A fresh password per run, in the driver's scenario file (mode 0600) and pdbedit's stdin only. */
  const PASSWORD = `Osd-${randomBytes(9).toString('base64url')}`;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'osdcast-samba-'));
    bundle = join(dir, 'driver.cjs');
    authBundle = join(dir, 'auth-driver.cjs');
    buildSync({ entryPoints: [join(__dirname, 'samba-driver.ts')], bundle: true, platform: 'node', target: 'node20', outfile: bundle, logLevel: 'warning' });
    buildSync({ entryPoints: [join(__dirname, 'samba-auth-driver.ts')], bundle: true, platform: 'node', target: 'node20', outfile: authBundle, logLevel: 'warning' });
    lab = await createLab({ hosts: [{ name: 'dp', host: 1 }, { name: 'dp2', host: 2 }, { name: 'client', host: 10 }] });
    addr = lab.address('dp');
    addr2 = lab.address('dp2');
    // dp: Samba as it comes. dp2: the same with SPNEGO switched off, a server that rejects auth type 9.
    await Promise.all([startSamba(lab, 'dp', []), startSamba(lab, 'dp2', ['gensec:spnego = no', 'restrict anonymous = 2'])]);
  });

  async function startSamba(l: Lab, host: string, extra: string[]): Promise<void> {
    const a = l.address(host);
    const base = join(dir, host);
    for (const d of ['private', 'lock', 'state', 'cache', 'pid', 'ncalrpc', 'log']) mkdirSync(join(base, d), { recursive: true });
    const conf = join(base, 'smb.conf');
    writeFileSync(
      conf,
      [
        '[global]',
        'server role = standalone server',
        'netbios name = OSDCASTRPC',
        'workgroup = OSDLAB',
        `interfaces = ${a}/24`,
        'bind interfaces only = yes',
        `private dir = ${join(base, 'private')}`,
        `lock directory = ${join(base, 'lock')}`,
        `state directory = ${join(base, 'state')}`,
        `cache directory = ${join(base, 'cache')}`,
        `pid directory = ${join(base, 'pid')}`,
        `ncalrpc dir = ${join(base, 'ncalrpc')}`,
        `passdb backend = tdbsam:${join(base, 'private', 'passdb.tdb')}`,
        'rpc start on demand helpers = false',
        `log file = ${join(base, 'log.%m')}`,
        'log level = 1',
        'load printers = no',
        'disable spoolss = yes',
        ...extra,
        '',
      ].join('\n'),
    );
    // The existing account `nobody` gets a password in the test's own tdbsam (no user is created); pdbedit -t
    // reads it twice from stdin, so it is on no command line.
    await l.exec(host, ['pdbedit', '-s', conf, '-a', '-u', 'nobody', '-t'], `${PASSWORD}\n${PASSWORD}\n`);
    // The lab ends it by PID in teardown; ending samba-dcerpcd ends its rpcd workers.
    // -l: the rpcd workers' logs go under the temp dir too (without it they write to the system's log directory).
    const samba = l.start(host, [DCERPCD, '-s', conf, '-l', join(base, 'log'), '--libexec-rpcds', '-F', '--no-process-group']);
    const deadline = Date.now() + 15_000;
    for (;;) {
      if ((await l.exec(host, ['ss', '-Hltn'])).includes(`${a}:135 `)) break;
      if (samba.child.exitCode !== null || Date.now() > deadline) throw new Error(`samba-dcerpcd did not listen on ${a}:135 (exit ${samba.child.exitCode}): ${samba.stderr()}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  /**
   * Runs a driver bundle on host `client` and returns its JSON line. The rpcd workers register with the endpoint
   * mapper shortly after it listens: retried while srvsvc is unknown.
   */
  async function runDriver(args: string[]): Promise<Record<string, any>> {
    let out: Record<string, any> = {};
    for (let i = 0; i < 20; i++) {
      const driver = lab!.start('client', [process.execPath, ...args]);
      await driver.exited;
      out = JSON.parse(driver.stdout().trim().split('\n').pop() || '{}');
      if (!String(out.error ?? '').includes('named no TCP port')) break;
      await new Promise((res) => setTimeout(res, 300));
    }
    return out;
  }

  afterAll(async () => {
    await lab?.teardown();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('ept_map → port → bind (no auth) → NetrServerGetInfo 101 → the server name; an unknown opnum → nca_s_op_rng_error', async () => {
    const out = await runDriver([bundle, addr]);
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

  it('NTLMv2 (SPNEGO and raw NTLMSSP) sealed and signed → the server name; anonymous NTLM sealed; a wrong password → the typed refusal; the connect plan', async () => {
    const user = { domain: 'OSDCASTRPC', name: 'nobody' };
    const host = addr;
    const wrong = { ...user, wrongPassword: true };
    const scenarios: Scenario[] = [
      { name: 'spnego-privacy', host, authType: 9, level: 6, user, calls: 3 },
      { name: 'ntlm-privacy', host, authType: 10, level: 6, user, calls: 3 },
      // A request of several sealed fragments (1432 bytes, the smallest the client offers), then two more calls.
      { name: 'spnego-fragmented', host, authType: 9, level: 6, user, calls: 3, serverNameLength: 3001, frag: 1432 },
      { name: 'ntlm-fragmented', host, authType: 10, level: 5, user, calls: 3, serverNameLength: 3001, frag: 1432 },
      { name: 'spnego-integrity', host, authType: 9, level: 5, user },
      { name: 'ntlm-integrity', host, authType: 10, level: 5, user },
      { name: 'spnego-anonymous', host, authType: 9, level: 6 },
      { name: 'ntlm-anonymous', host, authType: 10, level: 6 },
      { name: 'spnego-wrong', host, authType: 9, level: 6, user: wrong },
      { name: 'ntlm-wrong', host, authType: 10, level: 6, user: wrong },
      // The connect plan (core/rpc/connect.ts) against both servers; dp2 has SPNEGO switched off.
      { name: 'plan-user', kind: 'connector', host, user },
      { name: 'plan-anonymous', kind: 'connector', host },
      { name: 'plan-wrong', kind: 'connector', host, user: wrong },
      { name: 'plan-user-no-spnego', kind: 'connector', host: addr2, user },
      { name: 'plan-anonymous-no-spnego', kind: 'connector', host: addr2 },
      { name: 'plan-wrong-no-spnego', kind: 'connector', host: addr2, user: wrong },
    ];
    const file = join(dir, 'scenarios.json');
    writeFileSync(file, JSON.stringify({ password: PASSWORD, scenarios }), { mode: 0o600 });
    // A capture on the server's side, decrypted afterwards by tshark's own NTLMSSP with the password.
    const pcap = join(dir, 'auth.pcapng');
    const capture = TSHARK ? lab!.start('dp', [TSHARK, '-q', '-i', 'eth0', '-f', 'tcp', '-w', pcap]) : undefined;
    if (capture) await waitFor(() => existsSync(pcap) && statSync(pcap).size > 0, 10_000, 'tshark did not start capturing');
    const out = await runDriver([authBundle, file]);
    expect(out.error, JSON.stringify(out)).toBeUndefined();
    const r = Object.fromEntries((out.results as any[]).map((x) => [x.name, x]));
    const types = (name: string) => r[name].events.map((e: { type: string }) => e.type);
    const names = (name: string) => (r[name].serverInfo ?? []).map((i: { name: string }) => i.name);

    for (const name of ['spnego-fragmented', 'ntlm-fragmented']) {
      expect(r[name].requestStubBytes).toBeGreaterThan(4 * 1432);
      expect(names(name), JSON.stringify(r[name])).toEqual(['OSDCASTRPC', 'OSDCASTRPC', 'OSDCASTRPC']);
    }
    for (const name of ['spnego-privacy', 'ntlm-privacy']) {
      // Three calls: sequence numbers past the first (SPNEGO's mechListMIC took number 0 of each direction).
      expect(names(name), JSON.stringify(r[name])).toEqual(['OSDCASTRPC', 'OSDCASTRPC', 'OSDCASTRPC']);
      expect(r[name].events[0]).toMatchObject({ type: 'bound', headerSigning: true });
    }
    for (const name of ['spnego-integrity', 'ntlm-integrity', 'spnego-anonymous', 'ntlm-anonymous']) {
      expect(names(name), JSON.stringify(r[name])).toEqual(['OSDCASTRPC']);
    }
    // SPNEGO: the AUTHENTICATE goes in alter_context, and Samba answers a wrong password with a fault to it.
    expect(types('spnego-wrong'), JSON.stringify(r['spnego-wrong'])).toEqual(['bindFault', 'closed']);
    expect(r['spnego-wrong'].events[0]).toEqual({ type: 'bindFault', leg: 'alter_context', status: 0x721, name: 'rpc_s_sec_pkg_error', accessDenied: true });
    // Raw NTLMSSP: auth3 has no answer, so the bind looks fine; the first call is refused without running.
    expect(types('ntlm-wrong'), JSON.stringify(r['ntlm-wrong'])).toEqual(['bound', 'fault', 'closed']);
    expect(r['ntlm-wrong'].events[1]).toMatchObject({ type: 'fault', callId: 2, name: 'nca_s_proto_error', status: 0x1c01000b, didNotExecute: true, accessDenied: false });

    // The connect plan. dp: type 9 answers at once, with a user and anonymously; a wrong password is refused at
    // the alter_context and nothing else is tried.
    const plan = (name: string) => r[name].events.map((e: any) => (e.type === 'attemptFailed' ? `${e.attempt.authType}:${e.verdict.kind}` : e.type === 'done' ? `${e.attempt.authType}:done` : e.type));
    expect(plan('plan-user')).toEqual(['9:done']);
    expect(r['plan-user'].events[0]).toMatchObject({ attempt: { n: 1, anonymous: false, level: 6 }, serverName: 'OSDCASTRPC' });
    expect(plan('plan-anonymous')).toEqual(['9:done']);
    expect(r['plan-anonymous'].events[0]).toMatchObject({ attempt: { anonymous: true, level: 6 }, serverName: 'OSDCASTRPC' });
    expect(plan('plan-wrong')).toEqual(['9:auth-refused', 'failed']);
    expect(r['plan-wrong'].events[1].verdict).toEqual({ kind: 'auth-refused', detail: 'fault rpc_s_sec_pkg_error to the alter_context', status: 0x721 });
    // dp2 (gensec:spnego = no): a bind_nak for type 9, then type 10 on a new connection.
    expect(plan('plan-user-no-spnego')).toEqual(['9:auth-type-rejected', '10:done']);
    expect(r['plan-user-no-spnego'].events[0].verdict.detail).toBe('bind_nak authentication_type_not_recognized');
    expect(r['plan-user-no-spnego'].events[1].serverName).toBe('OSDCASTRPC');
    // restrict anonymous = 2: anonymous NTLM binds and the call runs, refused in its own WERROR (5, access
    // denied): an answer, not a reason to drop to level NONE.
    expect(plan('plan-anonymous-no-spnego')).toEqual(['9:auth-type-rejected', '10:done']);
    expect(r['plan-anonymous-no-spnego'].events[1]).toMatchObject({ attempt: { anonymous: true }, werror: 5 });
    expect(plan('plan-wrong-no-spnego')).toEqual(['9:auth-type-rejected', '10:auth-refused', 'failed']);
    expect(r['plan-wrong-no-spnego'].events[2].verdict).toEqual({ kind: 'auth-refused', detail: 'fault nca_s_proto_error', status: 0x1c01000b });

    if (!capture) return;
    process.kill(capture.pid, 'SIGINT');
    await capture.exited;
    // The password reaches tshark through a preferences file (mode 0600), not its command line.
    const conf = join(dir, 'wireshark');
    mkdirSync(conf, { recursive: true });
    writeFileSync(join(conf, 'preferences'), `ntlmssp.nt_password: ${PASSWORD}\n`, { mode: 0o600 });
    const fields = execFileSync(TSHARK!, ['-r', pcap, '-Y', 'dcerpc.auth_level == 6 && srvsvc.srvsvc_NetSrvInfo101.server_name', '-T', 'fields', '-e', 'dcerpc.auth_type', '-e', 'srvsvc.srvsvc_NetSrvInfo101.server_name'], {
      encoding: 'utf8',
      env: { ...process.env, WIRESHARK_CONFIG_DIR: conf },
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    // The sealed responses of the two password scenarios decrypt to the server name: all three of raw NTLMSSP;
    // of SPNEGO, tshark 4.0 gets only the first (it loses its RC4 state around the mechListMIC; Samba and
    // our client verified all three). Anonymous ones are keyed from Z(16), which tshark does not try.
    const lines = fields.trim().split('\n');
    expect(lines.filter((l) => l === '10\tOSDCASTRPC')).toHaveLength(3);
    expect(lines.filter((l) => l === '9\tOSDCASTRPC').length).toBeGreaterThanOrEqual(1);
    expect(lines.every((l) => /^(9|10)\tOSDCASTRPC$/.test(l)), lines.join('|')).toBe(true);
  });
});

async function waitFor(ok: () => boolean, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > end) throw new Error(what);
    await new Promise((r) => setTimeout(r, 100));
  }
}
