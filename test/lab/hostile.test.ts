/**
 * Hostile and foreign traffic, live (issue 11 point 3): the built CLI as the agent (10.77.0.10), the coordinator at
 * 10.77.0.1, a 32 MiB CHECKSUM session at a capped 8 MB/s. During the transfer two injectors send to the session's
 * group and port (test/lab/forger.ts):
 * - from a third host (10.77.0.66): well-formed ODATA, valid checksum, right session id, random payload
 *   (`wrongSource`);
 * - from the coordinator's own namespace, bound to the coordinator's address on a port of its own, so each packet
 *   passes the source check and reaches its own check: one packet of each kind of test/support/hostile.ts in turn
 *   (another session id, another security mode, a bad checksum, truncated, RangeCount/OptionsCount larger than the
 *   packet, blocks beyond the content, replayed SPM/QCC/POLL, other malformed), one per 8 real ODATA.
 * The agent must exit 0 with the image byte-exact (SHA-256), and count every injected packet in its own `drops` field.
 *
 * Exact counts: the bridge is lossless (no impairment), an nftables counter at the agent's bridge port counts each
 * injector's packets (by source host, and by the coordinator-side injector's source port), both injectors are done
 * in the first half of the transfer (so every packet reaches an open session, in the regular state: the first is
 * sent after 300 real ODATA), and the agent's cache (64 MiB) holds the whole 32 MiB image, so no injected ODATA can
 * meet a full cache (a Zero NACK instead of a drop). A clean run drops nothing, so each field equals what was sent
 * of its kind and `droppedPackets` their sum. A HASH/SIGN session's `authFailed` is shown live in forged-sender.test.ts.
 */
import { afterAll, describe, expect, it } from 'vitest';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { canRun } from '../support/env';
import { HOSTILE_KINDS, HostileKind } from '../support/hostile';
import { Lab, createLab, labUnavailable } from './lab';

const DIST = path.resolve(__dirname, '../../dist');
const bin = (name: string) => path.join(DIST, name);
const why = labUnavailable({ nft: true });
const MIB = 32;
const FOREIGN = 1000;
const PER_KIND = 150;
const HOSTILE = PER_KIND * HOSTILE_KINDS.length;

const labs: Lab[] = [];
const dirs: string[] = [];
afterAll(async () => {
  for (const lab of labs) await lab.teardown();
  for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true });
});

type Ready = { msiPort: number; port: number; group: string; sha256: string; blocks: number };
type Done = { sent: number; failed: number; byKind?: Record<HostileKind, number> };
type Report = Record<string, unknown> & { drops: Record<string, number>; droppedPackets: number };

describe('lab: hostile and foreign traffic during a transfer (issue 11 point 3)', () => {
  it('drops and counts every kind in its own drops field, never writes one, and the image is byte-exact', async (ctx) => {
    if (!canRun(!why, why ?? '')) return ctx.skip();
    for (const b of ['osdcast.cjs', 'coordinator.cjs', 'lab-forger.cjs']) expect(fs.existsSync(bin(b)), `dist/${b} is built by npm test before vitest runs`).toBe(true);
    const t0 = Date.now();
    const lab = await createLab({ prefix: 'osdhostile', hosts: [{ name: 'coord', host: 1 }, { name: 'rx', host: 10 }, { name: 'forger', host: 66 }] });
    labs.push(lab);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'osdcast-hostile-'));
    dirs.push(dir);
    const coordAddr = lab.address('coord');

    const coord = lab.start('coord', [process.execPath, bin('coordinator.cjs'), '--generate', String(MIB), '--interface', coordAddr, '--rate', '8']);
    const ready = JSON.parse(await coord.line((l) => l.includes('"ready"'))) as Ready;
    // Both take only the coordinator's packets as the session's (each hears the other's on the group).
    const common = ['--group', ready.group, '--port', String(ready.port), '--skip', '300', '--server', coordAddr];
    const foreign = lab.start('forger', [process.execPath, bin('lab-forger.cjs'), ...common, '--iface', lab.address('forger'), '--count', String(FOREIGN)]);
    const hostile = lab.start('coord', [process.execPath, bin('lab-forger.cjs'), ...common, '--iface', coordAddr, '--count', String(HOSTILE), '--every', '8', '--kinds', HOSTILE_KINDS.join(','), '--total-blocks', String(ready.blocks)]);
    await foreign.line((l) => l.includes('"listening"'));
    const { sourcePort } = JSON.parse(await hostile.line((l) => l.includes('"listening"'))) as { sourcePort: number };
    await lab.nft(
      'switch',
      `table bridge hostile {\n chain foreign {\n  type filter hook forward priority 0; policy accept;\n  iifname "p-forger" oifname "p-rx" udp dport ${ready.port} counter\n }\n` +
        ` chain own {\n  type filter hook forward priority 1; policy accept;\n  iifname "p-coord" oifname "p-rx" ip saddr ${coordAddr} udp sport ${sourcePort} udp dport ${ready.port} counter\n }\n}\n`,
    );

    const env = { ...process.env };
    for (const k of ['OSDCAST_SERVER', '_SMSTSLogPath', 'OSDCAST_PASSWORD']) delete env[k];
    const out = path.join(dir, 'image.wim');
    const agent = lab.start('rx', [process.execPath, bin('osdcast.cjs'), 'receive', '--server', `${coordAddr}:${ready.msiPort}`, '--namespace', 'SMSNamespace', '--content', 'PKG00001', '--out', out, '--interface', lab.address('rx'), '--timeout', '45', '--json'], { env });

    const doneForeign = JSON.parse(await foreign.line((l) => l.includes('"done"'), 45_000)) as Done;
    const doneHostile = JSON.parse(await hostile.line((l) => l.includes('"done"'), 45_000)) as Done;
    const { code } = await agent.exited;
    const lines = agent.stdout().trim().split('\n');
    const report = JSON.parse(lines[lines.length - 1]!) as Report;
    const atForeign = await lab.counter('switch', 'bridge', 'hostile', 'foreign');
    const atOwn = await lab.counter('switch', 'bridge', 'hostile', 'own');
    // eslint-disable-next-line no-console
    console.log(`lab hostile: ${MIB} MiB; foreign ${doneForeign.sent} sent, ${atForeign} at the agent's port; own address ${doneHostile.sent} sent (${JSON.stringify(doneHostile.byKind)}), ${atOwn} at the agent's port; drops ${JSON.stringify(report.drops)}, droppedPackets ${report.droppedPackets}; ${((Date.now() - t0) / 1000).toFixed(1)} s`);

    const stats = agent.stderr().split('\n').find((l) => l.includes('"multicast statistics"'));
    expect(code, `agent stderr:\n${agent.stderr().slice(-3000)}`).toBe(0);
    expect(report).toMatchObject({ status: 'ok', exitCode: 0, sha256: ready.sha256, conflictingDuplicates: 0 });
    const file = fs.readFileSync(out);
    expect(file.length).toBe(MIB * 1024 * 1024);
    expect(crypto.createHash('sha256').update(file).digest('hex')).toBe(ready.sha256);

    expect(doneForeign).toMatchObject({ sent: FOREIGN, failed: 0 });
    expect(doneHostile).toMatchObject({ sent: HOSTILE, failed: 0 });
    expect(doneHostile.byKind).toEqual(Object.fromEntries(HOSTILE_KINDS.map((k) => [k, PER_KIND])));
    expect(atForeign).toBe(FOREIGN);
    expect(atOwn).toBe(HOSTILE);
    expect(report.drops, stats).toEqual({ wrongSource: FOREIGN, authFailed: 0, ...doneHostile.byKind });
    expect(report.droppedPackets).toBe(Object.values(report.drops).reduce((a, b) => a + b, 0));
    expect(report.droppedPackets).toBe(FOREIGN + HOSTILE);
    // Every variant reached its check: the agent's own statistics line names the MT decode errors and MA counters.
    const st = JSON.parse(stats!) as { mt: { malformed: Record<string, number> }; ma: { badBlocks: number; outOfRange: number; blocks: number } };
    expect(Object.keys(st.mt.malformed).sort()).toEqual(['bad-count', 'bad-magic', 'checksum', 'trailing', 'truncated', 'unknown-opcode']);
    expect(st.ma.badBlocks).toBeGreaterThan(0);
    expect(st.ma.outOfRange).toBe(PER_KIND);
    expect(st.ma.blocks).toBe(ready.blocks); // each block taken once: nothing injected was stored
  }, 90_000);
});
