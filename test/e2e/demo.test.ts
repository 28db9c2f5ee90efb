/**
 * The demo (dist/demo.cjs, what `npm run demo` and `npm run demo:rpc` run) with a small image: over MS-WDSMSI on
 * UDP, and over MS-WDSC (DCE/RPC + NTLMv2, a password file) with UDP session initiation off. Loopback only.
 */
import { describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

const DEMO = path.resolve(__dirname, '../../dist/demo.cjs');

function demo(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const e: NodeJS.ProcessEnv = { ...process.env, OSDCAST_DEMO_MIB: '8', ...env };
  if (!('OSDCAST_DEMO_INITIATION' in env)) delete e.OSDCAST_DEMO_INITIATION;
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [DEMO, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: e });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d) => (stdout += d));
    p.stderr.on('data', (d) => (stderr += d));
    p.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('demo', () => {
  it.each([
    ['default (npm run demo)', [], {}, 'udp', /^coordinator: MSI on 127\.0\.0\.1:\d+, session port \d+$/m],
    ['npm run demo:rpc', ['rpc'], {}, 'rpc', /^coordinator: no MSI on UDP, MS-WDSC \(DCE\/RPC\) on tcp 127\.0\.0\.1:\d+ for DEMO\\svc-osd \(NTLMv2\), session port \d+$/m],
    ['OSDCAST_DEMO_INITIATION=rpc', [], { OSDCAST_DEMO_INITIATION: 'rpc' }, 'rpc', /^coordinator: no MSI on UDP, MS-WDSC/m],
  ] as const)('%s: receives the image, prints MB/s, SHA-256 MATCHES and the initiation used', async (_name, args, env, used, coordinatorLine) => {
    expect(fs.existsSync(DEMO), 'dist/demo.cjs is built by npm test before vitest runs').toBe(true);
    const r = await demo([...args], env);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toMatch(coordinatorLine);
    expect(r.stdout).toMatch(new RegExp(`^agent exit 0 after \\d+\\.\\d s: \\d+\\.\\d MB/s, session initiation ${used}$`, 'm'));
    expect(r.stdout).toMatch(/^SHA-256 MATCHES$/m);
    const dir = /random image in (.+)\/image\.wim/.exec(r.stdout)?.[1];
    expect(dir && fs.existsSync(dir), 'the temporary directory (and its password file) is removed after a match').toBe(false);
  }, 60_000);

  it('an unknown initiation exits 2 with one line', async () => {
    const r = await demo(['tcp']);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe('demo: the initiation is udp or rpc, not "tcp"\n');
  });
});
