/**
 * `npm run reliability` (= npm run build && node dist/reliability.cjs): the loss matrix of test/lab/matrix.ts at
 * 128 MiB, and its table in docs/reliability.md (only the text between `<!-- loss-matrix:begin -->` and
 * `<!-- loss-matrix:end -->` is rewritten). Needs root, iproute2 and nftables for the lab cells (the sim cells run
 * anywhere).
 *
 *   node dist/reliability.cjs [--mib 128] [--parallel 1] [--cells id,id,…] [--out docs/reliability.md] [--no-write] [--json] [--keep-logs DIR]
 *
 * --keep-logs DIR keeps each lab cell's agent and coordinator logs there. Exit 0 when every cell passed, 1 when one did not (the table is written either way), 2 for a bad argument.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CELLS, CellResult, matrixTable, matrixUnavailable, runMatrix } from '../lab/matrix';
import { replaceSection } from '../sim/doc-section';

const ROOT = path.resolve(__dirname, '..');

function fail(msg: string): never {
  process.stderr.write(`reliability: ${msg}\n`);
  process.exit(2);
}

interface Cli {
  mib: number;
  parallel: number;
  cells?: string[];
  out: string;
  write: boolean;
  json: boolean;
  keepLogs?: string;
}

function parse(argv: string[]): Cli {
  const a: Cli = { mib: 128, parallel: 1, out: path.join(ROOT, 'docs', 'reliability.md'), write: true, json: false };
  const int = (flag: string, v: string | undefined, min: number, max: number) => {
    const n = Number(v);
    if (v === undefined || !Number.isInteger(n) || n < min || n > max) fail(`${flag} needs an integer in ${min}..${max}, got ${v ?? 'nothing'}`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const f = argv[i]!;
    const v = () => argv[++i];
    if (f === '--mib') a.mib = int(f, v(), 1, 4096);
    else if (f === '--parallel') a.parallel = int(f, v(), 1, 8);
    else if (f === '--cells') {
      const ids = (v() ?? '').split(',').filter(Boolean);
      const unknown = ids.filter((id) => !CELLS.some((c) => c.id === id));
      if (ids.length === 0 || unknown.length) fail(`--cells takes ids from: ${CELLS.map((c) => c.id).join(', ')}${unknown.length ? ` (unknown: ${unknown.join(', ')})` : ''}`);
      a.cells = ids;
    } else if (f === '--out') a.out = path.resolve(v() ?? fail('--out needs a file'));
    else if (f === '--no-write') a.write = false;
    else if (f === '--keep-logs') a.keepLogs = path.resolve(v() ?? fail('--keep-logs needs a folder'));
    else if (f === '--json') a.json = true;
    else if (f === '--help' || f === '-h') {
      process.stdout.write(`usage: npm run reliability -- [--mib 128] [--parallel 1] [--cells ${CELLS.map((c) => c.id).join(',')}] [--out FILE] [--no-write] [--json] [--keep-logs DIR]\n`);
      process.exit(0);
    } else fail(`unknown argument ${f}`);
  }
  return a;
}

function commit(): string {
  try {
    const head = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--untracked-files=no'], { cwd: ROOT, encoding: 'utf8' }).trim() !== '';
    return dirty ? `${head} + uncommitted changes` : head;
  } catch {
    return 'unknown';
  }
}

function section(a: Cli, results: CellResult[], started: Date, seconds: number, load: number[], at: string): string {
  const cmd = `npm run reliability${a.mib !== 128 ? ` -- --mib ${a.mib}` : ''}${a.parallel !== 1 ? ` --parallel ${a.parallel}` : ''}${a.cells ? ` --cells ${a.cells.join(',')}` : ''}`;
  const passed = results.filter((r) => r.ok).length;
  return [
    `## Loss matrix`,
    '',
    `${passed}/${results.length} cells passed at ${a.mib} MiB, ${a.parallel === 1 ? 'one lab cell at a time' : `${a.parallel} lab cells at a time`}. Run ${started.toISOString().slice(0, 16).replace('T', ' ')} UTC at commit ${at}, ` +
      `${seconds.toFixed(0)} s wall, on the 2-core development machine shared with other work: load average ${load.map((x) => x.toFixed(2)).join(' / ')} (1 min) at the start and end ` +
      `(absolute MB/s move with the load; the lab is unshaped, so they are what two shared cores give sender and receivers together). Reproduce: \`${cmd}\`.`,
    '',
    'Lab cells: the test coordinator and 3 (or 8) built agents in the namespace lab, impairments as nftables rules at the bridge drawn per packet and receiver port, receivers writing to tmpfs; ' +
      'byte-exact = agent exit 0 and the SHA-256 of its file equal to the image\'s. Sim cells (delay and reordering; the kernel has no netem): the sans-I/O coordinator and real core Receivers on the simulated network of test/sim/net.ts, every block compared with the source; time and MB/s are simulated. ' +
      'Time: first join to the last "every block is on disk". NACKs: NACK packets the receivers sent (sim: that reached the server). RDATA and MA rounds: the coordinator\'s counters. ' +
      'Dropped by receivers: the sum of the agents\' `droppedPackets` (malformed or foreign; a corrupted packet fails the CHECKSUM). Impairment hits: nftables counters (lost, corrupt, dup: per receiver port, summed; gated: frames dropped in bursts) and, in the sim, packets lost and delivered out of order.',
    '',
    matrixTable(results),
    ...results.filter((r) => !r.ok).map((r) => `\n${r.title}: ${(r.error ?? r.receivers.filter((x) => x.error).map((x) => `${x.host}: ${x.error}`).join('; ')).split('\n')[0]!.slice(0, 300)}`),
  ].join('\n');
}

async function main(): Promise<void> {
  const a = parse(process.argv.slice(2));
  const cells = a.cells ? CELLS.filter((c) => a.cells!.includes(c.id)) : CELLS;
  const started = new Date();
  const at = commit(); // what dist/ was built from (npm run reliability builds first)
  const load0 = os.loadavg()[0]!;
  const log = (l: string) => process.stderr.write(`${new Date().toISOString()} ${l}\n`);
  const results = await runMatrix(cells, { sizeMiB: a.mib, dist: __dirname, parallel: a.parallel, keepLogs: a.keepLogs, labSkip: matrixUnavailable(__dirname), log });
  const seconds = (Date.now() - started.getTime()) / 1000;
  if (a.json) process.stdout.write(JSON.stringify(results) + '\n');
  if (a.write) {
    const old = fs.existsSync(a.out) ? fs.readFileSync(a.out, 'utf8') : '# Reliability\n';
    fs.writeFileSync(a.out, replaceSection(old, 'loss-matrix', section(a, results, started, seconds, [load0, os.loadavg()[0]!], at)));
    log(`wrote the loss-matrix section of ${a.out}`);
  }
  process.exit(results.every((r) => r.ok) ? 0 : 1);
}

void main();
