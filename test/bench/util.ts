/**
 * Small helpers for the benchmarks: timing loops, machine facts, /proc readers and number formatting.
 * Nothing here asserts a speed: benchmarks measure and report, they never pass or fail on a number.
 */
import fs from 'node:fs';
import os from 'node:os';
import { execFileSync } from 'node:child_process';

export const nowNs = (): bigint => process.hrtime.bigint();

export interface LoopResult {
  /** ns per operation, one value per timed batch (sorted ascending). */
  batches: number[];
  min: number;
  median: number;
  max: number;
  ops: number;
}

/**
 * Times `fn(i)` in batches of `batch` calls: one warm-up period, then `rounds` timed batches. `fn` returns a
 * number that is folded into a sink so the work cannot be optimised away.
 */
export function timeLoop(fn: (i: number) => number, o: { batch: number; rounds: number; warmupMs?: number }): LoopResult {
  let sink = 0;
  const warmEnd = Date.now() + (o.warmupMs ?? 200);
  let i = 0;
  while (Date.now() < warmEnd) for (let k = 0; k < o.batch; k++) sink += fn(i++);
  const batches: number[] = [];
  for (let r = 0; r < o.rounds; r++) {
    const t0 = nowNs();
    for (let k = 0; k < o.batch; k++) sink += fn(i++);
    batches.push(Number(nowNs() - t0) / o.batch);
  }
  if (sink === 0.123456789) process.stdout.write(''); // keeps `sink` alive
  return summarize(batches, o.batch * o.rounds);
}

export function summarize(values: number[], ops = values.length): LoopResult {
  const s = [...values].sort((a, b) => a - b);
  return { batches: s, min: s[0]!, median: s[Math.floor((s.length - 1) / 2)]!, max: s[s.length - 1]!, ops };
}

export function loadavg(): string {
  return os.loadavg().map((x) => x.toFixed(2)).join(' ');
}

export function sysctl(name: string): string {
  try {
    return fs.readFileSync(`/proc/sys/${name.replace(/\./g, '/')}`, 'utf8').trim();
  } catch {
    return '?';
  }
}

function sh(cmd: string, args: string[]): string {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return '?';
  }
}

export interface MachineInfo {
  date: string;
  host: string;
  cpu: string;
  cpus: number;
  memGiB: number;
  kernel: string;
  os: string;
  node: string;
  v8: string;
  rmemMax: string;
  wmemMax: string;
  loadStart: string;
  gitCommit: string;
  fs: string;
}

export function machineInfo(tmp: string): MachineInfo {
  let osName = '?';
  try {
    const m = /^PRETTY_NAME="?([^"\n]*)"?/m.exec(fs.readFileSync('/etc/os-release', 'utf8'));
    if (m) osName = m[1]!;
  } catch {
    /* not Linux */
  }
  const df = sh('df', ['-T', tmp]).split('\n')[1]?.split(/\s+/) ?? [];
  return {
    date: new Date().toISOString(),
    host: os.hostname(),
    cpu: os.cpus()[0]?.model ?? '?',
    cpus: os.cpus().length,
    memGiB: Math.round(os.totalmem() / 2 ** 30),
    kernel: os.release(),
    os: osName,
    node: process.version,
    v8: process.versions.v8,
    rmemMax: sysctl('net.core.rmem_max'),
    wmemMax: sysctl('net.core.wmem_max'),
    loadStart: loadavg(),
    gitCommit: sh('git', ['rev-parse', '--short', 'HEAD']) + (sh('git', ['status', '--porcelain', '--', 'core', 'agent', 'test/coordinator']) ? ' (+ local changes)' : ''),
    fs: df.length > 1 ? `${df[1]} on ${df[0]}` : '?',
  };
}

/** /proc/net/snmp Udp counters of this network namespace. */
export function udpCounters(): Record<string, number> {
  const lines = fs.readFileSync('/proc/net/snmp', 'utf8').split('\n').filter((l) => l.startsWith('Udp:'));
  const keys = lines[0]!.split(/\s+/).slice(1);
  const vals = lines[1]!.split(/\s+/).slice(1).map(Number);
  return Object.fromEntries(keys.map((k, i) => [k, vals[i]!]));
}

export const MiB = 1024 * 1024;

export function fmt(x: number | undefined, digits = 1): string {
  if (x === undefined || !Number.isFinite(x)) return '–';
  return x.toFixed(digits);
}

export function log(line: string): void {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${line}\n`);
}

/** Machine-wide CPU time from /proc/stat, seconds: busy (user+nice+system+irq+softirq) and steal. */
export function machineCpu(): { busy: number; steal: number } {
  const f = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  const [user, nice, system, , , irq, softirq, steal] = f as [number, number, number, number, number, number, number, number];
  return { busy: (user + nice + system + irq + softirq) / 100, steal: steal / 100 };
}
