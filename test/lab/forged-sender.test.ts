/**
 * Forged ODATA in the namespace lab, the built CLI as the agent (10.77.0.10), the coordinator at 10.77.0.1.
 *
 * Issue 7: a forging host (10.77.0.66) on the same bridge sends, during the live transfer, well-formed ODATA to the
 * session's group and port (right session id, valid CHECKSUM, in-window sequence numbers, real block numbers,
 * random payload). The agent must drop every one of them as `drops.wrongSource` and write the image byte-exact.
 *
 * Issue 9: in a HASH and in a SIGN session (initiated over MS-WDSC, anonymous RPC on 5040 inside the lab) the forger runs in the
 * coordinator's own namespace, bound to the coordinator's address on a port of its own: its packets carry the
 * server's source address and pass the source check, but their HMAC (or RSA signature) is wrong. The agent must count every one as
 * `drops.authFailed` and write the image byte-exact.
 *
 * In all, an nftables counter at the bridge counts the forged packets that reached the agent's port.
 */
import { afterAll, describe, expect, it } from 'vitest';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { noDrops } from '../../agent/report';
import { canRun } from '../support/env';
import { Lab, LabProcess, createLab, labUnavailable } from './lab';

const DIST = path.resolve(__dirname, '../../dist');
const bin = (name: string) => path.join(DIST, name);
const why = labUnavailable({ nft: true });
const INJECT = 2000;

const labs: Lab[] = [];
const dirs: string[] = [];
afterAll(async () => {
  for (const lab of labs) await lab.teardown();
  for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true });
});

type Ready = { msiPort: number | null; port: number; group: string; sha256: string };
type Report = Record<string, unknown> & { drops: ReturnType<typeof noDrops>; droppedPackets: number };

async function newLab(hosts: { name: string; host: number }[]): Promise<{ lab: Lab; dir: string }> {
  for (const b of ['osdcast.cjs', 'coordinator.cjs', 'lab-forger.cjs']) expect(fs.existsSync(bin(b)), `dist/${b} is built by npm test before vitest runs`).toBe(true);
  const lab = await createLab({ hosts });
  labs.push(lab);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'osdcast-lab-'));
  dirs.push(dir);
  return { lab, dir };
}

/** Starts the forger in `where`, sending from `from`, once it listens. */
async function startForger(lab: Lab, where: string, from: string, ready: Ready): Promise<LabProcess> {
  const forger = lab.start(where, [process.execPath, bin('lab-forger.cjs'), '--group', ready.group, '--port', String(ready.port), '--iface', from, '--count', String(INJECT), '--skip', '300']);
  await forger.line((l) => l.includes('"listening"'));
  return forger;
}

/** Runs the agent in `rx` to the end: its exit code and its --json report. */
async function receiveIn(lab: Lab, out: string, args: string[]): Promise<{ code: number | null; report: Report; stderr: string }> {
  const env = { ...process.env };
  for (const k of ['OSDCAST_SERVER', '_SMSTSLogPath', 'OSDCAST_PASSWORD']) delete env[k];
  const agent = lab.start('rx', [process.execPath, bin('osdcast.cjs'), 'receive', ...args, '--namespace', 'SMSNamespace', '--content', 'PKG00001', '--out', out, '--interface', lab.address('rx'), '--timeout', '45', '--json'], { env });
  const { code } = await agent.exited;
  const lines = agent.stdout().trim().split('\n');
  return { code, report: JSON.parse(lines[lines.length - 1]!) as Report, stderr: agent.stderr() };
}

function expectByteExact(out: string, mib: number, sha256: string): void {
  const file = fs.readFileSync(out);
  expect(file.length).toBe(mib * 1024 * 1024);
  expect(crypto.createHash('sha256').update(file).digest('hex')).toBe(sha256);
}

describe('lab: a forged sender on the session group (issues 7 and 9)', () => {
  it('drops every forged ODATA from a third address and writes the image byte-exact', async (ctx) => {
    if (!canRun(!why, why ?? '')) return ctx.skip();
    const t0 = Date.now();
    const { lab, dir } = await newLab([{ name: 'coord', host: 1 }, { name: 'rx', host: 10 }, { name: 'forger', host: 66 }]);

    // 32 MiB at a capped 8 MB/s: about four seconds of live transfer for the forger to hit.
    const coord = lab.start('coord', [process.execPath, bin('coordinator.cjs'), '--generate', '32', '--interface', lab.address('coord'), '--rate', '8']);
    const ready = JSON.parse(await coord.line((l) => l.includes('"ready"'))) as Ready;
    await lab.nft('switch', `table bridge forged {\n chain seen {\n  type filter hook forward priority 0; policy accept;\n  iifname "p-forger" oifname "p-rx" udp dport ${ready.port} counter\n }\n}\n`);

    const forger = await startForger(lab, 'forger', lab.address('forger'), ready);
    const out = path.join(dir, 'image.wim');
    const running = receiveIn(lab, out, ['--server', `${lab.address('coord')}:${ready.msiPort}`]);

    const done = JSON.parse(await forger.line((l) => l.includes('"done"'), 45_000)) as { sent: number; failed: number };
    const { code, report, stderr } = await running;
    const atBridge = await lab.counter('switch', 'bridge', 'forged', 'seen');
    // eslint-disable-next-line no-console
    console.log(`lab forged-sender: injected ${done.sent}, at the agent's bridge port ${atBridge}, drops.wrongSource ${report.drops?.wrongSource}, ${((Date.now() - t0) / 1000).toFixed(1)} s`);

    expect(code, `agent stderr:\n${stderr.slice(-3000)}`).toBe(0);
    expect(report).toMatchObject({ status: 'ok', exitCode: 0, sha256: ready.sha256, conflictingDuplicates: 0 });
    expectByteExact(out, 32, ready.sha256);
    expect(done).toMatchObject({ sent: INJECT, failed: 0 });
    expect(atBridge).toBe(INJECT);
    expect(report.drops).toEqual({ ...noDrops(), wrongSource: INJECT });
    expect(report.droppedPackets).toBe(INJECT);
  }, 90_000);

  it.for([
    { mode: 'hash', shown: 'client HASH, server HASH', secType: 1 },
    { mode: 'sign', shown: 'client HASH, server SIGN', secType: 2 },
  ] as const)('$mode session: forged ODATA from the server\'s own address with a wrong HMAC or signature are counted as authFailed, never written', { timeout: 60_000 }, async ({ mode, shown, secType }, ctx) => {
    if (!canRun(!why, why ?? '')) return ctx.skip();
    const t0 = Date.now();
    const { lab, dir } = await newLab([{ name: 'coord', host: 1 }, { name: 'rx', host: 10 }]);
    const coordAddr = lab.address('coord');

    // Like Server 2016+: session initiation over MS-WDSC only (anonymous RPC), HASH for a client outside WinPE.
    // 16 MiB at a capped 8 MB/s: about two seconds of live transfer.
    const coord = lab.start('coord', [process.execPath, bin('coordinator.cjs'), '--generate', '16', '--interface', coordAddr, '--rate', '8', '--no-udp-msi', '--rpc-port', '5040', '--rpc-anonymous', 'allow', '--sec-mode', mode]);
    const ready = JSON.parse(await coord.line((l) => l.includes('"ready"'))) as Ready;
    // The coordinator sends from its session port; the forger, from the same address, from another.
    await lab.nft('switch', `table bridge forged {\n chain seen {\n  type filter hook forward priority 0; policy accept;\n  iifname "p-coord" oifname "p-rx" ip saddr ${coordAddr} udp sport != ${ready.port} udp dport ${ready.port} counter\n }\n}\n`);

    const forger = await startForger(lab, 'coord', coordAddr, ready);
    const out = path.join(dir, 'image.wim');
    const running = receiveIn(lab, out, ['--server', coordAddr, '--retries', '0']);

    const done = JSON.parse(await forger.line((l) => l.includes('"done"'), 45_000)) as { sent: number; failed: number; secType: number };
    const { code, report, stderr } = await running;
    const atBridge = await lab.counter('switch', 'bridge', 'forged', 'seen');
    // eslint-disable-next-line no-console
    console.log(`lab forged-${mode}: injected ${done.sent}, at the agent's bridge port ${atBridge}, drops.authFailed ${report.drops?.authFailed}, drops.wrongSource ${report.drops?.wrongSource}, ${((Date.now() - t0) / 1000).toFixed(1)} s`);

    expect(code, `agent stderr:\n${stderr.slice(-3000)}`).toBe(0);
    expect(stderr).toContain(`security: ${shown}`);
    expect(report).toMatchObject({ status: 'ok', exitCode: 0, initiation: 'rpc', sha256: ready.sha256, conflictingDuplicates: 0 });
    expectByteExact(out, 16, ready.sha256);
    expect(done).toMatchObject({ sent: INJECT, failed: 0, secType });
    // The counter matches any UDP from the coordinator's address and another source port: once in a full run it saw
    // one packet more than the forger sent (a coordinator packet from another socket). What reached the agent as
    // forged is pinned by drops.authFailed below.
    expect(atBridge).toBeGreaterThanOrEqual(INJECT);
    expect(report.drops).toEqual({ ...noDrops(), authFailed: INJECT });
    expect(report.droppedPackets).toBe(INJECT);
  });
});
