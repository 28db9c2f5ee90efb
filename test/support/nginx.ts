/**
 * A real nginx for the HTTP fallback tests: generated config in a temp dir (no default site, logs and temp paths
 * in that dir, `daemon off;` so the spawned process is the master), loopback ports, optional TLS with a test CA
 * made by the openssl CLI. Stopped by its pid (SIGTERM, then SIGKILL), never by name.
 *
 *   const ng = await startNginx({ root });   // root: a folder of test files, served at /
 *   ... `http://127.0.0.1:${ng.port}/file` ... `https://localhost:${ng.httpsPort}/file` (trust ng.caPem)
 *   await ng.stop();
 *
 * Also served: /private/* (basic auth with no valid user → 401 + WWW-Authenticate) and /forbidden/* (403).
 * Use nginxAvailable() with canRun() from ./env so tests skip with a reason where nginx is absent.
 *
 * `startNginx({ root, dav: true })` also answers WebDAV PROPFIND (and OPTIONS) on every folder, as IIS WebDAV does
 * on a distribution point: it loads Debian's dav-ext module (libnginx-mod-http-dav-ext) and sets
 * `dav_ext_methods PROPFIND OPTIONS`. canRunNginx(false, true) checks that the module is installed.
 */
import { spawn, spawnSync, ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { canRun } from './env';

export interface NginxServer {
  port: number;
  httpsPort?: number;
  /** PEM of the test CA that issued the server certificate (TLS only). */
  caPem?: string;
  pid: number;
  /** The temp dir with nginx.conf, logs and (TLS) the CA, certificate and key. */
  dir: string;
  errorLog(): string;
  accessLog(): string;
  stop(): Promise<void>;
}

export interface NginxOptions {
  /** Folder served at /. */
  root: string;
  tls?: boolean;
  /** Answer WebDAV PROPFIND (Depth 0 and 1; "infinity" is refused with 403, as IIS does by default). */
  dav?: boolean;
  /**
   * Run inside this network namespace (a lab host's: `ip netns exec`), listening on `address` port 8080 instead of
   * 127.0.0.1 and an ephemeral port (the namespace is the test's own; its ports are all free). Ready once nginx wrote
   * its pid file (after it opened its sockets).
   */
  netns?: { ns: string; address: string };
}

const CANDIDATES = ['/usr/sbin/nginx', '/usr/local/sbin/nginx', '/usr/local/nginx/sbin/nginx', '/usr/bin/nginx'];

export function nginxBinary(): string | undefined {
  for (const c of CANDIDATES) if (fs.existsSync(c)) return c;
  const r = spawnSync('sh', ['-c', 'command -v nginx'], { encoding: 'utf8' });
  const p = r.stdout?.trim();
  return r.status === 0 && p ? p : undefined;
}

const DAV_EXT_CANDIDATES = ['/usr/lib/nginx/modules/ngx_http_dav_ext_module.so', '/usr/share/nginx/modules/ngx_http_dav_ext_module.so', '/usr/lib64/nginx/modules/ngx_http_dav_ext_module.so'];

/** The dynamic module that gives nginx PROPFIND (Debian: libnginx-mod-http-dav-ext). */
export function davExtModule(): string | undefined {
  return DAV_EXT_CANDIDATES.find((c) => fs.existsSync(c));
}

export function opensslAvailable(): boolean {
  return spawnSync('openssl', ['version'], { stdio: 'ignore' }).status === 0;
}

/** Whether startNginx can work here, and if not why (for canRun). */
export function nginxAvailable(tls = false, dav = false): { ok: boolean; reason: string } {
  if (!nginxBinary()) return { ok: false, reason: 'nginx is not installed (packaging/ci-deps-http.sh installs it)' };
  if (tls && !opensslAvailable()) return { ok: false, reason: 'the openssl CLI is not installed (packaging/ci-deps-http.sh installs it)' };
  if (dav && !davExtModule()) return { ok: false, reason: 'the nginx WebDAV module is not installed: apt-get install libnginx-mod-http-dav-ext (packaging/ci-deps-http.sh installs it)' };
  return { ok: true, reason: '' };
}

/** canRun() for nginx tests: true when they may run; prints why not, or throws under OSDCAST_STRICT=1. */
export function canRunNginx(tls = false, dav = false): boolean {
  const a = nginxAvailable(tls, dav);
  return canRun(a.ok, `nginx tests: ${a.reason}`);
}

/** nginx masters still running, by pid: killed if the test process exits without stop() (crash, timeout). */
const running = new Set<number>();
process.once('exit', () => {
  for (const pid of running) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
});

function run(cmd: string, args: string[], cwd: string): void {
  const r = spawnSync(cmd, args, { cwd, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status ?? r.signal}): ${r.stderr || r.error?.message}`);
}

/** A test CA and a server certificate for 127.0.0.1 and localhost (SAN), ECDSA P-256, valid 2 days. */
export function makeTestPki(dir: string): { caPem: string; cert: string; key: string; caKey: string } {
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  run('openssl', ['req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2', '-subj', '/CN=osdcast test CA', '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'], dir);
  run('openssl', ['req', ...ec, '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=localhost'], dir);
  fs.writeFileSync(
    path.join(dir, 'server.ext'),
    'subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n',
  );
  run('openssl', ['x509', '-req', '-in', 'server.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'server.pem', '-days', '2', '-extfile', 'server.ext'], dir);
  return { caPem: fs.readFileSync(path.join(dir, 'ca.pem'), 'utf8'), cert: path.join(dir, 'server.pem'), key: path.join(dir, 'server.key'), caKey: path.join(dir, 'ca.key') };
}

/** A port that was free a moment ago (nginx needs a number; a lost race is retried by startNginx). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const p = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(p));
    });
  });
}

function config(dir: string, root: string, port: number, tls: { port: number; cert: string; key: string } | undefined, davModule?: string, address = '127.0.0.1'): string {
  const q = (s: string) => JSON.stringify(s); // nginx accepts double-quoted strings with \" escapes
  // As root the workers would switch to "nobody" (and Debian has no group "nobody"); these are throw-away test
  // servers on loopback serving a temp dir, so they keep the caller's user.
  const user = process.getuid?.() === 0 ? 'user root root;' : '';
  return `# generated by test/support/nginx.ts
${davModule ? `load_module ${q(davModule)};\n` : ''}daemon off;
master_process on;
worker_processes 1;
${user}
pid ${q(path.join(dir, 'nginx.pid'))};
error_log ${q(path.join(dir, 'error.log'))} info;
events { worker_connections 256; }
http {
  access_log ${q(path.join(dir, 'access.log'))};
  client_body_temp_path ${q(path.join(dir, 'tmp', 'body'))};
  proxy_temp_path ${q(path.join(dir, 'tmp', 'proxy'))};
  fastcgi_temp_path ${q(path.join(dir, 'tmp', 'fastcgi'))};
  uwsgi_temp_path ${q(path.join(dir, 'tmp', 'uwsgi'))};
  scgi_temp_path ${q(path.join(dir, 'tmp', 'scgi'))};
  default_type application/octet-stream;
  sendfile on;
  keepalive_timeout 10s;
  server {
    listen ${address}:${port};
${tls ? `    listen ${address}:${tls.port} ssl;\n    ssl_certificate ${q(tls.cert)};\n    ssl_certificate_key ${q(tls.key)};\n` : ''}    server_name localhost 127.0.0.1;
    root ${q(root)};
    location / {${davModule ? ' dav_ext_methods PROPFIND OPTIONS; ' : ' '}}
    location /private/ {
      auth_basic "distribution point";
      auth_basic_user_file ${q(path.join(dir, 'htpasswd'))};
    }
    location /forbidden/ { deny all; }
  }
}
`;
}

/** nginx writes its pid file after it opened its listening sockets. */
function waitPidFile(file: string, child: ChildProcess, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  return new Promise((resolve, reject) => {
    const look = () => {
      if (child.exitCode !== null || child.signalCode !== null) return reject(new Error(`nginx exited (${child.exitCode ?? child.signalCode})`));
      if (fs.existsSync(file) && fs.readFileSync(file, 'utf8').trim()) return resolve();
      if (Date.now() > deadline) return reject(new Error(`nginx wrote no pid file within ${ms} ms`));
      setTimeout(look, 20);
    };
    look();
  });
}

function waitListening(port: number, child: ChildProcess, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  return new Promise((resolve, reject) => {
    const attempt = () => {
      if (child.exitCode !== null || child.signalCode !== null) return reject(new Error(`nginx exited (${child.exitCode ?? child.signalCode})`));
      const s = net.connect(port, '127.0.0.1');
      s.once('connect', () => {
        s.destroy();
        resolve();
      });
      s.once('error', () => {
        s.destroy();
        if (Date.now() > deadline) return reject(new Error(`nginx did not listen on ${port} within ${ms} ms`));
        setTimeout(attempt, 20);
      });
    };
    attempt();
  });
}

function stopPid(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return Promise.resolve();
  const pid = child.pid;
  return new Promise((resolve) => {
    const kill = setTimeout(() => {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        /* gone */
      }
    }, 3000);
    child.once('exit', () => {
      clearTimeout(kill);
      running.delete(pid);
      resolve();
    });
    try {
      process.kill(pid, 'SIGTERM'); // nginx fast shutdown: the master stops its workers and exits
    } catch {
      clearTimeout(kill);
      resolve();
    }
  });
}

export async function startNginx(o: NginxOptions): Promise<NginxServer> {
  const bin = nginxBinary();
  if (!bin) throw new Error('nginx is not installed');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'osdcast-nginx-'));
  fs.mkdirSync(path.join(dir, 'tmp'));
  fs.writeFileSync(path.join(dir, 'htpasswd'), ''); // no user can log in: every request to /private/ gets 401
  const pki = o.tls ? makeTestPki(dir) : undefined;
  const davModule = o.dav ? davExtModule() : undefined;
  if (o.dav && !davModule) throw new Error('the nginx WebDAV module is not installed (libnginx-mod-http-dav-ext)');
  const root = path.resolve(o.root);
  let lastErr: unknown;
  for (let tries = 0; tries < 5; tries++) {
    const port = o.netns ? 8080 : await freePort();
    const httpsPort = pki ? (o.netns ? 8443 : await freePort()) : undefined;
    const conf = path.join(dir, 'nginx.conf');
    fs.writeFileSync(conf, config(dir, root, port, pki && httpsPort ? { port: httpsPort, cert: pki.cert, key: pki.key } : undefined, davModule, o.netns?.address));
    // -e: the error log before the config is read (else nginx opens /var/log/nginx/error.log); -p: prefix
    const argv = ['-p', dir, '-e', path.join(dir, 'error.log'), '-c', conf];
    // `ip netns exec` execs nginx: the child's PID is nginx's master.
    const child = o.netns ? spawn('ip', ['netns', 'exec', o.netns.ns, bin, ...argv], { stdio: ['ignore', 'ignore', 'pipe'] }) : spawn(bin, argv, { stdio: ['ignore', 'ignore', 'pipe'] });
    if (child.pid !== undefined) running.add(child.pid);
    child.once('exit', () => child.pid !== undefined && running.delete(child.pid));
    let stderr = '';
    child.stderr!.on('data', (d) => (stderr += d));
    try {
      if (o.netns) await waitPidFile(path.join(dir, 'nginx.pid'), child, 5000);
      else {
        await waitListening(port, child, 5000);
        if (httpsPort) await waitListening(httpsPort, child, 5000);
      }
    } catch (e) {
      await stopPid(child);
      const log = safeRead(path.join(dir, 'error.log'));
      lastErr = new Error(`${(e as Error).message}: ${stderr.trim()} ${log.split('\n').slice(-5).join('\n')}`);
      if (/Address already in use/i.test(stderr + log)) continue; // lost the port race: another pair
      break;
    }
    return {
      port,
      httpsPort,
      caPem: pki?.caPem,
      pid: child.pid!,
      dir,
      errorLog: () => safeRead(path.join(dir, 'error.log')),
      accessLog: () => safeRead(path.join(dir, 'access.log')),
      stop: async () => {
        await stopPid(child);
        fs.rmSync(dir, { recursive: true, force: true });
      },
    };
  }
  fs.rmSync(dir, { recursive: true, force: true });
  throw lastErr instanceof Error ? lastErr : new Error(String(lastErr));
}

function safeRead(p: string): string {
  try {
    return fs.readFileSync(p, 'utf8');
  } catch {
    return '';
  }
}
