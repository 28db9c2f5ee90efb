/**
 * Section 6: the single binaries (npm run package) — sizes and `--version` start-up time, beside the bundle run
 * by the host's node. Skipped, with a note, when the binaries were not built.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

export interface StartupTimes {
  label: string;
  ms: number[];
}
export interface BinaryInfo {
  linuxBytes?: number;
  winBytes?: number;
  startups: StartupTimes[];
  note?: string;
}

function timeRuns(cmd: string, args: string[], runs: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < runs + 2; i++) {
    const t = process.hrtime.bigint();
    const r = spawnSync(cmd, args, { encoding: 'utf8' });
    const ms = Number(process.hrtime.bigint() - t) / 1e6;
    if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.status}: ${r.stderr}`);
    if (i >= 2) out.push(ms); // two warm-up runs (page cache)
  }
  return out.sort((a, b) => a - b);
}

export function measureBinaries(dist: string, runs = 20): BinaryInfo {
  const linux = path.join(dist, 'osdcast-linux-x64');
  const win = path.join(dist, 'osdcast-win-x64.exe');
  const info: BinaryInfo = { startups: [] };
  info.startups.push({ label: '`node dist/osdcast.cjs --version` (host Node ' + process.version + ')', ms: timeRuns(process.execPath, [path.join(dist, 'osdcast.cjs'), '--version'], runs) });
  if (!fs.existsSync(linux)) {
    info.note = 'dist/osdcast-linux-x64 not built: run `npm run package` before the bench for this section.';
    return info;
  }
  info.linuxBytes = fs.statSync(linux).size;
  if (fs.existsSync(win)) info.winBytes = fs.statSync(win).size;
  info.startups.push({ label: '`dist/osdcast-linux-x64 --version` (embedded Node 22)', ms: timeRuns(linux, ['--version'], runs) });
  return info;
}

export function renderBinaries(b: BinaryInfo): string {
  const mib = (n?: number) => (n === undefined ? 'not built' : `${n.toLocaleString('en-US')} B (${(n / 1048576).toFixed(1)} MiB)`);
  const med = (a: number[]) => a[Math.floor(a.length / 2)]!;
  const lines = [
    '## 6. Single binary',
    '',
    'Built by `npm run package` (Node\'s single-executable mechanism on the stock Node 22.22.2 binaries; docs/packaging.md). Start-up is wall time of `--version` from spawn to exit, after two warm-up runs.',
    '',
    '| file | size |',
    '|---|---|',
    `| dist/osdcast-linux-x64 (stripped) | ${mib(b.linuxBytes)} |`,
    `| dist/osdcast-win-x64.exe | ${mib(b.winBytes)} |`,
    '',
    '| command | runs | median ms | min–max ms |',
    '|---|---|---|---|',
    ...b.startups.map((s) => `| ${s.label} | ${s.ms.length} | ${med(s.ms).toFixed(1)} | ${s.ms[0]!.toFixed(1)}–${s.ms[s.ms.length - 1]!.toFixed(1)} |`),
  ];
  if (b.note) lines.push('', b.note);
  return lines.join('\n') + '\n';
}
