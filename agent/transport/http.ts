/**
 * HTTP(S) fallback: ranged downloads from the distribution point's content URLs when multicast cannot serve.
 * node:http / node:https only. Hops: receive/receive.ts and receive/http-fill.ts → HttpClient (this file) →
 * node:http(s) keep-alive agents.
 * Beside it: validators.ts (ETag/If-Range/Content-Range parsing), http-errors.ts (error kinds), redirect.ts,
 * tls.ts (--ca, agents). Over 450 lines on purpose: what is left is one class whose parts (version pins,
 * sticky fail-over, per-range progress across retries) share its private state; split, they would pass it around.
 *
 * Guarantees to the caller of fetchRange / fetchRanges:
 *  - every byte of the requested range is handed to onData exactly once, in ascending order within a range
 *    (never twice, never skipped), also across retries, resumes and URL fail-over;
 *  - bytes of two versions of the content are never mixed: once a URL has produced a validator (ETag /
 *    Last-Modified, from probe() or the first response), every later request to that URL carries If-Range and
 *    each answer is checked against it; a change is HttpError 'changed' (fatal: the caller starts over).
 *    A 200 answer to If-Range is 'changed' unless it carries the pinned validator itself (then the server merely
 *    ignores Range and If-Range: same version, the prefix is read and discarded);
 *  - onData's promise is awaited before the next chunk is read (back-pressure: disk slower than network is fine);
 *    an error thrown by onData is rethrown as is (no retry, no fail-over).
 *
 * How the receive uses it (agent/receive/receive.ts; agent/storage/state.ts holds the resume contract):
 *   const http = new HttpClient({ urls, retries, retryDelayMs, ca, insecure, log, signal });
 *   const info = await http.probe();          // its size must equal the session's contentSize
 *   // the validator goes into the resume state's identity; then HttpFiller (receive/http-fill.ts) turns the
 *   // missing blocks into byte ranges and calls
 *   await http.fetchRanges(ranges, onData, validator);   // onData cuts the bytes back into blocks → the ring
 *   // the disk pump writes them like multicast blocks; report.httpBytes comes from the fillers
 *   http.close();
 * HttpError kinds for exit codes: 'changed' → discard the partial file and state, start over; the others → the
 * HTTP source failed (TRANSFER_FAILED); an error thrown by onData (disk full …) comes back unchanged.
 *
 * Different URLs are different servers (DPs): their validators are kept per URL and naturally differ (an IIS or
 * nginx ETag is derived from the local file), so across URLs only the content size is compared. The caller's
 * final SHA-256 check is what proves that two DPs held the same bytes.
 */
import http from 'node:http';
import { DEFAULTS } from '../defaults';
import type { Logger } from '../log/log';
import { abortReason, sleep } from '../util/sleep';
import { redactUrl as redact } from '../util/url';
import { USER_AGENT } from '../util/version';
import { classify, combine, HttpError, RETRY_KINDS, statusError } from './http-errors';
import { redirectDecision } from './redirect';
import { isInvalidTld } from './resolve';
import { KeepAliveAgents, Trust } from './tls';

/** Retry back-off grows up to this (each wait doubles from --retry-delay). */
const MAX_RETRY_DELAY_MS = 60_000;
/** Ranged GETs at a time (the README's "at most 4 requests at a time"). */
const RANGE_REQUESTS_IN_FLIGHT = 4;
import { conflict, confirms, contentLength, hasValidator, ifRangeValue, parseContentRange, Validator, validatorOf } from './validators';

export type { Validator } from './validators';
export { HttpError } from './http-errors';

export interface HttpOptions extends Trust {
  /** The same content on one or more servers, tried in order; after a URL fails the next one is used (sticky). */
  urls: string[];
  /** Retries per request and URL after the first attempt (ConfigMgr SMSTSDownloadRetryCount; default DEFAULTS.retries). */
  retries?: number;
  /** First back-off delay (ConfigMgr SMSTSDownloadRetryDelay; default DEFAULTS.retryDelayMs); doubles per retry, capped. */
  retryDelayMs?: number;
  /** Upper bound of the back-off delay (default 60 000 ms, or retryDelayMs when that is larger). */
  maxRetryDelayMs?: number;
  /** No byte (headers or body) for this long = slow server: the request is aborted and retried. Default DEFAULTS.httpIdleTimeoutMs. */
  requestTimeoutMs?: number;
  log: Logger;
  /** Parallel requests of fetchRanges (default 4). */
  concurrency?: number;
  /** Aborts everything (Ctrl-C, overall timeout); the promise rejects with signal.reason. */
  signal?: AbortSignal;
}

export interface HttpInfo {
  url: string;
  size: number;
  validator: Validator;
  acceptRanges: boolean;
}

export type OnData = (offset: number, chunk: Buffer) => void | Promise<void>;

/** Combines an optional outer signal with an inner one. */
function anySignal(signals: (AbortSignal | undefined)[]): AbortSignal | undefined {
  const s = signals.filter((x): x is AbortSignal => !!x);
  if (s.length === 0) return undefined;
  if (s.length === 1) return s[0];
  return AbortSignal.any(s);
}

/**
 * "Slow server" detection: fires when neither headers nor body bytes arrived for `ms`. Paused while the caller's
 * onData runs, so a slow disk is not mistaken for a slow server.
 */
class Watchdog {
  private t: NodeJS.Timeout | undefined;
  constructor(
    private readonly ms: number,
    private readonly fire: () => void,
  ) {
    this.kick();
  }
  kick(): void {
    this.stop();
    this.t = setTimeout(this.fire, this.ms);
  }
  stop(): void {
    if (this.t) clearTimeout(this.t);
    this.t = undefined;
  }
}

interface Opened {
  req: http.ClientRequest;
  res: http.IncomingMessage;
  dog: Watchdog;
  url: string;
  /** Set when the watchdog aborted the request (the stream then only reports a reset). */
  timedOut(): HttpError | undefined;
  done(): void;
}

/** A failed attempt of one request: the error and whether bytes were delivered before it. */
class AttemptFailure {
  constructor(
    readonly error: HttpError,
    readonly progressed: boolean,
  ) {}
}

export class HttpClient {
  private readonly urls: string[];
  private readonly retries: number;
  private readonly retryDelayMs: number;
  private readonly maxRetryDelayMs: number;
  private readonly timeoutMs: number;
  private readonly concurrency: number;
  private readonly log: Logger;
  private readonly signal: AbortSignal | undefined;
  private readonly agents: KeepAliveAgents;
  /** Index of the URL that served last (fail-over is sticky). */
  private current = 0;
  /** Per-URL version pin: the validator every answer from that URL must match. */
  private readonly pinned = new Map<string, Validator>();
  private size: number | undefined;
  private info: HttpInfo | undefined;
  private delivered = 0;
  private discarded = 0;

  constructor(o: HttpOptions) {
    if (!o.urls.length) throw new Error('HttpClient: no URL');
    for (const u of o.urls) {
      let p: URL;
      try {
        p = new URL(u);
      } catch {
        throw new Error(`not a URL: ${redact(u)}`);
      }
      if (p.protocol !== 'http:' && p.protocol !== 'https:') throw new Error(`not an http(s) URL: ${redact(u)}`);
    }
    this.urls = [...o.urls];
    this.retries = Math.max(0, o.retries ?? DEFAULTS.retries);
    this.retryDelayMs = Math.max(0, o.retryDelayMs ?? DEFAULTS.retryDelayMs);
    this.maxRetryDelayMs = Math.max(this.retryDelayMs, o.maxRetryDelayMs ?? MAX_RETRY_DELAY_MS);
    this.timeoutMs = o.requestTimeoutMs ?? DEFAULTS.httpIdleTimeoutMs;
    this.concurrency = Math.max(1, o.concurrency ?? RANGE_REQUESTS_IN_FLIGHT);
    this.log = o.log;
    this.signal = o.signal;
    this.agents = new KeepAliveAgents(o, this.concurrency);
    if (o.insecure) this.log.warn('TLS certificate verification is disabled (--insecure)');
  }

  /** Payload bytes handed to onData so far (each byte once). */
  get bytes(): number {
    return this.delivered;
  }

  /** Body bytes received but not delivered: the prefix of a 200 answer to a Range request (server ignored Range). */
  get discardedBytes(): number {
    return this.discarded;
  }

  /** Closes idle keep-alive connections. */
  close(): void {
    this.agents.destroy();
  }

  // ------------------------------------------------------------------------------------------------ probe

  /** Size and validator of the content: HEAD, falling back to GET Range: bytes=0-0; fails over across URLs. */
  async probe(): Promise<HttpInfo> {
    const info = await this.withFailover('probe', this.signal, async (url, signal) => {
      try {
        return { value: await this.probeOnce(url, signal), progressed: false };
      } catch (e) {
        throw new AttemptFailure(classify(e, url), false);
      }
    });
    const prev = this.pinned.get(info.url);
    const c = prev && conflict(prev, info.validator);
    if (c) throw new HttpError('changed', `content at ${redact(info.url)} changed: ${c}`, info.url);
    if (this.size !== undefined && this.size !== info.size)
      throw new HttpError('changed', `content at ${redact(info.url)} changed: size ${this.size} is now ${info.size}`, info.url);
    this.size = info.size;
    if (hasValidator(info.validator)) this.pinned.set(info.url, info.validator);
    this.info = info;
    this.log.info(
      { url: redact(info.url), size: info.size, etag: info.validator.etag, lastModified: info.validator.lastModified, acceptRanges: info.acceptRanges },
      `HTTP source ${redact(info.url)}: ${info.size} bytes${info.acceptRanges ? '' : ' (server does not advertise byte ranges)'}`,
    );
    return info;
  }

  private async probeOnce(url: string, signal: AbortSignal | undefined): Promise<HttpInfo> {
    const head = await this.open(url, 'HEAD', {}, signal);
    try {
      const st = head.res.statusCode ?? 0;
      if (st >= 200 && st < 300) {
        const len = contentLength(head.res.headers);
        if (len !== undefined) {
          return { url, size: len, validator: validatorOf(head.res.headers), acceptRanges: /\bbytes\b/i.test(String(head.res.headers['accept-ranges'] ?? '')) };
        }
        // no length on HEAD: ask with GET
      } else if (st !== 405 && st !== 501 && st !== 400) {
        throw statusError(head.res, url);
      }
    } finally {
      head.done();
    }
    const get = await this.open(url, 'GET', { Range: 'bytes=0-0' }, signal);
    try {
      const st = get.res.statusCode ?? 0;
      const validator = validatorOf(get.res.headers);
      if (st === 206) {
        const cr = parseContentRange(get.res.headers['content-range']);
        if (!cr || !('start' in cr) || cr.total === undefined)
          throw new HttpError('protocol', `${redact(url)}: 206 without a usable Content-Range (${get.res.headers['content-range'] ?? 'none'})`, url, st);
        return { url, size: cr.total, validator, acceptRanges: true };
      }
      if (st === 200) {
        const len = contentLength(get.res.headers);
        if (len === undefined) throw new HttpError('protocol', `${redact(url)}: neither HEAD nor GET report the content size`, url, st);
        return { url, size: len, validator, acceptRanges: false };
      }
      if (st === 416) {
        const cr = parseContentRange(get.res.headers['content-range']);
        if (cr && 'unsatisfied' in cr && cr.unsatisfied === 0) return { url, size: 0, validator, acceptRanges: true };
      }
      throw statusError(get.res, url);
    } finally {
      get.done();
    }
  }

  // ------------------------------------------------------------------------------------------------ ranges

  /**
   * Bytes start..endInclusive, each handed to onData exactly once and in order. `expect` is the validator of the
   * URL probe() chose (or of the first URL when probe() was not called), e.g. from a resume state file; a different
   * answer is HttpError 'changed'. Resolves with the number of bytes delivered.
   */
  async fetchRange(start: number, endInclusive: number, onData: OnData, expect?: Validator): Promise<number> {
    this.checkRange(start, endInclusive);
    if (expect) this.expect(expect);
    return this.fetchOne(start, endInclusive, onData, this.signal);
  }

  /**
   * Several ranges with at most `concurrency` requests in flight; each range is fetched once (overlapping ranges
   * are merged so no byte is delivered twice; adjacent ones are kept apart so the caller controls parallelism).
   * onData calls of different ranges interleave. The first failure aborts the other requests and is rethrown.
   */
  async fetchRanges(ranges: [number, number][], onData: OnData, expect?: Validator): Promise<number> {
    for (const [s, e] of ranges) this.checkRange(s, e);
    if (expect) this.expect(expect);
    const work = mergeOverlaps(ranges);
    const inner = new AbortController();
    const signal = anySignal([this.signal, inner.signal]);
    let next = 0;
    let total = 0;
    let failed: { e: unknown } | undefined;
    const worker = async () => {
      while (!failed && next < work.length) {
        const [s, e] = work[next++]!;
        try {
          const n = await this.fetchOne(s, e, onData, signal);
          total += n; // (not `total += await …`: that would read `total` before the await)
        } catch (err) {
          if (!failed) {
            failed = { e: err };
            inner.abort(err);
          }
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.concurrency, work.length) }, worker));
    if (failed) throw failed.e;
    return total;
  }

  private checkRange(start: number, end: number): void {
    if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end) || start < 0 || end < start)
      throw new RangeError(`invalid byte range ${start}-${end}`);
    if (this.size !== undefined && end >= this.size) throw new RangeError(`byte range ${start}-${end} is beyond the content size ${this.size}`);
  }

  private expect(v: Validator): void {
    if (!hasValidator(v)) return;
    const url = this.info?.url ?? this.urls[0]!;
    const prev = this.pinned.get(url);
    const c = prev && conflict(prev, v);
    if (c) throw new HttpError('changed', `content at ${redact(url)} changed: ${c}`, url);
    this.pinned.set(url, { ...prev, ...v });
  }

  private async fetchOne(start: number, end: number, onData: OnData, signal: AbortSignal | undefined): Promise<number> {
    const pos = { next: start };
    await this.withFailover(`bytes ${start}-${end}`, signal, async (url, sig) => {
      const before = pos.next;
      try {
        await this.getOnce(url, pos, end, onData, sig);
        return { value: undefined, progressed: pos.next > before };
      } catch (e) {
        if (e instanceof CallerError) throw e;
        throw new AttemptFailure(classify(e, url), pos.next > before);
      }
    });
    return end - start + 1;
  }

  /** One GET for pos.next..end; advances pos.next as bytes are delivered. */
  private async getOnce(url: string, pos: { next: number }, end: number, onData: OnData, signal: AbortSignal | undefined): Promise<void> {
    const pin = this.pinned.get(url);
    const ifRange = ifRangeValue(pin);
    const headers: http.OutgoingHttpHeaders = { Range: `bytes=${pos.next}-${end}` };
    if (ifRange) headers['If-Range'] = ifRange;
    const o = await this.open(url, 'GET', headers, signal);
    try {
      await this.readRange(o, url, pin, ifRange, pos, end, onData);
    } catch (e) {
      // The headers were in: a socket error now is one during the body.
      throw e instanceof CallerError ? e : (o.timedOut() ?? classify(e, url, 'body'));
    } finally {
      o.done();
    }
  }

  private async readRange(o: Opened, url: string, pin: Validator | undefined, ifRange: string | undefined, pos: { next: number }, end: number, onData: OnData): Promise<void> {
    const { res } = o;
    const st = res.statusCode ?? 0;
    const got = validatorOf(res.headers);
    if (st !== 200 && st !== 206) throw statusError(res, url);
    if (res.headers['content-encoding'] && res.headers['content-encoding'] !== 'identity')
      throw new HttpError('protocol', `${redact(url)}: unexpected Content-Encoding ${res.headers['content-encoding']}`, url, st);
    if (pin) {
      const c = conflict(pin, got);
      if (c) throw new HttpError('changed', `content at ${redact(url)} changed during the download: ${c}`, url, st);
      if (st === 200 && ifRange && !confirms(pin, got))
        throw new HttpError('changed', `content at ${redact(url)} changed during the download: 200 (full content) in answer to If-Range ${ifRange}`, url, st);
    }
    let skip: number;
    if (st === 206) {
      const cr = parseContentRange(res.headers['content-range']);
      if (!cr || !('start' in cr))
        throw new HttpError('protocol', `${redact(url)}: 206 with Content-Range "${res.headers['content-range'] ?? ''}" for bytes=${pos.next}-${end}`, url, st);
      if (cr.total !== undefined && this.size !== undefined && cr.total !== this.size)
        throw new HttpError('changed', `content at ${redact(url)} changed: size ${this.size} is now ${cr.total}`, url, st);
      if (cr.start !== pos.next || cr.end !== end || (cr.total !== undefined && cr.end >= cr.total))
        throw new HttpError('protocol', `${redact(url)}: asked for bytes ${pos.next}-${end}, got Content-Range "${res.headers['content-range']}"`, url, st);
      const len = contentLength(res.headers);
      if (len !== undefined && len !== end - pos.next + 1)
        throw new HttpError('protocol', `${redact(url)}: Content-Length ${len} does not match Content-Range ${res.headers['content-range']}`, url, st);
      if (cr.total !== undefined) this.size ??= cr.total;
      skip = 0;
    } else {
      // 200: the server ignored Range (or If-Range without a validator pin): the body is the whole content.
      const len = contentLength(res.headers);
      if (len !== undefined && this.size !== undefined && len !== this.size)
        throw new HttpError('changed', `content at ${redact(url)} changed: size ${this.size} is now ${len}`, url, st);
      if (len !== undefined && len <= end)
        throw new HttpError('range', `${redact(url)}: content is ${len} bytes, byte ${end} was asked for`, url, st);
      if (len !== undefined) this.size ??= len;
      skip = pos.next;
      if (skip > 0) this.log.debug({ url: redact(url), skip }, 'server ignored Range: reading and discarding the prefix');
    }
    if (!pin && hasValidator(got)) this.pinned.set(url, got);

    for await (const c of res) {
      o.dog.stop();
      let chunk = c as Buffer;
      if (skip > 0) {
        const drop = Math.min(skip, chunk.length);
        skip -= drop;
        this.discarded += drop;
        chunk = chunk.subarray(drop);
        if (chunk.length === 0) {
          o.dog.kick();
          continue;
        }
      }
      const want = end - pos.next + 1;
      if (chunk.length > want) {
        if (st === 206) throw new HttpError('protocol', `${redact(url)}: more bytes than Content-Range announced`, url, st);
        chunk = chunk.subarray(0, want);
      }
      const offset = pos.next;
      pos.next += chunk.length;
      this.delivered += chunk.length;
      try {
        await onData(offset, chunk);
      } catch (e) {
        throw new CallerError(e);
      }
      // A 206 ends by itself (reading its end keeps the socket for keep-alive); of a 200 the rest of the body is
      // not read: leaving the loop destroys the response and its socket.
      if (pos.next > end && st !== 206) break;
      o.dog.kick();
    }
    if (pos.next <= end) throw new HttpError('network', `${redact(url)}: connection closed after byte ${pos.next - 1} of ${end}`, url, st);
  }

  // ------------------------------------------------------------------------------------------------ plumbing

  /**
   * Runs `attempt` against the URLs from the current one on: retriable kinds (5xx, network, slow server) are
   * retried on the same URL with doubling back-off (an attempt that delivered bytes does not use up a retry: a
   * resumed download is progress); other kinds, and a URL out of retries, move on to the next URL. 'changed' and
   * errors from the caller's onData end everything at once.
   */
  private async withFailover<T>(
    what: string,
    signal: AbortSignal | undefined,
    attempt: (url: string, signal: AbortSignal | undefined) => Promise<{ value: T; progressed: boolean }>,
  ): Promise<T> {
    const first = this.current;
    const failures: HttpError[] = [];
    for (let k = 0; k < this.urls.length; k++) {
      const idx = (first + k) % this.urls.length;
      const url = this.urls[idx]!;
      let failedAttempts = 0;
      let delay = this.retryDelayMs;
      for (;;) {
        if (signal?.aborted) throw abortReason(signal);
        try {
          const r = await attempt(url, signal);
          if (idx !== this.current) {
            this.log.warn({ url: redact(url), from: redact(this.urls[this.current]!) }, `HTTP: now using ${redact(url)}`);
            this.current = idx;
          }
          return r.value;
        } catch (x) {
          if (signal?.aborted) throw abortReason(signal);
          if (x instanceof CallerError) throw x.cause;
          if (!(x instanceof AttemptFailure)) throw x;
          const { error, progressed } = x;
          if (error.kind === 'changed') throw error;
          if (progressed) {
            failedAttempts = 0;
            delay = this.retryDelayMs;
          }
          if (RETRY_KINDS.has(error.kind) && failedAttempts < this.retries) {
            failedAttempts++;
            this.log.warn(
              { url: redact(url), kind: error.kind, status: error.status, retry: failedAttempts, of: this.retries, delayMs: delay },
              `HTTP ${what}: ${error.message}; retry ${failedAttempts}/${this.retries} in ${delay} ms`,
            );
            await sleep(delay, signal);
            delay = Math.min(delay * 2, this.maxRetryDelayMs);
            continue;
          }
          failures.push(error);
          if (k + 1 < this.urls.length)
            this.log.warn({ url: redact(url), kind: error.kind, status: error.status, next: redact(this.urls[(idx + 1) % this.urls.length]!) }, `HTTP ${what}: ${error.message}; trying the next URL`);
          break;
        }
      }
    }
    throw combine(failures);
  }

  private open(url: string, method: 'GET' | 'HEAD', extra: http.OutgoingHttpHeaders, signal: AbortSignal | undefined, hops = 0): Promise<Opened> {
    const u = new URL(url);
    const { mod, agent } = this.agents.for(u);
    const headers: http.OutgoingHttpHeaders = { 'User-Agent': USER_AGENT, 'Accept-Encoding': 'identity', ...extra };
    return new Promise<Opened>((resolve, reject) => {
      if (signal?.aborted) return reject(abortReason(signal));
      // RFC 6761 §6.4: a name under .invalid never resolves; answered here, as resolveHost does for the DP's name.
      if (isInvalidTld(u.hostname)) return reject(classify(Object.assign(new Error(`getaddrinfo ENOTFOUND ${u.hostname}`), { code: 'ENOTFOUND' }), url));
      const req = mod.request(u, { method, headers, agent });
      let timeout: HttpError | undefined;
      let response: http.IncomingMessage | undefined;
      const dog = new Watchdog(this.timeoutMs, () => {
        timeout = new HttpError('timeout', `${redact(url)}: no data for ${this.timeoutMs} ms (slow or stalled server)`, url);
        req.destroy(timeout);
      });
      const onAbort = () => req.destroy(abortReason(signal!) as Error);
      signal?.addEventListener('abort', onAbort, { once: true });
      const done = () => {
        dog.stop();
        signal?.removeEventListener('abort', onAbort);
        // A body left unread (error status, 200 after the wanted end) must not be pulled over the wire:
        // destroying costs a reconnect, draining could cost gigabytes.
        // A complete message is drained so the keep-alive socket goes back to the pool.
        if (response?.complete) response.resume();
        else if (!req.destroyed) req.destroy();
      };
      req.on('error', (e) => {
        done();
        reject(timeout ?? e);
      });
      req.on('response', (res) => {
        response = res;
        dog.kick();
        const st = res.statusCode ?? 0;
        const r = redirectDecision(st, res.headers.location, u, hops);
        if (r.kind !== 'none') done();
        if (r.kind === 'too-many') return reject(new HttpError('protocol', `${redact(url)}: too many redirects`, url, st));
        if (r.kind === 'bad-location') return reject(new HttpError('protocol', `${redact(url)}: redirected to an unsupported URL ${redact(r.location)}`, url, st));
        if (r.kind === 'follow') {
          this.log.debug({ from: redact(url), to: redact(r.to), status: st }, 'HTTP redirect');
          return this.open(r.to, method, extra, signal, hops + 1).then(resolve, reject);
        }
        resolve({ req, res, dog, url, done, timedOut: () => timeout });
      });
      req.end();
    });
  }

}

/** An exception from the caller's onData: passed through untouched. */
class CallerError {
  constructor(readonly cause: unknown) {}
}

function mergeOverlaps(ranges: [number, number][]): [number, number][] {
  const sorted = ranges.map(([s, e]) => [s, e] as [number, number]).sort((a, b) => a[0] - b[0]);
  const out: [number, number][] = [];
  for (const r of sorted) {
    const last = out[out.length - 1];
    if (last && r[0] <= last[1]) last[1] = Math.max(last[1], r[1]);
    else out.push(r);
  }
  return out;
}
