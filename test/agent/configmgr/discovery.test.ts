import { describe, expect, it } from 'vitest';
import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  type CommandRunner,
  ConfigError,
  decodeTextFile,
  describeAttempts,
  discoverServer,
  findServerInIni,
  normalizeServer,
  parseIni,
  parseOsdcastConfig,
  parseRegQuery,
  readPxeBootServer,
} from '../../../agent/configmgr/discovery';

const FIX = path.join(__dirname, 'fixtures');
const fixture = (name: string): Buffer => fs.readFileSync(path.join(FIX, name));
const text = (name: string): string => decodeTextFile(fixture(name));

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

describe('normalizeServer', () => {
  it.each([
    ['dp01', 'dp01'],
    ['  dp01.corp.contoso.com  ', 'dp01.corp.contoso.com'],
    ['"cm01"', 'cm01'],
    ['10.20.30.40', '10.20.30.40'],
    ['10.20.30.40:4011', '10.20.30.40:4011'],
    ['dp01:8080', 'dp01:8080'],
    ['fe80::1', 'fe80::1'],
    ['[fd00::5]:4011', '[fd00::5]:4011'],
    ['http://dp01.corp.contoso.com/SMS_DP_SMSPKG$/PS100004', 'dp01.corp.contoso.com'],
    ['https://[fd00::7]:8443/x', 'fd00::7'],
    ['\\\\dp03\\SMSPKGE$\\PS100004', 'dp03'],
    ['\\\\dp04.corp@SSL\\DavWWWRoot\\x', 'dp04.corp'],
    ['SRV_WDS-01', 'SRV_WDS-01'],
  ])('accepts %j as %j', (input, server) => {
    expect(normalizeServer(input)?.server).toBe(server);
  });

  it.each(['', '   ', 'two words', 'C:\\_SMSTaskSequence', 'X:\\Windows\\TEMP', '0.0.0.0', '::', '999.1.1.1', '10.1.2', 'dp01:0', 'dp01:70000', 'dp01:', '-bad-', 'http://', 'a..b', '\\\\'])(
    'rejects %j',
    (input) => {
      expect(normalizeServer(input)).toBeUndefined();
    },
  );

  it('keeps an explicit port apart from the host', () => {
    expect(normalizeServer('dp01:4011')).toEqual({ host: 'dp01', port: 4011, server: 'dp01:4011' });
    expect(normalizeServer('http://dp01:8080/x')).toEqual({ host: 'dp01', port: undefined, server: 'dp01' });
  });
});

describe('decodeTextFile', () => {
  it('reads UTF-16LE with BOM, UTF-8 with BOM, BOM-less UTF-16LE and Latin-1', () => {
    expect(decodeTextFile(Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from('a=ü', 'utf16le')]))).toBe('a=ü');
    expect(decodeTextFile(Buffer.from([0xef, 0xbb, 0xbf, 0x61]))).toBe('a');
    expect(decodeTextFile(Buffer.from('[x]\r\nk=v\r\n', 'utf16le'))).toBe('[x]\r\nk=v\r\n');
    const be = Buffer.from('k=v', 'utf16le');
    be.swap16();
    expect(decodeTextFile(Buffer.concat([Buffer.from([0xfe, 0xff]), be]))).toBe('k=v');
    expect(decodeTextFile(Buffer.from([0x6b, 0x3d, 0xfc]))).toBe('k=ü');
  });
});

describe('ACP INI', () => {
  it('parses sections, comments and quotes', () => {
    expect(parseIni('; c\r\n# c\r\ntop=1\r\n[ A ]\r\nk = "v w"\r\nnoequals\r\n=novalue\r\n[B]\r\nk2=x=y')).toEqual([
      { section: '', key: 'top', value: '1', line: 3 },
      { section: 'A', key: 'k', value: 'v w', line: 5 },
      { section: 'B', key: 'k2', value: 'x=y', line: 9 },
    ]);
  });

  it('finds a server key in a UTF-16 INI', () => {
    const s = findServerInIni(text('acp-server-key.ini'));
    expect(s).toMatchObject({ section: 'Download', key: 'DPServer', candidates: ['dp01.corp.contoso.com'] });
    expect(s!.address.server).toBe('dp01.corp.contoso.com');
  });

  it('takes the host of the first URL in a location list and skips local paths', () => {
    const s = findServerInIni(text('acp-url-list.ini'));
    expect(s).toMatchObject({ section: 'Locations', key: 'ContentLocation' });
    expect(s!.candidates).toEqual(['dp01.corp.contoso.com', 'dp02.corp.contoso.com']);
  });

  it('takes the host of a UNC source', () => {
    expect(findServerInIni(text('acp-unc.ini'))).toMatchObject({ key: 'Source', address: { host: 'dp03' } });
  });

  it('finds nothing when only package data and local paths are present', () => {
    expect(findServerInIni(text('acp-no-server.ini'))).toBeUndefined();
  });

  it('prefers a server key over an earlier URL key, and ignores bare words in location keys', () => {
    const s = findServerInIni('[a]\nUrl=http://web01/x\nSourcePath=Packages\n[b]\nMulticastServer=mcs01\n');
    expect(s).toMatchObject({ key: 'MulticastServer', address: { server: 'mcs01' } });
    expect(findServerInIni('[a]\nSourcePath=Packages\n')).toBeUndefined();
  });
});

describe('osdcast.json', () => {
  it('reads every documented key', () => {
    const { config, warnings } = parseOsdcastConfig(text('osdcast.json'));
    expect(warnings).toEqual([]);
    expect(config).toEqual({
      server: 'cm01.corp.contoso.com',
      abortCode: 99,
      namespaceTemplate: 'SMSPKG\\{packageId}',
      contentTemplate: '{packageId}/{file}',
      httpTemplate: 'http://{server}/SMS_DP_SMSPKG$/{packageId}/{file}',
    });
  });

  it('rejects wrong types with the key named', () => {
    expect(() => parseOsdcastConfig(text('osdcast-bad-abort.json'))).toThrow(/"abortCode" must be an integer/);
    expect(() => parseOsdcastConfig('{"server": "two words"}')).toThrow(ConfigError);
    expect(() => parseOsdcastConfig('{"httpTemplate": 5}')).toThrow(/httpTemplate/);
    expect(() => parseOsdcastConfig('[1]')).toThrow(/JSON object/);
    expect(() => parseOsdcastConfig('{server: x}', 'C:\\osdcast.json')).toThrow(/C:\\osdcast.json: not valid JSON/);
  });

  it('warns about unknown keys (BOM tolerated)', () => {
    const { config, warnings } = parseOsdcastConfig(text('osdcast-unknown-key.json'));
    expect(config).toEqual({ abortCode: 7 });
    expect(warnings).toEqual(['osdcast.json: unknown key "serverName" ignored']);
  });
});

describe('reg query output', () => {
  it('parses a single value', () => {
    expect(parseRegQuery(text('reg-query-pebootserveraddr.txt'))).toEqual({
      key: 'HKEY_LOCAL_MACHINE\\SYSTEM\\CurrentControlSet\\Control',
      values: [{ name: 'PEBootServerAddr', type: 'REG_SZ', data: '10.20.30.40' }],
    });
  });

  it('parses a whole key with empty data, DWORDs, names with parentheses and subkeys', () => {
    const { values } = parseRegQuery(text('reg-query-control-winpe.txt'));
    const byName = Object.fromEntries(values.map((v) => [v.name, v]));
    expect(values).toHaveLength(14);
    expect(byName.PEBootServerAddr!.data).toBe('10.20.30.40');
    expect(byName.PEBootRamdiskSourceDrive).toEqual({ name: 'PEBootRamdiskSourceDrive', type: 'REG_SZ', data: '' });
    expect(byName.PEFirmwareType).toEqual({ name: 'PEFirmwareType', type: 'REG_DWORD', data: '0x2' });
    expect(byName.SystemStartOptions!.data).toBe(' MININT');
    expect(byName['(Default)']!.data).toBe('');
  });

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
