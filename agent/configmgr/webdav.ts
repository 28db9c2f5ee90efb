/**
 * WebDAV enumeration of a package on a distribution point, the way ConfigMgr's own downloader lists content:
 * `PROPFIND <package URL>` with `Depth: 1`, then the same for every sub-collection (IIS refuses `Depth: infinity`
 * by default, and so does nginx's dav-ext module). Hops: acp.ts → enumeratePackage (this file) → node:http(s).
 *
 * The 207 Multi-Status body is read by multistatus.ts (on xml.ts, a small XML reader); every name it lists is
 * checked by package-paths.ts before anything is written: one bad name refuses the whole package.
 */
import { DEFAULTS, MiB } from '../defaults';
import type { Logger } from '../log/log';
import { redirectDecision } from '../transport/redirect';
import { KeepAliveAgents, Trust } from '../transport/tls';
import { sleep } from '../util/sleep';
import { decodeBomText } from '../util/text';
import { redactUrl as shown } from '../util/url';
import { USER_AGENT } from '../util/version';
import { DavEntry, parseMultistatus } from './multistatus';
import { safeRelativePath, UnsafePathError } from './package-paths';

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

export interface PropfindOptions extends Trust {
  /** Retries after the first attempt for network errors, timeouts and 5xx (SMSTSDownloadRetryCount; default DEFAULTS.retries). */
  retries?: number;
  retryDelayMs?: number;
  /** No byte for this long: abort the request (and retry). Default DEFAULTS.httpIdleTimeoutMs. */
  timeoutMs?: number;
  signal?: AbortSignal;
  log: Logger;
  /** Largest multistatus body accepted, bytes. Default 64 MiB. */
  maxBody?: number;
}

export const PROPFIND_BODY =
  '<?xml version="1.0" encoding="utf-8"?>\r\n<D:propfind xmlns:D="DAV:"><D:prop><D:resourcetype/><D:getcontentlength/><D:getlastmodified/></D:prop></D:propfind>\r\n';

export class PropfindClient {
  private readonly agents: KeepAliveAgents;
  requests = 0;
  private readonly idleMs: number;

  constructor(private readonly o: PropfindOptions) {
    this.agents = new KeepAliveAgents(o, 2);
    this.idleMs = o.timeoutMs ?? DEFAULTS.httpIdleTimeoutMs;
  }

  close(): void {
    this.agents.destroy();
  }

  /** PROPFIND url with Depth: 1; returns the parsed entries and the final URL (after redirects). */
  async list(url: string): Promise<{ url: string; entries: DavEntry[] }> {
    const retries = Math.max(0, this.o.retries ?? DEFAULTS.retries);
    const delay = Math.max(0, this.o.retryDelayMs ?? DEFAULTS.retryDelayMs);
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
    const { mod, agent } = this.agents.for(u);
    const maxBody = this.o.maxBody ?? MAX_LISTING_BYTES;
    this.requests++;
    return new Promise((resolve, reject) => {
      const req = mod.request(
        u,
        {
          method: 'PROPFIND',
          agent,
          headers: { Depth: '1', 'Content-Type': 'text/xml; charset="utf-8"', 'Content-Length': Buffer.byteLength(PROPFIND_BODY), 'User-Agent': USER_AGENT, Accept: 'text/xml, application/xml' },
          signal: this.o.signal,
          timeout: this.idleMs,
        },
        (res) => {
          const st = res.statusCode ?? 0;
          const r = redirectDecision(st, res.headers.location, u, redirects);
          if (r.kind !== 'none') res.resume();
          if (r.kind === 'too-many') return reject(new DavError('protocol', `PROPFIND ${shown(url)}: too many redirects`, st));
          if (r.kind === 'bad-location') return reject(new DavError('protocol', `PROPFIND ${shown(url)}: redirected to an unsupported URL ${shown(r.location)}`, st));
          if (r.kind === 'follow') return this.once(r.to, redirects + 1).then(resolve, reject);
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
              resolve({ url: u.href, entries: parseMultistatus(decodeBomText(Buffer.concat(parts))) });
            } catch (e) {
              reject(new DavError('protocol', `PROPFIND ${shown(url)}: unreadable Multi-Status: ${(e as Error).message}`));
            }
          });
        },
      );
      req.on('timeout', () => req.destroy(new DavError('timeout', `PROPFIND ${shown(url)}: no answer within ${this.idleMs / 1000} s`)));
      req.on('error', (e) => {
        if (e instanceof DavError) return reject(e);
        if (this.o.signal?.aborted) return reject(this.o.signal.reason);
        reject(new DavError('network', `PROPFIND ${shown(url)}: ${e.message}`));
      });
      req.end(PROPFIND_BODY);
    });
  }
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

/** Limits of a package listing: folder depth, entries, bytes of one Multi-Status answer (a hostile DP cannot exhaust memory). */
const MAX_FOLDER_DEPTH = 64;
const MAX_ENTRIES = 100_000;
const MAX_LISTING_BYTES = 64 * MiB;

/**
 * Lists every file and folder under the package URL (PROPFIND Depth: 1, recursively into collections). All names
 * are checked before the listing is returned; one unsafe name throws UnsafePathError. Files come sorted by path,
 * so "x" is received before "x.partial" (receive.ts's temporary name for "x").
 */
export async function enumeratePackage(packageUrl: string, o: EnumerateOptions): Promise<PackageListing> {
  const client = new PropfindClient(o);
  const maxDepth = o.maxDepth ?? MAX_FOLDER_DEPTH;
  const maxEntries = o.maxEntries ?? MAX_ENTRIES;
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
