/**
 * npm run demo: a coordinator on loopback multicast with a generated 256 MiB image, received by the real
 * agent (dist/osdcast.cjs, as a separate process). Prints MB/s and whether the SHA-256 matches.
 */
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startCoordinator } from '../coordinator/udp';

async function main(): Promise<number> {
  const mib = Number(process.env.OSDCAST_DEMO_MIB ?? 256);
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

  const coord = await startCoordinator({ file: src, namespace: 'WDS:Demo/image.wim/1', content: 'image.wim', msiPort: 0, port: 0, iface: '127.0.0.1' });
  process.stdout.write(`coordinator: MSI on 127.0.0.1:${coord.msiPort}, session port ${coord.port}\n`);
  const agent = path.join(__dirname, 'osdcast.cjs');
  const t0 = process.hrtime.bigint();
  const child = spawn(process.execPath, [agent, 'receive', '--server', `127.0.0.1:${coord.msiPort}`, '--namespace', 'WDS:Demo/image.wim/1', '--content', 'image.wim', '--out', out, '--interface', '127.0.0.1', '--json', '--log-file', path.join(dir, 'agent.log')], { stdio: ['ignore', 'pipe', 'inherit'] });
  let stdout = '';
  child.stdout.on('data', (d) => (stdout += d));
  const code: number = await new Promise((res) => child.on('exit', (c) => res(c ?? 1)));
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  await coord.stop();
  const report = JSON.parse(stdout.trim().split('\n').pop() || '{}');
  process.stdout.write(`agent exit ${code} after ${secs.toFixed(1)} s: ${(mib * 1.048576 / secs).toFixed(1)} MB/s\n`);
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
