/**
 * osdcast command line, the front door. Three hops to a socket: cli.ts (parse, validate) → receive/receive.ts
 * (orchestration) → receive/multicast.ts (one session's loop) → transport/net.ts (dgram).
 * Commands: `receive` (one content item; also a task-sequence Run Command Line step) and `acp` (ConfigMgr Alternate
 * Content Provider: cli.ts → configmgr/acp.ts → configmgr/webdav.ts + receive/receive.ts per file). Around them:
 * where logs go (log/), which DP (configmgr/discovery.ts), task-sequence variables after the run (configmgr/tsenv.ts).
 * Every flag is declared once, in options.ts (the option table); this file adds the commands, their help texts and
 * what each action does.
 */
import { Command, CommanderError } from 'commander';
import { MSI_PORT } from '../core/codec/msi';
import { looksLikeAcpCall, parseAcpPositionals, runAcp } from './configmgr/acp';
import { Templates, templatesOf } from './configmgr/config';
import { defaultExeDir, describeAttempts, DiscoveryAttempt, DiscoveryResult, discoverServer } from './configmgr/discovery';
import { EXIT_OF, Exit, type FailureKind } from './errors';
import { checkOut } from './storage/out-path';
import { createLogger, Logger, resolveLogTarget } from './log/log';
import { ProgressMeter, Terminal } from './log/terminal';
import { receive, Progress } from './receive/receive';
import { commanderOption, CommandName, FLAG_LIST, FLAGS, Flags, flagsOf, foreignFlags, ipv4Arg, longName, receiveFields, ReceiveMode, ServerFlag, TS_FIELDS } from './options';
import { Report, noDrops, reportLine } from './report';
import { VERSION_LINE } from './util/version';
import { buildTsVariables, parseTsVarFlags, setTsVariables, TsVarMapping } from './configmgr/tsenv';
import { showHostPort } from './transport/address';
import { CredentialsError, resolveCredentials, type ResolvedCredentials } from './configmgr/credentials';
import { isWinPE } from './configmgr/discovery';
import type { ReceiveOptions } from './receive/receive';
import { takePassword, type Env } from './util/env';

/** OSDCAST_PASSWORD, taken out of process.env by main() before anything runs a child process. */
let passwordEnv: Env = {};

type Server = ServerFlag;

/** What an action gets: the table's converted values (those with a default are always set). */
type CommonFlags = Flags & { logMaxSize: number; logLevel: string };

const DISCOVERY_HELP = `Server: --server, else the ACP INI (acp only), OSDCAST_SERVER, "server" in osdcast.json beside the binary,
and in WinPE the PXE boot server (PEBootServerAddr); the log names the source used.`;

const LOG_HELP = `Logs: in a task sequence (_SMSTSLogPath set) CMTrace lines in %_SMSTSLogPath%\\osdcast.log, rotated at
--log-max-size to osdcast.lo_; otherwise on stderr: plain text lines on a terminal (time, level, message, then the
record's other fields as key=value; below them a progress line:
percent, MiB done/total, rate, ETA, bytes by multicast and by HTTP; --quiet hides it), pino JSON into a pipe or file.
stdout carries only the --json report.`;

/** stderr when it is a terminal: log lines above a progress line (undefined for pipes and files). */
const terminal = process.stderr.isTTY ? new Terminal() : undefined;

/** The progress callback for the terminal, or none (not a terminal, or --quiet). */
function progressOf(f: CommonFlags): { onProgress?: (p: Progress) => void; done(): void } {
  if (!terminal || f.quiet) return { done() {} };
  const meter = new ProgressMeter();
  return { onProgress: (p) => terminal.progress(meter.line(p)), done: () => terminal.done() };
}

export function buildProgram(exit: (code: number) => void): Command {
  const program = new Command();
  program
    .name('osdcast')
    .description('Receive an OS image or a ConfigMgr package from a distribution point by IP multicast (MS-WDSMSI, MS-WDSMT, MS-WDSMA), with HTTP fallback.')
    .version(VERSION_LINE, '-V, --version', 'print the version and the embedded Node version')
    .exitOverride()
    // Usage errors: exactly one line on stderr, then exit 2.
    .configureOutput({ writeErr: (s) => process.stderr.write(s), outputError: (s, write) => write(`osdcast: ${s.replace(/^error: /, '').trimEnd()} (see --help)\n`) });

  const receive_ = program
    .command('receive')
    .description('Join a multicast session for one content item and write it to a file (also a task-sequence Run Command Line step).');
  addFlags(receive_, 'receive');
  receive_
    .addHelpText(
      'after',
      `
Examples:
  osdcast receive --server 10.1.2.3 --namespace "WDS:Images/install.wim/1" --content install.wim --out D:\\install.wim --json
  osdcast receive --server dp01.corp.example:5041 --namespace SMSPKG --content P0100023 --out /data/image.wim --interface 10.1.2.50
  osdcast receive --server dp01 --namespace SMSPKG --content P0100023 --out D:\\image.wim \\
        --http https://dp01/SMS_DP_SMSPKG$/P0100023/install.wim --ca C:\\corp-ca.pem --sha256 <hex> --min-rate 5
  Task sequence, Run Command Line (server from osdcast.json beside the exe, result into TS variables):
  osdcast.exe receive --namespace SMSPKG --content P0100023 --out C:\\_SMSTaskSequence\\osdcast\\install.wim \\
        --http http://dp01/SMS_DP_SMSPKG$/P0100023/install.wim --ts-var OSDCAST_SHA256=sha256 --ts-var OSDCAST_STATUS=status

udpcast (FOG, Clonezilla): from a stock udp-sender (only Debian's udpcast 20120424 is verified):
  osdcast receive --udpcast --interface 10.1.2.50 --out /data/image.img --sha256 <hex> --json
  osdcast receive --udpcast --interface 10.1.2.50 --portbase 9002 --rdv-address 10.1.2.3 --out - | gunzip -c | <restore command>
  --interface is required; --server, --namespace, --content and the initiation flags are usage errors. udpcast
  announces no size: the file grows slice by slice; there is no resume (a new sender starts at slice 0). --out -
  writes the image in order to stdout (out-of-order data waits in the --cache ring) and the --json report then goes
  to stderr as its last line. No sender (HELLO / CONNECT_REPLY) within --mcast-timeout: exit 3; 30 s without a
  packet once data flowed: exit 4; a session already running (late joiner) or an --async sender: exit 3 with a
  message saying so. With --http each of these falls back to HTTP for what is still missing (the size then comes
  from the HTTP server); HTTP is a fallback only, never used beside a running udpcast transfer.

Fallback: with --http, multicast problems (no session, no data, KICK, inactivity, too slow) end in an HTTP
download from the DP; holes multicast keeps missing are fetched by HTTP Range while multicast continues.
Resume: rerun the same command; <out>.osdcast records which blocks are safely on disk.
${DISCOVERY_HELP}
${LOG_HELP}
--ts-var: variables are set through cscript (Microsoft.SMS.TSEnvironment); outside a task sequence this is a
logged warning, not a failure.

Does the DP answer? osdcast receive --initiation rpc --server dp01 --namespace … --content … --out … --user CORP\\svc
  (password from --password-file or OSDCAST_PASSWORD, never a flag) asks only over MS-WDSC (Server 2016+, TCP 5040,
  else the endpoint mapper on 135); --initiation udp only over MS-WDSMSI (UDP 5041, Server 2008 R2 - 2012 R2).
  Limits: NTLM only (no Kerberos); packages with "Encrypt multicast packages" cannot be received; the key ConfigMgr's
  own client fetches from the DP's multicast service first is not fetched.

Exit codes: 0 complete, 2 usage (also --out naming a folder), 3 no session (the DP's name does not resolve; the DP
refused or never answered, over RPC and UDP; authentication failed or access denied), 4 transfer failed (KICK,
inactivity, timeout), 5 integrity mismatch, 6 local I/O error (disk full, permission, --out's folder missing or
read-only, --out in use by another osdcast: <out>.osdcast.lock), 130 interrupted.`,
    )
    .action(async (f: CommonFlags, cmd: Command) => {
      const mappings = tsVarMappings(f, cmd, 'receive');
      const mode: ReceiveMode = f.udpcast ? 'udpcast' : 'wds';
      checkMode(f, cmd, mode);
      if (f.httpOnly && !f.http?.length) cmd.error(`--http-only needs at least one --http <url>`, { exitCode: Exit.USAGE, code: 'osdcast.httpOnly' });
      // --out before anything else: a folder is a usage error, an unwritable place exit 6; one line, nothing touched.
      const outProblem = f.out === STDOUT_OUT ? undefined : checkOut(f.out!);
      if (outProblem?.kind === 'usage') cmd.error(outProblem.message, { exitCode: Exit.USAGE, code: 'osdcast.out' });
      if (outProblem) return exit(failedBeforeRun(f, mappings, outProblem.kind, outProblem.message));
      if (mode === 'udpcast') {
        const log = openLog(f);
        log.info(`udpcast receiver on ${f.interface}, port ${f.portbase}${f.rdvAddress ? `, rendez-vous ${f.rdvAddress}` : ''}`);
        return exit(await runReceive(f, undefined, mappings, log, {}));
      }
      let server: Server | undefined = f.server;
      let from = '--server';
      let disc: DiscoveryResult | undefined;
      if (!server && !f.httpOnly) {
        disc = discoverServer({ env: process.env, exeDir: defaultExeDir() });
        const found = chosenServer(disc, cmd, f, 'give --server, or --http-only with --http');
        server = found.server;
        from = found.from;
      }
      const creds = credentialsOf(f, cmd);
      const log = openLog(f);
      if (disc) logDiscovery(log, disc);
      if (server) log.info(`DP ${showServer(server)} from ${from}`);
      const init = initiationFields(f, creds, log);
      exit(await runReceive(f, server, mappings, log, init));
    });

  const acp = program
    .command('acp')
    .description('ConfigMgr Alternate Content Provider (SMSTSDownloadProgram): download one package into a folder, multicast where the DP has a session, HTTP otherwise.')
    .usage('[options] [<INI>] <PackageID> <DestinationDir>')
    .argument('<args...>', '[<INI>] <PackageID> <DestinationDir>, as the task sequence passes them');
  addFlags(acp, 'acp');
  acp
    .addHelpText(
      'after',
      `
Examples:
  Task sequence variable SMSTSDownloadProgram = X:\\Windows\\System32\\osdcast.exe; the task sequence then runs
  osdcast.exe X:\\Windows\\TEMP\\SMSTSDownload.INI PS100004 C:\\_SMSTaskSequence\\Packages\\PS100004
  (the same as "osdcast.exe acp <INI> <PackageID> <folder>"; without the INI too). By hand:
  osdcast acp --server dp01.corp.example PS100004 D:\\pkg\\PS100004 --json

What it does: lists the package with WebDAV PROPFIND (Depth: 1, into sub-folders) at the package URL, refuses
names that would leave the folder, then receives each file (multicast session if the DP has one, else HTTP).
osdcast.json beside the binary: {"server": "...", "abortCode": 99, "namespaceTemplate": "SMSPKG",
  "contentTemplate": "{PackageID}/{path}", "httpTemplate": "http://{server}/SMS_DP_SMSPKG$/{PackageID}"}
  (these templates are the defaults; placeholders {PackageID}, {path}, {winpath}, {server}, {drive}).
${DISCOVERY_HELP}
${LOG_HELP}

Exit codes: 0 every file complete. abortCode from osdcast.json (set SMSTSDownloadAbortCode to the same value)
only when the DP ended the session with KICK FAIL, i.e. no other means allowed: the task sequence then fails
the download. Any other code (2 usage/configuration, 3, 4 transfer or listing failed, 5, 6 local I/O, 130
interrupted; 1 if a failure's code equals abortCode) makes the task sequence download the package itself.`,
    )
    .action(async (args: string[], f: CommonFlags, cmd: Command) => {
      let pos;
      try {
        pos = parseAcpPositionals(args);
      } catch (e) {
        cmd.error((e as Error).message, { exitCode: Exit.USAGE, code: 'osdcast.acpArgs' });
      }
      const mappings = tsVarMappings(f, cmd, 'acp');
      const disc = discoverServer({ serverFlag: f.server ? showServer(f.server) : undefined, acpIniPath: pos.iniPath, env: process.env, exeDir: defaultExeDir() });
      if (disc.configError) cmd.error(`osdcast.json: ${disc.configError}`, { exitCode: Exit.USAGE, code: 'osdcast.config' });
      const cfg = disc.config ?? {};
      let templates;
      try {
        templates = templatesOf(cfg);
      } catch (e) {
        cmd.error(`${disc.configPath ?? 'osdcast.json'}: ${(e as Error).message}`, { exitCode: Exit.USAGE, code: 'osdcast.config' });
      }
      const { server, from } = chosenServer(disc, cmd, f, 'give --server or put "server" in osdcast.json');
      const creds = credentialsOf(f, cmd);
      const log = openLog(f);
      logDiscovery(log, disc);
      log.info(`acp: package ${pos.packageId} into ${pos.destination}${pos.iniPath ? ` (INI ${pos.iniPath})` : ''}; DP ${showServer(server)} from ${from}`);
      const init = initiationFields(f, creds, log);
      if (cfg.abortCode === undefined) log.info('osdcast.json has no "abortCode": every failure lets the task sequence download the package itself');
      else if ((Object.values(Exit) as number[]).includes(cfg.abortCode)) log.warn(`abortCode ${cfg.abortCode} is also one of osdcast's own exit codes; choose another (e.g. 99) for SMSTSDownloadAbortCode`);
      exit(await runAcpCommand(f, pos.packageId, pos.destination, server, templates, cfg.abortCode, mappings, log, init));
    });

  program.addHelpText(
    'after',
    `
Examples:
  osdcast receive --server 10.1.2.3 --namespace "WDS:Images/install.wim/1" --content install.wim --out D:\\install.wim --json
  osdcast acp X:\\Windows\\TEMP\\SMSTSDownload.INI PS100004 C:\\_SMSTaskSequence\\Packages\\PS100004
  osdcast --version

Run "osdcast receive --help" or "osdcast acp --help" for their options, examples and exit codes.`,
  );
  return program;
}

/** The table's flags of one command, in table order (grouped in --help under the table's headings). */
function addFlags(cmd: Command, name: CommandName): void {
  for (const flag of flagsOf(name)) cmd.addOption(commanderOption(flag, name));
}

/** `--out -`: the image goes to stdout (udpcast mode only). */
const STDOUT_OUT = '-';

/**
 * receive's flags against its mode: a flag of the other mode is a usage error (one line naming it), a flag the mode
 * requires must be there; --udpcast needs --interface, --out - needs --udpcast.
 */
function checkMode(f: CommonFlags, cmd: Command, mode: ReceiveMode): void {
  const usage = (msg: string) => cmd.error(msg, { exitCode: Exit.USAGE, code: 'osdcast.mode' });
  for (const n of foreignFlags(mode)) {
    const src = cmd.getOptionValueSource(n);
    if (src !== 'cli' && src !== 'env') continue;
    const name = longName(FLAGS[n]);
    usage(mode === 'udpcast' ? `${name} is not used with --udpcast (a udpcast sender has no DP, namespace or session initiation)` : `${name} needs --udpcast`);
  }
  for (const [n, s] of FLAG_LIST) if (s.required && s.mode === mode && s.commands.includes('receive') && f[n] === undefined) usage(`required option '${s.flags}' not specified`);
  if (mode === 'udpcast' && !f.interface) usage('--udpcast needs --interface <local IPv4 address> (the one facing the udp-sender)');
  if (mode === 'udpcast' && f.interface) {
    try {
      ipv4Arg('--interface')(f.interface);
    } catch (e) {
      usage(`${(e as Error).message} (udpcast is IPv4 only)`);
    }
  }
  if (mode === 'wds' && f.out === STDOUT_OUT) usage('--out - (the image to stdout) needs --udpcast');
}

function tsVarMappings(f: CommonFlags, cmd: Command, command: CommandName): TsVarMapping[] {
  try {
    return parseTsVarFlags(f.tsVar ?? [], TS_FIELDS[command]);
  } catch (e) {
    cmd.error((e as Error).message, { exitCode: Exit.USAGE, code: 'osdcast.tsVar' });
  }
}

function showServer(s: Server): string {
  return showHostPort(s.host, s.port);
}

const SOURCE_LABEL: Record<DiscoveryAttempt['source'], string> = {
  flag: '--server',
  'acp-ini': 'the ACP INI',
  env: 'OSDCAST_SERVER',
  'config-file': 'osdcast.json beside the binary',
  'pxe-registry': 'the PXE boot server',
};

/** The server discovery chose, or a usage error (one line naming every source tried). */
function chosenServer(disc: DiscoveryResult, cmd: Command, f: CommonFlags, hint: string): { server: Server; from: string } {
  if (disc.error) cmd.error(disc.error, { exitCode: Exit.USAGE, code: 'osdcast.server' });
  const d = disc.found;
  if (!d) {
    const tried = disc.attempts
      .filter((a) => !(a.source === 'acp-ini' && a.outcome === 'skipped'))
      .map((a) => `${SOURCE_LABEL[a.source]}${a.source === 'config-file' || a.source === 'acp-ini' ? ` ${a.detail}` : ''}: ${a.outcome}${a.message ? ` (${a.message})` : ''}`)
      .join('; ');
    const msg = `no distribution point found (tried: ${tried}); ${hint}`;
    // In a task sequence the log file is where an administrator looks first; stderr still gets exactly one line.
    if (resolveLogTarget({ logFormat: f.logFormat, logFile: f.logFile }).file) openLog(f).error(msg);
    cmd.error(msg, { exitCode: Exit.USAGE, code: 'osdcast.noServer' });
  }
  const server = d.source === 'flag' && f.server ? f.server : { host: d.host, port: d.port ?? MSI_PORT };
  const where = d.source === 'flag' ? '--server' : d.source === 'env' ? 'OSDCAST_SERVER' : `${SOURCE_LABEL[d.source]} (${d.detail})`;
  return { server, from: where };
}

function logDiscovery(log: Logger, disc: DiscoveryResult): void {
  for (const line of describeAttempts(disc.attempts)) log.debug(`discovery: ${line}`);
  for (const w of disc.configWarnings ?? []) log.warn(w);
  if (disc.configError) log.warn(`ignoring ${disc.configError}`);
}

function openLog(f: CommonFlags): Logger {
  const target = resolveLogTarget({ logFormat: f.logFormat, logFile: f.logFile }, process.env, !!terminal);
  const log = createLogger({ level: f.logLevel, file: target.file, format: target.format, maxSize: f.logMaxSize, terminal: target.file ? undefined : terminal });
  log.debug(`${VERSION_LINE}${process.execArgv.length ? ` [${process.execArgv.join(' ')}]` : ''}; logs: ${target.format} to ${target.file ?? 'stderr'} (${target.why})`);
  return log;
}

/**
 * A failure found after the flags were read but before the run (e.g. an unwritable --out): one line on stderr (and
 * in the log file if there is one), and, as for any run, the --json report and the --ts-var variables.
 */
function failedBeforeRun(f: CommonFlags, mappings: TsVarMapping[], kind: FailureKind, message: string): number {
  const rep: Report = { status: 'error', exitCode: EXIT_OF[kind], bytes: 0, sha256: '', seconds: 0, multicastBytes: 0, httpBytes: 0, droppedPackets: 0, drops: noDrops(), conflictingDuplicates: 0, error: message, errorKind: kind, integrity: 'unverified', initiation: 'none' };
  const log = openLog(f);
  if (resolveLogTarget({ logFormat: f.logFormat, logFile: f.logFile }).file) log.error({ report: rep }, message);
  if (f.json) process.stderr.write(`osdcast: ${message}\n`); // without --json finishRun writes it
  return finishRun(f, rep, mappings, log);
}

/** SIGINT/SIGTERM abort the run (the agent sends LEAVE first); returns the signal and a function to unhook. */
function interrupts(): { signal: AbortSignal; done(): void } {
  const ac = new AbortController();
  const onSig = () => ac.abort();
  process.once('SIGINT', onSig);
  process.once('SIGTERM', onSig);
  return {
    signal: ac.signal,
    done() {
      process.off('SIGINT', onSig);
      process.off('SIGTERM', onSig);
    },
  };
}

/**
 * The RPC initiation's account: --user/--password-file/OSDCAST_PASSWORD (a mismatch is a usage error: one line,
 * exit 2, before any log line), else in a task sequence its network access account, else none. The task
 * sequence is asked only when an RPC initiation will run.
 */
function credentialsOf(f: CommonFlags, cmd: Command): ResolvedCredentials {
  try {
    return resolveCredentials({ user: f.user, passwordFile: f.passwordFile, env: passwordEnv, taskSequence: !f.httpOnly && f.initiation !== 'udp' });
  } catch (e) {
    if (!(e instanceof CredentialsError)) throw e;
    // In a task sequence the log file is where an administrator looks first; stderr still gets exactly one line.
    if (resolveLogTarget({ logFormat: f.logFormat, logFile: f.logFile }).file) openLog(f).error(e.message);
    cmd.error(e.message, { exitCode: Exit.USAGE, code: 'osdcast.credentials' });
  }
}

/** What the receive gets for the RPC initiation (logged): the account, and BOOT_DEVICE with --pre-os or in WinPE. */
function initiationFields(f: CommonFlags, resolved: ResolvedCredentials, log: Logger): Pick<ReceiveOptions, 'credentials' | 'preOs'> {
  if (f.httpOnly || f.initiation === 'udp') return {};
  const c = resolved.credentials;
  if (c) log.info(`RPC authentication as ${c.domain ? `${c.domain}\\` : ''}${c.user} (${resolved.source})`);
  else log.info(`RPC authentication: anonymous NTLM, then none${'note' in resolved && resolved.note ? ` (${resolved.note})` : ''}`);
  const preOs = f.preOs || isWinPE();
  if (preOs) log.info(`pre-OS client (${f.preOs ? '--pre-os' : 'WinPE'}): the DP is asked for CHECKSUM security`);
  return { ...(c ? { credentials: c } : {}), preOs };
}

async function runReceive(f: CommonFlags, server: Server | undefined, mappings: TsVarMapping[], log: Logger, init: Pick<ReceiveOptions, 'credentials' | 'preOs'>): Promise<number> {
  const sig = interrupts();
  const progress = progressOf(f);
  const onProgress = progress.onProgress;
  const rep = await receive(
    {
      ...receiveFields(f, 'receive'),
      ...init,
      server: server?.host ?? '',
      port: server?.port ?? MSI_PORT,
      namespace: f.namespace ?? '',
      content: f.content ?? '',
      out: f.out!,
    },
    { log, signal: sig.signal, onProgress },
  );
  sig.done();
  progress.done();
  if (rep.status === 'ok') log.info({ report: rep }, `complete: ${rep.bytes} bytes in ${rep.seconds} s, sha256 ${rep.sha256}`);
  else log.error({ report: rep }, `failed (exit ${rep.exitCode}): ${rep.error}`);
  return finishRun(f, rep, mappings, log);
}

async function runAcpCommand(
  f: CommonFlags,
  packageId: string,
  destination: string,
  server: Server,
  templates: Templates,
  abortCode: number | undefined,
  mappings: TsVarMapping[],
  log: Logger,
  init: Pick<ReceiveOptions, 'credentials' | 'preOs'>,
): Promise<number> {
  const sig = interrupts();
  const progress = progressOf(f);
  const onProgress = progress.onProgress;
  const rep = await runAcp(
    {
      packageId,
      destination,
      server,
      templates,
      abortCode,
      httpOnly: f.httpOnly,
      timeoutMs: f.timeout,
      receive: { ...receiveFields(f, 'acp'), ...init },
    },
    { log, signal: sig.signal, onProgress, receive },
  );
  sig.done();
  progress.done();
  if (rep.status === 'ok') log.info({ report: rep }, `package ${packageId} complete: ${rep.files} files, ${rep.bytes} bytes in ${rep.seconds} s`);
  else log.error({ report: rep }, `package ${packageId} failed (exit ${rep.exitCode}): ${rep.error}`);
  return finishRun(f, rep, mappings, log);
}

/** The report on stdout (--json) or the error on stderr, then the task-sequence variables. */
function finishRun(f: CommonFlags, rep: Report, mappings: TsVarMapping[], log: Logger): number {
  // With --out - stdout is the image: the report is the last line of stderr instead (after every log line).
  const toStderr = f.out === STDOUT_OUT;
  if (f.json && !toStderr) process.stdout.write(reportLine(rep) + '\n');
  else if (rep.status !== 'ok') process.stderr.write(`osdcast: ${rep.error}\n`);
  if (mappings.length) {
    const vars = buildTsVariables(mappings, { ...rep });
    const r = setTsVariables(vars);
    if (r.ok) log.info(`task sequence variables set: ${Object.keys(vars).join(', ')}`);
    else if (r.reason === 'not-windows' || r.reason === 'not-in-task-sequence') log.warn(`--ts-var: not running in a task sequence, variables not set (${r.message})`);
    else log.warn(`--ts-var: could not set task sequence variables (${r.reason}): ${r.message}`);
  }
  if (f.json && toStderr) process.stderr.write(reportLine(rep) + '\n');
  return rep.exitCode;
}

/**
 * The task sequence runs SMSTSDownloadProgram with `[<INI>] <PackageID> <dest>` and no command word: such an
 * argv is treated as `acp …`.
 */
export function withImplicitCommand(argv: string[]): string[] {
  const args = argv.slice(2);
  if (args.length && !['receive', 'acp', 'help'].includes(args[0]!) && looksLikeAcpCall(args)) return [...argv.slice(0, 2), 'acp', ...args];
  return argv;
}

export async function main(argv: string[]): Promise<number> {
  passwordEnv = takePassword(process.env);
  let code: number | undefined;
  const program = buildProgram((c) => (code = c));
  try {
    await program.parseAsync(withImplicitCommand(argv));
  } catch (e) {
    if (e instanceof CommanderError) {
      // --help and --version end here with exitCode 0; every usage error is exit 2 (one line already printed).
      return e.exitCode === 0 ? 0 : Exit.USAGE;
    }
    process.stderr.write(`osdcast: ${(e as Error).message}\n`);
    return Exit.TRANSFER_FAILED;
  }
  return code ?? 0;
}

if (require.main === module) {
  // `osdcast --help | more` closed early: the reader is gone, so is the rest of the output; not a crash.
  for (const s of [process.stdout, process.stderr]) {
    s.on('error', (e: NodeJS.ErrnoException) => {
      if (e.code !== 'EPIPE') throw e;
    });
  }
  main(process.argv).then((c) => {
    process.exitCode = c;
    setTimeout(() => process.exit(c), 2000).unref();
  });
}
