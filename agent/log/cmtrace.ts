/**
 * CMTrace ("CCM format") log destination for pino.
 *
 * pino serialises each record to one JSON line and calls `write(line)` on its destination. This module turns
 * such lines into the line format ConfigMgr components (smsts.log, ccmexec.log, ...) use, so that CMTrace,
 * OneTrace and Support Center colour and column them like the task sequence's own logs:
 *
 *   <![LOG[message]LOG]!><time="HH:MM:SS.mmm+BBB" date="MM-DD-YYYY" component="osdcast" context="" type="1" thread="N" file="">
 *
 * Facts and choices (see docs/packaging.md, "CMTrace log format"):
 * - The format is not formally specified by Microsoft; it is known from published examples.
 * - time is local time with milliseconds, followed by the time-zone *bias* in minutes: the value to ADD to local
 *   time to get UTC (the Win32 TIME_ZONE_INFORMATION sign, daylight saving included). That is exactly
 *   JavaScript's Date#getTimezoneOffset(). Microsoft's own example (peer cache docs, a June date in Redmond,
 *   PDT = UTC-7) reads time="14:24:33.329+420". UTC gives "+000", CET (UTC+1) gives "-060", IST "-330".
 *   We always write a sign and at least three digits.
 * - type: 1 = information, 2 = warning, 3 = error. pino trace/debug/info -> 1, warn -> 2, error/fatal -> 3.
 * - thread: the writing process's id (Node runs the logger on one thread; pino puts `pid` into every record).
 * - Lines end with CRLF. A new file starts with a UTF-8 byte-order mark so CMTrace/Notepad read non-ASCII text
 *   as UTF-8 (option `bom`).
 * - Writes are synchronous (fs.writeSync): a task-sequence step may be killed, and the log must already hold
 *   everything that was logged.
 * - Rotation like ConfigMgr's: when the next record would make the file exceed `maxSize` (default 2 MiB), the file
 *   is renamed to the same name with the last character of the extension replaced by "_" (osdcast.log ->
 *   osdcast.lo_, replacing an older .lo_), and a new file is started. One previous file is kept.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { DEFAULTS } from '../defaults';
import { envValue } from '../util/env';
import { UTF8_BOM } from '../util/text';

export type CmTraceType = 1 | 2 | 3;

export const DEFAULT_COMPONENT = 'osdcast';
export const LOG_FILE_NAME = 'osdcast.log';

/** The pino level (number or label) of one record mapped to the CMTrace type column. */
export function cmTraceType(level: unknown): CmTraceType {
  if (typeof level === 'number') {
    if (level >= 50) return 3; // error 50, fatal 60
    if (level >= 40) return 2; // warn
    return 1; // trace 10, debug 20, info 30
  }
  if (typeof level === 'string') {
    const l = level.toLowerCase();
    if (l === 'error' || l === 'fatal') return 3;
    if (l === 'warn' || l === 'warning') return 2;
  }
  return 1;
}

/** The bias in minutes as CMTrace expects it: sign and at least three digits ("+000", "-060", "+420"). */
export function formatBias(offsetMinutes: number): string {
  const m = Math.trunc(offsetMinutes);
  const sign = m < 0 ? '-' : '+';
  return sign + String(Math.abs(m)).padStart(3, '0');
}

const pad = (n: number, w = 2): string => String(n).padStart(w, '0');

export interface CmTraceEntry {
  message: string;
  time: Date;
  type: CmTraceType;
  thread: number;
  component?: string;
  context?: string;
  file?: string;
}

/** Attribute values must not contain a double quote, or the closing ">" of the line can't be found. */
function attr(value: string): string {
  return value.replace(/"/g, "'").replace(/[\r\n]+/g, ' ');
}

/**
 * Makes a message safe to put between "<![LOG[" and "]LOG]!>": the terminator inside a message would end the
 * record early, so "]LOG]!>" becomes "]LOG]!&gt;". Line breaks become CRLF (CMTrace shows multi-line messages).
 */
export function escapeMessage(message: string): string {
  return message.replace(/\]LOG\]!>/g, ']LOG]!&gt;').replace(/\r?\n/g, '\r\n');
}

/**
 * One CMTrace record, terminated by CRLF. `offsetMinutes` defaults to the bias in force at `entry.time`
 * (Date#getTimezoneOffset, which follows TZ and daylight saving).
 */
export function formatCmTraceLine(entry: CmTraceEntry, offsetMinutes = entry.time.getTimezoneOffset()): string {
  const t = entry.time;
  const time = `${pad(t.getHours())}:${pad(t.getMinutes())}:${pad(t.getSeconds())}.${pad(t.getMilliseconds(), 3)}${formatBias(offsetMinutes)}`;
  const date = `${pad(t.getMonth() + 1)}-${pad(t.getDate())}-${pad(t.getFullYear(), 4)}`;
  return (
    `<![LOG[${escapeMessage(entry.message)}]LOG]!>` +
    `<time="${time}" date="${date}" component="${attr(entry.component ?? DEFAULT_COMPONENT)}" ` +
    `context="${attr(entry.context ?? '')}" type="${entry.type}" thread="${entry.thread}" file="${attr(entry.file ?? '')}">\r\n`
  );
}

/** Keys pino adds to every record; everything else is context the caller attached and goes into the message. */
const PINO_KEYS = new Set(['level', 'time', 'pid', 'hostname', 'msg', 'v', 'name']);

function renderValue(v: unknown): string {
  if (typeof v === 'string') return /^[^\s"=]+$/.test(v) ? v : JSON.stringify(v);
  if (v === null || typeof v === 'number' || typeof v === 'boolean') return String(v);
  if (v === undefined) return 'undefined';
  try {
    return JSON.stringify(v);
  } catch {
    return String(v);
  }
}

interface SerializedError {
  type?: unknown;
  message?: unknown;
  stack?: unknown;
  code?: unknown;
}

/**
 * The message column for one pino record: `msg`, then the record's own fields as ` key=value`, then for an
 * `err` field its type, message and code, with the stack on the following lines.
 */
export function renderMessage(rec: Record<string, unknown>): string {
  const parts: string[] = [];
  if (typeof rec.msg === 'string' && rec.msg !== '') parts.push(rec.msg);
  let stack: string | undefined;
  for (const [k, v] of Object.entries(rec)) {
    if (PINO_KEYS.has(k)) continue;
    if ((k === 'err' || k === 'error') && v && typeof v === 'object') {
      const e = v as SerializedError;
      const head = [e.type, e.message].filter((x) => typeof x === 'string' && x !== '').join(': ');
      parts.push(`${k}=${JSON.stringify(head || renderValue(v))}${typeof e.code === 'string' ? ` code=${e.code}` : ''}`);
      if (typeof e.stack === 'string') stack = e.stack;
      continue;
    }
    parts.push(`${k}=${renderValue(v)}`);
  }
  let message = parts.join(' ');
  if (stack) message += `\n${stack}`;
  return message;
}

function recordTime(t: unknown): Date {
  if (typeof t === 'number' && Number.isFinite(t)) return new Date(t);
  if (typeof t === 'string') {
    const ms = Date.parse(t);
    if (!Number.isNaN(ms)) return new Date(ms);
  }
  return new Date();
}

export interface FormatOptions {
  component?: string;
  /** CMTrace "thread" when the record has no pid. */
  thread?: number;
  /** Fixed bias for every record (tests); by default the bias in force at each record's time. */
  offsetMinutes?: number;
}

/** Converts one pino JSON line into one CMTrace record. A line that isn't a JSON object is logged as text (type 1). */
export function pinoLineToCmTrace(line: string, opts: FormatOptions = {}): string {
  let rec: Record<string, unknown> | undefined;
  try {
    const parsed: unknown = JSON.parse(line);
    if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) rec = parsed as Record<string, unknown>;
  } catch {
    rec = undefined;
  }
  const thread = opts.thread ?? process.pid;
  const entry: CmTraceEntry = rec
    ? {
        message: renderMessage(rec),
        time: recordTime(rec.time),
        type: cmTraceType(rec.level),
        thread: typeof rec.pid === 'number' ? rec.pid : thread,
        component: opts.component,
      }
    : { message: line, time: new Date(), type: 1, thread, component: opts.component };
  return formatCmTraceLine(entry, opts.offsetMinutes);
}

/** osdcast.log -> osdcast.lo_ (ConfigMgr's naming); a name without extension gets ".lo_" appended. */
export function rotatedPath(file: string): string {
  const ext = path.extname(file);
  return ext.length > 1 ? file.slice(0, -1) + '_' : file + '.lo_';
}

/**
 * A log file written synchronously, renamed to `<name>.lo_` (one previous file kept, as ConfigMgr does) before a
 * write would make it larger than `maxSize` (0: never). Shared by the CMTrace and the JSON log destinations.
 * Errors never throw: they are counted and passed to `onError`, and the next write reopens the file.
 */
export class RotatingFile {
  rotations = 0;
  failedWrites = 0;
  private fd: number | undefined;
  private size = 0;

  constructor(
    readonly path: string,
    readonly maxSize: number,
    /** Written at the start of every new, empty file (e.g. a UTF-8 BOM). */
    private readonly header: Buffer | undefined,
    private readonly onError: (err: Error) => void,
  ) {}

  write(data: Buffer): void {
    try {
      if (this.fd === undefined) this.open();
      if (this.maxSize > 0 && this.size > 0 && this.size + data.length > this.maxSize) this.rotate();
      let off = 0;
      while (off < data.length) off += fs.writeSync(this.fd!, data, off, data.length - off);
      this.size += data.length;
    } catch (e) {
      this.failedWrites++;
      this.close();
      this.onError(e as Error);
    }
  }

  close(): void {
    if (this.fd !== undefined) {
      try {
        fs.closeSync(this.fd);
      } catch {
        /* already gone */
      }
      this.fd = undefined;
    }
  }

  private open(): void {
    fs.mkdirSync(path.dirname(this.path), { recursive: true });
    const fd = fs.openSync(this.path, 'a');
    this.fd = fd;
    this.size = fs.fstatSync(fd).size;
    if (this.size === 0 && this.header) {
      fs.writeSync(fd, this.header);
      this.size = this.header.length;
    }
  }

  private rotate(): void {
    this.close();
    // renameSync replaces an existing target on Windows too (libuv uses MOVEFILE_REPLACE_EXISTING).
    fs.renameSync(this.path, rotatedPath(this.path));
    this.rotations++;
    this.open();
  }
}

export interface CmTraceDestinationOptions extends Omit<FormatOptions, 'thread'> {
  /** Log file path; the parent folder is created when missing. */
  path: string;
  /** Rotate before a record would make the file larger than this many bytes; 0 disables rotation. Default DEFAULTS.logMaxSizeBytes. */
  maxSize?: number;
  /** Start a new (empty) file with a UTF-8 BOM. Default true. */
  bom?: boolean;
  thread?: number;
  /**
   * Called when the file can't be opened, written or rotated. Logging must never crash a deployment, so by default
   * the first failure is reported once on stderr and later records are retried (the file is reopened).
   */
  onError?: (err: Error) => void;
}

/**
 * A synchronous pino destination writing CMTrace records. Pass it as pino's second argument or as a
 * pino.multistream entry: `pino({ level: 'debug' }, cmtraceDestination({ path }))`.
 */
export class CmTraceDestination {
  readonly path: string;
  readonly rotatedPath: string;
  readonly maxSize: number;
  /** Lets `pino(destination)` (one argument) recognise this object as a stream, as it does for SonicBoom. */
  readonly writable = true;
  private readonly file: RotatingFile;
  private pending = '';
  private closed = false;
  private reportedError = false;

  constructor(private readonly opts: CmTraceDestinationOptions) {
    this.path = opts.path;
    this.rotatedPath = rotatedPath(opts.path);
    this.maxSize = opts.maxSize ?? DEFAULTS.logMaxSizeBytes;
    if (!Number.isFinite(this.maxSize) || this.maxSize < 0) throw new RangeError(`maxSize must be >= 0, got ${opts.maxSize}`);
    this.file = new RotatingFile(this.path, this.maxSize, opts.bom === false ? undefined : UTF8_BOM, (e) => this.fail(e));
  }

  /** Number of records that could not be written. */
  get failedWrites(): number {
    return this.file.failedWrites;
  }
  /** Number of rotations done by this destination. */
  get rotations(): number {
    return this.file.rotations;
  }

  /** pino calls this with one or more complete JSON lines (each ending in "\n"). */
  write(chunk: string | Uint8Array): boolean {
    if (this.closed) return false;
    this.pending += typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8');
    let nl: number;
    while ((nl = this.pending.indexOf('\n')) >= 0) {
      const line = this.pending.slice(0, nl).replace(/\r$/, '');
      this.pending = this.pending.slice(nl + 1);
      if (line.trim() !== '') this.writeRecord(pinoLineToCmTrace(line, this.opts));
    }
    return true;
  }

  /** Writes a text that arrived without a final newline; present so pino.final / flush callers find it. */
  flushSync(): void {
    if (this.pending.trim() !== '') {
      const rest = this.pending;
      this.pending = '';
      this.writeRecord(pinoLineToCmTrace(rest, this.opts));
    }
  }

  end(): void {
    this.flushSync();
    this.file.close();
    this.closed = true;
  }

  private writeRecord(record: string): void {
    this.file.write(Buffer.from(record, 'utf8'));
  }

  private fail(err: Error): void {
    if (this.opts.onError) {
      this.opts.onError(err);
      return;
    }
    if (!this.reportedError) {
      this.reportedError = true;
      process.stderr.write(`osdcast: cannot write log ${this.path}: ${err.message}\n`);
    }
  }
}

export function cmtraceDestination(opts: CmTraceDestinationOptions): CmTraceDestination {
  return new CmTraceDestination(opts);
}

export type LogTarget = { format: 'cmtrace'; path: string } | { format: 'json' };

/**
 * Where logs go by default: inside a task sequence (`_SMSTSLogPath` set, e.g. X:\Windows\Temp\SMSTSLog in WinPE
 * or C:\Windows\CCM\Logs\SMSTSLog in the full OS) a CMTrace file `osdcast.log` beside smsts.log, so that it is
 * collected with the task-sequence logs; otherwise pino's JSON lines on stderr (stdout carries only the --json
 * report).
 */
export function defaultLogTarget(env: Record<string, string | undefined> = process.env): LogTarget {
  const dir = envValue(env, '_SMSTSLogPath')?.trim();
  if (!dir) return { format: 'json' };
  // A Windows path ("X:\...", "\\server\share") is joined with "\" even when this code runs elsewhere (tests).
  const win = /^[A-Za-z]:|\\/.test(dir);
  return { format: 'cmtrace', path: (win ? path.win32 : path).join(dir, LOG_FILE_NAME) };
}
