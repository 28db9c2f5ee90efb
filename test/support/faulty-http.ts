/**
 * A small node:http server for fault injection against agent/transport/http.ts. It serves one body at every path with
 * HEAD, GET, single byte ranges (bytes=a-b, a-, -n), If-Range, ETag and Last-Modified, like a DP's IIS does, and
 * misbehaves as told by `fault`. Loopback, ephemeral port; close() drops every open connection.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export type Fault =
  | { kind: 'none' }
  /** GET answers 200 with the whole body whatever Range / If-Range say (HEAD still says Accept-Ranges: none). */
  | { kind: 'ignore-range' }
  /** The first `requests` GETs send `afterBytes` bytes of their body, then the connection is dropped. */
  | { kind: 'reset'; afterBytes: number; requests: number }
  /** The first `requests` requests (default: all) of `methods` (default: all) are answered with `status`. */
  | { kind: 'status'; status: number; requests?: number; methods?: string[]; headers?: Record<string, string> }
  /** The first `requests` GETs send `afterBytes` bytes, then nothing more (the connection stays open). */
  | { kind: 'stall'; afterBytes: number; requests: number }
  /** 206 whose Content-Range start is off by `shift` (default 1) from the bytes asked for (body as asked). */
  | { kind: 'wrong-content-range'; shift?: number }
  /** 206 whose Content-Range total is `total`. */
  | { kind: 'wrong-total'; total: number }
  /**
   * After `afterRequests` requests the content is replaced by `next` (default: the body with every byte inverted)
   * under a new ETag and Last-Modified. With honorIfRange (default true) a stale If-Range gets 200 + the new
   * content (RFC 9110); without, the server ignores If-Range and sends 206 of the new content.
   */
  | { kind: 'change-etag'; afterRequests: number; honorIfRange?: boolean; next?: Buffer }
  /** HEAD is not allowed (405): the client must probe with GET Range: bytes=0-0. */
  | { kind: 'no-head' };

export interface RequestRecord {
  method: string;
  path: string;
  range?: string;
  ifRange?: string;
  status: number;
  /** Body bytes written by the server. */
  sent: number;
  /** The response was written to the end (false: reset, stalled, or the client went away). */
  finished: boolean;
}

export interface FaultyServer {
  url: string;
  port: number;
  requests: RequestRecord[];
  /** The most GETs ever in flight at once. */
  maxInFlight: number;
  setFault(f: Fault): void;
  /** The content currently served (after a change-etag switch: the new one). */
  body(): Buffer;
  close(): Promise<void>;
}

export interface FaultyOptions {
  body: Buffer;
  fault?: Fault;
  /** null: no ETag header. Default '"v1"'. */
  etag?: string | null;
  /** null: no Last-Modified header. */
  lastModified?: string | null;
  /** Delay before each answer (ms): makes concurrent requests overlap on the server. */
  latencyMs?: number;
  /** Body chunk size (default 16 KiB). */
  chunk?: number;
  path?: string;
}

export async function startFaulty(o: FaultyOptions): Promise<FaultyServer> {
  let body = o.body;
  let etag: string | null = o.etag === undefined ? '"v1"' : o.etag;
  let lastModified: string | null = o.lastModified === undefined ? 'Mon, 01 Jan 2024 00:00:00 GMT' : o.lastModified;
  let fault: Fault = o.fault ?? { kind: 'none' };
  let changed = false;
  const chunk = o.chunk ?? 16 * 1024;
  const requests: RequestRecord[] = [];
  let gets = 0;
  let inFlight = 0;
  const state = { maxInFlight: 0 };

  const server = http.createServer((req, res) => {
    // in flight: from the arrival of the request until its response is done
    if (req.method === 'GET') {
      inFlight++;
      state.maxInFlight = Math.max(state.maxInFlight, inFlight);
      res.on('close', () => inFlight--);
    }
    if (o.latencyMs) setTimeout(() => handle(req, res), o.latencyMs);
    else handle(req, res);
  });
  const handle = (req: http.IncomingMessage, res: http.ServerResponse) => {
    const method = req.method ?? 'GET';
    const rec: RequestRecord = { method, path: req.url ?? '/', range: req.headers.range, ifRange: req.headers['if-range'] as string | undefined, status: 0, sent: 0, finished: false };
    requests.push(rec);
    const n = requests.length; // 1-based, all methods
    const getNo = method === 'GET' ? ++gets : 0;
    res.on('finish', () => (rec.finished = true));
    const f = fault;

    if (f.kind === 'change-etag' && !changed && n > f.afterRequests) {
      changed = true;
      body = f.next ?? Buffer.from(body.map((b) => 255 - b));
      etag = '"v2"';
      lastModified = 'Tue, 02 Jan 2024 00:00:00 GMT';
    }
    const common = (): Record<string, string> => {
      const h: Record<string, string> = {};
      if (etag !== null) h.ETag = etag;
      if (lastModified !== null) h['Last-Modified'] = lastModified;
      return h;
    };
    const answer = (status: number, headers: Record<string, string | number>, data?: Buffer, cut?: { afterBytes: number; then: 'reset' | 'stall' }) => {
      rec.status = status;
      res.writeHead(status, headers);
      if (method === 'HEAD' || !data) return void res.end();
      void stream(res, data, chunk, rec, cut);
    };

    if (f.kind === 'status' && (f.methods ?? [method]).includes(method)) {
      const k = f.methods ? requests.filter((r) => f.methods!.includes(r.method)).length : n;
      if (f.requests === undefined || k <= f.requests) {
        const msg = Buffer.from(`${f.status} ${http.STATUS_CODES[f.status] ?? ''}\n`);
        return answer(f.status, { 'Content-Type': 'text/plain', 'Content-Length': msg.length, ...(f.headers ?? {}) }, msg);
      }
    }
    if (method === 'HEAD' && f.kind === 'no-head') return answer(405, { Allow: 'GET', 'Content-Length': 0 });
    if (method !== 'GET' && method !== 'HEAD') return answer(405, { Allow: 'GET, HEAD', 'Content-Length': 0 });

    const size = body.length;
    const full = () => answer(200, { ...common(), 'Content-Length': size, 'Accept-Ranges': f.kind === 'ignore-range' ? 'none' : 'bytes' }, body, cutFor(f, getNo));
    if (method === 'HEAD' || f.kind === 'ignore-range') return full();

    const range = parseRange(req.headers.range, size);
    if (!range) return full();
    const ifRange = req.headers['if-range'];
    const honor = f.kind !== 'change-etag' || f.honorIfRange !== false;
    if (ifRange && honor && ifRange !== etag && ifRange !== lastModified) return full();
    if (range === 'unsatisfiable') return answer(416, { ...common(), 'Content-Range': `bytes */${size}`, 'Content-Length': 0 });
    const [a, b] = range;
    let cr = `bytes ${a}-${b}/${size}`;
    if (f.kind === 'wrong-content-range') cr = `bytes ${a + (f.shift ?? 1)}-${b + (f.shift ?? 1)}/${size}`;
    if (f.kind === 'wrong-total') cr = `bytes ${a}-${b}/${f.total}`;
    answer(206, { ...common(), 'Content-Range': cr, 'Content-Length': b - a + 1, 'Accept-Ranges': 'bytes' }, body.subarray(a, b + 1), cutFor(f, getNo));
  };
  server.keepAliveTimeout = 5000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}${o.path ?? '/content.wim'}`,
    port,
    requests,
    get maxInFlight() {
      return state.maxInFlight;
    },
    setFault(f: Fault) {
      fault = f;
    },
    body: () => body,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function cutFor(f: Fault, getNo: number): { afterBytes: number; then: 'reset' | 'stall' } | undefined {
  if ((f.kind === 'reset' || f.kind === 'stall') && getNo > 0 && getNo <= f.requests) return { afterBytes: f.afterBytes, then: f.kind };
  return undefined;
}

/** Writes `data` in chunks, honouring back-pressure; stops early on a cut or when the client goes away. */
async function stream(res: http.ServerResponse, data: Buffer, chunk: number, rec: RequestRecord, cut?: { afterBytes: number; then: 'reset' | 'stall' }): Promise<void> {
  const limit = cut ? Math.min(cut.afterBytes, data.length) : data.length;
  let off = 0;
  while (off < limit) {
    if (res.destroyed) return;
    const piece = data.subarray(off, Math.min(off + chunk, limit));
    off += piece.length;
    const ok = res.write(piece);
    rec.sent += piece.length;
    if (!ok) {
      const go = await new Promise<boolean>((resolve) => {
        const done = (v: boolean) => {
          res.off('drain', onDrain);
          res.off('close', onClose);
          resolve(v);
        };
        const onDrain = () => done(true);
        const onClose = () => done(false);
        res.on('drain', onDrain);
        res.on('close', onClose);
      });
      if (!go) return;
    }
  }
  if (!cut) return void res.end();
  if (cut.then === 'stall') return; // headers and some bytes, then silence until the client gives up
  // make sure the bytes left the process before the connection is torn down
  await new Promise<void>((resolve) => res.write(Buffer.alloc(0), () => resolve()));
  res.socket?.destroy();
}

function parseRange(h: string | undefined, size: number): [number, number] | 'unsatisfiable' | undefined {
  if (!h) return undefined;
  const m = /^bytes=(\d*)-(\d*)$/.exec(h.trim());
  if (!m || (m[1] === '' && m[2] === '')) return undefined; // several ranges or junk: ignore Range
  if (m[1] === '') {
    const n = Number(m[2]);
    if (n === 0 || size === 0) return 'unsatisfiable';
    return [Math.max(0, size - n), size - 1];
  }
  const a = Number(m[1]);
  const b = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
  if (a >= size || a > b) return 'unsatisfiable';
  return [a, b];
}
