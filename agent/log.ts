/**
 * Logging: pino JSON lines, synchronous (a CLI may be killed; transports break inside a single binary).
 * stdout is reserved for the --json report, so logs go to stderr or --log-file.
 */
import pino, { Logger } from 'pino';

export type { Logger };

export interface LogOptions {
  level?: string;
  file?: string;
}

export function createLogger(o: LogOptions = {}): Logger {
  const dest = o.file ? pino.destination({ dest: o.file, sync: true, mkdir: true }) : pino.destination({ dest: 2, sync: true });
  return pino({ level: o.level ?? 'info', base: { pid: process.pid }, timestamp: pino.stdTimeFunctions.isoTime }, dest);
}

/** A logger that drops everything (in-process tests). */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
