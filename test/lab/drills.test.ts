/**
 * Link cuts in the namespace lab (issue 11 point 2), one lab, one coordinator (10.77.0.1, also the DP's HTTP) and
 * three agents cut at the same moment, so the three drills share one wall-clock minute:
 *
 * - rx15: cut for 15 s, shorter than the 30 s InactivityTimeout: it stays in the session and completes there,
 *   byte-exact, everything by multicast (no HTTP source given);
 * - rx45: cut for 45 s, no HTTP source: exit 4 (errorKind "inactivity") about 30 s into the cut, no file at --out,
 *   `.partial` and the state file kept for a resume;
 * - rx45h: cut for 45 s with an HTTP source: InactivityTimeout at 30 s, falls back to HTTP (the link is still cut:
 *   its first requests fail and are retried) and completes byte-exact once the link is back.
 *
 * A cut is nftables in the bridge dropping every frame from and to the agent's bridge port (Lab.cut). The
 * InactivityTimeout is the agent's default 30 s (MS-WDSMT 3.2.1.2), never shortened here.
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
const MIB = 1024 * 1024;
const SIZE_MIB = 24;

const labs: Lab[] = [];
const dirs: string[] = [];
afterAll(async () => {
  for (const lab of labs) await lab.teardown();
  for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true });
});

type Ready = { msiPort: number; sha256: string; httpUrl: string };
type Report = Record<string, unknown>;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('lab: link cuts (issue 11 fault drills)', () => {
  it('cut 15 s: completes in-session; cut 45 s: exit 4 with .partial and state kept, or HTTP fallback byte-exact', async (ctx) => {
    if (!canRun(!why, why ?? '')) return ctx.skip();
    for (const b of ['osdcast.cjs', 'coordinator.cjs']) expect(fs.existsSync(bin(b)), `dist/${b} is built by npm test before vitest runs`).toBe(true);
    const rxs = ['rx15', 'rx45', 'rx45h'] as const;
    const lab = await createLab({ prefix: 'osddrill', hosts: [{ name: 'coord', host: 1 }, { name: 'rx15', host: 10 }, { name: 'rx45', host: 11 }, { name: 'rx45h', host: 12 }] });
    labs.push(lab);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'osdcast-drills-lab-'));
    dirs.push(dir);

    // 24 MiB at 3 MB/s: about 8 s of transfer, so the cut lands in the middle of it.
    const coord = lab.start('coord', [process.execPath, bin('coordinator.cjs'), '--generate', String(SIZE_MIB), '--interface', lab.address('coord'), '--rate', '3', '--http-port', '80']);
    const ready = JSON.parse(await coord.line((l) => l.includes('"ready"'))) as Ready;

    const env = { ...process.env };
    for (const k of ['OSDCAST_SERVER', '_SMSTSLogPath', 'OSDCAST_PASSWORD']) delete env[k];
    const out = (h: string) => path.join(dir, `${h}.wim`);
    const agents = Object.fromEntries(
      rxs.map((h) => {
        const http = h === 'rx45h' ? ['--http', ready.httpUrl] : [];
        const argv = [process.execPath, bin('osdcast.cjs'), 'receive', '--server', `${lab.address('coord')}:${ready.msiPort}`, '--namespace', 'SMSNamespace', '--content', 'PKG00001', '--out', out(h), '--interface', lab.address(h), ...http, '--timeout', '150', '--json'];
        const p = lab.start(h, argv, { env });
        return [h, { p, exited: p.exited.then((e) => ({ ...e, at: Date.now() })) }];
      }),
    );
    // All three in the session, and about 2 s of data: then cut them all.
    for (let i = 0; (coord.stderr().match(/client \d+ joined/g) ?? []).length < 3; i++) {
      if (i > 200) throw new Error(`not all agents joined:\n${coord.stderr()}`);
      await sleep(50);
    }
    await sleep(2000);
    await Promise.all(rxs.map((h) => lab.cut(h, true)));
    const cutAt = Date.now();
    await sleep(15_000);
    const dropped15 = await lab.cutDropped('rx15');
    await lab.cut('rx15', false);
    await sleep(30_000);
    const dropped45 = await lab.cutDropped('rx45');
    await Promise.all([lab.cut('rx45', false), lab.cut('rx45h', false)]);

    const res = Object.fromEntries(
      await Promise.all(
        rxs.map(async (h) => {
          const e = await agents[h]!.exited;
          const p = agents[h]!.p;
          const last = p.stdout().trim().split('\n').pop()!;
          return [h, { code: e.code, after: (e.at - cutAt) / 1000, report: JSON.parse(last) as Report, stderr: p.stderr() }];
        }),
      ),
    );
    const digest = (f: string) => crypto.createHash('sha256').update(fs.readFileSync(f)).digest('hex');
    // eslint-disable-next-line no-console
    console.log(
      `lab drills: dropped during the cut rx15 ${dropped15.from}+${dropped15.to}, rx45 ${dropped45.from}+${dropped45.to} frames; ` +
        rxs.map((h) => `${h} exit ${res[h]!.code} at cut+${res[h]!.after.toFixed(1)} s (multicast ${res[h]!.report.multicastBytes}, http ${res[h]!.report.httpBytes}${res[h]!.report.fallbackCause ? `, ${res[h]!.report.fallbackCause}` : ''}${res[h]!.report.errorKind ? `, ${res[h]!.report.errorKind}` : ''})`).join('; '),
    );
    const size = SIZE_MIB * MIB;
    // The cuts dropped the session's packets towards the agents (what an agent sends while nothing arrives is
    // little: a non-master sends no ACK and sees no gap to NACK; both directions are dropped, counted separately).
    expect(dropped15.to).toBeGreaterThan(1000);
    expect(dropped45.to).toBeGreaterThan(1000);

    // 15 s: in-session, multicast only, byte-exact.
    const r15 = res.rx15!;
    expect(r15.code, r15.stderr.slice(-3000)).toBe(0);
    expect(r15.report).toMatchObject({ status: 'ok', exitCode: 0, sha256: ready.sha256, multicastBytes: size, httpBytes: 0 });
    expect(r15.report.fallbackCause).toBeUndefined();
    expect(r15.after).toBeGreaterThan(15);
    expect(digest(out('rx15'))).toBe(ready.sha256);

    // 45 s, no HTTP: exit 4 at the InactivityTimeout (30 s into the cut), files kept for a resume.
    const r45 = res.rx45!;
    expect(r45.code, r45.stderr.slice(-3000)).toBe(4);
    expect(r45.report).toMatchObject({ status: 'error', exitCode: 4, errorKind: 'inactivity', httpBytes: 0 });
    expect(r45.report.error).toMatch(/InactivityTimeout/);
    expect(r45.after).toBeGreaterThanOrEqual(29);
    expect(r45.after).toBeLessThan(40);
    expect(r45.report.multicastBytes as number).toBeGreaterThan(0);
    expect(r45.report.multicastBytes as number).toBeLessThan(size);
    expect(fs.existsSync(out('rx45'))).toBe(false);
    expect(fs.existsSync(`${out('rx45')}.partial`)).toBe(true);
    expect(fs.existsSync(`${out('rx45')}.osdcast`)).toBe(true);

    // 45 s with HTTP: InactivityTimeout, then HTTP, which gets through once the link is back: byte-exact.
    const r45h = res.rx45h!;
    expect(r45h.code, r45h.stderr.slice(-3000)).toBe(0);
    expect(r45h.report).toMatchObject({ status: 'ok', exitCode: 0, sha256: ready.sha256, fallbackCause: 'inactivity' });
    expect(r45h.report.fallback).toMatch(/InactivityTimeout/);
    expect(r45h.report.httpBytes as number).toBeGreaterThan(0);
    expect((r45h.report.multicastBytes as number) + (r45h.report.httpBytes as number)).toBe(size);
    expect(r45h.after).toBeGreaterThan(45);
    expect(digest(out('rx45h'))).toBe(ready.sha256);
  }, 170_000);
});
