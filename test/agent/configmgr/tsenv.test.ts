import { afterAll, describe, expect, it } from 'vitest';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fakeCscript } from './cscript-standin';
import {
  TS_VAR_FIELDS,
  TSENV_VBS,
  TsVarFlagError,
  buildTsVariables,
  getTsVariables,
  helperEnv,
  parseHelperOutput,
  parseTsVarFlags,
  setTsVariables,
  validateTsVariableName,
} from '../../../agent/configmgr/tsenv';

describe('parseTsVarFlags', () => {
  it('maps NAME=field pairs, matching field names case-insensitively', () => {
    expect(parseTsVarFlags(['OSDCAST_SHA256=sha256', 'OSD-Bytes=BYTES', ' McBytes = multicastBytes '])).toEqual([
      { name: 'OSDCAST_SHA256', field: 'sha256' },
      { name: 'OSD-Bytes', field: 'bytes' },
      { name: 'McBytes', field: 'multicastBytes' },
    ]);
    expect(parseTsVarFlags([])).toEqual([]);
    expect(TS_VAR_FIELDS).toEqual(['bytes', 'sha256', 'status', 'exitCode', 'seconds', 'multicastBytes', 'httpBytes', 'integrity', 'error']);
  });

  it.each([
    ['NOEQUALS', /expected NAME=field/],
    ['=bytes', /variable name is empty/],
    ['X=size', /unknown field "size"; use one of bytes, sha256, status/],
    ['X=', /unknown field ""/],
    ['_SMSTSLogPath=status', /read-only/],
    ['MY VAR=status', /only letters, digits/],
    ['MY%VAR%=status', /only letters, digits/],
    [`${'A'.repeat(256)}=bytes`, /longer than 255/],
  ])('rejects %j', (flag, msg) => {
    expect(() => parseTsVarFlags([flag])).toThrow(TsVarFlagError);
    expect(() => parseTsVarFlags([flag])).toThrow(msg);
  });

  it('rejects the same variable twice, ignoring case', () => {
    expect(() => parseTsVarFlags(['A=bytes', 'a=status'])).toThrow(/variable a given twice \(bytes and status\)/);
  });

  it('validates against the list it is given', () => {
    expect(parseTsVarFlags(['A=foo'], ['foo'])).toEqual([{ name: 'A', field: 'foo' }]);
    expect(() => parseTsVarFlags(['A=bytes'], ['foo'])).toThrow(/use one of foo$/);
  });

  it('turns a result into variable texts', () => {
    const m = parseTsVarFlags(['B=bytes', 'S=sha256', 'E=error', 'I=integrity', 'X=exitCode', 'H=httpBytes']);
    expect(buildTsVariables(m, { bytes: 123456789012, sha256: 'ab', error: new Error('boom'), integrity: true, exitCode: 0 })).toEqual({
      B: '123456789012',
      S: 'ab',
      E: 'boom',
      I: 'true',
      X: '0',
      H: '',
    });
  });

  it('validates names on its own', () => {
    expect(validateTsVariableName('OSDCAST_STATUS')).toBeUndefined();
    expect(validateTsVariableName('_x')).toMatch(/read-only/);
  });
});

describe('helper protocol', () => {
  it('the script is plain ASCII with CRLF line ends and quits 3 when the COM object is missing', () => {
    expect(/^[\x09\x0d\x0a\x20-\x7e]*$/.test(TSENV_VBS)).toBe(true);
    expect(TSENV_VBS.split('\r\n').length).toBeGreaterThan(20);
    expect(TSENV_VBS).not.toMatch(/[^\r]\n/);
    expect(TSENV_VBS).toContain('If progId = "" Then progId = "Microsoft.SMS.TSEnvironment"');
    expect(TSENV_VBS).toMatch(/Set env = CreateObject\(progId\)[\s\S]*If errNum <> 0 Then Fail 3, progId/);
    expect(TSENV_VBS).toContain('fso.CreateTextFile(penv("TSENV_OUT"), True, True)');
  });

  it('parses length-prefixed records, whatever they contain', () => {
    const vals = ['OK', 'A', '12:34', '', 'line\r\nbreak', '"quoted" & ümlaut %PATH% ;|<>', '9'];
    const text = '\uFEFF' + vals.map((v) => `${v.length}:${v}`).join('');
    expect(parseHelperOutput(text)).toEqual(vals);
    expect(() => parseHelperOutput('5:abc')).toThrow(/malformed/);
    expect(() => parseHelperOutput('x:abc')).toThrow(/malformed/);
    expect(parseHelperOutput('')).toEqual([]);
  });

  it('passes inputs in environment variables and drops stale ones', () => {
    const env = helperEnv({ PATH: 'p', TSENV_NAME_9: 'stale', tsenv_op: 'old', U: undefined }, 'set', ['A', 'B'], ['1', 'x"y'], 'C:\\t\\out.txt', 'Scripting.Dictionary');
    expect(env).toEqual({
      PATH: 'p',
      TSENV_OP: 'set',
      TSENV_OUT: 'C:\\t\\out.txt',
      TSENV_COUNT: '2',
      TSENV_PROGID: 'Scripting.Dictionary',
      TSENV_NAME_1: 'A',
      TSENV_VALUE_1: '1',
      TSENV_NAME_2: 'B',
      TSENV_VALUE_2: 'x"y',
    });
  });

  it('never hands the RPC password to cscript, in any spelling', () => {
    const env = helperEnv({ PATH: 'p', OSDCAST_PASSWORD: 'S3cret', osdcast_password: 'S3cret2' }, 'get', ['A'], undefined, 'o');
    expect(JSON.stringify(env)).not.toMatch(/S3cret/);
    expect(env.PATH).toBe('p');
  });
});

describe('setTsVariables / getTsVariables', () => {
  const tmpDir = fs.mkdtempSync(path.join(os.tmpdir(), 'osdcast-tsenv-test-'));
  afterAll(() => fs.rmSync(tmpDir, { recursive: true, force: true }));
  const common = { platform: 'win32' as const, tmpDir, cscript: 'C:\\Windows\\System32\\cscript.exe', env: { PATH: 'x' } };

  it('refuses off Windows without running anything', () => {
    const f = fakeCscript(new Map());
    const r = setTsVariables({ A: '1' }, { platform: 'linux', spawn: f.spawn });
    expect(r).toEqual({ ok: false, reason: 'not-windows', message: 'task sequence variables need Windows (this is linux)' });
    expect(f.calls).toHaveLength(0);
  });

  it('sets all variables in one run, verifies them, and cleans up', () => {
    const store = new Map<string, string>();
    const f = fakeCscript(store);
    const vars = { OSDCAST_STATUS: 'ok', OSDCAST_ERROR: 'quote " ümlaut & %PATH% ;|<>\r\nline 2', OSDCAST_EMPTY: '' };
    expect(setTsVariables(vars, { ...common, spawn: f.spawn })).toEqual({ ok: true });
    expect(Object.fromEntries(store)).toEqual(vars);
    expect(f.calls).toHaveLength(1);
    expect(f.calls[0]!.cmd).toBe('C:\\Windows\\System32\\cscript.exe');
    expect(f.calls[0]!.args.slice(0, 2)).toEqual(['//nologo', '//B']);
    expect(fs.existsSync(f.calls[0]!.dir)).toBe(false);
    expect(getTsVariables(['OSDCAST_ERROR', 'NOT_SET'], { ...common, spawn: f.spawn })).toEqual({
      ok: true,
      values: { OSDCAST_ERROR: vars.OSDCAST_ERROR, NOT_SET: '' },
    });
  });

  it('reports "not in a task sequence" from exit code 3 with the COM error', () => {
    const r = setTsVariables({ A: '1' }, { ...common, spawn: fakeCscript(undefined).spawn });
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.reason).toBe('not-in-task-sequence');
    expect(r.message).toMatch(/could not create Microsoft\.SMS\.TSEnvironment \(Microsoft\.SMS\.TSEnvironment: error 0x1AD ActiveX/);
    expect(r.message).toMatch(/started by a task sequence step/);
  });

  it('catches a write the task sequence ignored', () => {
    const r = setTsVariables({ A: 'new' }, { ...common, spawn: fakeCscript(new Map([['A', 'old']]), { dropWrites: true }).spawn });
    expect(r).toMatchObject({ ok: false, reason: 'verify-failed' });
    if (!r.ok) expect(r.message).toBe('A reads back as "old" after setting "new"');
  });

  it('maps a missing cscript, a timeout and a crash', () => {
    const enoent = Object.assign(new Error('spawnSync cscript.exe ENOENT'), { code: 'ENOENT' });
    expect(setTsVariables({ A: '1' }, { ...common, spawn: fakeCscript(new Map(), { error: enoent }).spawn })).toMatchObject({
      ok: false,
      reason: 'cscript-missing',
      message: expect.stringMatching(/WinPE-Scripting/),
    });
    const timeout = Object.assign(new Error('spawnSync cscript.exe ETIMEDOUT'), { code: 'ETIMEDOUT' });
    expect(setTsVariables({ A: '1' }, { ...common, spawn: fakeCscript(new Map(), { error: timeout }).spawn })).toMatchObject({ reason: 'timeout' });
    expect(setTsVariables({ A: '1' }, { ...common, spawn: fakeCscript(new Map(), { status: 1 }).spawn })).toMatchObject({
      reason: 'helper-failed',
      message: expect.stringMatching(/exited with 1 and wrote no result/),
    });
  });

  it('rejects bad names and values before running anything', () => {
    const f = fakeCscript(new Map());
    expect(setTsVariables({ _SMSTSLogPath: 'x' }, { ...common, spawn: f.spawn })).toMatchObject({ reason: 'invalid-variable' });
    expect(setTsVariables({ A: 'x'.repeat(32_001) }, { ...common, spawn: f.spawn })).toMatchObject({ reason: 'invalid-variable' });
    expect(setTsVariables({ A: 'a\0b' }, { ...common, spawn: f.spawn })).toMatchObject({ reason: 'invalid-variable' });
    expect(getTsVariables(['has space'], { ...common, spawn: f.spawn })).toMatchObject({ reason: 'invalid-variable' });
    expect(setTsVariables({}, { ...common, spawn: f.spawn })).toEqual({ ok: true });
    expect(f.calls).toHaveLength(0);
  });
});
