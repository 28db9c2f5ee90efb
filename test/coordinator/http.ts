/**
 * The DP's HTTP side for tests and the demo: serves one content as ConfigMgr DPs do
 * (`/SMS_DP_SMSPKG$/<PackageID>/<path>`) with Range, ETag and Last-Modified, from a file or a Buffer.
 */
import http from 'node:http';
import crypto from 'node:crypto';
import type { AddressInfo } from 'node:net';
import type { ContentSource } from './types';

export interface ContentServer {
  url: string;
  port: number;
  requests: number;
  bytesServed: number;
  stop(): Promise<void>;
}

export async function startContentServer(o: { source: ContentSource; path: string; iface?: string; port?: number; etag?: string }): Promise<ContentServer> {
  const etag = o.etag ?? `"${crypto.randomBytes(6).toString('hex')}"`;
  const lastModified = new Date(0).toUTCString();
  const state = { requests: 0, bytesServed: 0 };
  const server = http.createServer((req, res) => {
    state.requests++;
    if (decodeURIComponent(req.url ?? '') !== o.path) {
      res.writeHead(404).end();
      return;
    }
    const size = o.source.size;
    const headers: http.OutgoingHttpHeaders = { 'accept-ranges': 'bytes', etag, 'last-modified': lastModified, 'content-type': 'application/octet-stream' };
    let start = 0;
    let end = size - 1;
    let status = 200;
    const range = /^bytes=(\d*)-(\d*)$/.exec(req.headers.range ?? '');
    const ifRange = req.headers['if-range'];
    if (range && (!ifRange || ifRange === etag)) {
      start = range[1] ? Number(range[1]) : size - Number(range[2]);
      end = range[1] && range[2] ? Math.min(Number(range[2]), size - 1) : size - 1;
      if (start > end || start >= size) {
        res.writeHead(416, { 'content-range': `bytes */${size}` }).end();
        return;
      }
      status = 206;
      headers['content-range'] = `bytes ${start}-${end}/${size}`;
    }
    headers['content-length'] = end - start + 1;
    res.writeHead(status, headers);
    if (req.method === 'HEAD') return void res.end();
    let pos = start;
    const pump = () => {
      while (pos <= end) {
        const n = Math.min(256 * 1024, end - pos + 1);
        const chunk = o.source.read(pos, n);
        pos += n;
        state.bytesServed += n;
        if (!res.write(chunk)) return void res.once('drain', pump);
      }
      res.end();
    };
    pump();
  });
  await new Promise<void>((res, rej) => {
    server.once('error', rej);
    server.listen(o.port ?? 0, o.iface ?? '127.0.0.1', () => {
      server.off('error', rej);
      res();
    });
  });
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://${o.iface ?? '127.0.0.1'}:${port}${o.path}`,
    port,
    get requests() {
      return state.requests;
    },
    get bytesServed() {
      return state.bytesServed;
    },
    stop: () =>
      new Promise<void>((res) => {
        server.closeAllConnections();
        server.close(() => res());
      }),
  };
}

export function bufferContent(data: Buffer): ContentSource {
  return { size: data.length, read: (off, len) => data.subarray(off, off + len) };
}
