/**
 * Task-sequence variables from inside the single binary.
 *
 * Microsoft.SMS.TSEnvironment is a COM automation object that only exists while a task sequence runs, for
 * processes the task sequence started. A SEA binary can't load native COM addons, and PowerShell is not in every
 * boot image, so we go through cscript.exe (WinPE-Scripting, present in ConfigMgr boot images) and a small
 * VBScript written to a temporary folder:
 *
 *  - inputs go in environment variables (TSENV_OP, TSENV_COUNT, TSENV_NAME_<i>, TSENV_VALUE_<i>, TSENV_OUT,
 *    TSENV_PROGID), because WSH can't take a '"' inside a command-line argument;
 *  - output comes back in a UTF-16 file (FileSystemObject.CreateTextFile(path, True, True)), avoiding console
 *    code pages; records are length-prefixed ("<len>:<text>", len in UTF-16 code units = JS string length);
 *  - exit 3: CreateObject("Microsoft.SMS.TSEnvironment") failed, i.e. not started by a running task sequence;
 *    exit 4: setting a variable failed; exit 2: bad input; 0: done.
 *  - after a set, the script reads every variable back and we compare, so a silently ignored write is caught.
 *
 * TSENV_PROGID exists for tests only (Scripting.Dictionary stands in for TSEnvironment under Wine).
 */
import { spawnSync, type SpawnSyncOptions, type SpawnSyncReturns } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { childEnv, envValue } from '../util/env';
import { stripBom } from '../util/text';

// ---------------------------------------------------------------------------------------------------------------
// --ts-var NAME=field

/** Result fields that can be copied into task-sequence variables. */
export const TS_VAR_FIELDS = ['bytes', 'sha256', 'status', 'exitCode', 'seconds', 'multicastBytes', 'httpBytes', 'integrity', 'error'] as const;

export interface TsVarMapping {
  name: string;
  field: string;
}

export class TsVarFlagError extends Error {}

/** Longest value we pass (Windows limits one environment variable to 32,767 characters). */
export const MAX_VALUE_LENGTH = 32_000;

/**
 * Our rule for names we write (ConfigMgr's own rules are only partly documented): letters, digits, '_' and '-',
 * at most 255 characters, not starting with '_' (names beginning with an underscore are read-only in a task
 * sequence). Returns an error text, or undefined when the name is fine.
 */
export function validateTsVariableName(name: string): string | undefined {
  if (name === '') return 'variable name is empty';
  if (name.length > 255) return `variable name longer than 255 characters: ${name.slice(0, 40)}...`;
  if (name.startsWith('_')) return `${name}: names starting with "_" are read-only task sequence variables`;
  if (!/^[A-Za-z0-9_-]+$/.test(name)) return `${name}: only letters, digits, "_" and "-" are allowed in a variable name`;
  return undefined;
}

/**
 * Parses repeated `--ts-var NAME=field` values. Field names are matched exactly against `allowedFields`
 * (case-insensitively, returned in the allowed spelling). A name may appear only once (case-insensitive, as in
 * the task sequence). Throws TsVarFlagError with a message fit for a usage error.
 */
export function parseTsVarFlags(flags: readonly string[], allowedFields: readonly string[] = TS_VAR_FIELDS): TsVarMapping[] {
  const out: TsVarMapping[] = [];
  const seen = new Map<string, string>();
  for (const flag of flags) {
    const eq = flag.indexOf('=');
    if (eq < 0) throw new TsVarFlagError(`--ts-var ${JSON.stringify(flag)}: expected NAME=field, e.g. OSDCAST_SHA256=sha256`);
    const name = flag.slice(0, eq).trim();
    const fieldRaw = flag.slice(eq + 1).trim();
    const bad = validateTsVariableName(name);
    if (bad) throw new TsVarFlagError(`--ts-var ${JSON.stringify(flag)}: ${bad}`);
    const field = allowedFields.find((f) => f.toLowerCase() === fieldRaw.toLowerCase());
    if (!field) {
      throw new TsVarFlagError(`--ts-var ${JSON.stringify(flag)}: unknown field ${JSON.stringify(fieldRaw)}; use one of ${allowedFields.join(', ')}`);
    }
    const prev = seen.get(name.toLowerCase());
    if (prev !== undefined) throw new TsVarFlagError(`--ts-var: variable ${name} given twice (${prev} and ${field})`);
    seen.set(name.toLowerCase(), field);
    out.push({ name, field });
  }
  return out;
}

/** Text of one result value as a task-sequence variable (variables are strings). */
export function tsValueText(v: unknown): string {
  if (v === undefined || v === null) return '';
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'bigint' || typeof v === 'boolean') return String(v);
  if (v instanceof Error) return v.message;
  return JSON.stringify(v);
}

/** { NAME: text of result[field] } for each mapping; a missing field gives an empty string. */
export function buildTsVariables(mappings: readonly TsVarMapping[], result: Readonly<Record<string, unknown>>): Record<string, string> {
  const vars: Record<string, string> = {};
  for (const m of mappings) vars[m.name] = tsValueText(result[m.field]);
  return vars;
}

// ---------------------------------------------------------------------------------------------------------------
// The cscript helper

export const TSENV_EXIT = { ok: 0, badInput: 2, noTsEnvironment: 3, setFailed: 4 } as const;

/** The helper script. Plain ASCII; CRLF line ends for WSH. */
export const TSENV_VBS = [
  "' osdcast task-sequence variable helper. Written by osdcast into a temporary folder and deleted after use.",
  'Option Explicit',
  'Dim sh, penv, fso, out, env, op, progId, n, i, name, value, errNum, errDesc',
  'Set sh = CreateObject("WScript.Shell")',
  'Set penv = sh.Environment("PROCESS")',
  'Set fso = CreateObject("Scripting.FileSystemObject")',
  'Set out = fso.CreateTextFile(penv("TSENV_OUT"), True, True)',
  'Sub Rec(s)',
  '  out.Write CStr(Len(s)) & ":" & s',
  'End Sub',
  'Sub Fail(code, what)',
  '  Rec "E" : Rec what : Rec Hex(errNum) : Rec errDesc',
  '  out.Close',
  '  WScript.Quit code',
  'End Sub',
  'op = penv("TSENV_OP")',
  'progId = penv("TSENV_PROGID")',
  'If progId = "" Then progId = "Microsoft.SMS.TSEnvironment"',
  'If (op <> "get" And op <> "set") Or Not IsNumeric(penv("TSENV_COUNT")) Then',
  '  errNum = 0 : errDesc = "bad TSENV_OP or TSENV_COUNT"',
  '  Fail 2, op',
  'End If',
  'n = CLng(penv("TSENV_COUNT"))',
  'On Error Resume Next',
  'Set env = CreateObject(progId)',
  'errNum = Err.Number : errDesc = Err.Description',
  'On Error GoTo 0',
  'If errNum <> 0 Then Fail 3, progId',
  'For i = 1 To n',
  '  name = penv("TSENV_NAME_" & i)',
  '  If op = "set" Then',
  '    value = penv("TSENV_VALUE_" & i)',
  '    On Error Resume Next',
  '    env(name) = value',
  '    errNum = Err.Number : errDesc = Err.Description',
  '    On Error GoTo 0',
  '    If errNum <> 0 Then Fail 4, name',
  '  End If',
  'Next',
  'Rec "OK"',
  'For i = 1 To n',
  '  name = penv("TSENV_NAME_" & i)',
  '  Rec name : Rec CStr(env(name))',
  'Next',
  'out.Close',
  'WScript.Quit 0',
  '',
].join('\r\n');

/** Splits the helper's "<len>:<text>" records. Throws on malformed input. */
export function parseHelperOutput(text: string): string[] {
  const out: string[] = [];
  text = stripBom(text);
  let i = 0;
  while (i < text.length) {
    const colon = text.indexOf(':', i);
    const len = colon > i ? Number(text.slice(i, colon)) : NaN;
    if (!Number.isInteger(len) || len < 0 || colon + 1 + len > text.length) throw new Error(`malformed helper output at offset ${i}`);
    out.push(text.slice(colon + 1, colon + 1 + len));
    i = colon + 1 + len;
  }
  return out;
}

/** Environment variables that carry one helper call, given the base environment (stale TSENV_* removed). */
export function helperEnv(
  base: Readonly<Record<string, string | undefined>>,
  op: 'get' | 'set',
  names: readonly string[],
  values: readonly string[] | undefined,
  outFile: string,
  progId?: string,
): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(childEnv(base))) if (!/^TSENV_/i.test(k)) env[k] = v;
  env.TSENV_OP = op;
  env.TSENV_OUT = outFile;
  env.TSENV_COUNT = String(names.length);
  if (progId) env.TSENV_PROGID = progId;
  names.forEach((n, i) => {
    env[`TSENV_NAME_${i + 1}`] = n;
    if (values) env[`TSENV_VALUE_${i + 1}`] = values[i]!;
  });
  return env;
}

export type TsEnvFailure =
  | 'not-windows'
  | 'not-in-task-sequence'
  | 'cscript-missing'
  | 'invalid-variable'
  | 'timeout'
  | 'set-failed'
  | 'verify-failed'
  | 'helper-failed';

export type TsEnvResult = { ok: true } | { ok: false; reason: TsEnvFailure; message: string };
export type TsEnvGetResult = { ok: true; values: Record<string, string> } | { ok: false; reason: TsEnvFailure; message: string };

export type SpawnFn = (command: string, args: string[], options: SpawnSyncOptions) => SpawnSyncReturns<Buffer>;

export interface TsEnvOptions {
  platform?: NodeJS.Platform;
  /** cscript.exe to run; default %SystemRoot%\System32\cscript.exe, else cscript.exe from PATH. */
  cscript?: string;
  /** Where the temporary folder goes; default os.tmpdir() (X:\Windows\TEMP in WinPE). */
  tmpDir?: string;
  timeoutMs?: number;
  env?: Readonly<Record<string, string | undefined>>;
  /** Tests only: the COM class to use instead of Microsoft.SMS.TSEnvironment. */
  progId?: string;
  /** Tests only: replaces child_process.spawnSync. */
  spawn?: SpawnFn;
}

function fail(reason: TsEnvFailure, message: string): { ok: false; reason: TsEnvFailure; message: string } {
  return { ok: false, reason, message };
}

function defaultCscript(env: Readonly<Record<string, string | undefined>>): string {
  const root = envValue(env, 'SystemRoot');
  if (root) {
    const p = path.win32.join(root, 'System32', 'cscript.exe');
    if (fs.existsSync(p)) return p;
  }
  return 'cscript.exe';
}

type HelperOutcome = { ok: true; pairs: Array<[string, string]> } | { ok: false; reason: TsEnvFailure; message: string };

function runHelper(op: 'get' | 'set', names: string[], values: string[] | undefined, opts: TsEnvOptions): HelperOutcome {
  const platform = opts.platform ?? process.platform;
  if (platform !== 'win32') return fail('not-windows', `task sequence variables need Windows (this is ${platform})`);
  const baseEnv = opts.env ?? process.env;
  const cscript = opts.cscript ?? defaultCscript(baseEnv);
  const dir = fs.mkdtempSync(path.join(opts.tmpDir ?? os.tmpdir(), 'osdcast-tsenv-'));
  try {
    const script = path.join(dir, 'tsenv.vbs');
    const outFile = path.join(dir, 'out.txt');
    fs.writeFileSync(script, TSENV_VBS, 'latin1');
    const spawn: SpawnFn = opts.spawn ?? ((c, a, o) => spawnSync(c, a, o) as SpawnSyncReturns<Buffer>);
    const r = spawn(cscript, ['//nologo', '//B', script], {
      env: helperEnv(baseEnv, op, names, values, outFile, opts.progId),
      windowsHide: true,
      stdio: 'ignore',
      timeout: opts.timeoutMs ?? 60_000,
    });
    if (r.error) {
      const code = (r.error as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') {
        return fail('cscript-missing', `${cscript} not found: the boot image needs the WinPE-Scripting optional component (${r.error.message})`);
      }
      if (code === 'ETIMEDOUT') return fail('timeout', `${cscript} did not finish within ${opts.timeoutMs ?? 60_000} ms`);
      return fail('helper-failed', `could not run ${cscript}: ${r.error.message}`);
    }
    let records: string[] = [];
    let parseError: string | undefined;
    try {
      if (fs.existsSync(outFile)) records = parseHelperOutput(fs.readFileSync(outFile).toString('utf16le'));
    } catch (e) {
      parseError = (e as Error).message;
    }
    const errText = records[0] === 'E' ? ` (${records[1]}: error 0x${records[2]}${records[3] ? ` ${records[3].trim()}` : ''})` : '';
    if (r.status === TSENV_EXIT.noTsEnvironment) {
      return fail(
        'not-in-task-sequence',
        `not running in a task sequence: could not create ${opts.progId ?? 'Microsoft.SMS.TSEnvironment'}${errText}. ` +
          'Variables can only be set when osdcast is started by a task sequence step.',
      );
    }
    if (r.status === TSENV_EXIT.setFailed) return fail('set-failed', `the task sequence refused a variable${errText}`);
    if (r.status !== 0 || records[0] !== 'OK' || parseError) {
      return fail('helper-failed', `${cscript} exited with ${r.status ?? r.signal}${errText}${parseError ? ` (${parseError})` : ''}${records.length === 0 ? ' and wrote no result' : ''}`);
    }
    const pairs: Array<[string, string]> = [];
    for (let i = 1; i + 1 < records.length; i += 2) pairs.push([records[i]!, records[i + 1]!]);
    if (pairs.length !== names.length) return fail('helper-failed', `helper returned ${pairs.length} of ${names.length} variables`);
    return { ok: true, pairs };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * Sets task-sequence variables (one cscript run for all of them) and reads them back to verify.
 * Never throws for the expected failures; `reason` says which one.
 */
export function setTsVariables(vars: Readonly<Record<string, string>>, opts: TsEnvOptions = {}): TsEnvResult {
  const names = Object.keys(vars);
  for (const n of names) {
    const bad = validateTsVariableName(n);
    if (bad) return fail('invalid-variable', bad);
    const v = vars[n]!;
    if (typeof v !== 'string') return fail('invalid-variable', `${n}: value must be a string`);
    if (v.length > MAX_VALUE_LENGTH) return fail('invalid-variable', `${n}: value longer than ${MAX_VALUE_LENGTH} characters`);
    if (v.includes('\0')) return fail('invalid-variable', `${n}: value contains a NUL character`);
  }
  if (names.length === 0) return { ok: true };
  const r = runHelper('set', names, names.map((n) => vars[n]!), opts);
  if (!r.ok) return r;
  for (const [name, actual] of r.pairs) {
    if (actual !== vars[name]) {
      return fail('verify-failed', `${name} reads back as ${JSON.stringify(actual.slice(0, 80))} after setting ${JSON.stringify(vars[name]!.slice(0, 80))}`);
    }
  }
  return { ok: true };
}

/**
 * Reads task-sequence variables (read-only "_SMSTS..." names are allowed here). Missing variables read as "".
 * The network access account comes this way (configmgr/credentials.ts); the tests read back what setTsVariables wrote.
 */
export function getTsVariables(names: readonly string[], opts: TsEnvOptions = {}): TsEnvGetResult {
  for (const n of names) if (n === '' || !/^[A-Za-z0-9_-]+$/.test(n)) return fail('invalid-variable', `bad variable name ${JSON.stringify(n)}`);
  if (names.length === 0) return { ok: true, values: {} };
  const r = runHelper('get', [...names], undefined, opts);
  if (!r.ok) return r;
  return { ok: true, values: Object.fromEntries(r.pairs) };
}
