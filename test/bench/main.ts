/**
 * `npm run bench` (= npm run build && node dist/bench.cjs): measures the receiver on this machine and writes
 * docs/performance.md. Speed and memory are measured here, never asserted by timed unit tests.
 *
 *   node dist/bench.cjs [--quick] [--out <file>] [--no-profile] [--keep]
 *
 * --quick       smaller run (no 1 GiB image, one pass, shorter micro-benchmarks; about a minute)
 * --out         where the report goes (default docs/performance.md of this checkout)
 * --no-profile  skip the extra CPU-profiled end-to-end run
 * --keep        keep the temporary directory (images, agent logs, profiles)
 *
 * node dist/bench.cjs --render <results.json> [<out>]   re-renders the report from a run kept with --keep
 *
 * Internal: `--serve-http <file> <path>` runs test/coordinator/http.ts as a child for the HTTP-only runs;
 * `--floor-listener …` runs the do-nothing Node listener of test/bench/floor.ts.
 */
import { measureBinaries, renderBinaries } from './binary';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { RunResult, Runner, makeImages, serveHttp } from './e2e';
import { runFloorListener } from './floor';
import { runHotPath } from './hotpath';
import { runMicro } from './micro';
import { ProfileSummary, summarizeProfile } from './profile';
import { ReportInput, renderReport } from './report';
import { FOREIGN_SECTIONS, keepSections } from '../sim/doc-section';
import { loadavg, log, machineInfo, nowNs, sysctl } from './util';

export const PROFILE_FRAMES = ['onMessage', 'handleDatagram', 'decodeMt', 'sendAck', 'afterDns', 'kick', 'writev', 'pump.onWritten', 'checkpoint', 'fsyncSync', 'update', '(garbage collector)', '(idle)', '(program)'];
export const COORD_PROFILE_FRAMES = ['onMessage', 'handleDatagram', 'release', 'sendData', 'blockPayload', 'readSync', 'encodeMt', 'checksum', 'afterDns', 'doSend', '(garbage collector)', '(idle)', '(program)'];

interface Args {
  quick: boolean;
  out: string;
  profile: boolean;
  keep: boolean;
  /** Only section 6 (binaries), replacing it in an existing report. */
  binariesOnly: boolean;
}

function parseArgs(argv: string[]): Args {
  const root = path.resolve(__dirname, '..');
  const a: Args = { quick: false, out: path.join(root, 'docs', 'performance.md'), profile: true, keep: false, binariesOnly: false };
  for (let i = 0; i < argv.length; i++) {
    const v = argv[i]!;
    if (v === '--quick') a.quick = true;
    else if (v === '--no-profile') a.profile = false;
    else if (v === '--keep') a.keep = true;
    else if (v === '--binaries-only') a.binariesOnly = true;
    else if (v === '--out') a.out = path.resolve(argv[++i] ?? '');
    else if (v === '--help' || v === '-h') {
      process.stdout.write('usage: node dist/bench.cjs [--quick] [--out <file>] [--no-profile] [--keep] [--binaries-only]\n');
      process.exit(0);
    } else {
      process.stderr.write(`bench: unknown argument ${v}\n`);
      process.exit(2);
    }
  }
  return a;
}

async function main(): Promise<void> {
  if (process.argv[2] === '--floor-listener') return runFloorListener(process.argv.slice(3));
  if (process.argv[2] === '--serve-http') return serveHttp(process.argv[3]!, process.argv[4]!);
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
    fs.writeFileSync(args.out, keepSections(old, (cut >= 0 ? old.slice(0, cut) : old.trimEnd() + '\n\n') + renderBinaries(measureBinaries(__dirname)), FOREIGN_SECTIONS));
    log(`wrote section 6 of ${args.out}`);
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
    const big = args.quick ? 256 : 1024;
    const images = makeImages(tmp, [64, 256, big]);
    const img = (mib: number) => images.files.get(mib)!;
    // `once`: the 1 GiB cases run in the first pass only, to keep the whole bench near 5 minutes on 2 cores.
    type Case = { label: string; sizeMiB: number; receivers: number; dropPercent?: number; fwLeadEvery?: number; http?: boolean; once?: boolean };
    const cases: Case[] = [
      { label: 'multicast', sizeMiB: 256, receivers: 1 },
      { label: 'multicast', sizeMiB: 256, receivers: 3 },
      ...(args.quick
        ? []
        : [
            { label: 'multicast', sizeMiB: 1024, receivers: 1, once: true },
            { label: 'multicast', sizeMiB: 1024, receivers: 3, once: true },
          ]),
      { label: 'drop 2 %', sizeMiB: 256, receivers: 1, dropPercent: 2 },
      { label: 'drop 2 %', sizeMiB: 256, receivers: 3, dropPercent: 2 },
      ...(args.quick ? [] : [{ label: 'fw-lead 32', sizeMiB: 256, receivers: 1, fwLeadEvery: 32 }]),
      { label: 'multicast', sizeMiB: 64, receivers: 1 },
      { label: 'http-only', sizeMiB: 256, receivers: 1, http: true },
    ];
    const passes = args.quick ? 1 : 2;
    const runs: RunResult[] = [];
    // Passes are interleaved (every case once, then every case again) so a burst of load from other work on
    // the machine hits different cases, not both runs of one.
    for (let pass = 1; pass <= passes; pass++) {
      for (const c of cases) {
        if (c.once && pass > 1) continue;
        if (c.http) runs.push(await runner.httpOnly({ label: c.label, pass, sizeMiB: c.sizeMiB, image: img(c.sizeMiB) }));
        else runs.push(await runner.multicast({ label: c.label, pass, sizeMiB: c.sizeMiB, image: img(c.sizeMiB), receivers: c.receivers, dropPercent: c.dropPercent, fwLeadEvery: c.fwLeadEvery }));
      }
    }

    // ---- CPU profile of one more 256 MiB, 1-receiver run (not in the tables: profiling slows it down)
    let profiles: { agent?: ProfileSummary; coordinator?: ProfileSummary; run?: RunResult } = {};
    if (args.profile && !args.quick) {
      const dir = path.join(tmp, 'profiles');
      fs.mkdirSync(dir, { recursive: true });
      const run = await runner.multicast({ label: 'profiled', pass: 1, sizeMiB: 256, image: img(256), receivers: 1, profileDir: dir });
      profiles = {
        run,
        agent: summarizeProfile(path.join(dir, 'agent.cpuprofile'), PROFILE_FRAMES),
        coordinator: summarizeProfile(path.join(dir, 'coordinator.cpuprofile'), COORD_PROFILE_FRAMES),
      };
    }

    const binaries = measureBinaries(dist);
    const seconds = Number(nowNs() - t0) / 1e9;
    const input: ReportInput = { args: { quick: args.quick }, machine, loadEnd: loadavg(), rmemEnd: sysctl('net.core.rmem_max'), seconds, micro, hot, runs, profiles };
    fs.writeFileSync(path.join(tmp, 'results.json'), JSON.stringify({ ...input, binaries }, null, 1));
    const md = renderReport(input) + '\n' + renderBinaries(binaries);
    fs.mkdirSync(path.dirname(args.out), { recursive: true });
    // The sections other tools write (the NACK simulation's) are carried over from the old file.
    fs.writeFileSync(args.out, keepSections(fs.existsSync(args.out) ? fs.readFileSync(args.out, 'utf8') : '', md, FOREIGN_SECTIONS));
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
