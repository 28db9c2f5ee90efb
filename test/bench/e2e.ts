/**
 * 3–5. End to end, with real processes: the coordinator as a child (`node dist/coordinator.cjs`), the agent as
 * children (`node dist/osdcast.cjs receive … --json --log-file …`), on loopback multicast; and HTTP-only from
 * test/coordinator/http.ts's content server (in this process).
 *
 * Each child is started with `node -r <ru-preload.cjs>`: a few lines that, on the process's 'exit' event, write
 * process.resourceUsage() (user/system CPU of every thread, max RSS) and /proc/self/io to a JSON file. That is
 * exact, where polling /proc/<pid>/stat would miss the last interval. The agent's own report carries maxRssBytes
 * too; both are recorded.
 */
import { fileSource } from '../coordinator/udp';
import { ChildProcess, spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { startContentServer } from '../coordinator/http';
import { MiB, fmt, loadavg, log, machineCpu, nowNs, sysctl, udpCounters } from './util';
import { SEA_EXEC_ARGV } from '../../packaging/node-flags.mjs';

export const NAMESPACE = 'WDS:Bench/image.wim/1';
export const CONTENT = 'image.wim';

export const PRELOAD = `'use strict';
// osdcast bench: resource usage of this process, written on 'exit' to $OSDCAST_BENCH_RU.
const fs = require('fs');
const { monitorEventLoopDelay } = require('perf_hooks');
const out = process.env.OSDCAST_BENCH_RU;
if (out) {
  const h = monitorEventLoopDelay({ resolution: 10 });
  // Enabled after the main module has loaded, so start-up compilation does not count as loop delay.
  setImmediate(() => h.enable());
  process.on('exit', (code) => {
    h.disable();
    const ru = process.resourceUsage();
    const io = {};
    let hwm = 0;
    try {
      for (const l of fs.readFileSync('/proc/self/io', 'utf8').split('\\n')) { const m = /^(\\w+): (\\d+)/.exec(l); if (m) io[m[1]] = Number(m[2]); }
      hwm = Number(/VmHWM:\\s+(\\d+)/.exec(fs.readFileSync('/proc/self/status', 'utf8'))[1]);
    } catch {}
    let mainTicks = -1;
    try {
      const st = fs.readFileSync('/proc/self/task/' + process.pid + '/stat', 'utf8');
      const f = st.slice(st.lastIndexOf(')') + 2).split(' ');
      mainTicks = Number(f[11]) + Number(f[12]);
    } catch {}
    fs.writeFileSync(out, JSON.stringify({ code, userUs: ru.userCPUTime, sysUs: ru.systemCPUTime, maxRssKiB: ru.maxRSS, hwmKiB: hwm, mainThreadS: mainTicks >= 0 ? mainTicks / 100 : undefined, vcsw: ru.voluntaryContextSwitches, ivcsw: ru.involuntaryContextSwitches, io,
      loopMaxMs: h.max / 1e6, loopP99Ms: h.percentile(99) / 1e6, loopMeanMs: h.mean / 1e6 }));
  });
}
`;

export interface Images {
  dir: string;
  files: Map<number, { path: string; sha256: string }>;
}

/** Random images of the given sizes (MiB), written once and reused by every run. */
export function makeImages(dir: string, sizesMiB: number[]): Images {
  const files = new Map<number, { path: string; sha256: string }>();
  const chunk = Buffer.allocUnsafe(4 * MiB);
  for (const mib of [...new Set(sizesMiB)].sort((a, b) => a - b)) {
    const t0 = nowNs();
    const file = path.join(dir, `image-${mib}MiB.bin`);
    const h = crypto.createHash('sha256');
    const fd = fs.openSync(file, 'w');
    for (let done = 0; done < mib * MiB; done += chunk.length) {
      crypto.randomFillSync(chunk);
      h.update(chunk);
      fs.writeSync(fd, chunk);
    }
    fs.closeSync(fd);
    files.set(mib, { path: file, sha256: h.digest('hex') });
    log(`image ${mib} MiB written in ${(Number(nowNs() - t0) / 1e9).toFixed(1)} s`);
  }
  return { dir, files };
}

export interface Usage {
  code: number;
  userUs: number;
  sysUs: number;
  /** getrusage ru_maxrss: on Linux this includes the spawning parent's RSS at fork time (see performance.md) */
  maxRssKiB: number;
  /** VmHWM of /proc/self/status at exit: the peak RSS of this program's own address space */
  hwmKiB: number;
  /** CPU of the main (JS) thread alone, from /proc/self/task/<pid>/stat (10 ms ticks) */
  mainThreadS?: number;
  loopMaxMs: number;
  loopP99Ms: number;
  loopMeanMs: number;
  vcsw: number;
  ivcsw: number;
  io: Record<string, number>;
}

export interface AgentResult {
  exitCode: number;
  report: Record<string, unknown> | undefined;
  usage: Usage | undefined;
  /** joined → "every block is on disk", from the agent's log timestamps (s) */
  transferSeconds: number | undefined;
  /** agent start → exit, measured here (s) */
  wallSeconds: number;
  granted: number | undefined;
  grantedWarned: boolean;
  mt: Record<string, unknown> | undefined;
  ma: Record<string, unknown> | undefined;
  sha256ok: boolean;
  logFile: string;
  /** RSS of this (the parent) process when the agent was spawned, MiB */
  parentRssMiB: number;
}

export interface RunResult {
  label: string;
  pass: number;
  sizeMiB: number;
  receivers: number;
  dropPercent: number;
  fwLeadEvery: number;
  agents: AgentResult[];
  coordinator: { usage: Usage | undefined; stats: Record<string, number> };
  rcvbufErrors: number;
  rmemMax: string;
  loadBefore: string;
  loadAfter: string;
  /** CPU the rest of the machine used during the run (machine busy time − this run's processes − the bench itself), in cores */
  othersCores: number;
  /** hypervisor steal during the run, in cores */
  stealCores: number;
  wallSeconds: number;
  /** HTTP-only runs: the content server child */
  server?: { usage: Usage | undefined; requests: number };
  profiles?: { agent?: string; coordinator?: string };
}

export interface McOptions {
  label: string;
  pass: number;
  sizeMiB: number;
  image: { path: string; sha256: string };
  receivers: number;
  dropPercent?: number;
  fwLeadEvery?: number;
  cacheMiB?: number;
  /** write V8 CPU profiles of the first agent and the coordinator into this directory */
  profileDir?: string;
}

export class Runner {
  readonly preload: string;
  private seq = 0;
  private readonly children = new Set<ChildProcess>();

  constructor(
    readonly tmp: string,
    readonly dist: string,
    /** this bundle (dist/bench.cjs), re-run as the HTTP content server */
    readonly self: string,
  ) {
    this.preload = path.join(tmp, 'ru-preload.cjs');
    fs.writeFileSync(this.preload, PRELOAD);
  }

  /** Kills children still running (after an error), each by its own handle. */
  cleanup(): void {
    for (const c of this.children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  }

  private spawnNode(script: string, args: string[], ruFile: string, nodeArgs: string[] = []): ChildProcess {
    const c = spawn(process.execPath, [...nodeArgs, '-r', this.preload, script, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, OSDCAST_BENCH_RU: ruFile } });
    this.children.add(c);
    c.on('exit', () => this.children.delete(c));
    return c;
  }

  /** Starts a child that prints one JSON line when ready; resolves with that line. */
  private async startServerChild(script: string, args: string[], nodeArgs: string[] = []): Promise<{ child: ChildProcess; ready: Record<string, unknown>; stderr: () => string; ru: string }> {
    const ru = path.join(this.tmp, `server-${++this.seq}.json`);
    const child = this.spawnNode(script, args, ru, nodeArgs);
    let err = '';
    child.stderr!.on('data', (d) => (err += d));
    const ready = await new Promise<Record<string, unknown>>((resolve, reject) => {
      let out = '';
      const t = setTimeout(() => reject(new Error(`${path.basename(script)} not ready after 30 s: ${err}`)), 30_000);
      const onExit = (c: number | null) => reject(new Error(`${path.basename(script)} exited ${c}: ${err}`));
      child.stdout!.on('data', (d) => {
        out += d;
        const line = out.split('\n').find((l) => l.startsWith('{'));
        if (line) {
          clearTimeout(t);
          child.off('exit', onExit);
          resolve(JSON.parse(line));
        }
      });
      child.once('exit', onExit);
    });
    return { child, ready, stderr: () => err, ru };
  }

  private async stopChild(child: ChildProcess, ru: string): Promise<Usage | undefined> {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    }
    return readUsage(ru);
  }

  private runAgent(args: string[], out: string, sha256: string, nodeArgs: string[] = []): Promise<AgentResult> {
    const n = ++this.seq;
    const ru = path.join(this.tmp, `agent-${n}.json`);
    const logFile = path.join(this.tmp, `agent-${n}.log`);
    const parentRssMiB = process.memoryUsage().rss / MiB;
    const t0 = nowNs();
    // The binaries' Node flags, so the agent measured here is the one that ships (its peak RSS above all).
    const child = this.spawnNode(path.join(this.dist, 'osdcast.cjs'), ['receive', ...args, '--namespace', NAMESPACE, '--content', CONTENT, '--out', out, '--json', '--log-file', logFile, '--sha256', sha256, '--timeout', '600'], ru, [...SEA_EXEC_ARGV, ...nodeArgs]);
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d) => (stdout += d));
    child.stderr!.on('data', (d) => (stderr += d));
    return new Promise((resolve) => {
      child.on('exit', (code) => {
        const wallSeconds = Number(nowNs() - t0) / 1e9;
        const last = stdout.trim().split('\n').pop() ?? '';
        let report: Record<string, unknown> | undefined;
        try {
          report = JSON.parse(last);
        } catch {
          report = undefined;
        }
        const parsed = parseAgentLog(logFile);
        if (code !== 0) log(`agent exit ${code}: ${report?.error ?? ''} ${stderr.slice(0, 500)} (log ${logFile})`);
        resolve({ exitCode: code ?? -1, report, usage: readUsage(ru), wallSeconds, logFile, parentRssMiB, sha256ok: report?.sha256 === sha256, ...parsed });
      });
    });
  }

  async multicast(o: McOptions): Promise<RunResult> {
    const extra: string[] = [];
    if (o.dropPercent) extra.push('--drop-percent', String(o.dropPercent));
    // Always explicit: the coordinator's default is 32 (protocol-notes #45); 0 here is an ACK per ODATA.
    extra.push('--fw-lead-every', String(o.fwLeadEvery ?? 0));
    const prof = (name: string) => (o.profileDir ? ['--cpu-prof', '--cpu-prof-dir', o.profileDir, '--cpu-prof-name', `${name}.cpuprofile`] : []);
    const loadBefore = loadavg();
    const rmemMax = sysctl('net.core.rmem_max');
    const udp0 = udpCounters();
    const m0 = machineCpu();
    const self0 = process.cpuUsage();
    const t0 = nowNs();
    const coord = await this.startServerChild(
      path.join(this.dist, 'coordinator.cjs'),
      ['--file', o.image.path, '--namespace', NAMESPACE, '--content', CONTENT, '--msi-port', '0', '--port', '0', '--interface', '127.0.0.1', ...extra],
      prof('coordinator'),
    );
    const outs = Array.from({ length: o.receivers }, (_, i) => path.join(this.tmp, `out-${this.seq}-${i}.bin`));
    const agents = await Promise.all(
      outs.map((out, i) =>
        this.runAgent(['--server', `127.0.0.1:${coord.ready.msiPort}`, '--interface', '127.0.0.1', ...(o.cacheMiB !== undefined ? ['--cache', String(o.cacheMiB)] : [])], out, o.image.sha256, i === 0 ? prof('agent') : []),
      ),
    );
    const wallSeconds = Number(nowNs() - t0) / 1e9;
    const udp1 = udpCounters();
    const usage = await this.stopChild(coord.child, coord.ru);
    const others = othersCpu(m0, self0, [usage, ...agents.map((a) => a.usage)], Number(nowNs() - t0) / 1e9);
    for (const out of outs) fs.rmSync(out, { force: true });
    const r: RunResult = {
      label: o.label,
      pass: o.pass,
      sizeMiB: o.sizeMiB,
      receivers: o.receivers,
      dropPercent: o.dropPercent ?? 0,
      fwLeadEvery: o.fwLeadEvery ?? 0,
      agents,
      coordinator: { usage, stats: parseCoordinatorStats(coord.stderr()) },
      rcvbufErrors: (udp1.RcvbufErrors ?? 0) - (udp0.RcvbufErrors ?? 0),
      rmemMax,
      loadBefore,
      loadAfter: loadavg(),
      ...others,
      wallSeconds,
      profiles: o.profileDir ? { agent: path.join(o.profileDir, 'agent.cpuprofile'), coordinator: path.join(o.profileDir, 'coordinator.cpuprofile') } : undefined,
    };
    log(
      `${o.label} #${o.pass}: ${agents.map((a) => `${a.exitCode === 0 ? 'ok' : `exit ${a.exitCode}`} ${fmt(transferMBps(a, o.sizeMiB))} MB/s cpu ${fmt(cpuSeconds(a.usage))} s hwm ${a.usage ? (a.usage.hwmKiB / 1024).toFixed(0) : '?'} MiB`).join('; ')}` +
        `; coordinator cpu ${fmt(cpuSeconds(usage))} s; wall ${wallSeconds.toFixed(1)} s; others ${r.othersCores.toFixed(2)} cores; load ${r.loadAfter}`,
    );
    return r;
  }

  async httpOnly(o: { label: string; pass: number; sizeMiB: number; image: { path: string; sha256: string } }): Promise<RunResult> {
    const srv = await this.startServerChild(this.self, ['--serve-http', o.image.path, `/SMS_DP_SMSPKG$/BENCH001/${CONTENT}`]);
    const loadBefore = loadavg();
    const rmemMax = sysctl('net.core.rmem_max');
    const m0 = machineCpu();
    const self0 = process.cpuUsage();
    const t0 = nowNs();
    const out = path.join(this.tmp, `out-http-${++this.seq}.bin`);
    const agent = await this.runAgent(['--http-only', '--http', String(srv.ready.url)], out, o.image.sha256);
    const wallSeconds = Number(nowNs() - t0) / 1e9;
    const usage = await this.stopChild(srv.child, srv.ru);
    const others = othersCpu(m0, self0, [usage, agent.usage], Number(nowNs() - t0) / 1e9);
    const requests = Number(/requests (\d+)/.exec(srv.stderr())?.[1] ?? NaN);
    fs.rmSync(out, { force: true });
    const r: RunResult = {
      label: o.label,
      pass: o.pass,
      sizeMiB: o.sizeMiB,
      receivers: 1,
      dropPercent: 0,
      fwLeadEvery: 0,
      agents: [agent],
      coordinator: { usage: undefined, stats: {} },
      rcvbufErrors: 0,
      rmemMax,
      loadBefore,
      loadAfter: loadavg(),
      ...others,
      wallSeconds,
      server: { usage, requests },
    };
    log(`${o.label} #${o.pass}: ${agent.exitCode === 0 ? 'ok' : `exit ${agent.exitCode}`} ${fmt(totalMBps(agent, o.sizeMiB))} MB/s cpu ${fmt(cpuSeconds(agent.usage))} s hwm ${agent.usage ? (agent.usage.hwmKiB / 1024).toFixed(0) : '?'} MiB; server cpu ${fmt(cpuSeconds(usage))} s, ${requests} requests`);
    return r;
  }
}

/** `node dist/bench.cjs --serve-http <file> <path>`: test/coordinator/http.ts serving a file; one JSON line when ready. */
export async function serveHttp(file: string, urlPath: string): Promise<void> {
  const content = fileSource(file);
  const server = await startContentServer({ source: content.source, path: urlPath });
  process.stdout.write(JSON.stringify({ event: 'ready', url: server.url }) + '\n');
  const stop = async () => {
    process.stderr.write(`requests ${server.requests} bytes ${server.bytesServed}\n`);
    await server.stop();
    content.close();
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop());
  process.on('SIGINT', () => void stop());
}

/** Machine CPU during a run that was not ours: busy time − our children − this process, per second of wall time. */
function othersCpu(m0: { busy: number; steal: number }, self0: NodeJS.CpuUsage, ours: (Usage | undefined)[], wall: number): { othersCores: number; stealCores: number } {
  const m1 = machineCpu();
  const self = process.cpuUsage(self0);
  const mine = ours.reduce((s, u) => s + (u ? (u.userUs + u.sysUs) / 1e6 : 0), 0) + (self.user + self.system) / 1e6;
  return { othersCores: Math.max(0, m1.busy - m0.busy - mine) / wall, stealCores: (m1.steal - m0.steal) / wall };
}

function readUsage(file: string): Usage | undefined {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch {
    return undefined;
  }
}

/** The coordinator's "stats: odata 1, rdata 2, … acks 3 (0 rejected) …" line as numbers. */
function parseCoordinatorStats(stderr: string): Record<string, number> {
  const line = /stats: (.*)/.exec(stderr)?.[1] ?? '';
  const out: Record<string, number> = {};
  for (const m of line.matchAll(/([a-z ]+?) (\d+)/g)) out[m[1]!.trim().replace(/ /g, '_')] = Number(m[2]);
  const rej = /acks \d+ \((\d+) rejected\)/.exec(line);
  if (rej) out.acks_rejected = Number(rej[1]);
  return out;
}

function parseAgentLog(file: string): Pick<AgentResult, 'transferSeconds' | 'granted' | 'grantedWarned' | 'mt' | 'ma'> {
  let joined: number | undefined;
  let done: number | undefined;
  let first: number | undefined;
  let granted: number | undefined;
  let grantedWarned = false;
  let mt: Record<string, unknown> | undefined;
  let ma: Record<string, unknown> | undefined;
  let text = '';
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    /* no log */
  }
  for (const line of text.split('\n')) {
    if (!line.startsWith('{')) continue;
    let r: Record<string, unknown>;
    try {
      r = JSON.parse(line);
    } catch {
      continue;
    }
    const t = Date.parse(String(r.time));
    const msg = String(r.msg ?? '');
    if (first === undefined && /^content /.test(msg)) first = t;
    if (msg.startsWith('joined session')) joined = t;
    if (msg.startsWith('every block is on disk')) done = t;
    if (typeof r.granted === 'number') {
      granted = r.granted;
      grantedWarned = r.level === 40;
    }
    if (msg === 'multicast statistics') {
      mt = r.mt as Record<string, unknown>;
      ma = r.ma as Record<string, unknown>;
    }
  }
  const start = joined ?? first;
  return { transferSeconds: start !== undefined && done !== undefined ? (done - start) / 1000 : undefined, granted, grantedWarned, mt, ma };
}

export function cpuSeconds(u: Usage | undefined): number | undefined {
  return u ? (u.userUs + u.sysUs) / 1e6 : undefined;
}
/** MB/s (10^6 bytes) over joined → all blocks on disk. */
export function transferMBps(a: AgentResult, sizeMiB: number): number | undefined {
  return a.exitCode === 0 && a.transferSeconds ? (sizeMiB * MiB) / 1e6 / a.transferSeconds : undefined;
}
/** MB/s over the agent's whole run (its report's `seconds`: session set-up, transfer, fdatasync, SHA-256). */
export function totalMBps(a: AgentResult, sizeMiB: number): number | undefined {
  const s = Number(a.report?.seconds);
  return a.exitCode === 0 && s > 0 ? (sizeMiB * MiB) / 1e6 / s : undefined;
}
