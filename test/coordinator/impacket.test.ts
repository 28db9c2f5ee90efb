/**
 * impacket (Debian python3-impacket, run with /usr/bin/python3) as an independent DCE/RPC + NTLM client of the
 * coordinator's WDSC listener on loopback (ephemeral port, UDP session initiation off, as on Server 2016+):
 * impacket's own DCERPC client with NTLM (auth type 10) at PKT_PRIVACY, anonymous and at level NONE, and
 * SPNEGO (auth type 9) built from impacket's PDU/SPNEGO/NTLM pieces (impacket_wdsc.py says why), each calling
 * WdsRpcMessage with a WDSMC_OP_INITIATE the script packs by hand from the specs, and reading the reply's
 * variables itself. A wrong password and refused anonymous access show up in impacket as errors.
 * Skips with a printed reason without impacket; fails under OSDCAST_STRICT=1.
 */
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Credentials } from '../../core/ntlm/auth';
import { canRun } from '../support/env';
import { RunningCoordinator, startCoordinator } from './udp';

const PYTHON = '/usr/bin/python3';
const SCRIPT = path.join(__dirname, 'impacket_wdsc.py');
const probe = spawnSync(PYTHON, ['-c', 'import impacket.dcerpc.v5.transport, impacket.spnego, Cryptodome.Cipher.ARC4'], { encoding: 'utf8' });
const available = probe.status === 0;
const reason = `impacket not importable by ${PYTHON} (Debian package python3-impacket): ${(probe.stderr ?? probe.error?.message ?? '').trim().split('\n').pop()}`;

const USER = 'svc-osd';
const DOMAIN = 'LAB';
const PASSWORD = 'Impacket-Pässw0rd';
const data = randomBytes(1385 * 40 + 11);

type Out = {
  ok: boolean;
  error?: string;
  fault?: number | null;
  returnValue?: number;
  serverSignatureOk?: boolean;
  authLevel?: number;
  reply?: Record<string, unknown> & { errorCode: number; variables: string[] };
};

/** Runs the script asynchronously (the coordinator serves in this process); the password goes on stdin. */
function impacket(port: number, mode: 'dcerpc' | 'spnego' | 'none', creds: { user: string; password: string; domain: string }, content = 'PKG00001'): Promise<Out> {
  return new Promise((resolve, reject) => {
    const child = spawn(PYTHON, [SCRIPT], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('exit', (code) => {
      clearTimeout(timer);
      if (code !== 0) return reject(new Error(`impacket_wdsc.py ${mode} exited ${code}: ${stderr}`));
      resolve(JSON.parse(stdout) as Out);
    });
    child.stdin.end(JSON.stringify({ host: '127.0.0.1', port, mode, ...creds, namespace: 'SMSNamespace', content, client: 'PXE-IMPACKET' }));
  });
}

const good = { user: USER, password: PASSWORD, domain: DOMAIN };
const wrong = { user: USER, password: 'not-the-password', domain: DOMAIN };
const anonymous = { user: '', password: '', domain: '' };

describe('impacket against the coordinator WDSC listener', () => {
  let deny: RunningCoordinator | undefined;
  let allow: RunningCoordinator | undefined;
  beforeAll(async () => {
    if (!available) return;
    const base = { data, namespace: 'SMSNamespace', content: 'PKG00001', port: 0, udpMsi: false } as const;
    const account = new Credentials({ domain: DOMAIN, user: USER, password: PASSWORD });
    deny = await startCoordinator({ ...base, rpc: { port: 0, account, allowAnonymous: false } });
    allow = await startCoordinator({ ...base, rpc: { port: 0, account, allowAnonymous: true } });
  });
  afterAll(async () => {
    await Promise.all([deny?.stop(), allow?.stop()]);
  });

  const expectSession = (o: Out, r: RunningCoordinator) => {
    expect(o.ok, o.error).toBe(true);
    expect(o.returnValue).toBe(0);
    expect(o.reply).toMatchObject({
      endpoint: '6f13a317-3687-4b54-81a5-504daa9062fa',
      packetType: 2,
      errorCode: 0,
      sessionId: r.sessionId,
      multicastAddr: r.group,
      multicastPort: r.port,
      serverAddr: '127.0.0.1',
      serverPort: r.port,
      contentSize: data.length,
      blockSize: 1385,
      totalBlocks: 41,
    });
    // Packet-Size is the whole packet; ContentMetadata absent or zero-length (protocol-notes #29).
    expect(o.reply!.packetSize).toBe(o.reply!.packetLength);
    expect([null, 0]).toContain(o.reply!.contentMetadataLength);
  };

  it("impacket's DCERPC client, NTLM (type 10), PKT_PRIVACY: the session's fields", async () => {
    if (!canRun(available, reason)) return;
    expectSession(await impacket(deny!.rpcPort!, 'dcerpc', good), deny!);
    expect(deny!.coordinator.stats).toMatchObject({ msiReplies: 1 });
  });

  it('SPNEGO (type 9) around NTLMSSP, PKT_PRIVACY: the session, and our server signature verified by impacket', async () => {
    if (!canRun(available, reason)) return;
    const o = await impacket(deny!.rpcPort!, 'spnego', good);
    expectSession(o, deny!);
    expect(o.serverSignatureOk).toBe(true);
    expect(o.authLevel).toBe(6);
  });

  it('unknown content comes back as the reply error ERROR_FILE_NOT_FOUND', async () => {
    if (!canRun(available, reason)) return;
    const o = await impacket(deny!.rpcPort!, 'dcerpc', good, 'PKG99999');
    expect(o.ok).toBe(true);
    expect(o.returnValue).toBe(0);
    expect(o.reply).toMatchObject({ errorCode: 2, variables: [] });
  });

  it('a wrong password: impacket sees an access-denied error, over both auth types', async () => {
    if (!canRun(available, reason)) return;
    const a = await impacket(deny!.rpcPort!, 'dcerpc', wrong);
    expect(a.ok).toBe(false);
    expect(a.error).toMatch(/access_denied/);
    const b = await impacket(deny!.rpcPort!, 'spnego', wrong);
    expect(b).toMatchObject({ ok: false, fault: 5 });
  });

  it('anonymous: refused by --rpc-anonymous deny (NTLM: access denied; level NONE: ERROR_ACCESS_DENIED), served by allow', async () => {
    if (!canRun(available, reason)) return;
    const a = await impacket(deny!.rpcPort!, 'dcerpc', anonymous);
    expect(a.ok).toBe(false);
    expect(a.error).toMatch(/access_denied/);
    expect(await impacket(deny!.rpcPort!, 'none', anonymous)).toMatchObject({ ok: true, returnValue: 5 });
    expectSession(await impacket(allow!.rpcPort!, 'dcerpc', anonymous), allow!);
    expectSession(await impacket(allow!.rpcPort!, 'none', anonymous), allow!);
  });
});
