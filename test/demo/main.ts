/**
 * npm run demo: a coordinator on loopback multicast with a generated 256 MiB image, received by the real
 * agent (dist/osdcast.cjs, as a separate process). Prints MB/s, whether the SHA-256 matches, and the session
 * initiation the agent used.
 *
 * `npm run demo:rpc` (or OSDCAST_DEMO_INITIATION=rpc): the coordinator behaves like Windows Server 2016+: no
 * MS-WDSMSI on UDP, session initiation only over DCE/RPC (MS-WDSC) on a free unprivileged TCP port of 127.0.0.1
 * (no endpoint mapper), NTLMv2 for one account with a random password. The password is written to a file in the
 * demo's temporary directory, which the agent reads with --password-file (never a command-line value).
 */
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Credentials } from '../../core/ntlm/auth';
import { startCoordinator } from '../coordinator/udp';

const DEMO_USER = { domain: 'DEMO', user: 'svc-osd' };

async function main(): Promise<number> {
  const mib = Number(process.env.OSDCAST_DEMO_MIB ?? 256);
  const initiation = process.argv[2] ?? process.env.OSDCAST_DEMO_INITIATION ?? 'udp';
  if (initiation !== 'udp' && initiation !== 'rpc') {
    process.stderr.write(`demo: the initiation is udp or rpc, not ${JSON.stringify(initiation)}\n`);
    return 2;
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'osdcast-demo-'));
  const src = path.join(dir, 'image.wim');
  const out = path.join(dir, 'received.wim');
  process.stdout.write(`generating a ${mib} MiB random image in ${src} …\n`);
  const h = crypto.createHash('sha256');
  const fd = fs.openSync(src, 'w');
  const chunk = Buffer.alloc(1 << 20);
  for (let i = 0; i < mib; i++) {
    crypto.randomFillSync(chunk);
    h.update(chunk);
    fs.writeSync(fd, chunk);
  }
  fs.closeSync(fd);
  const want = h.digest('hex');

  const served = { file: src, namespace: 'WDS:Demo/image.wim/1', content: 'image.wim', port: 0, iface: '127.0.0.1' };
  let initiationArgs: string[];
  let coord: Awaited<ReturnType<typeof startCoordinator>>;
  if (initiation === 'rpc') {
    const passwordFile = path.join(dir, 'password.txt');
    const password = crypto.randomBytes(18).toString('base64url');
    fs.writeFileSync(passwordFile, `${password}\n`, { mode: 0o600 });
    coord = await startCoordinator({ ...served, udpMsi: false, rpc: { port: 0, account: new Credentials({ ...DEMO_USER, password }), allowAnonymous: false } });
    process.stdout.write(`coordinator: no MSI on UDP, MS-WDSC (DCE/RPC) on tcp 127.0.0.1:${coord.rpcPort} for ${DEMO_USER.domain}\\${DEMO_USER.user} (NTLMv2), session port ${coord.port}\n`);
    initiationArgs = ['--server', '127.0.0.1', '--initiation', 'rpc', '--rpc-port', String(coord.rpcPort), '--user', `${DEMO_USER.domain}\\${DEMO_USER.user}`, '--password-file', passwordFile];
  } else {
    coord = await startCoordinator({ ...served, msiPort: 0 });
    process.stdout.write(`coordinator: MSI on 127.0.0.1:${coord.msiPort}, session port ${coord.port}\n`);
    initiationArgs = ['--server', `127.0.0.1:${coord.msiPort}`];
  }
  const agent = path.join(__dirname, 'osdcast.cjs');
  const t0 = process.hrtime.bigint();
  const env = { ...process.env };
  delete env.OSDCAST_PASSWORD;
  const child = spawn(process.execPath, [agent, 'receive', ...initiationArgs, '--namespace', 'WDS:Demo/image.wim/1', '--content', 'image.wim', '--out', out, '--interface', '127.0.0.1', '--json', '--log-file', path.join(dir, 'agent.log')], { stdio: ['ignore', 'pipe', 'inherit'], env });
  let stdout = '';
  child.stdout.on('data', (d) => (stdout += d));
  const code: number = await new Promise((res) => child.on('exit', (c) => res(c ?? 1)));
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  await coord.stop();
  const report = JSON.parse(stdout.trim().split('\n').pop() || '{}');
  process.stdout.write(`agent exit ${code} after ${secs.toFixed(1)} s: ${(mib * 1.048576 / secs).toFixed(1)} MB/s, session initiation ${report.initiation ?? '(none)'}\n`);
  const match = report.sha256 === want;
  process.stdout.write(`source   sha256 ${want}\nreceived sha256 ${report.sha256 ?? '(none)'}\n${match ? 'SHA-256 MATCHES' : 'SHA-256 DOES NOT MATCH'}\n`);
  if (code === 0 && match) fs.rmSync(dir, { recursive: true, force: true });
  else process.stdout.write(`kept ${dir} (agent log: ${path.join(dir, 'agent.log')})\n`);
  return code === 0 && match ? 0 : 1;
}

main().then(
  (c) => process.exit(c),
  (e) => {
    process.stderr.write(`demo failed: ${(e as Error).stack}\n`);
    process.exit(1);
  },
);
