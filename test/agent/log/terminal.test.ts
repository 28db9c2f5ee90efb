/**
 * agent/log/terminal.ts: text log lines (time, level, message; no JSON), the progress line kept below the log
 * lines and redrawn after each, cut to the width; the progress text (percent, MiB, rate, ETA, multicast/HTTP).
 */
import { describe, expect, it } from 'vitest';
import pino from 'pino';
import { createLogger, resolveLogTarget } from '../../../agent/log/log';
import { ProgressMeter, Terminal, textLine } from '../../../agent/log/terminal';
import type { Progress } from '../../../agent/receive/receive';
import { renderScreen } from '../../support/screen';

const MiB = 1024 * 1024;

function fakeScreen(columns?: number) {
  let bytes = '';
  return { screen: { write: (s: string) => void (bytes += s), columns }, bytes: () => bytes };
}

describe('renderScreen (the tests\' terminal)', () => {
  it('CR returns, ESC[2K erases the line, ESC[K erases to its end, LF moves down', () => {
    expect(renderScreen('abc\rX')).toEqual(['Xbc']);
    expect(renderScreen('abc\r\x1b[2Kd\nnext')).toEqual(['d', 'next']);
    expect(renderScreen('abcdef\rab\x1b[K')).toEqual(['ab']);
    expect(renderScreen('abcdef\rabc\x1b[1K')).toEqual(['    ef']); // EL 1 erases up to and including the cursor's column
    expect(renderScreen('hello\x1b[31m!\n')).toEqual(['hello!', '']);
  });
});

describe('textLine', () => {
  it('time, level, message: no JSON, no pid, the report object left out; other fields as key=value unless the message says them', () => {
    const t = new Date(2026, 0, 2, 3, 4, 5, 678);
    const at = t.toISOString();
    expect(textLine(JSON.stringify({ level: 30, time: at, pid: 99, report: { status: 'ok', bytes: 1 }, msg: 'complete: 1 bytes' }))).toBe('03:04:05 INFO  complete: 1 bytes');
    expect(textLine(JSON.stringify({ level: 40, time: at, msg: 'careful' }))).toBe('03:04:05 WARN  careful');
    expect(textLine(JSON.stringify({ level: 30, time: at, size: 8388608, blockSize: 1385, source: 'multicast', msg: 'content x: 8388608 bytes in blocks of 1385' }))).toBe('03:04:05 INFO  content x: 8388608 bytes in blocks of 1385 source=multicast');
    expect(textLine(JSON.stringify({ level: 30, time: at, mt: { packets: 7, nacks: 2 }, drops: { wrongSource: 0 }, list: [1, 2], msg: 'multicast statistics' }))).toBe('03:04:05 INFO  multicast statistics mt.packets=7 mt.nacks=2 drops.wrongSource=0');
    expect(textLine(JSON.stringify({ level: 50, time: at, err: { type: 'Error', message: 'boom', stack: 'Error: boom\n  at x' }, msg: 'failed' }))).toBe('03:04:05 ERROR failed err.type=Error err.message=boom');
    expect(textLine('not json')).toBe('not json');
  });

  it('control characters in the message, the fields and a non-JSON line are shown escaped (\\r \\n \\t \\xHH), never sent raw', () => {
    const at = new Date(2026, 0, 2, 3, 4, 5).toISOString();
    const line = textLine(JSON.stringify({ level: 30, time: at, name: 'a\x1b[2Jb', 'k\n': 'v\tw', msg: 'from the DP: evil\r\x1b[2Kfake line\nnext\x07\x7f\x9b' }));
    expect(line).toBe('03:04:05 INFO  from the DP: evil\\r\\x1b[2Kfake line\\nnext\\x07\\x7f\\x9b name=a\\x1b[2Jb k\\n=v\\tw');
    expect(line).not.toMatch(/[\x00-\x1f\x7f-\x9f]/);
    expect(textLine('raw \x1b[31mred\r')).toBe('raw \\x1b[31mred\\r');
    expect(textLine(JSON.stringify({ level: 30, time: at, msg: 'C:\\path\\file é' }))).toBe('03:04:05 INFO  C:\\path\\file é');
  });

  it('through pino: what createLogger writes in the text format', () => {
    const out: string[] = [];
    const log = createLogger({ format: 'text', level: 'debug', terminal: { line: (s) => void out.push(s) } });
    log.debug({ a: { b: 1 } }, 'first');
    log.warn('second');
    expect(out).toHaveLength(2);
    expect(out[0]).toMatch(/^\d\d:\d\d:\d\d DEBUG first a\.b=1$/);
    expect(out[1]).toMatch(/^\d\d:\d\d:\d\d WARN  second$/);
  });

  it('json and cmtrace to a terminal go through it too (above the progress line), in their own format', () => {
    const out: string[] = [];
    createLogger({ format: 'json', terminal: { line: (s) => void out.push(s) } }).info('j');
    createLogger({ format: 'cmtrace', terminal: { line: (s) => void out.push(s) } }).info('c');
    expect(JSON.parse(out[0]!)).toMatchObject({ msg: 'j', level: 30 });
    expect(out[1]).toMatch(/^<!\[LOG\[c\]LOG\]!>/);
  });
});

describe('resolveLogTarget on a terminal', () => {
  it('text by default on a terminal; a file, a task sequence or --log-format decide otherwise', () => {
    expect(resolveLogTarget({}, {}, true)).toEqual({ format: 'text', file: undefined, why: 'stderr is a terminal' });
    expect(resolveLogTarget({}, {}, false)).toEqual({ format: 'json', file: undefined, why: 'default' });
    expect(resolveLogTarget({ logFormat: 'json' }, {}, true).format).toBe('json');
    expect(resolveLogTarget({ logFormat: 'cmtrace' }, {}, true).format).toBe('cmtrace');
    expect(resolveLogTarget({ logFile: '/tmp/a.log' }, {}, true)).toEqual({ format: 'json', file: '/tmp/a.log', why: '--log-file' });
    expect(resolveLogTarget({}, { _SMSTSLogPath: 'X:\\T' }, true)).toMatchObject({ format: 'cmtrace', file: 'X:\\T\\osdcast.log' });
  });
});

describe('Terminal', () => {
  it('a log line erases the progress line, prints, and redraws it below', () => {
    const { screen, bytes } = fakeScreen();
    const t = new Terminal(screen);
    t.line('one');
    t.progress(' 10.0%  progress A');
    t.line('two');
    t.progress(' 20.0%  progress B');
    t.line('three\n');
    expect(renderScreen(bytes())).toEqual(['one', 'two', 'three', ' 20.0%  progress B']);
    t.done();
    t.line('after');
    expect(renderScreen(bytes())).toEqual(['one', 'two', 'three', ' 20.0%  progress B', 'after', '']);
  });

  it('cuts the progress line to the width, so it never wraps', () => {
    const { screen, bytes } = fakeScreen(20);
    const t = new Terminal(screen);
    t.progress('x'.repeat(50));
    expect(renderScreen(bytes())).toEqual(['x'.repeat(19)]);
  });

  it('done without a progress line writes nothing', () => {
    const { screen, bytes } = fakeScreen();
    new Terminal(screen).done();
    expect(bytes()).toBe('');
  });

  it('pino through the terminal: log records never land inside the progress line', () => {
    const { screen, bytes } = fakeScreen(200);
    const t = new Terminal(screen);
    const log = pino({ level: 'info' }, { write: (s: string) => void t.line(textLine(s.trimEnd())) });
    for (let i = 0; i < 5; i++) {
      t.progress(`${String(i * 20).padStart(5)}.0%  bar`);
      log.info(`record ${i}`);
    }
    const lines = renderScreen(bytes());
    expect(lines.slice(0, 5).every((l, i) => new RegExp(`^\\d\\d:\\d\\d:\\d\\d INFO  record ${i}$`).test(l))).toBe(true);
    expect(lines[5]).toBe('   80.0%  bar');
  });
});

describe('ProgressMeter', () => {
  const p = (seconds: number, bytes: number, mc: number, http: number, size = 64 * MiB): Progress => ({ blocks: Math.floor(bytes / 1024), totalBlocks: size / 1024, bytes, contentSize: size, seconds, multicastBytes: mc, httpBytes: http });

  it('percent, MiB done/total, the recent rate, ETA, multicast and HTTP shares', () => {
    const m = new ProgressMeter();
    expect(m.line(p(0, 0, 0, 0))).toBe('  0.0%  0.0/64 MiB  0.0 MB/s  ETA --:--  multicast 0.0 MiB  HTTP 0.0 MiB');
    expect(m.line(p(2, 16 * MiB, 12 * MiB, 4 * MiB))).toBe(` 25.0%  16/64 MiB  ${((16 * MiB) / 2 / 1e6).toFixed(1)} MB/s  ETA 0:06  multicast 12 MiB  HTTP 4.0 MiB`);
    expect(m.line(p(4, 64 * MiB, 60 * MiB, 4 * MiB))).toMatch(/^100\.0%  64\/64 MiB  \d+\.\d MB\/s  ETA 0:00  multicast 60 MiB  HTTP 4.0 MiB$/);
  });

  it('the rate looks at the last few seconds only (a stall shows), and resets for the next file', () => {
    const m = new ProgressMeter();
    m.line(p(0, 0, 0, 0));
    m.line(p(5, 32 * MiB, 32 * MiB, 0));
    m.line(p(10, 32 * MiB, 32 * MiB, 0));
    expect(m.line(p(11, 32 * MiB, 32 * MiB, 0))).toMatch(/  0\.0 MB\/s  ETA --:--  /);
    // acp: the next file starts at 0 s again
    expect(m.line(p(0.25, 0, 0, 0, 8 * MiB))).toMatch(/^  0\.0%  0\.0\/8\.0 MiB  0\.0 MB\/s  ETA --:--/);
    expect(m.line(p(1.25, 2 * MiB, 2 * MiB, 0, 8 * MiB))).toMatch(/ 2\.1 MB\/s  ETA 0:03 /);
  });

  it('resumed bytes count as done, not in the rate', () => {
    const m = new ProgressMeter();
    m.line(p(0, 32 * MiB, 0, 0));
    expect(m.line(p(1, 33 * MiB, MiB, 0))).toMatch(/^ 51\.6%  33\/64 MiB  1\.0 MB\/s  ETA 0:3[12]  multicast 1\.0 MiB  HTTP 0\.0 MiB$/);
  });
});
