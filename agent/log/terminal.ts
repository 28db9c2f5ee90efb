/**
 * What a person at a terminal sees (stderr is a TTY): log lines in plain text (time, level, message, then the
 * record's other fields as key=value; control characters escaped), and below
 * them one progress line redrawn in place (carriage return, erase line). A log line first erases the progress
 * line, prints itself, then redraws the progress line after it, so the two never overwrite each other.
 * Files and pipes never come here: they keep their formats (json, cmtrace) and get no progress line.
 */
import fs from 'node:fs';
import type { Progress } from '../receive/receive';
import { MiB } from '../defaults';

/** Erase the whole current line, back to column 0 (ECMA-48 EL 2). */
const CLEAR = '\r\x1b[2K';

const LEVELS: Readonly<Record<number, string>> = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO', 40: 'WARN', 50: 'ERROR', 60: 'FATAL' };

const pad2 = (n: number) => String(n).padStart(2, '0');

/** Fields a text line never shows: pino's own, and the run's report (that is --json's and the log files'). */
const HIDDEN = new Set(['level', 'time', 'pid', 'hostname', 'msg', 'v', 'report']);

const NAMED: Readonly<Record<string, string>> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' };

/**
 * Control characters made visible (C0, DEL and C1: \n, \r, \t, else \xHH), so that nothing a log line carries (a
 * name from the DP, a file name, an error text) can move the cursor, erase the progress line or send an escape
 * sequence to the terminal; a backslash stays as it is.
 */
function visible(s: string): string {
  // eslint-disable-next-line no-control-regex
  return s.replace(/[\x00-\x1f\x7f-\x9f]/g, (c) => NAMED[c] ?? `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

/** key=value for the scalars of a record's fields (nested ones as a.b=value), skipping values the message already says. */
function fieldsText(rec: Record<string, unknown>, msg: string): string[] {
  const out: string[] = [];
  const said = (v: string) => new RegExp(`(^|[^\\w.])${v.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}($|[^\\w.])`).test(msg);
  const walk = (prefix: string, v: unknown, depth: number) => {
    if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') {
      if (!said(String(v))) out.push(`${visible(prefix)}=${visible(String(v))}`);
    } else if (v && typeof v === 'object' && !Array.isArray(v) && depth < 2) {
      for (const [k, x] of Object.entries(v)) if (k !== 'stack') walk(`${prefix}.${k}`, x, depth + 1);
    }
  };
  for (const [k, v] of Object.entries(rec)) if (!HIDDEN.has(k)) walk(k, v, 0);
  return out;
}

/**
 * One pino JSON line as a text line: local time, level, message, then the record's other scalar fields as
 * key=value (never JSON; values the message already says are not repeated; the run's report is left to --json).
 */
export function textLine(json: string): string {
  let rec: Record<string, unknown>;
  try {
    rec = JSON.parse(json) as Record<string, unknown>;
  } catch {
    return visible(json.replace(/\n$/, ''));
  }
  const t = typeof rec.time === 'string' || typeof rec.time === 'number' ? new Date(rec.time) : new Date();
  const time = `${pad2(t.getHours())}:${pad2(t.getMinutes())}:${pad2(t.getSeconds())}`;
  const level = (LEVELS[rec.level as number] ?? String(rec.level)).padEnd(5);
  const msg = typeof rec.msg === 'string' ? rec.msg : '';
  return [time, level, visible(msg), ...fieldsText(rec, msg)].filter((p) => p !== '').join(' ');
}

export interface Screen {
  write(s: string): void;
  /** Width in columns (undefined: unknown, nothing is cut). */
  columns?: number;
}

/** stderr as a screen: synchronous writes (as the logger's), its width read at each draw. */
export function stderrScreen(): Screen {
  return {
    write: (s) => void fs.writeSync(2, s),
    get columns() {
      return process.stderr.columns;
    },
  };
}

export class Terminal {
  private status = '';

  constructor(private readonly screen: Screen = stderrScreen()) {}

  /** A log line (or record) above the progress line; the progress line is redrawn after it. */
  line(s: string): void {
    const text = s.endsWith('\n') ? s : `${s}\n`;
    this.screen.write(this.status ? `${CLEAR}${text}${this.status}` : text);
  }

  /** Draws (or redraws) the progress line, cut to the screen's width so it never wraps. */
  progress(s: string): void {
    const cols = this.screen.columns;
    this.status = cols && cols > 1 && s.length > cols - 1 ? s.slice(0, cols - 1) : s;
    this.screen.write(`${CLEAR}${this.status}`);
  }

  /** The progress line stays as it was last drawn and what follows starts below it. */
  done(): void {
    if (!this.status) return;
    this.status = '';
    this.screen.write('\n');
  }
}

const mib = (b: number) => (b / MiB).toFixed(b < 10 * MiB ? 1 : 0);

function clock(seconds: number): string {
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  return h > 0 ? `${h}:${pad2(m)}:${pad2(s % 60)}` : `${m}:${pad2(s % 60)}`;
}

/** How far back the rate (and so the ETA) looks. */
const RATE_WINDOW_S = 5;

/**
 * The progress line's text from successive Progress values: percent, MiB done / total, the recent rate (MB/s, as
 * --min-rate), the ETA at that rate, and how much came by multicast and by HTTP (this run; resumed bytes count in
 * "done" only).
 */
export class ProgressMeter {
  private samples: [number, number][] = [];

  line(p: Progress): string {
    const pct = p.totalBlocks > 0 ? (100 * p.blocks) / p.totalBlocks : 100;
    const got = p.multicastBytes + p.httpBytes;
    // A new receive (acp: the next file) starts its clock and counts again.
    const last = this.samples[this.samples.length - 1];
    if (last && (p.seconds < last[0] || got < last[1])) this.samples = [];
    this.samples.push([p.seconds, got]);
    while (this.samples.length > 2 && p.seconds - this.samples[1]![0] >= RATE_WINDOW_S) this.samples.shift();
    const [t0, b0] = this.samples[0]!;
    const rate = p.seconds > t0 ? (got - b0) / (p.seconds - t0) : 0;
    const left = Math.max(0, p.contentSize - p.bytes);
    const eta = p.sizeUnknown ? '--:--' : left === 0 ? clock(0) : rate > 0 ? clock(left / rate) : '--:--';
    // udpcast announces no size: no percentage, the total is "?" until the end is seen.
    const share = p.sizeUnknown ? '    ?%' : `${pct.toFixed(1).padStart(5)}%`;
    return `${share}  ${mib(p.bytes)}/${p.sizeUnknown ? '?' : mib(p.contentSize)} MiB  ${(rate / 1e6).toFixed(1)} MB/s  ETA ${eta}  multicast ${mib(p.multicastBytes)} MiB  HTTP ${mib(p.httpBytes)} MiB`;
  }
}
