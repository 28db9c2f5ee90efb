import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { MiB } from '../../agent/defaults';
import { receive, ReceiveDeps, ReceiveOptions } from '../../agent/receive/receive';
import { createLogger, silentLogger } from '../../agent/log/log';
import type { Report } from '../../agent/report';

export function tempDir(prefix = 'osdcast-e2e-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

/** Deterministic pseudo-random bytes (xorshift) so failures are reproducible. */
export function randomImage(bytes: number, seed = 1): Buffer {
  const b = Buffer.allocUnsafe(bytes);
  let x = seed >>> 0 || 1;
  for (let i = 0; i + 4 <= bytes; i += 4) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    b.writeUInt32LE(x, i);
  }
  for (let i = bytes - (bytes % 4); i < bytes; i++) b[i] = i & 0xff;
  return b;
}

export function sha256(b: Buffer): string {
  return crypto.createHash('sha256').update(b).digest('hex');
}

/** A seeded PRNG for independent per-agent loss. */
export function seeded(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x / 0x1_0000_0000;
  };
}

export function runAgent(o: Partial<ReceiveOptions> & Pick<ReceiveOptions, 'server' | 'port' | 'namespace' | 'content' | 'out'>, deps: Partial<ReceiveDeps> = {}): Promise<Report> {
  // OSDCAST_TEST_LOG=debug shows the agents' logs on stderr when a test needs explaining.
  const log = process.env.OSDCAST_TEST_LOG ? createLogger({ level: process.env.OSDCAST_TEST_LOG }) : silentLogger();
  return receive({ iface: '127.0.0.1', cacheBytes: 16 * MiB, ...o }, { log, ...deps });
}

const BUILT_CLI = path.resolve(__dirname, '../../dist/osdcast.cjs');

/** The CLI in a clean environment (no OSDCAST_SERVER, no task sequence) plus `env`. */
export function runCli(args: string[], timeoutMs = 60_000, env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string; pid: number }> {
  const e: NodeJS.ProcessEnv = { ...process.env, ...env };
  for (const k of ['OSDCAST_SERVER', '_SMSTSLogPath']) if (!(k in env)) delete e[k];
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [BUILT_CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: e });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d) => (stdout += d));
    p.stderr.on('data', (d) => (stderr += d));
    const t = setTimeout(() => {
      p.kill('SIGKILL');
      reject(new Error(`osdcast ${args.join(' ')} did not exit in ${timeoutMs} ms`));
    }, timeoutMs);
    p.on('exit', (code) => {
      clearTimeout(t);
      resolve({ code: code ?? -1, stdout, stderr, pid: p.pid ?? -1 });
    });
  });
}
