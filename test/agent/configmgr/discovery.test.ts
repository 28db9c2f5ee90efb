import { describe, expect, it } from 'vitest';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { type CommandRunner, describeAttempts, discoverServer, readPxeBootServer } from '../../../agent/configmgr/discovery';
import { decodeWindowsText } from '../../../agent/util/text';

const FIX = path.join(__dirname, 'fixtures');
const fixture = (name: string): Buffer => fs.readFileSync(path.join(FIX, name));
const text = (name: string): string => decodeWindowsText(fixture(name));

/** A fake `reg` that answers from recorded outputs: value name -> stdout, or undefined for "not found" (exit 1). */
function fakeReg(answers: Record<string, string | undefined>, calls: string[][] = []): CommandRunner {
  return (file, args) => {
    calls.push([file, ...args]);
    expect(file).toBe('reg');
    expect(args.slice(0, 3)).toEqual(['query', 'HKLM\\SYSTEM\\CurrentControlSet\\Control', '/v']);
    const out = answers[args[3]!];
    if (out === undefined) return { status: 1, stdout: '', stderr: text('reg-query-missing.stderr.txt') };
    return { status: 0, stdout: out, stderr: '' };
  };
}

describe('PXE boot server via reg query', () => {
  it('reads the PXE server, falling back to PEBootServerName', () => {
    const calls: string[][] = [];
    expect(readPxeBootServer(fakeReg({ PEBootServerAddr: text('reg-query-pebootserveraddr.txt') }, calls)).found).toMatchObject({
      valueName: 'PEBootServerAddr',
      address: { server: '10.20.30.40' },
    });
    expect(calls).toHaveLength(1);
    const r = readPxeBootServer(fakeReg({ PEBootServerAddr: text('reg-query-empty.txt'), PEBootServerName: text('reg-query-pebootservername.txt') }));
    expect(r.found).toMatchObject({ valueName: 'PEBootServerName', address: { server: 'CM01.corp.contoso.com' } });
    expect(r.notes).toEqual(['PEBootServerAddr: unusable value "0.0.0.0"']);
    const none = readPxeBootServer(fakeReg({}));
    expect(none.found).toBeUndefined();
    expect(none.notes[0]).toMatch(/PEBootServerAddr: not present \(reg exit 1: ERROR: The system was unable/);
  });

  it('reports a reg.exe that cannot be started', () => {
    const r = readPxeBootServer(() => ({ status: null, stdout: '', stderr: '', error: new Error('spawn reg ENOENT') }));
    expect(r.found).toBeUndefined();
    expect(r.notes).toEqual(['reg query PEBootServerAddr: spawn reg ENOENT', 'reg query PEBootServerName: spawn reg ENOENT']);
  });
});

describe('discoverServer chain', () => {
  const exeDir = 'C:\\osdcast';
  const files: Record<string, Buffer> = {
    'X:\\Windows\\TEMP\\SMSTSDownload.INI': fixture('acp-server-key.ini'),
    'X:\\Windows\\TEMP\\empty.INI': fixture('acp-no-server.ini'),
    'C:\\osdcast\\osdcast.json': fixture('osdcast.json'),
    'D:\\bad\\osdcast.json': fixture('osdcast-bad-abort.json'),
  };
  const readFile = (f: string): Buffer => {
    const b = files[f];
    if (!b) throw Object.assign(new Error(`ENOENT: no such file, open '${f}'`), { code: 'ENOENT' });
    return b;
  };
  const pxe = fakeReg({ PEBootServerAddr: text('reg-query-pebootserveraddr.txt') });
  const base = { readFile, platform: 'win32' as const, runCommand: pxe, exeDir };

  it('1: --server wins, config still read', () => {
    const r = discoverServer({ ...base, serverFlag: 'mcs01:4011', acpIniPath: 'X:\\Windows\\TEMP\\SMSTSDownload.INI', env: { OSDCAST_SERVER: 'e' } });
    expect(r.found).toEqual({ server: 'mcs01:4011', host: 'mcs01', port: 4011, source: 'flag', detail: '--server', raw: 'mcs01:4011' });
    expect(r.config?.abortCode).toBe(99);
    expect(r.attempts).toEqual([{ source: 'flag', detail: '--server', outcome: 'found', message: 'mcs01:4011' }]);
  });

  it('an invalid --server stops the chain with an error', () => {
    const r = discoverServer({ ...base, serverFlag: 'not a host', env: { OSDCAST_SERVER: 'e1' } });
    expect(r.found).toBeUndefined();
    expect(r.error).toMatch(/--server "not a host" is not a host name/);
  });

  it('2: the ACP INI comes next', () => {
    const r = discoverServer({ ...base, acpIniPath: 'X:\\Windows\\TEMP\\SMSTSDownload.INI', env: { OSDCAST_SERVER: 'e1' } });
    expect(r.found).toMatchObject({ server: 'dp01.corp.contoso.com', source: 'acp-ini', detail: 'X:\\Windows\\TEMP\\SMSTSDownload.INI [Download] DPServer' });
    expect(r.attempts.map((a) => a.outcome)).toEqual(['absent', 'found']);
  });

  it('3: OSDCAST_SERVER (any case) when the INI has nothing', () => {
    const r = discoverServer({ ...base, acpIniPath: 'X:\\Windows\\TEMP\\empty.INI', env: { osdcast_server: 'e1' } });
    expect(r.found).toMatchObject({ server: 'e1', source: 'env', detail: 'OSDCAST_SERVER' });
    expect(r.attempts.map((a) => `${a.source}:${a.outcome}`)).toEqual(['flag:absent', 'acp-ini:absent', 'env:found']);
  });

  it('4: osdcast.json beside the binary', () => {
    const r = discoverServer({ ...base, acpIniPath: 'X:\\missing.INI', env: { OSDCAST_SERVER: '  ' } });
    expect(r.found).toMatchObject({ server: 'cm01.corp.contoso.com', source: 'config-file', detail: 'C:\\osdcast\\osdcast.json' });
    expect(r.attempts.map((a) => `${a.source}:${a.outcome}`)).toEqual(['flag:absent', 'acp-ini:error', 'env:absent', 'config-file:found']);
    expect(r.attempts[1]!.message).toMatch(/ENOENT/);
  });

  it('5: the PXE boot server in WinPE, after an invalid env value and an invalid config', () => {
    const r = discoverServer({ ...base, exeDir: 'D:\\bad', env: { OSDCAST_SERVER: 'bad value' } });
    expect(r.found).toMatchObject({ server: '10.20.30.40', source: 'pxe-registry', detail: 'HKLM\\SYSTEM\\CurrentControlSet\\Control\\PEBootServerAddr' });
    expect(r.configError).toMatch(/abortCode/);
    expect(describeAttempts(r.attempts)).toEqual([
      'flag --server: absent',
      'acp-ini (no INI argument): skipped',
      'env OSDCAST_SERVER: invalid (unusable value "bad value")',
      `config-file D:\\bad\\osdcast.json: invalid (${r.configError})`,
      'pxe-registry HKLM\\SYSTEM\\CurrentControlSet\\Control\\PEBootServerAddr: found (10.20.30.40)',
    ]);
  });

  it('nothing found: every source is reported; the registry is not read off Windows', () => {
    const calls: string[][] = [];
    const r = discoverServer({ readFile, env: {}, exeDir: '/opt/osdcast', platform: 'linux', runCommand: fakeReg({}, calls) });
    expect(r.found).toBeUndefined();
    expect(r.error).toBeUndefined();
    expect(calls).toEqual([]);
    expect(r.attempts.map((a) => `${a.source}:${a.outcome}`)).toEqual(['flag:absent', 'acp-ini:skipped', 'env:absent', 'config-file:absent', 'pxe-registry:skipped']);
    const w = discoverServer({ readFile, env: {}, platform: 'win32', runCommand: fakeReg({}) });
    expect(w.attempts.at(-1)).toMatchObject({ source: 'pxe-registry', outcome: 'absent' });
  });
});
