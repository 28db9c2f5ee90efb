/**
 * CLI for the test coordinator (bundled to dist/coordinator.cjs by packaging/build.mjs).
 *
 *   node dist/coordinator.cjs --generate 64 --namespace SMSNamespace --content PKG00001
 *
 * stdout: one JSON line when ready ({"event":"ready", ports, group, sessionId, size, sha256}).
 * stderr: one line per notable event (client joined/left, Master Client chosen, round started...), never per packet.
 * Runs until SIGINT/SIGTERM, then prints the counters and exits 0.
 *
 * Session initiation over DCE/RPC (MS-WDSC, as Windows Server 2016+ offers it):
 *   --rpc-port 0 --rpc-user 'LAB\svc-osd' --rpc-password-file pw.txt [--no-udp-msi] [--epm-port 135]
 * The password comes from that file (first line) or OSDCAST_COORD_PASSWORD, never from the command line.
 *
 * --sec-mode checksum|hash|sign|none: the MS-WDSMT security of the session (security.ts). hash and sign make a
 * SymKey (and an RSA key pair) at start; clients that are pre-OS (every MS-WDSMSI request over UDP, and a WDSC
 * INITIATE whose Cap has BOOT_DEVICE) still get CHECKSUM.
 * DEMOTE (MS-WDSMT 3.1.5.10, an administrator's trigger): SIGUSR2 demotes the Active client with the highest
 * LossRate among those that advertised CAP_MULTISTREAM to a lower-speed session (started on the first one, at
 * --lower-rate MB/s, default half of --rate or 10; its events are logged as "lower session: …").
 * A bad flag exits 2 with one line.
 */
import { Command, InvalidArgumentError, Option } from 'commander';
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { MSI_PORT, win32Name } from '../../core/codec/msi';
import { Credentials } from '../../core/ntlm/auth';
import { RpcShellEvent } from './tcp';
import { SEC_MODE_NAMES, SecModeName, newSecurity } from './security';
import { CoordinatorEvent } from './types';
import { ContentServer, bufferContent, startContentServer } from './http';
import { DEFAULT_GROUP, DEFAULT_IFACE, RpcOptions, SEND_BUFFER, fileSource, startCoordinator } from './udp';

const IN_MEMORY_LIMIT = 256 * 1024 * 1024;

function int(name: string, min: number, max: number) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min || n > max) throw new InvalidArgumentError(`${name} must be an integer in ${min}..${max}`);
    return n;
  };
}
function num(name: string, min: number, max: number) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isFinite(n) || n < min || n > max) throw new InvalidArgumentError(`${name} must be a number in ${min}..${max}`);
    return n;
  };
}

function log(line: string): void {
  process.stderr.write(`${new Date().toISOString()} coordinator: ${line}\n`);
}

const LEAVE_REASONS: Record<number, string> = { 0: 'complete', 1: 'cancelled', 2: 'inactive', [-1]: 'rejoined' };

function describe(e: CoordinatorEvent): string {
  switch (e.type) {
    case 'msi': {
      const how = e.via === 'rpc' ? ` over RPC (${e.user ?? '?'})` : '';
      return e.ok
        ? `session request from ${e.address}:${e.port}${how} for ${e.namespace}/${e.content}: replied`
        : `session request from ${e.address}:${e.port}${how} for ${e.namespace ?? '?'}/${e.content ?? '?'}: ${win32Name(e.win32 ?? 0)}`;
    }
    case 'client-joined':
      return `client ${e.clientId} joined from ${e.address}:${e.port} (${e.name || 'no name'})`;
    case 'client-join-failed':
      return `client ${e.clientId} at ${e.address}:${e.port} never answered JOINACK; dropped`;
    case 'client-left':
      return `client ${e.clientId} left (${LEAVE_REASONS[e.reason] ?? `reason ${e.reason}`})`;
    case 'client-timeout':
      return `client ${e.clientId} silent for ClientDeadTimeout; removed`;
    case 'client-kicked':
      return `client ${e.clientId} kicked (reason ${e.reason})`;
    case 'client-demoted':
      return `client ${e.clientId} demoted to the lower-speed session ${e.lowerSessionId}`;
    case 'state':
      return `transport ${e.from} -> ${e.to}`;
    case 'master':
      return `master client ${e.clientId} (RTT ${e.rtt} ms, chosen by ${e.why === 'qcc' ? 'QCC: highest RTT' : 'NACK: lower throughput'})`;
    case 'round-started':
      return `round ${e.round} started: ${e.ranges} range(s), ${e.blocks} block(s) for ${e.clients} client(s)${e.dropped ? `, ${e.dropped} late joiner(s) deferred` : ''}`;
    case 'round-finished':
      return `round ${e.round} finished`;
    case 'terminated':
      return 'no client packet for InactivityTimeout: session terminated, waiting for new clients';
  }
}

/** One line per RPC connection event worth a line (never per PDU, never a token or key). */
function describeRpc(e: RpcShellEvent): string | undefined {
  const at = `${e.listener} ${e.address}:${e.port}`;
  if (e.type !== 'rpc') return e.type === 'connected' ? `rpc ${at}: connected` : undefined;
  const r = e.event;
  switch (r.type) {
    case 'authenticated':
      return `rpc ${at}: authenticated ${r.anonymous ? 'anonymously' : `${r.domain ? `${r.domain}\\` : ''}${r.user}`} (auth type ${r.authType}, level ${r.level})`;
    case 'auth-failed':
      return `rpc ${at}: authentication refused (auth type ${r.authType}): ${r.kind}: ${r.message}`;
    case 'refused':
      return `rpc ${at}: refused${r.callId !== undefined ? ` call ${r.callId}` : ''}: ${r.message}`;
    case 'close':
      return r.reason === 'idle' ? `rpc ${at}: idle, closed` : `rpc ${at}: closing (${r.reason})`;
    case 'request':
      return undefined;
  }
}

/** "DOMAIN\\name", "name@domain" or "name" (empty domain). */
function parseUser(v: string): { domain: string; user: string } {
  const bs = v.indexOf('\\');
  if (bs >= 0) return { domain: v.slice(0, bs), user: v.slice(bs + 1) };
  const at = v.lastIndexOf('@');
  if (at > 0) return { domain: v.slice(at + 1), user: v.slice(0, at) };
  return { domain: '', user: v };
}

/** The first line of a password file (UTF-8, or UTF-16 with a BOM), CR/LF stripped. */
function readPassword(file: string): string {
  const b = fs.readFileSync(file);
  let text: string;
  if (b[0] === 0xff && b[1] === 0xfe) text = b.subarray(2).toString('utf16le');
  else if (b[0] === 0xfe && b[1] === 0xff) text = Buffer.from(b.subarray(2)).swap16().toString('utf16le');
  else text = b.toString('utf8').replace(/^\uFEFF/, '');
  return text.split(/\r?\n/)[0]!.replace(/\r$/, '');
}


async function generate(mib: number): Promise<{ data?: Buffer; file?: string; sha256: string; cleanup(): void }> {
  const size = Math.round(mib * 1024 * 1024);
  if (size <= IN_MEMORY_LIMIT) {
    const data = randomBytes(size);
    return { data, sha256: createHash('sha256').update(data).digest('hex'), cleanup() {} };
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'osdcast-coordinator-'));
  const file = path.join(dir, 'generated.bin');
  const fd = fs.openSync(file, 'w');
  const h = createHash('sha256');
  try {
    for (let done = 0; done < size; ) {
      const chunk = randomBytes(Math.min(4 * 1024 * 1024, size - done));
      h.update(chunk);
      fs.writeSync(fd, chunk);
      done += chunk.length;
    }
  } finally {
    fs.closeSync(fd);
  }
  return { file, sha256: h.digest('hex'), cleanup: () => fs.rmSync(dir, { recursive: true, force: true }) };
}

async function main(): Promise<void> {
  const program = new Command()
    .name('coordinator')
    .description('Test WDS multicast server (MS-WDSMSI over UDP, MS-WDSMT, MS-WDSMA) for osdcast tests and demos')
    .addOption(new Option('--file <path>', 'content to serve').conflicts('generate'))
    .addOption(new Option('--generate <MiB>', 'serve random content of this size (its SHA-256 is printed)').argParser(num('--generate', 0, 1 << 20)))
    .option('--namespace <name>', 'multicast namespace clients must ask for', 'SMSNamespace')
    .option('--content <name>', 'content name clients must ask for', 'PKG00001')
    .option('--msi-port <port>', 'UDP port for session initiation', int('--msi-port', 0, 65535), MSI_PORT)
    .option('--port <port>', 'session UDP port (multicast and server port); 0 = a free one', int('--port', 0, 65535), 0)
    .option('--group <addr>', 'multicast group', DEFAULT_GROUP)
    .option('--interface <addr>', 'local IPv4 address to bind and send multicast from', DEFAULT_IFACE)
    .option('--block-size <bytes>', 'MA block size', int('--block-size', 1, 65000), 1385)
    .addOption(new Option('--block-base <n>', 'number of the first block').choices(['0', '1']).default('1'))
    .option('--rate <MB/s>', 'cap on ODATA+RDATA bytes per second (10^6 bytes)', num('--rate', 0, 1e5))
    .option('--drop-percent <p>', 'drop this percentage of ODATA packets at random on send', num('--drop-percent', 0, 100), 0)
    .option('--fw-lead-every <n>', 'send ODATA_FW_LEAD_SEQ_NO asking the master client to ACK every n packets, as Server 2012/2012 R2 do (0 = off: an ACK per ODATA, as 2008 R2)', int('--fw-lead-every', 0, 1 << 20), 32)
    .option('--exp-max-window <n>', 'ExpMaxWindowSize: the window grows by 2 per ACKed packet up to here (MS-WDSMT 3.1.5.9.5)', int('--exp-max-window', 1, 1 << 20), 64)
    .option('--max-window <n>', 'MaxWindowSize: the largest window, in packets (MS-WDSMT 3.1.5.9.5)', int('--max-window', 1, 1 << 20), 2048)
    .option('--master-hold <ms>', 'after a Master Client switch, no NACK-driven switch for this long (0 = MS-WDSMT 3.1.5.9.6.1 literally)', int('--master-hold', 0, 1 << 30), 0)
    .option('--http-port <port>', 'also serve the content over HTTP (ranged, ETag) on --interface at this TCP port, as /SMS_DP_SMSPKG$/<content>/<content> (the DP\'s IIS stand-in); 0 = a free one; printed as httpUrl', int('--http-port', 0, 65535))
    .option('--lower-rate <MB/s>', 'rate cap of the lower-speed session a DEMOTE (SIGUSR2) sends a client to (default half of --rate, or 10)', num('--lower-rate', 0.001, 1e5))
    .option('--send-buffer <KiB>', 'SO_SNDBUF of the session socket (doubled by the kernel, capped by net.core.wmem_max): what the kernel queues ahead of an RDATA; the coordinator releases no ODATA while 64 datagrams are unsent (protocol-notes #106)', int('--send-buffer', 1, 1 << 20), SEND_BUFFER / 1024)
    .addOption(new Option('--nack-cut <per>', 'the x0.75 window cut of MS-WDSMT 3.1.5.9.6 on every NACK, as written, or at most once per window of data (protocol-notes #107)').choices(['nack', 'window']).default('nack'))
    .option('--queue-target <ms>', 'the window grows only while MCRTT is within this of its lowest of the last 10-20 s and shrinks above twice that (protocol-notes #105; 0 = grow on every ACK, as MS-WDSMT 3.1.5.9.5 says)', int('--queue-target', 0, 60_000), 0)
    .addOption(new Option('--repeat-guard <from>', "the 4 x MCRTT skip of a NACKed packet (MS-WDSMT 3.1.5.9.6) runs from its last RDATA, or from its ODATA too (protocol-notes #100)").choices(['rdata', 'odata']).default('rdata'))
    .option('--session-id <id>', 'session id (default random)', int('--session-id', 1, 0xffffffff))
    .option('--no-udp-msi', 'do not answer MS-WDSMSI on UDP (like Windows Server 2016+); needs --rpc-port')
    .option('--rpc-port <port>', 'serve session initiation over DCE/RPC (MS-WDSC) on this TCP port; 0 = a free one', int('--rpc-port', 0, 65535))
    .option('--epm-port <port>', 'also answer ept_map (endpoint mapper) for it on this TCP port', int('--epm-port', 0, 65535))
    .option('--rpc-user <DOMAIN\\name>', 'account whose NTLMv2 authentication is accepted (name@domain and a bare name work too)')
    .option('--rpc-password-file <path>', "that account's password: first line of the file (else env OSDCAST_COORD_PASSWORD)")
    .addOption(new Option('--rpc-anonymous <allow|deny>', 'serve unauthenticated calls and anonymous NTLM').choices(['allow', 'deny']).default('deny'))
    .option('--sec-mode <mode>', `MS-WDSMT security of the session for clients that are not pre-OS: ${SEC_MODE_NAMES.join(', ')} (pre-OS clients get checksum)`, 'checksum')
    .showHelpAfterError();
  program.parse();
  const o = program.opts<{
    file?: string;
    generate?: number;
    namespace: string;
    content: string;
    msiPort: number;
    port: number;
    group: string;
    interface: string;
    blockSize: number;
    blockBase: '0' | '1';
    rate?: number;
    dropPercent: number;
    fwLeadEvery: number;
    expMaxWindow: number;
    maxWindow: number;
    masterHold: number;
    lowerRate?: number;
    httpPort?: number;
    repeatGuard: 'rdata' | 'odata';
    queueTarget: number;
    nackCut: 'nack' | 'window';
    sendBuffer: number;
    sessionId?: number;
    udpMsi: boolean;
    rpcPort?: number;
    epmPort?: number;
    rpcUser?: string;
    rpcPasswordFile?: string;
    rpcAnonymous: 'allow' | 'deny';
    secMode: string;
  }>();
  if (o.file === undefined && o.generate === undefined) program.error('give --file <path> or --generate <MiB>');
  const bad = (m: string): never => {
    process.stderr.write(`error: ${m}\n`);
    process.exit(2);
  };
  if (!(SEC_MODE_NAMES as readonly string[]).includes(o.secMode)) bad(`--sec-mode must be one of ${SEC_MODE_NAMES.join(', ')}, not ${JSON.stringify(o.secMode)}`);
  const security = newSecurity(o.secMode as SecModeName, () => randomBytes(4).readUInt32BE(0) / 2 ** 32);
  if (!o.udpMsi && o.rpcPort === undefined) bad('--no-udp-msi leaves no way to start a session: give --rpc-port');
  if (o.expMaxWindow > o.maxWindow) bad(`--exp-max-window (${o.expMaxWindow}) must not exceed --max-window (${o.maxWindow})`);
  if (o.rpcPort === undefined && (o.epmPort !== undefined || o.rpcUser !== undefined || o.rpcPasswordFile !== undefined)) bad('--epm-port, --rpc-user and --rpc-password-file need --rpc-port');
  let rpc: RpcOptions | undefined;
  if (o.rpcPort !== undefined) {
    let password: string | undefined;
    if (o.rpcPasswordFile !== undefined) {
      try {
        password = readPassword(o.rpcPasswordFile);
      } catch (e) {
        bad(`cannot read --rpc-password-file: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
      }
    } else password = process.env.OSDCAST_COORD_PASSWORD;
    if (o.rpcUser !== undefined && !password) bad('--rpc-user needs a password: --rpc-password-file <path> or OSDCAST_COORD_PASSWORD');
    if (o.rpcUser === undefined && o.rpcPasswordFile !== undefined) bad('--rpc-password-file without --rpc-user');
    const who = o.rpcUser !== undefined ? parseUser(o.rpcUser) : undefined;
    if (who && !who.user) bad(`--rpc-user ${JSON.stringify(o.rpcUser)} names no user`);
    rpc = {
      port: o.rpcPort,
      ...(o.epmPort !== undefined ? { epmPort: o.epmPort } : {}),
      ...(who ? { account: new Credentials({ ...who, password: password! }) } : {}),
      allowAnonymous: o.rpcAnonymous === 'allow',
      onEvent: (e) => {
        const line = describeRpc(e);
        if (line) log(line);
      },
    };
    if (!who && !rpc.allowAnonymous) log('warning: no --rpc-user and --rpc-anonymous deny: every RPC session request will be refused');
  }

  let gen: Awaited<ReturnType<typeof generate>> | undefined;
  if (o.generate !== undefined) {
    gen = await generate(o.generate);
    log(`generated ${o.generate} MiB of random content, SHA-256 ${gen.sha256}`);
  }
  const r = await startCoordinator({
    file: gen ? gen.file : o.file,
    data: gen?.data,
    namespace: o.namespace,
    content: o.content,
    msiPort: o.msiPort,
    port: o.port,
    group: o.group,
    iface: o.interface,
    blockSize: o.blockSize,
    blockBase: o.blockBase === '0' ? 0 : 1,
    rateBytesPerSec: o.rate ? o.rate * 1e6 : undefined,
    dropPercent: o.dropPercent,
    fwLeadEvery: o.fwLeadEvery,
    expMaxWindow: o.expMaxWindow,
    maxWindow: o.maxWindow,
    masterHoldMs: o.masterHold,
    repeatGuard: o.repeatGuard,
    queueTargetMs: o.queueTarget,
    nackCut: o.nackCut,
    sendBufferBytes: o.sendBuffer * 1024,
    sessionId: o.sessionId,
    security,
    udpMsi: o.udpMsi,
    ...(rpc ? { rpc } : {}),
    onEvent: (e) => log(describe(e)),
    lower: { ...(o.lowerRate ? { rateBytesPerSec: o.lowerRate * 1e6 } : {}), onEvent: (e) => log(`lower session: ${describe(e)}`) },
  }).catch((e: Error) => {
    gen?.cleanup();
    log(`cannot start: ${e.message}`);
    process.exit(1);
  });
  let web: ContentServer | undefined;
  let webFile: { close(): void } | undefined;
  if (o.httpPort !== undefined) {
    const fsrc = gen?.data ? undefined : fileSource((gen?.file ?? o.file)!);
    webFile = fsrc;
    web = await startContentServer({ source: gen?.data ? bufferContent(gen.data) : fsrc!.source, path: `/SMS_DP_SMSPKG$/${o.content}/${o.content}`, iface: o.interface, port: o.httpPort }).catch((e: Error) => {
      log(`cannot start the HTTP server: ${e.message}`);
      process.exit(1);
    });
  }
  const blocks = r.coordinator.totalBlocks;
  log(
    `serving ${o.namespace}/${o.content}: ${r.size} bytes, ${blocks} blocks of ${o.blockSize} (first block ${o.blockBase}); ` +
      `${o.udpMsi ? `MSI ${r.iface}:${r.msiPort}` : 'no UDP MSI'}, ` +
      (r.rpcPort !== undefined ? `WDSC RPC tcp ${r.iface}:${r.rpcPort} (anonymous ${o.rpcAnonymous}${rpc?.account ? `, user ${rpc.account.toString()}` : ''}), ` : '') +
      (r.epmPort !== undefined ? `endpoint mapper tcp ${r.iface}:${r.epmPort}, ` : '') +
      `session ${r.iface}:${r.port}, multicast ${r.group}:${r.port}, session id ${r.sessionId}` +
      `, security ${o.secMode}${o.secMode === 'checksum' ? '' : ' (pre-OS clients: checksum)'}` +
      (o.rate ? `, rate cap ${o.rate} MB/s` : '') +
      (o.dropPercent ? `, dropping ${o.dropPercent} % of ODATA` : '') +
      (web ? `, HTTP ${web.url}` : ''),
  );
  process.stdout.write(
    JSON.stringify({ event: 'ready', msiPort: o.udpMsi ? r.msiPort : null, ...(r.rpcPort !== undefined ? { rpcPort: r.rpcPort } : {}), ...(r.epmPort !== undefined ? { epmPort: r.epmPort } : {}), port: r.port, group: r.group, iface: r.iface, sessionId: r.sessionId, size: r.size, blocks, sha256: gen?.sha256, ...(web ? { httpUrl: web.url } : {}) }) + '\n',
  );

  let stopping = false;
  const stop = async (sig: string) => {
    if (stopping) return;
    stopping = true;
    log(`${sig}: stopping`);
    await r.stop();
    await web?.stop();
    webFile?.close();
    gen?.cleanup();
    const s = r.coordinator.stats;
    log(
      `stats: odata ${s.odataSent}, rdata ${s.rdataSent}, ncf ${s.ncfSent}, spm ${s.spmSent}, dropped ${s.droppedOdata}, ` +
        `acks ${s.acksReceived} (${s.acksRejected} rejected), nacks ${s.nacksReceived}, rounds ${s.rounds}, ` +
        `clients joined ${s.clientsJoined} left ${s.clientsLeft} timed out ${s.clientsTimedOut}, malformed ${s.malformed + s.checksumErrors}, bad HMAC ${s.authFailed}, send errors ${r.sendErrors()}` +
        (r.rpcPort !== undefined ? `, session requests ${s.msiRequests} (${s.msiReplies} replied, ${s.msiErrors} errors), WdsRpcMessage calls ${s.wdscCalls} (${s.wdscRefused} refused)` : ''),
    );
    process.stdout.write(JSON.stringify({ event: 'stats', ...s, sendErrors: r.sendErrors() }) + '\n');
    process.exit(0);
  };
  process.on('SIGUSR2', () => {
    const c = r.coordinator.clients().filter((x) => x.state === 'active' && x.supportsDemote).sort((a, b) => b.lossRate - a.lossRate)[0];
    if (!c) return log('SIGUSR2: no Active client that supports DEMOTE');
    void r.demote(c.clientId).then((ok) => {
      const l = r.lower();
      log(ok && l ? `SIGUSR2: demoting client ${c.clientId} (LossRate ${c.lossRate.toFixed(4)}) to session ${l.sessionId} at ${l.group}:${l.port}` : `SIGUSR2: client ${c.clientId} was not demoted`);
    });
  });
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGTERM', () => void stop('SIGTERM'));
}

main().catch((e: Error) => {
  log(`fatal: ${e.stack ?? e.message}`);
  process.exit(1);
});
