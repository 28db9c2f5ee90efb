/**
 * agent/configmgr/webdav.ts: enumeratePackage against a node:http
 * server that answers PROPFIND with crafted listings (the cases a real server can't easily be made to produce:
 * hrefs with "..", other hosts, encoded separators). The real WebDAV server (nginx dav-ext) is in test/e2e/acp.test.ts.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { UnsafePathError } from '../../../agent/configmgr/package-paths';
import { DavError, enumeratePackage } from '../../../agent/configmgr/webdav';
import { memLogger } from '../transport/helpers';

const closers: (() => unknown)[] = [];
afterEach(async () => {
  while (closers.length) await closers.pop()!();
});

/** A PROPFIND-only server: listings[urlPath] is the Multi-Status body (or a status number). */
async function davServer(listings: Record<string, string | number>): Promise<{ url: string; requests: string[] }> {
  const requests: string[] = [];
  const server = http.createServer((req, res) => {
    requests.push(`${req.method} ${req.headers.depth ?? ''} ${req.url}`);
    const l = listings[req.url ?? ''];
    if (req.method !== 'PROPFIND' || l === undefined) return void res.writeHead(404).end();
    if (typeof l === 'number') return void res.writeHead(l).end();
    res.writeHead(207, { 'content-type': 'text/xml; charset="utf-8"' }).end(l);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  closers.push(() => new Promise<void>((r) => server.close(() => r())));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, requests };
}

const ms = (...rs: [string, boolean, number?][]) =>
  `<?xml version="1.0"?><D:multistatus xmlns:D="DAV:">${rs
    .map(([h, c, n]) => `<D:response><D:href>${h}</D:href><D:propstat><D:prop><D:resourcetype>${c ? '<D:collection/>' : ''}</D:resourcetype>${n !== undefined ? `<D:getcontentlength>${n}</D:getcontentlength>` : ''}</D:prop><D:status>HTTP/1.1 200 OK</D:status></D:propstat></D:response>`)
    .join('')}</D:multistatus>`;

describe('enumeratePackage', () => {
  const opts = () => ({ log: memLogger().log, retries: 1, retryDelayMs: 5, timeoutMs: 2000 });

  it('walks sub-collections with Depth: 1 and returns files sorted by path', async () => {
    const s = await davServer({
      '/SMS_DP_SMSPKG$/P0100001': ms(['/SMS_DP_SMSPKG$/P0100001/', true], ['/SMS_DP_SMSPKG$/P0100001/z.txt', false, 3], ['/SMS_DP_SMSPKG$/P0100001/d/', true], ['/SMS_DP_SMSPKG$/P0100001/a', false, 1]),
      '/SMS_DP_SMSPKG$/P0100001/d/': ms(['/SMS_DP_SMSPKG$/P0100001/d/', true], ['/SMS_DP_SMSPKG$/P0100001/d/e/', true], ['/SMS_DP_SMSPKG$/P0100001/d/b.bin', false, 0]),
      '/SMS_DP_SMSPKG$/P0100001/d/e/': ms(['/SMS_DP_SMSPKG$/P0100001/d/e/', true]),
    });
    const l = await enumeratePackage(`${s.url}/SMS_DP_SMSPKG$/P0100001`, opts());
    expect(l.files.map((f) => [f.rel.join('/'), f.size])).toEqual([
      ['a', 1],
      ['d/b.bin', 0],
      ['z.txt', 3],
    ]);
    expect(l.files[1]!.url).toBe(`${s.url}/SMS_DP_SMSPKG$/P0100001/d/b.bin`);
    expect(l.dirs.map((d) => d.join('/'))).toEqual(['d', 'd/e']);
    expect(s.requests).toEqual(['PROPFIND 1 /SMS_DP_SMSPKG$/P0100001', 'PROPFIND 1 /SMS_DP_SMSPKG$/P0100001/d/', 'PROPFIND 1 /SMS_DP_SMSPKG$/P0100001/d/e/']);
  });

  it.each([
    ['a parent reference in a sub-folder listing', ms(['/P/', true], ['/P/ok.txt', false, 1], ['/P/../../../etc/passwd', false, 1])],
    ['an absolute href to another server', ms(['/P/', true], ['http://203.0.113.9/P/x.exe', false, 1])],
    ['an encoded backslash', ms(['/P/', true], ['/P/..%5C..%5Cwindows%5Csystem32%5Cx.dll', false, 1])],
    ['names differing only in case', ms(['/P/', true], ['/P/A.txt', false, 1], ['/P/a.txt', false, 1])],
  ])('refuses %s before anything is returned', async (_what, body) => {
    const s = await davServer({ '/P': body });
    await expect(enumeratePackage(`${s.url}/P`, opts())).rejects.toBeInstanceOf(UnsafePathError);
  });

  it.each([
    [401, 'auth'],
    [404, 'not-found'],
    [405, 'not-dav'],
    [500, 'server'],
  ])('HTTP %i is a DavError %s', async (status, kind) => {
    const s = await davServer({ '/P': status });
    const e = await enumeratePackage(`${s.url}/P`, opts()).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(DavError);
    expect((e as DavError).kind).toBe(kind);
    // only server errors are retried (retries: 1)
    expect(s.requests).toHaveLength(kind === 'server' ? 2 : 1);
  });

  it('a package URL that is a file is an error, not an empty package', async () => {
    const s = await davServer({ '/P': ms(['/P', false, 5]) });
    await expect(enumeratePackage(`${s.url}/P`, opts())).rejects.toThrow(/is a file/);
  });
});
