import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import pino from 'pino';
import {
  CmTraceDestination,
  cmTraceType,
  cmtraceDestination,
  defaultLogTarget,
  formatBias,
  formatCmTraceLine,
  pinoLineToCmTrace,
  rotatedPath,
} from '../../../agent/log/cmtrace';

/** Independent parser, written from the published line shape (messages may span lines). */
const RECORD =
  /<!\[LOG\[([\s\S]*?)\]LOG\]!><time="(\d{2}):(\d{2}):(\d{2})\.(\d{3})([+-]\d{3,})" date="(\d{2})-(\d{2})-(\d{4})" component="([^"]*)" context="([^"]*)" type="([123])" thread="(\d+)" file="([^"]*)">\r\n/g;

interface Rec {
  msg: string;
  h: number;
  m: number;
  s: number;
  ms: number;
  bias: number;
  month: number;
  day: number;
  year: number;
  component: string;
  context: string;
  type: number;
  thread: number;
  file: string;
}

function parse(text: string): Rec[] {
  const out: Rec[] = [];
  let consumed = 0;
  for (const m of text.matchAll(RECORD)) {
    expect(m.index, 'records must be back to back, nothing between them').toBe(consumed);
    consumed = m.index! + m[0].length;
    out.push({
      msg: m[1]!,
      h: +m[2]!,
      m: +m[3]!,
      s: +m[4]!,
      ms: +m[5]!,
      bias: +m[6]!,
      month: +m[7]!,
      day: +m[8]!,
      year: +m[9]!,
      component: m[10]!,
      context: m[11]!,
      type: +m[12]!,
      thread: +m[13]!,
      file: m[14]!,
    });
  }
  expect(consumed, 'whole file consumed by the record regex').toBe(text.length);
  return out;
}

function readLog(file: string): string {
  const buf = fs.readFileSync(file);
  expect([...buf.subarray(0, 3)], 'UTF-8 BOM at the start of a new file').toEqual([0xef, 0xbb, 0xbf]);
  return buf.subarray(3).toString('utf8');
}

let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'osdcast-cmtrace-'));
});
afterEach(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('cmtrace formatting', () => {
  it('formats the bias with sign and three digits, as ConfigMgr writes it', () => {
    expect(formatBias(0)).toBe('+000');
    expect(formatBias(-60)).toBe('-060');
    expect(formatBias(60)).toBe('+060');
    expect(formatBias(420)).toBe('+420');
    expect(formatBias(-330)).toBe('-330');
    expect(formatBias(-765)).toBe('-765');
  });

  it('maps pino levels to CMTrace types', () => {
    expect([10, 20, 30, 40, 50, 60].map(cmTraceType)).toEqual([1, 1, 1, 2, 3, 3]);
    expect(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'other'].map(cmTraceType)).toEqual([1, 1, 1, 2, 3, 3, 1]);
  });

  it('uses the time-zone bias in force at the record time (Microsoft example: PDT is +420)', () => {
    const saved = process.env.TZ;
    try {
      process.env.TZ = 'America/Los_Angeles';
      // 21:24:33.329 UTC on 26 June 2015 is 14:24:33.329 PDT: the line of the ConfigMgr peer-cache docs.
      const summer = pinoLineToCmTrace(JSON.stringify({ level: 30, time: Date.UTC(2015, 5, 26, 21, 24, 33, 329), pid: 1256, msg: 'x' }));
      expect(summer).toContain('<time="14:24:33.329+420" date="06-26-2015"');
      const winter = pinoLineToCmTrace(JSON.stringify({ level: 30, time: Date.UTC(2015, 0, 2, 8, 0, 0, 5), pid: 1, msg: 'x' }));
      expect(winter).toContain('<time="00:00:00.005+480" date="01-02-2015"');
      process.env.TZ = 'Europe/Berlin';
      const cet = pinoLineToCmTrace(JSON.stringify({ level: 30, time: Date.UTC(2026, 10, 25, 23, 30, 0, 0), pid: 1, msg: 'x' }));
      expect(cet).toContain('<time="00:30:00.000-060" date="11-26-2026"');
      process.env.TZ = 'UTC';
      const utc = pinoLineToCmTrace(JSON.stringify({ level: 30, time: '2026-11-25T09:08:07.006Z', pid: 1, msg: 'x' }));
      expect(utc).toContain('<time="09:08:07.006+000" date="11-25-2026"');
    } finally {
      if (saved === undefined) delete process.env.TZ;
      else process.env.TZ = saved;
    }
  });

  it('keeps the terminator out of messages and attribute quotes out of attributes', () => {
    const line = formatCmTraceLine({
      message: 'evil ]LOG]!><time="x" and\nsecond line',
      time: new Date(2026, 0, 1, 1, 2, 3, 4),
      type: 2,
      thread: 7,
      component: 'os"dcast',
    });
    const recs = parse(line);
    expect(recs).toHaveLength(1);
    expect(recs[0]!.msg).toBe('evil ]LOG]!&gt;<time="x" and\r\nsecond line');
    expect(recs[0]!.component).toBe("os'dcast");
    expect(recs[0]!.type).toBe(2);
  });

  it('puts record fields and errors into the message', () => {
    const err = new Error('disk full');
    const line = pinoLineToCmTrace(
      JSON.stringify({
        level: 50,
        time: 0,
        pid: 42,
        hostname: 'h',
        msg: 'write failed',
        bytes: 123,
        file: 'C:\\a b.wim',
        err: { type: 'Error', message: err.message, stack: err.stack, code: 'ENOSPC' },
      }),
    );
    const [rec] = parse(line);
    expect(rec!.type).toBe(3);
    expect(rec!.thread).toBe(42);
    expect(rec!.msg.split('\r\n')[0]).toBe('write failed bytes=123 file="C:\\\\a b.wim" err="Error: disk full" code=ENOSPC');
    expect(rec!.msg).toContain('\r\n    at ');
    expect(rec!.msg).not.toContain('hostname');
  });

  it('logs a line that is not JSON as plain text', () => {
    const [rec] = parse(pinoLineToCmTrace('not json at all', { thread: 9 }));
    expect(rec).toMatchObject({ msg: 'not json at all', type: 1, thread: 9 });
  });

  it('names the rotated file like ConfigMgr', () => {
    expect(rotatedPath('/x/osdcast.log')).toBe('/x/osdcast.lo_');
    expect(rotatedPath('X:\\Windows\\Temp\\SMSTSLog\\osdcast.log')).toBe('X:\\Windows\\Temp\\SMSTSLog\\osdcast.lo_');
    expect(rotatedPath('/x/noext')).toBe('/x/noext.lo_');
  });
});

describe('cmtrace destination with pino', () => {
  it('writes parseable records synchronously, with types, thread and component', () => {
    const file = path.join(dir, 'sub', 'osdcast.log');
    const log = pino({ level: 'trace' }, cmtraceDestination({ path: file }));
    const before = Date.now();
    log.trace('t');
    log.debug('d');
    log.info({ sessionId: 5 }, 'info ü €');
    // Synchronous: the record is on disk as soon as the call returns, without any flush.
    expect(parse(readLog(file))).toHaveLength(3);
    log.warn('w');
    log.error(new Error('boom'), 'e');
    log.fatal('f');
    const after = Date.now();
    const recs = parse(readLog(file));
    expect(recs.map((r) => r.type)).toEqual([1, 1, 1, 2, 3, 3]);
    expect(recs.map((r) => r.msg.split('\r\n')[0])).toEqual(['t', 'd', 'info ü € sessionId=5', 'w', 'e err="Error: boom"', 'f']);
    for (const r of recs) {
      expect(r.component).toBe('osdcast');
      expect(r.context).toBe('');
      expect(r.file).toBe('');
      expect(r.thread).toBe(process.pid);
      // The local date/time fields plus the bias give back a UTC instant inside the logging window.
      const utc = Date.UTC(r.year, r.month - 1, r.day, r.h, r.m, r.s, r.ms) + r.bias * 60_000;
      expect(utc).toBeGreaterThanOrEqual(before);
      expect(utc).toBeLessThanOrEqual(after);
      expect(r.bias).toBe(new Date(utc).getTimezoneOffset());
    }
  });

  it('appends to an existing log without a second BOM', () => {
    const file = path.join(dir, 'osdcast.log');
    pino(cmtraceDestination({ path: file })).info('one');
    pino(cmtraceDestination({ path: file })).info('two');
    expect(parse(readLog(file)).map((r) => r.msg)).toEqual(['one', 'two']);
  });

  it('works as a pino.multistream entry', () => {
    const file = path.join(dir, 'm.log');
    const lines: string[] = [];
    const log = pino(
      { level: 'debug' },
      pino.multistream([
        { level: 'debug', stream: cmtraceDestination({ path: file }) },
        { level: 'warn', stream: { write: (s: string) => void lines.push(s) } },
      ]),
    );
    log.debug('dbg');
    log.warn('wrn');
    expect(parse(readLog(file)).map((r) => [r.msg, r.type])).toEqual([
      ['dbg', 1],
      ['wrn', 2],
    ]);
    expect(lines).toHaveLength(1);
  });

  it('rotates at the size limit, keeping one previous file named .lo_', () => {
    const file = path.join(dir, 'osdcast.log');
    const lo = path.join(dir, 'osdcast.lo_');
    fs.writeFileSync(lo, 'stale previous file\r\n');
    const maxSize = 4096;
    const dest = cmtraceDestination({ path: file, maxSize });
    const log = pino({ level: 'info' }, dest);
    const n = 200;
    for (let i = 0; i < n; i++) log.info({ i }, `record ${String(i).padStart(4, '0')} ${'x'.repeat(i % 37)}`);
    expect(dest.rotations).toBeGreaterThan(5);
    expect(fs.readdirSync(dir).sort()).toEqual(['osdcast.lo_', 'osdcast.log']);
    for (const f of [file, lo]) expect(fs.statSync(f).size).toBeLessThanOrEqual(maxSize);
    const prev = parse(readLog(lo)).map((r) => Number(/ i=(\d+)$/.exec(r.msg)![1]));
    const cur = parse(readLog(file)).map((r) => Number(/ i=(\d+)$/.exec(r.msg)![1]));
    // The newest records are in .log, the ones just before them in .lo_, with nothing lost in between.
    expect(cur[cur.length - 1]).toBe(n - 1);
    expect([...prev, ...cur]).toEqual(Array.from({ length: prev.length + cur.length }, (_, k) => n - prev.length - cur.length + k));
    // A full file was rolled: adding the next record to .lo_ would have passed the limit.
    expect(fs.statSync(lo).size).toBeGreaterThan(maxSize - 200);
  });

  it('rotates a pre-existing oversized log on the first record', () => {
    const file = path.join(dir, 'osdcast.log');
    fs.writeFileSync(file, 'y'.repeat(5000));
    const dest = cmtraceDestination({ path: file, maxSize: 4096 });
    pino(dest).info('fresh');
    expect(fs.readFileSync(path.join(dir, 'osdcast.lo_'), 'utf8')).toBe('y'.repeat(5000));
    expect(parse(readLog(file)).map((r) => r.msg)).toEqual(['fresh']);
  });

  it('never throws into the logger when the file cannot be written', () => {
    const blocker = path.join(dir, 'afile');
    fs.writeFileSync(blocker, '');
    const errors: Error[] = [];
    const dest: CmTraceDestination = cmtraceDestination({ path: path.join(blocker, 'osdcast.log'), onError: (e) => errors.push(e) });
    const log = pino(dest);
    expect(() => {
      log.info('a');
      log.error('b');
    }).not.toThrow();
    expect(errors).toHaveLength(2);
    expect(dest.failedWrites).toBe(2);
  });
});

describe('defaultLogTarget', () => {
  it('uses CMTrace beside smsts.log inside a task sequence', () => {
    expect(defaultLogTarget({ _SMSTSLogPath: 'X:\\Windows\\Temp\\SMSTSLog' })).toEqual({
      format: 'cmtrace',
      path: 'X:\\Windows\\Temp\\SMSTSLog\\osdcast.log',
    });
    expect(defaultLogTarget({ _smstslogpath: 'C:\\Windows\\CCM\\Logs\\SMSTSLog\\' })).toEqual({
      format: 'cmtrace',
      path: 'C:\\Windows\\CCM\\Logs\\SMSTSLog\\osdcast.log',
    });
    expect(defaultLogTarget({ _SMSTSLogPath: '/var/log/ts' })).toEqual({ format: 'cmtrace', path: '/var/log/ts/osdcast.log' });
  });

  it('uses JSON lines otherwise', () => {
    expect(defaultLogTarget({})).toEqual({ format: 'json' });
    expect(defaultLogTarget({ _SMSTSLogPath: '  ' })).toEqual({ format: 'json' });
    expect(defaultLogTarget({ PATH: '/usr/bin' })).toEqual({ format: 'json' });
  });
});
