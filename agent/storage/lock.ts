/**
 * One osdcast per output: `<out>.osdcast.lock`, beside the resume state, names the osdcast that writes `<out>`.
 * It is taken before anything of `<out>` (partial file, state) is read or written, and removed at the end of the
 * run. A second osdcast for the same `<out>` finds it and stops (exit 6), touching nothing of the first one's.
 *
 * A lock whose owner is gone (SIGKILL, power cut, reboot) is stale and taken over, with a warning, so a restart
 * still resumes. Gone means: no process with that PID, or a PID from an earlier boot of this machine (the lock
 * records the boot: Linux's boot_id, elsewhere the boot time; after a reboot, above all in WinPE, the old PID may
 * belong to some other process by now). A live process with the recorded PID on the same boot is taken to be that
 * osdcast. This process's own PID in a lock it does not hold is an earlier process's (its locks are known here).
 * Two restarts that both find the same stale lock at the same instant could both take it over (between one's
 * check and its removal); a lock is a guard against an operator's second command, not a distributed mutex.
 *
 * File: one JSON line {"pid":n,"host":"…","boot":"…"|n,"started":"<ISO time>"}; a bare PID is read too.
 */
import nodeFs from 'node:fs';
import os from 'node:os';
import { OsdcastError, ioError } from '../errors';
import type { Logger } from '../log/log';
import { statePath } from './state';

export interface LockOwner {
  pid: number;
  host?: string;
  /** Linux boot_id, or the boot time in seconds since the epoch. */
  boot?: string | number;
  started?: string;
}

type LockFs = Pick<typeof nodeFs, 'openSync' | 'writeSync' | 'closeSync' | 'readFileSync' | 'unlinkSync'>;

export interface LockDeps {
  fs?: LockFs;
  pid?: number;
  /** Whether a process with this PID exists (default: signal 0). */
  isAlive?: (pid: number) => boolean;
  /** This boot's identity (default: bootIdentity()). */
  boot?: string | number;
  now?: () => number;
}

/** Boot times (seconds) this close are the same boot: they are computed from the clock and the uptime. */
const SAME_BOOT_SECONDS = 60;

export function lockPath(out: string): string {
  return `${statePath(out)}.lock`;
}

/** Linux: the kernel's boot_id; elsewhere the boot time, in whole seconds since the epoch. */
export function bootIdentity(): string | number {
  try {
    return nodeFs.readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
  } catch {
    return Math.round(Date.now() / 1000 - os.uptime());
  }
}

export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    // EPERM: it exists, it is someone else's.
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The lock file's owner; undefined when it cannot be read as one (then it is stale). */
export function parseLock(text: string): LockOwner | undefined {
  const t = text.trim();
  if (/^\d+$/.test(t)) return { pid: Number(t) };
  try {
    const o = JSON.parse(t) as Partial<LockOwner>;
    if (typeof o.pid === 'number' && Number.isInteger(o.pid) && o.pid > 0) return o as LockOwner;
  } catch {
    /* not JSON */
  }
  return undefined;
}

function sameBoot(a: string | number | undefined, b: string | number): boolean {
  if (a === undefined) return true;
  if (typeof a === 'number' && typeof b === 'number') return Math.abs(a - b) <= SAME_BOOT_SECONDS;
  return a === b;
}

/** Locks this process holds (two receives of one process for the same <out> must not both run either). */
const held = new Set<string>();

export class OutLock {
  private released = false;

  private constructor(
    readonly path: string,
    private readonly fs: LockFs,
    private readonly text: string,
  ) {}

  /**
   * Takes `<out>.osdcast.lock`, or throws OsdcastError 'io' (exit 6): "<out> is in use by osdcast PID n", or
   * the file system's reason when the lock cannot be created.
   */
  static acquire(out: string, log: Logger, deps: LockDeps = {}): OutLock {
    const fs = deps.fs ?? nodeFs;
    const pid = deps.pid ?? process.pid;
    const alive = deps.isAlive ?? processAlive;
    const boot = deps.boot ?? bootIdentity();
    const file = lockPath(out);
    if (held.has(file)) throw new OsdcastError('io', `${out} is in use by osdcast PID ${pid} (this process); lock ${file}`);
    const text = JSON.stringify({ pid, host: os.hostname(), boot, started: new Date((deps.now ?? Date.now)()).toISOString() } satisfies LockOwner) + '\n';
    for (let attempt = 0; attempt < 3; attempt++) {
      let fd: number;
      try {
        fd = fs.openSync(file, 'wx');
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw ioError(e, `cannot create the lock ${file}`);
        let held: string;
        try {
          held = fs.readFileSync(file, 'utf8');
        } catch (e2) {
          if ((e2 as NodeJS.ErrnoException).code === 'ENOENT') continue; // released meanwhile
          throw ioError(e2, `cannot read the lock ${file}`);
        }
        const owner = parseLock(held);
        if (owner && owner.pid !== pid && sameBoot(owner.boot, boot) && alive(owner.pid)) {
          throw new OsdcastError('io', `${out} is in use by osdcast PID ${owner.pid}${owner.started ? ` (since ${owner.started})` : ''}; lock ${file}`);
        }
        const who = owner ? `osdcast PID ${owner.pid}${owner.started ? ` (started ${owner.started})` : ''}` : 'an unreadable owner';
        const why = !owner ? 'the file names no PID' : owner.pid === pid ? 'that PID is now this process (an earlier one left the lock)' : !sameBoot(owner.boot, boot) ? 'it ran before this machine last booted' : 'that process is no longer running';
        log.warn(`taking over the stale lock ${file} of ${who}: ${why}`);
        try {
          fs.unlinkSync(file);
        } catch (e3) {
          if ((e3 as NodeJS.ErrnoException).code !== 'ENOENT') throw ioError(e3, `cannot remove the stale lock ${file}`);
        }
        continue;
      }
      try {
        const b = Buffer.from(text);
        let off = 0;
        while (off < b.length) off += fs.writeSync(fd, b, off, b.length - off);
      } catch (e) {
        throw ioError(e, `cannot write the lock ${file}`);
      } finally {
        fs.closeSync(fd);
      }
      held.add(file);
      return new OutLock(file, fs, text);
    }
    throw new OsdcastError('io', `${out} is in use by another osdcast (its lock ${file} keeps coming back)`);
  }

  /** Removes the lock if it is still this one's (idempotent; never throws: the run's own outcome stands). */
  release(): void {
    if (this.released) return;
    this.released = true;
    held.delete(this.path);
    try {
      if (this.fs.readFileSync(this.path, 'utf8') === this.text) this.fs.unlinkSync(this.path);
    } catch {
      /* gone already, or unreadable: nothing of ours to remove */
    }
  }
}
