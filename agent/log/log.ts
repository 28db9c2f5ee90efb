/**
 * Logging: pino, synchronous, no transports (a CLI may be killed; transports break inside a single binary).
 * stdout is reserved for the --json report, so logs go to stderr or a file.
 *
 * Formats: 'json' (pino's JSON lines), 'cmtrace' (agent/log/cmtrace.ts: the ConfigMgr log format CMTrace and
 * OneTrace read) or 'text' (time, level, message, then the record's other fields as key=value: agent/log/terminal.ts; the default on a terminal). On a
 * terminal every line goes through the Terminal, which keeps the progress line below the log lines. Files rotate at `maxSize` bytes to `<name>.lo_` (one previous file kept), as ConfigMgr does:
 * WinPE's X: drive is a small RAM disk. Where logs go by default is decided by the CLI (resolveLogTarget).
 */
import fs from 'node:fs';
import pino, { Logger } from 'pino';
import { DEFAULTS } from '../defaults';
import { cmtraceDestination, defaultLogTarget, pinoLineToCmTrace, RotatingFile } from './cmtrace';
import { textLine, type Terminal } from './terminal';

export type { Logger };
export type LogFormat = 'json' | 'cmtrace' | 'text';

export interface LogOptions {
  level?: string;
  /** Log file; stderr when absent. */
  file?: string;
  format?: LogFormat;
  /** Rotate a log file before it would exceed this many bytes (0: never). Default 2 MiB. */
  maxSize?: number;
  /** stderr is a terminal: lines to stderr go through it (above the progress line). */
  terminal?: Pick<Terminal, 'line'>;
}

/** A synchronous JSON-lines file destination with the same rotation rule as the CMTrace destination. */
export class RotatingFileDestination {
  readonly writable = true;
  private readonly file: RotatingFile;
  private reported = false;

  constructor(
    readonly path: string,
    readonly maxSize: number = DEFAULTS.logMaxSizeBytes,
    /** Each JSON line as written instead (the text format); as it is when absent. */
    private readonly map?: (jsonLine: string) => string,
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
    const map = this.map;
    if (map) {
      const text = typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8');
      const out = text.split('\n').filter((l) => l.trim() !== '').map((l) => `${map(l)}\n`).join('');
      this.file.write(Buffer.from(out, 'utf8'));
      return true;
    }
    this.file.write(typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : Buffer.from(chunk));
    return true;
  }

  end(): void {
    this.file.close();
  }
}

/** Lines to stderr, each JSON line as `map` makes it: straight to fd 2, or through the terminal. */
function stderrLines(map: (jsonLine: string) => string, terminal?: Pick<Terminal, 'line'>): { write(s: string): boolean } {
  let pending = '';
  return {
    write(chunk: string) {
      pending += chunk;
      let nl: number;
      while ((nl = pending.indexOf('\n')) >= 0) {
        const line = pending.slice(0, nl);
        pending = pending.slice(nl + 1);
        if (line.trim() === '') continue;
        const out = map(line);
        if (terminal) terminal.line(out);
        else fs.writeSync(2, out.endsWith('\n') ? out : `${out}\n`);
      }
      return true;
    },
  };
}

export function createLogger(o: LogOptions = {}): Logger {
  const format = o.format ?? 'json';
  const maxSize = o.maxSize ?? DEFAULTS.logMaxSizeBytes;
  const opts = { level: o.level ?? DEFAULTS.logLevel, base: { pid: process.pid }, timestamp: pino.stdTimeFunctions.isoTime };
  if (format === 'cmtrace') return pino(opts, o.file ? cmtraceDestination({ path: o.file, maxSize }) : stderrLines((l) => pinoLineToCmTrace(l), o.terminal));
  if (format === 'text') return pino(opts, o.file ? new RotatingFileDestination(o.file, maxSize, textLine) : stderrLines(textLine, o.terminal));
  if (o.file) return pino(opts, new RotatingFileDestination(o.file, maxSize));
  if (o.terminal) return pino(opts, stderrLines((l) => l, o.terminal));
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
 * beside smsts.log; elsewhere stderr: plain text lines when stderr is a terminal (`tty`), else pino JSON.
 * `--log-format` changes the format, `--log-file` the place (a file's default format is never text).
 */
export function resolveLogTarget(flags: { logFormat?: LogFormat; logFile?: string }, env: Record<string, string | undefined> = process.env, tty = false): LogTarget {
  const def = defaultLogTarget(env);
  const inTs = def.format === 'cmtrace';
  const file = flags.logFile ?? (inTs ? def.path : undefined);
  const onTerminal = tty && !file;
  const format = flags.logFormat ?? (onTerminal ? 'text' : def.format);
  const why = flags.logFile ? '--log-file' : inTs ? '_SMSTSLogPath is set (task sequence)' : onTerminal ? 'stderr is a terminal' : 'default';
  return { format, file, why };
}

/** @internal A logger that drops everything (in-process tests). */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
