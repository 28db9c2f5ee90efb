import type { SpawnSyncOptions, SpawnSyncReturns } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { expect } from 'vitest';
import { type SpawnFn, TSENV_VBS } from '../../../agent/configmgr/tsenv';

/**
 * A stand-in for cscript running TSENV_VBS: follows the same protocol (env in, UTF-16 records out, exit codes),
 * keeping variables in `store` across calls like a task sequence does. Lets the Node side be tested on Linux;
 * the real script runs under Wine in sea.test.ts.
 */
export function fakeCscript(store: Map<string, string> | undefined, tweak: { dropWrites?: boolean; status?: number; error?: NodeJS.ErrnoException } = {}) {
  const calls: { cmd: string; args: string[]; env: Record<string, string>; dir: string }[] = [];
  const spawn: SpawnFn = (cmd, args, o: SpawnSyncOptions) => {
    const env = o.env as Record<string, string>;
    const script = args[args.length - 1]!;
    calls.push({ cmd, args, env, dir: path.dirname(script) });
    expect(fs.readFileSync(script, 'latin1')).toBe(TSENV_VBS);
    const base = { pid: 1, output: [], stdout: Buffer.alloc(0), stderr: Buffer.alloc(0), signal: null } as unknown as SpawnSyncReturns<Buffer>;
    if (tweak.error) return { ...base, status: null, error: tweak.error };
    const recs: string[] = [];
    let status = 0;
    if (!store) {
      recs.push('E', env.TSENV_PROGID ?? 'Microsoft.SMS.TSEnvironment', '1AD', "ActiveX component can't create object");
      status = 3;
    } else {
      const n = Number(env.TSENV_COUNT);
      if (env.TSENV_OP === 'set' && !tweak.dropWrites) for (let i = 1; i <= n; i++) store.set(env[`TSENV_NAME_${i}`]!, env[`TSENV_VALUE_${i}`]!);
      recs.push('OK');
      for (let i = 1; i <= n; i++) recs.push(env[`TSENV_NAME_${i}`]!, store.get(env[`TSENV_NAME_${i}`]!) ?? '');
    }
    if (tweak.status === undefined || tweak.status === 0) {
      fs.writeFileSync(env.TSENV_OUT!, Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(recs.map((r) => `${r.length}:${r}`).join(''), 'utf16le')]));
    }
    return { ...base, status: tweak.status ?? status };
  };
  return { spawn, calls };
}

