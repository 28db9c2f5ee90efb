/**
 * Issue 7 in the namespace lab: a coordinator (10.77.0.1), one agent (the built CLI, 10.77.0.10) and a forging
 * host (10.77.0.66) on one bridge. During the live transfer the forger sends well-formed ODATA to the session's
 * group and port (right session id, valid CHECKSUM, in-window sequence numbers, real block numbers, random
 * payload). The agent must drop every one of them as `drops.wrongSource` and write the image byte-exact.
 * An nftables counter at the bridge counts the forged packets that reached the agent's port.
 */
import { afterAll, describe, expect, it } from 'vitest';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { canRun } from '../support/env';
import { Lab, createLab, labUnavailable } from './lab';

const DIST = path.resolve(__dirname, '../../dist');
const bin = (name: string) => path.join(DIST, name);
const why = labUnavailable({ nft: true });
const INJECT = 2000;

let lab: Lab | undefined;
let dir: string | undefined;
afterAll(async () => {
  await lab?.teardown();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

describe('lab: a forged sender on the session group (issue 7)', () => {
  it('drops every forged ODATA from a third address and writes the image byte-exact', async (ctx) => {
    if (!canRun(!why, why ?? '')) return ctx.skip();
    for (const b of ['osdcast.cjs', 'coordinator.cjs', 'lab-forger.cjs']) expect(fs.existsSync(bin(b)), `dist/${b} is built by npm test before vitest runs`).toBe(true);
    const t0 = Date.now();
    lab = await createLab({ hosts: [{ name: 'coord', host: 1 }, { name: 'rx', host: 10 }, { name: 'forger', host: 66 }] });
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'osdcast-lab-'));

    // 32 MiB at a capped 8 MB/s: about four seconds of live transfer for the forger to hit.
    const coord = lab.start('coord', [process.execPath, bin('coordinator.cjs'), '--generate', '32', '--interface', lab.address('coord'), '--rate', '8']);
    const ready = JSON.parse(await coord.line((l) => l.includes('"ready"'))) as { msiPort: number; port: number; group: string; sha256: string; namespace?: string };
    await lab.nft('switch', `table bridge forged {\n chain seen {\n  type filter hook forward priority 0; policy accept;\n  iifname "p-forger" oifname "p-rx" udp dport ${ready.port} counter\n }\n}\n`);

    const forger = lab.start('forger', [process.execPath, bin('lab-forger.cjs'), '--group', ready.group, '--port', String(ready.port), '--iface', lab.address('forger'), '--count', String(INJECT), '--skip', '300']);
    await forger.line((l) => l.includes('"listening"'));

    const out = path.join(dir, 'image.wim');
    const env = { ...process.env };
    for (const k of ['OSDCAST_SERVER', '_SMSTSLogPath']) delete env[k];
    const agent = lab.start('rx', [process.execPath, bin('osdcast.cjs'), 'receive', '--server', `${lab.address('coord')}:${ready.msiPort}`, '--namespace', 'SMSNamespace', '--content', 'PKG00001', '--out', out, '--interface', lab.address('rx'), '--timeout', '45', '--json'], { env });

    const done = JSON.parse(await forger.line((l) => l.includes('"done"'), 45_000)) as { sent: number; failed: number };
    const { code } = await agent.exited;
    const lines = agent.stdout().trim().split('\n');
    const report = JSON.parse(lines[lines.length - 1]!) as Record<string, unknown> & { drops: { wrongSource: number }; droppedPackets: number };
    const atBridge = await lab.counter('switch', 'bridge', 'forged', 'seen');
    // eslint-disable-next-line no-console
    console.log(`lab forged-sender: injected ${done.sent}, at the agent's bridge port ${atBridge}, drops.wrongSource ${report.drops?.wrongSource}, ${((Date.now() - t0) / 1000).toFixed(1)} s`);

    expect(code, `agent stderr:\n${agent.stderr().slice(-3000)}`).toBe(0);
    expect(report).toMatchObject({ status: 'ok', exitCode: 0, sha256: ready.sha256, conflictingDuplicates: 0 });
    const file = fs.readFileSync(out);
    expect(file.length).toBe(32 * 1024 * 1024);
    expect(crypto.createHash('sha256').update(file).digest('hex')).toBe(ready.sha256);
    expect(done).toMatchObject({ sent: INJECT, failed: 0 });
    expect(atBridge).toBe(INJECT);
    expect(report.drops.wrongSource).toBe(INJECT);
    expect(report.droppedPackets).toBeGreaterThanOrEqual(INJECT);
  }, 90_000);
});
