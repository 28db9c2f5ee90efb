/**
 * One osdcast per output: `<out>.osdcast.lock`, beside the resume state, names the osdcast that writes `<out>`.
 * It is taken before anything of `<out>` (partial file, state) is read or written, and removed at the end of the
 * run. A second osdcast for the same `<out>` finds it and stops (exit 6), touching nothing of the first one's.
 *
 * A lock whose owner is gone (SIGKILL, power cut, reboot) is stale and taken over, with a warning, so a restart
 * still resumes. Gone means: no process with that PID, or a PID from an earlier boot of this machine (the lock
 * records the boot: Linux's boot_id, elsewhere the boot time; after a reboot, above all in WinPE, the old PID may
 * belong to some other process by now). A live process with the recorded PID on the same boot is taken to be that
 * osdcast, unless the lock records the process's start time (Linux) and that PID's start time now differs (the PID
 * was given to a later process). This process's own PID in a lock it does not hold is an earlier process's (its locks are known here).
 *
 * Races between two osdcasts starting at once: the lock is written to `<lock>.<pid>.tmp` and hard-linked into
 * place, so it appears complete or not at all (never an empty file another one would read as stale), and the link
 * fails if a lock is there. A stale lock is taken over by renaming it to `<lock>.<pid>.stale` and checking that the
 * renamed file is the stale one that was read: if another osdcast took it over first, what was renamed is that
 * one's new lock, which goes back into place (and is then found held). Left open: a third osdcast linking its lock
 * in the instant between that rename and the putting back (the second one's lock is then lost, not overwritten).
 *
 * File: one JSON line {"pid":n,"host":"…","boot":"…"|n,"started":"<ISO time>","pidStart":n}; a bare PID is read too.
 * `host` is recorded, not compared: WinPE names itself anew at each boot (MININT-…), so a lock of an earlier boot of
 * the same machine would look like another machine's.
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
  /** When the process started (Linux: /proc/<pid>/stat starttime, clock ticks since boot), where it can be read. */
  pidStart?: number;
}

type LockFs = Pick<typeof nodeFs, 'writeFileSync' | 'linkSync' | 'renameSync' | 'readFileSync' | 'unlinkSync'>;

export interface LockDeps {
  fs?: LockFs;
  pid?: number;
  /** Whether a process with this PID exists (default: signal 0). */
  isAlive?: (pid: number) => boolean;
  /** This boot's identity (default: bootIdentity()). */
  boot?: string | number;
  now?: () => number;
  /** When the process with this PID started, or undefined where that cannot be read (default: processStart). */
  startOf?: (pid: number) => number | undefined;
  /** The locks this process holds (default: the module's own set; a test gives each simulated process its own). */
  held?: Set<string>;
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

/** Linux: the process's start time in clock ticks since boot (/proc/<pid>/stat field 22); elsewhere undefined. */
export function processStart(pid: number): number | undefined {
  try {
    const stat = nodeFs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // after "pid (comm)" (comm may hold spaces and parentheses): field 3 onwards
    const n = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]);
    return Number.isSafeInteger(n) ? n : undefined;
  } catch {
    return undefined;
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

/** The lock file's text; undefined when it is gone. */
function readLock(fs: LockFs, file: string): string | undefined {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw ioError(e, `cannot read the lock ${file}`);
  }
}

function unlinkQuiet(fs: LockFs, file: string): void {
  try {
    fs.unlinkSync(file);
  } catch {
    /* gone already */
  }
}

function inUse(out: string, file: string, owner: LockOwner): OsdcastError {
  return new OsdcastError('io', `${out} is in use by osdcast PID ${owner.pid}${owner.started ? ` (since ${owner.started})` : ''}; lock ${file}`);
}

/** Locks this process holds (two receives of one process for the same <out> must not both run either). */
const heldHere = new Set<string>();

export class OutLock {
  private released = false;

  private constructor(
    readonly path: string,
    private readonly fs: LockFs,
    private readonly text: string,
    private readonly held: Set<string>,
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
    const startOf = deps.startOf ?? processStart;
    // The PID is alive and is still the process that wrote the lock (not a later one given the same PID).
    const sameProcess = (o: LockOwner) => o.pidStart === undefined || startOf(o.pid) === undefined || startOf(o.pid) === o.pidStart;
    const file = lockPath(out);
    const held = deps.held ?? heldHere;
    if (held.has(file)) throw new OsdcastError('io', `${out} is in use by osdcast PID ${pid} (this process); lock ${file}`);
    const pidStart = startOf(pid);
    const text = JSON.stringify({ pid, host: os.hostname(), boot, started: new Date((deps.now ?? Date.now)()).toISOString(), ...(pidStart !== undefined ? { pidStart } : {}) } satisfies LockOwner) + '\n';
    // The lock appears whole or not at all: written to a file of this process, then hard-linked into place (link
    // fails with EEXIST when a lock is there; NTFS and every Unix file system have hard links).
    const tmp = `${file}.${pid}.tmp`;
    try {
      fs.writeFileSync(tmp, text);
    } catch (e) {
      throw ioError(e, `cannot create the lock ${file}`);
    }
    try {
      for (let attempt = 0; attempt < 3; attempt++) {
        try {
          fs.linkSync(tmp, file);
          held.add(file);
          return new OutLock(file, fs, text, held);
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw ioError(e, `cannot create the lock ${file}`);
        }
        const seen = readLock(fs, file);
        if (seen === undefined) continue; // released meanwhile
        const owner = parseLock(seen);
        if (owner && owner.pid !== pid && sameBoot(owner.boot, boot) && alive(owner.pid) && sameProcess(owner)) throw inUse(out, file, owner);
        // Stale. Taken over by moving it aside under a name of this process and checking that what was moved is
        // what was judged stale: another osdcast may have taken it over and put its own lock there meanwhile.
        const aside = `${file}.${pid}.stale`;
        try {
          fs.renameSync(file, aside);
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code === 'ENOENT') continue; // someone else moved it first
          throw ioError(e, `cannot remove the stale lock ${file}`);
        }
        const moved = readLock(fs, aside);
        if (moved !== seen) {
          // Not the stale lock any more, but a new owner's: back into place (unless yet another lock is there).
          try {
            fs.linkSync(aside, file);
          } catch {
            /* EEXIST: a third lock took the place; the next round reads it */
          }
          unlinkQuiet(fs, aside);
          continue;
        }
        unlinkQuiet(fs, aside);
        const who = owner ? `osdcast PID ${owner.pid}${owner.started ? ` (started ${owner.started})` : ''}` : 'an unreadable owner';
        const why = !owner ? 'the file names no PID' : owner.pid === pid ? 'that PID is now this process (an earlier one left the lock)' : !sameBoot(owner.boot, boot) ? 'it ran before this machine last booted' : alive(owner.pid) ? 'that PID now belongs to a process started later' : 'that process is no longer running';
        log.warn(`taking over the stale lock ${file} of ${who}: ${why}`);
      }
    } finally {
      unlinkQuiet(fs, tmp);
    }
    throw new OsdcastError('io', `${out} is in use by another osdcast (its lock ${file} keeps coming back)`);
  }

  /** Removes the lock if it is still this one's (idempotent; never throws: the run's own outcome stands). */
  release(): void {
    if (this.released) return;
    this.released = true;
    this.held.delete(this.path);
    try {
      if (this.fs.readFileSync(this.path, 'utf8') === this.text) this.fs.unlinkSync(this.path);
    } catch {
      /* gone already, or unreadable: nothing of ours to remove */
    }
  }
}
