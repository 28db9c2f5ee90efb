import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { RotatingFileDestination, createLogger, resolveLogTarget, silentLogger } from '../../../agent/log/log';

/** What went to fd 1 and fd 2 through fs.writeSync (pino's synchronous destination and the CMTrace stderr writer). */
function captureFds() {
  const out: Record<number, string> = { 1: '', 2: '' };
  const real = fs.writeSync;
  const spy = vi.spyOn(fs, 'writeSync').mockImplementation(((fd: number, data: string | NodeJS.ArrayBufferView, ...rest: unknown[]) => {
    if (fd === 1 || fd === 2) {
      const s = typeof data === 'string' ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('utf8');
      out[fd] += s;
      return Buffer.byteLength(s);
    }
    return (real as (...a: unknown[]) => number)(fd, data, ...rest);
  }) as typeof fs.writeSync);
  const stdout = vi.spyOn(process.stdout, 'write');
  return { out, restore: () => (spy.mockRestore(), stdout.mockRestore()), stdout };
}

const jsonLines = (s: string) =>
  s
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Record<string, unknown>);

let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'osdcast-log-'));
});
afterEach(() => {
  vi.restoreAllMocks();
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('createLogger', () => {
  it('by default: pino JSON lines on stderr at level info, never stdout (the --json report is there)', () => {
    const c = captureFds();
    const log = createLogger();
    log.debug('hidden');
    log.info({ url: 'http://dp01/x', n: 3 }, 'hello');
    log.warn('careful');
    c.restore();
    const lines = jsonLines(c.out[2]!);
    expect(lines.map((l) => [l.level, l.msg])).toEqual([
      [30, 'hello'],
      [40, 'careful'],
    ]);
    expect(lines[0]).toMatchObject({ pid: process.pid, url: 'http://dp01/x', n: 3 });
    expect(String(lines[0]!.time)).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
    expect(c.out[1]).toBe('');
    expect(c.stdout).not.toHaveBeenCalled();
  });

  it('levels: debug shows debug, warn hides info', () => {
    const c = captureFds();
    createLogger({ level: 'debug' }).debug('d');
    const w = createLogger({ level: 'warn' });
    w.info('i');
    w.error('e');
    c.restore();
    expect(jsonLines(c.out[2]!).map((l) => l.msg)).toEqual(['d', 'e']);
  });

  it('a file: JSON lines there and nothing on stderr; rotated to <name>.lo_ before it would pass maxSize', () => {
    const c = captureFds();
    const file = path.join(dir, 'osdcast.json.log');
    const log = createLogger({ file, maxSize: 600 });
    for (let i = 0; i < 10; i++) log.info({ i }, 'line of about a hundred bytes');
    c.restore();
    expect(c.out[2]).toBe('');
    const now = jsonLines(fs.readFileSync(file, 'utf8'));
    const before = jsonLines(fs.readFileSync(path.join(dir, 'osdcast.json.lo_'), 'utf8'));
    expect(fs.statSync(file).size).toBeLessThanOrEqual(600);
    expect([...before, ...now].map((l) => l.i).slice(-now.length)).toEqual(now.map((l) => l.i));
    expect(now.at(-1)!.i).toBe(9);
  });

  it('cmtrace to a file: a UTF-8 BOM, then CMTrace records; nothing on stderr', () => {
    const c = captureFds();
    const file = path.join(dir, 'osdcast.log');
    const log = createLogger({ file, format: 'cmtrace' });
    log.warn('multicast stalled');
    log.flush?.();
    c.restore();
    expect(c.out[2]).toBe('');
    expect(fs.readFileSync(file, 'utf8')).toMatch(/^\ufeff<!\[LOG\[multicast stalled\]LOG\]!><time="[^"]+" date="[^"]+" component="osdcast" context="" type="2" thread="\d+" file="">\r\n$/);
  });

  it('cmtrace without a file: one CMTrace record per pino line on stderr', () => {
    const c = captureFds();
    const log = createLogger({ format: 'cmtrace', level: 'debug' });
    log.error('failed');
    log.debug('detail');
    c.restore();
    const recs = c.out[2]!.match(/<!\[LOG\[[^\]]*\]LOG\]!><[^>]*type="(\d)"[^>]*>\r\n/g) ?? [];
    expect(recs).toHaveLength(2);
    expect(recs[0]).toMatch(/^<!\[LOG\[failed\]LOG\]!>.*type="3"/);
    expect(recs[1]).toMatch(/^<!\[LOG\[detail\]LOG\]!>.*type="1"/);
    expect(c.out[2]).toBe(recs.join(''));
  });

  it('silentLogger drops everything', () => {
    const c = captureFds();
    const s = silentLogger();
    s.error('nothing');
    c.restore();
    expect(c.out[2]).toBe('');
    expect(s.isLevelEnabled('fatal')).toBe(false);
  });
});

describe('RotatingFileDestination', () => {
  it('an unwritable log is reported on stderr once, never thrown', () => {
    const c = captureFds();
    const err = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    fs.writeFileSync(path.join(dir, 'a-file'), '');
    const d = new RotatingFileDestination(path.join(dir, 'a-file', 'x.log'), 100); // a file where the folder would be
    expect(() => {
      d.write('{"a":1}\n');
      d.write(Buffer.from('{"a":2}\n'));
    }).not.toThrow();
    d.end();
    c.restore();
    const said = err.mock.calls.map((a) => String(a[0]));
    expect(said).toHaveLength(1);
    expect(said[0]).toMatch(/^osdcast: cannot write log .*a-file\/x\.log: (ENOTDIR|EEXIST)/);
  });
});

describe('resolveLogTarget', () => {
  it('task sequence: CMTrace beside smsts.log; elsewhere JSON on stderr; flags override', () => {
    const ts = { _SMSTSLogPath: 'X:\\Windows\\Temp\\SMSTSLog' };
    expect(resolveLogTarget({}, {})).toEqual({ format: 'json', file: undefined, why: 'default' });
    expect(resolveLogTarget({}, ts)).toEqual({ format: 'cmtrace', file: 'X:\\Windows\\Temp\\SMSTSLog\\osdcast.log', why: '_SMSTSLogPath is set (task sequence)' });
    expect(resolveLogTarget({ logFormat: 'json' }, ts)).toEqual({ format: 'json', file: 'X:\\Windows\\Temp\\SMSTSLog\\osdcast.log', why: '_SMSTSLogPath is set (task sequence)' });
    expect(resolveLogTarget({ logFile: '/tmp/a.log' }, ts)).toEqual({ format: 'cmtrace', file: '/tmp/a.log', why: '--log-file' });
    expect(resolveLogTarget({ logFile: '/tmp/a.log' }, {})).toEqual({ format: 'json', file: '/tmp/a.log', why: '--log-file' });
    expect(resolveLogTarget({ logFormat: 'cmtrace' }, {})).toEqual({ format: 'cmtrace', file: undefined, why: 'default' });
  });
});
