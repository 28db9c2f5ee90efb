/**
 * Which distribution point / WDS server to talk to. Sources are tried in a fixed order and the first usable one
 * wins; every source consulted is reported (with what it gave) so the caller can log how the choice was made:
 *
 *   1. `--server` on the command line                       source 'flag'
 *   2. the ACP INI file (first argument when the task sequence runs osdcast as SMSTSDownloadProgram)
 *                                                          source 'acp-ini'
 *   3. environment variable OSDCAST_SERVER                  source 'env'
 *   4. osdcast.json beside the binary ("server")            source 'config-file'
 *   5. WinPE booted from PXE: HKLM\SYSTEM\CurrentControlSet\Control PEBootServerAddr (then PEBootServerName),
 *      read with `reg query`                               source 'pxe-registry'
 *
 * An invalid `--server` stops the chain (the operator asked for something specific; guessing another server would
 * hide the typo). Anything invalid further down is reported and skipped.
 *
 * The ACP INI (X:\Windows\TEMP\SMSTSDownload.INI) is written by the task sequence engine and its layout is not
 * published. We read it as a plain INI file (any section; ';' and '#' comments; UTF-16 or UTF-8, with or without
 * BOM) and accept, in this order:
 *   a) keys that name a server: Server, ServerName, DP, DPName, DPServer, DPHost, DistributionPoint[Name],
 *      MulticastServer, MCSServer, ContentServer, SiteServer, Host, HostName, OsdcastServer, and any other key
 *      containing "server". Value: host name, IPv4, IPv6, host:port, a URL or a UNC path.
 *   b) keys that hold a location: any key containing "url", "location", "source", "path", or named DPs/DPList.
 *      Only a URL (http(s)://host/...) or a UNC path (\\host\share\...) counts; a bare word could be a folder.
 * A value may list several entries separated by ';', ',' or '|': the first valid one is used and all are
 * reported as candidates. From a URL or UNC path only the host name is taken.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { normalizeServer, ServerAddress } from '../transport/address';
import { childEnv, envValue } from '../util/env';
import { decodeWindowsText } from '../util/text';
import { findServerInIni } from './acp-ini';
import { parseRegQuery } from './reg-query';
import { CONFIG_FILE_NAME, OsdcastConfig, parseOsdcastConfig } from './config';

export type DiscoverySource = 'flag' | 'acp-ini' | 'env' | 'config-file' | 'pxe-registry';

export interface DiscoveredServer {
  /** host, or host:port ([v6]:port) when a port was given explicitly (not taken from a URL). */
  server: string;
  host: string;
  port?: number;
  source: DiscoverySource;
  /** Where exactly: "--server", "X:\...\SMSTSDownload.INI [Download] DPServer", "OSDCAST_SERVER", a file path, a registry value. */
  detail: string;
  /** The raw text the server came from. */
  raw: string;
  /** Further servers the same source listed (ACP INI lists), in order, including the chosen one. */
  candidates?: string[];
}

export type AttemptOutcome = 'found' | 'absent' | 'invalid' | 'error' | 'skipped';

export interface DiscoveryAttempt {
  source: DiscoverySource;
  detail: string;
  outcome: AttemptOutcome;
  message?: string;
}

export interface DiscoveryResult {
  found?: DiscoveredServer;
  /** Every source consulted, in order: log these. */
  attempts: DiscoveryAttempt[];
  /** Set when the chain stopped on an error the operator must fix (an invalid --server). */
  error?: string;
  /** osdcast.json beside the binary, when present and valid (read even when an earlier source wins). */
  config?: OsdcastConfig;
  configPath?: string;
  configWarnings?: string[];
  configError?: string;
}

export interface CommandResult {
  status: number | null;
  stdout: string;
  stderr: string;
  error?: Error;
}
export type CommandRunner = (file: string, args: readonly string[]) => CommandResult;

export interface DiscoveryInputs {
  serverFlag?: string;
  acpIniPath?: string;
  env?: Record<string, string | undefined>;
  /** Folder searched for osdcast.json (normally the binary's folder, see defaultExeDir()); undefined skips it. */
  exeDir?: string;
  platform?: NodeJS.Platform;
  runCommand?: CommandRunner;
  readFile?: (file: string) => Buffer;
}

export const SERVER_ENV = 'OSDCAST_SERVER';
export const PE_CONTROL_KEY = 'HKLM\\SYSTEM\\CurrentControlSet\\Control';

/**
 * WinPE: the key MiniNT under HKLM\SYSTEM\CurrentControlSet\Control exists (`reg query` exits 0). Decides
 * WDSMC_CLIENT_CAP_BOOT_DEVICE in the MS-WDSC request (MS-WDSMSI 3.1.5.1.1). Never true off Windows.
 */
export function isWinPE(run: CommandRunner = defaultRunCommand, platform: NodeJS.Platform = process.platform): boolean {
  if (platform !== 'win32') return false;
  const r = run('reg', ['query', `${PE_CONTROL_KEY}\\MiniNT`]);
  return !r.error && r.status === 0;
}

// ---------------------------------------------------------------------------------------------------------------
// reg query

export const defaultRunCommand: CommandRunner = (file, args) => {
  const r = spawnSync(file, args as string[], { encoding: 'utf8', windowsHide: true, timeout: 15_000, env: childEnv(process.env) });
  return { status: r.status, stdout: r.stdout ?? '', stderr: r.stderr ?? '', error: r.error };
};

export interface PxeBootServer {
  address: ServerAddress;
  valueName: string;
  raw: string;
}

/** Reads PEBootServerAddr, then PEBootServerName, with `reg query`. Returns the attempt messages too. */
export function readPxeBootServer(run: CommandRunner): { found?: PxeBootServer; notes: string[] } {
  const notes: string[] = [];
  for (const valueName of ['PEBootServerAddr', 'PEBootServerName']) {
    const r = run('reg', ['query', PE_CONTROL_KEY, '/v', valueName]);
    if (r.error) {
      notes.push(`reg query ${valueName}: ${r.error.message}`);
      continue;
    }
    if (r.status !== 0) {
      notes.push(`${valueName}: not present (reg exit ${r.status}${r.stderr.trim() ? `: ${r.stderr.trim()}` : ''})`);
      continue;
    }
    const v = parseRegQuery(r.stdout).values.find((x) => x.name.toLowerCase() === valueName.toLowerCase());
    if (!v) {
      notes.push(`${valueName}: not in reg output`);
      continue;
    }
    const address = normalizeServer(v.data);
    if (!address) {
      notes.push(`${valueName}: unusable value ${JSON.stringify(v.data)}`);
      continue;
    }
    return { found: { address, valueName, raw: v.data }, notes };
  }
  return { notes };
}

// ---------------------------------------------------------------------------------------------------------------
// The chain

/**
 * The folder osdcast.json is looked up in: the executable's folder for the single binary, the script's folder
 * when run as `node dist/osdcast.cjs`.
 */
export function defaultExeDir(): string {
  let sea = false;
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    sea = (require('node:sea') as { isSea(): boolean }).isSea();
  } catch {
    sea = false;
  }
  return path.dirname(sea || !process.argv[1] ? process.execPath : path.resolve(process.argv[1]));
}

export function discoverServer(inputs: DiscoveryInputs): DiscoveryResult {
  const env = inputs.env ?? process.env;
  const platform = inputs.platform ?? process.platform;
  const readFile = inputs.readFile ?? ((f: string) => fs.readFileSync(f));
  const run = inputs.runCommand ?? defaultRunCommand;
  const result: DiscoveryResult = { attempts: [] };
  const note = (source: DiscoverySource, detail: string, outcome: AttemptOutcome, message?: string): void => {
    result.attempts.push(message === undefined ? { source, detail, outcome } : { source, detail, outcome, message });
  };
  const found = (a: ServerAddress, source: DiscoverySource, detail: string, raw: string, candidates?: string[]): DiscoveryResult => {
    result.found = { server: a.server, host: a.host, ...(a.port !== undefined ? { port: a.port } : {}), source, detail, raw, ...(candidates ? { candidates } : {}) };
    note(source, detail, 'found', a.server);
    return result;
  };

  // osdcast.json is read whichever source wins: it also carries abortCode and the templates.
  let configServer: string | undefined;
  if (inputs.exeDir !== undefined) {
    const file = (/^[A-Za-z]:|\\/.test(inputs.exeDir) ? path.win32 : path).join(inputs.exeDir, CONFIG_FILE_NAME);
    result.configPath = file;
    try {
      const text = decodeWindowsText(readFile(file));
      try {
        const { config, warnings } = parseOsdcastConfig(text, file);
        result.config = config;
        result.configWarnings = warnings;
        configServer = config.server;
      } catch (e) {
        result.configError = (e as Error).message;
      }
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT' && code !== 'ENOTDIR') result.configError = `${file}: ${(e as Error).message}`;
    }
  }

  // 1. --server
  if (inputs.serverFlag !== undefined) {
    const a = normalizeServer(inputs.serverFlag);
    if (!a) {
      const msg = `--server ${JSON.stringify(inputs.serverFlag)} is not a host name, IP address, host:port or URL`;
      note('flag', '--server', 'invalid', msg);
      result.error = msg;
      return result;
    }
    return found(a, 'flag', '--server', inputs.serverFlag);
  }
  note('flag', '--server', 'absent');

  // 2. ACP INI
  if (inputs.acpIniPath !== undefined) {
    try {
      const s = findServerInIni(decodeWindowsText(readFile(inputs.acpIniPath)));
      if (s) return found(s.address, 'acp-ini', `${inputs.acpIniPath} [${s.section}] ${s.key}`, s.raw, s.candidates);
      note('acp-ini', inputs.acpIniPath, 'absent', 'no server, DP or URL key with a usable value');
    } catch (e) {
      note('acp-ini', inputs.acpIniPath, 'error', (e as Error).message);
    }
  } else {
    note('acp-ini', '(no INI argument)', 'skipped');
  }

  // 3. OSDCAST_SERVER
  const ev = envValue(env, SERVER_ENV);
  if (ev !== undefined && ev.trim() !== '') {
    const a = normalizeServer(ev);
    if (a) return found(a, 'env', SERVER_ENV, ev);
    note('env', SERVER_ENV, 'invalid', `unusable value ${JSON.stringify(ev)}`);
  } else {
    note('env', SERVER_ENV, 'absent');
  }

  // 4. osdcast.json
  if (result.configPath === undefined) note('config-file', CONFIG_FILE_NAME, 'skipped', 'no folder given');
  else if (result.configError) note('config-file', result.configPath, 'invalid', result.configError);
  else if (configServer !== undefined) return found(normalizeServer(configServer)!, 'config-file', result.configPath, configServer);
  else note('config-file', result.configPath, 'absent', result.config ? 'no "server" key' : 'file not found');

  // 5. PXE boot server (WinPE)
  const regDetail = `${PE_CONTROL_KEY}\\PEBootServerAddr`;
  if (platform !== 'win32') {
    note('pxe-registry', regDetail, 'skipped', 'not Windows');
  } else {
    const { found: pxe, notes } = readPxeBootServer(run);
    if (pxe) return found(pxe.address, 'pxe-registry', `${PE_CONTROL_KEY}\\${pxe.valueName}`, pxe.raw);
    note('pxe-registry', regDetail, 'absent', notes.join('; '));
  }
  return result;
}

/** One line per attempt, for logs: "flag --server: absent", "acp-ini X:\...INI [Download] DP: found dp01". */
export function describeAttempts(attempts: readonly DiscoveryAttempt[]): string[] {
  return attempts.map((a) => `${a.source} ${a.detail}: ${a.outcome}${a.message ? ` (${a.message})` : ''}`);
}
