/**
 * The option table: every command-line flag of `receive` and `acp`, declared once. An entry says how the flag is
 * written, which commands have it, its help text, the unit the user writes it in, its parser and its default;
 * `feeds` names the ReceiveOptions field it ends up in. Values are converted here, at the edge: a duration given in
 * seconds is held in ms, a size in MiB in bytes, a rate in MB/s in bytes/s; nothing behind the CLI sees seconds,
 * MiB or MB/s. Defaults come from defaults.ts (the one place they are spelled). cli.ts builds commander options
 * from this table (commanderOption) in its order, grouped under the headings below.
 * Over ~450 lines on purpose: it is the one table of every flag (about 35 entries, each a few lines of help and
 * parsing); split, a flag's declaration would no longer be in one place.
 */
import { constants as bufferConstants } from 'node:buffer';
import os from 'node:os';
import { InvalidArgumentError, Option } from 'commander';
import { MSI_PORT } from '../core/codec/msi';
import { DEFAULTS, MiB } from './defaults';
import { TS_VAR_FIELDS } from './configmgr/tsenv';
import type { LogFormat } from './log/log';
import type { InitiationMethod } from './receive/initiate';
import type { ReceiveOptions } from './receive/receive';
import { parseServerAddress } from './transport/address';
import { readCaFile } from './transport/tls';
import { redactUrl } from './util/url';

export const COMMANDS = ['receive', 'acp'] as const;
/** receive's two sources: a WDS/ConfigMgr DP, or a udpcast udp-sender (--udpcast). */
export type ReceiveMode = 'wds' | 'udpcast';
export type CommandName = (typeof COMMANDS)[number];
const BOTH = COMMANDS;

/**
 * How a value is written. The converting units say what the program holds instead (and the factor); the others
 * are taken as they are (after validation).
 */
export const CONVERSIONS = {
  seconds: { held: 'ms', factor: 1000, suffix: 'Ms' },
  MiB: { held: 'bytes', factor: MiB, suffix: 'Bytes' },
  'MB/s': { held: 'bytes/s', factor: 1e6, suffix: 'BytesPerSec' },
} as const;
export type Unit = keyof typeof CONVERSIONS | 'count' | 'switch' | 'text' | 'choice' | 'path' | 'url' | 'address' | 'hex' | 'mapping';

export interface FlagSpec<T> {
  /** As commander takes it: "--cache <MiB>". */
  flags: string;
  commands: readonly CommandName[];
  /** Help heading the flag is listed under. */
  group: string;
  /** One text, or one per command when the flag means slightly different things. */
  help: string | Readonly<Record<CommandName, string>>;
  unit: Unit;
  /** Validates and converts (to ms / bytes for the converting units); throws InvalidArgumentError with one line. */
  parse?: (value: string, previous: T | undefined) => T;
  choices?: readonly string[];
  /** value: what the program holds when the flag is absent (none: undefined); shown: how --help and the README say it. */
  default: { value?: T; shown: string };
  /**
   * Required (with `mode`: required in that mode only, checked by cli.ts; without: commander checks it).
   */
  required?: boolean;
  /**
   * receive: the flag belongs to one source. 'wds' flags (the DP, its session initiation) are usage errors with
   * --udpcast; 'udpcast' flags are usage errors without it. Absent: both.
   */
  mode?: ReceiveMode;
  /** The ReceiveOptions field this flag sets (receive, and each file of acp). */
  feeds?: keyof ReceiveOptions;
}

const flag = <T = string>(s: FlagSpec<T>): FlagSpec<T> => s;

const bad = (msg: string) => new InvalidArgumentError(msg);

/**
 * A number written in `unit`, checked in that unit (message in the user's terms), returned converted.
 * min is inclusive when `atLeast`, exclusive otherwise.
 */
function numeric(name: string, unit: Unit, o: { integer?: boolean; min: number; atLeast: boolean; note?: string }) {
  const factor = unit in CONVERSIONS ? CONVERSIONS[unit as keyof typeof CONVERSIONS].factor : 1;
  return (v: string): number => {
    const n = Number(v);
    const ok = v.trim() !== '' && Number.isFinite(n) && (!o.integer || Number.isInteger(n)) && (o.atLeast ? n >= o.min : n > o.min);
    if (!ok) {
      const what = `${o.integer ? 'whole ' : ''}number${o.note ? ` of ${o.note}` : ''}`;
      throw bad(`${name} must be a ${what} ${o.atLeast ? '>=' : '>'} ${o.min}${o.note === 'MiB' && o.min === 0 ? ' (0: never rotate)' : ''}, got "${v}"`);
    }
    return factor === 1 ? n : Math.round(n * factor);
  };
}

/** A text flag that must say something (an empty namespace or content name only fails later, at the DP). */
function nonEmpty(name: string) {
  return (v: string): string => {
    if (v.trim() === '') throw bad(`${name} must not be empty`);
    return v;
  };
}

/**
 * The largest --cache: the ring is one Buffer (at most Node's buffer.constants.MAX_LENGTH), and it must leave the
 * machine half of its memory (WinPE runs from a RAM disk).
 */
export function cacheLimit(total = os.totalmem(), maxBuffer = bufferConstants.MAX_LENGTH): { bytes: number; why: string } {
  const half = Math.floor(total / 2);
  return maxBuffer <= half ? { bytes: maxBuffer, why: "Node's largest Buffer" } : { bytes: half, why: "half of this machine's memory" };
}

function cacheArg(v: string): number {
  const bytes = numeric('--cache', 'MiB', { integer: true, min: 1, atLeast: true })(v);
  const lim = cacheLimit();
  if (bytes > lim.bytes) throw bad(`--cache must be at most ${Math.floor(lim.bytes / MiB)} MiB (${lim.why}), got "${v}"`);
  return bytes;
}

export interface ServerFlag {
  host: string;
  port: number;
}

export function parseServer(v: string): ServerFlag {
  const r = parseServerAddress(v);
  if (r.ok) return { host: r.address.host, port: r.address.port ?? MSI_PORT };
  if (r.badPort !== undefined) throw bad(`port in --server must be 1..65535, got "${r.badPort}"`);
  throw bad(`--server must be <host>[:<port>] (a host name, IP address or URL), got "${v}"`);
}

/** An http(s) URL for `flag`, or a usage error naming it. */
function checkedHttpUrl(flag: string, v: string): string {
  let u: URL | undefined;
  try {
    u = new URL(v);
  } catch {
    u = undefined;
  }
  if (!u || (u.protocol !== 'http:' && u.protocol !== 'https:')) throw bad(`${flag} must be an http:// or https:// URL, got "${redactUrl(v)}"`);
  return v;
}

function httpUrl(v: string, prev: string[] = []): string[] {
  return [...prev, checkedHttpUrl('--http', v)];
}

function sha256Arg(v: string): string {
  if (!/^[0-9a-fA-F]{64}$/.test(v)) throw bad(`--sha256 must be 64 hex digits, got "${v}"`);
  return v.toLowerCase();
}

function caFile(v: string): Buffer {
  try {
    return readCaFile(v);
  } catch (e) {
    throw bad(`--ca ${v}: ${(e as Error).message}`);
  }
}

function blockBase(v: string): 'auto' | 0 | 1 {
  if (v === 'auto') return 'auto';
  if (v === '0' || v === '1') return Number(v) as 0 | 1;
  throw bad(`--block-base must be auto, 0 or 1, got "${v}"`);
}

const collect = (v: string, prev: string[] = []): string[] => [...prev, v];

function rpcPort(v: string): number {
  const n = Number(v);
  if (!/^\d+$/.test(v.trim()) || n < 1 || n > 65535) throw bad(`--rpc-port must be 1..65535, got "${v}"`);
  return n;
}

/** DOMAIN\name, name@domain or name; checked here, split where the credentials are put together. */
function userArg(v: string): string {
  if (!/^([^\\@]+\\)?[^\\@]+(@[^\\@]+)?$/.test(v) || v.includes('\\') && v.includes('@')) throw bad(`--user must be DOMAIN\\name, name@domain or name, got "${v}"`);
  return v;
}

/** --portbase: the receivers' port P (the sender's is P+1), even, so 2..65534. */
function portbaseArg(v: string): number {
  const n = Number(v);
  if (!/^\d+$/.test(v.trim()) || n < 2 || n > 65534 || n % 2 !== 0) throw bad(`--portbase must be an even port 2..65534 (the sender uses the next one), got "${v}"`);
  return n;
}

/** A dotted IPv4 address (udpcast is IPv4 only). */
export function ipv4Arg(name: string) {
  return (v: string): string => {
    const parts = v.split('.');
    if (parts.length !== 4 || parts.some((p) => !/^\d{1,3}$/.test(p) || Number(p) > 255)) throw bad(`${name} must be an IPv4 address, got "${v}"`);
    return parts.map(Number).join('.');
  };
}

/** Report fields --ts-var may copy, per command (acp adds the package's). */
export const TS_FIELDS: Readonly<Record<CommandName, readonly string[]>> = {
  receive: TS_VAR_FIELDS,
  acp: [...TS_VAR_FIELDS, 'files', 'filesDone', 'packageId', 'destination'],
};

const G = {
  what: 'What to receive:',
  net: 'Network:',
  fallback: 'HTTP fallback:',
  tls: 'Integrity and HTTPS:',
  init: 'Session initiation:',
  udpcast: 'udpcast (FOG, Clonezilla):',
  out: 'Report and logs:',
} as const;

export const FLAGS = {
  server: flag<ServerFlag>({
    flags: '--server <host[:port]>',
    commands: BOTH,
    group: G.what,
    unit: 'address',
    help: {
      receive: `distribution point (the port is the MS-WDSMSI UDP one, default ${MSI_PORT}; RPC uses --rpc-port); found by discovery when absent (see below); not needed with --http-only`,
      acp: `distribution point (the port is the MS-WDSMSI UDP one, default ${MSI_PORT}; RPC uses --rpc-port); overrides discovery (see below)`,
    },
    parse: parseServer,
    default: { shown: `port ${MSI_PORT}` },
    mode: 'wds',
  }),
  namespace: flag({
    flags: '--namespace <ns>',
    commands: ['receive'],
    group: G.what,
    unit: 'text',
    help: 'multicast namespace, e.g. "WDS:Group/install.wim/1" or the ConfigMgr namespace of the package',
    parse: nonEmpty('--namespace'),
    required: true,
    mode: 'wds',
    default: { shown: 'required' },
    feeds: 'namespace',
  }),
  content: flag({
    flags: '--content <name>',
    commands: ['receive'],
    group: G.what,
    unit: 'text',
    help: 'content name inside the namespace, e.g. "install.wim"',
    parse: nonEmpty('--content'),
    required: true,
    mode: 'wds',
    default: { shown: 'required' },
    feeds: 'content',
  }),
  out: flag({
    flags: '--out <path>',
    commands: ['receive'],
    group: G.what,
    unit: 'path',
    help: 'output file; data is written to <path>.partial and renamed only when complete (with --udpcast, - writes the image in order to stdout)',
    parse: nonEmpty('--out'),
    required: true,
    default: { shown: 'required' },
    feeds: 'out',
  }),
  http: flag<string[]>({
    flags: '--http <url>',
    commands: ['receive'],
    group: G.what,
    unit: 'url',
    help: 'HTTP(S) URL of the same content on the DP, e.g. http://dp01/SMS_DP_SMSPKG$/P0100023/install.wim; repeat for fail-over (tried in order)',
    parse: httpUrl,
    default: { shown: 'none' },
    feeds: 'http',
  }),
  httpOnly: flag<boolean>({
    flags: '--http-only',
    commands: BOTH,
    group: G.what,
    unit: 'switch',
    help: { receive: 'skip multicast and download over HTTP(S) only', acp: 'skip multicast: every file over HTTP(S) from the DP' },
    default: { shown: 'off' },
    feeds: 'httpOnly',
    mode: 'wds',
  }),
  interface: flag({
    flags: '--interface <address>',
    commands: BOTH,
    group: G.net,
    unit: 'address',
    help: 'local IPv4 address for the multicast join and unicast replies (default: the route to the server; required with --udpcast)',
    default: { shown: 'the route to the server' },
    feeds: 'iface',
  }),
  cache: flag<number>({
    flags: '--cache <MiB>',
    commands: BOTH,
    group: G.net,
    unit: 'MiB',
    help: "memory ring between network and disk, in MiB (fixed; never grows with image size; at most half of this machine's memory and Node's largest Buffer)",
    parse: cacheArg,
    default: { value: DEFAULTS.cacheBytes, shown: `${DEFAULTS.cacheBytes / CONVERSIONS.MiB.factor} MiB` },
    feeds: 'cacheBytes',
  }),
  blockBase: flag<'auto' | 0 | 1>({
    flags: '--block-base <auto|0|1>',
    commands: BOTH,
    group: G.net,
    unit: 'choice',
    help: 'block numbering of the server (MS-WDSMA is ambiguous; auto detects it)',
    parse: blockBase,
    default: { value: DEFAULTS.blockBase, shown: DEFAULTS.blockBase },
    feeds: 'blockBase',
    mode: 'wds',
  }),
  retries: flag<number>({
    flags: '--retries <n>',
    commands: BOTH,
    group: G.net,
    unit: 'count',
    help: 'retries of each session attempt (RPC or UDP) that got no answer, and of each HTTP request (ConfigMgr SMSTSDownloadRetryCount)',
    parse: numeric('--retries', 'count', { integer: true, min: 0, atLeast: true }),
    default: { value: DEFAULTS.retries, shown: String(DEFAULTS.retries) },
    feeds: 'retries',
  }),
  retryDelay: flag<number>({
    flags: '--retry-delay <seconds>',
    commands: BOTH,
    group: G.net,
    unit: 'seconds',
    help: 'wait between retries (ConfigMgr SMSTSDownloadRetryDelay)',
    parse: numeric('--retry-delay', 'seconds', { min: 0, atLeast: false }),
    default: { value: DEFAULTS.retryDelayMs, shown: `${DEFAULTS.retryDelayMs / 1000} s` },
    feeds: 'retryDelayMs',
  }),
  timeout: flag<number>({
    flags: '--timeout <seconds>',
    commands: BOTH,
    group: G.net,
    unit: 'seconds',
    help: {
      receive: "give up after this many seconds in total (default: no limit; the protocol's 30 s inactivity limit applies separately)",
      acp: 'give up after this many seconds for the whole package (default: no limit)',
    },
    parse: numeric('--timeout', 'seconds', { min: 0, atLeast: false }),
    default: { shown: 'none' },
    feeds: 'timeoutMs',
  }),
  initiation: flag<InitiationMethod>({
    flags: '--initiation <method>',
    commands: BOTH,
    group: G.init,
    unit: 'choice',
    help: 'how to ask the DP for the session: rpc (MS-WDSC over TCP, Windows Server 2016+), udp (MS-WDSMSI on the --server port, Server 2008 R2-2012 R2) or auto (rpc, then udp)',
    choices: ['auto', 'rpc', 'udp'],
    default: { value: DEFAULTS.initiation, shown: DEFAULTS.initiation },
    feeds: 'initiation',
    mode: 'wds',
  }),
  rpcPort: flag<number>({
    flags: '--rpc-port <n>',
    commands: BOTH,
    group: G.init,
    unit: 'count',
    help: "the DP's WDS RPC port; when it refuses, the endpoint mapper on TCP 135 is asked",
    parse: rpcPort,
    default: { value: DEFAULTS.rpcPort, shown: String(DEFAULTS.rpcPort) },
    feeds: 'rpcPort',
    mode: 'wds',
  }),
  rpcTimeout: flag<number>({
    flags: '--rpc-timeout <seconds>',
    commands: BOTH,
    group: G.init,
    unit: 'seconds',
    help: 'bound on each RPC connect and call',
    parse: numeric('--rpc-timeout', 'seconds', { min: 0, atLeast: false }),
    default: { value: DEFAULTS.rpcTimeoutMs, shown: `${DEFAULTS.rpcTimeoutMs / 1000} s` },
    feeds: 'rpcTimeoutMs',
    mode: 'wds',
  }),
  user: flag({
    flags: '--user <name>',
    commands: BOTH,
    group: G.init,
    unit: 'text',
    help: 'account for the RPC (NTLM) authentication: DOMAIN\\name, name@domain or name; the password from --password-file or OSDCAST_PASSWORD (in a task sequence, default: its network access account; else anonymous)',
    parse: userArg,
    default: { shown: 'anonymous' },
    mode: 'wds',
  }),
  passwordFile: flag({
    flags: '--password-file <path>',
    commands: BOTH,
    group: G.init,
    unit: 'path',
    help: "file whose first line is --user's password (UTF-8, or UTF-16 with a BOM); else environment variable OSDCAST_PASSWORD; never a flag value",
    default: { shown: 'OSDCAST_PASSWORD' },
    mode: 'wds',
  }),
  preOs: flag<boolean>({
    flags: '--pre-os',
    commands: BOTH,
    group: G.init,
    unit: 'switch',
    help: 'tell the DP this is a pre-OS client (WDSMC_CLIENT_CAP_BOOT_DEVICE; automatic in WinPE): it then offers CHECKSUM security',
    default: { shown: 'in WinPE' },
    feeds: 'preOs',
    mode: 'wds',
  }),
  udpcast: flag<boolean>({
    flags: '--udpcast',
    commands: ['receive'],
    group: G.udpcast,
    unit: 'switch',
    help: "receive from a udpcast udp-sender (FOG, Clonezilla; verified against Debian's udpcast 20120424) instead of a WDS/ConfigMgr DP: needs --interface; --server, --namespace, --content and the initiation flags are not used",
    default: { shown: 'off' },
    mode: 'udpcast',
    feeds: 'udpcast',
  }),
  portbase: flag<number>({
    flags: '--portbase <port>',
    commands: ['receive'],
    group: G.udpcast,
    unit: 'count',
    help: "udp-sender's --portbase: receivers use this port, the sender the next one (even)",
    parse: portbaseArg,
    default: { value: DEFAULTS.udpcastPortbase, shown: String(DEFAULTS.udpcastPortbase) },
    mode: 'udpcast',
    feeds: 'portbase',
  }),
  rdvAddress: flag({
    flags: '--rdv-address <address>',
    commands: ['receive'],
    group: G.udpcast,
    unit: 'address',
    help: "udp-receiver's --mcast-rdv-address: where to look for the sender: a multicast group to join, or the sender's own address (FOG passes the storage node's)",
    parse: ipv4Arg('--rdv-address'),
    default: { shown: 'the subnet broadcast of --interface' },
    mode: 'udpcast',
    feeds: 'rdvAddress',
  }),
  mcastTimeout: flag<number>({
    flags: '--mcast-timeout <seconds>',
    commands: BOTH,
    group: G.fallback,
    unit: 'seconds',
    help: 'fall back to HTTP when no multicast data arrived this long after JOIN (0 = never); --udpcast: no sender found this long (exit 3 without --http)',
    parse: numeric('--mcast-timeout', 'seconds', { integer: true, min: 0, atLeast: true }),
    default: { value: DEFAULTS.mcastTimeoutMs, shown: `${DEFAULTS.mcastTimeoutMs / 1000} s` },
    feeds: 'mcastTimeoutMs',
  }),
  minRate: flag<number>({
    flags: '--min-rate <MB/s>',
    commands: BOTH,
    group: G.fallback,
    unit: 'MB/s',
    help: 'leave multicast for HTTP when it stays slower than this (a slow receiver should not hold the group back)',
    parse: numeric('--min-rate', 'MB/s', { min: 0, atLeast: false }),
    default: { shown: 'off' },
    feeds: 'minRateBytesPerSec',
    mode: 'wds',
  }),
  minRateWindow: flag<number>({
    flags: '--min-rate-window <seconds>',
    commands: BOTH,
    group: G.fallback,
    unit: 'seconds',
    help: 'how long the rate must stay below --min-rate',
    parse: numeric('--min-rate-window', 'seconds', { min: 0, atLeast: false }),
    default: { value: DEFAULTS.minRateWindowMs, shown: `${DEFAULTS.minRateWindowMs / 1000} s` },
    feeds: 'minRateWindowMs',
    mode: 'wds',
  }),
  sha256: flag({
    flags: '--sha256 <hex>',
    commands: ['receive'],
    group: G.tls,
    unit: 'hex',
    help: 'expected SHA-256 of the content: a mismatch exits 5 and renames nothing (recommended: multicast carries no checksum of the whole file)',
    parse: sha256Arg,
    default: { shown: 'none' },
    feeds: 'sha256',
  }),
  sha256Url: flag({
    flags: '--sha256-url <url>',
    commands: ['receive'],
    group: G.tls,
    unit: 'url',
    help: 'fetch the expected SHA-256 from this URL (first 64-hex-digit word)',
    parse: (v: string) => checkedHttpUrl('--sha256-url', v),
    default: { shown: 'none' },
    feeds: 'sha256Url',
  }),
  ca: flag<Buffer>({
    flags: '--ca <file>',
    commands: BOTH,
    group: G.tls,
    unit: 'path',
    help: 'PEM file of an internal CA trusted for HTTPS in addition to the system roots',
    parse: caFile,
    default: { shown: 'system roots' },
    feeds: 'ca',
  }),
  insecure: flag<boolean>({
    flags: '--insecure',
    commands: BOTH,
    group: G.tls,
    unit: 'switch',
    help: 'do not verify HTTPS certificates (only for tests; certificate errors are errors otherwise)',
    default: { shown: 'off' },
    feeds: 'insecure',
  }),
  json: flag<boolean>({
    flags: '--json',
    commands: BOTH,
    group: G.out,
    unit: 'switch',
    help: 'print one JSON report as the last line of stdout (for task sequences; with --out -, the last line of stderr)',
    default: { shown: 'off' },
  }),
  tsVar: flag<string[]>({
    flags: '--ts-var <NAME=field>',
    commands: BOTH,
    group: G.out,
    unit: 'mapping',
    help: {
      receive: `after the run, set task-sequence variable NAME to a report field (repeatable; fields: ${TS_FIELDS.receive.join(', ')})`,
      acp: `after the run, set task-sequence variable NAME to a report field (repeatable; fields: ${TS_FIELDS.acp.join(', ')})`,
    },
    parse: collect,
    default: { shown: 'none' },
  }),
  logFile: flag({
    flags: '--log-file <path>',
    commands: BOTH,
    group: G.out,
    unit: 'path',
    help: 'write logs to this file (default: %_SMSTSLogPath%\\osdcast.log in a task sequence, else stderr)',
    default: { shown: 'stderr' },
  }),
  logFormat: flag<LogFormat>({
    flags: '--log-format <format>',
    commands: BOTH,
    group: G.out,
    unit: 'choice',
    help: 'text (time, level, message, then the record\'s other fields as key=value; the default on a terminal), json (pino lines; the default for pipes and --log-file) or cmtrace (ConfigMgr log format; the default when _SMSTSLogPath is set)',
    choices: ['text', 'json', 'cmtrace'],
    default: { shown: '`cmtrace` when `_SMSTSLogPath` is set, `text` on a terminal, else `json`' },
  }),
  quiet: flag<boolean>({
    flags: '--quiet',
    commands: BOTH,
    group: G.out,
    unit: 'switch',
    help: 'no progress line on the terminal (percent, MiB, rate, ETA, multicast and HTTP shares; drawn only when stderr is a terminal)',
    default: { shown: 'off' },
  }),
  logMaxSize: flag<number>({
    flags: '--log-max-size <MiB>',
    commands: BOTH,
    group: G.out,
    unit: 'MiB',
    help: 'rename a log file to <name>.lo_ and start a new one at this size (one old file kept; 0: never)',
    parse: numeric('--log-max-size', 'MiB', { min: 0, atLeast: true, note: 'MiB' }),
    default: { value: DEFAULTS.logMaxSizeBytes, shown: `${DEFAULTS.logMaxSizeBytes / CONVERSIONS.MiB.factor} MiB` },
  }),
  logLevel: flag({
    flags: '--log-level <level>',
    commands: BOTH,
    group: G.out,
    unit: 'choice',
    help: 'how much to log (debug: every decision, for troubleshooting)',
    choices: ['debug', 'info', 'warn', 'error'],
    default: { value: DEFAULTS.logLevel, shown: DEFAULTS.logLevel },
  }),
};

export type FlagName = keyof typeof FLAGS;
type ValueOf<S> = S extends FlagSpec<infer T> ? T : never;
/** What commander hands an action: each flag's converted value (absent flags without a default are undefined). */
export type Flags = { -readonly [K in FlagName]?: ValueOf<(typeof FLAGS)[K]> };

/** The table in its declared order (the order of --help). */
export const FLAG_LIST: readonly [FlagName, FlagSpec<unknown>][] = Object.entries(FLAGS) as [FlagName, FlagSpec<unknown>][];

/** The long flag's name ("--retry-delay") and commander's attribute for it ("retryDelay"). */
export function longName(spec: { flags: string }): string {
  return /--[a-z0-9-]+/.exec(spec.flags)![0];
}

/** A fresh commander Option for one command (commander options belong to one command each). */
export function commanderOption(name: FlagName, cmd: CommandName): Option {
  const s = FLAGS[name] as FlagSpec<unknown>;
  const help = typeof s.help === 'string' ? s.help : s.help[cmd];
  const o = new Option(s.flags, help).helpGroup(s.group);
  if (s.parse) o.argParser(s.parse as (v: string, prev: unknown) => unknown);
  if (s.choices) o.choices(s.choices);
  if (s.default.value !== undefined) o.default(s.default.value, s.default.shown);
  if (s.required && !s.mode) o.makeOptionMandatory();
  return o;
}

/** The flags of one command, in table order. */
export function flagsOf(cmd: CommandName): FlagName[] {
  return FLAG_LIST.filter(([, s]) => s.commands.includes(cmd)).map(([n]) => n);
}

/** receive's flags that belong to the other mode than `mode` (a usage error when given). */
export function foreignFlags(mode: ReceiveMode): FlagName[] {
  return flagsOf('receive').filter((n) => {
    const m = (FLAGS[n] as FlagSpec<unknown>).mode;
    return m !== undefined && m !== mode;
  });
}

/** The ReceiveOptions fields the given flags set (only those the command has and the user or a default gave). */
export function receiveFields(f: Flags, cmd: CommandName): Partial<ReceiveOptions> {
  const out: Record<string, unknown> = {};
  for (const name of flagsOf(cmd)) {
    const s = FLAGS[name] as FlagSpec<unknown>;
    if (s.feeds && f[name] !== undefined) out[s.feeds] = f[name];
  }
  return out as Partial<ReceiveOptions>;
}
