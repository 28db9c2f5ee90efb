/**
 * Logging: pino, synchronous, no transports (a CLI may be killed; transports break inside a single binary).
 * stdout is reserved for the --json report, so logs go to stderr or a file.
 *
 * Formats: 'json' (pino's JSON lines) or 'cmtrace' (agent/log/cmtrace.ts: the ConfigMgr log format CMTrace and
 * OneTrace read). Files rotate at `maxSize` bytes to `<name>.lo_` (one previous file kept), as ConfigMgr does:
 * WinPE's X: drive is a small RAM disk. Where logs go by default is decided by the CLI (resolveLogTarget).
 */
import fs from 'node:fs';
import pino, { Logger } from 'pino';
import { DEFAULTS } from '../defaults';
import { cmtraceDestination, defaultLogTarget, pinoLineToCmTrace, RotatingFile } from './cmtrace';

export type { Logger };
export type LogFormat = 'json' | 'cmtrace';

export interface LogOptions {
  level?: string;
  /** Log file; stderr when absent. */
  file?: string;
  format?: LogFormat;
  /** Rotate a log file before it would exceed this many bytes (0: never). Default 2 MiB. */
  maxSize?: number;
}

/** A synchronous JSON-lines file destination with the same rotation rule as the CMTrace destination. */
export class RotatingFileDestination {
  readonly writable = true;
  private readonly file: RotatingFile;
  private reported = false;

  constructor(
    readonly path: string,
    readonly maxSize: number = DEFAULTS.logMaxSizeBytes,
  ) {
    this.file = new RotatingFile(path, maxSize, undefined, (e) => {
      if (this.reported) return;
      this.reported = true;
      process.stderr.write(`osdcast: cannot write log ${this.path}: ${e.message}\n`);
    });
  }

  get rotations(): number {
    return this.file.rotations;
  }

  write(chunk: string | Uint8Array): boolean {
    this.file.write(typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : Buffer.from(chunk));
    return true;
  }

  end(): void {
    this.file.close();
  }
}

/** CMTrace records on stderr (no file: `--log-format cmtrace` outside a task sequence without --log-file). */
function cmtraceStderr(): { write(s: string): boolean } {
  let pending = '';
  return {
    write(chunk: string) {
      pending += chunk;
      let nl: number;
      while ((nl = pending.indexOf('\n')) >= 0) {
        const line = pending.slice(0, nl);
        pending = pending.slice(nl + 1);
        if (line.trim() !== '') fs.writeSync(2, pinoLineToCmTrace(line));
      }
      return true;
    },
  };
}

export function createLogger(o: LogOptions = {}): Logger {
  const format = o.format ?? 'json';
  const maxSize = o.maxSize ?? DEFAULTS.logMaxSizeBytes;
  const opts = { level: o.level ?? DEFAULTS.logLevel, base: { pid: process.pid }, timestamp: pino.stdTimeFunctions.isoTime };
  if (format === 'cmtrace') return pino(opts, o.file ? cmtraceDestination({ path: o.file, maxSize }) : cmtraceStderr());
  if (o.file) return pino(opts, new RotatingFileDestination(o.file, maxSize));
  return pino(opts, pino.destination({ dest: 2, sync: true }));
}

export interface LogTarget {
  format: LogFormat;
  /** undefined: stderr. */
  file?: string;
  /** Why this target (for the first log line). */
  why: string;
}

/**
 * Where logs go: inside a task sequence (`_SMSTSLogPath` set) `<_SMSTSLogPath>\osdcast.log` in CMTrace format,
 * beside smsts.log; elsewhere pino JSON on stderr. `--log-format` changes the format, `--log-file` the place.
 */
export function resolveLogTarget(flags: { logFormat?: LogFormat; logFile?: string }, env: Record<string, string | undefined> = process.env): LogTarget {
  const def = defaultLogTarget(env);
  const inTs = def.format === 'cmtrace';
  const format = flags.logFormat ?? def.format;
  const file = flags.logFile ?? (inTs ? def.path : undefined);
  const why = flags.logFile ? '--log-file' : inTs ? '_SMSTSLogPath is set (task sequence)' : 'default';
  return { format, file, why };
}

/** @internal A logger that drops everything (in-process tests). */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
