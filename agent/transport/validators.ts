/**
 * HTTP validators and byte ranges, parsed from response headers (no I/O): ETag / Last-Modified (the version pin of
 * a download), If-Range (RFC 9110 §13.1.5), Content-Range (§14.4) and Content-Length. HttpClient decides with them
 * whether an answer belongs to the version it started with.
 */
import type { IncomingHttpHeaders } from 'node:http';

export interface Validator {
  etag?: string;
  lastModified?: string;
}

export function validatorOf(headers: IncomingHttpHeaders): Validator {
  const v: Validator = {};
  const etag = headers.etag;
  const lm = headers['last-modified'];
  if (etag) v.etag = etag;
  if (lm) v.lastModified = lm;
  return v;
}

export function hasValidator(v: Validator | undefined): v is Validator {
  return !!v && (v.etag !== undefined || v.lastModified !== undefined);
}

/** What to send as If-Range: a strong ETag (RFC 9110 13.1.5 forbids weak ones), else the Last-Modified date. */
export function ifRangeValue(v: Validator | undefined): string | undefined {
  if (!v) return undefined;
  if (v.etag && !v.etag.startsWith('W/')) return v.etag;
  return v.lastModified;
}

/** A description of the difference when `got` proves the content is not the pinned version. */
export function conflict(pinned: Validator, got: Validator): string | undefined {
  if (pinned.etag !== undefined && got.etag !== undefined && pinned.etag !== got.etag) return `ETag ${pinned.etag} is now ${got.etag}`;
  if (pinned.lastModified !== undefined && got.lastModified !== undefined && pinned.lastModified !== got.lastModified)
    return `Last-Modified ${pinned.lastModified} is now ${got.lastModified}`;
  return undefined;
}

/** True when `got` carries a validator equal to the pinned one (and none that differs). */
export function confirms(pinned: Validator, got: Validator): boolean {
  if (conflict(pinned, got)) return false;
  return (pinned.etag !== undefined && pinned.etag === got.etag) || (pinned.lastModified !== undefined && pinned.lastModified === got.lastModified);
}

export type ContentRange = { start: number; end: number; total?: number } | { unsatisfied: number };

/** `bytes a-b/n`, `bytes a-b/*` or `bytes * /n` (416); undefined when absent or malformed. */
export function parseContentRange(h: string | undefined): ContentRange | undefined {
  if (!h) return undefined;
  let m = /^\s*bytes\s+(\d+)-(\d+)\/(\d+|\*)\s*$/i.exec(h);
  if (m) return { start: Number(m[1]), end: Number(m[2]), total: m[3] === '*' ? undefined : Number(m[3]) };
  m = /^\s*bytes\s+\*\/(\d+)\s*$/i.exec(h);
  if (m) return { unsatisfied: Number(m[1]) };
  return undefined;
}

/** Content-Length when it is a plain decimal number. */
export function contentLength(headers: IncomingHttpHeaders): number | undefined {
  const h = headers['content-length'];
  if (h === undefined || !/^\d+$/.test(h)) return undefined;
  return Number(h);
}
