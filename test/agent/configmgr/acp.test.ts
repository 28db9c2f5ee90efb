/** agent/configmgr/acp.ts: the arguments the task sequence passes (the run itself: test/e2e/acp.test.ts). */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { looksLikeAcpCall, parseAcpPositionals, runAcp } from '../../../agent/configmgr/acp';
import { templatesOf } from '../../../agent/configmgr/config';
import { Exit } from '../../../agent/errors';
import { silentLogger } from '../../../agent/log/log';

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
