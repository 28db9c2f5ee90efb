/**
 * agent/storage/lock.ts: one osdcast per --out. A live owner (same boot) stops a second one with exit 6 and its
 * files untouched; a dead owner, one from an earlier boot or an unreadable lock is taken over with a warning.
 */
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Exit, OsdcastError } from '../../../agent/errors';
import { OutLock, bootIdentity, lockPath, parseLock, processAlive, processStart } from '../../../agent/storage/lock';
import { canRun } from '../../support/env';
import { memLogger } from '../transport/helpers';

/** A PID that was just in use and is not any more (a child that exited and was reaped). */
function deadPid(): number {
  const r = spawnSync(process.execPath, ['-e', '0']);
  expect(processAlive(r.pid!)).toBe(false);
  return r.pid!;
}

let dir: string;
let out: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'osdcast-lock-'));
  out = path.join(dir, 'install.wim');
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

function thrown(f: () => unknown): OsdcastError {
  try {
    f();
  } catch (e) {
    return e as OsdcastError;
  }
  throw new Error('did not throw');
}

describe('OutLock', () => {
  it('lives beside the state file, holds this PID and boot, and is removed on release', () => {
    expect(lockPath('/data/x.wim')).toBe('/data/x.wim.osdcast.lock');
    const { log, lines } = memLogger();
    const l = OutLock.acquire(out, log);
    const held = parseLock(fs.readFileSync(lockPath(out), 'utf8'))!;
    expect(held).toMatchObject({ pid: process.pid, boot: bootIdentity(), host: os.hostname() });
    expect(lines()).toEqual([]);
    l.release();
    expect(fs.existsSync(lockPath(out))).toBe(false);
    l.release(); // twice is fine
  });

  it('a live owner on this boot: exit 6 "… is in use by osdcast PID n", and its lock and files stay as they were', () => {
    fs.writeFileSync(`${out}.partial`, 'the first one\'s bytes');
    fs.writeFileSync(`${out}.osdcast`, 'the first one\'s state');
    const theirs = JSON.stringify({ pid: 4242, boot: bootIdentity(), started: '2026-01-01T00:00:00.000Z' }) + '\n';
    fs.writeFileSync(lockPath(out), theirs);
    const { log } = memLogger();
    const e = thrown(() => OutLock.acquire(out, log, { isAlive: (pid) => pid === 4242 }));
    expect(e).toBeInstanceOf(OsdcastError);
    expect(e.exitCode).toBe(Exit.LOCAL_IO);
    expect(e.message).toBe(`${out} is in use by osdcast PID 4242 (since 2026-01-01T00:00:00.000Z); lock ${lockPath(out)}`);
    expect(fs.readFileSync(lockPath(out), 'utf8')).toBe(theirs);
    expect(fs.readFileSync(`${out}.partial`, 'utf8')).toBe('the first one\'s bytes');
    expect(fs.readFileSync(`${out}.osdcast`, 'utf8')).toBe('the first one\'s state');
  });

  it('a real live process (this test) as the owner, written as a bare PID: in use', () => {
    fs.writeFileSync(lockPath(out), `${process.pid}\n`);
    const e = thrown(() => OutLock.acquire(out, memLogger().log, { pid: process.pid + 1 }));
    expect(e.message).toContain(`is in use by osdcast PID ${process.pid}`);
  });

  it('two receives of this process for the same output: the second is refused, and may go once the first is done', () => {
    const first = OutLock.acquire(out, memLogger().log);
    const e = thrown(() => OutLock.acquire(out, memLogger().log));
    expect(e.exitCode).toBe(Exit.LOCAL_IO);
    expect(e.message).toContain(`is in use by osdcast PID ${process.pid} (this process)`);
    first.release();
    OutLock.acquire(out, memLogger().log).release();
  });

  it('this PID in a lock this process does not hold is an earlier process\'s: taken over', () => {
    fs.writeFileSync(lockPath(out), `${process.pid}\n`);
    const { log, lines } = memLogger();
    OutLock.acquire(out, log).release();
    expect(String(lines()[0]!.msg)).toMatch(/: that PID is now this process \(an earlier one left the lock\)$/);
  });

  it('a dead owner is taken over and logged', () => {
    const dead = deadPid();
    fs.writeFileSync(lockPath(out), JSON.stringify({ pid: dead, boot: bootIdentity() }));
    const { log, lines } = memLogger();
    const l = OutLock.acquire(out, log);
    expect(parseLock(fs.readFileSync(lockPath(out), 'utf8'))!.pid).toBe(process.pid);
    expect(lines().map((x) => x.msg)).toEqual([`taking over the stale lock ${lockPath(out)} of osdcast PID ${dead}: that process is no longer running`]);
    expect(lines()[0]!.level).toBe(40);
    l.release();
  });

  it('a live PID from an earlier boot is stale (after a reboot the PID is someone else\'s)', () => {
    fs.writeFileSync(lockPath(out), JSON.stringify({ pid: process.pid, boot: 'another-boot' }));
    const { log, lines } = memLogger();
    OutLock.acquire(out, log, { pid: 1, boot: 'this-boot' }).release();
    expect(String(lines()[0]!.msg)).toMatch(/ran before this machine last booted$/);
    // boot times (where there is no boot id) count as the same boot within a minute
    fs.writeFileSync(lockPath(out), JSON.stringify({ pid: process.pid, boot: 1_700_000_000 }));
    expect(thrown(() => OutLock.acquire(out, log, { pid: 1, boot: 1_700_000_030 })).exitCode).toBe(Exit.LOCAL_IO);
    OutLock.acquire(out, log, { pid: 1, boot: 1_700_000_900 }).release();
  });

  it('a live PID whose start time differs from the one the lock recorded is a later process with the same PID: taken over', async () => {
    if (!canRun(process.platform === 'linux', 'process start times are read from /proc (Linux)')) return;
    const sleeper = spawn('sleep', ['60'], { stdio: 'ignore' });
    try {
      const pid = sleeper.pid!;
      while (processStart(pid) === undefined) await new Promise((r) => setTimeout(r, 10));
      const start = processStart(pid)!;
      const { log, lines } = memLogger();
      const own = OutLock.acquire(out, log);
      expect(parseLock(fs.readFileSync(lockPath(out), 'utf8'))!.pidStart).toBe(processStart(process.pid));
      own.release();
      fs.writeFileSync(lockPath(out), JSON.stringify({ pid, boot: bootIdentity(), pidStart: start }));
      expect(thrown(() => OutLock.acquire(out, log)).message).toContain(`is in use by osdcast PID ${pid}`);
      fs.writeFileSync(lockPath(out), JSON.stringify({ pid, boot: bootIdentity(), pidStart: start - 1 }));
      OutLock.acquire(out, log).release();
      expect(String(lines()[0]!.msg)).toBe(`taking over the stale lock ${lockPath(out)} of osdcast PID ${pid}: that PID now belongs to a process started later`);
    } finally {
      sleeper.kill('SIGKILL');
    }
  });

  it('an unreadable lock file is taken over', () => {
    fs.writeFileSync(lockPath(out), 'garbage');
    const { log, lines } = memLogger();
    OutLock.acquire(out, log).release();
    expect(String(lines()[0]!.msg)).toMatch(/of an unreadable owner: the file names no PID$/);
  });

  it('release leaves a lock that is no longer its own', () => {
    const l = OutLock.acquire(out, memLogger().log);
    fs.writeFileSync(lockPath(out), '999999\n');
    l.release();
    expect(fs.readFileSync(lockPath(out), 'utf8')).toBe('999999\n');
  });

  it('a folder where the lock cannot be created is exit 6 naming the lock', () => {
    const e = thrown(() => OutLock.acquire(path.join(dir, 'missing', 'x.wim'), memLogger().log));
    expect(e.exitCode).toBe(Exit.LOCAL_IO);
    expect(e.message).toMatch(/^cannot create the lock .*x\.wim\.osdcast\.lock: /);
  });

  describe('two osdcasts starting at once (another one\'s whole acquire between any two of this one\'s file operations)', () => {
    const A = 1001;
    const B = 1002;
    /** The real fs, running `between` once after the k-th call (k = 0: before the first). */
    function interleaved(k: number, between: () => void): typeof fs {
      let calls = 0;
      let ran = false;
      const once = () => {
        if (!ran) {
          ran = true;
          between();
        }
      };
      if (k === 0) once();
      return new Proxy(fs, {
        get(t, name) {
          const v = (t as unknown as Record<string | symbol, unknown>)[name];
          if (typeof v !== 'function') return v;
          return (...args: unknown[]) => {
            try {
              return (v as (...a: unknown[]) => unknown).apply(t, args);
            } finally {
              if (++calls === k) once();
            }
          };
        },
      });
    }

    type Outcome = { lock?: OutLock; error?: OsdcastError };
    const attempt = (f: () => OutLock): Outcome => {
      try {
        return { lock: f() };
      } catch (e) {
        return { error: e as OsdcastError };
      }
    };

    it.each([
      ['no lock there', () => {}],
      ['a dead owner\'s stale lock there', () => fs.writeFileSync(lockPath(out), JSON.stringify({ pid: 999_999, boot: 'b' }) + '\n')],
      ['an empty lock there (from a crash)', () => fs.writeFileSync(lockPath(out), '')],
    ])('%s: exactly one of the two holds the lock, the other is told it is in use', (_name, setup) => {
      for (let k = 0; k <= 12; k++) {
        setup();
        let a: Outcome | undefined;
        const runA = () => void (a ??= attempt(() => OutLock.acquire(out, memLogger().log, { pid: A, boot: 'b', held: new Set(), isAlive: (p) => p === B })));
        const b = attempt(() => OutLock.acquire(out, memLogger().log, { pid: B, boot: 'b', held: new Set(), isAlive: (p) => p === A, fs: interleaved(k, runA) }));
        if (!a) runA(); // B made fewer than k file operations: A comes after it
        a = a!;
        const where = `A's acquire after B's file operation ${k}`;
        const holders = [a, b].filter((x) => x.lock);
        expect(holders, where).toHaveLength(1);
        const loser = a.lock ? b : a;
        expect(loser.error?.exitCode, `${where}: ${loser.error?.message}`).toBe(Exit.LOCAL_IO);
        expect(loser.error!.message, where).toContain(`is in use by osdcast PID ${a.lock ? A : B}`);
        expect(parseLock(fs.readFileSync(lockPath(out), 'utf8'))!.pid, where).toBe(a.lock ? A : B);
        expect(fs.readdirSync(dir), where).toEqual([path.basename(lockPath(out))]);
        holders[0]!.lock!.release();
        expect(fs.readdirSync(dir), where).toEqual([]);
      }
    });
  });
});
