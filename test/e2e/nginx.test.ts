/**
 * The agent against a real web server (Debian's nginx on loopback, started and stopped by PID): HTTP-only,
 * HTTPS with an internal CA (--ca), certificate errors, --insecure, and multicast falling back to nginx.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fs from 'node:fs';
import path from 'node:path';
import { canRunNginx, startNginx, NginxServer } from '../support/nginx';
import { startCoordinator } from '../coordinator/udp';
import { randomImage, runAgent, sha256, tempDir } from './harness';

const image = randomImage(6 * 1024 * 1024 + 3, 99);
const want = sha256(image);
let ngx: NginxServer | undefined;
let dir = '';
const PKG = '/SMS_DP_SMSPKG$/PKG00042/image.wim';

beforeAll(async () => {
  dir = tempDir();
  if (!canRunNginx(true)) return;
  const root = path.join(dir, 'www');
  fs.mkdirSync(path.dirname(path.join(root, PKG)), { recursive: true });
  fs.writeFileSync(path.join(root, PKG), image);
  fs.writeFileSync(path.join(root, 'image.sha256'), `${want}  image.wim\n`);
  ngx = await startNginx({ root, tls: true });
}, 60_000);
afterAll(async () => {
  await ngx?.stop();
  fs.rmSync(dir, { recursive: true, force: true });
});

const base = (out: string) => ({ server: '127.0.0.1', port: 9, namespace: 'n', content: 'c', out, retries: 0, retryDelayMs: 50 });

describe('against nginx', () => {
  it('--http-only over plain HTTP with --sha256-url', async (ctx) => {
    if (!ngx) return ctx.skip();
    const out = path.join(dir, 'a.wim');
    const r = await runAgent({ ...base(out), httpOnly: true, http: [`http://127.0.0.1:${ngx.port}${PKG}`], sha256Url: `http://127.0.0.1:${ngx.port}/image.sha256` });
    expect(r, r.error).toMatchObject({ status: 'ok', sha256: want, httpBytes: image.length, integrity: 'verified' });
    expect(sha256(fs.readFileSync(out))).toBe(want);
  });

  it('HTTPS with the internal CA (--ca) works; without it the certificate error is an error; --insecure only when asked', async (ctx) => {
    if (!ngx?.httpsPort) return ctx.skip();
    const url = `https://127.0.0.1:${ngx.httpsPort}${PKG}`;
    const ok = await runAgent({ ...base(path.join(dir, 'b.wim')), httpOnly: true, http: [url], ca: Buffer.from(ngx.caPem!) });
    expect(ok, ok.error).toMatchObject({ status: 'ok', sha256: want });
    const bad = await runAgent({ ...base(path.join(dir, 'c.wim')), httpOnly: true, http: [url] });
    expect(bad).toMatchObject({ status: 'error', exitCode: 4 });
    expect(bad.error).toMatch(/tls/i);
    expect(fs.existsSync(path.join(dir, 'c.wim'))).toBe(false);
    const insecure = await runAgent({ ...base(path.join(dir, 'd.wim')), httpOnly: true, http: [url], insecure: true });
    expect(insecure).toMatchObject({ status: 'ok', sha256: want });
  });

  it('fails over from a dead URL to nginx, and a 404 is named', async (ctx) => {
    if (!ngx) return ctx.skip();
    const r = await runAgent({ ...base(path.join(dir, 'e.wim')), httpOnly: true, http: [`http://127.0.0.1:${ngx.port}/SMS_DP_SMSPKG$/NOPE/x.wim`, `http://127.0.0.1:${ngx.port}${PKG}`] });
    expect(r, r.error).toMatchObject({ status: 'ok', sha256: want });
    const missing = await runAgent({ ...base(path.join(dir, 'f.wim')), httpOnly: true, http: [`http://127.0.0.1:${ngx.port}/SMS_DP_SMSPKG$/NOPE/x.wim`] });
    expect(missing).toMatchObject({ status: 'error', exitCode: 4 });
    expect(missing.error).toMatch(/not-found|404/);
  });

  it('multicast KICKed mid-way falls back to nginx for the rest', async (ctx) => {
    if (!ngx) return ctx.skip();
    const coord = await startCoordinator({ data: image, namespace: 'WDS:N/i/1', content: 'i', msiPort: 0, port: 0, rateBytesPerSec: 3e6 });
    try {
      const out = path.join(dir, 'g.wim');
      const run = runAgent({ ...base(out), port: coord.msiPort, namespace: 'WDS:N/i/1', content: 'i', http: [`http://127.0.0.1:${ngx.port}${PKG}`] });
      while (coord.coordinator.stats.dataBytesSent < image.length / 3) await new Promise((r) => setTimeout(r, 20));
      coord.kick(coord.coordinator.clients()[0]!.clientId, 1);
      const r = await run;
      // The ETag pins only the HTTP part; multicast carries no validator, so without --sha256 this is unverified.
      expect(r, r.error).toMatchObject({ status: 'ok', sha256: want, integrity: 'unverified' });
      expect(r.multicastBytes).toBeGreaterThan(0);
      expect(r.httpBytes).toBeGreaterThan(0);
      expect(r.fallback).toMatch(/KICK FALLBACK/);
    } finally {
      await coord.stop();
    }
  });
});
