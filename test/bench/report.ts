/** Renders docs/performance.md from the measurements. Every number printed here comes from this run. */
import type { AgentResult, RunResult } from './e2e';
import { cpuSeconds, totalMBps, transferMBps } from './e2e';
import type { HotPathRow } from './hotpath';
import type { MicroRow } from './micro';
import type { AbRun } from './ab';
import { STAGES, type ProfileSummary, type StageSummary } from './profile';
import { MachineInfo, MiB, fmt } from './util';

export interface ReportInput {
  args: { quick: boolean };
  machine: MachineInfo;
  loadEnd: string;
  rmemEnd: string;
  seconds: number;
  micro: MicroRow[];
  hot: HotPathRow[];
  runs: RunResult[];
  profiles: { agent?: ProfileSummary; agentStages?: StageSummary; coordinator?: ProfileSummary; run?: RunResult };
  /** The agent beside the do-nothing listener (test/bench/floor.ts), per loss cell; absent in older results. */
  floor?: { dropPercent: number; runs: AbRun[] }[];
}

const num = (v: unknown): number => (typeof v === 'number' ? v : Number(v ?? NaN));
const dataPackets = (a: AgentResult): number => num(a.mt?.odata) + num(a.mt?.rdata);
const isMaster = (a: AgentResult): boolean => num(a.mt?.acksSent) > 0;
const usPerPacket = (a: AgentResult): number | undefined => {
  const c = cpuSeconds(a.usage);
  const n = dataPackets(a);
  return c !== undefined && n > 0 ? (c * 1e6) / n : undefined;
};
const blocksPerWrite = (a: AgentResult): number | undefined => {
  const w = a.usage?.io?.syscw;
  return w ? num(a.ma?.blocks) / w : undefined;
};
const hwmMiB = (a: AgentResult): number | undefined => (a.usage ? a.usage.hwmKiB / 1024 : undefined);
const coordPackets = (r: RunResult): number => num(r.coordinator.stats.odata) + num(r.coordinator.stats.rdata);
const coordUs = (r: RunResult): number | undefined => {
  const c = cpuSeconds(r.coordinator.usage);
  const n = coordPackets(r);
  return c !== undefined && n > 0 ? (c * 1e6) / n : undefined;
};
const lostAcks = (r: RunResult): number => r.agents.reduce((s, a) => s + num(a.mt?.acksSent), 0) - num(r.coordinator.stats.acks);
const range = (xs: (number | undefined)[], d = 1): string => {
  const v = xs.filter((x): x is number => x !== undefined && Number.isFinite(x));
  if (v.length === 0) return '–';
  const lo = Math.min(...v);
  const hi = Math.max(...v);
  return lo.toFixed(d) === hi.toFixed(d) ? lo.toFixed(d) : `${lo.toFixed(d)}–${hi.toFixed(d)}`;
};
/** Agents ordered master first. */
const ordered = (r: RunResult): AgentResult[] => [...r.agents].sort((a, b) => Number(isMaster(b)) - Number(isMaster(a)));
const perAgent = (r: RunResult, f: (a: AgentResult) => string): string => ordered(r).map(f).join(' / ');

function caseName(r: RunResult): string {
  const size = r.sizeMiB >= 1024 ? `${r.sizeMiB / 1024} GiB` : `${r.sizeMiB} MiB`;
  return `${size}, ${r.receivers} rx${r.dropPercent ? `, drop ${r.dropPercent} %` : ''}${r.fwLeadEvery ? `, fw-lead ${r.fwLeadEvery}` : ''}`;
}

function ok(r: RunResult): boolean {
  return r.agents.every((a) => a.exitCode === 0 && a.sha256ok);
}

const busy = (x: ProfileSummary): number => (x.totalMs / 1000) * (1 - (x.inclusive['(idle)'] ?? 0) / 100);

export function renderReport(i: ReportInput): string {
  const m = i.machine;
  const pa = i.profiles.agent;
  const mc = i.runs.filter((r) => !r.server);
  const http = i.runs.filter((r) => r.server);
  const find = (size: number, rx: number, drop = 0, fw = 0) => mc.filter((r) => r.sizeMiB === size && r.receivers === rx && r.dropPercent === drop && r.fwLeadEvery === fw);
  const L: string[] = [];
  const p = (s = '') => L.push(s);

  p('# Performance');
  p();
  p(`Measured by \`npm run bench\`${i.args.quick ? ' (`--quick`)' : ''} (test/bench/main.ts); this file is written by it and replaced on every run. ` +
    'Speed and memory goals are checked here, never by timed unit tests. Every number below comes from the run described in "Machine"; ' +
    'figures quoted from `shared/notes/node-udp.md` are marked as such.');
  p();
  p('## Machine');
  p();
  p('| | |');
  p('|---|---|');
  p(`| date | ${m.date} |`);
  p(`| CPU | ${m.cpu}, ${m.cpus} vCPUs, ${m.memGiB} GiB RAM |`);
  p(`| OS | ${m.os}, Linux ${m.kernel} |`);
  p(`| Node | ${m.node} (V8 ${m.v8}) |`);
  p(`| temporary files | ${m.fs} (images, received files, logs) |`);
  p(`| net.core.rmem_max | ${m.rmemMax} at start, ${i.rmemEnd} at the end (see "Socket buffer") |`);
  p(`| load average (1/5/15 min) | ${m.loadStart} at start, ${i.loadEnd} at the end |`);
  p(`| commit | ${m.gitCommit} |`);
  p(`| bench duration | ${i.seconds.toFixed(0)} s |`);
  p();
  p('The machine is shared with other work, and both end-to-end processes plus the kernel\'s loopback work share its cores. The load average counts the bench\'s own processes too (four busy ones during 3-receiver runs); ' +
    'the "others, cores" columns estimate what the rest of the machine took during each run. End-to-end cases ran ' + (i.args.quick ? 'once (`--quick`).' : 'once each (one pass, trimmed so that the whole bench with section 7 stays within 25 minutes; section 7 has the repeated, interleaved measurements).'));
  p();

  // ---------------------------------------------------------------- 1
  p('## 1. Codec and Missing ODATA List micro-benchmarks');
  p();
  p('In-process, no I/O. Each operation runs in timed batches after a warm-up; the median batch and the spread over batches are shown.');
  p();
  p('| operation | what | ns/op (median) | min–max over batches |');
  p('|---|---|---|---|');
  for (const r of i.micro) p(`| ${r.name} | ${r.what} | ${r.result.median.toFixed(0)} | ${r.result.min.toFixed(0)}–${r.result.max.toFixed(0)} (${r.result.batches.length} batches) |`);
  p();

  // ---------------------------------------------------------------- 2
  p('## 2. Receiver hot path without sockets');
  p();
  p('A real `Coordinator` (test/coordinator/coordinator.ts) and a core `Receiver` (core/receiver.ts, ring from `storeFor()` with 64 MiB) ' +
    'run in-process on a virtual clock; every datagram the coordinator sends to the receiver is recorded (one buffer of its own each, as dgram delivers them). ' +
    'The timed part replays that sequence into a fresh `Receiver`: `handleDatagram` (checksum, MT, Missing ODATA List, ACK encoding — the receiver is the Master Client and ACKs every ODATA, MA DATA, one copy into the ring), ' +
    'transmits drained and dropped, `takeWrite()` jobs copied into an in-memory "disk" and acknowledged with `writeDone` + `handleWritten`. ' +
    '"drain every 1" drains writes after each datagram (the agent\'s `DiskPump.kick()` does that whenever fewer than 2 writes are in flight); "every 64" shows the per-write-job share. ' +
    'µs/packet = replay time / data packets; MB/s = image bytes / replay time. No Node socket cost is included.');
  p();
  p('| block size | image | data packets | drain writes every | µs/packet (median) | min–max | MB/s (median) | write jobs | GC share |');
  p('|---|---|---|---|---|---|---|---|---|');
  for (const h of i.hot)
    p(`| ${h.blockSize} | ${h.imageMiB} MiB | ${h.dataPackets} | ${h.writeEvery} | **${h.usPerPacket.median.toFixed(2)}** | ${h.usPerPacket.min.toFixed(2)}–${h.usPerPacket.max.toFixed(2)} (${h.usPerPacket.batches.length} replays) | ${h.mbps.median.toFixed(0)} | ${h.writeJobs} | ${h.gcPercent.toFixed(1)} % |`);
  p();

  // ---------------------------------------------------------------- 3
  p('## 3. End to end on loopback multicast');
  p();
  p('Coordinator: `node dist/coordinator.cjs --file <image> --msi-port 0 --port 0 --interface 127.0.0.1` as a child process (defaults: block size 1385, so 1444-byte ODATA; ' +
    'ExpMaxWindowSize 64, MaxWindowSize 2048; no rate cap). Agents: `node dist/osdcast.cjs receive --server 127.0.0.1:<msi> --interface 127.0.0.1 --cache 64 --json --log-file … --sha256 <hex>`, ' +
    'all started together, writing to the temporary directory. Every receive below ended with exit 0 and the right SHA-256 unless the row says otherwise.');
  p();
  p('- **MB/s transfer**: image bytes (10^6) / time from "joined session" to "every block is on disk" in the agent\'s log. **MB/s total**: image bytes / the report\'s `seconds` (MS-WDSMSI, transfer, fdatasync, SHA-256 of the file).');
  p('- **CPU**: user + system seconds of the whole process (all threads), from `process.resourceUsage()` written on exit by a `-r` preload; **µs/packet** = CPU / data packets received (agent) or sent (coordinator).');
  p('- **peak RSS**: `VmHWM` of the process at exit (see section 4 for why not `ru_maxrss`). **loop max**: the longest event-loop delay seen by `perf_hooks.monitorEventLoopDelay` (10 ms resolution).');
  p('- **blocks per write**: MA blocks received / write syscalls of the agent (\`syscw\` in /proc/self/io, which also counts a few log and resume-state writes): how well the disk pump batches.');
  p('- With 3 receivers, values are per receiver, the Master Client (the one that ACKs) first. **ACKs lost** = ACKs the agents sent − ACKs the coordinator received.');
  p('- **others, cores**: CPU the rest of the machine used during the run: busy time from /proc/stat (user, nice, system, irq, softirq) minus the CPU of this run\'s processes and of the bench itself, divided by the run\'s wall time. Kernel work on behalf of our loopback traffic that is not charged to our processes (softirq) lands here too, so it is an upper bound on other tenants\' share. Of the 2 vCPUs, this is what our processes did not get.');
  p();
  p('| case | pass | MB/s transfer | MB/s total | agent CPU s | agent µs/packet | agent peak RSS MiB | loop max ms | blocks per write | NACKs sent | RDATA rcvd | coordinator CPU s (µs/packet) | ACKs lost | others, cores |');
  p('|---|---|---|---|---|---|---|---|---|---|---|---|---|---|');
  for (const r of mc) {
    const bad = r.agents.filter((a) => a.exitCode !== 0 || !a.sha256ok).map((a) => `exit ${a.exitCode}${a.exitCode === 0 ? ', SHA-256 wrong' : ''}`);
    p(
      `| ${caseName(r)}${bad.length ? ` (**${bad.join(', ')}**)` : ''} | ${r.pass} | ${perAgent(r, (a) => fmt(transferMBps(a, r.sizeMiB)))} | ${perAgent(r, (a) => fmt(totalMBps(a, r.sizeMiB)))} | ` +
        `${perAgent(r, (a) => fmt(cpuSeconds(a.usage)))} | ${perAgent(r, (a) => fmt(usPerPacket(a)))} | ${perAgent(r, (a) => fmt(hwmMiB(a), 0))} | ${perAgent(r, (a) => fmt(a.usage?.loopMaxMs, 0))} | ` +
        `${perAgent(r, (a) => fmt(blocksPerWrite(a), 0))} | ${perAgent(r, (a) => String(num(a.mt?.nacksSent)))} | ${perAgent(r, (a) => String(num(a.mt?.rdata)))} | ` +
        `${fmt(cpuSeconds(r.coordinator.usage))} (${fmt(coordUs(r))}) | ${lostAcks(r)} | ${r.othersCores.toFixed(2)} |`,
    );
  }
  p();

  // ---------------------------------------------------------------- 4
  p('## 4. Memory vs image size');
  p();
  p('Peak RSS of the agent, one receiver, `--cache 64` (the ring is 64 MiB, allocated once), same runs as above.');
  p();
  const sizes = [...new Set(mc.filter((r) => r.receivers === 1 && !r.dropPercent && !r.fwLeadEvery).map((r) => r.sizeMiB))].sort((a, b) => a - b);
  p('| image | blocks | peak RSS MiB (VmHWM), per pass | `maxRssBytes` in the agent\'s report, MiB | RSS of the bench process when it spawned the agent, MiB |');
  p('|---|---|---|---|---|');
  for (const s of sizes) {
    const rs = find(s, 1);
    p(`| ${s >= 1024 ? `${s / 1024} GiB` : `${s} MiB`} | ${Math.ceil((s * MiB) / 1385)} | ${rs.map((r) => fmt(hwmMiB(r.agents[0]!), 0)).join(' / ')} | ${rs.map((r) => fmt(num(r.agents[0]!.report?.maxRssBytes) / MiB, 0)).join(' / ')} | ${rs.map((r) => fmt(r.agents[0]!.parentRssMiB, 0)).join(' / ')} |`);
  }
  for (const r of http) p(`| ${r.sizeMiB} MiB over HTTP (64 KiB blocks), pass ${r.pass} | ${Math.ceil((r.sizeMiB * MiB) / 65536)} | ${fmt(hwmMiB(r.agents[0]!), 0)} | ${fmt(num(r.agents[0]!.report?.maxRssBytes) / MiB, 0)} | ${fmt(r.agents[0]!.parentRssMiB, 0)} |`);
  p();
  p('**Use VmHWM, not the report\'s `maxRssBytes`, on Linux.** `maxRssBytes` is `process.resourceUsage().maxRSS`, i.e. getrusage `ru_maxrss`, and Linux carries the peak RSS of the address space a process had ' +
    'before `exec` into it: a child forked from a big parent reports at least the parent\'s RSS at fork time. Checked on this machine: a `node -e` child of a process holding 800 MiB reported `maxRSS` 804 MiB and `VmHWM` 39 MiB. ' +
    'Above, wherever the bench process (which still held its section-2 recordings) was larger than the agent, `maxRssBytes` shows the bench\'s size, not the agent\'s. ' +
    'An agent started by a large process (a task-sequence engine, a test runner) therefore overstates its memory in its `--json` report.');
  p();

  // ---------------------------------------------------------------- 5
  p('## 5. HTTP-only receive');
  p();
  p('`osdcast receive --http-only --http <url> --sha256 <hex>` against test/coordinator/http.ts `startContentServer` (a child process serving the image file with Range support) on 127.0.0.1. ' +
    'HTTP receives use 64 KiB blocks into the same ring and disk pump. MB/s uses the report\'s `seconds` (includes fdatasync and SHA-256 of the file).');
  p();
  p('| image | pass | MB/s | agent CPU s | agent peak RSS MiB | loop max ms | server CPU s | requests | others, cores |');
  p('|---|---|---|---|---|---|---|---|---|');
  for (const r of http) {
    const a = r.agents[0]!;
    p(`| ${r.sizeMiB} MiB${ok(r) ? '' : ` (**exit ${a.exitCode}**)`} | ${r.pass} | ${fmt(totalMBps(a, r.sizeMiB))} | ${fmt(cpuSeconds(a.usage))} | ${fmt(hwmMiB(a), 0)} | ${fmt(a.usage?.loopMaxMs, 0)} | ${fmt(cpuSeconds(r.server?.usage))} | ${r.server?.requests ?? '–'} | ${r.othersCores.toFixed(2)} |`);
  }
  p();

  // ---------------------------------------------------------------- socket buffer
  p('## Socket buffer');
  p();
  const rm = new Map<string, number>();
  const gr = new Map<string, number>();
  for (const r of mc) {
    rm.set(r.rmemMax, (rm.get(r.rmemMax) ?? 0) + 1);
    for (const a of r.agents) {
      const k = a.granted === undefined ? 'not logged' : `${a.granted} (${(a.granted / MiB).toFixed(0)} MiB)${a.grantedWarned ? ', logged as a warning' : ''}`;
      gr.set(k, (gr.get(k) ?? 0) + 1);
    }
  }
  p('The agent asks for a 32 MiB receive buffer on its multicast socket; Linux caps the request at `net.core.rmem_max` and reports twice the value it accepted. ' +
    'The bench reads `rmem_max` before each run and the granted size from the agent\'s log (`socket receive buffer …`, field `granted`). ' +
    'This setting is machine-wide and other work on the machine changed it during the day; the bench does not touch it.');
  p();
  p('| net.core.rmem_max before the run | multicast runs |');
  p('|---|---|');
  for (const [k, v] of rm) p(`| ${k} | ${v} |`);
  p();
  p('| granted (agent log) | agents |');
  p('|---|---|');
  for (const [k, v] of gr) p(`| ${k} | ${v} |`);
  p();
  p('`/proc/net/snmp` Udp RcvbufErrors (every UDP socket in the host\'s network namespace, other work\'s included) against the ACKs that did not reach the coordinator:');
  p();
  p('| case | pass | RcvbufErrors during the run | ACKs lost |');
  p('|---|---|---|---|');
  for (const r of mc) p(`| ${caseName(r)} | ${r.pass} | ${r.rcvbufErrors} | ${lostAcks(r)} |`);
  p();

  // ---------------------------------------------------------------- floor
  if (i.floor?.length) {
    p("## Receive path against Node's floor");
    p();
    p('The agent and the do-nothing Node listener (test/bench/floor.ts: joins the group, copies each datagram once into an arena, one positional `writevSync` every 64, nothing else) on the same stream in the same run: ' +
      `coordinator \`--file <${i.args.quick ? 64 : 256} MiB image> --fw-lead-every 32\` (CHECKSUM), 1385-byte blocks, loopback, ` +
      '`--drop-percent` dropping that share of ODATA at the coordinator (the RDATA repairs are not dropped; both receivers miss the same packets). ' +
      'Agent µs/datagram: CPU of the whole agent process (every thread) from "joined session" to "every block is on disk" in its log, over the MT packets it received; start-up, the final fdatasync and the SHA-256 of the file (shown separately) are outside that window. ' +
      'Floor µs/datagram: the listener\'s CPU from its first datagram to its exit, over its datagrams. Blocks per write: buffers per `fs.writev` call of the agent. The same measurement as `node dist/bench.cjs --ab <distA> <distB>` (test/bench/ab.ts), which compares two builds interleaved. ' +
      'Targets (issue 10): ratio ≤ 1.25, stretch 1.1, clean and at 1 % loss.');
    p();
    p('| ODATA dropped | run | agent µs/datagram | floor µs/datagram | ratio | blocks per write | MB/s (joined → on disk) | NACKs | RDATA | SHA-256 of the file, s | correct |');
    p('|---|---|---|---|---|---|---|---|---|---|---|');
    const f2 = (x: number) => fmt(x, 2);
    for (const c of i.floor) {
      for (const r of c.runs) p(`| ${c.dropPercent} % | ${r.rep} | ${f2(r.agentUs)} | ${f2(r.floorUs)} | ${f2(r.ratio)} | ${fmt(r.blocksPerWrite, 0)} | ${fmt(r.mbps)} | ${r.nacks} | ${r.rdata} | ${f2(r.hashSeconds)} | ${r.ok ? 'yes' : 'NO'} |`);
      const med = (g: (r: AbRun) => number) => [...c.runs.map(g)].sort((a, b) => a - b)[Math.floor((c.runs.length - 1) / 2)]!;
      p(`| ${c.dropPercent} % | **median** | **${f2(med((r) => r.agentUs))}** | **${f2(med((r) => r.floorUs))}** | **${f2(med((r) => r.ratio))}** | ${fmt(med((r) => r.blocksPerWrite), 0)} | ${fmt(med((r) => r.mbps))} | | | | |`);
    }
    p();
  }

  // ---------------------------------------------------------------- profile
  const pc = i.profiles.coordinator;
  if (pa && pc && i.profiles.run) {
    const r = i.profiles.run;
    p('## Where the CPU goes (V8 CPU profile)');
    p();
    p(`One extra run, 256 MiB, 1 receiver, with \`node --cpu-prof\` on the agent and the coordinator (not in the tables above: profiling slows it down; this run: ${fmt(transferMBps(r.agents[0]!, 256))} MB/s). ` +
      'Shares of the main thread\'s samples; "inclusive" counts a frame with everything it called. Native work without a JS frame (libuv polling and `recvmsg`) lands in "(program)"; time blocked waiting for events is "(idle)". ' +
      'The agent\'s datagram sends (ACKs) run from `process.nextTick` (`afterDns` → `doSend`), not inside `service()`.');
    p();
    const mainA = r.agents[0]!.usage?.mainThreadS;
    const mainC = r.coordinator.usage?.mainThreadS;
    p(`V8 samples the main thread in wall-clock time: a sample taken while the thread had lost the CPU is charged to the frame where it lost it, typically a system call that wakes another thread or process ` +
      '(`writeBuffers` hands a write to the libuv threadpool; `doSend` delivers a datagram over loopback and wakes its receiver). ' +
      `For scale: the agent's non-idle samples cover ${busy(pa).toFixed(1)} s, while its main thread used ${fmt(mainA, 2)} s of CPU and the whole process (threadpool included) ${fmt(cpuSeconds(r.agents[0]!.usage))} s; ` +
      `the coordinator: ${busy(pc).toFixed(1)} s of non-idle samples, ${fmt(mainC, 2)} s main-thread CPU, ${fmt(cpuSeconds(r.coordinator.usage))} s in all.`);
    p();
    p('| agent: frame (inclusive) | share | | coordinator: frame (inclusive) | share |');
    p('|---|---|---|---|---|');
    const ka = Object.entries(pa.inclusive);
    const kc = Object.entries(pc.inclusive);
    for (let k = 0; k < Math.max(ka.length, kc.length); k++) {
      const x = ka[k];
      const y = kc[k];
      p(`| ${x ? `\`${x[0]}\`` : ''} | ${x ? `${x[1].toFixed(1)} %` : ''} | | ${y ? `\`${y[0]}\`` : ''} | ${y ? `${y[1].toFixed(1)} %` : ''} |`);
    }
    p();
    const st = i.profiles.agentStages;
    if (st) {
      p('The agent\'s samples by receive stage (each sample goes to the innermost frame on its stack that a stage claims, test/bench/profile.ts `STAGES`; shares of the non-idle samples, idle as a share of all):');
      p();
      p('| stage | share |');
      p('|---|---|');
      for (const s of [...STAGES.map((x) => x.name), 'other']) p(`| ${s} | ${fmt(st.stages[s], 1)} % |`);
      p();
    }
    p('| agent: top self time | share | | coordinator: top self time | share |');
    p('|---|---|---|---|---|');
    for (let k = 0; k < Math.max(pa.self.length, pc.self.length); k++) {
      const x = pa.self[k];
      const y = pc.self[k];
      p(`| ${x ? `\`${x.name}\`` : ''} | ${x ? `${x.percent.toFixed(1)} %` : ''} | | ${y ? `\`${y.name}\`` : ''} | ${y ? `${y.percent.toFixed(1)} %` : ''} |`);
    }
    p();
  }

  // ---------------------------------------------------------------- reproduce
  p('## How to reproduce');
  p();
  p('```sh');
  p('npm ci');
  p('npm run bench                      # everything; writes docs/performance.md (at most 25 minutes: sections 1-6 about 3, section 7 within a 20-minute budget)');
  p('npm run build && node dist/bench.cjs --quick --out /tmp/perf.md   # section 7 only: one repetition, N = 1 and 3, 128 MiB, within 4 minutes');
  p('node dist/bench.cjs --smoke --out /tmp/perf.md   # section 7 only: one cell, 16 MiB, under a minute (CI runs it: test/lab/bench-smoke.test.ts)');
  p('node dist/bench.cjs --no-lab       # sections 1-6 only (no root, nftables or udpcast needed)');
  p('node dist/bench.cjs --keep         # keep images, agent logs (pino JSON), CPU profiles and results.json in the temporary directory');
  p('node dist/bench.cjs --render /tmp/osdcast-bench-XXXX/results.json docs/performance.md   # re-render a kept run after editing test/bench/report.ts');
  p('```');
  p();
  p('- Needs Linux (`/proc`), Node ≥ 20 and multicast on `lo`: the coordinator sets `IP_MULTICAST_IF 127.0.0.1` and loopback, which works without a `224.0.0.0/4` route (shared/notes/node-udp.md).');
  p('- Needs about 1.1 GiB in the temporary directory (`$TMPDIR`): images of 64 and 256 MiB plus up to three received 256 MiB copies at a time (each run deletes its copies). Section 7 needs root, iproute2, nftables, udpcast and GNU time, and up to 2.5 GiB (4.3 GiB during the 4 GiB run) of /dev/shm.');
  p('- Other load on the machine moves every end-to-end number; check the "others, cores" columns. `net.core.rmem_max` decides the socket buffer the agent gets.');
  p('- To profile by hand: start `node dist/coordinator.cjs --file <image> --msi-port 0 --port 0 --interface 127.0.0.1`, then run the agent with `node --cpu-prof dist/osdcast.cjs receive --server 127.0.0.1:<msiPort> …`.');
  p();

  // ---------------------------------------------------------------- reading it
  p('## Reading it');
  p();
  const one = find(256, 1);
  const three = find(256, 3);
  const fw = find(256, 1, 0, 32);
  const drop1 = find(256, 1, 2);
  const oneG = find(1024, 1);
  const hot1385 = i.hot.find((h) => h.blockSize === 1385 && h.writeEvery === 1);
  const hot1385b = i.hot.find((h) => h.blockSize === 1385 && h.writeEvery === 64);
  const hot8192 = i.hot.find((h) => h.blockSize === 8192 && h.writeEvery === 1);
  const nonMaster = three.flatMap((r) => ordered(r).slice(1));
  const microMed = (name: string) => {
    const r = i.micro.find((x) => x.name === name);
    return r ? r.result.median.toFixed(0) : '–';
  };
  const kpps = (r: RunResult) => {
    const a = r.agents[0]!;
    return a.transferSeconds ? dataPackets(a) / a.transferSeconds / 1000 : undefined;
  };
  /** CPU per packet × packet rate: the share of one core a process needed during the transfer (its set-up and final hash included). */
  const agentCore = (r: RunResult) => {
    const u = usPerPacket(r.agents[0]!);
    const k = kpps(r);
    return u !== undefined && k !== undefined ? (u * k) / 10 : undefined;
  };
  const mainCore = (r: RunResult) => {
    const a = r.agents[0]!;
    const k = kpps(r);
    const n = dataPackets(a);
    return a.usage?.mainThreadS !== undefined && k !== undefined && n > 0 ? ((a.usage.mainThreadS * 1e6) / n) * k / 10 : undefined;
  };
  const coordCore = (r: RunResult) => {
    const u = coordUs(r);
    const k = kpps(r);
    return u !== undefined && k !== undefined ? (u * k) / 10 : undefined;
  };
  const mbps1 = one.map((r) => transferMBps(r.agents[0]!, 256));
  const best = [...one].sort((a, b) => (transferMBps(b.agents[0]!, 256) ?? 0) - (transferMBps(a.agents[0]!, 256) ?? 0))[0];
  p(`- **Headline.** One receiver: ${range(mbps1)} MB/s for 256 MiB${oneG.length ? `, ${range(oneG.map((r) => transferMBps(r.agents[0]!, 1024)))} MB/s for 1 GiB` : ''} ` +
    `(${range(one.map(kpps))} k data packets/s of 1444 bytes). Three receivers on the same machine: ${range(three.flatMap((r) => r.agents.map((a) => transferMBps(a, 256))))} MB/s each. ` +
    `With 2 % of ODATA dropped: ${range(drop1.map((r) => transferMBps(r.agents[0]!, 256)))} MB/s (one receiver). HTTP-only: ${range(http.map((r) => totalMBps(r.agents[0]!, r.sizeMiB)))} MB/s. ` +
    'node-udp.md measured plain Node receiving 1400-byte datagrams at 50–80 k pps without loss on this kind of machine (80 k pps ≈ 1 GbE).');
  p(`- **Agent CPU per packet.** As Master Client the agent used ${range(one.map((r) => usPerPacket(r.agents[0]!)))} µs of CPU per data packet (whole process, set-up and SHA-256 included); ` +
    `a non-master receiver, which sends no ACKs, used ${range(nonMaster.map(usPerPacket))} µs. Of that, the core \`Receiver\` accounts for ${hot1385 ? hot1385.usPerPacket.median.toFixed(1) : '–'} µs ` +
    `(section 2, median, writes drained per datagram; ${hot1385b ? hot1385b.usPerPacket.median.toFixed(1) : '–'} µs with batched writes). Section 1 shows its parts: \`decodeMt\` ${microMed('decodeMt ODATA 1444 B')} ns (the checksum ${microMed('checksum only, 1435 B')} ns of it), ` +
    `the ACK's \`encodeMt\` ${microMed('encodeMt ACK')} ns, and one block through \`BlockStore\` as a 1-block write job ${microMed('BlockStore put + takeWrite + writeDone')} ns against ${microMed('BlockRing put + takeWrite + complete')} ns for the bare \`BlockRing\`. ` +
    'The rest is Node\'s per-datagram work: node-udp.md puts a `dgram` receive at 6–10 µs and a send at 5.6 µs (connected socket), and the Master Client sends one ACK per ODATA (MS-WDSMT 3.2.5.11). ' +
    'On loopback the sender\'s send call also runs the receiving side\'s kernel path (node-udp.md observed this for its sender), so each ACK costs the agent more than it would on a NIC.');
  if (pa && i.profiles.run) {
    const inc = (k: string) => `${(pa.inclusive[k] ?? 0).toFixed(0)} %`;
    const pr = i.profiles.run;
    p(`- **Profile** (section "Where the CPU goes"; during that run the rest of the machine took ${pr.othersCores.toFixed(2)} cores, and the agent's non-idle samples ` +
      `${Math.abs(busy(pa) - num(pr.agents[0]!.usage?.mainThreadS)) < 0.15 * busy(pa) ? 'matched' : 'did not match'} its main-thread CPU): the agent's main thread spent ${inc('afterDns')} of its samples sending datagrams (almost all of them ACKs), ` +
      `${inc('onMessage')} in the multicast receive callback (core \`handleDatagram\` ${inc('handleDatagram')} of it), ${inc('writev')} handing writes to the threadpool, ` +
      `${inc('checkpoint')} in resume-state checkpoints (synchronous \`fsyncSync\` ${inc('fsyncSync')}), ${inc('update')} hashing, ${inc('(garbage collector)')} in GC and ${inc('(idle)')} idle.`);
  }
  p(`- **What bounds throughput here.** At the 1-receiver packet rate, CPU per packet × packets per second comes to ${range(one.map(agentCore), 0)} % of one core for the agent and ${range(one.map(coordCore), 0)} % for the coordinator. ` +
    'Each is one single-threaded Node process (the agent\'s writes run on the libuv threadpool and are included), and the two share 2 vCPUs with each other, with the kernel\'s loopback work and with whatever else runs on the machine ("others, cores" column). ' +
    'A process near 100 % is the bottleneck; when both are well below it, the time went to waiting on each other and on other tenants. ' +
    (best ? `In the fastest 1-receiver 256 MiB run (${fmt(transferMBps(best.agents[0]!, 256))} MB/s) the agent was at ${fmt(agentCore(best), 0)} % and the coordinator at ${fmt(coordCore(best), 0)} % ` +
      `(the agent's main thread alone: ${fmt(mainCore(best), 0)} %), while the rest of the machine took ${best.othersCores.toFixed(2)} cores: about ${((num(agentCore(best)) + num(coordCore(best))) / 100 + best.othersCores).toFixed(1)} of the 2 vCPUs in all. ` +
      'These are upper bounds: the CPU figures include start-up, and for the agent its threadpool writes, fdatasync and final SHA-256.' : ''));
  const meanS = (rs: typeof one) => rs.reduce((t, r) => t + num(r.agents[0]!.transferSeconds), 0) / Math.max(1, rs.length);
  // Only say the window limits the lossy runs when they were measurably slower (5 %).
  const slowerWithLoss = drop1.length > 0 && one.length > 0 && meanS(drop1) > 1.05 * meanS(one);
  p('- **The ACK-clocked window.** The coordinator sends ODATA only as the Master Client\'s ACKs open its window (MS-WDSMT 3.1.5.9.5; ExpMaxWindowSize 64, MaxWindowSize 2048 here). The ACK acknowledges the highest *continuous* sequence number, so the window stops at the first hole until the RDATA fills it. ' +
    `Without loss the round trip on loopback is far below a millisecond and the window is not what limits the rate; ` +
    (slowerWithLoss
      ? `with 2 % loss it is: the same 256 MiB took ${range(drop1.map((r) => r.agents[0]!.transferSeconds), 1)} s instead of ${range(one.map((r) => r.agents[0]!.transferSeconds), 1)} s `
      : `with 2 % loss the same 256 MiB took ${range(drop1.map((r) => r.agents[0]!.transferSeconds), 1)} s (${range(one.map((r) => r.agents[0]!.transferSeconds), 1)} s without), so in this run it did not limit the rate either, `) +
    `while the agent needed ${range(drop1.map(agentCore), 0)} % of a core and the coordinator ${range(drop1.map(coordCore), 0)} %. Each hole waits for a NACK (the Master Client NACKs at once, repeats after a back-off of 2×RTT or more) and for the coordinator, which resends a packet only when 4×RTT have passed since it last sent it (test/coordinator/pacing.ts \`nacked\`).`);
  const acked1 = mc.filter((r) => r.receivers === 1 && !r.dropPercent && !r.fwLeadEvery);
  p(`- **ACKs lost at the coordinator.** ${range(acked1.map((r) => (100 * lostAcks(r)) / r.agents.reduce((t, a) => t + num(a.mt?.acksSent), 0)), 0)} % of the ACKs never reached the coordinator in the 1-receiver runs where every ODATA is ACKed (no drop, no fw-lead). ` +
    'Its session socket asks for an 8 MiB receive buffer (test/coordinator/udp.ts); with the default buffer, runs of this bench lost 22–41 % of them (the socket overflowed while the coordinator was busy sending). ' +
    'ACKs are cumulative, so the next one makes up for a lost one. Compare the RcvbufErrors table in "Socket buffer".');
  if (fw.length)
    p(`- **Fewer ACKs.** With \`--fw-lead-every 32\` (ODATA_FW_LEAD_SEQ_NO, MS-WDSMT 2.2.16 option 0x0406, sent by Server 2012+: the Master Client ACKs only when asked) the agent needed ${range(fw.map((r) => usPerPacket(r.agents[0]!)))} µs per packet ` +
      `and got ${range(fw.map((r) => transferMBps(r.agents[0]!, 256)))} MB/s (every packet ACKed: ${range(one.map((r) => usPerPacket(r.agents[0]!)))} µs, ${range(mbps1)} MB/s). ` +
      `The CPU per packet is the sturdier comparison: the rest of the machine took ${range(fw.map((r) => r.othersCores), 2)} cores during the fw-lead runs and ${range(one.map((r) => r.othersCores), 2)} during the others.`);
  p('- **Three receivers** are three more single-threaded processes on the same two vCPUs; only the Master Client ACKs. On a real network each receiver has its own machine, and the coordinator\'s send loop is the shared part.');
  if (hot8192)
    p(`- **Bigger blocks.** The core needs ${hot8192.usPerPacket.median.toFixed(1)} µs per 8192-byte block (${hot8192.mbps.median.toFixed(0)} MB/s) against ${hot1385 ? hot1385.usPerPacket.median.toFixed(1) : '–'} µs per 1385-byte block: per-packet costs dominate; the checksum and the copies are what grows with the size. ` +
      `With jumbo frames each datagram's fixed Node cost would carry ${(8192 / 1385).toFixed(1)}× the data.`);
  p(`- **Disk writes batch themselves.** The pump keeps at most 2 writes in flight and starts one whenever a slot frees, so under load each positional \`writev\` carried ${range(one.map((r) => blocksPerWrite(r.agents[0]!)), 0)} blocks on average (1-receiver 256 MiB runs). ` +
    'A job costs the core a fixed amount on top of its blocks (section 1: `BlockStore` vs `BlockRing` rows; section 2: drain every 1 vs every 64), which only matters when writes are that small.');
  {
    const small = sizes[0];
    const large = sizes[sizes.length - 1];
    const hs = small !== undefined ? find(small, 1).map((r) => hwmMiB(r.agents[0]!)).filter((x): x is number => x !== undefined) : [];
    const hl = large !== undefined ? find(large, 1).map((r) => hwmMiB(r.agents[0]!)).filter((x): x is number => x !== undefined) : [];
    const name = (sz: number) => (sz >= 1024 ? `${sz / 1024} GiB` : `${sz} MiB`);
    if (small !== undefined && large !== undefined && small !== large && hs.length && hl.length)
      p(`- **Memory** (section 4): peak RSS ${range(hs, 0)} MiB for the ${name(small)} image and ${range(hl, 0)} MiB for the ${name(large)} image (${large / small}× the data), with a 64 MiB ring. ` +
        'The ring is allocated once at the size of `--cache` and its free slots are reused last-in-first-out (core/ring.ts); the bitmaps take one bit per block. ' +
        `The difference between the two sizes (${(Math.max(...hl) - Math.min(...hs)).toFixed(0)} MiB at most) is less than the ring; which part of it is ring pages touched for the first time and which is V8 heap was not measured separately.`);
  }
  p('- **What varies between runs.** Everything end to end: other work on the machine takes CPU at random moments (see the "others, cores" column), and loopback multicast puts both processes and the kernel on the same two vCPUs. ' +
    'Sections 1 and 2 run inside the bench process and are slowed too when the machine is busy; their min–max columns show the spread within this run, and section 2 also moves with garbage collection (GC share column).');
  p();
  return L.join('\n') + '\n';
}
