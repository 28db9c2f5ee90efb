/**
 * Renders section 7 of docs/performance.md from a LabResult (test/bench/lab-bench.ts): the lab table beside
 * udpcast with the ratios, CPU per datagram against the do-nothing Node listener and udp-receiver, memory, drops,
 * repair, the 8192-byte cells, and the targets of issue 10 stated as met or not. The section sits between two
 * HTML comments so a lab-only run (--quick, --smoke) can replace it in an existing report.
 */
import { BENCH_IPFRAG, LabCell, LabReceiver, LabResult, LabRun, Tool, UDPCAST_BLOCK, UDPCAST_FRAME, linkPayloadMBps, repairCeiling, udpcastLinkPayloadMBps, wireBytes } from './lab-bench';
import { MachineInfo, fmt } from './util';

export const LAB_BEGIN = '<!-- lab-bench:begin -->';
export const LAB_END = '<!-- lab-bench:end -->';
const CACHE_MIB = 64;
const GiB = 2 ** 30;

/** Replaces the lab section of `old` (or appends it). */
export function spliceLab(old: string, section: string): string {
  const a = old.indexOf(LAB_BEGIN);
  const b = old.indexOf(LAB_END);
  if (a >= 0 && b > a) return old.slice(0, a) + section.trimEnd() + old.slice(b + LAB_END.length);
  return (old.trimEnd() ? old.trimEnd() + '\n\n' : '') + section;
}

const median = (xs: (number | undefined)[]): number | undefined => {
  const v = xs.filter((x): x is number => x !== undefined && Number.isFinite(x)).sort((a, b) => a - b);
  if (!v.length) return undefined;
  const m = v.length >> 1;
  return v.length % 2 ? v[m] : (v[m - 1]! + v[m]!) / 2;
};
const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
/** the largest finite value (NaN when there is none) */
const maxOf = (xs: number[]) => xs.filter(Number.isFinite).reduce((a, b) => (Number.isNaN(a) || b > a ? b : a), NaN);
const sameCell = (a: LabCell, b: LabCell) =>
  a.receivers === b.receivers && a.lossPct === b.lossPct && a.shapedMbit === b.shapedMbit && a.blockSize === b.blockSize && a.sizeMiB === b.sizeMiB && a.tools.join() === b.tools.join();

/** µs of CPU per datagram of one receiver (first data → complete for the agent; the whole process for udp-receiver). */
export const usPerDgram = (r: LabReceiver) => (r.rxCpuS !== undefined && r.datagrams > 0 ? (r.rxCpuS * 1e6) / r.datagrams : undefined);
const floorUs = (run: LabRun) => (run.floor && run.floor.datagrams > 0 ? run.floor.cpuUs / run.floor.datagrams : undefined);
const perGiB = (cpuS: number | undefined, sizeMiB: number) => (cpuS === undefined ? undefined : cpuS / ((sizeMiB * 2 ** 20) / GiB));

interface CellView {
  cell: LabCell;
  runs: Record<string, LabRun[]>;
  /** repetitions in which every receiver of osdcast and of udpcast was correct */
  valid: number[];
  /** the same for udpcast and osdcast --udpcast (cells that ran both) */
  validUdpcast: number[];
}

/** Repetitions in which every receiver of each of `tools` was correct. */
function validReps(v: Pick<CellView, 'runs'>, tools: Tool[]): number[] {
  const reps = [...new Set(Object.values(v.runs).flat().map((r) => r.rep))].sort((a, b) => a - b);
  return reps.filter((rep) => tools.every((t) => v.runs[t]?.find((r) => r.rep === rep)?.allCorrect));
}

function group(result: LabResult): CellView[] {
  const views: CellView[] = [];
  for (const r of result.runs) {
    let v = views.find((x) => sameCell(x.cell, r.cell));
    if (!v) views.push((v = { cell: r.cell, runs: {}, valid: [], validUdpcast: [] }));
    (v.runs[r.tool] ??= []).push(r);
  }
  for (const v of views) {
    v.valid = validReps(v, ['osdcast', 'udpcast']);
    v.validUdpcast = validReps(v, ['udpcast', 'osdcast-udpcast']);
  }
  return views;
}

const linkName = (c: LabCell) => (c.shapedMbit ? `${c.shapedMbit} Mbit/s` : 'unshaped');
const correctness = (runs: LabRun[] | undefined) => (runs ? `${sum(runs.map((r) => r.receivers.filter((x) => x.correct).length))}/${sum(runs.map((r) => r.receivers.length))}` : '–');
const over = (v: CellView, tool: string, valid: boolean, reps = v.valid) => (v.runs[tool] ?? []).filter((r) => !valid || reps.includes(r.rep));
/** cells with osdcast beside udpcast (the ratio cells of issue 10) */
const isRatioCell = (v: CellView) => v.cell.tools.includes('osdcast') && v.cell.tools.includes('udpcast');
const ratio = (a: number | undefined, b: number | undefined) => (a !== undefined && b !== undefined && b > 0 ? a / b : undefined);
const agentRx1 = (r: LabRun) => r.receivers[0];
const coordCores = (r: LabRun) => (r.sender.cpuS !== undefined && r.transferS ? r.sender.cpuS / r.transferS : undefined);

export function renderLab(result: LabResult, m: MachineInfo, command: string): string {
  const L: string[] = [];
  const p = (s = '') => L.push(s);
  p(LAB_BEGIN);
  p('## 7. Namespace lab beside udpcast');
  p();
  if (result.skipped) {
    p(`Not run: ${result.skipped}.`);
    p(LAB_END);
    return L.join('\n') + '\n';
  }
  const views = group(result);
  const ratioCells = views.filter(isRatioCell);
  const fromUdpSender = views.filter((v) => v.cell.tools.includes('osdcast-udpcast'));
  const osdOnly = views.filter((v) => v.cell.tools.length === 1);
  const reps = Math.max(0, ...result.runs.map((r) => r.rep));
  p(`${m.date.slice(0, 16).replace('T', ' ')} UTC, commit ${m.gitCommit}, \`${command}\` (${result.mode}; ${reps} repetition${reps === 1 ? '' : 's'}, medians; images of ${[...new Set(result.runs.map((r) => r.cell.sizeMiB))].join(', ')} MiB; ${(result.seconds / 60).toFixed(1)} min). ` +
    `${m.cpus} vCPUs (${m.cpu}) shared with other work, Linux ${m.kernel}, Node ${m.node}, udpcast ${result.udpcastVersion}, net.core.rmem_max ${m.rmemMax}.`);
  p();
  p('The lab (test/lab/lab.ts): the sender in one network namespace, receivers in others, veth (MTU 1500) to a Linux bridge in a third. ' +
    'Shaped: `tc tbf` on the sender\'s `eth0` (burst 4 ms of the rate, at least 64 KiB; queue 8 MiB, so the sender is held back by its socket before tbf drops: tbf drops are in the last table). ' +
    'Loss: nftables `numgen random mod 10000 < 100` on the UDP towards each receiver\'s bridge port, drawn per packet and port. ' +
    'osdcast: the coordinator with `--fw-lead-every 32` and its defaults otherwise, agents with their defaults (32 MiB socket buffer, 64 MiB `--cache`), CHECKSUM. udpcast: `udp-sender --nokbd --min-receivers N` (`--nopointopoint` for N = 1) and `udp-receiver --nokbd`, defaults otherwise. ' +
    'The tools run one right after the other in each cell, the order alternating between repetitions. Receivers write to tmpfs (/dev/shm); every output file is hashed by the bench (correct = exit 0 and the image\'s SHA-256).');
  p();
  p('Goodput = image bytes / (first data frame at any receiver\'s bridge port → last receiver complete), in MB/s (10^6). First data: an nftables counter of frames over 1000 bytes per port, polled every ~3 ms. ' +
    'Complete: osdcast, the agent\'s log line "every block is on disk" (its final SHA-256 read-back comes after and is shown separately); udpcast, udp-receiver\'s exit. ' +
    'Start-up (receiver start → first data at its port; median receiver): osdcast\'s MS-WDSMSI initiation and JOIN, udpcast\'s rendez-vous. ' +
    'Ratio = osdcast / udpcast over the repetitions in which every receiver of both tools was correct (the "valid" column). Link payload = the tbf rate × block / frame (1385 of ' + wireBytes(1385) + ' bytes). ' +
    'Repair ceiling = the share of the link payload rate that any sender without FEC (udpcast\'s default too) can deliver when every receiver loses each frame independently: each block goes out until all N have it, on average Σ_k≥0 (1 − (1 − q^k)^N) times, q = 1 − (1 − p)^F the loss of a datagram of F fragments (test/bench/lab-bench.ts `repairCeiling`); at 1 % loss 0.990, 0.971 and 0.928 for N = 1, 3, 8. "osdcast / ceiling" = goodput ÷ (link payload × ceiling). "udpcast / its link" = udpcast\'s goodput ÷ its own link payload (' + UDPCAST_BLOCK + ' of ' + UDPCAST_FRAME + ' bytes: a 16-byte header against MS-WDSMT\'s 59), so osdcast / udpcast ≥ 1 asks osdcast to use its link ' + fmt(UDPCAST_BLOCK / UDPCAST_FRAME / (1385 / wireBytes(1385)), 3) + '× as well as udpcast uses its own.');
  p();
  p('| N | link | loss | osdcast MB/s | udpcast MB/s | ratio | valid | link payload MB/s | osdcast / link | udpcast / its link | repair ceiling | osdcast / ceiling | start-up osdcast s | start-up udpcast s | correct osdcast | correct udpcast |');
  p('|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|');
  for (const v of ratioCells) {
    const c = v.cell;
    const o = median(over(v, 'osdcast', false).map((r) => r.goodputMBps));
    const u = median(over(v, 'udpcast', false).map((r) => r.goodputMBps));
    const ov = median(over(v, 'osdcast', true).map((r) => r.goodputMBps));
    const uv = median(over(v, 'udpcast', true).map((r) => r.goodputMBps));
    const link = c.shapedMbit ? linkPayloadMBps(c.shapedMbit, c.blockSize) : undefined;
    const ceil = repairCeiling(c.lossPct, c.receivers, c.blockSize);
    const uLink = c.shapedMbit ? udpcastLinkPayloadMBps(c.shapedMbit) : undefined;
    p(`| ${c.receivers} | ${linkName(c)} | ${c.lossPct} % | ${fmt(o)} | ${fmt(u)} | ${fmt(ratio(ov, uv), 2)} | ${v.valid.length}/${reps} | ${fmt(link)} | ${fmt(ratio(o, link), 2)} | ${fmt(ratio(u, uLink), 2)} | ${fmt(ceil, 3)} | ${fmt(ratio(o, link === undefined ? undefined : link * ceil), 2)} | ` +
      `${fmt(median(over(v, 'osdcast', false).map((r) => r.startupS)), 2)} | ${fmt(median(over(v, 'udpcast', false).map((r) => r.startupS)), 2)} | ${correctness(v.runs.osdcast)} | ${correctness(v.runs.udpcast)} |`);
  }
  p();
  p('### CPU');
  p();
  p('Per datagram: the agent in `rx1` (beside it, on the same group and port, the do-nothing Node listener of test/bench/floor.ts: one copy into an arena, a positional `writev` every 64) from its first data frame to "every block is on disk", sampled from /proc/<pid>/stat (10 ms ticks) ÷ the data frames that reached its port; the listener\'s own CPU from its first datagram ÷ its datagrams; udp-receiver\'s whole process (`/usr/bin/time`) ÷ the data frames at its port (median receiver). ' +
    'CPU-s per GiB of image: the same receive CPU; coordinator and udp-sender: the whole process. Coordinator cores: its CPU ÷ the transfer time (an upper bound, start-up included); near 1 it is what limits the cell. "Master" marks whether the agent in rx1 was the Master Client (it ACKs). Final SHA-256: the agent\'s read-back after "complete" to its exit (wall s / CPU s).');
  p();
  p('| N | link | loss | agent µs/dgram | listener µs/dgram | agent ÷ listener | udp-receiver µs/dgram | agent ÷ udp-receiver | agent CPU-s/GiB | udp-receiver CPU-s/GiB | coordinator CPU-s/GiB | udp-sender CPU-s/GiB | coordinator ÷ udp-sender | coordinator cores | rx1 master | final SHA-256 s (CPU) |');
  p('|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|');
  for (const v of ratioCells) {
    const c = v.cell;
    const os = v.runs.osdcast ?? [];
    const us = v.runs.udpcast ?? [];
    const a = median(os.map((r) => usPerDgram(agentRx1(r)!)));
    const f = median(os.map(floorUs));
    const u = median(us.map((r) => median(r.receivers.map(usPerDgram))));
    const ag = median(os.map((r) => perGiB(agentRx1(r)!.rxCpuS, c.sizeMiB)));
    const ug = median(us.map((r) => median(r.receivers.map((x) => perGiB(x.rxCpuS, c.sizeMiB)))));
    const cg = median(os.map((r) => perGiB(r.sender.cpuS, c.sizeMiB)));
    const sg = median(us.map((r) => perGiB(r.sender.cpuS, c.sizeMiB)));
    const masters = os.filter((r) => agentRx1(r)!.master).length;
    p(`| ${c.receivers} | ${linkName(c)} | ${c.lossPct} % | ${fmt(a)} | ${fmt(f)} | ${fmt(median(os.map((r) => ratio(usPerDgram(agentRx1(r)!), floorUs(r)))), 2)} | ${fmt(u)} | ${fmt(ratio(a, u), 2)} | ` +
      `${fmt(ag, 2)} | ${fmt(ug, 2)} | ${fmt(cg, 2)} | ${fmt(sg, 2)} | ${fmt(ratio(cg, sg), 2)} | ${fmt(median(os.map(coordCores)), 2)} | ${masters}/${os.length} | ${fmt(median(os.map((r) => agentRx1(r)!.hashS)), 2)} (${fmt(median(os.map((r) => agentRx1(r)!.hashCpuS)), 2)}) |`);
  }
  p();
  p('### Memory, kernel drops, repair');
  p();
  p('Peak RSS: VmHWM at exit (Node) or max RSS (`/usr/bin/time`), the largest receiver. Kernel drops: sum over the runs and receivers of RcvbufErrors of the receiver namespaces (rx1\'s includes the listener) and of the drops column of /proc/<pid>/net/udp for the receiver\'s own sockets. ' +
    'Lost: UDP dropped by the nftables loss rule (per receiver, median run). NACKs: sent by all agents (median run); RDATA: received by the agent in rx1; the coordinator\'s RDATA sent. tbf drops: the sender\'s qdisc, sum over the runs.');
  p();
  p('| N | link | loss | tool | peak RSS receiver MiB | peak RSS sender MiB | RcvbufErrors | socket drops | lost / receiver | NACKs | RDATA rx1 | RDATA sent | tbf drops |');
  p('|---|---|---|---|---|---|---|---|---|---|---|---|---|');
  for (const v of [...ratioCells, ...osdOnly])
    for (const t of v.cell.tools) {
      const rs = v.runs[t] ?? [];
      const c = v.cell;
      p(`| ${c.receivers} | ${linkName(c)}${c.blockSize !== 1385 ? `, ${c.blockSize} B` : ''} | ${c.lossPct} % | ${t} | ${fmt(maxOf(rs.flatMap((r) => r.receivers.map((x) => (x.hwmKiB ?? NaN) / 1024))), 0)} | ${fmt(maxOf(rs.map((r) => (r.sender.hwmKiB ?? NaN) / 1024)), 0)} | ` +
        `${sum(rs.flatMap((r) => r.receivers.map((x) => x.rcvbufErrors)))} | ${sum(rs.flatMap((r) => r.receivers.map((x) => x.socketDrops)))} | ${fmt(median(rs.map((r) => median(r.receivers.map((x) => x.lost)))), 0)} | ` +
        `${t === 'osdcast' ? fmt(median(rs.map((r) => sum(r.receivers.map((x) => x.nacks ?? 0)))), 0) : '–'} | ${t === 'osdcast' ? fmt(median(rs.map((r) => agentRx1(r)!.rdata)), 0) : '–'} | ${t === 'osdcast' ? fmt(median(rs.map((r) => r.sender.stats.rdata)), 0) : '–'} | ${c.shapedMbit ? sum(rs.map((r) => r.tbf?.dropped ?? 0)) : '–'} |`);
    }
  p();
  if (fromUdpSender.length) {
    p('### osdcast --udpcast beside udp-receiver, the same udp-sender (issue 12)');
    p();
    p('The same `udp-sender` command as above (a new process per run), received once by N `udp-receiver`s and once by N `osdcast receive --udpcast --interface <ip> --out <file> --sha256 <hash>` with their defaults (portbase 9000, rendez-vous on the subnet broadcast, 32 MiB socket buffer, 64 MiB `--cache`), one right after the other. ' +
      'Goodput and start-up as above; "complete" for osdcast is its log line "end of transfer: … all on disk" (its 0.5 s linger, DISCONNECT and final SHA-256 come after). ' +
      'CPU-s/GiB: osdcast sampled from first data to complete, udp-receiver its whole process (it hashes nothing). Ratio = osdcast / udp-receiver over the repetitions in which every receiver of both was correct. RETRANSMIT: the requests osdcast sent (sum over its receivers, median run).');
    p();
    p('| N | link | loss | osdcast --udpcast MB/s | udp-receiver MB/s | ratio | valid | start-up osdcast s | start-up udp-receiver s | osdcast CPU-s/GiB | udp-receiver CPU-s/GiB | CPU ratio | osdcast µs/dgram | udp-receiver µs/dgram | peak RSS osdcast MiB | RETRANSMIT sent | correct osdcast | correct udp-receiver |');
    p('|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|');
    for (const v of fromUdpSender) {
      const c = v.cell;
      const os = v.runs['osdcast-udpcast'] ?? [];
      const us = v.runs.udpcast ?? [];
      const valid = v.validUdpcast;
      const cpuO = median(os.map((r) => median(r.receivers.map((x) => perGiB(x.rxCpuS, c.sizeMiB)))));
      const cpuU = median(us.map((r) => median(r.receivers.map((x) => perGiB(x.rxCpuS, c.sizeMiB)))));
      p(`| ${c.receivers} | ${linkName(c)} | ${c.lossPct} % | ${fmt(median(os.map((r) => r.goodputMBps)))} | ${fmt(median(us.map((r) => r.goodputMBps)))} | ` +
        `${fmt(ratio(median(over(v, 'osdcast-udpcast', true, valid).map((r) => r.goodputMBps)), median(over(v, 'udpcast', true, valid).map((r) => r.goodputMBps))), 2)} | ${valid.length}/${reps} | ` +
        `${fmt(median(os.map((r) => r.startupS)), 2)} | ${fmt(median(us.map((r) => r.startupS)), 2)} | ${fmt(cpuO, 2)} | ${fmt(cpuU, 2)} | ${fmt(ratio(cpuO, cpuU), 2)} | ` +
        `${fmt(median(os.map((r) => median(r.receivers.map(usPerDgram)))))} | ${fmt(median(us.map((r) => median(r.receivers.map(usPerDgram)))))} | ` +
        `${fmt(maxOf(os.flatMap((r) => r.receivers.map((x) => (x.hwmKiB ?? NaN) / 1024))), 0)} | ${fmt(median(os.map((r) => sum(r.receivers.map((x) => x.retransmits ?? 0)))), 0)} | ${correctness(os)} | ${correctness(us)} |`);
    }
    p();
  }
  if (osdOnly.length) {
    p('### osdcast alone at 8192-byte blocks');
    p();
    p('`--block-size 8192`: each datagram is 6 IP fragments (as WDS sends when `ApBlockSize` is not lowered); udp-sender cannot go above 1456, so there is no ratio. A fragment is lost on its own, so 1 % per packet loses about 6 % of the datagrams. Link payload: 8192 of ' + wireBytes(8192) + ' bytes on the wire. The lab\'s namespaces set `net.ipv4.ipfrag_time=' + BENCH_IPFRAG.timeS + '` and `ipfrag_high_thresh` ' + (BENCH_IPFRAG.highThreshBytes >> 20) + ' MiB: at the kernel defaults (30 s, 4 MiB) every fragment of a lost datagram waits 30 s, the reassembly memory fills within a second and the kernel drops nearly every new fragment (`/proc/net/snmp` ReasmFails), so the 1 % cell measured the kernel; a Linux receiver on a lossy link at 8192-byte blocks needs the same settings.');
    p();
    p('| N | link | loss | MB/s | link payload MB/s | osdcast / link | repair ceiling | start-up s | agent µs/dgram | listener µs/dgram | agent ÷ listener | agent CPU-s/GiB | coordinator CPU-s/GiB | correct |');
    p('|---|---|---|---|---|---|---|---|---|---|---|---|---|---|');
    for (const v of osdOnly) {
      const c = v.cell;
      const os = v.runs.osdcast ?? [];
      const g = median(os.map((r) => r.goodputMBps));
      const link = c.shapedMbit ? linkPayloadMBps(c.shapedMbit, c.blockSize) : undefined;
      p(`| ${c.receivers} | ${linkName(c)} | ${c.lossPct} % | ${fmt(g)} | ${fmt(link)} | ${fmt(ratio(g, link), 2)} | ${fmt(repairCeiling(c.lossPct, c.receivers, c.blockSize), 3)} | ${fmt(median(os.map((r) => r.startupS)), 2)} | ${fmt(median(os.map((r) => usPerDgram(agentRx1(r)!))))} | ${fmt(median(os.map(floorUs)))} | ` +
        `${fmt(median(os.map((r) => ratio(usPerDgram(agentRx1(r)!), floorUs(r)))), 2)} | ${fmt(median(os.map((r) => perGiB(agentRx1(r)!.rxCpuS, c.sizeMiB))), 2)} | ${fmt(median(os.map((r) => perGiB(r.sender.cpuS, c.sizeMiB))), 2)} | ${correctness(os)} |`);
    }
    p();
  }
  if (result.skippedRuns.length)
  {
    p(`Not run (the budget of ${fmt((result.budgetS ?? 0) / 60, 1)} min being spent) or failed: ${result.skippedRuns.join('; ')}.`);
    p();
  }
  for (const l of renderTargets(result, views)) p(l);
  p(LAB_END);
  return L.join('\n') + '\n';
}

function renderTargets(result: LabResult, views: CellView[]): string[] {
  const out: string[] = ['### Targets of issue 10 (CHECKSUM sessions)', ''];
  const met = (ok: boolean | undefined) => (ok === undefined ? '**not measured**' : ok ? '**met**' : '**not met**');
  const ratioCells = views.filter(isRatioCell);
  // 1. receiver CPU per datagram ≤ 1.25× the listener's, clean and at 1 %
  for (const loss of [0, 1]) {
    const rs = ratioCells.filter((v) => v.cell.lossPct === loss).flatMap((v) => (v.runs.osdcast ?? []).map((r) => ratio(usPerDgram(agentRx1(r)!), floorUs(r))));
    const vals = rs.filter((x): x is number => x !== undefined);
    const med = median(vals);
    const toUdp = median(ratioCells.filter((v) => v.cell.lossPct === loss).map((v) => ratio(median((v.runs.osdcast ?? []).map((r) => usPerDgram(agentRx1(r)!))), median((v.runs.udpcast ?? []).map((r) => median(r.receivers.map(usPerDgram)))))));
    out.push(`- Receiver CPU per datagram ≤ 1.25× the Node listener's, ${loss ? '1 % loss' : 'clean'}: agent ÷ listener median ${fmt(med, 2)} (${fmt(Math.min(...vals), 2)}–${fmt(Math.max(...vals), 2)} over ${vals.length} runs) — ${met(med === undefined ? undefined : med <= 1.25)}` +
      `${med !== undefined && med <= 1.1 ? ' (stretch 1.1× met too)' : ''}. Agent ÷ udp-receiver: ${fmt(toUdp, 2)} (median cell).`);
  }
  // 2. shaped goodput
  const shaped = ratioCells.filter((v) => v.cell.shapedMbit);
  const rows: string[] = [];
  let allLink = true;
  let allUdp = true;
  let any = false;
  const aboveCeiling: string[] = [];
  for (const v of shaped) {
    const o = median((v.runs.osdcast ?? []).map((r) => r.goodputMBps));
    const link = linkPayloadMBps(v.cell.shapedMbit!, v.cell.blockSize);
    const ov = median(over(v, 'osdcast', true).map((r) => r.goodputMBps));
    const uv = median(over(v, 'udpcast', true).map((r) => r.goodputMBps));
    const rl = ratio(o, link);
    const ru = ratio(ov, uv);
    if (rl === undefined || rl < 0.95) allLink = false;
    if (ru === undefined || ru < 1) allUdp = false;
    any = true;
    const ceil = repairCeiling(v.cell.lossPct, v.cell.receivers, v.cell.blockSize);
    if (ceil < 0.95) aboveCeiling.push(`N = ${v.cell.receivers} at ${v.cell.lossPct} % (ceiling ${fmt(ceil, 3)})`);
    const uEff = ratio(median((v.runs.udpcast ?? []).map((r) => r.goodputMBps)), udpcastLinkPayloadMBps(v.cell.shapedMbit!));
    rows.push(`N = ${v.cell.receivers} at ${v.cell.shapedMbit} Mbit/s, ${v.cell.lossPct} %: ${fmt(o)} MB/s = ${fmt(rl, 2)}× link (${fmt(ratio(rl, ceil), 2)}× the repair ceiling), ${fmt(ru, 2)}× udpcast (udpcast ${fmt(uEff, 2)}× its link)`);
  }
  out.push(`- Shaped goodput ≥ 0.95× the link payload rate: ${met(any ? allLink : undefined)}; ≥ 1.0× udpcast: ${met(any ? allUdp : undefined)}. ${rows.join('; ')}.` +
    (aboveCeiling.length ? ` The 0.95 target is above the repair ceiling (no sender without FEC can reach it) in: ${aboveCeiling.join(', ')}.` : '') +
    ` At equal use of their links osdcast / udpcast would be ${fmt((1385 / wireBytes(1385)) / (UDPCAST_BLOCK / UDPCAST_FRAME), 3)}: udpcast's 16-byte header carries more payload per frame than MS-WDSMT's 59 bytes at 1385-byte blocks.`);
  // 3. coordinator CPU
  const cr = ratioCells.map((v) => ({ v, r: ratio(median((v.runs.osdcast ?? []).map((r) => perGiB(r.sender.cpuS, v.cell.sizeMiB))), median((v.runs.udpcast ?? []).map((r) => perGiB(r.sender.cpuS, v.cell.sizeMiB)))) }));
  const crv = cr.map((x) => x.r).filter((x): x is number => x !== undefined);
  const limited = views
    .filter((v) => (median((v.runs.osdcast ?? []).map(coordCores)) ?? 0) >= 0.9)
    .map((v) => `N = ${v.cell.receivers} ${linkName(v.cell)} ${v.cell.lossPct} %${v.cell.blockSize !== 1385 ? ` ${v.cell.blockSize} B` : ''} (${fmt(median((v.runs.osdcast ?? []).map(coordCores)), 2)})`);
  out.push(`- Coordinator CPU-s per GiB ≤ 1.5× udp-sender's: ${fmt(Math.min(...crv), 2)}–${fmt(Math.max(...crv), 2)}× over the cells — ${met(crv.length ? crv.every((x) => x <= 1.5) : undefined)}` +
    (crv.some((x) => x > 1.5) ? ` (over in: ${cr.filter((x) => x.r !== undefined && x.r > 1.5).map((x) => `N = ${x.v.cell.receivers} ${linkName(x.v.cell)} ${x.v.cell.lossPct} %`).join(', ')})` : '') + '. ' +
    `Cells where the coordinator used ≥ 0.9 of a core during the transfer (it limits them): ${limited.length ? limited.join(', ') : 'none'}.`);
  // 4. RSS
  const hwm256 = maxOf(result.runs.filter((r) => r.tool === 'osdcast' && r.cell.sizeMiB === 256).flatMap((r) => r.receivers.map((x) => (x.hwmKiB ?? NaN) / 1024)));
  const hwmAny = maxOf(result.runs.filter((r) => r.tool === 'osdcast').flatMap((r) => r.receivers.map((x) => (x.hwmKiB ?? NaN) / 1024)));
  const big = result.big ? (result.big.receivers[0]?.hwmKiB ?? NaN) / 1024 : undefined;
  const limit = CACHE_MIB + 48;
  const h = Number.isFinite(hwm256) ? hwm256 : hwmAny;
  out.push(`- Peak RSS ≤ --cache + 48 MiB (${limit} MiB at the default 64 MiB): ${Number.isFinite(hwm256) ? '256 MiB images' : 'this run\'s images'}, largest agent ${fmt(h, 0)} MiB — ${met(Number.isFinite(h) ? h <= limit : undefined)}; ` +
    (big !== undefined ? `4 GiB image (sparse source, one receiver, unshaped${result.big!.allCorrect ? ', byte-exact' : ', NOT correct'}): ${fmt(big, 0)} MiB — ${met(Number.isFinite(big) ? big <= limit : undefined)}.` : '4 GiB image: not run in this mode (full bench only).'));
  // 5. kernel drops
  const agentDrops = sum(result.runs.filter((r) => r.tool === 'osdcast').flatMap((r) => r.receivers.map((x) => x.socketDrops)));
  const nsDrops = sum(result.runs.filter((r) => r.tool === 'osdcast').flatMap((r) => r.receivers.map((x) => x.rcvbufErrors)));
  const floorDrops = sum(result.runs.map((r) => r.floor?.drops ?? 0));
  out.push(`- 0 kernel drops with a 32 MiB socket buffer: the agents' sockets dropped ${agentDrops} datagrams over all osdcast runs (RcvbufErrors of their namespaces ${nsDrops}, the listener's socket ${floorDrops}) — ${met(agentDrops === 0)}.`);
  out.push('');
  return out;
}

