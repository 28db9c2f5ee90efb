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
 */
import { ChildProcess, execFile, execFileSync, spawn } from 'node:child_process';

export interface LabHostSpec {
  /** At most 13 characters (the bridge port is `p-<name>`, an interface name has at most 15). */
  name: string;
  /** Last octet of the host's address in the lab's /24. */
  host: number;
}

export interface LabOptions {
  hosts: LabHostSpec[];
  /** First three octets of the lab's private /24; only ever configured inside the lab's namespaces. */
  subnet?: string;
  /** Bridge IGMP snooping (default off: the bridge floods multicast to every port). */
  mcastSnooping?: boolean;
  /** With snooping: make the bridge the IGMP querier, so ports that never joined are pruned. */
  mcastQuerier?: boolean;
  /** Keep IPv6 (default: disabled in every namespace, which keeps captures free of MLD/ND). */
  ipv6?: boolean;
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
  start(where: string, argv: string[], opts: { env?: NodeJS.ProcessEnv; cwd?: string } = {}): LabProcess {
    if (this.torn) throw new Error('lab is torn down');
    const child = spawn('ip', ['netns', 'exec', this.nsOf(where), ...argv], { stdio: ['ignore', 'pipe', 'pipe'], env: opts.env ?? process.env, cwd: opts.cwd });
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

  async addHost(spec: LabHostSpec, subnet: string, ipv6: boolean): Promise<LabHost> {
    if (!/^[a-z][a-z0-9]{0,12}$/.test(spec.name)) throw new Error(`lab host name ${spec.name}: 1-13 lowercase letters and digits`);
    if (!Number.isInteger(spec.host) || spec.host < 1 || spec.host > 254) throw new Error(`lab host ${spec.name}: host octet must be 1..254`);
    const h: LabHost = { name: spec.name, ns: `${this.name}-${spec.name}`, address: `${subnet}.${spec.host}`, bridgePort: `p-${spec.name}` };
    await this.addNamespace(h.ns);
    const sw = this.switchNs;
    await run('ip', ['-n', sw, 'link', 'add', h.bridgePort, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', h.ns]);
    await run('ip', ['-n', sw, 'link', 'set', h.bridgePort, 'master', 'br0', 'up']);
    const sysctls = ['net.ipv4.conf.all.rp_filter=0', 'net.ipv4.conf.default.rp_filter=0', 'net.ipv4.conf.eth0.rp_filter=0'];
    if (!ipv6) sysctls.push('net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1');
    await run('ip', ['netns', 'exec', h.ns, 'sysctl', '-qw', ...sysctls]);
    await run('ip', ['-n', h.ns, 'link', 'set', 'eth0', 'mtu', '1500', 'up']);
    await run('ip', ['-n', h.ns, 'addr', 'add', `${h.address}/24`, 'dev', 'eth0']);
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
  const lab = new Lab(`osdlab${process.pid}x${labSeq++}`);
  const subnet = o.subnet ?? DEFAULT_SUBNET;
  if (!/^(10\.\d{1,3}\.\d{1,3}|192\.168\.\d{1,3}|172\.(1[6-9]|2\d|3[01])\.\d{1,3})$/.test(subnet)) throw new Error(`lab subnet ${subnet} is not a private /24 prefix`);
  try {
    await lab.addNamespace(lab.switchNs);
    const sw = lab.switchNs;
    const bridge = ['mcast_snooping', o.mcastSnooping ? '1' : '0'];
    if (o.mcastSnooping && o.mcastQuerier) bridge.push('mcast_querier', '1');
    await run('ip', ['-n', sw, 'link', 'add', 'br0', 'type', 'bridge', 'stp_state', '0', 'forward_delay', '0', ...bridge]);
    await run('ip', ['-n', sw, 'link', 'set', 'br0', 'up']);
    for (const h of o.hosts) await lab.addHost(h, subnet, o.ipv6 ?? false);
    return lab;
  } catch (e) {
    await lab.teardown();
    throw e;
  }
}
