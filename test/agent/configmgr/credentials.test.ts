/**
 * agent/configmgr/credentials.ts: --user and its password (file or OSDCAST_PASSWORD, never a flag), the task
 * sequence's network access account through the cscript stand-in, and the usage errors; agent/util/env.ts takes
 * the password out of the environment children inherit; discovery.ts isWinPE.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CredentialsError, NAA_PASSWORD_VAR, NAA_USER_VAR, readPasswordFile, resolveCredentials, splitUser } from '../../../agent/configmgr/credentials';
import { isWinPE } from '../../../agent/configmgr/discovery';
import { childEnv, takePassword } from '../../../agent/util/env';
import { fakeCscript } from './cscript-standin';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'osdcast-creds-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
const file = (name: string, bytes: Buffer) => {
  const p = path.join(tmp, name);
  fs.writeFileSync(p, bytes);
  return p;
};
const ts = (store: Map<string, string> | undefined) => ({ platform: 'win32' as const, tmpDir: tmp, cscript: 'C:\\Windows\\System32\\cscript.exe', env: { PATH: 'x' }, spawn: fakeCscript(store).spawn });

describe('--user and its password', () => {
  it('splits DOMAIN\\name; a UPN stays whole with an empty domain; a bare name has an empty domain', () => {
    expect(splitUser('CORP\\svc-osd')).toEqual({ domain: 'CORP', user: 'svc-osd' });
    expect(splitUser('svc-osd@corp.example')).toEqual({ domain: '', user: 'svc-osd@corp.example' });
    expect(splitUser('svc-osd')).toEqual({ domain: '', user: 'svc-osd' });
  });

  it('a password file: the first line, CR/LF stripped, UTF-8 with or without a BOM, UTF-16 LE/BE with a BOM', () => {
    const pw = 'Pä55 wörd"\\';
    expect(readPasswordFile(file('u8', Buffer.from(`${pw}\r\nsecond line\r\n`)))).toBe(pw);
    expect(readPasswordFile(file('u8bom', Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(`${pw}\n`)])))).toBe(pw);
    expect(readPasswordFile(file('u16le', Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(`${pw}\r\n`, 'utf16le')])))).toBe(pw);
    const be = Buffer.from(`${pw}\r`, 'utf16le').swap16();
    expect(readPasswordFile(file('u16be', Buffer.concat([Buffer.from([0xfe, 0xff]), be])))).toBe(pw);
    expect(() => readPasswordFile(file('empty', Buffer.from('\r\nx')))).toThrow(/the first line is empty$/);
    expect(() => readPasswordFile(path.join(tmp, 'missing'))).toThrow(/^--password-file .*missing: no such file$/);
  });

  it('--user with a file, or else OSDCAST_PASSWORD; the file wins; the password never prints', () => {
    const f = file('pw', Buffer.from('from-file\n'));
    const a = resolveCredentials({ user: 'CORP\\svc', passwordFile: f, env: { OSDCAST_PASSWORD: 'from-env' }, taskSequence: true });
    expect(a.source).toBe('--user');
    expect(a.credentials).toMatchObject({ domain: 'CORP', user: 'svc' });
    const b = resolveCredentials({ user: 'svc', env: { OSDCAST_PASSWORD: 'from-env' }, taskSequence: true });
    expect(b.credentials).toMatchObject({ domain: '', user: 'svc' });
    for (const r of [a, b]) expect(`${JSON.stringify(r)} ${String(r.credentials)}`).not.toMatch(/from-(file|env)/);
  });

  it('--user without a password, or a password without --user: a usage error naming what is missing', () => {
    expect(() => resolveCredentials({ user: 'CORP\\svc', env: {}, taskSequence: true })).toThrow(new CredentialsError('--user CORP\\svc needs a password: --password-file <path> or environment variable OSDCAST_PASSWORD'));
    expect(() => resolveCredentials({ user: 'svc', env: { OSDCAST_PASSWORD: '' }, taskSequence: true })).toThrow(/needs a password/);
    expect(() => resolveCredentials({ env: { OSDCAST_PASSWORD: 'x' }, taskSequence: true })).toThrow('a password (OSDCAST_PASSWORD) needs --user <DOMAIN\\name>');
    expect(() => resolveCredentials({ passwordFile: file('pw2', Buffer.from('x')), env: {}, taskSequence: false })).toThrow('a password (--password-file) needs --user <DOMAIN\\name>');
  });
});

describe('in a task sequence without --user: its network access account (cscript stand-in)', () => {
  it('reads _SMSTSReserved1-000 / _SMSTSReserved2-000 like the other task-sequence variables', () => {
    const store = new Map([
      [NAA_USER_VAR, 'CORP\\naa-osd'],
      [NAA_PASSWORD_VAR, 'naa-secret'],
    ]);
    const r = resolveCredentials({ env: {}, taskSequence: true, tsEnv: ts(store) });
    expect(r.source).toBe('task sequence network access account');
    expect(r.credentials).toMatchObject({ domain: 'CORP', user: 'naa-osd' });
    expect(JSON.stringify(r)).not.toContain('naa-secret');
  });

  it('no account held, not in a task sequence, off Windows, or no RPC to run: none (anonymous next)', () => {
    expect(resolveCredentials({ env: {}, taskSequence: true, tsEnv: ts(new Map()) })).toEqual({ credentials: undefined, source: 'none', note: 'the task sequence holds no network access account' });
    expect(resolveCredentials({ env: {}, taskSequence: true, tsEnv: ts(undefined) })).toEqual({ credentials: undefined, source: 'none' });
    expect(resolveCredentials({ env: {}, taskSequence: true, tsEnv: { platform: 'linux' } })).toEqual({ credentials: undefined, source: 'none' });
    const f = fakeCscript(new Map([[NAA_USER_VAR, 'x']]));
    expect(resolveCredentials({ env: {}, taskSequence: false, tsEnv: { ...ts(undefined), spawn: f.spawn } })).toEqual({ credentials: undefined, source: 'none' });
    expect(f.calls).toHaveLength(0);
  });

  it('the cscript child never sees OSDCAST_PASSWORD', () => {
    const f = fakeCscript(new Map([[NAA_USER_VAR, 'u'], [NAA_PASSWORD_VAR, 'p']]));
    resolveCredentials({ env: {}, taskSequence: true, tsEnv: { ...ts(undefined), env: { PATH: 'x', OSDCAST_PASSWORD: 'S3cret' }, spawn: f.spawn } });
    expect(f.calls).toHaveLength(1);
    expect(JSON.stringify(f.calls[0]!.env)).not.toContain('S3cret');
    expect(f.calls[0]!.args.join(' ')).not.toContain('S3cret');
  });
});

describe('the password leaves the environment', () => {
  it('takePassword removes every spelling and keeps the value for the resolution; childEnv drops it too', () => {
    const env: Record<string, string | undefined> = { PATH: '/bin', OSDCAST_PASSWORD: 'a', Osdcast_Password: 'b' };
    expect(takePassword(env)).toEqual({ OSDCAST_PASSWORD: 'a' });
    expect(env).toEqual({ PATH: '/bin' });
    expect(takePassword({})).toEqual({});
    expect(childEnv({ PATH: '/bin', osdcast_password: 'x', U: undefined })).toEqual({ PATH: '/bin' });
  });
});

describe('isWinPE: the MiniNT key, read with reg query', () => {
  it('exists → WinPE; absent, failing or off Windows → not', () => {
    const calls: string[][] = [];
    const run = (status: number | null, error?: Error) => (file: string, args: readonly string[]) => {
      calls.push([file, ...args]);
      return { status, stdout: '', stderr: '', ...(error ? { error } : {}) };
    };
    expect(isWinPE(run(0), 'win32')).toBe(true);
    expect(calls[0]).toEqual(['reg', 'query', 'HKLM\\SYSTEM\\CurrentControlSet\\Control\\MiniNT']);
    expect(isWinPE(run(1), 'win32')).toBe(false);
    expect(isWinPE(run(null, new Error('ENOENT')), 'win32')).toBe(false);
    expect(isWinPE(run(0), 'linux')).toBe(false);
    expect(calls).toHaveLength(3);
  });
});
