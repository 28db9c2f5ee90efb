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
import * as net from 'node:net';
import * as path from 'node:path';

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

export interface OsdcastConfig {
  server?: string;
  abortCode?: number;
  namespaceTemplate?: string;
  contentTemplate?: string;
  httpTemplate?: string;
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

export const CONFIG_FILE_NAME = 'osdcast.json';
export const SERVER_ENV = 'OSDCAST_SERVER';
export const PE_CONTROL_KEY = 'HKLM\\SYSTEM\\CurrentControlSet\\Control';

// ---------------------------------------------------------------------------------------------------------------
// Server values

export interface ServerAddress {
  host: string;
  port?: number;
  server: string;
}

const HOST_LABEL = /^[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?$/;

function validHostName(h: string): boolean {
  const name = h.endsWith('.') ? h.slice(0, -1) : h;
  if (name.length === 0 || name.length > 253) return false;
  if (/^[0-9.]+$/.test(name)) return net.isIPv4(name); // all-numeric must be a real dotted quad
  return name.split('.').every((l) => HOST_LABEL.test(l));
}

function hostAndPort(host: string, port?: number): ServerAddress {
  const shown = host.includes(':') ? `[${host}]` : host;
  return { host, port, server: port === undefined ? host : `${shown}:${port}` };
}

function validHost(host: string): boolean {
  if (net.isIPv6(host)) return host !== '::';
  if (net.isIPv4(host)) return host !== '0.0.0.0' && host !== '255.255.255.255';
  return validHostName(host);
}

function parsePort(p: string): number | undefined {
  if (!/^\d{1,5}$/.test(p)) return undefined;
  const n = Number(p);
  return n >= 1 && n <= 65535 ? n : undefined;
}

/** A URL (scheme://host...) or a UNC path (\\host\share): the host, or undefined when it is neither / invalid. */
export function hostFromLocation(value: string): string | undefined {
  const v = value.trim();
  if (/^[A-Za-z][A-Za-z0-9+.-]*:\/\//.test(v)) {
    try {
      const u = new URL(v);
      let h = u.hostname;
      if (h.startsWith('[') && h.endsWith(']')) h = h.slice(1, -1);
      return h && validHost(h) ? h : undefined;
    } catch {
      return undefined;
    }
  }
  const unc = /^(?:\\\\|\/\/)([^\\/]+)[\\/]/.exec(v) ?? /^(?:\\\\|\/\/)([^\\/]+)$/.exec(v);
  if (unc) {
    const h = unc[1]!.replace(/@SSL(@\d+)?$/i, ''); // WebDAV form \\host@SSL\...
    return validHost(h) ? h : undefined;
  }
  return undefined;
}

/**
 * Accepts a host name, IPv4, IPv6 (bare or [v6]), any of them with :port, a URL or a UNC path. Returns undefined
 * for anything else (empty, spaces, drive paths such as "C:\x", 0.0.0.0 ...).
 */
export function normalizeServer(value: string): ServerAddress | undefined {
  let v = value.trim();
  if (v.length >= 2 && ((v.startsWith('"') && v.endsWith('"')) || (v.startsWith("'") && v.endsWith("'")))) v = v.slice(1, -1).trim();
  if (v === '' || /\s/.test(v)) return undefined;
  const loc = hostFromLocation(v);
  if (loc !== undefined) return hostAndPort(loc);
  if (/^(?:\\\\|\/\/|[A-Za-z][A-Za-z0-9+.-]*:\/\/)/.test(v)) return undefined; // a URL/UNC that did not parse
  const bracket = /^\[([^\]]+)\](?::(\d+))?$/.exec(v);
  if (bracket) {
    const port = bracket[2] === undefined ? undefined : parsePort(bracket[2]);
    if (bracket[2] !== undefined && port === undefined) return undefined;
    return net.isIPv6(bracket[1]!) && bracket[1] !== '::' ? hostAndPort(bracket[1]!, port) : undefined;
  }
  if (net.isIPv6(v)) return v === '::' ? undefined : hostAndPort(v);
  const hp = /^([^:]+)(?::([^:]*))?$/.exec(v);
  if (!hp) return undefined;
  const port = hp[2] === undefined ? undefined : parsePort(hp[2]);
  if (hp[2] !== undefined && port === undefined) return undefined;
  return validHost(hp[1]!) ? hostAndPort(hp[1]!, port) : undefined;
}

// ---------------------------------------------------------------------------------------------------------------
// Text files written by Windows tools

/** UTF-16LE/BE (with BOM, or LE without BOM when it looks like it), UTF-8 with or without BOM, else Latin-1. */
export function decodeTextFile(buf: Buffer): string {
  if (buf.length >= 2 && buf[0] === 0xff && buf[1] === 0xfe) return buf.subarray(2).toString('utf16le');
  if (buf.length >= 2 && buf[0] === 0xfe && buf[1] === 0xff) {
    const b = Buffer.from(buf.subarray(2));
    b.swap16();
    return b.toString('utf16le');
  }
  if (buf.length >= 3 && buf[0] === 0xef && buf[1] === 0xbb && buf[2] === 0xbf) return buf.subarray(3).toString('utf8');
  if (buf.length >= 4 && buf.length % 2 === 0) {
    let oddZeros = 0;
    for (let i = 1; i < buf.length; i += 2) if (buf[i] === 0) oddZeros++;
    if (oddZeros >= (buf.length / 2) * 0.9) return buf.toString('utf16le');
  }
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(buf);
  } catch {
    return buf.toString('latin1');
  }
}

// ---------------------------------------------------------------------------------------------------------------
// ACP INI

export interface IniEntry {
  section: string;
  key: string;
  value: string;
  line: number;
}

/** A forgiving INI reader: [Section], key=value (or key: value), ';'/'#' comments, surrounding quotes removed. */
export function parseIni(text: string): IniEntry[] {
  const out: IniEntry[] = [];
  let section = '';
  const lines = text.replace(/^\uFEFF/, '').split(/\r\n|\r|\n/);
  lines.forEach((raw, i) => {
    const line = raw.trim();
    if (line === '' || line.startsWith(';') || line.startsWith('#')) return;
    const sec = /^\[([^\]]*)\]$/.exec(line);
    if (sec) {
      section = sec[1]!.trim();
      return;
    }
    const eq = line.indexOf('=');
    if (eq <= 0) return;
    const key = line.slice(0, eq).trim();
    let value = line.slice(eq + 1).trim();
    if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) value = value.slice(1, -1);
    out.push({ section, key, value, line: i + 1 });
  });
  return out;
}

const SERVER_KEY =
  /^(?:server|servername|dp|dpname|dpserver|dphost|distributionpoint|distributionpointname|multicastserver|mcsserver|contentserver|siteserver|host|hostname|osdcastserver)$|server/i;
const LOCATION_KEY = /url|location|source|path|^dps$|^dplist$/i;

export interface IniServer {
  address: ServerAddress;
  section: string;
  key: string;
  raw: string;
  candidates: string[];
}

function splitList(value: string): string[] {
  return value
    .split(/[;,|]/)
    .map((s) => s.trim())
    .filter((s) => s !== '');
}

/** The server named by an ACP INI, following the key rules in the module comment; undefined if none. */
export function findServerInIni(text: string): IniServer | undefined {
  const entries = parseIni(text);
  const pick = (kind: 'server' | 'location'): IniServer | undefined => {
    for (const e of entries) {
      const isServer = SERVER_KEY.test(e.key);
      if (kind === 'server' ? !isServer : isServer || !LOCATION_KEY.test(e.key)) continue;
      const addrs = splitList(e.value)
        .map((v) => (kind === 'server' ? normalizeServer(v) : ((h) => (h ? hostAndPort(h) : undefined))(hostFromLocation(v))))
        .filter((a): a is ServerAddress => a !== undefined);
      if (addrs.length > 0) {
        return { address: addrs[0]!, section: e.section, key: e.key, raw: e.value, candidates: addrs.map((a) => a.server) };
      }
    }
    return undefined;
  };
  return pick('server') ?? pick('location');
}

// ---------------------------------------------------------------------------------------------------------------
// osdcast.json

export class ConfigError extends Error {}

const CONFIG_KEYS = ['server', 'abortCode', 'namespaceTemplate', 'contentTemplate', 'httpTemplate'] as const;

/**
 * Validates osdcast.json. Throws ConfigError for JSON syntax errors and wrong types; unknown keys are warnings
 * (a newer file on an older binary should still work).
 */
export function parseOsdcastConfig(text: string, source: string = CONFIG_FILE_NAME): { config: OsdcastConfig; warnings: string[] } {
  let raw: unknown;
  try {
    raw = JSON.parse(text.replace(/^\uFEFF/, ''));
  } catch (e) {
    throw new ConfigError(`${source}: not valid JSON (${(e as Error).message})`);
  }
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) throw new ConfigError(`${source}: must be a JSON object`);
  const obj = raw as Record<string, unknown>;
  const config: OsdcastConfig = {};
  const warnings: string[] = [];
  for (const k of Object.keys(obj)) {
    if (!(CONFIG_KEYS as readonly string[]).includes(k)) warnings.push(`${source}: unknown key "${k}" ignored`);
  }
  if (obj.server !== undefined) {
    if (typeof obj.server !== 'string' || !normalizeServer(obj.server)) {
      throw new ConfigError(`${source}: "server" must be a host name, IP address, host:port or URL, got ${JSON.stringify(obj.server)}`);
    }
    config.server = obj.server.trim();
  }
  if (obj.abortCode !== undefined) {
    const c = obj.abortCode;
    if (typeof c !== 'number' || !Number.isInteger(c) || c < 1 || c > 0x7fffffff) {
      throw new ConfigError(`${source}: "abortCode" must be an integer from 1 to 2147483647, got ${JSON.stringify(c)}`);
    }
    config.abortCode = c;
  }
  for (const k of ['namespaceTemplate', 'contentTemplate', 'httpTemplate'] as const) {
    const v = obj[k];
    if (v === undefined) continue;
    if (typeof v !== 'string' || v.trim() === '') throw new ConfigError(`${source}: "${k}" must be a non-empty string`);
    config[k] = v;
  }
  return { config, warnings };
}

// ---------------------------------------------------------------------------------------------------------------
// reg query

export interface RegValue {
  name: string;
  type: string;
  data: string;
}

/**
 * Parses the text `reg query <key> [/v name]` prints:
 *
 *   (blank line)
 *   HKEY_LOCAL_MACHINE\SYSTEM\CurrentControlSet\Control
 *       PEBootServerAddr    REG_SZ    10.20.30.40
 *   (blank line)
 *
 * Value lines are indented; name, type and data are separated by four spaces; the data may be empty.
 */
export function parseRegQuery(stdout: string): { key?: string; values: RegValue[] } {
  let key: string | undefined;
  const values: RegValue[] = [];
  for (const raw of stdout.split(/\r\n|\r|\n/)) {
    if (/^HKEY_/i.test(raw)) {
      key = raw.trim();
      continue;
    }
    const m = /^\s+(.*?)\s{2,}(REG_[A-Z0-9_]+)(?:\s{1,4}(.*))?$/.exec(raw);
    if (m) values.push({ name: m[1]!, type: m[2]!, data: (m[3] ?? '').replace(/\s+$/, '') });
  }
  return { key, values };
}

export const defaultRunCommand: CommandRunner = (file, args) => {
  const r = spawnSync(file, args as string[], { encoding: 'utf8', windowsHide: true, timeout: 15_000 });
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

function envLookup(env: Record<string, string | undefined>, name: string): string | undefined {
  if (env[name] !== undefined) return env[name];
  const lower = name.toLowerCase();
  for (const [k, v] of Object.entries(env)) if (k.toLowerCase() === lower) return v;
  return undefined;
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
      const text = decodeTextFile(readFile(file));
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
      const s = findServerInIni(decodeTextFile(readFile(inputs.acpIniPath)));
      if (s) return found(s.address, 'acp-ini', `${inputs.acpIniPath} [${s.section}] ${s.key}`, s.raw, s.candidates);
      note('acp-ini', inputs.acpIniPath, 'absent', 'no server, DP or URL key with a usable value');
    } catch (e) {
      note('acp-ini', inputs.acpIniPath, 'error', (e as Error).message);
    }
  } else {
    note('acp-ini', '(no INI argument)', 'skipped');
  }

  // 3. OSDCAST_SERVER
  const ev = envLookup(env, SERVER_ENV);
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
