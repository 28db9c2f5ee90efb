/** agent/configmgr/acp.ts: the arguments the task sequence passes (the run itself: test/e2e/acp.test.ts). */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { looksLikeAcpCall, parseAcpPositionals, runAcp } from '../../../agent/configmgr/acp';
import { templatesOf } from '../../../agent/configmgr/config';
import { Exit } from '../../../agent/errors';
import { silentLogger } from '../../../agent/log/log';
import type { ReceiveOptions } from '../../../agent/receive/receive';
import { type Report, noDrops } from '../../../agent/report';
import { memLogger } from '../transport/helpers';

describe('acp arguments', () => {
  it('parses [<INI>] <PackageID> <DestinationDir>', () => {
    expect(parseAcpPositionals(['PS100004', 'C:\\_SMSTaskSequence\\Packages\\PS100004'])).toEqual({ packageId: 'PS100004', destination: 'C:\\_SMSTaskSequence\\Packages\\PS100004' });
    expect(parseAcpPositionals(['X:\\Windows\\TEMP\\SMSTSDownload.INI', 'ps1000aZ', 'D:\\p'])).toEqual({ iniPath: 'X:\\Windows\\TEMP\\SMSTSDownload.INI', packageId: 'ps1000aZ', destination: 'D:\\p' });
    for (const bad of [['PS10000', 'd'], ['PS1000045', 'd'], ['PS1.0004', 'd'], ['PS1 0004', 'd'], ['..\\..\\x', 'd'], ['PS100004'], ['a', 'b', 'c', 'd'], ['PS100004', '']]) {
      expect(() => parseAcpPositionals(bad), JSON.stringify(bad)).toThrow();
    }
  });

  it('recognises the task sequence calling the program without a command word', () => {
    expect(looksLikeAcpCall(['PS100004', 'C:\\x'])).toBe(true);
    expect(looksLikeAcpCall(['X:\\SMSTSDownload.INI', 'PS100004', 'C:\\x'])).toBe(true);
    expect(looksLikeAcpCall(['PS100004', 'C:\\x', '--json'])).toBe(true);
    expect(looksLikeAcpCall(['frobnicate'])).toBe(false);
    expect(looksLikeAcpCall(['frobnicate', 'x'])).toBe(false);
    expect(looksLikeAcpCall(['--server', 'PS100004', 'x'])).toBe(false);
  });
});

describe('acp exit codes', () => {
  it('an interrupt never exits with abortCode: with abortCode 130 (= the interrupt code) it exits 1', async () => {
    // A closed port on loopback: the listing fails at once, after the (already aborted) signal.
    const net = await import('node:net');
    const port = await new Promise<number>((res) => {
      const s = net.createServer().listen(0, '127.0.0.1', () => {
        const p = (s.address() as { port: number }).port;
        s.close(() => res(p));
      });
    });
    const ac = new AbortController();
    ac.abort();
    const dest = fs.mkdtempSync(path.join(os.tmpdir(), 'osdcast-acp-'));
    try {
      const base = {
        packageId: 'PS100004',
        destination: dest,
        server: { host: '127.0.0.1', port: 5041 },
        templates: { ...templatesOf({}), http: `http://127.0.0.1:${port}/SMS_DP_SMSPKG$/{PackageID}` },
        receive: { retries: 0, retryDelayMs: 0 },
      };
      const deps = { log: silentLogger(), signal: ac.signal, receive: () => Promise.reject(new Error('not reached')) };
      expect(await runAcp({ ...base, abortCode: 130 }, deps)).toMatchObject({ exitCode: Exit.ABORT_CODE_TAKEN, errorKind: 'interrupted' });
      expect(await runAcp({ ...base, abortCode: 99 }, deps)).toMatchObject({ exitCode: Exit.INTERRUPTED, errorKind: 'interrupted' });
    } finally {
      fs.rmSync(dest, { recursive: true, force: true });
    }
  });
});

describe('acp: one RPC logon per package', () => {
  /** A PROPFIND answer listing three files of 5 bytes. */
  async function dav(): Promise<{ port: number; close: () => Promise<void> }> {
    const http = await import('node:http');
    const files = ['a.bin', 'b.bin', 'c.bin'];
    const body = `<?xml version="1.0"?><D:multistatus xmlns:D="DAV:"><D:response><D:href>/SMS_DP_SMSPKG$/PS100004/</D:href><D:propstat><D:prop><D:resourcetype><D:collection/></D:resourcetype></D:prop><D:status>HTTP/1.1 200 OK</D:status></D:propstat></D:response>${files
      .map((f) => `<D:response><D:href>/SMS_DP_SMSPKG$/PS100004/${f}</D:href><D:propstat><D:prop><D:resourcetype/><D:getcontentlength>5</D:getcontentlength></D:prop><D:status>HTTP/1.1 200 OK</D:status></D:propstat></D:response>`)
      .join('')}</D:multistatus>`;
    const s = http.createServer((req, res) => {
      if (req.method !== 'PROPFIND') return void res.writeHead(404).end();
      res.writeHead(207, { 'content-type': 'text/xml; charset="utf-8"' }).end(body);
    });
    await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
    return { port: (s.address() as { port: number }).port, close: () => new Promise<void>((r) => s.close(() => r())) };
  }

  it.each([
    ['RPC refused the authentication: the other files go over HTTP only', { fallbackCause: 'auth-refused' as const, fallback: 'no multicast session: RPC: authentication failed or access denied', initiation: 'none' as const, httpBytes: 5 }, (o: ReceiveOptions) => o.httpOnly === true],
    ['auto got the session over UDP: the other files ask over UDP only', { initiation: 'udp' as const, multicastBytes: 5 }, (o: ReceiveOptions) => o.initiation === 'udp' && !o.httpOnly],
  ])('%s', async (_name, first, later) => {
    const d = await dav();
    const dest = fs.mkdtempSync(path.join(os.tmpdir(), 'osdcast-acp-'));
    try {
      const calls: ReceiveOptions[] = [];
      const receive = async (o: ReceiveOptions): Promise<Report> => {
        calls.push(o);
        fs.writeFileSync(o.out, 'hello');
        return { status: 'ok', exitCode: 0, bytes: 5, sha256: '', seconds: 0, multicastBytes: 0, httpBytes: 0, droppedPackets: 3, drops: { ...noDrops(), replayed: 2, wrongSource: 1 }, ...(calls.length === 1 ? first : { initiation: 'udp' }) };
      };
      const r = await runAcp(
        {
          packageId: 'PS100004',
          destination: dest,
          server: { host: '127.0.0.1', port: 5041 },
          templates: { ...templatesOf({}), http: `http://127.0.0.1:${d.port}/SMS_DP_SMSPKG$/{PackageID}` },
          receive: { retries: 0, retryDelayMs: 0, initiation: 'auto' },
        },
        { log: silentLogger(), receive },
      );
      expect(r).toMatchObject({ exitCode: 0, files: 3, filesDone: 3 });
      // The drops of the files are summed field by field; droppedPackets stays their sum.
      expect(r.drops).toEqual({ ...noDrops(), replayed: 6, wrongSource: 3 });
      expect(r.droppedPackets).toBe(9);
      expect(calls).toHaveLength(3);
      expect(calls[0]!).toMatchObject({ initiation: 'auto', httpOnly: false });
      for (const c of calls.slice(1)) expect(later(c), JSON.stringify({ initiation: c.initiation, httpOnly: c.httpOnly })).toBe(true);
    } finally {
      await d.close();
      fs.rmSync(dest, { recursive: true, force: true });
    }
  });
});

describe('acp: a file whose --out another osdcast holds', () => {
  /** A PROPFIND answer listing big.wim (1000 bytes); every GET is 404 (and counted). */
  async function dav(): Promise<{ port: number; gets: () => number; close: () => Promise<void> }> {
    const http = await import('node:http');
    let gets = 0;
    const body = `<?xml version="1.0"?><D:multistatus xmlns:D="DAV:"><D:response><D:href>/SMS_DP_SMSPKG$/PS100004/</D:href><D:propstat><D:prop><D:resourcetype><D:collection/></D:resourcetype></D:prop><D:status>HTTP/1.1 200 OK</D:status></D:propstat></D:response><D:response><D:href>/SMS_DP_SMSPKG$/PS100004/big.wim</D:href><D:propstat><D:prop><D:resourcetype/><D:getcontentlength>1000</D:getcontentlength></D:prop><D:status>HTTP/1.1 200 OK</D:status></D:propstat></D:response></D:multistatus>`;
    const s = http.createServer((req, res) => {
      if (req.method !== 'PROPFIND') {
        gets++;
        return void res.writeHead(404).end();
      }
      res.writeHead(207, { 'content-type': 'text/xml; charset="utf-8"' }).end(body);
    });
    await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
    return { port: (s.address() as { port: number }).port, gets: () => gets, close: () => new Promise<void>((r) => s.close(() => r())) };
  }

  async function acpInto(dest: string, port: number) {
    const { receive } = await import('../../../agent/receive/receive');
    return runAcp(
      {
        packageId: 'PS100004',
        destination: dest,
        server: { host: '127.0.0.1', port: 5041 },
        templates: { ...templatesOf({}), http: `http://127.0.0.1:${port}/SMS_DP_SMSPKG$/{PackageID}` },
        httpOnly: true,
        receive: { retries: 0, retryDelayMs: 0 },
      },
      { log: silentLogger(), receive },
    );
  }

  it('exits 6 and leaves the owner\'s .partial, state and lock as they were (the receive was refused: none of them are this one\'s)', async () => {
    const { spawn } = await import('node:child_process');
    const d = await dav();
    const dest = fs.mkdtempSync(path.join(os.tmpdir(), 'osdcast-acp-'));
    const owner = spawn('sleep', ['60'], { stdio: 'ignore' });
    try {
      const out = path.join(dest, 'big.wim');
      const files: Record<string, string> = { [`${out}.partial`]: 'the running owner\'s bytes', [`${out}.osdcast`]: 'the running owner\'s state', [`${out}.osdcast.lock`]: `${owner.pid}\n` };
      for (const [f, text] of Object.entries(files)) fs.writeFileSync(f, text);
      const r = await acpInto(dest, d.port);
      expect(r).toMatchObject({ status: 'error', exitCode: Exit.LOCAL_IO, errorKind: 'io', files: 1, filesDone: 0 });
      expect(r.error).toContain(`is in use by osdcast PID ${owner.pid}`);
      for (const [f, text] of Object.entries(files)) expect(fs.readFileSync(f, 'utf8'), f).toBe(text);
      expect(d.gets()).toBe(0);
    } finally {
      owner.kill('SIGKILL');
      await d.close();
      fs.rmSync(dest, { recursive: true, force: true });
    }
  });

  it('a file that fails while this acp holds its lock: its .partial and state are removed, and so is the lock', async () => {
    const d = await dav();
    const dest = fs.mkdtempSync(path.join(os.tmpdir(), 'osdcast-acp-'));
    try {
      const out = path.join(dest, 'big.wim');
      fs.writeFileSync(`${out}.partial`, 'an earlier run\'s bytes');
      fs.writeFileSync(`${out}.osdcast`, 'an earlier run\'s state');
      const r = await acpInto(dest, d.port);
      expect(r).toMatchObject({ status: 'error', exitCode: Exit.TRANSFER_FAILED, errorKind: 'http', filesDone: 0 });
      expect(d.gets()).toBeGreaterThan(0);
      expect(fs.readdirSync(dest)).toEqual([]);
    } finally {
      await d.close();
      fs.rmSync(dest, { recursive: true, force: true });
    }
  });
});

describe('acp: a DP name that does not resolve', () => {
  it('exits 3 "cannot resolve dp01.invalid: …" before any request and before the folder is created, without retries', async () => {
    const parent = fs.mkdtempSync(path.join(os.tmpdir(), 'osdcast-acp-'));
    try {
      const dest = path.join(parent, 'PS100004');
      const { log, lines } = memLogger();
      const r = await runAcp(
        {
          packageId: 'PS100004',
          destination: dest,
          server: { host: 'dp01.invalid', port: 5041 },
          templates: templatesOf({}),
          // retries that would take a minute if they happened
          receive: { retries: 3, retryDelayMs: 20_000 },
        },
        { log, receive: () => Promise.reject(new Error('no receive: the listing comes first')) },
      );
      expect(r).toMatchObject({ status: 'error', exitCode: Exit.NO_SESSION, errorKind: 'no-session', files: 0 });
      expect(r.error).toMatch(/^cannot resolve dp01\.invalid: no such host/);
      expect(lines().map((l) => String(l.msg)).filter((m) => /listing|retrying/.test(m))).toEqual([]);
      expect(fs.readdirSync(parent)).toEqual([]);
    } finally {
      fs.rmSync(parent, { recursive: true, force: true });
    }
  });
});
