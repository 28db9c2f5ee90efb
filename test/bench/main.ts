/**
 * `npm run bench` (= npm run build && node dist/bench.cjs): measures the receiver on this machine and writes
 * docs/performance.md. Speed and memory are measured here, never asserted by timed unit tests.
 *
 *   node dist/bench.cjs [--quick | --smoke] [--out <file>] [--no-profile] [--keep] [--no-lab]
 *
 * (no mode)     everything: sections 1-6 on loopback and in-process, then section 7, the namespace lab beside
 *               udpcast (test/bench/lab-bench.ts; needs root, nftables, udpcast), 3 repetitions, and one 4 GiB run
 * --quick       section 7 only, one repetition, N = 1 and 3, 128 MiB images (within 4 minutes); replaces section 7 in --out
 * --smoke       section 7 only, one cell (N = 1, unshaped, clean, 16 MiB; under a minute); replaces section 7 in --out
 * --no-lab      full run without section 7 (a machine without root or udpcast)
 * --out         where the report goes (default docs/performance.md of this checkout)
 * --no-profile  skip the extra CPU-profiled end-to-end run
 * --keep        keep the temporary directory (images, agent logs, profiles)
 *
 * node dist/bench.cjs --render <results.json> [<out>]   re-renders the report from a run kept with --keep
 * node dist/bench.cjs --render-lab <lab-results.json> [<out>]   re-renders section 7 from a --quick/--smoke run kept with --keep
 *
 * Internal: `--serve-http <file> <path>` runs test/coordinator/http.ts as a child for the HTTP-only runs;
 * `--floor-listener …` runs the do-nothing Node listener of test/bench/floor.ts.
 *
 * node dist/bench.cjs --ab <distA> <distB> [--reps 3] [--size 256] [--drop-percent 0] [--fw-lead-every 32]
 *   interleaved A/B of two builds' agents on one loopback cell, beside the floor listener (test/bench/ab.ts)
 * node dist/bench.cjs --hotpath [--size 64] [--reps 5] [--fw-lead-every 32]   section 2's replay alone (hotpath.ts)
 */
import { AbRun, floorRuns, runAb } from './ab';
import { measureBinaries, renderBinaries } from './binary';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { RunResult, Runner, makeImages, serveHttp } from './e2e';
import { runFloorListener } from './floor';
import { runHotPath, runHotPathCli } from './hotpath';
import { runMicro } from './micro';
import { stageProfile, summarizeProfile } from './profile';
import { ReportInput, renderReport } from './report';
import { LabResult, labBenchUnavailable, runLabBench } from './lab-bench';
import { renderLab, spliceLab } from './lab-report';
import { FOREIGN_SECTIONS, keepSections } from '../sim/doc-section';
import { MachineInfo, loadavg, log, machineInfo, nowNs, sysctl } from './util';

export const PROFILE_FRAMES = ['onMessage', 'handleDatagram', 'decodeMt', 'sendAck', 'afterDns', 'kick', 'writev', 'pump.onWritten', 'checkpoint', 'fsyncSync', 'update', '(garbage collector)', '(idle)', '(program)'];
export const COORD_PROFILE_FRAMES = ['onMessage', 'handleDatagram', 'release', 'sendData', 'blockPayload', 'readSync', 'encodeMt', 'checksum', 'afterDns', 'doSend', '(garbage collector)', '(idle)', '(program)'];

interface Args {
  quick: boolean;
  smoke: boolean;
  lab: boolean;
  out: string;
  profile: boolean;
  keep: boolean;
  /** Only section 6 (binaries), replacing it in an existing report. */
  binariesOnly: boolean;
}

function parseArgs(argv: string[]): Args {
  const root = path.resolve(__dirname, '..');
  const a: Args = { quick: false, smoke: false, lab: true, out: path.join(root, 'docs', 'performance.md'), profile: true, keep: false, binariesOnly: false };
  for (let i = 0; i < argv.length; i++) {
    const v = argv[i]!;
    if (v === '--quick') a.quick = true;
    else if (v === '--smoke') a.smoke = true;
    else if (v === '--no-lab') a.lab = false;
    else if (v === '--no-profile') a.profile = false;
    else if (v === '--keep') a.keep = true;
    else if (v === '--binaries-only') a.binariesOnly = true;
    else if (v === '--out') a.out = path.resolve(argv[++i] ?? '');
    else if (v === '--help' || v === '-h') {
      process.stdout.write('usage: node dist/bench.cjs [--quick | --smoke] [--out <file>] [--no-profile] [--keep] [--no-lab] [--binaries-only]\n');
      process.exit(0);
    } else {
      process.stderr.write(`bench: unknown argument ${v}\n`);
      process.exit(2);
    }
  }
  if (a.quick && a.smoke) {
    process.stderr.write('bench: --quick and --smoke exclude each other\n');
    process.exit(2);
  }
  return a;
}

/**
 * Wall-clock budgets of section 7 (runs that would not fit are skipped and listed; a run started just before the
 * end gets at least 20 s): the full bench must stay within 25 minutes with sections 1-6 (1.5 minutes in the
 * 16:39 run of 2026-12-02, 22.4 minutes in all with a 21-minute budget), --quick within 4.
 */
const LAB_BUDGET_S = { full: 20 * 60, quick: 225, smoke: undefined } as const;

/** Section 7 (the lab beside udpcast): runs it, or says why it cannot run here. */
async function labSection(args: Args, machine: MachineInfo, command: string): Promise<{ md: string; result: LabResult }> {
  const mode = args.smoke ? 'smoke' : args.quick ? 'quick' : 'full';
  const why = labBenchUnavailable();
  const result: LabResult = why
    ? { mode, runs: [], skippedRuns: [], seconds: 0, shm: '', udpcastVersion: '?', skipped: why }
    : await runLabBench({ mode, dist: __dirname, self: __filename, big: mode === 'full', budgetS: LAB_BUDGET_S[mode] });
  if (why) log(`lab: not run: ${why}`);
  return { md: renderLab(result, machine, command), result };
}

async function main(): Promise<void> {
  if (process.argv[2] === '--floor-listener') return runFloorListener(process.argv.slice(3));
  if (process.argv[2] === '--ab') return runAb(process.argv.slice(3), __filename);
  if (process.argv[2] === '--hotpath') return runHotPathCli(process.argv.slice(3));
  if (process.argv[2] === '--serve-http') return serveHttp(process.argv[3]!, process.argv[4]!);
  if (process.argv[2] === '--render-lab') {
    // Re-render section 7 from the lab-results.json of a lab run kept with --keep.
    const kept = JSON.parse(fs.readFileSync(process.argv[3]!, 'utf8')) as { machine: MachineInfo; result: LabResult; command: string };
    const out = path.resolve(process.argv[4] ?? parseArgs([]).out);
    fs.writeFileSync(out, spliceLab(fs.existsSync(out) ? fs.readFileSync(out, 'utf8') : '', renderLab(kept.result, kept.machine, kept.command)));
    log(`wrote section 7 of ${out} from ${process.argv[3]}`);
    return;
  }
  if (process.argv[2] === '--render') {
    // Re-render a report from the results.json of a kept run (text changes without measuring again).
    const input = JSON.parse(fs.readFileSync(process.argv[3]!, 'utf8')) as ReportInput;
    const out = path.resolve(process.argv[4] ?? parseArgs([]).out);
    fs.writeFileSync(out, keepSections(fs.existsSync(out) ? fs.readFileSync(out, 'utf8') : '', renderReport(input), FOREIGN_SECTIONS));
    log(`wrote ${out} from ${process.argv[3]}`);
    return;
  }
  const args = parseArgs(process.argv.slice(2));
  if (args.binariesOnly) {
    // Re-measure section 6 only (after `npm run package`), keeping sections 1-5 of the existing report.
    const old = fs.existsSync(args.out) ? fs.readFileSync(args.out, 'utf8') : '';
    const cut = old.indexOf('## 6. Single binary');
    // Section 7 (the lab, after 6) and the simulation's section are carried over.
    fs.writeFileSync(args.out, keepSections(old, (cut >= 0 ? old.slice(0, cut) : old.trimEnd() + '\n\n') + renderBinaries(measureBinaries(__dirname)), [...FOREIGN_SECTIONS, 'lab-bench']));
    log(`wrote section 6 of ${args.out}`);
    return;
  }
  if (args.smoke || args.quick) {
    // Lab only: replace section 7 of --out (or write a file with just it).
    const machine = machineInfo(os.tmpdir());
    const command = args.smoke ? 'node dist/bench.cjs --smoke' : 'npm run build && node dist/bench.cjs --quick';
    const { md, result } = await labSection(args, machine, command);
    if (args.keep) {
      const kept = fs.mkdtempSync(path.join(os.tmpdir(), 'osdcast-lab-'));
      fs.writeFileSync(path.join(kept, 'lab-results.json'), JSON.stringify({ machine, result, command }, null, 1));
      log(`kept ${kept}/lab-results.json`);
    }
    const old = fs.existsSync(args.out) ? fs.readFileSync(args.out, 'utf8') : '';
    fs.mkdirSync(path.dirname(args.out), { recursive: true });
    fs.writeFileSync(args.out, spliceLab(old, md));
    log(`wrote section 7 of ${args.out} after ${result.seconds.toFixed(0)} s`);
    return;
  }
  const t0 = nowNs();
  const dist = __dirname;
  for (const f of ['osdcast.cjs', 'coordinator.cjs']) if (!fs.existsSync(path.join(dist, f))) throw new Error(`${f} is missing next to ${__filename}: run npm run build`);
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'osdcast-bench-'));
  const machine = machineInfo(tmp);
  log(`${args.quick ? 'quick' : 'full'} run; temporary files in ${tmp}; load average ${machine.loadStart}`);
  const runner = new Runner(tmp, dist, __filename);
  const onSignal = () => {
    runner.cleanup();
    process.exit(130);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    // ---- 1, 2: in this process
    const micro = runMicro(args.quick);
    const hot = await runHotPath(args.quick);

    // ---- 3, 4, 5: child processes
    // Trimmed for the 25-minute budget of the whole bench now that section 7 runs: one pass, no 1 GiB images
    // (the lab's 4 GiB run answers "memory vs image size"), no 3-receiver loss case (the lab's loss cells do).
    const images = makeImages(tmp, [64, 256]);
    const img = (mib: number) => images.files.get(mib)!;
    type Case = { label: string; sizeMiB: number; receivers: number; dropPercent?: number; fwLeadEvery?: number; http?: boolean };
    const cases: Case[] = [
      { label: 'multicast', sizeMiB: 256, receivers: 1 },
      { label: 'multicast', sizeMiB: 256, receivers: 3 },
      { label: 'drop 2 %', sizeMiB: 256, receivers: 1, dropPercent: 2 },
      { label: 'fw-lead 32', sizeMiB: 256, receivers: 1, fwLeadEvery: 32 },
      { label: 'multicast', sizeMiB: 64, receivers: 1 },
      { label: 'http-only', sizeMiB: 256, receivers: 1, http: true },
    ];
    const passes = 1;
    const runs: RunResult[] = [];
    // Passes are interleaved (every case once, then every case again) so a burst of load from other work on
    // the machine hits different cases, not both runs of one.
    for (let pass = 1; pass <= passes; pass++) {
      for (const c of cases) {
        if (c.http) runs.push(await runner.httpOnly({ label: c.label, pass, sizeMiB: c.sizeMiB, image: img(c.sizeMiB) }));
        else runs.push(await runner.multicast({ label: c.label, pass, sizeMiB: c.sizeMiB, image: img(c.sizeMiB), receivers: c.receivers, dropPercent: c.dropPercent, fwLeadEvery: c.fwLeadEvery }));
      }
    }

    // ---- the receive path against Node's floor: the agent beside the do-nothing listener, clean and 1 % loss
    const floor: { dropPercent: number; runs: AbRun[] }[] = [];
    for (const dropPercent of [0, 1]) {
      const sizeMiB = args.quick ? 64 : 256;
      const cell = { sizeMiB, dropPercent, fwLeadEvery: 32 };
      floor.push({ dropPercent, runs: await floorRuns({ dist, self: __filename, tmp, image: img(sizeMiB), cell, reps: args.quick ? 1 : 3 }) });
    }

    // ---- CPU profile of one more 256 MiB, 1-receiver run (not in the tables: profiling slows it down)
    let profiles: ReportInput['profiles'] = {};
    if (args.profile && !args.quick) {
      const dir = path.join(tmp, 'profiles');
      fs.mkdirSync(dir, { recursive: true });
      const run = await runner.multicast({ label: 'profiled', pass: 1, sizeMiB: 256, image: img(256), receivers: 1, profileDir: dir });
      profiles = {
        run,
        agent: summarizeProfile(path.join(dir, 'agent.cpuprofile'), PROFILE_FRAMES),
        agentStages: stageProfile(path.join(dir, 'agent.cpuprofile')),
        coordinator: summarizeProfile(path.join(dir, 'coordinator.cpuprofile'), COORD_PROFILE_FRAMES),
      };
    }

    const binaries = measureBinaries(dist);
    // ---- 7: the namespace lab beside udpcast
    const lab = args.lab ? await labSection(args, machine, 'npm run bench') : undefined;
    const seconds = Number(nowNs() - t0) / 1e9;
    const input: ReportInput = { args: { quick: args.quick }, machine, loadEnd: loadavg(), rmemEnd: sysctl('net.core.rmem_max'), seconds, micro, hot, runs, profiles, floor };
    fs.writeFileSync(path.join(tmp, 'results.json'), JSON.stringify({ ...input, binaries, lab: lab?.result }, null, 1));
    const md = renderReport(input) + '\n' + renderBinaries(binaries) + (lab ? '\n' + lab.md : '');
    fs.mkdirSync(path.dirname(args.out), { recursive: true });
    // The sections other tools write (the NACK simulation's), and section 7 when --no-lab, are carried over.
    fs.writeFileSync(args.out, keepSections(fs.existsSync(args.out) ? fs.readFileSync(args.out, 'utf8') : '', md, lab ? FOREIGN_SECTIONS : [...FOREIGN_SECTIONS, 'lab-bench']));
    log(`wrote ${args.out} after ${seconds.toFixed(0)} s`);
  } finally {
    runner.cleanup();
    if (args.keep) log(`kept ${tmp}`);
    else fs.rmSync(tmp, { recursive: true, force: true });
  }
}

main().catch((e: Error) => {
  process.stderr.write(`bench failed: ${e.stack ?? e.message}\n`);
  process.exit(1);
});
