/**
 * CI keeps the lab bench from rotting: `node dist/bench.cjs --smoke --out <tmp>` runs its one cell (N = 1,
 * unshaped, no loss, 16 MiB) with osdcast, udpcast and osdcast --udpcast (from the same udp-sender) in the namespace
 * lab and writes section 7. Asserted: the bench exits 0, the cell's rows exist in the table beside udpcast and in the
 * udp-sender table, every receiver of every tool wrote the image byte-exact (the bench hashes each output file) and
 * the goodputs were measured. Its numbers are not judged here (benchmarks measure,
 * tests do not time).
 */
import { afterAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { labBenchUnavailable } from '../bench/lab-bench';
import { canRun } from '../support/env';

const BENCH = path.resolve(__dirname, '../../dist/bench.cjs');
const why = labBenchUnavailable();
const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

describe('lab bench smoke (issue 10)', () => {
  it('one cell with osdcast, udpcast and osdcast --udpcast: byte-exact receivers for every tool and their table rows', async (ctx) => {
    if (!canRun(!why, why ?? '')) return ctx.skip();
    expect(fs.existsSync(BENCH), 'dist/bench.cjs is built by npm test before vitest runs').toBe(true);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'osdcast-bench-smoke-'));
    dirs.push(dir);
    const out = path.join(dir, 'perf.md');
    // An existing report keeps what is outside section 7.
    fs.writeFileSync(out, '# Performance\n\nkept text\n');
    const child = spawn(process.execPath, [BENCH, '--smoke', '--out', out], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    child.stdout.resume();
    const code = await new Promise<number | null>((r) => child.on('exit', (c) => r(c)));
    expect(code, stderr.slice(-3000)).toBe(0);
    const md = fs.readFileSync(out, 'utf8');
    expect(md).toContain('kept text');
    expect(md).toContain('## 7. Namespace lab beside udpcast');
    const row = md.split('\n').find((l) => l.startsWith('| 1 | unshaped | 0 % |'));
    expect(row, md).toBeDefined();
    const cells = row!.split('|').slice(1, -1).map((c) => c.trim());
    // | N | link | loss | osdcast MB/s | udpcast MB/s | ratio | valid | … | correct osdcast | correct udpcast |
    expect(cells.slice(-2), `${row}\n${stderr.slice(-3000)}`).toEqual(['1/1', '1/1']);
    expect(cells[6]).toBe('1/1');
    for (const i of [3, 4, 5]) expect(Number(cells[i]), `column ${i} of ${row}`).toBeGreaterThan(0);
    // Issue 12's table: osdcast --udpcast and udp-receiver from the same udp-sender.
    const at = md.indexOf('### osdcast --udpcast beside udp-receiver');
    expect(at, md).toBeGreaterThan(0);
    const urow = md.slice(at).split('\n').find((l) => l.startsWith('| 1 | unshaped | 0 % |'));
    expect(urow, md.slice(at)).toBeDefined();
    const u = urow!.split('|').slice(1, -1).map((c) => c.trim());
    // | N | link | loss | osdcast --udpcast MB/s | udp-receiver MB/s | ratio | valid | … | correct osdcast | correct udp-receiver |
    expect(u.slice(-2), `${urow}\n${stderr.slice(-3000)}`).toEqual(['1/1', '1/1']);
    expect(u[6]).toBe('1/1');
    for (const i of [3, 4, 5, 9]) expect(Number(u[i]), `column ${i} of ${urow}`).toBeGreaterThan(0);
  }, 90_000);
});
