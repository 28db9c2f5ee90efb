/**
 * `osdcast acp`: ConfigMgr Alternate Content Provider mode (task-sequence variable SMSTSDownloadProgram).
 *
 * The task sequence runs the program once per package it needs, with the package ID and the absolute destination
 * folder (an INI path may come first). We list the package on the DP with WebDAV PROPFIND (webdav.ts), as the
 * task sequence's own downloader does, and receive every file into the folder with receive.ts: multicast where
 * the DP has a session for it, HTTP from the DP otherwise (each receive gets the file's URL as its HTTP source,
 * so an MS-WDSMSI error or a failed multicast ends in HTTP).
 *
 * Exit codes (what the task sequence does with them):
 *   0          every file is complete: the task sequence uses the folder.
 *   abortCode  (osdcast.json, = the administrator's SMSTSDownloadAbortCode) the DP removed us with KICK FAIL, i.e.
 *              "do not try other means": the task sequence fails the download without its own fallback.
 *   any other  the task sequence downloads the package itself (2 usage/configuration, 3, 4 transfer, 5, 6 local
 *              I/O, 130 interrupted; 1 when the failure's own code happens to equal abortCode).
 * Hops: cli.ts → runAcp (this file) → webdav.ts (listing) and receive.ts (each file).
 */
import fs from 'node:fs';
import path from 'node:path';
import { DEFAULTS } from '../defaults';
import { EXIT_OF, Exit, FailureKind } from '../errors';
import type { Logger } from '../log/log';
import type { ReceiveDeps, ReceiveOptions } from '../receive/receive';
import { type AcpReport, type Report, addDrops, noDrops } from '../report';
import { resolveHost } from '../transport/resolve';
import { redactUrl } from '../util/url';
import { expandTemplate, packageUrl, Templates } from './config';
import { joinInside, UnsafePathError } from './package-paths';
import { DavError, enumeratePackage, PackageFile, PackageListing } from './webdav';

// ---------------------------------------------------------------------------------------------------------------
// Arguments

/**
 * ConfigMgr package IDs are a three-character site code and five hex digits (PS100004). We are liberal in what we
 * accept (any eight letters or digits, either case) but nothing else: no separators, dots or spaces, since the ID
 * becomes part of URLs and content names.
 */
export const ACP_PACKAGE_ID = /^[A-Za-z0-9]{3}[A-Za-z0-9]{5}$/;

export function packageIdProblem(id: string): string | undefined {
  if (ACP_PACKAGE_ID.test(id)) return undefined;
  return `package ID ${JSON.stringify(id)} is not a ConfigMgr package ID (8 letters or digits: site code + 5 hex digits, e.g. PS100004)`;
}

export interface AcpPositionals {
  iniPath?: string;
  packageId: string;
  destination: string;
}

/** `[<INI>] <PackageID> <DestinationDir>`; throws Error with a usage message. */
export function parseAcpPositionals(args: readonly string[]): AcpPositionals {
  if (args.length < 2 || args.length > 3) throw new Error(`acp takes [<INI>] <PackageID> <DestinationDir>, got ${args.length} argument${args.length === 1 ? '' : 's'}`);
  const [a, b, c] = args.length === 3 ? args : [undefined, ...args];
  const bad = packageIdProblem(b!);
  if (bad) throw new Error(bad);
  if (c!.trim() === '') throw new Error('the destination folder is empty');
  if (c!.includes('\0') || (a ?? '').includes('\0')) throw new Error('NUL character in an argument');
  return { ...(a !== undefined ? { iniPath: a } : {}), packageId: b!, destination: c! };
}

/**
 * True when argv (after node and the script) looks like the task sequence calling the program directly, without
 * a command word: `<PackageID> <dest>` or `<INI> <PackageID> <dest>` (SMSTSDownloadProgram = the bare exe),
 * possibly followed by options.
 */
export function looksLikeAcpCall(args: readonly string[]): boolean {
  const end = args.findIndex((a) => a.startsWith('-'));
  const pos = end < 0 ? args : args.slice(0, end);
  if (pos.length === 2) return ACP_PACKAGE_ID.test(pos[0]!);
  if (pos.length === 3) return ACP_PACKAGE_ID.test(pos[1]!) && !ACP_PACKAGE_ID.test(pos[0]!);
  return false;
}

// ---------------------------------------------------------------------------------------------------------------
// The run

export interface AcpOptions {
  packageId: string;
  destination: string;
  server: { host: string; port: number };
  templates: Templates;
  /** osdcast.json abortCode (= SMSTSDownloadAbortCode). */
  abortCode?: number;
  /** Skip multicast (HTTP for every file). */
  httpOnly?: boolean;
  /** Overall limit for the whole package, ms. */
  timeoutMs?: number;
  /** Options passed through to every receive (interface, cache, retries, TLS, fallback watchdogs ...). */
  receive: Pick<ReceiveOptions, 'iface' | 'cacheBytes' | 'blockBase' | 'retries' | 'retryDelayMs' | 'mcastTimeoutMs' | 'minRateBytesPerSec' | 'minRateWindowMs' | 'ca' | 'insecure' | 'msiTries' | 'msiRetryMs' | 'inactivityMs' | 'initiation' | 'rpcPort' | 'rpcTimeoutMs' | 'preOs' | 'credentials'>;
}

export interface AcpDeps extends Pick<ReceiveDeps, 'signal' | 'onProgress' | 'lookup'> {
  log: Logger;
  receive: (o: ReceiveOptions, deps: ReceiveDeps) => Promise<Report>;
  now?: () => number;
}

export async function runAcp(o: AcpOptions, deps: AcpDeps): Promise<AcpReport> {
  const now = deps.now ?? Date.now;
  const log = deps.log;
  const t0 = now();
  const dest = path.resolve(o.destination);
  const rep: AcpReport = {
    status: 'error',
    exitCode: Exit.TRANSFER_FAILED,
    bytes: 0,
    sha256: '',
    seconds: 0,
    multicastBytes: 0,
    httpBytes: 0,
    droppedPackets: 0,
    drops: noDrops(),
    conflictingDuplicates: 0,
    packageId: o.packageId,
    destination: dest,
    files: 0,
    filesDone: 0,
  };
  const finish = (exitCode: number, failure?: { kind: FailureKind; error: string }): AcpReport => {
    rep.seconds = Math.round((now() - t0) / 10) / 100;
    rep.exitCode = exitCode;
    rep.status = exitCode === 0 ? 'ok' : 'error';
    if (failure) {
      rep.error = failure.error;
      rep.errorKind = failure.kind;
    }
    return rep;
  };
  /**
   * A failure the task sequence should answer with its own download: the kind's exit code (or the receive's),
   * never the abort code by accident.
   */
  const fallbackExit = (kind: FailureKind, error: string, code: number = EXIT_OF[kind]): AcpReport => {
    if (o.abortCode !== undefined && code === o.abortCode) {
      log.warn(`exit code ${code} equals abortCode; exiting 1 instead so that the task sequence still tries its own download`);
      code = Exit.ABORT_CODE_TAKEN;
    }
    return finish(code, { kind, error });
  };
  const deadline = o.timeoutMs ? t0 + o.timeoutMs : undefined;

  // ---- 1. the package URL, and its host's name once, before any request and before the folder is created: one
  // that does not resolve is said so (exit 3), without the retries meant for a DP that does not answer.
  let pkgUrl: string;
  try {
    pkgUrl = packageUrl(o.templates.http, o.packageId, o.server.host, o.templates.drive);
  } catch (e) {
    return fallbackExit('usage', (e as Error).message);
  }
  const davHost = new URL(pkgUrl).hostname.replace(/^\[(.*)\]$/, '$1');
  const resolved = await resolveHost(davHost, deps.lookup);
  if (!resolved.ok) return fallbackExit('no-session', `cannot resolve ${davHost}: ${resolved.message}`);

  // ---- 2. the destination folder
  try {
    fs.mkdirSync(dest, { recursive: true });
  } catch (e) {
    return fallbackExit('io', `cannot create ${dest}: ${(e as Error).message}`);
  }

  // ---- 3. the listing
  log.info(`package ${o.packageId}: listing ${redactUrl(pkgUrl)} (WebDAV PROPFIND, Depth: 1)`);
  let listing: PackageListing;
  try {
    listing = await enumeratePackage(pkgUrl, {
      ca: o.receive.ca,
      insecure: o.receive.insecure,
      retries: o.receive.retries,
      retryDelayMs: o.receive.retryDelayMs,
      log,
      signal: deps.signal,
    });
  } catch (e) {
    if (deps.signal?.aborted) return fallbackExit('interrupted', 'interrupted');
    if (e instanceof UnsafePathError) {
      log.error(`package ${o.packageId}: ${e.message}; nothing was written`);
      return fallbackExit('unsafe-path', `unsafe path in the package listing: ${e.message}`);
    }
    const msg = e instanceof DavError ? e.message : `PROPFIND ${redactUrl(pkgUrl)}: ${(e as Error).message}`;
    return fallbackExit('http', `cannot list package ${o.packageId}: ${msg}`);
  }
  rep.files = listing.files.length;
  const total = listing.files.reduce((a, f) => a + (f.size ?? 0), 0);
  log.info(`package ${o.packageId}: ${listing.files.length} files, ${listing.dirs.length} folders, ${total} bytes (${listing.requests} PROPFIND requests)`);

  // ---- 4. folders, then files
  const targets: { file: PackageFile; out: string }[] = [];
  try {
    for (const d of listing.dirs) fs.mkdirSync(joinInside(dest, d), { recursive: true });
    for (const f of listing.files) targets.push({ file: f, out: joinInside(dest, f.rel) });
  } catch (e) {
    if (e instanceof UnsafePathError) return fallbackExit('unsafe-path', e.message);
    return fallbackExit('io', `cannot create folders under ${dest}: ${(e as Error).message}`);
  }

  let multicast = !o.httpOnly;
  // Once RPC has been refused for this package, later files do not try it again (one failed logon of the network
  // access account per package, not one per file: account lockout).
  let initiation = o.receive.initiation;
  for (const [i, { file, out }] of targets.entries()) {
    const shownPath = file.rel.join('/');
    if (deps.signal?.aborted) return fallbackExit('interrupted', 'interrupted');
    if (file.size === 0) {
      try {
        fs.writeFileSync(out, Buffer.alloc(0));
      } catch (e) {
        return fallbackExit('io', `${out}: ${(e as Error).message}`);
      }
      rep.filesDone++;
      log.info(`file ${i + 1}/${targets.length} ${shownPath}: empty file written`);
      continue;
    }
    let timeoutMs: number | undefined;
    if (deadline !== undefined) {
      timeoutMs = deadline - now();
      if (timeoutMs <= 0) return fallbackExit('timeout', `--timeout of ${o.timeoutMs! / 1000} s reached before ${shownPath} (${i + 1} of ${targets.length})`);
    }
    const vars = { packageId: o.packageId, rel: file.rel, host: o.server.host, drive: o.templates.drive };
    const ro: ReceiveOptions = {
      ...o.receive,
      ...(initiation !== undefined ? { initiation } : {}),
      server: o.server.host,
      port: o.server.port,
      namespace: expandTemplate(o.templates.namespace, vars),
      content: expandTemplate(o.templates.content, vars),
      out,
      http: [file.url],
      httpOnly: !multicast,
      timeoutMs,
      // A failed file leaves no <out>.partial or <out>.osdcast: removed by the receive itself while it holds the
      // lock (removed here, after it returned, they could be another osdcast's by then, or were never this one's
      // when the lock was refused).
      discardOnFailure: true,
    };
    log.info(
      `file ${i + 1}/${targets.length} ${shownPath}${file.size !== undefined ? ` (${file.size} bytes)` : ''}: ${multicast ? `multicast ${ro.namespace} / ${ro.content}, HTTP fallback ${redactUrl(file.url)}` : `HTTP ${redactUrl(file.url)}`}`,
    );
    const r = await deps.receive(ro, { log, signal: deps.signal, onProgress: deps.onProgress, lookup: deps.lookup });
    rep.multicastBytes += r.multicastBytes;
    rep.httpBytes += r.httpBytes;
    rep.droppedPackets += r.droppedPackets;
    addDrops(rep.drops!, r.drops);
    rep.conflictingDuplicates! += r.conflictingDuplicates ?? 0;
    if (r.status !== 'ok') {
      const err = `${shownPath}: ${r.error ?? `exit ${r.exitCode}`}`;
      const kind = r.errorKind ?? 'internal';
      if (kind === 'kick-fail') {
        rep.aborted = true;
        if (o.abortCode !== undefined) {
          log.error(`the DP ended the session with KICK FAIL (no other means allowed): exiting with abortCode ${o.abortCode}, the task sequence will not download ${o.packageId} itself`);
          return finish(o.abortCode, { kind, error: err });
        }
        log.warn('the DP ended the session with KICK FAIL (no other means allowed), but osdcast.json has no "abortCode": exiting 4, so the task sequence will try its own download');
        return finish(Exit.TRANSFER_FAILED, { kind, error: err });
      }
      return fallbackExit(kind, err, r.exitCode);
    }
    if (file.size !== undefined && r.bytes !== file.size) {
      // The receive succeeded: its partial file became <out> and its state is gone; nothing else here is ours.
      return fallbackExit('incomplete', `${shownPath}: received ${r.bytes} bytes but the listing said ${file.size}`);
    }
    rep.bytes += r.bytes;
    rep.filesDone++;
    if (multicast && r.fallbackCause === 'auth-refused') {
      multicast = false;
      log.warn(`the DP refused the RPC authentication (${r.fallback}): the remaining files go over HTTP only, without another logon`);
    } else if (multicast && r.initiation === 'udp' && (initiation ?? DEFAULTS.initiation) === 'auto') {
      initiation = 'udp';
      log.info('the DP gave this file\'s session over UDP: the remaining files ask it over UDP only');
    }
    if (multicast && r.fallbackCause === 'unresolved') {
      multicast = false;
      log.warn(`the DP's name does not resolve (${r.fallback}): the remaining files go over HTTP only`);
    } else if (multicast && (r.fallbackCause === 'no-reply' || r.fallbackCause === 'no-route')) {
      multicast = false;
      log.warn(`the DP did not answer MS-WDSMSI (${r.fallback}): the remaining files go over HTTP only`);
    }
  }
  log.info(`package ${o.packageId}: all ${targets.length} files complete in ${dest} (${rep.multicastBytes} bytes multicast, ${rep.httpBytes} bytes HTTP)`);
  return finish(Exit.OK);
}
