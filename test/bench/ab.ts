/**
 * Interleaved A/B of two builds on one loopback cell, with the do-nothing Node listener (floor.ts) beside the
 * agent on the same stream in every run:
 *
 *   node dist/bench.cjs --ab <distA> <distB> [--reps 3] [--size 256] [--drop-percent 0] [--fw-lead-every 32]
 *                       [--json <file>] [--prof <dir>]
 *
 * `<distA>`/`<distB>` are dist/ directories (e.g. a copy of main's build and this checkout's). Runs go
 * A, B, A, B, … (`--reps` each); the coordinator is always this bench's own (dist/coordinator.cjs), so only the
 * agent differs. Per run:
 * - agent µs/datagram: CPU (user + system, every thread) from "joined session" to "every block is on disk" in the
 *   agent's log, over the MT packets it received (`mt.received` of its "multicast statistics" line). Start-up,
 *   the final fdatasync and the SHA-256 of the file are outside that window (the file's SHA-256 is reported
 *   separately, as `hash s`). The CPU comes from a `-r` preload that samples `process.cpuUsage()` every 10 ms, so
 *   it works for any build without changing it;
 * - floor µs/datagram: the listener's own `cpuUs / datagrams` (first datagram to exit);
 * - ratio = agent / floor, per run, then medians per arm;
 * - blocks per write: buffers per `fs.writev` call of the agent (the preload counts them);
 * - MB/s over the same window.
 * With `--prof <dir>` one more run of B is made with `--cpu-prof`, summarised by stage (profile.ts).
 */
import { ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { makeImages } from './e2e';
import { STAGES, stageProfile } from './profile';
import { MiB, fmt, log, summarize } from './util';
import { SEA_EXEC_ARGV } from '../../packaging/node-flags.mjs';

const NS = 'SMSNamespace';
const CONTENT = 'PKG00001';

const PRELOAD = `'use strict';
// osdcast A/B bench: CPU timeline and fs.writev batching of this process, written on 'exit' to $OSDCAST_AB_OUT.
const fs = require('fs');
const out = process.env.OSDCAST_AB_OUT;
if (out) {
  const tl = [];
  const sample = () => { const u = process.cpuUsage(); tl.push(Date.now(), u.user + u.system); };
  sample();
  setInterval(sample, 10).unref();
  let calls = 0, buffers = 0;
  const writev = fs.writev;
  fs.writev = function (fd, bufs, ...rest) { calls++; buffers += bufs.length; return writev.call(this, fd, bufs, ...rest); };
  process.on('exit', () => {
    sample();
    fs.writeFileSync(out, JSON.stringify({ tl, writev: { calls, buffers } }));
  });
}
`;

interface AbArgs {
  a: string;
  b: string;
  reps: number;
  sizeMiB: number;
  dropPercent: number;
  fwLeadEvery: number;
  json?: string;
  prof?: string;
}

export interface AbRun {
  arm: 'A' | 'B';
  dropPercent: number;
  rep: number;
  ok: boolean;
  agentUs: number;
  floorUs: number;
  ratio: number;
  blocksPerWrite: number;
  mbps: number;
  datagrams: number;
  floorDatagrams: number;
  acks: number;
  nacks: number;
  rdata: number;
  hashSeconds: number;
}

function parseAbArgs(argv: string[]): AbArgs {
  const a: AbArgs = { a: path.resolve(argv[0] ?? ''), b: path.resolve(argv[1] ?? ''), reps: 3, sizeMiB: 256, dropPercent: 0, fwLeadEvery: 32 };
  for (let i = 2; i < argv.length; i++) {
    const v = argv[i]!;
    const next = () => argv[++i] ?? '';
    if (v === '--reps') a.reps = Number(next());
    else if (v === '--size') a.sizeMiB = Number(next());
    else if (v === '--drop-percent') a.dropPercent = Number(next());
    else if (v === '--fw-lead-every') a.fwLeadEvery = Number(next());
    else if (v === '--json') a.json = path.resolve(next());
    else if (v === '--prof') a.prof = path.resolve(next());
    else {
      process.stderr.write(`bench --ab: unknown argument ${v}\n`);
      process.exit(2);
    }
  }
  for (const d of [a.a, a.b]) {
    if (!fs.existsSync(path.join(d, 'osdcast.cjs'))) {
      process.stderr.write(`bench --ab: ${d}/osdcast.cjs does not exist\n`);
      process.exit(2);
    }
  }
  if (!(a.reps >= 1 && a.sizeMiB >= 1)) {
    process.stderr.write('bench --ab: --reps and --size must be positive\n');
    process.exit(2);
  }
  return a;
}

/** CPU µs at wall time `t` (ms), interpolated on the preload's timeline. */
function cpuAt(tl: number[], t: number): number {
  for (let i = 2; i < tl.length; i += 2) {
    if (tl[i]! >= t) {
      const t0 = tl[i - 2]!;
      const c0 = tl[i - 1]!;
      const t1 = tl[i]!;
      const c1 = tl[i + 1]!;
      return t1 === t0 ? c1 : c0 + ((c1 - c0) * (t - t0)) / (t1 - t0);
    }
  }
  return tl[tl.length - 1]!;
}

function lines(file: string): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [];
  for (const l of fs.readFileSync(file, 'utf8').split('\n')) {
    if (!l.startsWith('{')) continue;
    try {
      out.push(JSON.parse(l));
    } catch {
      /* partial line */
    }
  }
  return out;
}

class Children {
  private readonly set = new Set<ChildProcess>();
  spawn(args: string[], env: Record<string, string> = {}): ChildProcess {
    const c = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
    this.set.add(c);
    c.on('exit', () => this.set.delete(c));
    return c;
  }
  /** Kills what is still running, each child by its own handle. */
  killAll(): void {
    for (const c of this.set) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  }
}

/** Resolves with the first JSON line the child prints on stdout. */
function firstJson(c: ChildProcess, what: string): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    let out = '';
    let err = '';
    c.stderr!.on('data', (d) => (err += d));
    const t = setTimeout(() => reject(new Error(`${what} not ready after 30 s: ${err}`)), 30_000);
    const onExit = (code: number | null) => reject(new Error(`${what} exited ${code}: ${err}`));
    c.once('exit', onExit);
    c.stdout!.on('data', (d) => {
      out += d;
      const nl = out.indexOf('\n');
      if (nl < 0) return;
      clearTimeout(t);
      c.off('exit', onExit);
      resolve(JSON.parse(out.slice(0, nl)));
    });
  });
}

function exited(c: ChildProcess): Promise<number | null> {
  return c.exitCode !== null || c.signalCode !== null ? Promise.resolve(c.exitCode) : new Promise((r) => c.once('exit', (code) => r(code)));
}

type Cell = Pick<AbArgs, 'sizeMiB' | 'dropPercent' | 'fwLeadEvery'>;

async function oneRun(o: { dist: string; self: string; tmp: string; image: { path: string; sha256: string }; args: Cell; kids: Children; n: number; cpuProf?: string }): Promise<Omit<AbRun, 'arm' | 'rep' | 'dropPercent'>> {
  const { args, kids, tmp, n } = o;
  const coord = kids.spawn([
    path.join(path.dirname(o.self), 'coordinator.cjs'),
    '--file', o.image.path, '--namespace', NS, '--content', CONTENT, '--msi-port', '0', '--port', '0', '--interface', '127.0.0.1',
    '--fw-lead-every', String(args.fwLeadEvery), ...(args.dropPercent ? ['--drop-percent', String(args.dropPercent)] : []),
  ]);
  const coordErr: string[] = [];
  try {
    const ready = await firstJson(coord, 'coordinator');
    coord.stderr!.on('data', (d) => coordErr.push(String(d)));
    const floor = kids.spawn([o.self, '--floor-listener', '--group', String(ready.group), '--port', String(ready.port), '--interface', '127.0.0.1', '--out', path.join(tmp, `floor-${n}.bin`), '--idle-ms', '60000']);
    await firstJson(floor, 'floor listener');
    let floorOut = '';
    floor.stdout!.on('data', (d) => (floorOut += d));
    const ru = path.join(tmp, `ab-${n}.json`);
    const logFile = path.join(tmp, `agent-${n}.log`);
    const out = path.join(tmp, `out-${n}.bin`);
    const agent = kids.spawn(
      [
        ...SEA_EXEC_ARGV, // the binaries' Node flags: the agent as it ships
        ...(o.cpuProf ? ['--cpu-prof', '--cpu-prof-dir', path.dirname(o.cpuProf), '--cpu-prof-name', path.basename(o.cpuProf)] : []),
        '-r', path.join(tmp, 'ab-preload.cjs'), path.join(o.dist, 'osdcast.cjs'), 'receive',
        '--server', `127.0.0.1:${ready.msiPort}`, '--namespace', NS, '--content', CONTENT, '--interface', '127.0.0.1',
        '--out', out, '--json', '--log-file', logFile, '--sha256', o.image.sha256, '--timeout', '600',
      ],
      { OSDCAST_AB_OUT: ru },
    );
    let agentOut = '';
    agent.stdout!.on('data', (d) => (agentOut += d));
    agent.stderr!.on('data', () => undefined);
    const code = await exited(agent);
    floor.kill('SIGTERM');
    await exited(floor);
    fs.rmSync(out, { force: true });
    fs.rmSync(path.join(tmp, `floor-${n}.bin`), { force: true });
    const report = JSON.parse(agentOut.trim().split('\n').pop() || '{}') as Record<string, unknown>;
    const fl = JSON.parse(floorOut.trim().split('\n').pop() || '{}') as { datagrams: number; cpuUs: number };
    const pre = JSON.parse(fs.readFileSync(ru, 'utf8')) as { tl: number[]; writev: { calls: number; buffers: number } };
    let joined = NaN;
    let done = NaN;
    let hashStart = NaN;
    let mt: Record<string, number> = {};
    for (const r of lines(logFile)) {
      const msg = String(r.msg ?? '');
      const t = Date.parse(String(r.time));
      if (msg.startsWith('joined session')) joined = t;
      else if (msg.startsWith('every block is on disk')) done = t;
      else if (msg === 'multicast statistics') {
        mt = r.mt as Record<string, number>;
        hashStart = t;
      }
    }
    const cpuUs = cpuAt(pre.tl, done) - cpuAt(pre.tl, joined);
    const datagrams = Number(mt.received ?? NaN);
    const agentUs = cpuUs / datagrams;
    const floorUs = fl.cpuUs / fl.datagrams;
    const exitT = pre.tl[pre.tl.length - 2]!;
    return {
      ok: code === 0 && report.sha256 === o.image.sha256,
      agentUs,
      floorUs,
      ratio: agentUs / floorUs,
      blocksPerWrite: pre.writev.calls ? pre.writev.buffers / pre.writev.calls : NaN,
      mbps: (args.sizeMiB * MiB) / 1e3 / (done - joined),
      datagrams,
      floorDatagrams: fl.datagrams,
      acks: Number(mt.acksSent ?? NaN),
      nacks: Number(mt.nacksSent ?? NaN),
      rdata: Number(mt.rdata ?? NaN),
      hashSeconds: (exitT - hashStart) / 1000,
    };
  } finally {
    coord.kill('SIGTERM');
    await exited(coord);
  }
}

const med = (xs: number[]): number => summarize(xs.filter(Number.isFinite)).median;

export function renderAb(args: Pick<AbArgs, 'a' | 'b' | 'reps' | 'sizeMiB' | 'dropPercent' | 'fwLeadEvery'>, runs: AbRun[]): string {
  const out: string[] = [];
  out.push(`A = ${args.a}, B = ${args.b}; ${args.sizeMiB} MiB, drop ${args.dropPercent} %, fw-lead ${args.fwLeadEvery}, ${args.reps} reps interleaved`);
  out.push('| arm | runs ok | agent µs/datagram | floor µs/datagram | ratio | blocks/write | MB/s | ACKs | NACKs | RDATA |');
  out.push('|---|---|---|---|---|---|---|---|---|---|');
  for (const arm of ['A', 'B'] as const) {
    const r = runs.filter((x) => x.arm === arm);
    const v = (f: (x: AbRun) => number, d = 2) => `${fmt(med(r.map(f)), d)} (${r.map((x) => fmt(f(x), d)).join(', ')})`;
    out.push(`| ${arm} | ${r.filter((x) => x.ok).length}/${r.length} | ${v((x) => x.agentUs)} | ${v((x) => x.floorUs)} | ${v((x) => x.ratio)} | ${fmt(med(r.map((x) => x.blocksPerWrite)), 1)} | ${fmt(med(r.map((x) => x.mbps)), 1)} | ${fmt(med(r.map((x) => x.acks)), 0)} | ${fmt(med(r.map((x) => x.nacks)), 0)} | ${fmt(med(r.map((x) => x.rdata)), 0)} |`);
  }
  return out.join('\n') + '\n';
}

export async function runAb(argv: string[], self: string): Promise<void> {
  const args = parseAbArgs(argv);
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'osdcast-ab-'));
  fs.writeFileSync(path.join(tmp, 'ab-preload.cjs'), PRELOAD);
  const kids = new Children();
  const onSignal = () => {
    kids.killAll();
    process.exit(130);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    const image = makeImages(tmp, [args.sizeMiB]).files.get(args.sizeMiB)!;
    const runs: AbRun[] = [];
    let n = 0;
    for (let rep = 1; rep <= args.reps; rep++) {
      for (const arm of ['A', 'B'] as const) {
        const r = await oneRun({ dist: arm === 'A' ? args.a : args.b, self, tmp, image, args, kids, n: ++n });
        runs.push({ arm, rep, dropPercent: args.dropPercent, ...r });
        log(`${arm}#${rep}: ${r.ok ? 'ok' : 'FAILED'} agent ${fmt(r.agentUs, 2)} µs/dg, floor ${fmt(r.floorUs, 2)} µs/dg, ratio ${fmt(r.ratio, 2)}, ${fmt(r.blocksPerWrite, 1)} blocks/write, ${fmt(r.mbps)} MB/s, acks ${r.acks}, nacks ${r.nacks}, rdata ${r.rdata}, hash ${fmt(r.hashSeconds, 2)} s`);
      }
    }
    const text = renderAb(args, runs);
    process.stdout.write(text);
    if (args.json) fs.writeFileSync(args.json, JSON.stringify({ args, runs }, null, 1));
    if (args.prof) {
      fs.mkdirSync(args.prof, { recursive: true });
      const file = path.join(args.prof, 'agent-b.cpuprofile');
      await oneRun({ dist: args.b, self, tmp, image, args, kids, n: ++n, cpuProf: file });
      const st = stageProfile(file);
      process.stdout.write(`\nB, --cpu-prof (${(st.totalMs / 1000).toFixed(1)} s of samples): share of non-idle samples by stage\n`);
      for (const s of STAGES) process.stdout.write(`  ${s.name.padEnd(28)} ${fmt(st.stages[s.name], 1)} %\n`);
      process.stdout.write(`  ${'other'.padEnd(28)} ${fmt(st.stages.other, 1)} %\n`);
    }
  } finally {
    kids.killAll();
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

/**
 * For `npm run bench`: this build's agent beside the floor listener on one loopback cell, `reps` runs (the same
 * measurement as --ab, one arm). Children are ended by their own handles before this returns.
 */
export async function floorRuns(o: { dist: string; self: string; tmp: string; image: { path: string; sha256: string }; cell: Cell; reps: number }): Promise<AbRun[]> {
  fs.writeFileSync(path.join(o.tmp, 'ab-preload.cjs'), PRELOAD);
  const kids = new Children();
  const runs: AbRun[] = [];
  try {
    for (let rep = 1; rep <= o.reps; rep++) {
      const r = await oneRun({ dist: o.dist, self: o.self, tmp: o.tmp, image: o.image, args: o.cell, kids, n: 1000 * (o.cell.dropPercent + 1) + rep });
      runs.push({ arm: 'A', rep, dropPercent: o.cell.dropPercent, ...r });
      log(`floor cell drop ${o.cell.dropPercent} % #${rep}: agent ${fmt(r.agentUs, 2)} µs/dg, floor ${fmt(r.floorUs, 2)} µs/dg, ratio ${fmt(r.ratio, 2)}, ${fmt(r.blocksPerWrite, 1)} blocks/write`);
    }
  } finally {
    kids.killAll();
  }
  return runs;
}
