/**
 * The account for the RPC (NTLM) session initiation, from, in this order:
 *   --user with the password from --password-file (first line, CR/LF stripped; UTF-8, or UTF-16/UTF-8 with a
 *   BOM) or else environment variable OSDCAST_PASSWORD (never a flag value: a command line is visible to every
 *   process on the machine and lands in smsts.log);
 *   in a task sequence without --user, its network access account (_SMSTSReserved1-000 = user,
 *   _SMSTSReserved2-000 = password), read through the same cscript helper as the other task-sequence variables;
 *   else none: anonymous NTLM, then no authentication (the caller's attempt plan).
 * `--user` without a password, or a password without `--user`, is a usage error. The password is held in a
 * Credentials object, which prints as [hidden]; it never reaches a log line or a report.
 */
import * as fs from 'node:fs';
import { Credentials } from '../../core/ntlm/auth';
import { envValue, PASSWORD_ENV, type Env } from '../util/env';
import { decodeBomText } from '../util/text';
import { getTsVariables, type TsEnvOptions } from './tsenv';

export const NAA_USER_VAR = '_SMSTSReserved1-000';
export const NAA_PASSWORD_VAR = '_SMSTSReserved2-000';

export class CredentialsError extends Error {}

/** DOMAIN\name → (DOMAIN, name); name@domain → (the whole UPN, empty domain), as Windows sends a UPN (protocol-notes #44); name → (name, ''). */
export function splitUser(user: string): { domain: string; user: string } {
  const i = user.indexOf('\\');
  if (i >= 0) return { domain: user.slice(0, i), user: user.slice(i + 1) };
  return { domain: '', user };
}

/** The first line of a password file. */
export function readPasswordFile(file: string, readFile: (f: string) => Buffer = (f) => fs.readFileSync(f)): string {
  let buf: Buffer;
  try {
    buf = readFile(file);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new CredentialsError(`--password-file ${file}: ${code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : (e as Error).message}`);
  }
  const line = decodeBomText(buf).split(/\r\n|\r|\n/)[0] ?? '';
  if (line === '') throw new CredentialsError(`--password-file ${file}: the first line is empty`);
  return line;
}

export interface CredentialSources {
  user?: string;
  passwordFile?: string;
  env: Env;
  readFile?: (f: string) => Buffer;
  /** Whether to look for the task sequence's network access account (only when RPC initiation will run). */
  taskSequence: boolean;
  /** How to read it (tests pass the cscript stand-in's options). */
  tsEnv?: TsEnvOptions;
}

export type ResolvedCredentials = { credentials: Credentials; source: '--user' | 'task sequence network access account' } | { credentials: undefined; source: 'none'; note?: string };

/** Throws CredentialsError (a usage error: exit 2, one line) for --user without a password and the reverse. */
export function resolveCredentials(s: CredentialSources): ResolvedCredentials {
  const fromEnv = envValue(s.env, PASSWORD_ENV);
  const password = s.passwordFile !== undefined ? readPasswordFile(s.passwordFile, s.readFile) : fromEnv !== undefined && fromEnv !== '' ? fromEnv : undefined;
  if (s.user !== undefined) {
    if (password === undefined) throw new CredentialsError(`--user ${s.user} needs a password: --password-file <path> or environment variable ${PASSWORD_ENV}`);
    return { credentials: new Credentials({ ...splitUser(s.user), password }), source: '--user' };
  }
  if (password !== undefined) throw new CredentialsError(`a password (${s.passwordFile !== undefined ? '--password-file' : PASSWORD_ENV}) needs --user <DOMAIN\\name>`);
  if (!s.taskSequence) return { credentials: undefined, source: 'none' };
  const ts = getTsVariables([NAA_USER_VAR, NAA_PASSWORD_VAR], s.tsEnv);
  if (!ts.ok) {
    const quiet = ts.reason === 'not-windows' || ts.reason === 'not-in-task-sequence';
    return quiet ? { credentials: undefined, source: 'none' } : { credentials: undefined, source: 'none', note: `no network access account from the task sequence (${ts.reason}: ${ts.message})` };
  }
  const user = ts.values[NAA_USER_VAR] ?? '';
  const pw = ts.values[NAA_PASSWORD_VAR] ?? '';
  if (user === '' || pw === '') return { credentials: undefined, source: 'none', note: 'the task sequence holds no network access account' };
  return { credentials: new Credentials({ ...splitUser(user), password: pw }), source: 'task sequence network access account' };
}
