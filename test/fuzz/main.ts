/**
 * `npm run fuzz [-- --runs N --target name[,name] --seed S --jobs J --time-limit SEC --write-docs --list]`
 *
 * Runs every fuzz target of test/fuzz/targets.ts (or those named) for N inputs each (default 10^6) from seed S
 * (default: from the clock, printed), J targets at a time in child processes (default 1). Prints per target the
 * runs, seconds, failures and seed; on a failure the counterexample (shrunk) and how to replay it, and exits 1.
 * `--time-limit` stops a target after that many seconds (its row shows the runs done). `--write-docs` rewrites
 * the `## Fuzzing` section of docs/reliability.md with the table (the other sections are left alone).
 */
import { fork } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { TARGETS } from './targets';
import { TargetResult, runTarget } from './run';

const USAGE = 'usage: npm run fuzz -- [--runs N] [--target name[,name...]] [--seed S] [--jobs J] [--time-limit SEC] [--write-docs] [--list]';

function parse() {
  try {
    const { values } = parseArgs({
      options: {
        runs: { type: 'string' },
        target: { type: 'string', multiple: true },
        seed: { type: 'string' },
        jobs: { type: 'string' },
        'time-limit': { type: 'string' },
        'write-docs': { type: 'boolean' },
        list: { type: 'boolean' },
        worker: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
    });
    const int = (v: string | undefined, name: string, dflt: number) => {
      if (v === undefined) return dflt;
      const n = Number(v.replace(/_/g, ''));
      if (!Number.isSafeInteger(n) || n < 0) throw new Error(`--${name} must be a non-negative integer, got ${v}`);
      return n;
    };
    const names = (values.target ?? []).flatMap((t) => t.split(',')).filter(Boolean);
    const unknown = names.filter((n) => !TARGETS.some((t) => t.name === n));
    if (unknown.length) throw new Error(`unknown target ${unknown.join(', ')} (--list names them)`);
    return {
      runs: int(values.runs, 'runs', 1_000_000),
      names: names.length ? names : TARGETS.map((t) => t.name),
      seed: int(values.seed, 'seed', Date.now() % 2 ** 31),
      jobs: Math.max(1, int(values.jobs, 'jobs', 1)),
      timeLimitS: int(values['time-limit'], 'time-limit', 0),
      writeDocs: values['write-docs'] === true,
      list: values.list === true,
      worker: values.worker,
      help: values.help === true,
    };
  } catch (e) {
    console.error(`${(e as Error).message}\n${USAGE}`);
    process.exit(2);
  }
}

const o = parse();
const limit = o.timeLimitS ? { timeLimitMs: o.timeLimitS * 1000 } : {};

if (o.help) {
  console.log(USAGE);
  process.exit(0);
}
if (o.list) {
  for (const t of TARGETS) console.log(`${t.name.padEnd(24)} ${t.kind.padEnd(8)} ${t.about}`);
  process.exit(0);
}
if (o.worker) {
  // one target in a child process: the result goes back over IPC
  const r = runTarget(TARGETS.find((t) => t.name === o.worker)!, { runs: o.runs, seed: o.seed, ...limit });
  process.send!(r, undefined, {}, () => process.exit(0));
} else void main();

function line(r: TargetResult): string {
  return `${r.name.padEnd(24)} ${r.kind.padEnd(8)} ${String(r.runs).padStart(9)} runs ${(r.ms / 1000).toFixed(1).padStart(7)} s  ${r.failures} failures  seed ${r.seed}${r.interrupted ? '  (time limit)' : ''}`;
}

function inChild(name: string): Promise<TargetResult> {
  return new Promise((resolve, reject) => {
    const args = ['--worker', name, '--runs', String(o.runs), '--seed', String(o.seed), ...(o.timeLimitS ? ['--time-limit', String(o.timeLimitS)] : [])];
    const child = fork(process.argv[1]!, args, { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    let got: TargetResult | undefined;
    child.on('message', (m) => (got = m as TargetResult));
    child.on('exit', (code) => (got ? resolve(got) : reject(new Error(`the worker for ${name} exited with ${code} and no result`))));
  });
}

async function main(): Promise<void> {
  const started = new Date();
  console.log(`fuzz: ${o.names.length} targets, ${o.runs} runs each, seed ${o.seed}${o.jobs > 1 ? `, ${o.jobs} at a time` : ''}`);
  const results: TargetResult[] = [];
  if (o.jobs === 1) {
    for (const name of o.names) {
      const r = runTarget(TARGETS.find((t) => t.name === name)!, { runs: o.runs, seed: o.seed, ...limit });
      results.push(r);
      report(r);
    }
  } else {
    const queue = [...o.names];
    await Promise.all(
      Array.from({ length: Math.min(o.jobs, queue.length) }, async () => {
        for (let name = queue.shift(); name; name = queue.shift()) {
          const r = await inChild(name);
          results.push(r);
          report(r);
        }
      }),
    );
  }
  const order = new Map(o.names.map((n, i) => [n, i]));
  results.sort((a, b) => order.get(a.name)! - order.get(b.name)!);
  const failed = results.filter((r) => r.failures > 0);
  const total = results.reduce((a, r) => a + r.ms, 0) / 1000;
  console.log(`fuzz: ${results.length} targets, ${results.reduce((a, r) => a + r.runs, 0)} runs, ${total.toFixed(0)} s of target time, ${failed.length} failing${failed.length ? `: ${failed.map((r) => r.name).join(', ')}` : ''}`);
  if (o.writeDocs) writeDocs(results, started);
  process.exit(failed.length ? 1 : 0);
}

function report(r: TargetResult): void {
  console.log(line(r));
  if (r.report) console.log(`${r.report}\nreplay: npm run fuzz -- --target ${r.name} --runs ${o.runs} --seed ${r.seed}\n`);
}

// ---------------------------------------------------------------------------------------------------------------
// docs/reliability.md, section "## Fuzzing"
// ---------------------------------------------------------------------------------------------------------------
function writeDocs(results: TargetResult[], started: Date): void {
  const file = path.resolve(__dirname, '..', 'docs', 'reliability.md');
  const cmd = ['npm run fuzz --', `--runs ${o.runs}`, `--seed ${o.seed}`, ...(o.jobs > 1 ? [`--jobs ${o.jobs}`] : []), ...(o.timeLimitS ? [`--time-limit ${o.timeLimitS}`] : []), ...(o.names.length !== TARGETS.length ? [`--target ${o.names.join(',')}`] : []), '--write-docs'].join(' ');
  const table = new Map(TARGETS.map((t, i) => [t.name, i]));
  const old = existsSync(file) ? readFileSync(file, 'utf8') : '# Reliability\n\n';
  // A run of some targets keeps the other targets' rows of the table there, marked with the run they came from.
  const when = `${started.toISOString().slice(0, 10)} ${started.toISOString().slice(11, 16)} UTC`;
  const oldWhen = /Run on (\d{4}-\d\d-\d\d) \((\d\d:\d\d) UTC\)/.exec(old);
  const kept = new Map<string, string>();
  if (o.names.length !== TARGETS.length)
    for (const m of old.matchAll(/^\| ([a-z0-9-]+) \| (decoder|machine) \|.*\|\s*$/gm)) {
      if (!table.has(m[1]!) || results.some((r) => r.name === m[1])) continue;
      const row = m[0].trimEnd();
      kept.set(m[1]!, / \| [^|]*run of [^|]*\|$/.test(row) || !oldWhen ? row : row.replace(/ \|$/, `${row.endsWith('| |') ? '' : ';'} run of ${oldWhen[1]} ${oldWhen[2]} UTC |`)); // '| |' (no note) → '| run of … |'; '| time limit |' → '| time limit; run of … |'
    }
  const fresh = results.map((r) => [r.name, `| ${r.name} | ${r.kind} | ${r.runs.toLocaleString('en-US')} | ${(r.ms / 1000).toFixed(1)} | ${r.failures} |${r.interrupted ? ' time limit' : ''} |`] as const);
  const rows = [...fresh, ...kept].sort((a, b) => table.get(a[0])! - table.get(b[0])!).map(([, row]) => row);
  const section = [
    '## Fuzzing',
    '',
    `Every decoder and client state machine of \`core/\`, as the targets of \`test/fuzz/targets.ts\` (what each checks: \`npm run fuzz -- --list\` and`,
    'the comments there). Run on ' + `${started.toISOString().slice(0, 10)} (${started.toISOString().slice(11, 16)} UTC), seed ${o.seed}, on the 2-core development machine shared with other`,
    `work, at \`nice -n 10\`: \`${cmd}\`.${kept.size ? ` The rows marked "run of …" are the targets that run left out, kept from the earlier run named there (${when} is this one).` : ''}`,
    '',
    '| target | kind | runs | seconds | failures | note |',
    '|---|---|---:|---:|---:|---|',
    ...rows,
    '',
    'Inputs come from fast-check (valid messages of every type, 1-4 byte mutations of them, random bytes, and per target inputs',
    'a mutation cannot reach; for the state machines, sequences of packets, timeouts and disk writes). Generating an input',
    'costs 16-42 µs, 20-30 % of a run: the decoders, re-encodings and checks dominate, so a hand-rolled seeded PRNG mutator',
    'would not make 10^6 runs much cheaper, and fast-check shrinks a counterexample and replays it from its seed.',
    ...(results.some((r) => r.interrupted) || [...kept.values()].some((r) => r.includes('time limit')) ? ['"time limit": the target was stopped by `--time-limit` before 10^6 inputs (the machine was shared).'] : []),
    '',
    'A failure prints the shrunk counterexample and the command that replays it, and the run exits 1. What the targets found',
    "is fixed in `core/` with a regression test (`git log --grep 'found by'`).",
    '',
    `Reproduce one target: \`npm run fuzz -- --target <name> --runs <N> --seed ${o.seed}\` (the same seed gives the same inputs). CI runs`,
    'every target at 10^4 inputs under vitest (test/fuzz/decoders.test.ts, test/fuzz/machines.test.ts).',
    '',
  ].join('\n');
  const at = old.search(/^## Fuzzing\s*$/m);
  let out: string;
  if (at < 0) out = `${old.trimEnd()}\n\n${section}`;
  else {
    const rest = old.slice(at + 1);
    const next = rest.search(/^## /m);
    out = old.slice(0, at) + section + (next < 0 ? '' : `\n${rest.slice(next)}`);
  }
  writeFileSync(file, out);
  console.log(`fuzz: wrote the Fuzzing section of ${path.relative(process.cwd(), file)}`);
}
