/**
 * osdcast command line. Hops to a socket: cli.ts (parse, validate) → receive.ts (the receive loop) → net.ts (dgram).
 */
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { MSI_PORT } from '../core/codec/msi';
import { Exit } from './errors';
import { createLogger } from './log';
import { receive, Progress } from './receive';
import { reportLine } from './report';

declare const OSDCAST_VERSION: string;
export const VERSION = typeof OSDCAST_VERSION === 'string' ? OSDCAST_VERSION : '0.0.0-dev';

/** A numeric flag: finite, >= min (or > 0 when min is 0), whole when asked. */
function numberArg(name: string, { integer = false, min = 0 } = {}) {
  return (v: string): number => {
    const n = Number(v);
    const bad = v.trim() === '' || !Number.isFinite(n) || (integer && !Number.isInteger(n)) || (min === 0 ? n <= 0 : n < min);
    if (bad) throw new InvalidArgumentError(`${name} must be a ${integer ? 'whole ' : ''}number ${min === 0 ? '> 0' : `>= ${min}`}, got "${v}"`);
    return n;
  };
}

export function parseServer(v: string): { host: string; port: number } {
  const m = /^\[?([^\]]+?)\]?(?::(\d+))?$/.exec(v.trim());
  if (!m || !m[1]) throw new InvalidArgumentError(`--server must be <host>[:<port>], got "${v}"`);
  const port = m[2] ? Number(m[2]) : MSI_PORT;
  if (!(port > 0 && port < 65536)) throw new InvalidArgumentError(`port in --server must be 1..65535, got "${m[2]}"`);
  return { host: m[1], port };
}

function blockBase(v: string): 'auto' | 0 | 1 {
  if (v === 'auto') return 'auto';
  if (v === '0' || v === '1') return Number(v) as 0 | 1;
  throw new InvalidArgumentError(`--block-base must be auto, 0 or 1, got "${v}"`);
}

interface ReceiveFlags {
  server: { host: string; port: number };
  namespace: string;
  content: string;
  out: string;
  interface?: string;
  cache: number;
  timeout?: number;
  json?: boolean;
  logFile?: string;
  logLevel: string;
  blockBase: 'auto' | 0 | 1;
}

export function buildProgram(exit: (code: number) => void): Command {
  const program = new Command();
  program
    .name('osdcast')
    .description('Receive an OS image from a ConfigMgr / WDS distribution point by IP multicast (MS-WDSMSI, MS-WDSMT, MS-WDSMA).')
    .version(`osdcast ${VERSION} (node ${process.version})`, '-V, --version', 'print the version and the embedded Node version')
    .exitOverride()
    // Usage errors: exactly one line on stderr, then exit 2.
    .configureOutput({ writeErr: (s) => process.stderr.write(s), outputError: (s, write) => write(`osdcast: ${s.replace(/^error: /, '').trimEnd()} (see --help)\n`) });

  program
    .command('receive')
    .description('Join a multicast session for one content item and write it to a file.')
    .requiredOption('--server <host[:port]>', `distribution point answering MS-WDSMSI over UDP (default port ${MSI_PORT})`, parseServer)
    .requiredOption('--namespace <ns>', 'multicast namespace, e.g. "WDS:Group/install.wim/1" or the ConfigMgr namespace of the package')
    .requiredOption('--content <name>', 'content name inside the namespace, e.g. "install.wim"')
    .requiredOption('--out <path>', 'output file; data is written to <path>.partial and renamed only when complete')
    .option('--interface <address>', 'local IPv4 address for the multicast join and unicast replies (default: the route to --server)')
    .option('--cache <MiB>', 'memory ring between network and disk, in MiB (fixed; never grows with image size)', numberArg('--cache', { integer: true, min: 1 }), 64)
    .option('--timeout <seconds>', 'give up after this many seconds in total (default: no limit; the protocol\'s 30 s inactivity limit applies separately)', numberArg('--timeout'))
    .option('--json', 'print one JSON report as the last line of stdout (for task sequences)')
    .option('--log-file <path>', 'write logs (pino JSON) to this file instead of stderr')
    .addOption(new Option('--log-level <level>', 'log detail').choices(['debug', 'info', 'warn', 'error']).default('info'))
    .addOption(new Option('--block-base <auto|0|1>', 'block numbering of the server (MS-WDSMA is ambiguous; auto detects it)').argParser(blockBase).default('auto'))
    .addHelpText(
      'after',
      `
Examples:
  osdcast receive --server 10.1.2.3 --namespace "WDS:Images/install.wim/1" --content install.wim --out D:\\install.wim --json
  osdcast receive --server dp01.corp.example:5041 --namespace SMSPKG --content P0100023 --out /data/image.wim --interface 10.1.2.50

Exit codes: 0 complete, 2 usage, 3 no session (MSI error or no reply), 4 transfer failed (KICK, inactivity,
timeout), 5 integrity mismatch, 6 local I/O error (disk full, permission), 130 interrupted.`,
    )
    .action(async (f: ReceiveFlags) => {
      exit(await runReceive(f));
    });

  program.addHelpText('after', `\nRun "osdcast receive --help" for the receive options and examples.`);
  return program;
}

async function runReceive(f: ReceiveFlags): Promise<number> {
  const log = createLogger({ level: f.logLevel, file: f.logFile });
  const ac = new AbortController();
  const onSig = () => ac.abort();
  process.once('SIGINT', onSig);
  process.once('SIGTERM', onSig);
  const onProgress = process.stderr.isTTY ? (p: Progress) => process.stderr.write(`\r${progressLine(p)}   `) : undefined;
  const rep = await receive(
    {
      server: f.server.host,
      port: f.server.port,
      namespace: f.namespace,
      content: f.content,
      out: f.out,
      iface: f.interface,
      cacheMiB: f.cache,
      timeout: f.timeout,
      blockBase: f.blockBase,
    },
    { log, signal: ac.signal, onProgress },
  );
  process.off('SIGINT', onSig);
  process.off('SIGTERM', onSig);
  if (onProgress) process.stderr.write('\n');
  if (rep.status === 'ok') log.info({ report: rep }, `complete: ${rep.bytes} bytes in ${rep.seconds} s, sha256 ${rep.sha256}`);
  else log.error({ report: rep }, `failed (exit ${rep.exitCode}): ${rep.error}`);
  if (f.json) process.stdout.write(reportLine(rep) + '\n');
  else if (rep.status !== 'ok') process.stderr.write(`osdcast: ${rep.error}\n`);
  return rep.exitCode;
}

export function progressLine(p: Progress): string {
  const pct = (100 * p.blocks) / p.totalBlocks;
  const mbps = p.seconds > 0 ? p.bytes / 1e6 / p.seconds : 0;
  return `${pct.toFixed(1).padStart(5)}%  ${(p.bytes / 1048576).toFixed(0)}/${(p.contentSize / 1048576).toFixed(0)} MiB  ${mbps.toFixed(1)} MB/s  ${p.seconds.toFixed(0)} s`;
}

export async function main(argv: string[]): Promise<number> {
  let code: number | undefined;
  const program = buildProgram((c) => (code = c));
  try {
    await program.parseAsync(argv);
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
  main(process.argv).then((c) => {
    process.exitCode = c;
    setTimeout(() => process.exit(c), 2000).unref();
  });
}
