/**
 * The CLI contract: exit codes, one-line usage errors, --json report, never touching an existing <out> on failure;
 * and the wiring around receive: --ts-var, CMTrace logs in a task sequence (parsed back), server discovery.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fs from 'node:fs';
import path from 'node:path';
import { newSecurity } from '../coordinator/security';
import { startCoordinator } from '../coordinator/udp';
import { randomImage, runAgent, runCli as run, sha256, tempDir } from './harness';

const CLI = path.resolve(__dirname, '../../dist/osdcast.cjs');


const image = randomImage(3 * 1024 * 1024 + 123, 11);
let coord: Awaited<ReturnType<typeof startCoordinator>>;
let dir: string;
beforeAll(async () => {
  expect(fs.existsSync(CLI), 'dist/osdcast.cjs is built by npm test before vitest runs').toBe(true);
  coord = await startCoordinator({ data: image, namespace: 'WDS:CLI/x.wim/1', content: 'x.wim', msiPort: 0, port: 0, iface: '127.0.0.1' });
  dir = tempDir();
});
afterAll(async () => {
  await coord?.stop();
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('osdcast CLI', () => {
  it('prints its version and the Node version', async () => {
    const r = await run(['--version']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^osdcast \d+\.\d+\.\d+ \(node v\d+\.\d+\.\d+\)\n$/);
  });

  it('teaches with --help: options, an example and the exit codes', async () => {
    const r = await run(['receive', '--help']);
    expect(r.code).toBe(0);
    for (const s of ['--server', '--namespace', '--content', '--out', '--interface', '--cache', '--timeout', '--json', '--log-file', '--log-format', '--log-max-size', '--quiet', '--ts-var', 'Examples:', 'Exit codes']) expect(r.stdout).toContain(s);
  });

  it.each([[['--help']], [['acp', '--help']], [['help', 'acp']]])('%j shows an example', async (args) => {
    const r = await run(args);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('Examples:');
    expect(r.stdout).toMatch(/osdcast(\.exe)? (acp|receive|X:)/);
  });

  it('acp --help documents the abort code and the templates', async () => {
    const r = await run(['acp', '--help']);
    for (const s of ['[<INI>] <PackageID> <DestinationDir>', 'SMSTSDownloadAbortCode', 'abortCode', 'KICK FAIL', 'httpTemplate', 'PROPFIND']) expect(r.stdout).toContain(s);
  });

  it.each([
    [['receive', '--server', 'h', '--namespace', 'n', '--content', 'c', '--out', 'o', '--bogus'], "unknown option '--bogus'"],
    [['receive', '--server', 'h', '--namespace', 'n', '--content', 'c'], "'--out <path>' not specified"],
    [['receive', '--server', 'h:0', '--namespace', 'n', '--content', 'c', '--out', 'o'], 'port in --server'],
    [['receive', '--server', 'h', '--namespace', 'n', '--content', 'c', '--out', 'o', '--cache', 'lots'], '--cache must be'],
    [['receive', '--server', 'h', '--namespace', 'n', '--content', 'c', '--out', 'o', '--timeout', '-1'], '--timeout must be'],
    [['frobnicate'], "unknown command 'frobnicate'"],
    [['receive', '--server', 'h', '--namespace', 'n', '--content', 'c', '--out', 'o', '--ts-var', 'OSDCAST_SHA'], 'expected NAME=field'],
    [['receive', '--server', 'h', '--namespace', 'n', '--content', 'c', '--out', 'o', '--ts-var', '_SMSTSMine=sha256'], 'read-only'],
    [['receive', '--server', 'h', '--namespace', 'n', '--content', 'c', '--out', 'o', '--ts-var', 'X=colour'], 'unknown field "colour"'],
    [['receive', '--server', 'h', '--namespace', 'n', '--content', 'c', '--out', 'o', '--ts-var', 'My Var=bytes'], 'only letters, digits'],
    [['receive', '--server', 'h', '--namespace', 'n', '--content', 'c', '--out', 'o', '--ts-var', 'A=bytes', '--ts-var', 'a=sha256'], 'given twice'],
    [['acp', '--server', 'h', '--ts-var', 'A=files', '--ts-var', 'B=nosuch', 'PS100004', '/tmp/x'], 'unknown field "nosuch"'],
    [['receive', '--server', 'h', '--namespace', 'n', '--content', 'c', '--out', 'o', '--log-format', 'xml'], '--log-format'],
    [['receive', '--server', 'h', '--namespace', 'n', '--content', 'c', '--out', 'o', '--log-max-size', '-1'], '--log-max-size must be'],
    [['receive', '--namespace', 'n', '--content', 'c', '--out', 'o'], 'no distribution point found (tried: --server: absent; OSDCAST_SERVER: absent; osdcast.json beside the binary'],
    [['acp', 'PS100004'], 'acp takes [<INI>] <PackageID> <DestinationDir>, got 1 argument'],
    [['acp', 'PS1/0004', '/tmp/x'], 'not a ConfigMgr package ID'],
    [['receive', '--server', 'h', '--namespace', 'n', '--content', 'c', '--out', 'o', '--user', 'CORP\\svc-osd'], '--user CORP\\svc-osd needs a password: --password-file <path> or environment variable OSDCAST_PASSWORD'],
    [['acp', '--server', 'h', '--user', 'svc-osd@corp.example', 'PS100004', '/tmp/x'], '--user svc-osd@corp.example needs a password'],
    [['receive', '--server', 'h', '--namespace', 'n', '--content', 'c', '--out', 'o', '--password-file', '/nonexistent/pw.txt'], '--password-file /nonexistent/pw.txt: no such file'],
    [['receive', '--server', 'h', '--namespace', 'n', '--content', 'c', '--out', 'o', '--user', 'A\\b@c'], '--user must be DOMAIN\\name, name@domain or name'],
    [['receive', '--server', 'h', '--namespace', 'n', '--content', 'c', '--out', 'o', '--rpc-port', '70000'], '--rpc-port must be 1..65535, got "70000"'],
    [['receive', '--server', 'h', '--namespace', 'n', '--content', 'c', '--out', 'o', '--rpc-timeout', '0'], '--rpc-timeout must be a number > 0'],
    [['receive', '--server', 'h', '--namespace', 'n', '--content', 'c', '--out', 'o', '--initiation', 'tcp'], '--initiation'],
    [['receive', '--server', 'h', '--namespace', 'n', '--content', 'c', '--out', 'o', '--sha256-url', 'notaurl'], '--sha256-url must be an http:// or https:// URL'],
  ])('usage error %j exits 2 with one line', async (args, msg) => {
    const r = await run(args as string[]);
    expect(r.code).toBe(2);
    const lines = r.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain(msg);
  });

  it('a password without --user exits 2 with one line, whether from a file or OSDCAST_PASSWORD, and never shows it', async () => {
    const pw = path.join(dir, 'pw.txt');
    fs.writeFileSync(pw, 'S3cret-in-file\r\n');
    const args = ['receive', '--server', 'h', '--namespace', 'n', '--content', 'c', '--out', 'o'];
    const fromFile = await run([...args, '--password-file', pw]);
    const fromEnv = await run(args, 60_000, { OSDCAST_PASSWORD: 'S3cret-in-env' });
    for (const [r, what] of [[fromFile, '--password-file'], [fromEnv, 'OSDCAST_PASSWORD']] as const) {
      expect(r.code).toBe(2);
      expect(r.stderr.trim().split('\n')).toEqual([`osdcast: a password (${what}) needs --user <DOMAIN\\name> (see --help)`]);
      expect(r.stderr + r.stdout).not.toMatch(/S3cret/);
    }
  });

  it('receives over loopback multicast and prints the JSON report as the last stdout line', async () => {
    const out = path.join(dir, 'ok.wim');
    const r = await run(['receive', '--server', `127.0.0.1:${coord.msiPort}`, '--namespace', 'WDS:CLI/x.wim/1', '--content', 'x.wim', '--out', out, '--interface', '127.0.0.1', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const rep = JSON.parse(r.stdout.trim().split('\n').pop()!);
    expect(rep).toMatchObject({ status: 'ok', exitCode: 0, bytes: image.length, sha256: sha256(image), httpBytes: 0, droppedPackets: 0 });
    expect(typeof rep.seconds).toBe('number');
    expect(sha256(fs.readFileSync(out))).toBe(sha256(image));
  });

  it('an unknown content exits 3, names the Win32 error, and leaves an existing output untouched', async () => {
    const out = path.join(dir, 'existing.wim');
    fs.writeFileSync(out, 'precious');
    const r = await run(['receive', '--server', `127.0.0.1:${coord.msiPort}`, '--namespace', 'WDS:CLI/x.wim/1', '--content', 'nope.wim', '--out', out, '--json']);
    expect(r.code).toBe(3);
    const rep = JSON.parse(r.stdout.trim().split('\n').pop()!);
    expect(rep).toMatchObject({ status: 'error', exitCode: 3 });
    expect(rep.error).toContain('ERROR_FILE_NOT_FOUND');
    expect(rep.errorKind).toBe('no-session');
    expect(fs.readFileSync(out, 'utf8')).toBe('precious');
    expect(fs.existsSync(`${out}.partial`)).toBe(false);
  });

  it('no reply from the server is exit 3 after the MS-WDSMSI resends', async () => {
    // a port nobody answers on: the coordinator's MSI port after it is closed
    const c2 = await startCoordinator({ data: image, namespace: 'n', content: 'c', msiPort: 0, port: 0, iface: '127.0.0.1' });
    const port = c2.msiPort;
    await c2.stop();
    const rep = await runAgent({ server: '127.0.0.1', port, namespace: 'n', content: 'c', out: path.join(dir, 'never.wim'), msiTries: 3, msiRetryMs: 50, retries: 1, retryDelayMs: 50 });
    expect(rep).toMatchObject({ status: 'error', exitCode: 3 });
    expect(rep.error).toContain('no reply');
    expect(rep.errorKind).toBe('no-session');
    expect(fs.existsSync(path.join(dir, 'never.wim.partial'))).toBe(false);
  });

  it('--pre-os against a HASH session over RPC gets CHECKSUM both ways; without it the client takes part in HASH', async () => {
    // Like Server 2016+ on an unprivileged port of 127.0.0.1: MS-WDSC only, anonymous RPC, HASH for clients
    // outside WinPE. MS-WDSMSI 3.1.5.1: a pre-OS client (BOOT_DEVICE in the INITIATE's Cap) gets CHECKSUM.
    const events: { type: string; via?: string; ok?: boolean }[] = [];
    const c = await startCoordinator({ data: image, namespace: 'WDS:CLI/x.wim/1', content: 'x.wim', port: 0, iface: '127.0.0.1', udpMsi: false, rpc: { port: 0, allowAnonymous: true }, security: newSecurity('hash', Math.random), onEvent: (e) => events.push(e) });
    try {
      const args = (out: string) => ['receive', '--server', '127.0.0.1', '--initiation', 'rpc', '--rpc-port', String(c.rpcPort), '--namespace', 'WDS:CLI/x.wim/1', '--content', 'x.wim', '--out', path.join(dir, out), '--interface', '127.0.0.1', '--json', '--retries', '0'];
      const pre = await run([...args('preos.wim'), '--pre-os']);
      expect(pre.code, pre.stderr).toBe(0);
      expect(JSON.parse(pre.stdout.trim().split('\n').pop()!)).toMatchObject({ status: 'ok', initiation: 'rpc', sha256: sha256(image), drops: { authFailed: 0 } });
      expect(pre.stderr).toContain('security: client CHECKSUM, server CHECKSUM');
      expect(sha256(fs.readFileSync(path.join(dir, 'preos.wim')))).toBe(sha256(image));

      const full = await run(args('full.wim'));
      expect(full.code, full.stderr).toBe(0);
      expect(JSON.parse(full.stdout.trim().split('\n').pop()!)).toMatchObject({ status: 'ok', initiation: 'rpc', sha256: sha256(image), drops: { authFailed: 0 } });
      expect(full.stderr).toContain('security: client HASH, server HASH');

      // The coordinator's side: both sessions started over RPC, and every client packet carried the mode it expected.
      expect(events.filter((e) => e.type === 'msi').map((e) => [e.via, e.ok])).toEqual([['rpc', true], ['rpc', true]]);
      expect(c.coordinator.stats).toMatchObject({ securityMismatch: 0, authFailed: 0 });
    } finally {
      await c.stop();
    }
  });
});

/** Independent CMTrace record parser (from the published line shape; messages may span lines). */
const RECORD = /<!\[LOG\[([\s\S]*?)\]LOG\]!><time="(\d{2}):(\d{2}):(\d{2})\.(\d{3})([+-]\d{3,})" date="(\d{2})-(\d{2})-(\d{4})" component="([^"]*)" context="([^"]*)" type="([123])" thread="(\d+)" file="([^"]*)">\r\n/g;

function parseCmTrace(buf: Buffer): { msg: string; type: number; thread: number; component: string; date: string }[] {
  expect([...buf.subarray(0, 3)], 'a new CMTrace file starts with a UTF-8 BOM').toEqual([0xef, 0xbb, 0xbf]);
  const text = buf.subarray(3).toString('utf8');
  const out = [];
  let consumed = 0;
  for (const m of text.matchAll(RECORD)) {
    expect(m.index, 'records are back to back').toBe(consumed);
    consumed = m.index! + m[0].length;
    out.push({ msg: m[1]!, type: Number(m[12]), thread: Number(m[13]), component: m[10]!, date: `${m[9]}-${m[7]}-${m[8]}` });
  }
  expect(consumed, 'the whole file is records').toBe(text.length);
  return out;
}

describe('task-sequence wiring', () => {
  it('_SMSTSLogPath set: CMTrace log in <_SMSTSLogPath>/osdcast.log, parsed back; nothing but the report on stdout', async () => {
    const logDir = path.join(dir, 'SMSTSLog');
    const out = path.join(dir, 'ts.wim');
    const r = await run(['receive', '--server', `127.0.0.1:${coord.msiPort}`, '--namespace', 'WDS:CLI/x.wim/1', '--content', 'x.wim', '--out', out, '--interface', '127.0.0.1', '--json'], 60_000, { _SMSTSLogPath: logDir });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toBe('');
    expect(r.stdout.trim().split('\n')).toHaveLength(1);
    const recs = parseCmTrace(fs.readFileSync(path.join(logDir, 'osdcast.log')));
    expect(recs.length).toBeGreaterThan(3);
    for (const rec of recs) expect(rec).toMatchObject({ component: 'osdcast', thread: r.pid });
    const today = new Date();
    expect(recs[0]!.date).toBe(`${today.getFullYear()}-${String(today.getMonth() + 1).padStart(2, '0')}-${String(today.getDate()).padStart(2, '0')}`);
    expect(recs.some((x) => x.type === 1 && x.msg.startsWith(`DP 127.0.0.1:${coord.msiPort} from --server`))).toBe(true);
    expect(recs.some((x) => x.type === 1 && x.msg.startsWith(`complete: ${image.length} bytes`))).toBe(true);

    // A failure in the same folder: appended, as an error record (type 3); --log-format json overrides the format.
    const bad = await run(['receive', '--server', `127.0.0.1:${coord.msiPort}`, '--namespace', 'WDS:CLI/x.wim/1', '--content', 'nope.wim', '--out', path.join(dir, 'nope.wim'), '--interface', '127.0.0.1'], 60_000, { _SMSTSLogPath: logDir });
    expect(bad.code).toBe(3);
    expect(bad.stderr.trim().split('\n')).toEqual([expect.stringContaining('ERROR_FILE_NOT_FOUND')]);
    const after = parseCmTrace(fs.readFileSync(path.join(logDir, 'osdcast.log')));
    expect(after.slice(0, recs.length)).toEqual(recs);
    expect(after.some((x) => x.type === 3 && x.thread === bad.pid && x.msg.includes('failed (exit 3)'))).toBe(true);
  });

  it('--log-max-size rotates the CMTrace log to osdcast.lo_; --log-format json writes pino lines', async () => {
    const logDir = path.join(dir, 'rot');
    const out = path.join(dir, 'rot.wim');
    const r = await run(['receive', '--server', `127.0.0.1:${coord.msiPort}`, '--namespace', 'WDS:CLI/x.wim/1', '--content', 'x.wim', '--out', out, '--interface', '127.0.0.1', '--log-level', 'debug', '--log-max-size', '0.001'], 60_000, { _SMSTSLogPath: logDir });
    expect(r.code, r.stderr).toBe(0);
    const cur = fs.readFileSync(path.join(logDir, 'osdcast.log'));
    const old = fs.readFileSync(path.join(logDir, 'osdcast.lo_'));
    expect(cur.length).toBeLessThanOrEqual(1049);
    const recs = [...parseCmTrace(old), ...parseCmTrace(cur)];
    expect(recs.some((x) => x.msg.startsWith('complete:'))).toBe(true);

    const jsonLog = path.join(dir, 'j', 'osdcast.json.log');
    const j = await run(['receive', '--server', `127.0.0.1:${coord.msiPort}`, '--namespace', 'WDS:CLI/x.wim/1', '--content', 'x.wim', '--out', out, '--interface', '127.0.0.1', '--log-format', 'json', '--log-file', jsonLog], 60_000, { _SMSTSLogPath: logDir });
    expect(j.code, j.stderr).toBe(0);
    const lines = fs.readFileSync(jsonLog, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { msg: string; level: number });
    expect(lines.some((l) => l.level === 30 && l.msg.startsWith('complete:'))).toBe(true);
  });

  it('--log-format cmtrace outside a task sequence writes CMTrace records to stderr', async () => {
    const r = await run(['receive', '--server', `127.0.0.1:${coord.msiPort}`, '--namespace', 'WDS:CLI/x.wim/1', '--content', 'x.wim', '--out', path.join(dir, 'c.wim'), '--interface', '127.0.0.1', '--log-format', 'cmtrace']);
    expect(r.code, r.stderr).toBe(0);
    const recs = parseCmTrace(Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(r.stderr)]));
    expect(recs.some((x) => x.msg.startsWith('complete:'))).toBe(true);
  });

  it('takes the DP from OSDCAST_SERVER when --server is absent, and says so', async () => {
    const out = path.join(dir, 'env.wim');
    const r = await run(['receive', '--namespace', 'WDS:CLI/x.wim/1', '--content', 'x.wim', '--out', out, '--interface', '127.0.0.1', '--json'], 60_000, { OSDCAST_SERVER: `127.0.0.1:${coord.msiPort}` });
    expect(r.code, r.stderr).toBe(0);
    expect(sha256(fs.readFileSync(out))).toBe(sha256(image));
    const msgs = r.stderr.trim().split('\n').map((l) => (JSON.parse(l) as { msg: string }).msg);
    expect(msgs).toContain(`DP 127.0.0.1:${coord.msiPort} from OSDCAST_SERVER`);
  });

  it('--ts-var outside a task sequence: the receive succeeds and a warning says the variables were not set', async () => {
    const out = path.join(dir, 'tsvar.wim');
    const r = await run(['receive', '--server', `127.0.0.1:${coord.msiPort}`, '--namespace', 'WDS:CLI/x.wim/1', '--content', 'x.wim', '--out', out, '--interface', '127.0.0.1', '--json', '--ts-var', 'OSDCAST_SHA256=sha256', '--ts-var', 'OSDCAST_STATUS=status']);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout.trim())).toMatchObject({ status: 'ok' });
    const warn = r.stderr
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { msg: string; level: number })
      .filter((l) => l.level === 40);
    expect(warn.map((w) => w.msg)).toEqual([expect.stringMatching(/^--ts-var: not running in a task sequence, variables not set/)]);
  });
});
