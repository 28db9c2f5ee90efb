/**
 * The namespace lab: a Linux bridge in a "switch" network namespace and one namespace per host, each joined to the
 * bridge by a veth pair (`eth0` in the host, `p-<host>` on the bridge), addresses in a private /24 that exists
 * only inside the lab, a multicast route, rp_filter off, IPv6 off. Processes are started in a host with
 * `ip netns exec`; `teardown()` always ends them by PID and deletes every namespace (so the veths go too), also
 * after a failure, and an exit hook does the same if the test process dies first.
 *
 *   const lab = await createLab({ hosts: [{ name: 'coord', host: 1 }, { name: 'rx', host: 10 }] });
 *   const p = lab.start('coord', [process.execPath, 'dist/coordinator.cjs', '--interface', lab.address('coord')]);
 *   await p.line((l) => l.includes('"ready"'));
 *   await lab.teardown();
 *
 * Needs root, iproute2 and (for impairments and counters at the bridge) nftables: see `labUnavailable`.
 *
 * For the benchmark (test/bench/lab-bench.ts) the lab also shapes a host's link (`shape`: `tc tbf` on the host's
 * `eth0`, so on what it sends), drops a random share of the UDP towards chosen hosts at their bridge ports
 * (`impair`: nftables `numgen random`, drawn per packet and port, so every receiver loses independently) with
 * named counters per port (`counters`, `CounterPoller` for a cheap poll every few ms), and reads the kernel's UDP
 * drop counters inside a namespace (`udpDrops`, or `parseSnmpUdp` / `parseProcNetUdp` on `/proc/<pid>/net/…` of a
 * process that runs there).
 */
import { ChildProcess, ChildProcessWithoutNullStreams, execFile, execFileSync, spawn } from 'node:child_process';

export interface LabHostSpec {
  /** At most 13 characters (the bridge port is `p-<name>`, an interface name has at most 15). */
  name: string;
  /** Last octet of the host's address in the lab's /24. */
  host: number;
}

export interface LabOptions {
  hosts: LabHostSpec[];
  /** Namespace name prefix (default `osdlab`): a test file's own, so parallel runs by others never collide. */
  prefix?: string;
  /** First three octets of the lab's private /24; only ever configured inside the lab's namespaces. */
  subnet?: string;
  /** Bridge IGMP snooping (default off: the bridge floods multicast to every port). */
  mcastSnooping?: boolean;
  /** With snooping: make the bridge the IGMP querier, so ports that never joined are pruned. */
  mcastQuerier?: boolean;
  /** Keep IPv6 (default: disabled in every namespace, which keeps captures free of MLD/ND). */
  ipv6?: boolean;
  /**
   * IPv4 reassembly in every host namespace (`net.ipv4.ipfrag_time`, `ipfrag_high_thresh`; kernel defaults
   * 30 s and 4 MiB per namespace). With fragmented datagrams under random per-fragment loss, each loss leaves the
   * datagram's other fragments queued for ipfrag_time; at the defaults the 4 MiB fills within a second and the
   * kernel then drops every new fragment (`/proc/net/snmp` Ip ReasmFails).
   */
  ipfrag?: { timeS: number; highThreshBytes: number };
}

export interface LabHost {
  name: string;
  /** The host's network namespace. */
  ns: string;
  address: string;
  /** The host's port on the bridge (in the switch namespace). */
  bridgePort: string;
}

export interface LabProcess {
  readonly child: ChildProcess;
  readonly pid: number;
  stdout(): string;
  stderr(): string;
  /** Resolves with the first stdout line for which `match` is true; rejects if the process exits first or after `timeoutMs`. */
  line(match: (line: string) => boolean, timeoutMs?: number): Promise<string>;
  /** Resolves when the process exits (with its code, or null and the signal). */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export const DEFAULT_SUBNET = '10.77.0';

/** Why the lab cannot run here, or undefined when it can. `nft`: the test also needs nftables. */
export function labUnavailable(needs: { nft?: boolean } = {}): string | undefined {
  if (process.platform !== 'linux') return 'the namespace lab needs Linux';
  if (process.getuid?.() !== 0) return 'the namespace lab needs root (ip netns)';
  const tools: [string, string[]][] = [['ip', ['-V']]];
  if (needs.nft) tools.push(['nft', ['--version']]);
  for (const [tool, args] of tools) {
    try {
      execFileSync(tool, args, { stdio: 'ignore' });
    } catch {
      return `the namespace lab needs ${tool} (${tool === 'ip' ? 'iproute2' : 'nftables'})`;
    }
  }
  return undefined;
}

let labSeq = 0;

function run(cmd: string, args: string[], input?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const p = execFile(cmd, args, { encoding: 'utf8', timeout: 20_000 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${cmd} ${args.join(' ')}: ${stderr.trim() || err.message}`));
      else resolve(stdout);
    });
    if (input !== undefined) p.stdin!.end(input);
  });
}

export class Lab {
  readonly switchNs: string;
  private readonly hosts = new Map<string, LabHost>();
  private readonly namespaces: string[] = [];
  private readonly procs = new Set<LabProcess>();
  private readonly onExit = () => this.teardownSync();
  private torn = false;

  constructor(readonly name: string) {
    this.switchNs = `${name}-sw`;
    process.once('exit', this.onExit);
  }

  host(name: string): LabHost {
    const h = this.hosts.get(name);
    if (!h) throw new Error(`no lab host ${name}`);
    return h;
  }
  address(name: string): string {
    return this.host(name).address;
  }

  /** Runs a command inside a host's namespace (or the switch's, with `'switch'`); resolves with its stdout. */
  exec(where: string, argv: string[], input?: string): Promise<string> {
    return run('ip', ['netns', 'exec', this.nsOf(where), ...argv], input);
  }

  /** Loads an nftables ruleset (`nft -f -`) in a host's or the switch's namespace. */
  nft(where: string, ruleset: string): Promise<string> {
    return this.exec(where, ['nft', '-f', '-'], ruleset);
  }

  /** The packet count of the first `counter` in a chain (`nft list chain`). */
  async counter(where: string, family: string, table: string, chain: string): Promise<number> {
    const out = await this.exec(where, ['nft', 'list', 'chain', family, table, chain]);
    const m = /counter packets (\d+)/.exec(out);
    if (!m) throw new Error(`no counter in ${family} ${table} ${chain}:\n${out}`);
    return Number(m[1]);
  }

  /** Starts a process in a host's namespace. `ip netns exec` execs the command, so the PID is the command's. */
  start(where: string, argv: string[], opts: { env?: NodeJS.ProcessEnv; cwd?: string; stdin?: boolean } = {}): LabProcess {
    if (this.torn) throw new Error('lab is torn down');
    const child = spawn('ip', ['netns', 'exec', this.nsOf(where), ...argv], { stdio: [opts.stdin ? 'pipe' : 'ignore', 'pipe', 'pipe'], env: opts.env ?? process.env, cwd: opts.cwd });
    let out = '';
    let err = '';
    let pendingLine = '';
    const waiters: { match: (l: string) => boolean; resolve: (l: string) => void }[] = [];
    child.stdout!.setEncoding('utf8').on('data', (d: string) => {
      out += d;
      pendingLine += d;
      const lines = pendingLine.split('\n');
      pendingLine = lines.pop()!;
      for (const l of lines) for (const w of [...waiters]) if (w.match(l)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(l);
      }
    });
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
      child.on('exit', (code, signal) => resolve({ code, signal }));
      child.on('error', () => resolve({ code: null, signal: null }));
    });
    const p: LabProcess = {
      child,
      pid: child.pid ?? -1,
      stdout: () => out,
      stderr: () => err,
      exited,
      line: (match, timeoutMs = 20_000) =>
        new Promise<string>((resolve, reject) => {
          const done = out.split('\n').slice(0, -1).find(match);
          if (done !== undefined) return resolve(done);
          const t = setTimeout(() => reject(new Error(`${argv.join(' ')}: no matching line in ${timeoutMs} ms\nstdout: ${out}\nstderr: ${err}`)), timeoutMs);
          waiters.push({ match, resolve: (l) => (clearTimeout(t), resolve(l)) });
          void exited.then(({ code, signal }) => {
            clearTimeout(t);
            reject(new Error(`${argv.join(' ')} exited (${code ?? signal}) before a matching line\nstdout: ${out}\nstderr: ${err}`));
          });
        }),
    };
    this.procs.add(p);
    void exited.then(() => this.procs.delete(p));
    return p;
  }

  /**
   * Shapes what a host sends: `tc tbf` as the root qdisc of its `eth0` at `mbit` Mbit/s (undefined: removes it).
   * tbf counts whole Ethernet frames (IP length + 14). Burst: 4 ms at the rate and at least 64 KiB, several timer
   * ticks' worth, so the bucket refills between ticks and the average is the rate. Limit (queue): 8 MiB, far more
   * than a UDP socket's send buffer: a local sender's datagrams stay charged to its socket while they queue, so a
   * full queue blocks the sender (EAGAIN/backpressure) before tbf would drop. `qdisc()` reports tbf's own drops.
   */
  async shape(where: string, mbit: number | undefined): Promise<void> {
    if (mbit === undefined) {
      await this.exec(where, ['tc', 'qdisc', 'del', 'dev', 'eth0', 'root']).catch(() => undefined);
      return;
    }
    if (!(mbit > 0)) throw new Error(`shape ${where}: rate must be > 0 Mbit/s`);
    const burst = Math.max(64 * 1024, Math.ceil((mbit * 1e6 * 0.004) / 8));
    await this.exec(where, ['tc', 'qdisc', 'replace', 'dev', 'eth0', 'root', 'tbf', 'rate', `${mbit}mbit`, 'burst', String(burst), 'limit', String(8 << 20)]);
  }

  /** Root qdisc statistics of a host's `eth0` (`tc -s`): bytes and packets sent, dropped, overlimits. */
  async qdisc(where: string): Promise<{ kind: string; bytes: number; packets: number; dropped: number; overlimits: number }> {
    const out = await this.exec(where, ['tc', '-s', 'qdisc', 'show', 'dev', 'eth0']);
    const m = /qdisc (\S+)[^\n]*\n\s*Sent (\d+) bytes (\d+) pkt \(dropped (\d+), overlimits (\d+)/.exec(out);
    if (!m) throw new Error(`tc -s qdisc show dev eth0 in ${where}: ${out}`);
    return { kind: m[1]!, bytes: Number(m[2]), packets: Number(m[3]), dropped: Number(m[4]), overlimits: Number(m[5]) };
  }

  /**
   * Replaces the bridge table `osdlab` with, for every host in `towards` (its bridge port, so per receiver):
   * - counter `<host>_seen`: frames longer than `dataBytes` (data, not control) forwarded towards it, before loss;
   * - counter `<host>_lost`: UDP towards it dropped at random, `lossPer10k` in 10,000 (`numgen random mod 10000`,
   *   a fresh draw per packet and port; an IP fragment is one packet, so a datagram of k fragments is lost with
   *   1 - (1 - p)^k);
   * - counter `<host>_data`: frames longer than `dataBytes` that got through.
   */
  async impair(towards: string[], o: { lossPer10k?: number; dataBytes?: number } = {}): Promise<void> {
    const loss = o.lossPer10k ?? 0;
    if (!Number.isInteger(loss) || loss < 0 || loss > 10000) throw new Error(`impair: lossPer10k ${loss} is not 0..10000`);
    const big = o.dataBytes ?? 1000;
    const lines = ['table bridge osdlab {'];
    for (const h of towards) for (const c of ['seen', 'lost', 'data']) lines.push(`  counter ${h}_${c} {}`);
    lines.push('  chain forward {', '    type filter hook forward priority 0; policy accept;');
    for (const h of towards.map((n) => this.host(n))) {
      lines.push(`    oifname "${h.bridgePort}" meta length > ${big} counter name "${h.name}_seen"`);
      if (loss > 0) lines.push(`    oifname "${h.bridgePort}" meta protocol ip ip protocol udp numgen random mod 10000 < ${loss} counter name "${h.name}_lost" drop`);
      lines.push(`    oifname "${h.bridgePort}" meta length > ${big} counter name "${h.name}_data"`);
    }
    lines.push('  }', '}');
    await this.exec('switch', ['nft', 'delete', 'table', 'bridge', 'osdlab']).catch(() => undefined);
    await this.nft('switch', lines.join('\n') + '\n');
  }

  /** Every named counter of the table `impair` built: `{ "<host>_seen": packets, … }`. */
  async counters(): Promise<Record<string, number>> {
    return parseNftCounters(await this.exec('switch', ['nft', '-j', 'list', 'counters', 'table', 'bridge', 'osdlab']));
  }

  /** One long-lived `nft -j -i` in the switch namespace answering counter reads (a poll costs no process start). */
  counterPoller(): CounterPoller {
    const p = this.start('switch', ['nft', '-j', '-i'], { stdin: true });
    return new CounterPoller(p);
  }

  /** The namespace's `/proc/net/snmp` Udp counters (RcvbufErrors, InErrors, InDatagrams, …). */
  async udpSnmp(where: string): Promise<Record<string, number>> {
    return parseSnmpUdp(await this.exec(where, ['cat', '/proc/net/snmp']));
  }

  /** Ends every process this lab started (by PID: SIGTERM, then SIGKILL) and deletes every namespace. */
  async teardown(): Promise<void> {
    if (this.torn) return;
    this.torn = true;
    const procs = [...this.procs];
    for (const p of procs) signal(p.pid, 'SIGTERM');
    await Promise.race([Promise.all(procs.map((p) => p.exited)), new Promise((r) => setTimeout(r, 3000))]);
    for (const p of procs) signal(p.pid, 'SIGKILL');
    await Promise.all(procs.map((p) => p.exited));
    this.killLeftovers();
    for (const ns of [...this.namespaces].reverse()) await run('ip', ['netns', 'del', ns]).catch(() => undefined);
    this.namespaces.length = 0;
    process.removeListener('exit', this.onExit);
  }

  /** The namespaces that still exist (for the lab's own test). */
  existing(): string[] {
    const list = execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' });
    const names = new Set(list.split('\n').map((l) => l.split(' ')[0]));
    return [this.switchNs, ...[...this.hosts.values()].map((h) => h.ns)].filter((n) => names.has(n));
  }

  // ------------------------------------------------------------ setup (createLab)
  async addNamespace(ns: string): Promise<void> {
    await run('ip', ['netns', 'add', ns]);
    this.namespaces.push(ns);
    await run('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
  }

  async addHost(spec: LabHostSpec, subnet: string, ipv6: boolean, ipfrag?: LabOptions['ipfrag']): Promise<LabHost> {
    if (!/^[a-z][a-z0-9]{0,12}$/.test(spec.name)) throw new Error(`lab host name ${spec.name}: 1-13 lowercase letters and digits`);
    if (!Number.isInteger(spec.host) || spec.host < 1 || spec.host > 254) throw new Error(`lab host ${spec.name}: host octet must be 1..254`);
    const h: LabHost = { name: spec.name, ns: `${this.name}-${spec.name}`, address: `${subnet}.${spec.host}`, bridgePort: `p-${spec.name}` };
    await this.addNamespace(h.ns);
    const sw = this.switchNs;
    await run('ip', ['-n', sw, 'link', 'add', h.bridgePort, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', h.ns]);
    await run('ip', ['-n', sw, 'link', 'set', h.bridgePort, 'master', 'br0', 'up']);
    const sysctls = ['net.ipv4.conf.all.rp_filter=0', 'net.ipv4.conf.default.rp_filter=0', 'net.ipv4.conf.eth0.rp_filter=0'];
    if (!ipv6) sysctls.push('net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1');
    if (ipfrag) sysctls.push(`net.ipv4.ipfrag_high_thresh=${ipfrag.highThreshBytes}`, `net.ipv4.ipfrag_time=${ipfrag.timeS}`);
    await run('ip', ['netns', 'exec', h.ns, 'sysctl', '-qw', ...sysctls]);
    await run('ip', ['-n', h.ns, 'link', 'set', 'eth0', 'mtu', '1500', 'up']);
    // `brd +`: the subnet broadcast address, where udpcast's rendez-vous goes by default.
    await run('ip', ['-n', h.ns, 'addr', 'add', `${h.address}/24`, 'brd', '+', 'dev', 'eth0']);
    // No default route: multicast needs its own.
    await run('ip', ['-n', h.ns, 'route', 'add', '224.0.0.0/4', 'dev', 'eth0']);
    this.hosts.set(h.name, h);
    return h;
  }

  private nsOf(where: string): string {
    return where === 'switch' ? this.switchNs : this.host(where).ns;
  }

  /** Any process still inside our namespaces was started there by us (directly or as a child): end it by PID. */
  private killLeftovers(): void {
    for (const ns of this.namespaces) {
      let pids: string[] = [];
      try {
        pids = execFileSync('ip', ['netns', 'pids', ns], { encoding: 'utf8' }).split('\n').filter(Boolean);
      } catch {
        continue;
      }
      for (const pid of pids) signal(Number(pid), 'SIGKILL');
    }
  }

  private teardownSync(): void {
    if (this.torn) return;
    this.torn = true;
    for (const p of this.procs) signal(p.pid, 'SIGKILL');
    this.killLeftovers();
    for (const ns of [...this.namespaces].reverse()) {
      try {
        execFileSync('ip', ['netns', 'del', ns], { stdio: 'ignore' });
      } catch {
        /* already gone */
      }
    }
  }
}

function signal(pid: number, sig: NodeJS.Signals): void {
  if (pid <= 0) return;
  try {
    process.kill(pid, sig);
  } catch {
    /* already exited */
  }
}

/** Builds the lab; on any failure what was built is torn down again before the error is thrown. */
export async function createLab(o: LabOptions): Promise<Lab> {
  if (o.prefix !== undefined && !/^[a-z][a-z0-9]{0,11}$/.test(o.prefix)) throw new Error(`lab prefix ${o.prefix}: 1-12 lowercase letters and digits`);
  const lab = new Lab(`${o.prefix ?? 'osdlab'}${process.pid}x${labSeq++}`);
  const subnet = o.subnet ?? DEFAULT_SUBNET;
  if (!/^(10\.\d{1,3}\.\d{1,3}|192\.168\.\d{1,3}|172\.(1[6-9]|2\d|3[01])\.\d{1,3})$/.test(subnet)) throw new Error(`lab subnet ${subnet} is not a private /24 prefix`);
  try {
    await lab.addNamespace(lab.switchNs);
    const sw = lab.switchNs;
    const bridge = ['mcast_snooping', o.mcastSnooping ? '1' : '0'];
    if (o.mcastSnooping && o.mcastQuerier) bridge.push('mcast_querier', '1');
    await run('ip', ['-n', sw, 'link', 'add', 'br0', 'type', 'bridge', 'stp_state', '0', 'forward_delay', '0', ...bridge]);
    await run('ip', ['-n', sw, 'link', 'set', 'br0', 'up']);
    for (const h of o.hosts) await lab.addHost(h, subnet, o.ipv6 ?? false, o.ipfrag);
    return lab;
  } catch (e) {
    await lab.teardown();
    throw e;
  }
}

/** The `Udp:` lines of a `/proc/net/snmp` text as numbers. */
export function parseSnmpUdp(text: string): Record<string, number> {
  const lines = text.split('\n').filter((l) => l.startsWith('Udp:'));
  if (lines.length < 2) return {};
  const keys = lines[0]!.split(/\s+/).slice(1);
  const vals = lines[1]!.split(/\s+/).slice(1).map(Number);
  return Object.fromEntries(keys.map((k, i) => [k, vals[i]!]));
}

export interface UdpSocketLine {
  /** local port */
  port: number;
  inode: number;
  /** bytes queued for reading now */
  rxQueue: number;
  /** datagrams this socket dropped (the last column) */
  drops: number;
}

/** The sockets of a `/proc/net/udp` text (one namespace's): local port, inode, receive queue and drops. */
export function parseProcNetUdp(text: string): UdpSocketLine[] {
  const out: UdpSocketLine[] = [];
  for (const line of text.split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 13) continue;
    const port = parseInt(f[1]!.split(':')[1] ?? '', 16);
    const rxQueue = parseInt(f[4]!.split(':')[1] ?? '', 16);
    out.push({ port, inode: Number(f[9]), rxQueue, drops: Number(f[f.length - 1]) });
  }
  return out;
}

function parseNftCounters(json: string): Record<string, number> {
  const out: Record<string, number> = {};
  const doc = JSON.parse(json) as { nftables: { counter?: { name: string; packets: number } }[] };
  for (const e of doc.nftables) if (e.counter) out[e.counter.name] = e.counter.packets;
  return out;
}

/** Reads the `osdlab` counters through one interactive nft: each `read()` is one line written and one JSON line back. */
export class CounterPoller {
  private buf = '';
  private readonly queue: { resolve: (c: Record<string, number>) => void; reject: (e: Error) => void }[] = [];
  private readonly stdin;
  constructor(readonly proc: LabProcess) {
    this.stdin = (proc.child as ChildProcessWithoutNullStreams).stdin;
    proc.child.stdout!.on('data', (d: Buffer | string) => {
      this.buf += d.toString();
      let i;
      while ((i = this.buf.indexOf('\n')) >= 0) {
        const line = this.buf.slice(0, i);
        this.buf = this.buf.slice(i + 1);
        if (!line.startsWith('{')) continue;
        const w = this.queue.shift();
        try {
          w?.resolve(parseNftCounters(line));
        } catch (e) {
          w?.reject(e as Error);
        }
      }
    });
    void proc.exited.then(() => {
      for (const w of this.queue.splice(0)) w.reject(new Error('nft -i exited'));
    });
  }
  read(): Promise<Record<string, number>> {
    return new Promise((resolve, reject) => {
      this.queue.push({ resolve, reject });
      this.stdin.write('list counters table bridge osdlab\n');
    });
  }
  async close(): Promise<void> {
    this.stdin.end();
    await this.proc.exited;
  }
}
