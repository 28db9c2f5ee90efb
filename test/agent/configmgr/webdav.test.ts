/**
 * agent/configmgr/webdav.ts: the XML reader, Multi-Status parsing, the path rules, and enumeratePackage against a node:http
 * server that answers PROPFIND with crafted listings (the cases a real server can't easily be made to produce:
 * hrefs with "..", other hosts, encoded separators). The real WebDAV server (nginx dav-ext) is in test/e2e/acp.test.ts.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { DavError, enumeratePackage, joinInside, parseMultistatus, parseXml, safeRelativePath, segmentProblem, textOf, UnsafePathError, XmlError } from '../../../agent/configmgr/webdav';
import { memLogger } from '../transport/helpers';

const closers: (() => unknown)[] = [];
afterEach(async () => {
  while (closers.length) await closers.pop()!();
});

describe('parseXml', () => {
  it('resolves prefixes, default namespaces and redeclarations', () => {
    const root = parseXml('<?xml version="1.0"?>\n<a:multistatus xmlns:a="DAV:" xmlns="urn:x"><a:response><b xmlns="DAV:">t</b><c/></a:response></a:multistatus>');
    expect(root).toMatchObject({ ns: 'DAV:', local: 'multistatus' });
    const resp = root.children[0] as ReturnType<typeof parseXml>;
    expect(resp.children.map((c) => typeof c !== 'string' && [c.ns, c.local])).toEqual([
      ['DAV:', 'b'],
      ['urn:x', 'c'],
    ]);
  });

  it('decodes entities, character references and CDATA; skips comments and PIs', () => {
    const root = parseXml("<r><!-- c --><?pi x?>a&amp;b&lt;&gt;&quot;&apos;&#65;&#x42;<![CDATA[<&>]]></r>");
    expect(textOf(root)).toBe(`a&b<>"'AB<&>`);
  });

  it.each([
    ['<!DOCTYPE r [<!ENTITY x "y">]><r>&x;</r>', /DOCTYPE/],
    ['<r><a></b></r>', /does not match/],
    ['<r>', /never closed/],
    ['<p:r/>', /undeclared namespace prefix/],
    ['<r>&bogus;</r>', /unknown entity/],
    ['<r>&#0;</r>', /invalid character reference/],
    ['<r a=b/>', /unquoted attribute/],
    ['<r/><s/>', /more than one root/],
    ['', /no root/],
    ['text', /outside the root/],
  ])('refuses %j', (xml, msg) => {
    expect(() => parseXml(xml)).toThrow(XmlError);
    expect(() => parseXml(xml)).toThrow(msg);
  });
});

// The shape IIS WebDAV answers with (written from its documented format, not recorded from a real DP):
// absolute hrefs, status before prop, properties it can't give in a separate 404 propstat.
const IIS_SAMPLE = `<?xml version="1.0" encoding="utf-8"?><D:multistatus xmlns:D="DAV:"><D:response><D:href>http://dp01.corp.contoso.com/SMS_DP_SMSPKG$/PS100004/</D:href><D:propstat><D:status>HTTP/1.1 200 OK</D:status><D:prop><D:getcontentlength>0</D:getcontentlength><D:resourcetype><D:collection/></D:resourcetype></D:prop></D:propstat></D:response><D:response><D:href>http://dp01.corp.contoso.com/SMS_DP_SMSPKG$/PS100004/Setup%20Files/</D:href><D:propstat><D:status>HTTP/1.1 200 OK</D:status><D:prop><D:resourcetype><D:collection/></D:resourcetype></D:prop></D:propstat><D:propstat><D:status>HTTP/1.1 404 Not Found</D:status><D:prop><D:getcontentlength/></D:prop></D:propstat></D:response><D:response><D:href>http://dp01.corp.contoso.com/SMS_DP_SMSPKG$/PS100004/install.wim</D:href><D:propstat><D:status>HTTP/1.1 200 OK</D:status><D:prop><D:getcontentlength>4294967296</D:getcontentlength><D:resourcetype/></D:prop></D:propstat></D:response></D:multistatus>`;

describe('parseMultistatus', () => {
  it('reads an IIS-shaped listing: collections, sizes above 4 GiB, 404 propstats ignored', () => {
    expect(parseMultistatus(IIS_SAMPLE)).toEqual([
      { href: 'http://dp01.corp.contoso.com/SMS_DP_SMSPKG$/PS100004/', collection: true },
      { href: 'http://dp01.corp.contoso.com/SMS_DP_SMSPKG$/PS100004/Setup%20Files/', collection: true },
      { href: 'http://dp01.corp.contoso.com/SMS_DP_SMSPKG$/PS100004/install.wim', collection: false, size: 4294967296 },
    ]);
  });

  it('reads a listing with another prefix and a response-level error status', () => {
    const xml = `<m:multistatus xmlns:m="DAV:"><m:response><m:href>/p/a&amp;b.txt</m:href><m:propstat><m:prop><m:getcontentlength> 12 </m:getcontentlength><m:resourcetype></m:resourcetype></m:prop><m:status>HTTP/1.1 200 OK</m:status></m:propstat></m:response><m:response><m:href>/p/gone</m:href><m:status>HTTP/1.1 404 Not Found</m:status></m:response></m:multistatus>`;
    expect(parseMultistatus(xml)).toEqual([{ href: '/p/a&b.txt', collection: false, size: 12 }]);
  });

  it('refuses documents that are not DAV: multistatus', () => {
    expect(() => parseMultistatus('<multistatus/>')).toThrow(/DAV: multistatus/);
    expect(() => parseMultistatus('<D:multistatus xmlns:D="DAV:"><D:response/></D:multistatus>')).toThrow(/without <href>/);
  });
});

describe('path rules', () => {
  const root = 'http://dp/SMS_DP_SMSPKG$/PKG00001';
  const base = `${root}/`;
  it.each([
    ['/SMS_DP_SMSPKG$/PKG00001/a.txt', ['a.txt']],
    ['/SMS_DP_SMSPKG%24/pkg00001/Sub%20Dir/b%26c.bin', ['Sub Dir', 'b&c.bin']],
    ['http://dp/SMS_DP_SMSPKG$/PKG00001/x/', ['x']],
    ['/SMS_DP_SMSPKG$/PKG00001/', []],
    ['y.txt', ['y.txt']],
  ])('accepts %j', (href, rel) => {
    expect(safeRelativePath(root, base, href)).toEqual(rel);
  });

  it.each([
    ['/SMS_DP_SMSPKG$/PKG00001/../../etc/passwd', /leave the package/],
    ['/SMS_DP_SMSPKG$/PKG00001/%2e%2e/x', /leave the package/],
    ['/SMS_DP_SMSPKG$/PKG00001/a/%2E%2E/%2E%2E/x', /leave the package/],
    ['/SMS_DP_SMSPKG$/PKG00001/..%2F..%2Fx', /separator/],
    ['/SMS_DP_SMSPKG$/PKG00001/..%5C..%5Cx', /separator/],
    ['/SMS_DP_SMSPKG$/PKG00001/a\\b', /backslash/],
    ['/SMS_DP_SMSPKG$/PKG00001/C%3A%5Cwindows', /separator|drive letter/],
    ['/SMS_DP_SMSPKG$/PKG00001/C:', /drive letter/],
    ['/SMS_DP_SMSPKG$/PKG00001/a%00b', /NUL/],
    ['/SMS_DP_SMSPKG$/PKG00002/a.txt', /outside the package/],
    ['/etc/passwd', /outside the package/],
    ['http://evil/SMS_DP_SMSPKG$/PKG00001/a.txt', /another server/],
    ['//evil/SMS_DP_SMSPKG$/PKG00001/a.txt', /another server/],
    ['/SMS_DP_SMSPKG$/PKG00001/..%20', /dot or space/],
    ['/SMS_DP_SMSPKG$/PKG00001/a/..%20/..%20/x', /dot or space/],
    ['/SMS_DP_SMSPKG$/PKG00001/CON.txt', /device/],
    ['/SMS_DP_SMSPKG$/PKG00001/a%ZZ', /percent-encoding/],
    ['/SMS_DP_SMSPKG$/PKG00001/a%7Cb', /Windows file name/],
  ])('refuses %j', (href, msg) => {
    expect(() => safeRelativePath(root, base, href)).toThrow(UnsafePathError);
    expect(() => safeRelativePath(root, base, href)).toThrow(msg);
  });

  it('segmentProblem and joinInside keep names inside the destination', () => {
    expect(segmentProblem('install.wim')).toBeUndefined();
    expect(segmentProblem('..')).toMatch(/leave/);
    const dest = path.resolve('/tmp/dest');
    expect(joinInside(dest, ['a', 'b.txt'])).toBe(path.join(dest, 'a', 'b.txt'));
    expect(() => joinInside(dest, ['..', 'x'])).toThrow(UnsafePathError);
    expect(() => joinInside(dest, ['/etc'])).toThrow(UnsafePathError);
  });
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
