/**
 * The coordinator's WDSC side: WDSMC_OP_INITIATE over DCE/RPC answered by the same decision as the UDP MSI
 * request, in memory (the core/rpc client with the real NTLM providers ⇄ rpc.ts ⇄ the Coordinator, fake clock),
 * over loopback TCP (startCoordinator with rpc, our client through node:net), and through the CLI's new flags.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { decodeMsi, encodeMsiRequest } from '../../core/codec/msi';
import { Credentials } from '../../core/ntlm/auth';
import { NtlmClientProvider, SpnegoClientProvider } from '../../core/ntlm/providers';
import { RpcClient, RpcEvent } from '../../core/rpc/client';
import { EPM_INTERFACE, EPT_MAP_OPNUM, EPT_S_NOT_REGISTERED, decodeEptMapResponse, encodeEptMapRequest } from '../../core/rpc/epm';
import { AuthLevel } from '../../core/rpc/security';
import { WDSC_INTERFACE, WDS_RPC_MESSAGE_OPNUM, decodeWdsRpcMessageResponse, encodeWdsRpcMessageRequest } from '../../core/rpc/wds-rpc';
import { PacketType, encodeWdsc } from '../../core/wdsc/packet';
import { InitiateResult, MSI_ENDPOINT, WDSMC_OP_INITIATE, buildInitiateRequest, decodeInitiateResult } from '../../core/wdsc/initiate';
import { connect as tcpConnect } from '../core/rpc/drive';
import { spawnCoordinator } from '../support/cli-child';
import { Coordinator } from './coordinator';
import { RpcFront, RpcLink } from './rpc';
import { securityFromReply, unsupportedSecurity } from '../../core/session';
import { CoordinatorSecurity, newSecurity } from './security';
import { bufferSource } from './sim';
import { RunningCoordinator, startCoordinator } from './udp';

const NOW = Date.UTC(2026, 3, 2, 10, 0, 0);
const PASSWORD = 'Coord-Pässw0rd';
const account = new Credentials({ domain: 'LAB', user: 'svc-osd', password: PASSWORD });
const FROM = { address: '10.0.0.9', port: 50123 };
const data = randomBytes(1385 * 40 + 11);

function coordinator(rpcAnonymous = false, security?: CoordinatorSecurity): Coordinator {
  return new Coordinator({ namespace: 'SMSNamespace', content: 'PKG00001', source: bufferSource(data), sessionId: 0x4242, multicastAddr: '239.192.0.7', serverAddr: '10.0.0.1', port: 63001, rng: () => 0.5, rpcAnonymous, security }, NOW);
}

function front(coord: Coordinator, allowAnonymous = false, withAccount = true): RpcFront {
  let n = 0;
  return new RpcFront((stub, auth, from) => coord.handleWdsc(stub, auth, from, NOW), {
    wdscPort: 5040,
    address: '10.0.0.1',
    ...(withAccount ? { account } : {}),
    allowAnonymous,
    randomBytes: (len) => Buffer.alloc(len, ++n),
  });
}

type Sec = { kind: 'ntlm' | 'spnego'; creds: Credentials | undefined } | undefined;
function rpcClient(sec: Sec, abstractSyntax = WDSC_INTERFACE): RpcClient {
  const o = { credentials: sec?.creds, clientChallenge: Buffer.alloc(8, 9), exportedSessionKey: Buffer.alloc(16, 10), nowMs: NOW };
  return new RpcClient({
    abstractSyntax,
    ...(sec ? { security: { provider: sec.kind === 'ntlm' ? new NtlmClientProvider(o) : new SpnegoClientProvider(o), level: AuthLevel.PKT_PRIVACY } } : {}),
  });
}

/** Binds, makes one call and returns the client's events (pumping both sides in memory). */
function call(link: RpcLink, c: RpcClient, opnum: number, stub: Buffer): RpcEvent[] {
  c.handleConnected(NOW);
  c.call(opnum, stub, NOW);
  const events: RpcEvent[] = [];
  for (let i = 0; i < 50; i++) {
    let moved = false;
    for (let b = c.pollSend(); b; b = c.pollSend(), moved = true) link.handleBytes(b, NOW);
    for (let b = link.pollSend(); b; b = link.pollSend(), moved = true) c.handleBytes(b, NOW);
    for (let e = c.pollEvent(); e; e = c.pollEvent(), moved = true) events.push(e);
    if (!moved) break;
  }
  return events;
}

function initiate(link: RpcLink, sec: Sec, content = 'PKG00001', bootDevice = true): { result?: InitiateResult; events: RpcEvent[] } {
  const req = buildInitiateRequest({ namespace: 'SMSNamespace', content, clientName: 'PXE-CLIENT-01', bootDevice });
  const events = call(link, rpcClient(sec), WDS_RPC_MESSAGE_OPNUM, encodeWdsRpcMessageRequest(req.packet));
  const resp = events.find((e) => e.type === 'response') as { stub: Buffer } | undefined;
  if (!resp) return { events };
  const m = decodeWdsRpcMessageResponse(resp.stub);
  if (!m.ok) throw new Error(m.error.toString());
  const r = decodeInitiateResult(m.value.returnValue, m.value.reply);
  if (!r.ok) throw new Error(r.error.toString());
  return { result: r.value, events };
}

const expectedReply = {
  kind: 'reply',
  multicastAddr: '239.192.0.7',
  serverAddr: '10.0.0.1',
  multicastPort: 63001,
  serverPort: 63001,
  sessionId: 0x4242,
  contentSize: data.length,
  blockSize: 1385,
  totalBlocks: 41,
  contentMetadata: Buffer.alloc(0),
};

describe('WDSC responder in memory', () => {
  test.each(['hash', 'sign'] as const)('a %s session: the reply carries SecMode and the keys a client takes part with; a BOOT_DEVICE client gets none (CHECKSUM)', (mode) => {
    const coord = coordinator(false, newSecurity(mode, () => 0.25, 1024));
    const os = initiate(front(coord).open('wdsc', FROM, NOW), { kind: 'ntlm', creds: account }, 'PKG00001', false).result;
    if (os?.kind !== 'reply') throw new Error('reply expected');
    expect(os.secMode).toBe(mode === 'hash' ? 0x00010001 : 0x00010002);
    expect(os.hashAlgId).toBe(0x800c);
    expect(os.hmacAlgId).toBe(0x8009);
    expect(os.symKey!.subarray(0, 12).toString('hex')).toBe('080200000366000018000000');
    expect(os.signKey !== undefined).toBe(mode === 'sign');
    const sec = securityFromReply(os);
    expect(sec.server.mode).toBe(mode === 'hash' ? 0x01 : 0x02);
    expect(unsupportedSecurity(sec)).toBeUndefined();
    const pe = initiate(front(coord).open('wdsc', FROM, NOW), { kind: 'ntlm', creds: account }).result;
    expect(pe).toEqual(expectedReply);
  });

  for (const kind of ['ntlm', 'spnego'] as const) {
    test(`${kind}, PKT_PRIVACY, the configured account: the same session the UDP responder hands out`, () => {
      const coord = coordinator();
      const { result } = initiate(front(coord).open('wdsc', FROM, NOW), { kind, creds: account });
      expect(result).toEqual(expectedReply);
      // The UDP path, for comparison: the same offer, counted by the same counters.
      coord.handleMsi(encodeMsiRequest({ namespace: 'SMSNamespace', content: 'PKG00001', mac: Buffer.from([2, 0, 0, 0, 0, 1]) }), FROM, NOW);
      const udp = decodeMsi(coord.pollTransmit()!.data);
      const { kind: _k, contentMetadata: _c, ...rest } = expectedReply;
      expect(udp.ok && udp.value).toEqual({ kind: 'reply', ...rest });
      expect(coord.stats).toMatchObject({ msiRequests: 2, msiReplies: 2, msiErrors: 0, wdscCalls: 1, wdscRefused: 0 });
      const ev = [coord.pollEvent(), coord.pollEvent()];
      expect(ev).toMatchObject([
        { type: 'msi', ok: true, via: 'rpc', user: 'LAB\\svc-osd', address: FROM.address },
        { type: 'msi', ok: true, via: 'udp' },
      ]);
    });
  }

  test('unknown content and unknown namespace come back as the reply error (2, 1168), as over UDP', () => {
    const coord = coordinator();
    const f = front(coord);
    expect(initiate(f.open('wdsc', FROM, NOW), { kind: 'spnego', creds: account }, 'PKG99999').result).toEqual({ kind: 'error', source: 'reply', win32: 2, name: 'ERROR_FILE_NOT_FOUND (2)' });
    const req = encodeWdsRpcMessageRequest(buildInitiateRequest({ namespace: 'Other', content: 'PKG00001', clientName: 'X', bootDevice: false }).packet);
    const ev = call(f.open('wdsc', FROM, NOW), rpcClient({ kind: 'ntlm', creds: account }), 0, req);
    const m = decodeWdsRpcMessageResponse((ev.find((e) => e.type === 'response') as { stub: Buffer }).stub);
    const r = m.ok && decodeInitiateResult(m.value.returnValue, m.value.reply);
    expect(r && r.ok && r.value).toEqual({ kind: 'error', source: 'reply', win32: 1168, name: 'ERROR_NOT_FOUND (1168)' });
    expect(coord.stats).toMatchObject({ msiRequests: 2, msiErrors: 2, msiReplies: 0 });
  });

  test('a wrong password: access-denied fault at the first call; no session request reaches MS-WDSMSI', () => {
    const coord = coordinator();
    const wrong = new Credentials({ domain: 'LAB', user: 'svc-osd', password: 'wrong' });
    const { result, events } = initiate(front(coord).open('wdsc', FROM, NOW), { kind: 'ntlm', creds: wrong });
    expect(result).toBeUndefined();
    expect(events).toContainEqual(expect.objectContaining({ type: 'fault', status: 5, accessDenied: true }));
    expect(coord.stats.wdscCalls).toBe(0);
  });

  test('anonymous: refused by default (NTLM: access-denied fault; no auth: return value ERROR_ACCESS_DENIED), served when allowed', () => {
    const deny = coordinator(false);
    const fd = front(deny, false);
    expect(initiate(fd.open('wdsc', FROM, NOW), { kind: 'ntlm', creds: undefined }).events).toContainEqual(expect.objectContaining({ type: 'fault', status: 5 }));
    expect(initiate(fd.open('wdsc', FROM, NOW), undefined).result).toEqual({ kind: 'error', source: 'status', win32: 5, name: 'ERROR_ACCESS_DENIED (5)' });

    const allow = coordinator(true);
    const fa = front(allow, true, false);
    expect(initiate(fa.open('wdsc', FROM, NOW), { kind: 'spnego', creds: undefined }).result).toEqual(expectedReply);
    expect(initiate(fa.open('wdsc', FROM, NOW), undefined).result).toEqual(expectedReply);
    expect(allow.stats.msiReplies).toBe(2);
  });

  test('other endpoints, other opcodes, missing variables and bad stubs', () => {
    const coord = coordinator();
    const f = front(coord);
    const send = (stub: Buffer) => {
      const ev = call(f.open('wdsc', FROM, NOW), rpcClient({ kind: 'ntlm', creds: account }), 0, stub);
      const resp = ev.find((e) => e.type === 'response') as { stub: Buffer } | undefined;
      if (!resp) return ev.find((e) => e.type === 'fault');
      const m = decodeWdsRpcMessageResponse(resp.stub);
      const r = m.ok && decodeInitiateResult(m.value.returnValue, m.value.reply);
      return r && r.ok ? r.value : r;
    };
    const pkt = (endpoint: string, code: number, variables: Parameters<typeof encodeWdsc>[0]['variables']) => encodeWdsRpcMessageRequest(encodeWdsc({ endpoint, packetType: PacketType.REQUEST, code, variables }));
    expect(send(pkt('11111111-2222-3333-4444-555555555555', WDSMC_OP_INITIATE, []))).toMatchObject({ kind: 'error', source: 'status', win32: 50 });
    expect(send(pkt(MSI_ENDPOINT, 7, []))).toMatchObject({ kind: 'error', source: 'reply', win32: 50 });
    expect(send(pkt(MSI_ENDPOINT, WDSMC_OP_INITIATE, [{ name: 'Namespace', type: 'WSTRING', value: 'SMSNamespace' }]))).toMatchObject({ kind: 'error', source: 'reply', win32: 87 });
    expect(send(encodeWdsRpcMessageRequest(Buffer.from('not a WDSC packet')))).toMatchObject({ kind: 'error', source: 'status', win32: 13 });
    expect(send(Buffer.from([1, 2, 3]))).toMatchObject({ type: 'fault', status: 0x6f7, name: 'rpc_x_bad_stub_data' });
    expect(coord.stats).toMatchObject({ wdscCalls: 5, wdscRefused: 3, msiErrors: 2 });
  });

  test('the endpoint mapper listener answers ept_map with our WDSC port, and only there', () => {
    const f = front(coordinator());
    const ask = (iface: typeof WDSC_INTERFACE) => {
      const ev = call(f.open('epm', FROM, NOW), rpcClient(undefined, EPM_INTERFACE), EPT_MAP_OPNUM, encodeEptMapRequest(iface));
      const r = decodeEptMapResponse((ev.find((e) => e.type === 'response') as { stub: Buffer }).stub);
      return r.ok && r.value;
    };
    expect(ask(WDSC_INTERFACE)).toEqual({ status: 0, endpoints: [{ iface: WDSC_INTERFACE, port: 5040, address: '10.0.0.1' }] });
    expect(ask(EPM_INTERFACE)).toEqual({ status: EPT_S_NOT_REGISTERED, endpoints: [] });
    // The WDSC port does not serve the endpoint mapper, nor the reverse.
    expect(call(f.open('wdsc', FROM, NOW), rpcClient(undefined, EPM_INTERFACE), EPT_MAP_OPNUM, Buffer.alloc(0))[0]).toMatchObject({ type: 'error', code: 'context-rejected' });
    expect(call(f.open('epm', FROM, NOW), rpcClient(undefined), 0, Buffer.alloc(0))[0]).toMatchObject({ type: 'error', code: 'context-rejected' });
  });
});

describe('WDSC over loopback TCP (startCoordinator with rpc)', () => {
  const running: RunningCoordinator[] = [];
  afterAll(async () => {
    await Promise.all(running.map((r) => r.stop()));
  });

  test('--no-udp-msi behaviour: no MSI socket; ept_map names the RPC port; NTLM PKT_PRIVACY initiation over TCP', async () => {
    const lines: string[] = [];
    const r = await startCoordinator({
      data,
      namespace: 'SMSNamespace',
      content: 'PKG00001',
      port: 0,
      udpMsi: false,
      rpc: { port: 0, epmPort: 0, account, allowAnonymous: false, onEvent: (e) => lines.push(e.type === 'rpc' ? e.event.type : e.type) },
    });
    running.push(r);
    expect(r.msiPort).toBe(0);
    expect(r.rpcPort).toBeGreaterThan(0);

    const epm = await tcpConnect('127.0.0.1', r.epmPort!, { abstractSyntax: EPM_INTERFACE });
    epm.call(EPT_MAP_OPNUM, encodeEptMapRequest(WDSC_INTERFACE));
    const er = (await epm.next((e) => e.type === 'response')) as { stub: Buffer };
    epm.close();
    const mapped = decodeEptMapResponse(er.stub);
    expect(mapped.ok && mapped.value.endpoints).toEqual([{ iface: WDSC_INTERFACE, port: r.rpcPort, address: '127.0.0.1' }]);

    const o = { credentials: account, clientChallenge: randomBytes(8), exportedSessionKey: randomBytes(16), nowMs: Date.now() };
    const s = await tcpConnect('127.0.0.1', r.rpcPort!, { abstractSyntax: WDSC_INTERFACE, security: { provider: new SpnegoClientProvider(o), level: AuthLevel.PKT_PRIVACY } });
    s.call(0, encodeWdsRpcMessageRequest(buildInitiateRequest({ namespace: 'SMSNamespace', content: 'PKG00001', clientName: 'PXE', bootDevice: true }).packet));
    const resp = (await s.next((e) => e.type === 'response')) as { stub: Buffer };
    s.close();
    const m = decodeWdsRpcMessageResponse(resp.stub);
    const res = m.ok && decodeInitiateResult(m.value.returnValue, m.value.reply);
    expect(res && res.ok && res.value).toEqual({ ...expectedReply, serverAddr: '127.0.0.1', multicastAddr: '239.192.0.1', multicastPort: r.port, serverPort: r.port, sessionId: r.sessionId });
    expect(lines).toContain('authenticated');
  });
});

describe('CLI flags (main.ts)', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'osdcast-wdsc-cli-'));
  const out = path.join(dir, 'coordinator.cjs');
  beforeAll(async () => {
    const { build } = await import('esbuild');
    await build({ entryPoints: [path.join(__dirname, 'main.ts')], outfile: out, bundle: true, platform: 'node', format: 'cjs', target: 'node20', logLevel: 'error' });
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  const env = { ...process.env, OSDCAST_COORD_PASSWORD: '' };
  const bad = (args: string[], extraEnv: Record<string, string> = {}) => {
    const r = spawnSync(process.execPath, [out, '--generate', '0.01', '--msi-port', '0', ...args], { encoding: 'utf8', env: { ...env, ...extraEnv }, timeout: 20_000 });
    return { code: r.status, lines: r.stderr.trim().split('\n').filter((l) => !l.includes('generated') && !/^\(add --help/.test(l) && l.trim() !== '') };
  };

  test('bad combinations exit 2 with one line', () => {
    expect(bad(['--sec-mode', 'foo', '--rpc-port', '0'])).toEqual({ code: 2, lines: ['error: --sec-mode must be one of checksum, hash, sign, none, not "foo"'] });
    expect(bad(['--sec-mode', 'HASH']).code).toBe(2);
    expect(bad(['--no-udp-msi'])).toEqual({ code: 2, lines: ['error: --no-udp-msi leaves no way to start a session: give --rpc-port'] });
    expect(bad(['--rpc-port', '0', '--rpc-user', 'LAB\\svc-osd'])).toEqual({ code: 2, lines: ['error: --rpc-user needs a password: --rpc-password-file <path> or OSDCAST_COORD_PASSWORD'] });
    expect(bad(['--epm-port', '0']).code).toBe(2);
    expect(bad(['--rpc-port', '0', '--rpc-user', 'x', '--rpc-password-file', path.join(dir, 'missing')])).toEqual({ code: 2, lines: ['error: cannot read --rpc-password-file: ENOENT'] });
    expect(bad(['--rpc-port', '0', '--rpc-anonymous', 'maybe']).code).not.toBe(0);
  });

  test('the password from OSDCAST_COORD_PASSWORD when no file is given; a bare name has an empty domain', async () => {
    const proc = spawnCoordinator<{ rpcPort: number }>(out, ['--generate', '0.01', '--no-udp-msi', '--rpc-port', '0', '--rpc-user', 'svc-osd'], { ...env, OSDCAST_COORD_PASSWORD: PASSWORD });
    try {
      const ready = await proc.ready;
      const o = { credentials: new Credentials({ domain: '', user: 'svc-osd', password: PASSWORD }), clientChallenge: randomBytes(8), exportedSessionKey: randomBytes(16), nowMs: Date.now() };
      const s = await tcpConnect('127.0.0.1', ready.rpcPort, { abstractSyntax: WDSC_INTERFACE, security: { provider: new NtlmClientProvider(o), level: AuthLevel.PKT_PRIVACY } });
      s.call(0, encodeWdsRpcMessageRequest(buildInitiateRequest({ namespace: 'SMSNamespace', content: 'PKG00001', clientName: 'PXE', bootDevice: false }).packet));
      expect((await s.next((x) => x.type === 'response' || x.type === 'fault')).type).toBe('response');
      s.close();
    } finally {
      proc.child.kill('SIGTERM');
      expect(await proc.exited).toBe(0);
    }
    expect(proc.stderr()).toMatch(/user svc-osd\)/);
    expect(proc.stderr()).not.toContain(PASSWORD);
  }, 30_000);

  test('--no-udp-msi --rpc-port 0 --rpc-user with the password from a file: serves over RPC, never prints the password', async () => {
    const pw = path.join(dir, 'pw.txt');
    fs.writeFileSync(pw, `${PASSWORD}\r\nsecond line ignored\n`);
    const proc = spawnCoordinator<{ msiPort: number | null; rpcPort: number; iface: string }>(out, ['--generate', '0.05', '--no-udp-msi', '--rpc-port', '0', '--rpc-user', 'svc-osd@LAB', '--rpc-password-file', pw, '--namespace', 'NS', '--content', 'IMG'], env);
    const { child, exited } = proc;
    try {
      const ready = await proc.ready;
      expect(ready.msiPort).toBeNull();
      expect(ready.rpcPort).toBeGreaterThan(0);
      for (const [creds, ok] of [
        [new Credentials({ domain: 'LAB', user: 'svc-osd', password: PASSWORD }), true],
        [new Credentials({ domain: 'LAB', user: 'svc-osd', password: 'nope' }), false],
      ] as const) {
        const o = { credentials: creds, clientChallenge: randomBytes(8), exportedSessionKey: randomBytes(16), nowMs: Date.now() };
        const s = await tcpConnect('127.0.0.1', ready.rpcPort, { abstractSyntax: WDSC_INTERFACE, security: { provider: new NtlmClientProvider(o), level: AuthLevel.PKT_PRIVACY } });
        s.call(0, encodeWdsRpcMessageRequest(buildInitiateRequest({ namespace: 'NS', content: 'IMG', clientName: 'PXE', bootDevice: false }).packet));
        const e = await s.next((x) => x.type === 'response' || x.type === 'fault');
        s.close();
        expect(e.type).toBe(ok ? 'response' : 'fault');
      }
      await new Promise((res) => setTimeout(res, 100));
      expect(proc.stderr()).toMatch(/no UDP MSI, WDSC RPC tcp 127\.0\.0\.1:\d+ \(anonymous deny, user LAB\\svc-osd\)/);
      expect(proc.stderr()).toMatch(/authenticated LAB\\svc-osd \(auth type 10, level 6\)/);
      expect(proc.stderr()).toMatch(/over RPC \(LAB\\svc-osd\) for NS\/IMG: replied/);
      expect(proc.stderr()).toMatch(/authentication refused \(auth type 10\): rejected/);
    } finally {
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
    }
    expect(proc.stderr()).toMatch(/WdsRpcMessage calls 1 \(0 refused\)/);
    expect(proc.stderr()).not.toContain(PASSWORD);
  }, 60_000);
});
