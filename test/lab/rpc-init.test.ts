/**
 * Issue 9 in the namespace lab: the agent (the built CLI, 10.77.0.10) with its default `--initiation auto`
 * against a coordinator that, like Windows Server 2016+, answers session initiation only over DCE/RPC (MS-WDSC on
 * TCP 5040, NTLMv2 for one account; `--no-udp-msi`), and against one that answers only MS-WDSMSI over UDP (like
 * Server 2012 R2). Port 5040 is bound only inside the lab's namespaces.
 */
import { afterAll, describe, expect, it } from 'vitest';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { canRun } from '../support/env';
import { Lab, LabProcess, createLab, labUnavailable } from './lab';

const DIST = path.resolve(__dirname, '../../dist');
const bin = (name: string) => path.join(DIST, name);
const why = labUnavailable();
const PASSWORD = 'Lab-Pässw0rd!';

let lab: Lab | undefined;
let dir: string | undefined;
afterAll(async () => {
  await lab?.teardown();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

type Ready = { msiPort: number | null; rpcPort?: number; sha256: string };
type Run = { code: number | null; report: Record<string, unknown>; stdout: string; stderr: string };

async function agent(args: string[], env: NodeJS.ProcessEnv = {}): Promise<Run> {
  const base = { ...process.env, ...env };
  for (const k of ['OSDCAST_SERVER', '_SMSTSLogPath', ...(env.OSDCAST_PASSWORD ? [] : ['OSDCAST_PASSWORD'])]) if (!(k in env)) delete base[k];
  const p: LabProcess = lab!.start('rx', [process.execPath, bin('osdcast.cjs'), 'receive', '--namespace', 'SMSNamespace', '--content', 'PKG00001', '--interface', lab!.address('rx'), '--timeout', '60', '--json', ...args], { env: base });
  const { code } = await p.exited;
  const lines = p.stdout().trim().split('\n');
  return { code, report: JSON.parse(lines[lines.length - 1]!) as Record<string, unknown>, stdout: p.stdout(), stderr: p.stderr() };
}

describe('lab: session initiation over MS-WDSC (issue 9)', () => {
  it('RPC-only DP: byte-exact with --initiation auto; a wrong password exits 3 with no file; a UDP-only DP is reached over UDP', async (ctx) => {
    if (!canRun(!why, why ?? '')) return ctx.skip();
    for (const b of ['osdcast.cjs', 'coordinator.cjs']) expect(fs.existsSync(bin(b)), `dist/${b} is built by npm test before vitest runs`).toBe(true);
    lab = await createLab({ hosts: [{ name: 'dp', host: 1 }, { name: 'old', host: 2 }, { name: 'hash', host: 3 }, { name: 'sign', host: 4 }, { name: 'rx', host: 10 }] });
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'osdcast-lab-rpc-'));
    const coordPw = path.join(dir, 'coord-pw.txt');
    fs.writeFileSync(coordPw, `${PASSWORD}\r\n`);
    // The agent's file in UTF-16 with a BOM, as Notepad writes it.
    const agentPw = path.join(dir, 'agent-pw.txt');
    fs.writeFileSync(agentPw, Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(`${PASSWORD}\r\n`, 'utf16le')]));
    const wrongPw = path.join(dir, 'wrong-pw.txt');
    fs.writeFileSync(wrongPw, 'not-the-password\n');

    const dp = lab.start('dp', [process.execPath, bin('coordinator.cjs'), '--generate', '4', '--interface', lab.address('dp'), '--no-udp-msi', '--rpc-port', '5040', '--rpc-user', 'LAB\\svc-osd', '--rpc-password-file', coordPw]);
    const dpReady = JSON.parse(await dp.line((l) => l.includes('"ready"'))) as Ready;
    expect(dpReady).toMatchObject({ msiPort: null, rpcPort: 5040 });
    const old = lab.start('old', [process.execPath, bin('coordinator.cjs'), '--generate', '3', '--interface', lab.address('old')]);
    const oldReady = JSON.parse(await old.line((l) => l.includes('"ready"'))) as Ready;

    // 1. Server 2016+ behaviour: RPC with NTLMv2 at PKT_PRIVACY, no initiation flag.
    const out1 = path.join(dir, 'rpc.bin');
    const ok = await agent(['--server', lab.address('dp'), '--out', out1, '--user', 'LAB\\svc-osd', '--password-file', agentPw, '--retries', '0']);
    expect(ok.code, ok.stderr.slice(-3000)).toBe(0);
    expect(ok.report).toMatchObject({ status: 'ok', initiation: 'rpc', sha256: dpReady.sha256 });
    expect(crypto.createHash('sha256').update(fs.readFileSync(out1)).digest('hex')).toBe(dpReady.sha256);
    expect(ok.stderr).toContain('security: client CHECKSUM, server CHECKSUM');
    for (const text of [ok.stdout, ok.stderr, dp.stdout(), dp.stderr()]) expect(text).not.toContain(PASSWORD);

    // 2. A wrong password: RPC refuses the authentication, UDP has no answer either: exit 3, one line naming both.
    const out2 = path.join(dir, 'wrong.bin');
    const bad = await agent(['--server', lab.address('dp'), '--out', out2, '--user', 'LAB\\svc-osd', '--password-file', wrongPw, '--retries', '0']);
    expect(bad.code, bad.stderr.slice(-3000)).toBe(3);
    expect(bad.report).toMatchObject({ status: 'error', errorKind: 'no-session', initiation: 'none' });
    expect(bad.report.error).toMatch(/^RPC: authentication failed or access denied at 10\.77\.0\.1:5040 \(fault [a-z_]+( to the alter_context)?\); UDP: no reply from 10\.77\.0\.1:5041/);
    expect(fs.existsSync(out2)).toBe(false);
    expect(fs.existsSync(`${out2}.partial`)).toBe(false);
    expect(bad.stderr).not.toContain('not-the-password');

    // 3. Server 2012 R2 behaviour: nothing on 5040 or 135, so UDP is used.
    const out3 = path.join(dir, 'udp.bin');
    const udp = await agent(['--server', `${lab.address('old')}:${oldReady.msiPort}`, '--out', out3, '--retries', '0']);
    expect(udp.code, udp.stderr.slice(-3000)).toBe(0);
    expect(udp.report).toMatchObject({ status: 'ok', initiation: 'udp', sha256: oldReady.sha256 });
    expect(udp.stderr).toMatch(/connection refused at 10\.77\.0\.2:5040 \(ECONNREFUSED\); endpoint mapper: connection refused at 10\.77\.0\.2:135/);

    // 4. HASH and SIGN sessions (a client outside WinPE, no --pre-os), anonymous RPC, no initiation flag.
    for (const mode of ['hash', 'sign'] as const) {
      const c = lab.start(mode, [process.execPath, bin('coordinator.cjs'), '--generate', '2', '--interface', lab.address(mode), '--no-udp-msi', '--rpc-port', '5040', '--rpc-anonymous', 'allow', '--sec-mode', mode]);
      const ready = JSON.parse(await c.line((l) => l.includes('"ready"'))) as Ready;
      const out = path.join(dir, `${mode}.bin`);
      const r = await agent(['--server', lab.address(mode), '--out', out, '--retries', '0']);
      expect(r.code, `${mode}: ${r.stderr.slice(-3000)}`).toBe(0);
      expect(r.report, mode).toMatchObject({ status: 'ok', initiation: 'rpc', sha256: ready.sha256, drops: { authFailed: 0 } });
      expect(crypto.createHash('sha256').update(fs.readFileSync(out)).digest('hex')).toBe(ready.sha256);
      expect(r.stderr).toContain(`security: client HASH, server ${mode.toUpperCase()}`);
    }
  }, 120_000);
});
