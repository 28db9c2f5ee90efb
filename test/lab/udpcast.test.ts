/**
 * Issue 12 point 5: `osdcast receive --udpcast` (the built CLI) against Debian's stock udp-sender (udpcast 20120424)
 * in the namespace lab: sender at 10.77.0.1, receivers at .11-.13, rendez-vous by the subnet broadcast. Every
 * sender runs `--nokbd --retries-until-drop 20` (a failure costs seconds, not 200 s) and starts on
 * `--min-receivers n` (or `--autostart`), with `--max-wait` as a bound.
 *
 * Cases: one receiver (the sender goes point-to-point: data unicast to it), three receivers (multicast),
 * `--autostart`, 1 % and 5 % random loss of UDP towards every receiver (nftables at the bridge: data, REQACK, HELLO
 * and CONNECT_REPLY alike), a `--fec 8x8` sender (FEC packets ignored, completed by retransmission), a late
 * joiner (exit 3, saying why), a sender killed mid-transfer (without --http: exit 4 after the 30 s inactivity
 * limit and no file; with --http: byte-exact by HTTP from nginx in the sender's namespace), and `--out -` into
 * sha256sum (and into a reader that goes away: exit 6), and no sender at all (exit 3, or HTTP). Byte-exact means the output file's own SHA-256 equals the
 * image's, computed here (beside the agent's --sha256 check).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { canRun } from '../support/env';
import { startNginx, nginxAvailable, type NginxServer } from '../support/nginx';
import { randomImage } from '../e2e/harness';
import { Lab, LabProcess, createLab, labUnavailable } from './lab';

const CLI = path.resolve(__dirname, '../../dist/osdcast.cjs');
const SENDER_BIN = '/usr/bin/udp-sender';
const SND = 'snd';
const RX = ['r1', 'r2', 'r3'];
const MiB = 1024 * 1024;

const why = labUnavailable({ nft: true }) ?? (fs.existsSync(SENDER_BIN) ? undefined : `the udpcast lab tests need Debian's udpcast (${SENDER_BIN})`) ?? (nginxAvailable().ok ? undefined : nginxAvailable().reason);

type Report = { status: string; exitCode: number; bytes: number; sha256: string; multicastBytes: number; httpBytes: number; initiation: string; error?: string; errorKind?: string; fallbackCause?: string; integrity?: string; drops?: { wrongSource: number } };
interface Image {
  file: string;
  sha256: string;
  size: number;
}
interface Result {
  host: string;
  code: number | null;
  report: Report | undefined;
  out: string;
  log: string;
  stderr: string;
}

let lab: Lab | undefined;
let dir = '';
let nginx: NginxServer | undefined;
const images = new Map<string, Image>();

function image(name: string, bytes: number, seed: number): Image {
  let img = images.get(name);
  if (!img) {
    const data = randomImage(bytes, seed);
    const file = path.join(dir, 'www', name);
    fs.writeFileSync(file, data);
    img = { file, sha256: crypto.createHash('sha256').update(data).digest('hex'), size: bytes };
    images.set(name, img);
  }
  return img;
}

const sha256File = (f: string) => crypto.createHash('sha256').update(fs.readFileSync(f)).digest('hex');

beforeAll(async () => {
  if (why) return;
  expect(fs.existsSync(CLI), 'dist/osdcast.cjs is built by npm test before vitest runs').toBe(true);
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'osdcast-udpcast-lab-'));
  fs.mkdirSync(path.join(dir, 'www'));
  lab = await createLab({ prefix: 'osdudpc', hosts: [{ name: SND, host: 1 }, ...RX.map((name, i) => ({ name, host: 11 + i }))] });
  nginx = await startNginx({ root: path.join(dir, 'www'), netns: { ns: lab.host(SND).ns, address: lab.address(SND) } });
}, 60_000);

afterAll(async () => {
  await nginx?.stop();
  await lab?.teardown();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

let caseNo = 0;

/** Counts, in `host`, the data datagrams (> 1000 bytes to port 9000) addressed to it (unicast) and to a group. */
async function countData(host: string): Promise<() => Promise<{ unicast: number; multicast: number }>> {
  const addr = lab!.address(host);
  await lab!.exec(host, ['nft', 'delete', 'table', 'ip', 'udpcdata']).catch(() => undefined);
  await lab!.nft(host, `table ip udpcdata {
  chain uni {
    type filter hook input priority 0; policy accept;
    ip daddr ${addr} udp dport 9000 meta length > 1000 counter
  }
  chain mc {
    type filter hook input priority 1; policy accept;
    ip daddr 224.0.0.0/4 udp dport 9000 meta length > 1000 counter
  }
}
`);
  return async () => ({ unicast: await lab!.counter(host, 'ip', 'udpcdata', 'uni'), multicast: await lab!.counter(host, 'ip', 'udpcdata', 'mc') });
}

function sender(img: Image, args: string[]): LabProcess {
  return lab!.start(SND, [SENDER_BIN, '--file', img.file, '--interface', 'eth0', '--nokbd', '--retries-until-drop', '20', ...args]);
}

/** One osdcast receiver in `host` (`--out` a file in the case's folder unless `args` give their own). */
function receiver(host: string, img: Image, args: string[] = [], shell?: (cmd: string) => string): { host: string; proc: LabProcess; out: string; log: string } {
  const out = path.join(dir, `c${caseNo}-${host}.img`);
  const log = path.join(dir, `c${caseNo}-${host}.log`);
  const env = { ...process.env };
  for (const k of ['OSDCAST_SERVER', '_SMSTSLogPath', 'OSDCAST_PASSWORD']) delete env[k];
  const argv = [process.execPath, CLI, 'receive', '--udpcast', '--interface', lab!.address(host), '--json', '--log-file', log, '--log-format', 'json', '--timeout', '90', ...(args.includes('--out') ? [] : ['--out', out, '--sha256', img.sha256]), ...args];
  const proc = shell ? lab!.start(host, ['bash', '-c', shell(argv.map((a) => `'${a}'`).join(' '))], { env }) : lab!.start(host, argv, { env });
  return { host, proc, out, log };
}

async function result(r: ReturnType<typeof receiver>, reportFrom: 'stdout' | 'stderr' = 'stdout'): Promise<Result> {
  const { code } = await r.proc.exited;
  const text = reportFrom === 'stdout' ? r.proc.stdout() : r.proc.stderr();
  const last = text.trim().split('\n').pop() ?? '';
  let report: Report | undefined;
  try {
    report = JSON.parse(last) as Report;
  } catch {
    report = undefined;
  }
  return { host: r.host, code, report, out: r.out, log: fs.existsSync(r.log) ? fs.readFileSync(r.log, 'utf8') : '', stderr: r.proc.stderr() };
}

const explain = (r: Result, snd?: LabProcess) => `${r.host}: exit ${r.code}\nreport ${JSON.stringify(r.report)}\nstderr ${r.stderr.slice(-1500)}\nlog ${r.log.slice(-3000)}${snd ? `\nsender ${snd.stdout().slice(-800)} ${snd.stderr().slice(-800)}` : ''}`;

function byteExact(r: Result, img: Image, snd?: LabProcess): void {
  expect(r.code, explain(r, snd)).toBe(0);
  expect(r.report?.status).toBe('ok');
  expect(r.report?.initiation).toBe('udpcast');
  expect(r.report?.bytes).toBe(img.size);
  expect(sha256File(r.out), `${r.host}'s file`).toBe(img.sha256);
  expect(fs.existsSync(`${r.out}.partial`)).toBe(false);
}

/** Runs one sender and its receivers to the end (receivers started first unless `senderFirst`). */
async function session(o: { img: Image; senderArgs: string[]; receivers: { host: string; args?: string[] }[]; senderFirst?: boolean; lossPer10k?: number }): Promise<{ results: Result[]; snd: LabProcess }> {
  caseNo++;
  await lab!.impair(RX, { lossPer10k: o.lossPer10k ?? 0 });
  let snd: LabProcess | undefined;
  if (o.senderFirst) {
    snd = sender(o.img, o.senderArgs);
    await new Promise((r) => setTimeout(r, 300));
  }
  const rx = o.receivers.map((r) => receiver(r.host, o.img, r.args));
  if (!snd) {
    await new Promise((r) => setTimeout(r, 300));
    snd = sender(o.img, o.senderArgs);
  }
  const results = await Promise.all(rx.map((r) => result(r)));
  await snd.exited;
  return { results, snd };
}

describe('osdcast --udpcast against udp-sender (Debian udpcast 20120424)', () => {
  it('one receiver: the sender goes point-to-point (data unicast), byte-exact', async (ctx) => {
    if (!canRun(!why, why ?? '')) return ctx.skip();
    const img = image('ptp.img', 8 * MiB + 123, 1);
    const counted = await countData('r1');
    const { results, snd } = await session({ img, senderFirst: true, senderArgs: ['--min-receivers', '1', '--max-wait', '10'], receivers: [{ host: 'r1' }] });
    byteExact(results[0]!, img, snd);
    // CONNECT_REPLY named the multicast group, yet every data datagram came to r1's own address.
    const n = await counted();
    expect(n.unicast).toBeGreaterThanOrEqual(Math.floor(img.size / 1456));
    expect(n.multicast).toBe(0);
  }, 60_000);

  it('three receivers (multicast), started before the sender: each byte-exact', async (ctx) => {
    if (!canRun(!why, why ?? '')) return ctx.skip();
    const img = image('three.img', 12 * MiB + 7, 2);
    const counted = await countData('r3');
    const { results, snd } = await session({ img, senderArgs: ['--min-receivers', '3', '--max-wait', '10'], receivers: RX.map((host) => ({ host })) });
    for (const r of results) byteExact(r, img, snd);
    const n = await counted();
    expect(n.multicast).toBeGreaterThanOrEqual(Math.floor(img.size / 1456));
    expect(n.unicast).toBe(0);
  }, 60_000);

  it('--autostart: the sender starts after its HELLO repetitions, byte-exact', async (ctx) => {
    if (!canRun(!why, why ?? '')) return ctx.skip();
    const img = image('auto.img', 8 * MiB, 3);
    const { results, snd } = await session({ img, senderFirst: true, senderArgs: ['--autostart', '2'], receivers: [{ host: 'r1' }, { host: 'r2' }] });
    for (const r of results) byteExact(r, img, snd);
  }, 60_000);

  for (const [loss, label] of [
    [100, '1 %'],
    [500, '5 %'],
  ] as const)
    it(`${label} loss of UDP towards every receiver: three receivers byte-exact`, async (ctx) => {
      if (!canRun(!why, why ?? '')) return ctx.skip();
      const img = image(`loss${loss}.img`, 8 * MiB + 1, 4);
      const { results, snd } = await session({ img, lossPer10k: loss, senderArgs: ['--min-receivers', '3', '--max-wait', '15'], receivers: RX.map((host) => ({ host })) });
      const c = await lab!.counters();
      for (const r of results) {
        byteExact(r, img, snd);
        expect(c[`${r.host}_lost`], 'the bridge dropped packets towards it').toBeGreaterThan(0);
      }
    }, 90_000);

  it('a --fec 8x8 sender at 1 % loss: completed by retransmission, FEC packets ignored, byte-exact', async (ctx) => {
    if (!canRun(!why, why ?? '')) return ctx.skip();
    const img = image('fec.img', 8 * MiB + 5, 5);
    const { results, snd } = await session({ img, lossPer10k: 100, senderArgs: ['--fec', '8x8', '--min-receivers', '2', '--max-wait', '10'], receivers: [{ host: 'r1' }, { host: 'r2' }] });
    for (const r of results) {
      byteExact(r, img, snd);
      const stats = r.log.split('\n').find((l) => l.includes('udpcast statistics'));
      expect((JSON.parse(stats!) as { udpcast: { fecIgnored: number } }).udpcast.fecIgnored).toBeGreaterThan(0);
    }
  }, 90_000);

  it('late joiners (the transfer already runs) end with exit 3 and say why; the first receiver is byte-exact', async (ctx) => {
    if (!canRun(!why, why ?? '')) return ctx.skip();
    caseNo++;
    await lab!.impair(RX, { lossPer10k: 0 });
    const img = image('late.img', 16 * MiB, 6);
    const first = receiver('r1', img);
    await new Promise((r) => setTimeout(r, 300));
    // 40 Mbit/s: 16 MiB take ~3.4 s after the start rule (2 s after r1 connected).
    const snd = sender(img, ['--min-receivers', '1', '--max-wait', '5', '--max-bitrate', '40m', '--nopointopoint']);
    await new Promise((r) => setTimeout(r, 3000));
    // By the subnet broadcast: a running sender sends no HELLO and answers no CONNECT_REQ, so nothing is heard;
    // the message names that possibility. By the sender's own address (as FOG's clients do): its data group is
    // known, the running transfer is seen at once.
    const late = receiver('r2', img, ['--mcast-timeout', '4']);
    const lateToSender = receiver('r3', img, ['--mcast-timeout', '4', '--rdv-address', lab!.address(SND)]);
    const [a, b, c] = await Promise.all([result(first), result(late), result(lateToSender)]);
    await snd.exited;
    byteExact(a, img, snd);
    expect(b.code, explain(b, snd)).toBe(3);
    expect(b.report?.errorKind).toBe('no-session');
    expect(b.report?.error).toContain('no udpcast sender answered at 10.77.0.255:9001 within 4 s');
    expect(b.report?.error).toContain('already running answers no late joiner');
    expect(c.code, explain(c, snd)).toBe(3);
    expect(c.report?.errorKind).toBe('no-session');
    expect(c.report?.error).toContain('its transfer was already running');
    for (const r of [b, c]) expect(fs.existsSync(r.out) || fs.existsSync(`${r.out}.partial`)).toBe(false);
  }, 60_000);

  it('a sender killed mid-transfer: without --http exit 4 after 30 s and no file; with --http byte-exact by HTTP', async (ctx) => {
    if (!canRun(!why, why ?? '')) return ctx.skip();
    caseNo++;
    await lab!.impair(RX, { lossPer10k: 0 });
    const img = image('killed.img', 16 * MiB + 9, 7);
    const url = `http://${lab!.address(SND)}:${nginx!.port}/${path.basename(img.file)}`;
    const plain = receiver('r1', img);
    const withHttp = receiver('r2', img, ['--http', url]);
    await new Promise((r) => setTimeout(r, 300));
    const snd = sender(img, ['--min-receivers', '2', '--max-wait', '5', '--max-bitrate', '30m']);
    // The start rule takes ~2 s after the last connect; then ~1.5 s of data (of ~4.5 s).
    await new Promise((r) => setTimeout(r, 3500));
    process.kill(snd.pid, 'SIGKILL');
    const [a, b] = await Promise.all([result(plain), result(withHttp)]);
    expect(a.code, explain(a)).toBe(4);
    expect(a.report?.errorKind).toBe('inactivity');
    expect(a.report!.multicastBytes).toBeGreaterThan(0);
    expect(fs.existsSync(a.out) || fs.existsSync(`${a.out}.partial`)).toBe(false);
    byteExact(b, img);
    expect(b.report?.fallbackCause).toBe('inactivity');
    expect(b.report!.httpBytes).toBeGreaterThan(0);
    expect(b.report!.multicastBytes).toBeGreaterThan(0);
    expect(b.report!.httpBytes).toBeLessThan(img.size);
  }, 90_000);

  it('no sender at all: with --http the whole image by HTTP after --mcast-timeout (fallbackCause no-reply); without: exit 3', async (ctx) => {
    if (!canRun(!why, why ?? '')) return ctx.skip();
    caseNo++;
    await lab!.impair(RX, { lossPer10k: 0 });
    const img = image('nosender.img', 3 * MiB + 11, 9);
    const url = `http://${lab!.address(SND)}:${nginx!.port}/${path.basename(img.file)}`;
    const [a, b] = await Promise.all([result(receiver('r1', img, ['--mcast-timeout', '2', '--http', url])), result(receiver('r2', img, ['--mcast-timeout', '2']))]);
    byteExact(a, img);
    expect(a.report?.fallbackCause).toBe('no-reply');
    expect(a.report?.httpBytes).toBe(img.size);
    expect(a.report?.multicastBytes).toBe(0);
    expect(b.code, explain(b)).toBe(3);
    expect(b.report?.error).toContain('no udpcast sender answered');
  }, 30_000);

  it('--out -: the image in order into sha256sum, the --json report as the last line of stderr; a reader that goes away: exit 6', async (ctx) => {
    if (!canRun(!why, why ?? '')) return ctx.skip();
    caseNo++;
    await lab!.impair(RX, { lossPer10k: 100 });
    const img = image('pipe.img', 8 * MiB + 3, 8);
    const sum = path.join(dir, `c${caseNo}-sum.txt`);
    const piped = receiver('r1', img, ['--out', '-', '--sha256', img.sha256], (cmd) => `set -o pipefail; ${cmd} | sha256sum > '${sum}'`);
    const gone = receiver('r2', img, ['--out', '-'], (cmd) => `set -o pipefail; ${cmd} | head -c 1000000 > /dev/null`);
    await new Promise((r) => setTimeout(r, 300));
    const snd = sender(img, ['--min-receivers', '2', '--max-wait', '10']);
    const [a, b] = await Promise.all([result(piped, 'stderr'), result(gone, 'stderr')]);
    await snd.exited;
    expect(a.code, explain(a, snd)).toBe(0);
    expect(fs.readFileSync(sum, 'utf8').split(' ')[0]).toBe(img.sha256);
    expect(a.report?.status).toBe('ok');
    expect(a.report?.sha256).toBe(img.sha256);
    expect(a.report?.integrity).toBe('verified');
    expect(a.report?.bytes).toBe(img.size);
    expect(piped.proc.stdout()).toBe('');
    expect(b.code, explain(b, snd)).toBe(6);
    expect(b.report?.errorKind).toBe('io');
    expect(b.report?.error).toContain('went away');
    // It said DISCONNECT before giving up: the sender removed it at once instead of dropping it after 20 rounds.
    expect(snd.stdout() + snd.stderr()).toMatch(/Disconnecting #\d+ \(10\.77\.0\.12\)/);
    expect(snd.stdout() + snd.stderr()).not.toContain('Dropping client');
  }, 90_000);
});
