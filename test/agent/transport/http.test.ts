import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { X509Certificate } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Bitmap } from '../../../core/bitmap';
import { HttpClient, HttpError, HttpOptions } from '../../../agent/transport/http';
import { FaultyServer, startFaulty, FaultyOptions } from '../../support/faulty-http';
import { NginxServer, canRunNginx, nginxAvailable, startNginx } from '../../support/nginx';
import { Assembler, memLogger, randomBody } from './helpers';

const closers: (() => unknown)[] = [];
afterEach(async () => {
  while (closers.length) await closers.pop()!();
});

async function faulty(o: FaultyOptions): Promise<FaultyServer> {
  const s = await startFaulty(o);
  closers.push(() => s.close());
  return s;
}

function client(urls: string[], o: Partial<HttpOptions> = {}) {
  const m = memLogger();
  const c = new HttpClient({ urls, retries: 2, retryDelayMs: 5, requestTimeoutMs: 3000, log: m.log, ...o });
  closers.push(() => c.close());
  return { c, lines: m.lines };
}

async function failure(p: Promise<unknown>): Promise<HttpError> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(HttpError);
    return e as HttpError;
  }
  throw new Error('expected a failure');
}

/** A loopback port with nothing listening. */
async function deadUrl(): Promise<string> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return `http://127.0.0.1:${port}/content.wim`;
}

const gets = (s: FaultyServer) => s.requests.filter((r) => r.method === 'GET');

describe('HttpClient against faulty-http', () => {
  const body = randomBody(1 << 20);

  it('probes size and validator with HEAD', async () => {
    const s = await faulty({ body });
    const { c } = client([s.url]);
    const info = await c.probe();
    expect(info).toEqual({ url: s.url, size: body.length, validator: { etag: '"v1"', lastModified: 'Mon, 01 Jan 2024 00:00:00 GMT' }, acceptRanges: true });
    expect(s.requests.map((r) => r.method)).toEqual(['HEAD']);
  });

  it('falls back to GET Range: bytes=0-0 when HEAD is refused', async () => {
    const s = await faulty({ body, fault: { kind: 'no-head' } });
    const { c } = client([s.url]);
    const info = await c.probe();
    expect(info.size).toBe(body.length);
    expect(info.acceptRanges).toBe(true);
    expect(info.validator.etag).toBe('"v1"');
    expect(s.requests.map((r) => `${r.method} ${r.range ?? ''}`)).toEqual(['HEAD ', 'GET bytes=0-0']);
    expect(c.bytes).toBe(0); // the probe byte is not payload
  });

  it('fetches a range with Range and If-Range, delivering each byte once', async () => {
    const s = await faulty({ body });
    const { c } = client([s.url]);
    await c.probe();
    const a = new Assembler(body.length);
    expect(await c.fetchRange(1000, 300_000, a.onData)).toBe(299_001);
    a.check(body, [[1000, 300_000]]);
    expect(c.bytes).toBe(299_001);
    expect(gets(s)).toMatchObject([{ range: 'bytes=1000-300000', ifRange: '"v1"', status: 206, finished: true }]);
  });

  it('200 instead of 206: discards up to start, delivers only the wanted bytes and stops reading after end', async () => {
    const big = randomBody(16 << 20, 2);
    const s = await faulty({ body: big, fault: { kind: 'ignore-range' }, chunk: 64 * 1024 });
    const { c } = client([s.url]);
    const info = await c.probe();
    expect(info.acceptRanges).toBe(false);
    const a = new Assembler(big.length);
    await c.fetchRange(100_000, 199_999, a.onData);
    a.check(big, [[100_000, 199_999]]);
    expect(c.bytes).toBe(100_000);
    expect(c.discardedBytes).toBe(100_000);
    // the same ETag came back with the 200, so it is the same version (the server just ignores Range)
    expect(gets(s)[0]).toMatchObject({ status: 200, ifRange: '"v1"' });
    await new Promise((r) => setTimeout(r, 50));
    expect(gets(s)[0]!.finished).toBe(false);
    expect(gets(s)[0]!.sent).toBeLessThan(big.length / 2);
  });

  it('200 instead of 206 without any validator: still only the wanted bytes', async () => {
    const s = await faulty({ body, fault: { kind: 'ignore-range' }, etag: null, lastModified: null });
    const { c } = client([s.url]);
    const a = new Assembler(body.length);
    await c.fetchRange(5, body.length - 1, a.onData);
    a.check(body, [[5, body.length - 1]]);
    expect(c.discardedBytes).toBe(5);
  });

  it('a reset mid-body is retried and resumed from the last delivered byte (progress does not use up retries)', async () => {
    const s = await faulty({ body, fault: { kind: 'reset', afterBytes: 200_000, requests: 4 } });
    const { c, lines } = client([s.url], { retries: 2 });
    const a = new Assembler(body.length);
    await c.fetchRange(0, body.length - 1, a.slowOnData);
    a.check(body);
    expect(c.bytes).toBe(body.length);
    const g = gets(s);
    expect(g).toHaveLength(5);
    // each retry asks for exactly the bytes not yet delivered
    const starts = g.map((r) => Number(/bytes=(\d+)-/.exec(r.range!)![1]));
    for (let i = 1; i < starts.length; i++) expect(starts[i]).toBeGreaterThan(starts[i - 1]!);
    expect(starts[0]).toBe(0);
    expect(g.every((r) => r.ifRange === '"v1"' || r === g[0])).toBe(true); // version pinned by the first answer
    expect(lines().filter((l) => l.level === 40 && l.kind === 'network')).toHaveLength(4);
    // the client knows the body phase was reached (not from node's 'aborted' text)
    for (const l of lines().filter((l) => l.level === 40)) expect(String(l.msg)).toMatch(/: connection reset during the body; retry \d\/2 in \d+ ms$/);
  });

  it('a reset before any byte counts against the retries; then the request fails', async () => {
    const s = await faulty({ body, fault: { kind: 'reset', afterBytes: 0, requests: 100 } });
    const { c } = client([s.url], { retries: 2 });
    const e = await failure(c.fetchRange(0, 999, () => {}));
    expect(e.kind).toBe('network');
    expect(gets(s)).toHaveLength(3); // 1 + 2 retries
    expect(c.bytes).toBe(0);
  });

  it('5xx is retried with doubling back-off, then succeeds', async () => {
    const s = await faulty({ body, fault: { kind: 'status', status: 500, requests: 2 } });
    const { c, lines } = client([s.url], { retries: 2, retryDelayMs: 40 });
    const a = new Assembler(body.length);
    const t0 = Date.now();
    await c.fetchRange(0, 9999, a.onData);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(40 + 80 - 5);
    a.check(body, [[0, 9999]]);
    const warns = lines().filter((l) => l.level === 40);
    expect(warns.map((w) => w.delayMs)).toEqual([40, 80]);
    expect(warns.map((w) => w.status)).toEqual([500, 500]);
  });

  it('back-off is capped', async () => {
    const s = await faulty({ body, fault: { kind: 'status', status: 503, requests: 4 } });
    const { c, lines } = client([s.url], { retries: 4, retryDelayMs: 10, maxRetryDelayMs: 25 });
    await c.fetchRange(0, 9, () => {});
    expect(lines().filter((l) => l.level === 40).map((w) => w.delayMs)).toEqual([10, 20, 25, 25]);
  });

  it('5xx beyond the retries fails with kind server and the status', async () => {
    const s = await faulty({ body, fault: { kind: 'status', status: 502 } });
    const { c } = client([s.url], { retries: 1 });
    const e = await failure(c.fetchRange(0, 9, () => {}));
    expect(e).toMatchObject({ kind: 'server', status: 502, url: s.url });
    expect(s.requests).toHaveLength(2);
  });

  it('401 is auth: says the DP wants credentials and that Windows-integrated auth is not supported; no retry', async () => {
    const s = await faulty({ body, fault: { kind: 'status', status: 401, headers: { 'WWW-Authenticate': 'Negotiate' } } });
    const { c } = client([s.url]);
    const e = await failure(c.probe());
    expect(e).toMatchObject({ kind: 'auth', status: 401 });
    expect(e.message).toMatch(/wants credentials/);
    expect(e.message).toMatch(/Windows-integrated authentication/);
    expect(e.message).toMatch(/Negotiate/);
    expect(s.requests).toHaveLength(1);
  });

  it('403 is auth', async () => {
    const s = await faulty({ body, fault: { kind: 'status', status: 403 } });
    const { c } = client([s.url]);
    const e = await failure(c.fetchRange(0, 9, () => {}));
    expect(e).toMatchObject({ kind: 'auth', status: 403 });
    expect(s.requests).toHaveLength(1);
  });

  it('404 is not-found and fails over to the next URL, which then stays in use', async () => {
    const bad = await faulty({ body, fault: { kind: 'status', status: 404 } });
    const good = await faulty({ body });
    const { c, lines } = client([bad.url, good.url]);
    const info = await c.probe();
    expect(info.url).toBe(good.url);
    const a = new Assembler(body.length);
    await c.fetchRange(0, body.length - 1, a.onData);
    a.check(body);
    expect(bad.requests).toHaveLength(1); // no retry on 404, and sticky afterwards
    expect(lines().some((l) => /trying the next URL/.test(String(l.msg)))).toBe(true);
  });

  it('only 404s: kind not-found', async () => {
    const bad = await faulty({ body, fault: { kind: 'status', status: 404 } });
    const { c } = client([bad.url]);
    expect((await failure(c.probe())).kind).toBe('not-found');
  });

  it('a dead URL is retried, then fails over; all URLs failing reports the most telling error', async () => {
    const dead = await deadUrl();
    const good = await faulty({ body });
    const { c } = client([dead, good.url], { retries: 1 });
    const a = new Assembler(body.length);
    await c.fetchRange(0, 99_999, a.onData);
    a.check(body, [[0, 99_999]]);

    const nf = await faulty({ body, fault: { kind: 'status', status: 404 } });
    const { c: c2 } = client([dead, nf.url], { retries: 1 });
    const e = await failure(c2.probe());
    expect(e.kind).toBe('not-found');
    expect(e.message).toMatch(/all 2 URLs failed/);
    expect(e.message).toMatch(/ECONNREFUSED/);
  });

  it('fails over in the middle of a range and continues from the next byte on the other server', async () => {
    const a1 = await faulty({ body, fault: { kind: 'reset', afterBytes: 300_000, requests: 100 } });
    const b1 = await faulty({ body, etag: '"other-dp"' });
    const { c } = client([a1.url, b1.url], { retries: 0 });
    const a = new Assembler(body.length);
    await c.fetchRange(0, body.length - 1, a.onData);
    a.check(body);
    expect(gets(b1)[0]!.range).toBe(`bytes=${gets(a1)[0]!.sent}-${body.length - 1}`);
    expect(gets(b1)[0]!.ifRange).toBeUndefined(); // the other DP's validator was not known yet
  });

  it('416 is range', async () => {
    const s = await faulty({ body });
    const { c } = client([s.url]);
    const e = await failure(c.fetchRange(body.length, body.length + 10, () => {}));
    expect(e).toMatchObject({ kind: 'range', status: 416 });
    expect(e.message).toMatch(new RegExp(`${body.length} bytes`));
    // once the size is known, an out-of-range request is the caller's bug
    await c.probe();
    await expect(c.fetchRange(body.length, body.length, () => {})).rejects.toThrow(RangeError);
  });

  it('a stalled server is aborted after requestTimeoutMs and the download resumes', async () => {
    const s = await faulty({ body, fault: { kind: 'stall', afterBytes: 100_000, requests: 1 } });
    const { c, lines } = client([s.url], { requestTimeoutMs: 150 });
    const a = new Assembler(body.length);
    const t0 = Date.now();
    await c.fetchRange(0, body.length - 1, a.onData);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(140);
    a.check(body);
    expect(gets(s)[1]!.range).toBe(`bytes=100000-${body.length - 1}`);
    expect(lines().find((l) => l.level === 40)).toMatchObject({ kind: 'timeout' });
  });

  it('a server that never answers gives kind timeout', async () => {
    const s = await faulty({ body, fault: { kind: 'stall', afterBytes: 0, requests: 100 } });
    const { c } = client([s.url], { requestTimeoutMs: 50, retries: 1 });
    const e = await failure(c.fetchRange(0, 9, () => {}));
    expect(e.kind).toBe('timeout');
    expect(e.message).toMatch(/no data for 50 ms/);
  });

  it('a wrong Content-Range is protocol (nothing delivered)', async () => {
    const s = await faulty({ body, fault: { kind: 'wrong-content-range' } });
    const { c } = client([s.url]);
    const a = new Assembler(body.length);
    const e = await failure(c.fetchRange(10, 99, a.onData));
    expect(e.kind).toBe('protocol');
    expect(e.message).toMatch(/bytes 11-100/);
    expect(a.delivered).toBe(0);
  });

  it('a wrong Content-Range total is a changed content', async () => {
    const s = await faulty({ body });
    const { c } = client([s.url]);
    await c.probe();
    s.setFault({ kind: 'wrong-total', total: body.length + 1 });
    expect((await failure(c.fetchRange(0, 9, () => {}))).kind).toBe('changed');
  });

  it('changed ETag: a 200 answer to If-Range is changed, no byte of the new version delivered', async () => {
    const s = await faulty({ body, fault: { kind: 'change-etag', afterRequests: 1 } });
    const { c } = client([s.url]);
    await c.probe();
    const a = new Assembler(body.length);
    const e = await failure(c.fetchRange(0, 9999, a.onData));
    expect(e.kind).toBe('changed');
    expect(a.delivered).toBe(0);
    expect(gets(s)).toMatchObject([{ ifRange: '"v1"', status: 200 }]);
    expect(gets(s)).toHaveLength(1); // changed is final: no retry, no fail-over
  });

  it('changed ETag on a server that ignores If-Range: the 206 carries the new ETag → changed', async () => {
    const s = await faulty({ body, fault: { kind: 'change-etag', afterRequests: 1, honorIfRange: false } });
    const good = await faulty({ body });
    const { c } = client([s.url, good.url]);
    await c.probe();
    const a = new Assembler(body.length);
    const e = await failure(c.fetchRange(0, 9999, a.onData));
    expect(e.kind).toBe('changed');
    expect(e.message).toMatch(/"v1" is now "v2"/);
    expect(a.delivered).toBe(0);
    expect(good.requests).toHaveLength(0);
  });

  it('content replaced between a reset and the resume: never mixes versions (pin from the first answer, no probe)', async () => {
    const s = await faulty({ body, fault: { kind: 'reset', afterBytes: 250_000, requests: 1 } });
    const { c } = client([s.url]);
    const a = new Assembler(body.length);
    let armed = false;
    const onData = (off: number, chunk: Buffer) => {
      a.onData(off, chunk);
      if (!armed) {
        armed = true;
        s.setFault({ kind: 'change-etag', afterRequests: s.requests.length });
      }
    };
    const e = await failure(c.fetchRange(0, body.length - 1, onData));
    expect(e.kind).toBe('changed');
    expect(a.delivered).toBeGreaterThan(0);
    a.check(body, [[0, a.delivered - 1]]); // only old bytes, a contiguous prefix, once each
  });

  it('an expected validator (from the state file) that the server no longer has is changed', async () => {
    const s = await faulty({ body });
    const { c } = client([s.url]);
    const e = await failure(c.fetchRange(0, 99, () => {}, { etag: '"v0"' }));
    expect(e.kind).toBe('changed');
    expect(gets(s)[0]!.ifRange).toBe('"v0"');
  });

  it('weak ETags are not sent as If-Range; Last-Modified is used instead', async () => {
    const s = await faulty({ body, etag: 'W/"weak"' });
    const { c } = client([s.url]);
    await c.probe();
    await c.fetchRange(0, 99, () => {});
    expect(gets(s)[0]!.ifRange).toBe('Mon, 01 Jan 2024 00:00:00 GMT');
  });

  it('fetchRanges: coalesced missing ranges with bounded concurrency, each range once', async () => {
    const BS = 4096;
    const blocks = body.length / BS;
    const have = new Bitmap(blocks);
    for (let i = 0; i < blocks; i++) if ((i * 7919) % 5 < 2 || (i > 100 && i < 140)) have.set(i);
    const a = new Assembler(body.length);
    const present: [number, number][] = [];
    for (let i = 0; i < blocks; i++) if (have.has(i)) present.push([i * BS, i * BS + BS - 1]);
    const ranges = have.missingRanges(1 << 30).map(([s, e]) => [s * BS, Math.min(body.length, (e + 1) * BS) - 1] as [number, number]);
    expect(ranges.length).toBeGreaterThan(20);
    const s = await faulty({ body, chunk: 1024, latencyMs: 5 });
    const { c, lines } = client([s.url], { concurrency: 3 });
    await c.probe();
    expect(await c.fetchRanges(ranges, a.slowOnData)).toBe(ranges.reduce((n, [x, y]) => n + y - x + 1, 0));
    a.check(body, ranges);
    expect(c.bytes).toBe(a.delivered);
    expect(gets(s).map((r) => r.range).sort()).toEqual(ranges.map(([x, y]) => `bytes=${x}-${y}`).sort());
    expect(s.maxInFlight).toBe(3);
    expect(lines().length).toBeLessThan(5); // nothing per chunk or per request at info level
  });

  it('fetchRanges merges overlapping ranges so no byte is delivered twice', async () => {
    const s = await faulty({ body });
    const { c } = client([s.url]);
    const a = new Assembler(body.length);
    expect(
      await c.fetchRanges(
        [
          [50, 149],
          [0, 99],
          [200, 299],
          [300, 399],
        ],
        a.onData,
      ),
    ).toBe(350);
    a.check(body, [
      [0, 149],
      [200, 399],
    ]);
    expect(gets(s)).toHaveLength(3); // adjacent ranges stay apart: the caller chooses the parallelism
    expect(await c.fetchRanges([], a.onData)).toBe(0);
  });

  it('fetchRanges: the first failure is rethrown and the other requests are abandoned', async () => {
    // every response sends 5000 bytes and then stalls for longer than the test may run
    const s = await faulty({ body, fault: { kind: 'stall', afterBytes: 5000, requests: 100 } });
    const { c } = client([s.url], { requestTimeoutMs: 60_000, concurrency: 4 });
    const boom = new Error('disk full');
    const t0 = Date.now();
    let n = 0;
    const ranges: [number, number][] = [0, 1, 2, 3, 4, 5].map((i) => [i * 10_000, i * 10_000 + 9999]);
    const e = await c
      .fetchRanges(ranges, async () => {
        await new Promise((r) => setTimeout(r, 20)); // let all four requests start
        if (++n === 1) throw boom;
      })
      .catch((x) => x);
    expect(e).toBe(boom); // the caller's error, untouched
    expect(Date.now() - t0).toBeLessThan(5000);
    expect(gets(s).length).toBeLessThanOrEqual(4); // nothing new started after the failure
  });

  it("an error thrown by onData is not retried and not wrapped", async () => {
    const s = await faulty({ body });
    const { c } = client([s.url]);
    const boom = Object.assign(new Error('ENOSPC'), { code: 'ENOSPC' });
    const e = await c
      .fetchRange(0, body.length - 1, async () => {
        throw boom;
      })
      .catch((x) => x);
    expect(e).toBe(boom);
    expect(gets(s)).toHaveLength(1);
  });

  it('an abort signal ends a back-off wait at once', async () => {
    const s = await faulty({ body, fault: { kind: 'status', status: 500 } });
    const ac = new AbortController();
    const { c } = client([s.url], { retryDelayMs: 60_000, signal: ac.signal });
    const t0 = Date.now();
    setTimeout(() => ac.abort(new Error('interrupted')), 50);
    await expect(c.fetchRange(0, 9, () => {})).rejects.toThrow('interrupted');
    expect(Date.now() - t0).toBeLessThan(2000);
  });

  it('follows redirects', async () => {
    const s = await faulty({ body });
    const r = http.createServer((_req, res) => res.writeHead(302, { Location: s.url }).end());
    await new Promise<void>((ok) => r.listen(0, '127.0.0.1', ok));
    closers.push(() => new Promise((ok) => r.close(ok)));
    const { c } = client([`http://127.0.0.1:${(r.address() as net.AddressInfo).port}/x`]);
    const info = await c.probe();
    expect(info.size).toBe(body.length);
    const a = new Assembler(body.length);
    await c.fetchRange(0, 999, a.onData);
    a.check(body, [[0, 999]]);
  });

  it('logs nothing per chunk', async () => {
    const s = await faulty({ body, chunk: 4096 });
    const { c, lines } = client([s.url]);
    await c.probe();
    const a = new Assembler(body.length);
    await c.fetchRange(0, body.length - 1, a.onData);
    expect(a.calls).toBeGreaterThan(10);
    expect(lines().length).toBeLessThanOrEqual(2);
  });

  it('rejects URLs it cannot use', () => {
    expect(() => new HttpClient({ urls: [], log: memLogger().log })).toThrow(/no URL/);
    expect(() => new HttpClient({ urls: ['ftp://x/y'], log: memLogger().log })).toThrow(/not an http/);
    expect(() => new HttpClient({ urls: ['nope'], log: memLogger().log })).toThrow(/not a URL/);
  });
});

// ------------------------------------------------------------------------------------------------ nginx

describe('HttpClient against nginx', () => {
  if (!nginxAvailable(true).ok) {
    // skips with the printed reason; fails under OSDCAST_STRICT=1 (the faulty-http tests above still run)
    it('needs nginx and openssl', (ctx) => {
      if (!canRunNginx(true)) ctx.skip();
    });
    return;
  }
  let ng: NginxServer;
  let root: string;
  const image = randomBody(3 << 20, 3);
  const plain = (f = 'image.wim') => `http://127.0.0.1:${ng.port}/${f}`;
  const tls = (host = '127.0.0.1', f = 'image.wim') => `https://${host}:${ng.httpsPort}/${f}`;

  beforeAll(async () => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'osdcast-http-root-'));
    fs.writeFileSync(path.join(root, 'image.wim'), image);
    fs.writeFileSync(path.join(root, 'changing.wim'), image);
    fs.mkdirSync(path.join(root, 'private'));
    fs.writeFileSync(path.join(root, 'private', 'image.wim'), image);
    fs.mkdirSync(path.join(root, 'forbidden'));
    fs.writeFileSync(path.join(root, 'forbidden', 'image.wim'), image);
    ng = await startNginx({ root, tls: true });
  });
  afterAll(async () => {
    await ng?.stop();
    fs.rmSync(root, { recursive: true, force: true });
  });

  it('plain HTTP: probe (ETag, Last-Modified, ranges) and concurrent ranges reassemble the file', async () => {
    const { c } = client([plain()], { concurrency: 4 });
    const info = await c.probe();
    expect(info.size).toBe(image.length);
    expect(info.acceptRanges).toBe(true);
    expect(info.validator.etag).toMatch(/^"[0-9a-f]+-[0-9a-f]+"$/);
    expect(info.validator.lastModified).toMatch(/GMT$/);
    const MiB = 1 << 20;
    const ranges: [number, number][] = [
      [0, MiB - 1],
      [MiB, 2 * MiB - 1],
      [2 * MiB, 2 * MiB + 4095],
      [2 * MiB + 8192, image.length - 1],
    ];
    const a = new Assembler(image.length);
    await c.fetchRanges(ranges, a.slowOnData);
    a.check(image, ranges);
    expect(c.bytes).toBe(a.delivered);
    expect(ng.accessLog()).toMatch(/" 206 /);
  });

  it('HTTPS with --ca (PEM) via 127.0.0.1 and localhost', async () => {
    for (const host of ['127.0.0.1', 'localhost']) {
      const { c } = client([tls(host)], { ca: Buffer.from(ng.caPem!) });
      expect((await c.probe()).size).toBe(image.length);
      const a = new Assembler(image.length);
      await c.fetchRange(0, image.length - 1, a.onData);
      a.check(image);
    }
  });

  it('HTTPS with --ca in DER form', async () => {
    const der = new X509Certificate(ng.caPem!).raw;
    const { c } = client([tls()], { ca: der });
    expect((await c.probe()).size).toBe(image.length);
  });

  it('HTTPS without the CA: kind tls with the reason, not retried', async () => {
    const { c, lines } = client([tls()], { retries: 2 });
    const e = await failure(c.probe());
    expect(e.kind).toBe('tls');
    expect(lines().filter((l) => /retry/.test(String(l.msg)))).toEqual([]);
    expect(e.message).toMatch(/certificate/i);
    expect(e.message).toMatch(/UNABLE_TO_VERIFY_LEAF_SIGNATURE|SELF_SIGNED|UNABLE_TO_GET_ISSUER/);
    expect(e.message).toMatch(/--ca/);
  });

  it('HTTPS with --insecure works without the CA (and says so in the log)', async () => {
    const { c, lines } = client([tls()], { insecure: true });
    const a = new Assembler(image.length);
    await c.fetchRange(100, 200_000, a.onData);
    a.check(image, [[100, 200_000]]);
    expect(lines()[0]).toMatchObject({ level: 40, msg: expect.stringMatching(/verification is disabled/) });
  });

  it('TLS to a plain HTTP port is a tls error', async () => {
    const { c } = client([`https://127.0.0.1:${ng.port}/image.wim`]);
    expect((await failure(c.probe())).kind).toBe('tls');
  });

  it('auth: 401 (basic auth location) and 403 (deny all)', async () => {
    const e1 = await failure(client([plain('private/image.wim')]).c.probe());
    expect(e1).toMatchObject({ kind: 'auth', status: 401 });
    expect(e1.message).toMatch(/Basic/);
    const e2 = await failure(client([plain('forbidden/image.wim')]).c.fetchRange(0, 9, () => {}));
    expect(e2).toMatchObject({ kind: 'auth', status: 403 });
  });

  it('fails over from a 404 and from a dead URL to nginx', async () => {
    const { c } = client([plain('missing.wim'), await deadUrl(), tls()], { ca: Buffer.from(ng.caPem!), retries: 1 });
    const info = await c.probe();
    expect(info.url).toBe(tls());
    const a = new Assembler(image.length);
    await c.fetchRanges(
      [
        [0, 99_999],
        [100_000, image.length - 1],
      ],
      a.onData,
    );
    a.check(image);
  });

  it('416 from nginx is range', async () => {
    const { c } = client([plain()]);
    expect(await failure(c.fetchRange(image.length, image.length, () => {}))).toMatchObject({ kind: 'range', status: 416 });
  });

  it('a file replaced on the server between probe and fetch is changed (nginx answers If-Range with 200)', async () => {
    const f = path.join(root, 'changing.wim');
    const { c } = client([plain('changing.wim')]);
    const info = await c.probe();
    const newer = randomBody(image.length + 1, 9);
    fs.writeFileSync(f, newer);
    fs.utimesSync(f, new Date(Date.now() + 60_000), new Date(Date.now() + 60_000));
    const a = new Assembler(newer.length);
    const e = await failure(c.fetchRange(0, 9999, a.onData));
    expect(e.kind).toBe('changed');
    expect(a.delivered).toBe(0);
    expect(info.validator.etag).not.toBe(undefined);
  });
});
