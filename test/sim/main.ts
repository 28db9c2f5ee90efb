/**
 * `npm run sim` (= npm run build && node dist/sim.cjs): the NACK-suppression simulation of issue 10 point 5.
 * The sans-I/O coordinator and N real core Receivers on the simulated network of net.ts (fake clock, seeded
 * independent loss per receiver); reports the NACK packets that reach the server per lost sequence number,
 * the simulated completion time, and checks every receiver's bytes against the image.
 *
 *   node dist/sim.cjs --receivers N [--loss P] [--seed S] [--backoff uniform|exponential] [--size-mib M]
 *                     [--rate-mbit R] [--latency-ms L] [--json]
 *   node dist/sim.cjs --table [--max-receivers N] [--out docs/performance.md] [--from run.json …]
 *
 * --loss is in percent (1 = 1 % of the datagrams towards each receiver, independently). --table runs
 * N = 10, 100, 1000, 10000 × both draws at 1 % on 16 MiB and rewrites only its marked section of
 * docs/performance.md (after every cell); with --from it renders the cells from the --json output of single runs
 * (so the big cells can run as separate processes) and names their commands. Exit 0 when every receiver completed byte-exact, 1 when not, 2 for
 * a bad argument.
 */
import { execSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { replaceSection } from './doc-section';
import { SimArgs, SimResult, runSim } from './run';
import { WindowArgs, runWindowCell } from './window';

function fail(msg: string): never {
  process.stderr.write(`sim: ${msg}\n`);
  process.exit(2);
}

interface Cli extends SimArgs {
  json: boolean;
  /** --link-mbit: the window cell of window.ts (a shaped link, goodput in simulated time) instead of the NACK run. */
  linkMbit: number;
  /** --rate-mbit given (with --link-mbit the coordinator's cap is off unless it is). */
  rateSet: boolean;
  coordinator: NonNullable<WindowArgs['coordinator']>;
  mtParams: NonNullable<WindowArgs['mtParams']>;
  table: boolean;
  maxReceivers: number;
  out: string;
  /** --from: render the table from the --json lines of earlier single runs instead of running the cells. */
  from: string[];
}

function parse(argv: string[]): Cli {
  const a: Cli = { receivers: 0, lossPercent: 1, seed: 1, backoff: 'exponential', sizeMiB: 16, rateMbit: 100, latencyMs: 1, linkMbit: 0, rateSet: false, coordinator: {}, mtParams: {}, json: false, table: false, from: [], maxReceivers: 10_000, out: path.resolve(__dirname, '..', 'docs', 'performance.md') };
  const num = (flag: string, v: string | undefined, min: number, max: number, int = false): number => {
    const n = Number(v);
    if (v === undefined || v.trim() === '' || !Number.isFinite(n) || n < min || n > max || (int && !Number.isInteger(n))) fail(`${flag} needs ${int ? 'an integer' : 'a number'} in ${min}..${max}, got ${v ?? 'nothing'}`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const f = argv[i]!;
    const v = () => argv[++i];
    if (f === '--receivers') a.receivers = num(f, v(), 1, 100_000, true);
    else if (f === '--loss') a.lossPercent = num(f, v(), 0, 50);
    else if (f === '--seed') a.seed = num(f, v(), 0, 2 ** 31, true);
    else if (f === '--backoff') {
      const b = v();
      if (b !== 'uniform' && b !== 'exponential') fail(`--backoff is uniform or exponential, got ${b ?? 'nothing'}`);
      a.backoff = b;
    } else if (f === '--size-mib') a.sizeMiB = num(f, v(), 0.01, 4096);
    else if (f === '--rate-mbit') {
      a.rateMbit = num(f, v(), 0, 100_000);
      a.rateSet = true;
    }
    else if (f === '--latency-ms') a.latencyMs = num(f, v(), 0.01, 1000);
    else if (f === '--link-mbit') a.linkMbit = num(f, v(), 1, 100_000);
    else if (f === '--max-window') a.coordinator.maxWindow = num(f, v(), 2, 1 << 20, true);
    else if (f === '--master-hold') a.coordinator.masterHoldMs = num(f, v(), 0, 1e9);
    else if (f === '--fw-lead-every') a.coordinator.fwLeadEvery = num(f, v(), 0, 1 << 20, true);
    else if (f === '--queue-target') a.coordinator.queueTargetMs = num(f, v(), 0, 60_000);
    else if (f === '--repeat-guard') {
      const g = v();
      if (g !== 'rdata' && g !== 'odata') fail(`--repeat-guard is rdata or odata, got ${g ?? 'nothing'}`);
      a.coordinator.repeatGuard = g;
    } else if (f === '--loss-model') {
      const m = v();
      if (m !== 'literal' && m !== 'ewma') fail(`--loss-model is literal or ewma, got ${m ?? 'nothing'}`);
      a.mtParams.lossModel = m;
    } else if (f === '--master-nack') {
      const m = v();
      if (m !== 'at-once' && m !== 'wait') fail(`--master-nack is at-once or wait, got ${m ?? 'nothing'}`);
      a.mtParams.masterNackAtOnce = m === 'at-once';
    }
    else if (f === '--max-receivers') a.maxReceivers = num(f, v(), 1, 100_000, true);
    else if (f === '--out') a.out = path.resolve(v() ?? fail('--out needs a file'));
    else if (f === '--json') a.json = true;
    else if (f === '--from') {
      while (i + 1 < argv.length && !argv[i + 1]!.startsWith('--')) a.from.push(path.resolve(argv[++i]!));
      if (a.from.length === 0) fail('--from needs files with the --json output of single runs');
    }
    else if (f === '--table') a.table = true;
    else if (f === '--help' || f === '-h') {
      process.stdout.write('usage: npm run sim -- --receivers N [--loss PERCENT] [--seed S] [--backoff uniform|exponential] [--size-mib M] [--rate-mbit R] [--latency-ms L] [--json]\n       npm run sim -- --receivers N --link-mbit R [--loss PERCENT] [--size-mib M] [--latency-ms L] [--max-window W] [--master-hold MS] [--fw-lead-every N] [--repeat-guard rdata|odata] [--queue-target MS] [--loss-model literal|ewma] [--master-nack at-once|wait] [--json]\n       npm run sim -- --table [--max-receivers N] [--out FILE]\n');
      process.exit(0);
    } else fail(`unknown argument ${f}`);
  }
  if (!a.table && a.receivers === 0) fail('--receivers N is required (or --table)');
  return a;
}

const fmt = (x: number, d = 2) => (Number.isFinite(x) ? x.toFixed(d) : '–');

function line(r: SimResult): string {
  return `${r.receivers} receivers, ${r.lossPercent} % loss, ${r.backoff}, seed ${r.seed}: ${r.lostSeqs} lost sequence numbers, ${r.nacks} NACKs at the server ` +
    `(${fmt(r.nacksPerLostSeq)} per lost sequence number, ${r.zeroNacks} Zero NACKs), ${r.rdata} RDATA, ${r.maRounds} MA rounds, ` +
    `complete at ${fmt(r.completionMs / 1000, 3)} s simulated; ${r.byteExact}/${r.receivers} byte-exact; ${fmt(r.wallSeconds, 1)} s wall, ${fmt(r.rssMiB, 0)} MiB RSS`;
}

const TABLE_RECEIVERS = [10, 100, 1000, 10_000];

function gitCommit(): string {
  try {
    return execSync('git rev-parse --short HEAD', { cwd: __dirname, stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim();
  } catch {
    return 'unknown';
  }
}

function renderTable(rows: SimResult[], pending: string[], meta: { date: string; command: string; commit: string; seconds: number }): string {
  const L: string[] = [];
  const p = (s = '') => L.push(s);
  const r0 = rows[0];
  p('## NACK suppression: the fleet simulation');
  p();
  p(`Written by ${meta.command} (test/sim/main.ts) on ${meta.date}, commit ${meta.commit}, in ${meta.seconds.toFixed(0)} s of wall time on ${os.cpus().length} shared vCPUs (Node ${process.version}); only this section is replaced. ` +
    'Each row is one run of the sans-I/O coordinator (test/coordinator/) and N real core `Receiver`s (core/receiver.ts) on the simulated network of test/sim/net.ts: a fake clock, ' +
    `${r0 ? `${r0.latencyMs} ms` : 'a fixed'} one-way latency, independent loss towards each receiver (multicast and unicast) drawn from a seeded PRNG per receiver, no uplink loss, ` +
    `the coordinator's token bucket at ${r0 ? `${r0.rateMbit} Mbit/s` : 'a fixed rate'} of ODATA + RDATA, its defaults otherwise (MaxNACKBackOff = MinNACKBackOff + clients / 5 ms, Data Packet List retention 1000 ms, MS-WDSMA repair rounds for what RDATA did not repair). ` +
    'Every receiver must complete and every block it writes is compared with the image.');
  p();
  p('- **lost seq nos**: data sequence numbers (ODATA, or RDATA of it) that at least one joined, unfinished receiver lost; MS-WDSMA rounds send blocks again under new sequence numbers, which count too.');
  p('- **NACKs**: NACK packets with at least one range that reached the server (every receiver\'s NACK timer, the Master Client\'s too); Zero NACKs (cache full, 3.2.5.12.2) are counted apart.');
  p('- **completion**: simulated time from the session request (all receivers at 0) to the last receiver\'s completion.');
  p();
  p('| receivers | draw | image | loss | lost seq nos | NACKs at server | **NACKs / lost seq no** | Zero NACKs | RDATA | NCF | MA rounds | completion (simulated) | byte-exact | deliveries | CPU | wall time | RSS |');
  p('|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|');
  for (const r of rows)
    p(`| ${r.receivers} | ${r.backoff} | ${r.sizeMiB} MiB (${r.totalBlocks} blocks) | ${r.lossPercent} % | ${r.lostSeqs} | ${r.nacks} | **${fmt(r.nacksPerLostSeq)}** | ${r.zeroNacks} | ${r.rdata} | ${r.ncf} | ${r.maRounds} | ${fmt(r.completionMs / 1000, 2)} s | ${r.byteExact}/${r.receivers} | ${(r.deliveries / 1e6).toFixed(1)} M | ${r.cpuSeconds !== undefined ? `${fmt(r.cpuSeconds, 0)} s` : '–'} | ${fmt(r.wallSeconds, 0)} s | ${fmt(r.rssMiB, 0)} MiB |`);
  for (const c of pending) p(`| ${c} | not run | | | | | | | | | | | | | | | |`);
  p();
  const goal = rows.find((r) => r.receivers === 10_000 && r.backoff === 'exponential');
  p(goal
    ? `**Goal (≤ 5 NACKs per lost sequence number at N = 10 000 with the exponential draw): ${goal.nacksPerLostSeq <= 5 ? 'met' : 'not met'}** — ${fmt(goal.nacksPerLostSeq)} in this run (seed ${goal.seed}, ${goal.sizeMiB} MiB${goal.sizeMiB !== 16 ? ', not the 16 MiB the issue asks for: see "Simplified"' : ''}).`
    : '**Goal (≤ 5 NACKs per lost sequence number at N = 10 000 with the exponential draw): not measured in this run.**');
  p();
  const pairs = [...new Set(rows.map((r) => `${r.receivers}/${r.sizeMiB}`))].flatMap((k) => {
    const u = rows.find((r) => `${r.receivers}/${r.sizeMiB}` === k && r.backoff === 'uniform');
    const e = rows.find((r) => `${r.receivers}/${r.sizeMiB}` === k && r.backoff === 'exponential');
    return u && e ? [`N = ${u.receivers} (${u.sizeMiB} MiB): ${fmt(u.nacksPerLostSeq)} → ${fmt(e.nacksPerLostSeq)} NACKs per lost sequence number, completion ${fmt(u.completionMs / 1000)} → ${fmt(e.completionMs / 1000)} s`] : [];
  });
  if (pairs.length)
    p(`Uniform → exponential: ${pairs.join('; ')}. ` +
      'With independent loss only about N × the loss rate receivers lose any one packet, so the flat draw already leaves few duplicates; the exponential draw waits longer on average (about 0.8–0.9 of the range against 0.5), ' +
      'which shows as fewer NACKs and, where the range is long (200 ms at N = 1000, 2 s at N = 10 000), as a later completion. Where one loss hits the whole group the difference is larger (test/core/nack-backoff.test.ts: 200 clients, one shared loss, 42 NACKs uniform against 8 exponential over 5 seeds).');
  p();
  const withCpu = rows.filter((r) => r.cpuSeconds !== undefined && r.deliveries > 0);
  const usCpu = withCpu.map((r) => (r.cpuSeconds! * 1e6) / r.deliveries);
  const big = withCpu.filter((r) => r.receivers === 10_000).map((r) => (r.cpuSeconds! * 1e6) / r.deliveries);
  if (usCpu.length)
    p(`Cost of the simulation: ${fmt(Math.min(...usCpu), 1)}–${fmt(Math.max(...usCpu), 1)} µs of CPU per datagram handed to a receiver (its decode and checksum, MT and MA state machines, the block copy into its ring, and the sim's byte check and events), ` +
      'in the rows whose CPU was recorded; wall time was several times that because other engineers were loading the same 2 vCPUs (load average 5–22 during these runs).');
  p();
  p('**Simplified**, and why: receivers are not handed the coordinator\'s NCF packets (`skipNcf`, test/sim/net.ts; they are counted at the coordinator, column NCF): MS-WDSMT 3.2.5.19 has clients ignore them, so a delivery would only count them and re-arm a 30 s inactivity timer that every data packet re-arms anyway, and at 10 000 receivers one NCF per NACK costs as many deliveries as the data.' +
    (rows.some((r) => r.sizeMiB !== 16) ? ` A row whose image is not 16 MiB was run smaller because of its cost: one 16 MiB run at N = 10 000 hands the receivers ≈ 250 M datagrams (N × (ODATA + RDATA), ten times the N = 1000 row)${big.length ? `, about ${fmt((250e6 * Math.min(...big)) / 1e6 / 60, 0)} minutes of one core at the ${fmt(Math.min(...big), 1)} µs measured at N = 10 000` : ''} per draw, more than the shared machine could give it in the time available; the smaller image keeps every receiver, the loss, the rate and the back-off range the same, but the transfer is shorter than the 2 s back-off range at N = 10 000, so more of the repair falls to MS-WDSMA rounds than it would on 16 MiB.` : ''));
  p();
  p('Reproduce one cell: `npm run sim -- --receivers 1000 --loss 1 --seed 1 --backoff exponential` (add `--json` for the numbers). ' +
    'What the simulation leaves out: no real sockets, kernel or CPU cost (wall time is the simulation\'s own); one latency for every receiver; the receivers\' disk writes complete 0.05 ms after they are taken. ' +
    'Nothing in the receivers is simplified: each one decodes and checksums every datagram it is given, runs its own MT and MA state machines and copies each block into its own ring.');
  return L.join('\n') + '\n';
}

function table(a: Cli): void {
  const t0 = Date.now();
  const cells: SimArgs[] = [];
  for (const n of TABLE_RECEIVERS) for (const backoff of ['uniform', 'exponential'] as const) cells.push({ receivers: n, lossPercent: 1, seed: a.seed, backoff, sizeMiB: 16, rateMbit: a.rateMbit, latencyMs: a.latencyMs });
  const rows: SimResult[] = [];
  let command = `\`npm run sim -- --table${a.maxReceivers < 10_000 ? ` --max-receivers ${a.maxReceivers}` : ''}\``;
  if (a.from.length) {
    const key = (r: SimArgs) => `${r.receivers} | ${r.backoff}`;
    const got = new Map<string, SimResult>();
    for (const f of a.from)
      for (const l of fs.readFileSync(f, 'utf8').split('\n'))
        if (l.trim()) {
          const r = JSON.parse(l) as SimResult;
          got.set(key(r), r);
        }
    for (const c of cells) {
      const r = got.get(key(c));
      if (r) rows.push(r);
    }
    const runs = rows.map((r) => `\`npm run sim -- --receivers ${r.receivers} --loss ${r.lossPercent} --seed ${r.seed} --backoff ${r.backoff}${r.sizeMiB !== 16 ? ` --size-mib ${r.sizeMiB}` : ''} --json\``).join(', ');
    command = `\`npm run sim -- --table --from <files>\` from the \`--json\` lines of the single runs ${runs} (\`npm run sim -- --table\` alone runs every cell in one process)`;
    const old = fs.existsSync(a.out) ? fs.readFileSync(a.out, 'utf8') : '';
    const pending = cells.filter((c) => !got.has(key(c))).map(key);
    fs.writeFileSync(a.out, replaceSection(old, 'nack-sim', renderTable(rows, pending, { date: new Date().toISOString(), command, commit: gitCommit(), seconds: rows.reduce((t, r) => t + r.wallSeconds, 0) })));
    process.stdout.write(`wrote the nack-sim section of ${a.out} from ${a.from.length} file(s)\n`);
    return;
  }
  const commit = gitCommit();
  const write = (pending: string[]) => {
    const old = fs.existsSync(a.out) ? fs.readFileSync(a.out, 'utf8') : '';
    fs.writeFileSync(a.out, replaceSection(old, 'nack-sim', renderTable(rows, pending, { date: new Date().toISOString(), command, commit, seconds: (Date.now() - t0) / 1000 })));
  };
  const todo = cells.filter((c) => c.receivers <= a.maxReceivers);
  const skipped = cells.filter((c) => c.receivers > a.maxReceivers).map((c) => `${c.receivers} | ${c.backoff}`);
  for (let i = 0; i < todo.length; i++) {
    const r = runSim(todo[i]!);
    rows.push(r);
    process.stdout.write(line(r) + '\n');
    write([...todo.slice(i + 1).map((c) => `${c.receivers} | ${c.backoff}`), ...skipped]);
  }
  process.stdout.write(`wrote the nack-sim section of ${a.out}\n`);
  if (rows.some((r) => r.byteExact !== r.receivers)) process.exit(1);
}

/** --link-mbit: one window cell (window.ts): goodput in simulated time on a shaped link, and what held it. */
function windowCell(a: Cli): void {
  const r = runWindowCell({ rateMbit: a.rateSet ? a.rateMbit : undefined, receivers: a.receivers, linkMbit: a.linkMbit, lossPercent: a.lossPercent, sizeMiB: a.sizeMiB, seed: a.seed, latencyMs: a.latencyMs, coordinator: a.coordinator, mtParams: a.mtParams });
  const cfg = JSON.stringify({ ...(a.rateSet ? { rateMbit: a.rateMbit } : {}), ...a.coordinator, ...a.mtParams });
  if (a.json) process.stdout.write(JSON.stringify({ receivers: a.receivers, linkMbit: a.linkMbit, lossPercent: a.lossPercent, sizeMiB: a.sizeMiB, seed: a.seed, latencyMs: a.latencyMs, settings: cfg, ...r }) + '\n');
  else
    process.stdout.write(`${a.receivers} receivers, ${a.linkMbit} Mbit/s link, ${a.lossPercent} % loss, ${a.sizeMiB} MiB, seed ${a.seed}, ${a.latencyMs} ms latency, ${cfg}: ` +
      `${fmt(r.goodputMBs)} MB/s simulated = ${fmt(r.ofLink, 3)} of the link payload (link busy ${fmt(r.linkBusy * 100, 1)} %); mean window ${fmt(r.meanWindow, 0)}, mean MCRTT ${fmt(r.meanMcRttMs, 1)} ms; ` +
      `repair ${fmt(r.repairMeanMs, 1)} ms mean, ${fmt(r.repairMaxMs, 0)} max; ${r.nacks} NACKs, ${r.rdata} RDATA, ${r.masterChanges} master changes, ${r.acksRejected} ACKs rejected, ${r.spmTimeouts} SPM timeouts, ${r.maRounds} MA rounds; ${r.byteExact}/${a.receivers} byte-exact\n`);
  if (r.byteExact !== a.receivers) process.exit(1);
}

function main(): void {
  const a = parse(process.argv.slice(2));
  if (a.table) return table(a);
  if (a.linkMbit > 0) return windowCell(a);
  const r = runSim(a);
  process.stdout.write(a.json ? JSON.stringify(r) + '\n' : line(r) + '\n');
  if (r.byteExact !== r.receivers) process.exit(1);
}

main();
