/**
 * The entries of a WebDAV 207 Multi-Status document (RFC 4918 §13-14): href, collection or not, size. Pure.
 */
import { childElements, parseXml, textOf, XmlElement, XmlError } from './xml';

export const DAV_NS = 'DAV:';

export interface DavEntry {
  /** The href exactly as the server wrote it (entities decoded, percent-encoding kept). */
  href: string;
  collection: boolean;
  /** getcontentlength, when the server gave a valid one. */
  size?: number;
}

function okStatus(el: XmlElement): boolean {
  const st = childElements(el, DAV_NS, 'status')[0];
  if (!st) return true;
  return /^\s*HTTP\/\d(?:\.\d)?\s+2\d\d\b/.test(textOf(st));
}

/** The entries of a 207 Multi-Status document (responses with a non-2xx status are left out). */
export function parseMultistatus(xml: string): DavEntry[] {
  const root = parseXml(xml);
  if (root.ns !== DAV_NS || root.local !== 'multistatus') throw new XmlError(`expected a DAV: multistatus document, got <${root.local}> in namespace "${root.ns}"`);
  const out: DavEntry[] = [];
  for (const resp of childElements(root, DAV_NS, 'response')) {
    const hrefEl = childElements(resp, DAV_NS, 'href')[0];
    if (!hrefEl) throw new XmlError('a <response> without <href>');
    const href = textOf(hrefEl).trim();
    if (href === '') throw new XmlError('an empty <href>');
    if (!okStatus(resp)) continue;
    let collection = false;
    let size: number | undefined;
    for (const ps of childElements(resp, DAV_NS, 'propstat')) {
      if (!okStatus(ps)) continue;
      for (const prop of childElements(ps, DAV_NS, 'prop')) {
        for (const rt of childElements(prop, DAV_NS, 'resourcetype')) if (childElements(rt, DAV_NS, 'collection').length) collection = true;
        const len = childElements(prop, DAV_NS, 'getcontentlength')[0];
        if (len) {
          const t = textOf(len).trim();
          if (/^\d{1,15}$/.test(t)) size = Number(t);
        }
      }
    }
    out.push(collection ? { href, collection } : { href, collection, ...(size !== undefined ? { size } : {}) });
  }
  return out;
}
