/** agent/configmgr/multistatus.ts: the entries of a 207 Multi-Status document. */
import { describe, expect, it } from 'vitest';
import { parseMultistatus } from '../../../agent/configmgr/multistatus';

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
