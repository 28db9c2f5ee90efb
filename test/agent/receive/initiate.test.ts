/**
 * agent/transport/stream.ts and agent/receive/initiate.ts over loopback (unprivileged ports on 127.0.0.1 only):
 * the node:net driver carries a WdscInitiator to an in-memory WDSC server and closes when it is done; the chain
 * of --initiation: RPC first, UDP after any RPC failure but a Win32 answer, one line naming each method.
 */
import dgram from 'node:dgram';
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { decodeMsi, encodeMsiReply } from '../../../core/codec/msi';
import { Credentials } from '../../../core/ntlm/auth';
import { SpnegoClientProvider } from '../../../core/ntlm/providers';
import { AuthLevel } from '../../../core/rpc/security';
import { buildInitiateRequest, encodeInitiateReply } from '../../../core/wdsc/initiate';
import { WdscInitiator } from '../../../core/wdsc/initiator';
import { captureLogger } from '../../support/log-capture';
import { initiateSession, NoSession, type InitiationInputs } from '../../../agent/receive/initiate';
import { runStream } from '../../../agent/transport/stream';
import { FakeServerOptions, FakeWdscServer } from '../../core/wdsc/fake-server';

const ACCOUNT = { domain: 'LAB', user: 'svc-osd', password: 'Pa55-w0rd' };
const REPLY = { multicastAddr: '239.1.2.3', multicastPort: 40001, serverAddr: '127.0.0.1', serverPort: 40001, sessionId: 77, contentSize: 1000, blockSize: 100, totalBlocks: 10, contentMetadata: Buffer.alloc(0) };
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

/** A TCP listener on 127.0.0.1 serving one FakeWdscServer per connection; counts connections and closes. */
async function wdscServer(o: Partial<FakeServerOptions> = {}) {
  const stats = { connections: 0, closedByClient: 0 };
  const srv = net.createServer((sock) => {
    stats.connections++;
    const fake = new FakeWdscServer({ account: ACCOUNT, answer: () => ({ reply: encodeInitiateReply(REPLY), status: 0 }), ...o });
    sock.on('data', (b) => {
      fake.handleBytes(b);
      if (fake.closed) return sock.destroy();
      for (let out = fake.pollSend(); out; out = fake.pollSend()) sock.write(out);
    });
    sock.on('end', () => stats.closedByClient++);
    sock.on('error', () => undefined);
  });
  await new Promise<void>((res) => srv.listen(0, '127.0.0.1', res));
  cleanups.push(() => new Promise<void>((res) => srv.close(() => res())));
  return { port: (srv.address() as net.AddressInfo).port, stats };
}

/** A TCP port on 127.0.0.1 with nothing listening (refused). */
async function closedPort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((res) => srv.listen(0, '127.0.0.1', res));
  const port = (srv.address() as net.AddressInfo).port;
  await new Promise<void>((res) => srv.close(() => res()));
  return port;
}

/** The unicast socket and an MS-WDSMSI responder on UDP (a Server 2012 R2 stand-in) counting requests. */
async function udpSide(answer = true) {
  const responder = dgram.createSocket('udp4');
  const stats = { requests: 0 };
  responder.on('message', (m, r) => {
    if (decodeMsi(m).ok) stats.requests++;
    if (answer) responder.send(encodeMsiReply(REPLY), r.port, r.address);
  });
  await new Promise<void>((res) => responder.bind(0, '127.0.0.1', res));
  let handler: (msg: Buffer) => void = () => {};
  const uni = dgram.createSocket('udp4');
  uni.on('message', (m) => handler(m));
  await new Promise<void>((res) => uni.bind(0, '127.0.0.1', res));
  cleanups.push(() => new Promise<void>((res) => responder.close(() => res())), () => new Promise<void>((res) => uni.close(() => res())));
  return { port: responder.address().port, uni, stats, setHandler: (h: (m: Buffer) => void) => (handler = h) };
}

async function chain(o: Partial<InitiationInputs> & { rpcPort: number }, udp: Awaited<ReturnType<typeof udpSide>>) {
  const { log, lines } = captureLogger();
  const inputs: InitiationInputs = { server: '127.0.0.1', port: udp.port, namespace: 'SMSNamespace', content: 'PKG00001', retries: 0, retryDelayMs: 10, msiTries: 2, msiRetryMs: 50, rpcTimeoutMs: 2000, ...o };
  const ctx = { mac: Buffer.alloc(6), uni: udp.uni, setHandler: udp.setHandler, now: Date.now, log, signal: new AbortController().signal, clientName: 'PC-0042' };
  try {
    return { got: await initiateSession(inputs, ctx), lines };
  } catch (e) {
    return { err: e as NoSession, lines };
  }
}

describe('runStream: a stream machine over node:net', () => {
  it('carries a WdscInitiator to the server and closes the connection when the initiator is done', async () => {
    const s = await wdscServer();
    const request = buildInitiateRequest({ namespace: 'n', content: 'c', clientName: 'PC', bootDevice: false }).packet;
    const provider = new SpnegoClientProvider({ credentials: new Credentials(ACCOUNT), clientChallenge: Buffer.alloc(8, 1), exportedSessionKey: Buffer.alloc(16, 2), nowMs: Date.now() });
    const r = await runStream(new WdscInitiator({ server: { address: '127.0.0.1', port: s.port }, request, timeoutMs: 5000, security: { provider, level: AuthLevel.PKT_PRIVACY } }, Date.now()), Date.now);
    expect(r).toMatchObject({ ok: true, session: { sessionId: 77, multicast: { address: '239.1.2.3', port: 40001 } } });
    // The server sees the client's FIN a little later; wait for it (up to 5 s under load) instead of a fixed 50 ms.
    for (let t = 0; t < 100 && s.stats.closedByClient === 0; t++) await new Promise((res) => setTimeout(res, 50));
    expect(s.stats).toEqual({ connections: 1, closedByClient: 1 });
  });

  it('a refused connect is the machine\'s typed refusal', async () => {
    const port = await closedPort();
    const request = buildInitiateRequest({ namespace: 'n', content: 'c', clientName: 'PC', bootDevice: false }).packet;
    const r = await runStream(new WdscInitiator({ server: { address: '127.0.0.1', port }, request, timeoutMs: 5000 }, Date.now()), Date.now);
    expect(r).toEqual({ ok: false, kind: 'refused', message: `connection refused at 127.0.0.1:${port} (ECONNREFUSED)` });
  });

  it('rejects with the abort reason when aborted', async () => {
    const srv = net.createServer((sock) => sock.on('error', () => undefined).resume()); // reads and never answers
    await new Promise<void>((res) => srv.listen(0, '127.0.0.1', res));
    cleanups.push(() => new Promise<void>((res) => srv.close(() => res())));
    const ac = new AbortController();
    const request = buildInitiateRequest({ namespace: 'n', content: 'c', clientName: 'PC', bootDevice: false }).packet;
    const p = runStream(new WdscInitiator({ server: { address: '127.0.0.1', port: (srv.address() as net.AddressInfo).port }, request, timeoutMs: 5000 }, Date.now()), Date.now, ac.signal);
    setTimeout(() => ac.abort(new Error('stop')), 50);
    await expect(p).rejects.toThrow('stop');
  });
});

describe('initiateSession: --initiation', () => {
  it('auto: RPC answers, UDP is never asked', async () => {
    const s = await wdscServer();
    const udp = await udpSide();
    const r = await chain({ rpcPort: s.port, credentials: new Credentials(ACCOUNT) }, udp);
    expect(r.got?.method).toBe('rpc');
    expect(r.got?.session.sessionId).toBe(77);
    expect(udp.stats.requests).toBe(0);
  });

  it('auto: a refused authentication is logged (a warning) and UDP gives the session', async () => {
    const s = await wdscServer();
    const udp = await udpSide();
    const r = await chain({ rpcPort: s.port, credentials: new Credentials({ ...ACCOUNT, password: 'wrong' }) }, udp);
    expect(r.got?.method).toBe('udp');
    expect(udp.stats.requests).toBeGreaterThan(0);
    expect(r.lines.find((l) => l.level === 'warn')?.msg).toMatch(new RegExp(`^session initiation over RPC failed: authentication failed or access denied at 127\\.0\\.0\\.1:${s.port} \\(fault [a-z_]+.*\\); trying MS-WDSMSI over UDP`));
    expect(JSON.stringify(r.lines)).not.toContain('wrong');
  });

  it('no credentials: anonymous NTLM refused, then level NONE answers', async () => {
    const s = await wdscServer({ allowAnonymous: false });
    const udp = await udpSide();
    const r = await chain({ rpcPort: s.port }, udp);
    expect(r.got?.method).toBe('rpc');
    expect(s.stats.connections).toBe(2);
    expect(r.lines.map((l) => l.msg).filter((m) => m.startsWith('asking '))).toEqual([
      `asking 127.0.0.1:${s.port} for SMSNamespace / PKG00001 over MS-WDSC (RPC, SPNEGO/NTLM (anonymous) at PKT_PRIVACY)`,
      `asking 127.0.0.1:${s.port} for SMSNamespace / PKG00001 over MS-WDSC (RPC, no authentication)`,
    ]);
  });

  it('no credentials, anonymous and level NONE both refused (NONE answered ERROR_ACCESS_DENIED): UDP gives the session; alone, RPC reports the first refusal', async () => {
    // Review finding: ERROR_ACCESS_DENIED as the answer to the level-NONE call was taken as final, so UDP was never asked.
    const s = await wdscServer({ allowAnonymous: false, answer: () => ({ status: 5 }) });
    const udp = await udpSide();
    const r = await chain({ rpcPort: s.port }, udp);
    expect(r.got?.method).toBe('udp');
    expect(s.stats.connections).toBe(2);
    expect(udp.stats.requests).toBeGreaterThan(0);
    const only = await chain({ rpcPort: s.port, method: 'rpc' }, udp);
    expect(only.err!.exitCode).toBe(3);
    expect(only.err!.message).toMatch(/^RPC: authentication failed or access denied at 127\.0\.0\.1:\d+ \(/);
    expect(only.err!.message).not.toContain('ERROR_ACCESS_DENIED'); // the first refusal (anonymous NTLM) is the one named
  });

  it('a Win32 error in the WDSC reply is final: exit-3 kind, named, and UDP is not tried', async () => {
    const s = await wdscServer({ answer: () => ({ status: 2 }) });
    const udp = await udpSide();
    const r = await chain({ rpcPort: s.port, credentials: new Credentials(ACCOUNT) }, udp);
    expect(r.err).toBeInstanceOf(NoSession);
    expect(r.err!.exitCode).toBe(3);
    expect(r.err!.why).toBe('no-session');
    expect(r.err!.message).toBe('RPC: server refused the session: ERROR_FILE_NOT_FOUND (2)');
    expect(udp.stats.requests).toBe(0);
  });

  it('--retries covers RPC attempts: a DP that accepts and never answers is asked retries + 1 times, then NoSession names the timeout', async () => {
    const stats = { connections: 0 };
    const silent = net.createServer((sock) => {
      stats.connections++;
      sock.on('error', () => undefined).resume(); // reads the bind and never answers
    });
    await new Promise<void>((res) => silent.listen(0, '127.0.0.1', res));
    cleanups.push(() => new Promise<void>((res) => silent.close(() => res())));
    const port = (silent.address() as net.AddressInfo).port;
    const udp = await udpSide();
    const r = await chain({ rpcPort: port, method: 'rpc', retries: 1, retryDelayMs: 10, rpcTimeoutMs: 150 }, udp);
    expect(r.err).toBeInstanceOf(NoSession);
    expect(r.err!.exitCode).toBe(3);
    expect(r.err!.why).toBe('no-reply');
    expect(r.err!.message).toMatch(/^RPC: .*no answer to the bind within 150 ms/);
    expect(stats.connections).toBe(2);
    expect(r.lines.filter((l) => l.level === 'warn' && /; retrying in 0\.01 s \(1 of 1\)$/.test(l.msg))).toHaveLength(1);
    expect(udp.stats.requests, '--initiation rpc never asks UDP').toBe(0);
  });

  it('every method failed: one line naming each; --initiation rpc never tries UDP; udp never tries RPC', async () => {
    const port = await closedPort();
    const udp = await udpSide(false);
    const both = await chain({ rpcPort: port }, udp);
    expect(both.err!.message).toMatch(new RegExp(`^RPC: connection refused at 127\\.0\\.0\\.1:${port} \\(ECONNREFUSED\\); endpoint mapper: connection refused at 127\\.0\\.0\\.1:135 \\([A-Z]+\\); UDP: no reply from 127\\.0\\.0\\.1:${udp.port} after 2 requests$`));
    expect(both.err!.why).toBe('no-reply');
    const asked = udp.stats.requests;
    expect(asked).toBe(2);
    const rpc = await chain({ rpcPort: port, method: 'rpc' }, udp);
    expect(rpc.err!.message).toMatch(/^RPC: connection refused/);
    expect(rpc.err!.why).toBe('no-route');
    expect(udp.stats.requests).toBe(asked);
    const s = await wdscServer();
    const only = await chain({ rpcPort: s.port, method: 'udp' }, udp);
    expect(only.err!.message).toBe(`no reply from 127.0.0.1:${udp.port} after 2 requests`);
    expect(s.stats.connections).toBe(0);
  });
});
