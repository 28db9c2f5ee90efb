/**
 * WebDAV enumeration of a package on a distribution point, the way ConfigMgr's own downloader lists content:
 * `PROPFIND <package URL>` with `Depth: 1`, then the same for every sub-collection (IIS refuses `Depth: infinity`
 * by default, and so does nginx's dav-ext module). Hops: acp.ts → enumeratePackage (this file) → node:http(s).
 *
 * The 207 Multi-Status body (RFC 4918 §13-14) is read by a small namespace-aware XML reader below rather than a
 * new dependency: we need elements, text, CDATA, the five predefined entities and character references, and
 * namespace prefixes (IIS writes `<D:href>`, others `<a:href>` or a default namespace). A DOCTYPE is refused
 * outright (no entity expansion, no external entities).
 *
 * Every name the server lists becomes a path under the destination folder, so each one is checked
 * (safeRelativePath): it must lie under the package URL on the same server, and no segment may be empty, "." or
 * "..", contain "/", "\", ":", NUL or another control character or one of * ? " < > |, end in a dot or space (Windows
 * strips those, so ".. " would become ".."), or be a DOS device name (CON, NUL, COM1 …). One bad name refuses the
 * whole package before anything is written.
 */
import http from 'node:http';
import https from 'node:https';
import tls from 'node:tls';
import { X509Certificate } from 'node:crypto';
import path from 'node:path';
import type { Logger } from '../log/log';

declare const OSDCAST_VERSION: string;
const USER_AGENT = `osdcast/${typeof OSDCAST_VERSION === 'string' ? OSDCAST_VERSION : '0.0.0-dev'}`;

export const DAV_NS = 'DAV:';

// ---------------------------------------------------------------------------------------------------------------
// A minimal XML reader

export class XmlError extends Error {}

export interface XmlElement {
  /** Namespace URI ('' when none). */
  ns: string;
  local: string;
  children: XmlNode[];
}
export type XmlNode = XmlElement | string;

const NAME = /^[A-Za-z_\u00C0-\uFFFF][-A-Za-z0-9_.\u00B7\u00C0-\uFFFF]*(?::[A-Za-z_\u00C0-\uFFFF][-A-Za-z0-9_.\u00B7\u00C0-\uFFFF]*)?/;
const PREDEFINED: Record<string, string> = { lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" };
const MAX_DEPTH = 256;

function decodeEntities(s: string, at: number): string {
  return s.replace(/&([^;&\s]*);?/g, (m, name: string) => {
    if (!m.endsWith(';')) throw new XmlError(`unterminated entity reference near offset ${at}`);
    if (name in PREDEFINED) return PREDEFINED[name]!;
    const num = /^#(?:x([0-9A-Fa-f]{1,6})|([0-9]{1,7}))$/.exec(name);
    if (num) {
      const cp = num[1] !== undefined ? parseInt(num[1], 16) : Number(num[2]);
      if (cp === 0 || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) throw new XmlError(`invalid character reference &${name}; near offset ${at}`);
      return String.fromCodePoint(cp);
    }
    throw new XmlError(`unknown entity &${name}; near offset ${at}`);
  });
}

/** Parses a whole XML document into its root element. Throws XmlError on anything malformed. */
export function parseXml(text: string): XmlElement {
  const s = text.replace(/^\uFEFF/, '');
  let i = 0;
  let root: XmlElement | undefined;
  const stack: { el: XmlElement; qname: string; scope: Map<string, string> }[] = [];
  let scope = new Map<string, string>([['xml', 'http://www.w3.org/XML/1998/namespace']]);

  const text_ = (t: string) => {
    if (stack.length === 0) {
      if (t.trim() !== '') throw new XmlError(`text outside the root element near offset ${i}`);
      return;
    }
    stack[stack.length - 1]!.el.children.push(t);
  };

  while (i < s.length) {
    const lt = s.indexOf('<', i);
    if (lt < 0) {
      text_(decodeEntities(s.slice(i), i));
      break;
    }
    if (lt > i) text_(decodeEntities(s.slice(i, lt), i));
    i = lt;
    if (s.startsWith('<?', i)) {
      const end = s.indexOf('?>', i + 2);
      if (end < 0) throw new XmlError('unterminated processing instruction');
      i = end + 2;
    } else if (s.startsWith('<!--', i)) {
      const end = s.indexOf('-->', i + 4);
      if (end < 0) throw new XmlError('unterminated comment');
      i = end + 3;
    } else if (s.startsWith('<![CDATA[', i)) {
      const end = s.indexOf(']]>', i + 9);
      if (end < 0) throw new XmlError('unterminated CDATA section');
      text_(s.slice(i + 9, end));
      i = end + 3;
    } else if (s.startsWith('<!', i)) {
      throw new XmlError('DOCTYPE and other declarations are not accepted');
    } else if (s.startsWith('</', i)) {
      const m = NAME.exec(s.slice(i + 2, i + 2 + 1024));
      const close = m ? s.indexOf('>', i + 2 + m[0].length) : -1;
      if (!m || close < 0 || s.slice(i + 2 + m[0].length, close).trim() !== '') throw new XmlError(`malformed end tag near offset ${i}`);
      const top = stack.pop();
      if (!top || top.qname !== m[0]) throw new XmlError(`end tag </${m[0]}> does not match ${top ? `<${top.qname}>` : 'any open element'} near offset ${i}`);
      scope = stack.length ? stack[stack.length - 1]!.scope : scope;
      i = close + 1;
    } else {
      const m = NAME.exec(s.slice(i + 1, i + 1 + 1024));
      if (!m) throw new XmlError(`malformed start tag near offset ${i}`);
      const qname = m[0];
      let j = i + 1 + qname.length;
      const attrs: [string, string][] = [];
      let selfClosing = false;
      for (;;) {
        const ws = /^\s*/.exec(s.slice(j, j + 4096))![0];
        j += ws.length;
        if (s.startsWith('/>', j)) {
          selfClosing = true;
          j += 2;
          break;
        }
        if (s[j] === '>') {
          j += 1;
          break;
        }
        if (ws === '') throw new XmlError(`malformed start tag <${qname}> near offset ${j}`);
        const an = NAME.exec(s.slice(j, j + 1024));
        if (!an) throw new XmlError(`malformed attribute in <${qname}> near offset ${j}`);
        j += an[0].length;
        const eq = /^\s*=\s*/.exec(s.slice(j, j + 1024));
        if (!eq) throw new XmlError(`attribute ${an[0]} without a value near offset ${j}`);
        j += eq[0].length;
        const q = s[j];
        if (q !== '"' && q !== "'") throw new XmlError(`unquoted attribute ${an[0]} near offset ${j}`);
        const end = s.indexOf(q, j + 1);
        if (end < 0) throw new XmlError(`unterminated attribute ${an[0]}`);
        attrs.push([an[0], decodeEntities(s.slice(j + 1, end), j)]);
        j = end + 1;
      }
      const newScope = attrs.some(([n]) => n === 'xmlns' || n.startsWith('xmlns:')) ? new Map(scope) : scope;
      for (const [n, v] of attrs) {
        if (n === 'xmlns') newScope.set('', v);
        else if (n.startsWith('xmlns:')) newScope.set(n.slice(6), v);
      }
      const colon = qname.indexOf(':');
      const prefix = colon >= 0 ? qname.slice(0, colon) : '';
      const ns = newScope.get(prefix);
      if (prefix !== '' && ns === undefined) throw new XmlError(`undeclared namespace prefix "${prefix}" in <${qname}>`);
      const el: XmlElement = { ns: ns ?? '', local: colon >= 0 ? qname.slice(colon + 1) : qname, children: [] };
      if (stack.length) stack[stack.length - 1]!.el.children.push(el);
      else if (root) throw new XmlError('more than one root element');
      else root = el;
      if (!selfClosing) {
        if (stack.length >= MAX_DEPTH) throw new XmlError(`elements nested deeper than ${MAX_DEPTH}`);
        stack.push({ el, qname, scope: newScope });
        scope = newScope;
      }
      i = j;
    }
  }
  if (stack.length) throw new XmlError(`<${stack[stack.length - 1]!.qname}> is never closed`);
  if (!root) throw new XmlError('no root element');
  return root;
}

export function childElements(el: XmlElement, ns: string, local: string): XmlElement[] {
  return el.children.filter((c): c is XmlElement => typeof c !== 'string' && c.ns === ns && c.local === local);
}

export function textOf(el: XmlElement): string {
  return el.children.map((c) => (typeof c === 'string' ? c : textOf(c))).join('');
}

// ---------------------------------------------------------------------------------------------------------------
// Multi-Status

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

// ---------------------------------------------------------------------------------------------------------------
// Paths

export class UnsafePathError extends Error {}

const DEVICE = /^(?:CON|PRN|AUX|NUL|COM[0-9¹²³]|LPT[0-9¹²³])(?:\..*)?$/i;

/** Why one decoded path segment cannot be a file or folder name under the destination, or undefined when it can. */
export function segmentProblem(seg: string): string | undefined {
  if (seg === '') return 'empty name';
  if (seg === '.' || seg === '..') return `"${seg}" would leave the folder`;
  if (seg.includes('\0')) return 'NUL character';
  if (seg.includes('/') || seg.includes('\\')) return 'path separator inside a name';
  if (seg.includes(':')) return 'drive letter or ":" (alternate data stream) in a name';
  // eslint-disable-next-line no-control-regex
  if (/[\u0001-\u001f\u007f]/.test(seg)) return 'control character in a name';
  if (/[*?"<>|]/.test(seg)) return 'character not allowed in a Windows file name (* ? " < > |)';
  if (/[. ]$/.test(seg)) return 'name ends in a dot or space (Windows strips it)';
  if (DEVICE.test(seg)) return 'DOS device name';
  if (seg.length > 255) return 'name longer than 255 characters';
  return undefined;
}

function decodeSegment(raw: string, href: string): string {
  try {
    return decodeURIComponent(raw);
  } catch {
    throw new UnsafePathError(`refusing ${JSON.stringify(href)}: malformed percent-encoding`);
  }
}

/** The path part of an href as written (no scheme/host, no query or fragment), split on "/". */
function rawSegments(href: string): string[] {
  const noFrag = href.replace(/[?#].*$/s, '');
  const p = /^[A-Za-z][A-Za-z0-9+.-]*:\/\/[^/]*(.*)$/s.exec(noFrag)?.[1] ?? noFrag;
  return p.split('/');
}

/**
 * The path of `href` (from a listing of `base`) relative to the package URL `root`, as decoded segments.
 * Throws UnsafePathError when it leaves the package (other server, outside the root path, "..", bad names).
 * Returns [] for the package root itself.
 */
export function safeRelativePath(root: string, base: string, href: string): string[] {
  const shown = JSON.stringify(href);
  if (/[\\\0]/.test(href)) throw new UnsafePathError(`refusing ${shown}: backslash or NUL in the href`);
  for (const raw of rawSegments(href)) {
    const d = decodeSegment(raw, href);
    if (d === '.' || d === '..') throw new UnsafePathError(`refusing ${shown}: "${d}" segment would leave the package folder`);
  }
  let u: URL;
  try {
    u = new URL(href, base);
  } catch {
    throw new UnsafePathError(`refusing ${shown}: not a URL`);
  }
  const r = new URL(root);
  if (u.origin !== r.origin) throw new UnsafePathError(`refusing ${shown}: points to another server (${u.origin}, package is on ${r.origin})`);
  const rootSegs = r.pathname.split('/').filter((x) => x !== '').map((x) => decodeSegment(x, root).toLowerCase());
  const segs = u.pathname.split('/');
  if (segs[segs.length - 1] === '') segs.pop(); // collection hrefs end in "/"
  if (segs[0] === '') segs.shift();
  const decoded = segs.map((x) => decodeSegment(x, href));
  if (decoded.length < rootSegs.length || rootSegs.some((s, k) => decoded[k]!.toLowerCase() !== s)) {
    throw new UnsafePathError(`refusing ${shown}: outside the package (${r.pathname})`);
  }
  const rel = decoded.slice(rootSegs.length);
  for (const seg of rel) {
    const why = segmentProblem(seg);
    if (why) throw new UnsafePathError(`refusing ${shown}: ${why} (${JSON.stringify(seg)})`);
  }
  return rel;
}

/** dest joined with rel, checked to stay inside dest (the last line of defence after safeRelativePath). */
export function joinInside(dest: string, rel: readonly string[]): string {
  for (const seg of rel) {
    const why = segmentProblem(seg);
    if (why) throw new UnsafePathError(`refusing ${JSON.stringify(rel.join('/'))}: ${why}`);
  }
  const base = path.resolve(dest);
  const full = path.resolve(base, ...rel);
  if (full !== base && !full.startsWith(base.endsWith(path.sep) ? base : base + path.sep)) throw new UnsafePathError(`refusing ${JSON.stringify(rel.join('/'))}: leaves ${base}`);
  return full;
}

// ---------------------------------------------------------------------------------------------------------------
// PROPFIND over HTTP(S)

export type DavErrorKind = 'auth' | 'not-found' | 'not-dav' | 'server' | 'network' | 'timeout' | 'protocol' | 'too-large';

export class DavError extends Error {
  constructor(
    readonly kind: DavErrorKind,
    message: string,
    readonly status?: number,
  ) {
    super(message);
  }
}

export interface PropfindOptions {
  ca?: Buffer;
  insecure?: boolean;
  /** Retries after the first attempt for network errors, timeouts and 5xx (SMSTSDownloadRetryCount). Default 2. */
  retries?: number;
  retryDelayMs?: number;
  /** No byte for this long: abort the request (and retry). Default 60 000. */
  timeoutMs?: number;
  signal?: AbortSignal;
  log: Logger;
  /** Largest multistatus body accepted, bytes. Default 64 MiB. */
  maxBody?: number;
}

export const PROPFIND_BODY =
  '<?xml version="1.0" encoding="utf-8"?>\r\n<D:propfind xmlns:D="DAV:"><D:prop><D:resourcetype/><D:getcontentlength/><D:getlastmodified/></D:prop></D:propfind>\r\n';

function caList(ca: Buffer): string[] {
  const text = ca.toString('latin1');
  return text.includes('-----BEGIN') ? [text] : [new X509Certificate(ca).toString()];
}

function decodeBody(buf: Buffer): string {
  if (buf.length >= 2 && buf[0] === 0xff && buf[1] === 0xfe) return buf.subarray(2).toString('utf16le');
  if (buf.length >= 2 && buf[0] === 0xfe && buf[1] === 0xff) {
    const b = Buffer.from(buf.subarray(2));
    b.swap16();
    return b.toString('utf16le');
  }
  return buf.toString('utf8');
}

/** Hides user:password in a URL for logs. */
function shown(url: string): string {
  return url.replace(/\/\/[^/@]*@/, '//***@');
}

export class PropfindClient {
  private readonly httpAgent = new http.Agent({ keepAlive: true, maxSockets: 2 });
  private readonly httpsAgent: https.Agent;
  requests = 0;

  constructor(private readonly o: PropfindOptions) {
    this.httpsAgent = new https.Agent({
      keepAlive: true,
      maxSockets: 2,
      ca: o.ca ? [...tls.rootCertificates, ...caList(o.ca)] : undefined,
      rejectUnauthorized: !o.insecure,
    });
  }

  close(): void {
    this.httpAgent.destroy();
    this.httpsAgent.destroy();
  }

  /** PROPFIND url with Depth: 1; returns the parsed entries and the final URL (after redirects). */
  async list(url: string): Promise<{ url: string; entries: DavEntry[] }> {
    const retries = Math.max(0, this.o.retries ?? 2);
    const delay = Math.max(0, this.o.retryDelayMs ?? 15_000);
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.once(url, 0);
      } catch (e) {
        const retryable = e instanceof DavError && (e.kind === 'network' || e.kind === 'timeout' || e.kind === 'server');
        if (!retryable || attempt >= retries || this.o.signal?.aborted) throw e;
        this.o.log.warn(`PROPFIND ${shown(url)}: ${(e as Error).message}; retrying in ${delay / 1000} s (${attempt + 1} of ${retries})`);
        await sleep(delay, this.o.signal);
      }
    }
  }

  private once(url: string, redirects: number): Promise<{ url: string; entries: DavEntry[] }> {
    const u = new URL(url);
    const mod = u.protocol === 'https:' ? https : http;
    const maxBody = this.o.maxBody ?? 64 * 1024 * 1024;
    this.requests++;
    return new Promise((resolve, reject) => {
      const req = mod.request(
        u,
        {
          method: 'PROPFIND',
          agent: u.protocol === 'https:' ? this.httpsAgent : this.httpAgent,
          headers: { Depth: '1', 'Content-Type': 'text/xml; charset="utf-8"', 'Content-Length': Buffer.byteLength(PROPFIND_BODY), 'User-Agent': USER_AGENT, Accept: 'text/xml, application/xml' },
          signal: this.o.signal,
          timeout: this.o.timeoutMs ?? 60_000,
        },
        (res) => {
          const st = res.statusCode ?? 0;
          if (st >= 300 && st < 400 && res.headers.location) {
            res.resume();
            if (redirects >= 5) return reject(new DavError('protocol', `PROPFIND ${shown(url)}: too many redirects`, st));
            return this.once(new URL(res.headers.location, u).href, redirects + 1).then(resolve, reject);
          }
          if (st !== 207) {
            res.resume();
            const what = `PROPFIND ${shown(url)}: HTTP ${st} ${res.statusMessage ?? ''}`.trim();
            if (st === 401 || st === 403) return reject(new DavError('auth', `${what} (the DP wants authentication or refuses the listing; osdcast lists packages anonymously)`, st));
            if (st === 404) return reject(new DavError('not-found', `${what} (the package is not on this DP)`, st));
            if (st === 405 || st === 501 || (st >= 200 && st < 300)) return reject(new DavError('not-dav', `${what} (WebDAV PROPFIND is not enabled for this URL)`, st));
            if (st >= 500 || st === 408 || st === 429) return reject(new DavError('server', what, st));
            return reject(new DavError('protocol', what, st));
          }
          const parts: Buffer[] = [];
          let len = 0;
          res.on('data', (d: Buffer) => {
            len += d.length;
            if (len > maxBody) {
              req.destroy(new DavError('too-large', `PROPFIND ${shown(url)}: listing larger than ${maxBody} bytes`));
              return;
            }
            parts.push(d);
          });
          res.on('error', (e) => reject(e instanceof DavError ? e : new DavError('network', `PROPFIND ${shown(url)}: ${e.message}`)));
          res.on('end', () => {
            try {
              resolve({ url: u.href, entries: parseMultistatus(decodeBody(Buffer.concat(parts))) });
            } catch (e) {
              reject(new DavError('protocol', `PROPFIND ${shown(url)}: unreadable Multi-Status: ${(e as Error).message}`));
            }
          });
        },
      );
      req.on('timeout', () => req.destroy(new DavError('timeout', `PROPFIND ${shown(url)}: no answer within ${(this.o.timeoutMs ?? 60_000) / 1000} s`)));
      req.on('error', (e) => {
        if (e instanceof DavError) return reject(e);
        if (this.o.signal?.aborted) return reject(this.o.signal.reason);
        reject(new DavError('network', `PROPFIND ${shown(url)}: ${e.message}`));
      });
      req.end(PROPFIND_BODY);
    });
  }
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(t);
      reject(signal!.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

// ---------------------------------------------------------------------------------------------------------------
// The whole package

export interface PackageFile {
  /** Decoded path segments relative to the package (and the destination folder). */
  rel: string[];
  /** Absolute URL of the file, from the server's href. */
  url: string;
  size?: number;
}

export interface PackageListing {
  files: PackageFile[];
  /** Every folder, including empty ones (decoded segments). */
  dirs: string[][];
  requests: number;
}

export interface EnumerateOptions extends PropfindOptions {
  /** Deepest folder nesting followed (default 64). */
  maxDepth?: number;
  /** Most entries accepted (default 100 000). */
  maxEntries?: number;
}

/**
 * Lists every file and folder under the package URL (PROPFIND Depth: 1, recursively into collections). All names
 * are checked before the listing is returned; one unsafe name throws UnsafePathError. Files come sorted by path,
 * so "x" is received before "x.partial" (receive.ts's temporary name for "x").
 */
export async function enumeratePackage(packageUrl: string, o: EnumerateOptions): Promise<PackageListing> {
  const client = new PropfindClient(o);
  const maxDepth = o.maxDepth ?? 64;
  const maxEntries = o.maxEntries ?? 100_000;
  const files = new Map<string, PackageFile>();
  const dirs = new Map<string, string[]>();
  const seenFolded = new Map<string, string>();
  const visited = new Set<string>();
  const key = (rel: readonly string[]) => rel.join('/');
  const claim = (rel: string[], href: string) => {
    const folded = key(rel).toLowerCase();
    const prev = seenFolded.get(folded);
    if (prev !== undefined && prev !== key(rel)) throw new UnsafePathError(`refusing ${JSON.stringify(href)}: "${key(rel)}" and "${prev}" differ only in case (one file on Windows)`);
    seenFolded.set(folded, key(rel));
  };
  try {
    const queue: { url: string; rel: string[] }[] = [{ url: packageUrl, rel: [] }];
    let rootUrl = packageUrl;
    let first = true;
    while (queue.length) {
      const { url, rel } = queue.shift()!;
      const res = await client.list(url);
      if (first) {
        // A redirect of the package URL itself (e.g. to add a trailing slash) moves the root along.
        rootUrl = res.url;
        first = false;
      }
      visited.add(key(rel));
      for (const e of res.entries) {
        const r = safeRelativePath(rootUrl, res.url, e.href);
        const k = key(r);
        if (r.length === 0 && !e.collection && rel.length === 0) throw new DavError('protocol', `${shown(packageUrl)} is a file, not a package folder`);
        if (k === key(rel) || r.length === 0) continue; // the collection itself (or the package root again)
        claim(r, e.href);
        if (files.size + dirs.size >= maxEntries) throw new DavError('too-large', `package lists more than ${maxEntries} entries`);
        if (e.collection) {
          if (files.has(k)) throw new UnsafePathError(`refusing ${JSON.stringify(e.href)}: listed both as a file and as a folder`);
          if (!dirs.has(k)) {
            if (r.length > maxDepth) throw new UnsafePathError(`refusing ${JSON.stringify(e.href)}: folders nested deeper than ${maxDepth}`);
            dirs.set(k, r);
            if (!visited.has(k)) queue.push({ url: new URL(e.href, res.url).href, rel: r });
          }
        } else {
          if (dirs.has(k)) throw new UnsafePathError(`refusing ${JSON.stringify(e.href)}: listed both as a file and as a folder`);
          files.set(k, { rel: r, url: new URL(e.href, res.url).href, ...(e.size !== undefined ? { size: e.size } : {}) });
        }
      }
    }
    const byPath = (a: string[], b: string[]) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0);
    return {
      files: [...files.values()].sort((a, b) => byPath(a.rel, b.rel)),
      dirs: [...dirs.values()].sort(byPath),
      requests: client.requests,
    };
  } finally {
    client.close();
  }
}
