/**
 * agent/receive/receive.ts: what is found before any request (and, for usage errors, before the lock): a DP name
 * that does not resolve stops the run before the --sha256-url fetch; --interface not of this machine and
 * --http-only without --http are exit 2 even while another osdcast holds <out>, and touch no lock.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Exit } from '../../../agent/errors';
import { receive } from '../../../agent/receive/receive';
import { memLogger } from '../transport/helpers';

let dir: string;
let server: http.Server;
let requests = 0;
let url: string;
beforeEach(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'osdcast-recv-'));
  requests = 0;
  server = http.createServer((_req, res) => {
    requests++;
    res.writeHead(200, { 'content-type': 'text/plain' }).end(`${'ab'.repeat(32)}  x.wim\n`);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `http://127.0.0.1:${(server.address() as { port: number }).port}/x.wim.sha256`;
});
afterEach(async () => {
  await new Promise<void>((r) => server.close(() => r()));
  fs.rmSync(dir, { recursive: true, force: true });
});

const base = () => ({ server: 'dp01.invalid', port: 5041, namespace: 'WDS:x/1', content: 'x.wim', out: path.join(dir, 'x.wim'), retries: 0, retryDelayMs: 0 });

describe('receive: the DP name first', () => {
  it('a name that does not resolve: exit 3 before --sha256-url is fetched', async () => {
    const r = await receive({ ...base(), sha256Url: url }, { log: memLogger().log });
    expect(r).toMatchObject({ status: 'error', exitCode: Exit.NO_SESSION, errorKind: 'no-session' });
    expect(r.error).toMatch(/^cannot resolve dp01\.invalid: no such host/);
    expect(requests).toBe(0);
    expect(fs.readdirSync(dir)).toEqual([]);
  });
});

describe('receive: usage errors before the lock', () => {
  it.each([
    ['--interface 10.9.9.9 (not of this machine)', { server: '127.0.0.1', iface: '10.9.9.9' }, /^--interface 10\.9\.9\.9 is not an address of this machine$/],
    ['--http-only without --http', { httpOnly: true }, /^--http-only needs at least one --http <url>$/],
  ])('%s: exit 2 while another osdcast holds --out, its lock untouched; and no lock made when none is there', async (_name, extra, msg) => {
    const out = path.join(dir, 'x.wim');
    const owner = spawn('sleep', ['60'], { stdio: 'ignore' });
    try {
      fs.writeFileSync(`${out}.osdcast.lock`, `${owner.pid}\n`);
      const busy = await receive({ ...base(), ...extra }, { log: memLogger().log });
      expect(busy).toMatchObject({ status: 'error', exitCode: Exit.USAGE, errorKind: 'usage' });
      expect(busy.error).toMatch(msg);
      expect(fs.readFileSync(`${out}.osdcast.lock`, 'utf8')).toBe(`${owner.pid}\n`);
      fs.rmSync(`${out}.osdcast.lock`);
      const { log, lines } = memLogger();
      const free = await receive({ ...base(), ...extra }, { log });
      expect(free.exitCode).toBe(Exit.USAGE);
      expect(lines().filter((l) => /lock/.test(String(l.msg)))).toEqual([]);
      expect(fs.readdirSync(dir)).toEqual([]);
    } finally {
      owner.kill('SIGKILL');
    }
  });
});
