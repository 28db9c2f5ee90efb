/**
 * The coordinator's window and repair behaviour under independent loss, measured in a namespace lab (test/lab/lab.ts):
 * the coordinator in one namespace, N agents in others on a bridge, nftables dropping P % of what the bridge
 * forwards towards each receiver port (each port loses independently: the bridge clones multicast per port),
 * optionally `tc tbf` on the coordinator's link. Variants of coordinator flags run interleaved on one image
 * (A/B), each repetition a fresh coordinator; per run it prints the goodput, the coordinator's CPU and its
 * counters (window stalls, NACKs, RDATA, rounds). `--udpcast` runs udp-sender → udp-receiver in the same cell (in
 * this lab their rendez-vous did not complete: no run finished; the bench lab is the place for that comparison).
 * A measurement, not a test (speed is judged by benchmarks): needs root, iproute2, nftables (udpcast for --udpcast).
 *
 *   npm run build && npx esbuild test/coordinator/losslab.ts --bundle --platform=node --outfile=dist/losslab.cjs
 *   node dist/losslab.cjs --receivers 3 --loss 1 --mib 128 --reps 3 --variant 'A=' --variant 'B=--fw-lead-every 0'
 *
 * Two builds A/B (agent and coordinator both from each variant's dist/): `--dist NAME=DIR` per variant, e.g.
 *   node dist/losslab.cjs --receivers 3 --mbit 200 --loss 1 --mib 128 --reps 3 --variant A= --dist A=/tmp/distA \
 *        --variant B= --dist B=dist
 * The shaped link is the bench lab's (Lab.shape: tbf with an 8 MiB queue). At the end: median MB/s per variant and
 * the per-repetition ratios to the first variant.
 */
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Lab, LabProcess, createLab, labUnavailable } from '../lab/lab';

interface Args {
  receivers: number;
  loss: number;
  mib: number;
  reps: number;
  mbit: number;
  variants: { name: string; args: string[]; dist?: string }[];
  udpcast: boolean;
  blockSize: number;
}

function parseArgs(argv: string[]): Args {
  const a: Args = { receivers: 3, loss: 1, mib: 128, reps: 3, mbit: 0, variants: [], udpcast: false, blockSize: 1385 };
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i]!;
    const v = () => argv[++i] ?? '';
    if (k === '--receivers') a.receivers = Number(v());
    else if (k === '--loss') a.loss = Number(v());
    else if (k === '--mib') a.mib = Number(v());
    else if (k === '--reps') a.reps = Number(v());
    else if (k === '--mbit') a.mbit = Number(v());
    else if (k === '--udpcast') a.udpcast = true;
    else if (k === '--variant') {
      const s = v();
      const eq = s.indexOf('=');
      a.variants.push({ name: s.slice(0, eq), args: s.slice(eq + 1).split(' ').filter(Boolean) });
    } else if (k === '--dist') {
      const s = v();
      const eq = s.indexOf('=');
      const variant = a.variants.find((x) => x.name === s.slice(0, eq));
      if (!variant) throw new Error(`--dist ${s}: name a --variant given before it`);
      variant.dist = path.resolve(s.slice(eq + 1));
    } else throw new Error(`unknown argument ${k}`);
  }
  if (a.variants.length === 0) a.variants.push({ name: 'default', args: [] });
  return a;
}

const HZ = 100; // USER_HZ: /proc/<pid>/stat utime and stime are in these ticks

function cpuSeconds(pid: number): number {
  try {
    const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const rest = f.slice(f.lastIndexOf(')') + 2).split(' ');
    return (Number(rest[11]) + Number(rest[12])) / HZ; // fields 14, 15
  } catch {
    return NaN;
  }
}

const nowS = () => Number(process.hrtime.bigint()) / 1e9;

async function rxWatch(p: LabProcess): Promise<{ end: number; cpu: number; code: number | null }> {
  let cpu = NaN;
  const t = setInterval(() => {
    const c = cpuSeconds(p.pid);
    if (Number.isFinite(c)) cpu = c;
  }, 50);
  const { code } = await p.exited;
  clearInterval(t);
  return { end: nowS(), cpu, code };
}

async function osdcastRun(lab: Lab, a: Args, image: { path: string; sha256: string }, variant: string[], dist: string, outDir: string) {
  const coord = lab.start('coord', [process.execPath, path.join(dist, 'coordinator.cjs'), '--file', image.path, '--interface', lab.address('coord'), '--block-size', String(a.blockSize), ...variant]);
  const ready = JSON.parse(await coord.line((l) => l.includes('"ready"')));
  const t0 = nowS();
  const rx = Array.from({ length: a.receivers }, (_, i) =>
    lab.start(`rx${i}`, [process.execPath, path.join(dist, 'osdcast.cjs'), 'receive', '--server', `${lab.address('coord')}:${ready.msiPort}`, '--initiation', 'udp',
      '--namespace', 'SMSNamespace', '--content', 'PKG00001', '--interface', lab.address(`rx${i}`), '--out', path.join(outDir, `rx${i}.bin`), '--json']),
  );
  const done = await Promise.all(rx.map(rxWatch));
  const coordCpu = cpuSeconds(coord.pid);
  coord.child.kill('SIGTERM');
  const statsLine = await coord.line((l) => l.includes('"stats"'), 10_000).catch(() => '{}');
  await coord.exited;
  const stats = JSON.parse(statsLine);
  const reports = rx.map((p) => {
    try {
      return JSON.parse(p.stdout().trim().split('\n').pop()!);
    } catch {
      return {};
    }
  });
  const ok = reports.filter((r) => r.sha256 === image.sha256).length;
  for (let i = 0; i < a.receivers; i++) fs.rmSync(path.join(outDir, `rx${i}.bin`), { force: true });
  const wall = Math.max(...done.map((d) => d.end)) - t0;
  const rounds = [...coord.stderr().matchAll(/round (\d+) started: (\d+) range\(s\), (\d+) block/g)].map((m) => Number(m[3]));
  return { wall, mbps: (a.mib * 1048576) / 1e6 / wall, ok, coordCpu, rxCpu: done.map((d) => d.cpu), stats, rounds, http: reports.map((r) => r.httpBytes ?? 0) };
}

async function udpcastRun(lab: Lab, a: Args, image: { path: string; sha256: string }, outDir: string) {
  const snd = lab.start('coord', ['udp-sender', '--nokbd', '--file', image.path, '--interface', 'eth0', '--min-receivers', String(a.receivers), ...(a.receivers === 1 ? ['--nopointopoint'] : [])]);
  const t0 = nowS();
  const rx = Array.from({ length: a.receivers }, (_, i) => lab.start(`rx${i}`, ['udp-receiver', '--nokbd', '--file', path.join(outDir, `u${i}.bin`), '--interface', 'eth0']));
  let sndCpu = NaN;
  const t = setInterval(() => {
    const c = cpuSeconds(snd.pid);
    if (Number.isFinite(c)) sndCpu = c;
  }, 50);
  const deadline = setTimeout(() => [snd, ...rx].forEach((p) => p.child.kill('SIGKILL')), 120_000);
  const done = await Promise.all(rx.map(rxWatch));
  clearTimeout(deadline);
  await Promise.race([snd.exited, new Promise((r) => setTimeout(r, 5000))]);
  clearInterval(t);
  const ok = Array.from({ length: a.receivers }, (_, i) => {
    const f = path.join(outDir, `u${i}.bin`);
    const h = fs.existsSync(f) ? createHash('sha256').update(fs.readFileSync(f)).digest('hex') : '';
    fs.rmSync(f, { force: true });
    return h === image.sha256;
  }).filter(Boolean).length;
  const wall = Math.max(...done.map((d) => d.end)) - t0;
  return { wall, mbps: (a.mib * 1048576) / 1e6 / wall, ok, sndCpu, rxCpu: done.map((d) => d.cpu) };
}

async function main(): Promise<void> {
  const a = parseArgs(process.argv.slice(2));
  const why = labUnavailable({ nft: true });
  if (why) throw new Error(why);
  const dist = __dirname;
  const work = fs.mkdtempSync(path.join(fs.existsSync('/dev/shm') ? '/dev/shm' : os.tmpdir(), 'losslab-'));
  const imgPath = path.join(work, 'image.bin');
  const fd = fs.openSync(imgPath, 'w');
  const hash = createHash('sha256');
  for (let i = 0; i < a.mib; i++) {
    const b = randomBytes(1048576);
    hash.update(b);
    fs.writeSync(fd, b);
  }
  fs.closeSync(fd);
  const image = { path: imgPath, sha256: hash.digest('hex') };
  const hosts = [{ name: 'coord', host: 1 }, ...Array.from({ length: a.receivers }, (_, i) => ({ name: `rx${i}`, host: 10 + i }))];
  const lab = await createLab({ hosts });
  try {
    if (a.mbit > 0) await lab.shape('coord', a.mbit);
    if (a.loss > 0) {
      const n = Math.round(a.loss * 100);
      const rules = Array.from({ length: a.receivers }, (_, i) => `  oifname "p-rx${i}" numgen random mod 10000 < ${n} counter drop`).join('\n');
      await lab.nft('switch', `table bridge rxloss {\n chain towards {\n  type filter hook forward priority 0; policy accept;\n${rules}\n }\n}\n`);
    }
    console.log(`cell: ${a.receivers} rx, ${a.mib} MiB, loss ${a.loss} % per receiver port, ${a.mbit ? `${a.mbit} Mbit/s tbf` : 'unshaped'}, block ${a.blockSize}`);
    const mbps = new Map<string, number[]>(a.variants.map((v) => [v.name, []]));
    for (let rep = 1; rep <= a.reps; rep++) {
      for (const v of a.variants) {
        const r = await osdcastRun(lab, a, image, v.args, v.dist ?? dist, work);
        mbps.get(v.name)!.push(r.ok === a.receivers ? r.mbps : NaN);
        const s = r.stats;
        console.log(JSON.stringify({ rep, variant: v.name, mbps: +r.mbps.toFixed(2), wall: +r.wall.toFixed(2), ok: r.ok, coordCpu: r.coordCpu, cpuSPerGiB: +(r.coordCpu / (a.mib / 1024)).toFixed(2), rxCpu: r.rxCpu, rounds: r.rounds, http: r.http,
          odata: s.odataSent, rdata: s.rdataSent, acks: s.acksReceived, acksRejected: s.acksRejected, nacks: s.nacksReceived, nacksMaster: s.nacksFromMaster, zeroNacks: s.zeroNacksReceived,
          skipRecent: s.rdataSkippedRecent, skipGone: s.rdataSkippedGone, stalls: s.windowStalls, stallMs: s.windowStallMs, stallHist: s.windowStallHist, meanRtt: s.acksReceived ? +(s.mcRttSum / (s.acksReceived - s.acksRejected)).toFixed(1) : 0, maxRtt: s.mcRttMax, meanWindow: s.odataSent ? +(s.windowSum / s.odataSent).toFixed(1) : 0,
          holds: s.windowHolds, qcuts: s.windowQueueCuts, nackCutsSkipped: s.nackCutsSkipped, masterChanges: s.masterChanges, spmTimeouts: s.spmTimeouts, sendErrors: s.sendErrors }));
      }
      if (a.udpcast) {
        const u = await udpcastRun(lab, a, image, work);
        console.log(JSON.stringify({ rep, variant: 'udpcast', mbps: +u.mbps.toFixed(2), wall: +u.wall.toFixed(2), ok: u.ok, sndCpu: u.sndCpu, cpuSPerGiB: +(u.sndCpu / (a.mib / 1024)).toFixed(2), rxCpu: u.rxCpu }));
      }
    }
    const med = (x: number[]) => {
      const y = x.filter(Number.isFinite).sort((p, q) => p - q);
      return y.length ? (y.length % 2 ? y[y.length >> 1]! : (y[y.length / 2 - 1]! + y[y.length / 2]!) / 2) : NaN;
    };
    const base = mbps.get(a.variants[0]!.name)!;
    for (const v of a.variants) {
      const m = mbps.get(v.name)!;
      console.log(JSON.stringify({ summary: v.name, dist: v.dist ?? dist, medianMBs: +med(m).toFixed(2), runs: m.map((x) => +x.toFixed(2)), ratioPerRep: m.map((x, i) => +(x / base[i]!).toFixed(3)), medianRatio: +med(m.map((x, i) => x / base[i]!)).toFixed(3) }));
    }
    if (a.loss > 0) console.log(`nft: ${(await lab.exec('switch', ['nft', 'list', 'table', 'bridge', 'rxloss'])).match(/packets \d+/g)?.join(', ')}`);
  } finally {
    await lab.teardown();
    fs.rmSync(work, { recursive: true, force: true });
  }
}

main().catch((e: Error) => {
  console.error(e.stack ?? e.message);
  process.exit(1);
});
