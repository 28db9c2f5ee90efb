/**
 * 7. The namespace lab beside udpcast (issue 10, deliverable 1). One lab (test/lab/lab.ts): the sender in `coord`
 * (10.77.0.1), receivers `rx1`…`rx8` (10.77.0.11…), a bridge. Per cell (N receivers, loss, shaping, block size) and
 * repetition, osdcast and Debian's udpcast send the same random image, one right after the other (the order
 * alternates between repetitions):
 *
 * - osdcast: `node coordinator.cjs --file <img> --interface 10.77.0.1 --fw-lead-every 32 [--block-size]`, then N
 *   agents `osdcast receive --server 10.77.0.1:5041 … --json --log-file --sha256`, and beside the agent in `rx1`
 *   the do-nothing Node listener (test/bench/floor.ts) on the group and port of the coordinator's `ready` line.
 * - udpcast: `udp-sender --file <img> --interface eth0 --nokbd --min-receivers N` (`--nopointopoint` for N = 1) and
 *   N `udp-receiver --file <out> --interface eth0 --nokbd`, each under `/usr/bin/time` (user/system CPU and max RSS
 *   of the C program at its exit).
 *
 * What is measured, the same way for both tools:
 * - first data: an nftables counter of frames > 1000 bytes towards each receiver's bridge port (test/lab `impair`),
 *   polled every ~3 ms through one `nft -i`; control packets (JOIN, ACK, CONNECT, HELLO) are all smaller.
 * - complete: osdcast, the agent's log line "every block is on disk" (before its final SHA-256 read-back);
 *   udp-receiver, its exit (it has written and closed the file; it hashes nothing).
 * - goodput = image bytes / (first data at any receiver → last receiver complete); start-up = receiver start →
 *   first data at its port (osdcast: MS-WDSMSI initiation and JOIN; udpcast: the rendez-vous).
 * - CPU: Node processes write process.resourceUsage() and VmHWM at exit (the e2e preload); the agent's and the
 *   listener's receive CPU is sampled from /proc/<pid>/stat every 50 ms so that "first data → complete" excludes
 *   start-up and the final hash; udp-sender/udp-receiver: /usr/bin/time's %U+%S and %M.
 * - datagrams: the counter of data frames that got through to the port (at 1385-byte blocks one frame is one
 *   datagram); at 8192-byte blocks (IP fragments) the agent's own count.
 * - kernel drops: RcvbufErrors of each receiver namespace (/proc/net/snmp before/after) and the drops column of
 *   /proc/<pid>/net/udp for the receiver's own sockets (sampled while it runs; sockets vanish at exit).
 * - correct: SHA-256 of every output file, computed here, equal to the image's; receivers write to /dev/shm.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CounterPoller, Lab, LabProcess, createLab, labUnavailable, parseProcNetUdp } from '../lab/lab';
import { PRELOAD, Usage } from './e2e';
import { MiB, log } from './util';
import { SEA_EXEC_ARGV } from '../../packaging/node-flags.mjs';

/**
 * osdcast: our coordinator → agents (MS-WDSMSI, MS-WDSMT); udpcast: udp-sender → udp-receiver; osdcast-udpcast:
 * the same udp-sender → `osdcast receive --udpcast` (issue 12 point 6: the same C sender for both receivers).
 */
export type Tool = 'osdcast' | 'udpcast' | 'osdcast-udpcast';

export interface LabCell {
  receivers: number;
  /** loss towards every receiver, percent */
  lossPct: number;
  /** tc tbf on the sender's link, Mbit/s */
  shapedMbit?: number;
  blockSize: number;
  sizeMiB: number;
  tools: Tool[];
}

export interface LabReceiver {
  host: string;
  exitCode: number | null;
  correct: boolean;
  startMs: number;
  firstDataMs?: number;
  completeMs?: number;
  exitMs: number;
  /** CPU from first data to complete (osdcast: sampled), or the whole process (udp-receiver), s */
  rxCpuS?: number;
  totalCpuS?: number;
  datagrams: number;
  lost: number;
  hwmKiB?: number;
  rcvbufErrors: number;
  socketDrops: number;
  nacks?: number;
  rdata?: number;
  /** --udpcast: RETRANSMIT requests it sent (blocks missing at a REQACK) */
  retransmits?: number;
  master?: boolean;
  /** complete → exit (final SHA-256 read-back and exit), s, and its CPU */
  hashS?: number;
  hashCpuS?: number;
  error?: string;
}

export interface LabRun {
  cell: LabCell;
  tool: Tool;
  rep: number;
  receivers: LabReceiver[];
  sender: { cpuS?: number; hwmKiB?: number; stats: Record<string, number> };
  /** the do-nothing listener beside rx1's agent */
  floor?: { datagrams: number; cpuUs: number; rcvbuf: number; drops: number };
  tbf?: { dropped: number; overlimits: number; packets: number };
  goodputMBps?: number;
  /** first data at any receiver → last complete, s */
  transferS?: number;
  startupS?: number;
  allCorrect: boolean;
  wallS: number;
}

export interface LabResult {
  mode: 'full' | 'quick' | 'smoke';
  runs: LabRun[];
  /** the extra 4 GiB osdcast-only run (full mode) */
  big?: LabRun;
  /** runs left out because the budget was spent: "cell tool #rep" */
  skippedRuns: string[];
  budgetS?: number;
  seconds: number;
  shm: string;
  udpcastVersion: string;
  skipped?: string;
}

const SENDER = 'coord';
const rxName = (i: number) => `rx${i + 1}`;
/** link rate for the shaped cells */
export const SHAPED: Record<number, number> = { 1: 400, 3: 200, 8: 100 };

/** The cells of a mode. */
export function labCells(mode: 'full' | 'quick' | 'smoke'): LabCell[] {
  if (mode === 'smoke') return [{ receivers: 1, lossPct: 0, blockSize: 1385, sizeMiB: 16, tools: ['osdcast', 'udpcast', 'osdcast-udpcast'] }];
  const ns = mode === 'quick' ? [1, 3] : [1, 3, 8];
  // --quick: 128 MiB, so that its 20 runs fit in 4 minutes on 2 shared cores (goodput excludes start-up either way).
  const sizeMiB = mode === 'quick' ? 128 : 256;
  const cells: LabCell[] = [];
  // Shaped cells first (they carry the targets): runOrder runs every cell once, then the shaped cells' other
  // repetitions, so that a spent budget cuts repetitions of the unshaped and 8192-byte ones.
  // N ≤ 3 also runs osdcast --udpcast from the same udp-sender (issue 12's bench; N = 8 would not fit the budget).
  for (const shaped of [true, false])
    for (const n of ns)
      for (const lossPct of [0, 1])
        cells.push({ receivers: n, lossPct, shapedMbit: shaped ? SHAPED[n] : undefined, blockSize: 1385, sizeMiB, tools: n <= 3 ? ['osdcast', 'udpcast', 'osdcast-udpcast'] : ['osdcast', 'udpcast'] });
  for (const n of ns) for (const lossPct of [0, 1]) cells.push({ receivers: n, lossPct, shapedMbit: SHAPED[n], blockSize: 8192, sizeMiB, tools: ['osdcast'] });
  return cells;
}

/**
 * The order of the runs: the first repetition of every cell, then the other repetitions of the cells that carry
 * the targets (shaped, 1385-byte blocks), then the other repetitions of the rest. In the full bench's budget on
 * 2 cores all 3 repetitions of every cell do not fit; this way the budget cuts repetitions of the unshaped and
 * 8192-byte cells, never a target cell's third one nor any cell's first. Within a cell the tools alternate their
 * order between repetitions.
 */
export function runOrder(cells: LabCell[], reps: number): { cell: LabCell; tool: Tool; rep: number }[] {
  const out: { cell: LabCell; tool: Tool; rep: number }[] = [];
  const add = (phase: LabCell[], from: number) => {
    for (let rep = from; rep <= (from === 1 ? 1 : reps); rep++)
      for (const cell of phase) for (const tool of rep % 2 === 1 ? cell.tools : [...cell.tools].reverse()) out.push({ cell, tool, rep });
  };
  add(cells, 1);
  add(cells.filter(isTargetCell), 2);
  add(cells.filter((c) => !isTargetCell(c)), 2);
  return out;
}

/** A cell the issue's targets are judged on: a shaped link at 1385-byte blocks (the ratio cells). */
export function isTargetCell(c: LabCell): boolean {
  return c.shapedMbit !== undefined && c.blockSize === 1385;
}

export function cellName(c: LabCell): string {
  return `N=${c.receivers} ${c.shapedMbit ? `${c.shapedMbit} Mbit/s` : 'unshaped'} loss ${c.lossPct} % ${c.blockSize} B ${c.sizeMiB} MiB`;
}

/** Link payload rate in MB/s for osdcast at a block size: tbf counts frames (UDP payload + 8 + 20 + 14). */
/**
 * IPv4 reassembly in the lab's namespaces. At the kernel defaults (30 s, 4 MiB) the 8192-byte cells at 1 % loss
 * measured the kernel, not the tools: the reassembly memory filled within a second and nearly every fragment was
 * dropped (ReasmFails); 256 MiB did not finish in 150 s. Only fragmented datagrams are affected.
 */
export const BENCH_IPFRAG = { timeS: 2, highThreshBytes: 64 << 20 };

/** MS-WDSMT ODATA header + MS-WDSMA block header at CHECKSUM, measured on the wire. */
const MT_HEADER = 1444 - 1385;

/** IPv4 fragments per osdcast datagram at a block size (MTU 1500: 1480 bytes of IP payload per fragment). */
export function fragmentsPerDatagram(blockSize: number): number {
  return Math.ceil((blockSize + MT_HEADER + 8) / 1480);
}

/**
 * The repair ceiling: the largest share of the link payload rate any sender without FEC (osdcast or udpcast) can
 * turn into goodput when each of `receivers` loses each frame independently with probability lossPct / 100 (the
 * lab's nftables rule). A block goes out until every receiver has it: on average T = Σ_{k ≥ 0} (1 − (1 − q^k)^N)
 * times, the expected largest of N geometric counts, where q is the loss of a datagram (any of its fragments
 * lost); the ceiling is 1 / T. Start-up, SPM and NCF are left out, so the real bound is a little lower. At 1 %
 * loss: N = 1 0.990, N = 3 0.971, N = 8 0.928 (1385-byte blocks): the issue's 0.95 target lies above it at N = 8.
 */
export function repairCeiling(lossPct: number, receivers: number, blockSize: number): number {
  const p = lossPct / 100;
  if (!(p > 0)) return 1;
  if (p >= 1) return 0;
  const q = 1 - Math.pow(1 - p, fragmentsPerDatagram(blockSize));
  let t = 0;
  for (let k = 0, qk = 1; k < 10_000; k++, qk *= q) {
    const term = 1 - Math.pow(1 - qk, receivers);
    t += term;
    if (term < 1e-12) break;
  }
  return 1 / t;
}

/** Bytes tbf counts for one osdcast datagram: UDP payload + 8 once, IPv4 + Ethernet headers per fragment. */
export function wireBytes(blockSize: number): number {
  return blockSize + MT_HEADER + 8 + fragmentsPerDatagram(blockSize) * (20 + 14);
}

export function linkPayloadMBps(mbit: number, blockSize: number): number {
  return ((mbit * 1e6) / 8 / 1e6) * (blockSize / wireBytes(blockSize));
}

/**
 * udp-sender's data datagram: its 1456-byte block (1500 − 20 IP − 8 UDP − 16 header, ../shared/notes/udpcast-protocol.md)
 * in a 1514-byte frame. It carries more payload per wire byte than osdcast's 1385-byte block under MS-WDSMT's 59-byte
 * header (1385 of 1486): on the same link udpcast's payload rate is 1.032× osdcast's.
 */
export const UDPCAST_BLOCK = 1456;
export const UDPCAST_FRAME = UDPCAST_BLOCK + 16 + 8 + 20 + 14;

export function udpcastLinkPayloadMBps(mbit: number): number {
  return ((mbit * 1e6) / 8 / 1e6) * (UDPCAST_BLOCK / UDPCAST_FRAME);
}

export function sha256File(file: string): string | undefined {
  try {
    const h = crypto.createHash('sha256');
    const fd = fs.openSync(file, 'r');
    const buf = Buffer.allocUnsafe(4 * MiB);
    let n;
    while ((n = fs.readSync(fd, buf, 0, buf.length, null)) > 0) h.update(buf.subarray(0, n));
    fs.closeSync(fd);
    return h.digest('hex');
  } catch {
    return undefined;
  }
}

const TICK = 100; // USER_HZ of /proc/<pid>/stat
function procCpuS(pid: number): number | undefined {
  try {
    const st = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = st.slice(st.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / TICK;
  } catch {
    return undefined;
  }
}
function procSocketInodes(pid: number): Set<number> {
  const out = new Set<number>();
  try {
    for (const fd of fs.readdirSync(`/proc/${pid}/fd`)) {
      try {
        const m = /^socket:\[(\d+)\]$/.exec(fs.readlinkSync(`/proc/${pid}/fd/${fd}`));
        if (m) out.add(Number(m[1]));
      } catch {
        /* closed meanwhile */
      }
    }
  } catch {
    /* exited */
  }
  return out;
}
function childPid(pid: number): number | undefined {
  try {
    const c = fs.readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/)[0];
    return c ? Number(c) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Signals a lab process and, when it runs under /usr/bin/time (udp-sender, udp-receiver), the tool first: GNU time
 * does not pass a signal on, so ending only it left the tool running in its namespace, holding its port. A
 * udp-receiver left so by a run that hung (udpcast loses a receiver whose CONNECT_REPLY the loss rule dropped) made
 * the next runs in that namespace fail at once or hang too (bench of 2026-12-03: three cells lost repetitions).
 */
export function signalRun(p: Pick<LabProcess, 'pid' | 'child'>, timed: boolean, sig: NodeJS.Signals): void {
  const inner = timed ? childPid(p.pid) : undefined;
  if (inner) {
    try {
      process.kill(inner, sig);
    } catch {
      /* already gone */
    }
  }
  p.child.kill(sig);
}

/** Samples a process every 50 ms: CPU (for "CPU at time t") and the drops of its own UDP sockets (max seen). */
class Sampler {
  readonly cpu: { t: number; s: number }[] = [];
  private readonly drops = new Map<number, number>();
  constructor(readonly pid: () => number | undefined) {}
  /** the largest VmHWM seen, KiB (the exit-time value is exact; this one is for a run that had to be ended) */
  hwmKiB = 0;
  private n = 0;
  sample(now: number): void {
    const pid = this.pid();
    if (pid === undefined) return;
    const s = procCpuS(pid);
    if (s === undefined) return;
    this.cpu.push({ t: now, s });
    try {
      this.hwmKiB = Math.max(this.hwmKiB, Number(/VmHWM:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0));
    } catch {
      /* exited */
    }
    // Sockets and their drops every 10th sample (0.5 s): the fd scan is the expensive part of a sample.
    if (this.n++ % 10) return;
    const inodes = procSocketInodes(pid);
    if (!inodes.size) return;
    try {
      for (const l of parseProcNetUdp(fs.readFileSync(`/proc/${pid}/net/udp`, 'utf8')))
        if (inodes.has(l.inode)) this.drops.set(l.inode, Math.max(this.drops.get(l.inode) ?? 0, l.drops));
    } catch {
      /* exited */
    }
  }
  /** CPU seconds at time t (linear between the samples around it). */
  at(t: number): number | undefined {
    const c = this.cpu;
    if (!c.length) return undefined;
    if (t <= c[0]!.t) return c[0]!.s;
    for (let i = 1; i < c.length; i++)
      if (c[i]!.t >= t) {
        const a = c[i - 1]!;
        const b = c[i]!;
        return a.s + ((b.s - a.s) * (t - a.t)) / Math.max(1, b.t - a.t);
      }
    return c[c.length - 1]!.s;
  }
  socketDrops(): number {
    let n = 0;
    for (const d of this.drops.values()) n += d;
    return n;
  }
}

function readJson<T>(file: string): T | undefined {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as T;
  } catch {
    return undefined;
  }
}

/** /usr/bin/time -f '%U %S %M %e' output: CPU s and max RSS KiB. */
function readTime(file: string): { cpuS: number; maxRssKiB: number } | undefined {
  try {
    const line = fs.readFileSync(file, 'utf8').trim().split('\n').pop()!;
    const [u, s, m] = line.split(' ').map(Number);
    return Number.isFinite(u) && Number.isFinite(s) ? { cpuS: u! + s!, maxRssKiB: m! } : undefined;
  } catch {
    return undefined;
  }
}

export interface AgentLog {
  joinedMs?: number;
  completeMs?: number;
  mt?: { received?: number; odata?: number; rdata?: number; acksSent?: number; nacksSent?: number };
  /** `--udpcast`: the receiver's "udpcast statistics" line */
  udpcast?: { dataPackets?: number; duplicates?: number; retransmits?: number; reqacks?: number };
}
/** The agent's --log-file: when it joined, when every block was on disk, its MS-WDSMT counters. */
export function parseLog(file: string): AgentLog {
  const r: AgentLog = {};
  let text = '';
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    return r;
  }
  for (const line of text.split('\n')) {
    if (!line.startsWith('{')) continue;
    let j: Record<string, unknown>;
    try {
      j = JSON.parse(line);
    } catch {
      continue;
    }
    const msg = String(j.msg ?? '');
    const t = Date.parse(String(j.time));
    if (msg.startsWith('joined session')) r.joinedMs = t;
    // "complete": MS-WDSMT's "every block is on disk", or --udpcast's "end of transfer: … all on disk" (before its linger)
    if (msg.startsWith('every block is on disk') || msg.startsWith('end of transfer:')) r.completeMs = t;
    if (msg === 'multicast statistics') r.mt = j.mt as AgentLog['mt'];
    if (msg === 'udpcast statistics') r.udpcast = j.udpcast as AgentLog['udpcast'];
  }
  return r;
}

export interface LabBenchOptions {
  mode: 'full' | 'quick' | 'smoke';
  dist: string;
  /** this bundle (dist/bench.cjs), for the listener */
  self: string;
  reps?: number;
  /** the extra 4 GiB osdcast-only run (before the cells) */
  big?: boolean;
  /**
   * Wall-clock budget, s: a run is skipped when the time so far plus its expected length (the same cell and tool
   * in the previous repetition, else 30 s × N) would exceed it; skipped runs are listed in the report.
   */
  budgetS?: number;
}

export function labBenchUnavailable(): string | undefined {
  const why = labUnavailable({ nft: true });
  if (why) return why;
  for (const f of ['/usr/bin/udp-sender', '/usr/bin/udp-receiver']) if (!fs.existsSync(f)) return `the lab bench needs udpcast (${f})`;
  if (!fs.existsSync('/usr/bin/time')) return 'the lab bench needs GNU time (/usr/bin/time)';
  if (!fs.existsSync('/dev/shm')) return 'the lab bench needs /dev/shm (tmpfs)';
  return undefined;
}

export async function runLabBench(o: LabBenchOptions): Promise<LabResult> {
  const t0 = Date.now();
  const shm = fs.mkdtempSync(path.join('/dev/shm', 'osdcast-labbench-'));
  const cells = labCells(o.mode);
  const reps = o.reps ?? (o.mode === 'full' ? 3 : 1);
  const maxN = Math.max(...cells.map((c) => c.receivers));
  let lab: Lab | undefined;
  const cleanup = () => fs.rmSync(shm, { recursive: true, force: true });
  process.once('exit', cleanup);
  // Ctrl-C or a SIGTERM: the lab's exit hook ends its processes and namespaces, this one the tmpfs files.
  const onSignal = () => process.exit(130);
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const result: LabResult = { mode: o.mode, runs: [], skippedRuns: [], budgetS: o.budgetS, seconds: 0, shm: 'tmpfs /dev/shm', udpcastVersion: udpcastVersion() };
  try {
    fs.writeFileSync(path.join(shm, 'ru-preload.cjs'), PRELOAD);
    const images = new Map<number, { path: string; sha256: string }>();
    for (const mib of new Set(cells.map((c) => c.sizeMiB))) images.set(mib, makeImage(shm, mib));
    lab = await createLab({ hosts: [{ name: SENDER, host: 1 }, ...Array.from({ length: maxN }, (_, i) => ({ name: rxName(i), host: 11 + i }))], ipfrag: BENCH_IPFRAG });
    const poller = lab.counterPoller();
    const ctx: Ctx = { lab, poller, shm, dist: o.dist, self: o.self, seq: 0 };
    const took = new Map<string, number>();
    const fits = (key: string, cell: LabCell) => o.budgetS === undefined || (Date.now() - t0) / 1000 + (took.get(key) ?? (30 * cell.receivers * cell.sizeMiB) / 256) <= o.budgetS;
    const one = async (cell: LabCell, tool: Tool, rep: number, image: { path: string; sha256: string }): Promise<LabRun | undefined> => {
      const key = `${cellName(cell)} ${tool}`;
      if (!fits(key, cell)) {
        result.skippedRuns.push(`${key} #${rep}`);
        log(`lab: budget: skipping ${key} #${rep}`);
        return undefined;
      }
      const t = Date.now();
      try {
        const left = o.budgetS === undefined ? Infinity : Math.max(20, o.budgetS - (Date.now() - t0) / 1000);
        // A run that takes 4x the longest run of its cell so far (any tool) is ended: a stalled udp-receiver
        // (udpcast's ghost-receiver wait, ~200 s) must not spend the budget of the cells after it.
        const sameCell = [...took].filter(([k]) => k.startsWith(`${cellName(cell)} `)).map(([, v]) => v);
        const cap = sameCell.length ? Math.min(left, Math.max(60, 4 * Math.max(...sameCell))) : left;
        const run = await runOne(ctx, cell, tool, rep, image, cap);
        took.set(key, (Date.now() - t) / 1000);
        logRun(run);
        return run;
      } catch (e) {
        // One broken run (a child that never got ready, a tool error) must not cost the whole bench.
        result.skippedRuns.push(`${key} #${rep} failed: ${(e as Error).message.split('\n')[0]!.slice(0, 200)}`);
        log(`lab: ${key} #${rep} failed: ${(e as Error).stack ?? e}`);
        took.set(key, (Date.now() - t) / 1000);
        return undefined;
      }
    };
    // The 4 GiB run first: the RSS target needs it, and a spent budget must not cut it.
    if (o.big) result.big = await bigRun(one, shm);
    for (const { cell, tool, rep } of runOrder(cells, reps)) {
      const run = await one(cell, tool, rep, images.get(cell.sizeMiB)!);
      if (run) result.runs.push(run);
    }
    await poller.close();
  } finally {
    await lab?.teardown();
    cleanup();
    process.removeListener('exit', cleanup);
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
  }
  result.seconds = (Date.now() - t0) / 1000;
  return result;
}

/**
 * 4 GiB, osdcast only, unshaped, one receiver: peak RSS must not grow with the image. The source is a sparse file
 * (zeros cost no memory on tmpfs; the checksum work is the same for any bytes); the copy takes 4 GiB of tmpfs.
 */
async function bigRun(one: (cell: LabCell, tool: Tool, rep: number, image: { path: string; sha256: string }) => Promise<LabRun | undefined>, shm: string): Promise<LabRun | undefined> {
  const file = path.join(shm, 'image-4GiB-sparse.bin');
  const fd = fs.openSync(file, 'w');
  fs.ftruncateSync(fd, 4096 * MiB);
  fs.closeSync(fd);
  try {
    const cell: LabCell = { receivers: 1, lossPct: 0, blockSize: 1385, sizeMiB: 4096, tools: ['osdcast'] };
    return await one(cell, 'osdcast', 1, { path: file, sha256: sha256File(file)! });
  } finally {
    fs.rmSync(file, { force: true });
  }
}

function udpcastVersion(): string {
  try {
    const m = /Version: (\S+)/.exec(fs.readFileSync('/var/lib/dpkg/status', 'utf8').split('\n\n').find((p) => /^Package: udpcast$/m.test(p)) ?? '');
    return m?.[1] ?? '?';
  } catch {
    return '?';
  }
}

function makeImage(dir: string, mib: number): { path: string; sha256: string } {
  const file = path.join(dir, `image-${mib}MiB.bin`);
  const h = crypto.createHash('sha256');
  const fd = fs.openSync(file, 'w');
  const chunk = Buffer.allocUnsafe(4 * MiB);
  for (let done = 0; done < mib * MiB; done += chunk.length) {
    crypto.randomFillSync(chunk);
    h.update(chunk);
    fs.writeSync(fd, chunk);
  }
  fs.closeSync(fd);
  return { path: file, sha256: h.digest('hex') };
}

interface Ctx {
  lab: Lab;
  poller: CounterPoller;
  shm: string;
  dist: string;
  self: string;
  seq: number;
}

interface Started {
  host: string;
  proc: LabProcess;
  startMs: number;
  exitMs?: number;
  sampler: Sampler;
  out: string;
  extra: string;
}

function onExitTime(s: Started): Promise<void> {
  return s.proc.exited.then(() => {
    s.exitMs = Date.now();
  });
}

async function runOne(ctx: Ctx, cell: LabCell, tool: Tool, rep: number, image: { path: string; sha256: string }, maxS = Infinity): Promise<LabRun> {
  const { lab } = ctx;
  const hosts = Array.from({ length: cell.receivers }, (_, i) => rxName(i));
  const n = ++ctx.seq;
  const dir = path.join(ctx.shm, `run-${n}`);
  fs.mkdirSync(dir);
  await lab.impair(hosts, { lossPer10k: Math.round(cell.lossPct * 100) });
  await lab.shape(SENDER, cell.shapedMbit);
  const snmp0 = await Promise.all(hosts.map((h) => lab.udpSnmp(h)));
  const t0 = Date.now();
  const preload = path.join(ctx.shm, 'ru-preload.cjs');
  /** `flags`: Node's own flags (the agents get the binaries' SEA_EXEC_ARGV, so the bench measures what ships). */
  const node = (ru: string, script: string, args: string[], where: string, flags: string[] = []) =>
    lab.start(where, [process.execPath, ...flags, '-r', preload, script, ...args], { env: { ...cleanEnv(), OSDCAST_BENCH_RU: ru } });
  const rx: Started[] = [];
  let sender: LabProcess;
  let senderRu = '';
  let senderSampler: Sampler;
  let floor: LabProcess | undefined;
  const watch: Promise<void>[] = [];
  if (tool === 'osdcast') {
    senderRu = path.join(dir, 'coord-ru.json');
    sender = node(senderRu, path.join(ctx.dist, 'coordinator.cjs'), ['--file', image.path, '--interface', lab.address(SENDER), '--fw-lead-every', '32', '--block-size', String(cell.blockSize)], SENDER);
    const ready = JSON.parse(await sender.line((l) => l.includes('"ready"'), 60_000)) as { msiPort: number; port: number; group: string };
    floor = lab.start(hosts[0]!, [process.execPath, ctx.self, '--floor-listener', '--group', ready.group, '--port', String(ready.port), '--interface', lab.address(hosts[0]!), '--out', path.join(dir, 'floor.bin'), '--idle-ms', '60000']);
    await floor.line((l) => l.includes('"listening"'));
    for (const h of hosts) {
      const out = path.join(dir, `${h}.bin`);
      const logFile = path.join(dir, `${h}.log`);
      const ru = path.join(dir, `${h}-ru.json`);
      const proc = node(ru, path.join(ctx.dist, 'osdcast.cjs'), ['receive', '--server', `${lab.address(SENDER)}:${ready.msiPort}`, '--namespace', 'SMSNamespace', '--content', 'PKG00001', '--interface', lab.address(h), '--out', out, '--json', '--log-file', logFile, '--sha256', image.sha256, '--timeout', '1200'], h, SEA_EXEC_ARGV);
      const s: Started = { host: h, proc, startMs: Date.now(), sampler: new Sampler(() => proc.pid), out, extra: ru };
      rx.push(s);
      watch.push(onExitTime(s));
    }
    senderSampler = new Sampler(() => sender.pid);
  } else {
    senderRu = path.join(dir, 'sender.time');
    const args = ['--file', image.path, '--interface', 'eth0', '--nokbd', '--min-receivers', String(cell.receivers), ...(cell.receivers === 1 ? ['--nopointopoint'] : [])];
    sender = lab.start(SENDER, ['/usr/bin/time', '-f', '%U %S %M %e', '-o', senderRu, 'udp-sender', ...args]);
    // udp-sender prints nothing useful on stdout before receivers connect; give it a moment to bind.
    await new Promise((r) => setTimeout(r, 200));
    for (const h of hosts) {
      const out = path.join(dir, `${h}.bin`);
      let s: Started;
      if (tool === 'udpcast') {
        const tf = path.join(dir, `${h}.time`);
        const proc = lab.start(h, ['/usr/bin/time', '-f', '%U %S %M %e', '-o', tf, 'udp-receiver', '--file', out, '--interface', 'eth0', '--nokbd']);
        let real: number | undefined;
        s = { host: h, proc, startMs: Date.now(), sampler: new Sampler(() => (real ??= childPid(proc.pid))), out, extra: tf };
      } else {
        // osdcast --udpcast with its defaults (portbase 9000, the rendez-vous on the subnet broadcast), as the agent above
        const ru = path.join(dir, `${h}-ru.json`);
        const proc = node(ru, path.join(ctx.dist, 'osdcast.cjs'), ['receive', '--udpcast', '--interface', lab.address(h), '--out', out, '--json', '--log-file', path.join(dir, `${h}.log`), '--sha256', image.sha256, '--timeout', '1200'], h, SEA_EXEC_ARGV);
        s = { host: h, proc, startMs: Date.now(), sampler: new Sampler(() => proc.pid), out, extra: ru };
      }
      rx.push(s);
      watch.push(onExitTime(s));
    }
    let realS: number | undefined;
    senderSampler = new Sampler(() => (realS ??= childPid(sender.pid)));
  }
  const floorSampler = floor ? new Sampler(() => floor!.pid) : undefined;

  // First data per receiver: poll the counters until every port has seen a data frame.
  const first = new Map<string, number>();
  let polling = true;
  const poll = (async () => {
    while (polling && first.size < hosts.length) {
      const c = await ctx.poller.read();
      const now = Date.now();
      for (const h of hosts) if (!first.has(h) && (c[`${h}_seen`] ?? 0) > 0) first.set(h, now);
      await new Promise((r) => setTimeout(r, 3));
    }
  })();
  const sampling = setInterval(() => {
    const now = Date.now();
    for (const s of rx) s.sampler.sample(now);
    floorSampler?.sample(now);
    senderSampler.sample(now);
  }, 50);
  // A run that has not ended by this cap is ended (its receivers count as not correct): 1 MB/s at least.
  // …and within what is left of the budget (maxS).
  const capS = Math.min(maxS, 600, Math.max(120, (cell.sizeMiB * MiB) / 1e6));
  let killer: NodeJS.Timeout | undefined;
  const timeout = setTimeout(() => {
    log(`${tool} ${cellName(cell)}: no end after ${capS.toFixed(0)} s, ending the run`);
    for (const s of rx) signalRun(s.proc, tool === 'udpcast', 'SIGTERM');
    killer = setTimeout(() => {
      for (const s of rx) signalRun(s.proc, tool === 'udpcast', 'SIGKILL');
    }, 5000);
  }, capS * 1000);
  await Promise.all(watch);
  clearTimeout(timeout);
  clearTimeout(killer);
  polling = false;
  await poll;
  clearInterval(sampling);

  // Ends: the listener (SIGTERM → it prints its JSON), the coordinator (SIGTERM → stats) or udp-sender (exits by itself).
  let floorResult: LabRun['floor'];
  if (floor) {
    floor.child.kill('SIGTERM');
    try {
      const j = JSON.parse(await floor.line((l) => l.includes('"datagrams"'), 10_000)) as { datagrams: number; cpuUs: number; rcvbuf: number };
      floorResult = { ...j, drops: floorSampler!.socketDrops() };
    } catch (e) {
      log(`floor listener: ${(e as Error).message.slice(0, 300)}`);
    }
  }
  if (tool === 'osdcast') sender.child.kill('SIGTERM');
  const senderExit = await Promise.race([sender.exited, new Promise<undefined>((r) => setTimeout(() => r(undefined), 20_000))]);
  if (!senderExit) signalRun(sender, tool !== 'osdcast', 'SIGKILL');
  await sender.exited;
  const wallS = (Date.now() - t0) / 1000;

  const counters = await lab.counters();
  const snmp1 = await Promise.all(hosts.map((h) => lab.udpSnmp(h)));
  const tbf = cell.shapedMbit ? await lab.qdisc(SENDER).catch(() => undefined) : undefined;

  const receivers: LabReceiver[] = rx.map((s, i) => {
    const h = s.host;
    const sha = sha256File(s.out);
    const code = s.proc.child.exitCode;
    const r: LabReceiver = {
      host: h,
      exitCode: code,
      correct: code === 0 && sha === image.sha256,
      startMs: s.startMs,
      firstDataMs: first.get(h),
      exitMs: s.exitMs!,
      datagrams: counters[`${h}_data`] ?? 0,
      lost: counters[`${h}_lost`] ?? 0,
      rcvbufErrors: (snmp1[i]!.RcvbufErrors ?? 0) - (snmp0[i]!.RcvbufErrors ?? 0),
      socketDrops: s.sampler.socketDrops(),
    };
    if (tool !== 'udpcast') {
      const lg = parseLog(path.join(dir, `${h}.log`));
      const u = readJson<Usage>(s.extra);
      r.completeMs = lg.completeMs;
      r.nacks = lg.mt?.nacksSent;
      r.rdata = lg.mt?.rdata;
      r.retransmits = lg.udpcast?.retransmits;
      r.master = (lg.mt?.acksSent ?? 0) > 0;
      if (cell.blockSize > 1472 && lg.mt?.received) r.datagrams = lg.mt.received;
      r.totalCpuS = u ? (u.userUs + u.sysUs) / 1e6 : undefined;
      r.hwmKiB = u?.hwmKiB ?? (s.sampler.hwmKiB || undefined);
      const a = r.firstDataMs !== undefined ? s.sampler.at(r.firstDataMs) : undefined;
      const b = r.completeMs !== undefined ? s.sampler.at(r.completeMs) : undefined;
      if (a !== undefined && b !== undefined) r.rxCpuS = b - a;
      if (r.completeMs !== undefined) {
        r.hashS = (r.exitMs - r.completeMs) / 1000;
        if (b !== undefined && r.totalCpuS !== undefined) r.hashCpuS = Math.max(0, r.totalCpuS - b);
      }
      if (!r.correct) r.error = `exit ${code}; log ${path.basename(dir)}/${h}.log; stderr ${s.proc.stderr().slice(-300)}`;
    } else {
      const t = readTime(s.extra);
      r.completeMs = r.exitMs;
      r.totalCpuS = t?.cpuS;
      r.rxCpuS = t?.cpuS;
      r.hwmKiB = t?.maxRssKiB;
      if (!r.correct) r.error = `exit ${code}; stderr ${s.proc.stderr().slice(-300)}`;
    }
    return r;
  });
  let senderInfo: LabRun['sender'];
  if (tool === 'osdcast') {
    const u = readJson<Usage>(senderRu);
    senderInfo = { cpuS: u ? (u.userUs + u.sysUs) / 1e6 : undefined, hwmKiB: u?.hwmKiB, stats: parseCoordinatorStats(sender.stderr()) };
  } else {
    const t = readTime(senderRu);
    senderInfo = { cpuS: t?.cpuS, hwmKiB: t?.maxRssKiB, stats: {} };
  }
  const allCorrect = receivers.every((r) => r.correct);
  const firsts = receivers.map((r) => r.firstDataMs).filter((x): x is number => x !== undefined);
  const ends = receivers.map((r) => r.completeMs);
  const transferS = firsts.length === receivers.length && ends.every((e) => e !== undefined) ? (Math.max(...(ends as number[])) - Math.min(...firsts)) / 1000 : undefined;
  const goodputMBps = allCorrect && transferS ? (cell.sizeMiB * MiB) / 1e6 / transferS : undefined;
  const startups = receivers.map((r) => (r.firstDataMs !== undefined ? (r.firstDataMs - r.startMs) / 1000 : NaN)).sort((a, b) => a - b);
  fs.rmSync(dir, { recursive: true, force: true });
  return {
    cell,
    tool,
    rep,
    receivers,
    sender: senderInfo,
    floor: floorResult,
    tbf: tbf ? { dropped: tbf.dropped, overlimits: tbf.overlimits, packets: tbf.packets } : undefined,
    goodputMBps,
    transferS,
    startupS: startups[Math.floor((startups.length - 1) / 2)],
    allCorrect,
    wallS,
  };
}

/** The environment for an agent: without the variables that would point it elsewhere or carry a password. */
export function cleanEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const k of ['OSDCAST_SERVER', '_SMSTSLogPath', 'OSDCAST_PASSWORD']) delete env[k];
  return env;
}

/** The coordinator's "stats: odata 1, rdata 2, … acks 3 (0 rejected) …" line as numbers. */
function parseCoordinatorStats(stderr: string): Record<string, number> {
  const line = /stats: (.*)/.exec(stderr)?.[1] ?? '';
  const out: Record<string, number> = {};
  for (const m of line.matchAll(/([a-z ]+?) (\d+)/g)) out[m[1]!.trim().replace(/ /g, '_')] = Number(m[2]);
  return out;
}

function logRun(r: LabRun): void {
  const f = (x: number | undefined, d = 1) => (x === undefined || !Number.isFinite(x) ? '–' : x.toFixed(d));
  const cpu = r.receivers.map((x) => f(x.rxCpuS, 2)).join('/');
  log(
    `lab ${r.tool} ${cellName(r.cell)} #${r.rep}: ${r.receivers.filter((x) => x.correct).length}/${r.receivers.length} correct, ${f(r.goodputMBps)} MB/s, start-up ${f(r.startupS, 2)} s, ` +
      `rx cpu ${cpu} s, sender cpu ${f(r.sender.cpuS, 2)} s${r.floor ? `, floor ${f(r.floor.cpuUs / Math.max(1, r.floor.datagrams), 1)} µs/dgram` : ''}, wall ${r.wallS.toFixed(1)} s, load ${os.loadavg()[0]!.toFixed(2)}` +
      r.receivers.filter((x) => x.error).map((x) => `\n  ${x.host}: ${x.error}`).join(''),
  );
}
