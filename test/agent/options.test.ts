/**
 * agent/options.ts, the option table: every flag declared once, with help, unit and default; the shared flags on
 * both commands; values converted to ms / bytes at the edge and nowhere else; the README's flag table true to it.
 */
import fs from 'node:fs';
import path from 'node:path';
import { Command, Option } from 'commander';
import { describe, expect, it } from 'vitest';
import { buildProgram } from '../../agent/cli';
import { DEFAULTS } from '../../agent/defaults';
import { cacheLimit, COMMANDS, commanderOption, CONVERSIONS, FLAG_LIST, FLAGS, flagsOf, longName, parseServer, receiveFields, type Flags } from '../../agent/options';

const ROOT = path.resolve(__dirname, '../..');
const camel = (long: string) => long.slice(2).replace(/-([a-z])/g, (_m, c: string) => c.toUpperCase());

function command(name: string): Command {
  return buildProgram(() => undefined).commands.find((c) => c.name() === name)!;
}
const longs = (c: Command) => c.options.map((o: Option) => o.long!).filter((l) => l !== '--help');

describe('the option table', () => {
  it('every flag has help, a unit, a default (or says there is none) and at least one command; names match commander', () => {
    expect(FLAG_LIST.length).toBeGreaterThan(20);
    for (const [name, s] of FLAG_LIST) {
      expect(camel(longName(s)), s.flags).toBe(name);
      for (const cmd of s.commands) expect((typeof s.help === 'string' ? s.help : s.help[cmd]).length, s.flags).toBeGreaterThan(10);
      expect(s.unit, s.flags).toBeTruthy();
      expect(s.default.shown, s.flags).toBeTruthy();
      expect(s.commands.length, s.flags).toBeGreaterThan(0);
      expect(!!s.required && s.default.value !== undefined, `${s.flags}: required and defaulted`).toBe(false);
      // a flag that takes a value says so; a switch takes none
      expect(/<[^>]+>/.test(s.flags), s.flags).toBe(s.unit !== 'switch');
    }
  });

  it('each command has exactly the table flags for it, in table order; the shared ones on both', () => {
    for (const cmd of COMMANDS) expect(longs(command(cmd))).toEqual(flagsOf(cmd).map((n) => longName(FLAGS[n])));
    const shared = FLAG_LIST.filter(([, s]) => s.commands.length === COMMANDS.length).map(([n]) => n);
    expect(shared).toEqual(expect.arrayContaining(['initiation', 'rpcPort', 'rpcTimeout', 'user', 'passwordFile', 'preOs', 'server', 'interface', 'cache', 'timeout', 'retries', 'retryDelay', 'mcastTimeout', 'minRate', 'minRateWindow', 'ca', 'insecure', 'tsVar', 'json', 'logFile', 'logFormat', 'logMaxSize', 'logLevel', 'blockBase', 'httpOnly']));
    expect(flagsOf('receive')).toEqual(expect.arrayContaining(['namespace', 'content', 'out', 'http', 'sha256', 'sha256Url']));
    expect(flagsOf('acp')).not.toContain('out');
  });

  it('converting units: parsed to the held unit, feeding a field named for it; defaults held in that unit', () => {
    const converting = FLAG_LIST.filter(([, s]) => s.unit in CONVERSIONS);
    expect(converting.map(([n]) => n).sort()).toEqual(['cache', 'logMaxSize', 'mcastTimeout', 'minRate', 'minRateWindow', 'retryDelay', 'rpcTimeout', 'timeout']);
    for (const [, s] of converting) {
      const c = CONVERSIONS[s.unit as keyof typeof CONVERSIONS];
      expect(s.flags).toContain(`<${s.unit}>`);
      expect(s.parse!('2', undefined), s.flags).toBe(2 * c.factor);
      if (s.feeds) expect(s.feeds.endsWith(c.suffix), `${s.flags} feeds ${s.feeds}`).toBe(true);
      if (s.default.value !== undefined) expect(s.default.shown, s.flags).toBe(`${(s.default.value as number) / c.factor} ${s.unit === 'seconds' ? 's' : s.unit}`);
    }
    expect(FLAGS.retryDelay.parse!('0.05', undefined)).toBe(50);
    expect(FLAGS.minRate.parse!('5', undefined)).toBe(5e6);
    expect(FLAGS.logMaxSize.parse!('0.001', undefined)).toBe(1049);
    expect(FLAGS.mcastTimeout.parse!('0', undefined)).toBe(0);
  });

  it('the defaults are the ones in defaults.ts, and commander starts from them', () => {
    expect(FLAGS.cache.default.value).toBe(DEFAULTS.cacheBytes);
    expect(FLAGS.retries.default.value).toBe(DEFAULTS.retries);
    expect(FLAGS.retryDelay.default.value).toBe(DEFAULTS.retryDelayMs);
    expect(FLAGS.mcastTimeout.default.value).toBe(DEFAULTS.mcastTimeoutMs);
    expect(FLAGS.minRateWindow.default.value).toBe(DEFAULTS.minRateWindowMs);
    expect(FLAGS.logMaxSize.default.value).toBe(DEFAULTS.logMaxSizeBytes);
    expect(FLAGS.logLevel.default.value).toBe(DEFAULTS.logLevel);
    expect(FLAGS.blockBase.default.value).toBe(DEFAULTS.blockBase);
    expect(FLAGS.initiation.default.value).toBe(DEFAULTS.initiation);
    expect(FLAGS.rpcPort.default.value).toBe(DEFAULTS.rpcPort);
    expect(FLAGS.rpcTimeout.default.value).toBe(DEFAULTS.rpcTimeoutMs);
    const c = new Command().exitOverride();
    for (const n of flagsOf('acp')) c.addOption(commanderOption(n, 'acp'));
    c.parse([], { from: 'user' });
    expect(c.opts()).toEqual({ cache: 64 * 1024 * 1024, blockBase: 'auto', retries: 2, retryDelay: 15_000, initiation: 'auto', rpcPort: 5040, rpcTimeout: 10_000, mcastTimeout: 60_000, minRateWindow: 60_000, logMaxSize: 2 * 1024 * 1024, logLevel: 'info' });
    expect(c.helpInformation()).toContain('(default: 15 s)');
  });

  it('bad values are one-line usage errors in the user\'s unit', () => {
    const bad: [keyof typeof FLAGS, string, RegExp][] = [
      ['cache', '0', /^--cache must be a whole number >= 1, got "0"$/],
      ['cache', '1.5', /whole number/],
      ['timeout', '-1', /^--timeout must be a number > 0, got "-1"$/],
      ['retries', '-1', /^--retries must be a whole number >= 0/],
      ['retryDelay', '0', /^--retry-delay must be a number > 0/],
      ['mcastTimeout', '1.5', /^--mcast-timeout must be a whole number >= 0/],
      ['minRate', 'fast', /^--min-rate must be a number > 0/],
      ['logMaxSize', '-1', /^--log-max-size must be a number of MiB >= 0 \(0: never rotate\)/],
      ['blockBase', '2', /^--block-base must be auto, 0 or 1/],
      ['sha256', 'abc', /^--sha256 must be 64 hex digits/],
      ['http', 'ftp://x/y', /^--http must be an http:\/\/ or https:\/\/ URL/],
      ['ca', '/nonexistent/ca.pem', /^--ca \/nonexistent\/ca.pem: no such file$/],
      ['rpcPort', '0', /^--rpc-port must be 1\.\.65535, got "0"$/],
      ['rpcPort', '5040x', /^--rpc-port must be 1\.\.65535/],
      ['rpcTimeout', '0', /^--rpc-timeout must be a number > 0, got "0"$/],
      ['user', 'CORP\\a@b', /^--user must be DOMAIN\\name, name@domain or name, got "CORP\\a@b"$/],
      ['user', 'CORP\\', /^--user must be/],
    ];
    for (const [name, v, msg] of bad) expect(() => (FLAGS[name] as { parse: (v: string, p: undefined) => unknown }).parse(v, undefined), `${name} ${v}`).toThrow(msg);
    expect(() => FLAGS.http.parse!('http://user:secret@dp/x y\u0000', undefined)).not.toThrow();
    expect(() => FLAGS.http.parse!('mailto://user:secret@dp', undefined)).toThrow(/"mailto:\/\/\*\*\*@dp"/);
  });

  it('--namespace, --content and --out must say something', () => {
    expect(FLAGS.namespace.parse!('SMSPKG', undefined)).toBe('SMSPKG');
    expect(() => FLAGS.namespace.parse!('', undefined)).toThrow(/^--namespace must not be empty$/);
    expect(() => FLAGS.content.parse!('  ', undefined)).toThrow(/^--content must not be empty$/);
    expect(FLAGS.out.parse!('x.wim', undefined)).toBe('x.wim');
    expect(() => FLAGS.out.parse!('', undefined)).toThrow(/^--out must not be empty$/);
    expect(() => FLAGS.out.parse!(' \t', undefined)).toThrow(/^--out must not be empty$/);
  });

  it('--cache: at most min(Node\'s largest Buffer, half of the memory), the message naming which', () => {
    const GiB = 1024 ** 3;
    expect(cacheLimit(64 * GiB, 4 * GiB)).toEqual({ bytes: 4 * GiB, why: "Node's largest Buffer" });
    expect(cacheLimit(2 * GiB, 4 * GiB)).toEqual({ bytes: GiB, why: "half of this machine's memory" });
    const lim = cacheLimit();
    const mib = Math.floor(lim.bytes / 2 ** 20);
    expect(FLAGS.cache.parse!(String(mib), undefined)).toBe(mib * 2 ** 20);
    expect(() => FLAGS.cache.parse!(String(mib + 1), undefined)).toThrow(`--cache must be at most ${mib} MiB (${lim.why}), got "${mib + 1}"`);
    expect(() => FLAGS.cache.parse!('99999999', undefined)).toThrow(/^--cache must be at most \d+ MiB \((Node's largest Buffer|half of this machine's memory)\)/);
  });

  it('--server: host[:port], IPv6 in brackets, the MS-WDSMSI port by default', () => {
    expect(parseServer('dp01')).toEqual({ host: 'dp01', port: 5041 });
    expect(parseServer('10.1.2.3:4011')).toEqual({ host: '10.1.2.3', port: 4011 });
    expect(parseServer('[fd00::5]:4011')).toEqual({ host: 'fd00::5', port: 4011 });
    expect(parseServer('fd00::5')).toEqual({ host: 'fd00::5', port: 5041 });
    expect(() => parseServer('h:0')).toThrow(/^port in --server must be 1\.\.65535, got "0"$/);
    expect(() => parseServer('two words')).toThrow(/^--server must be <host>\[:<port>\]/);
  });

  it('receiveFields: the fields the command\'s flags feed, nothing from flags it does not have', () => {
    const f: Flags = { cache: 8, timeout: 5000, http: ['http://dp/x'], sha256: 'a'.repeat(64), json: true, retryDelay: 50, minRate: 2e6 };
    expect(receiveFields(f, 'receive')).toEqual({ cacheBytes: 8, timeoutMs: 5000, http: ['http://dp/x'], sha256: 'a'.repeat(64), retryDelayMs: 50, minRateBytesPerSec: 2e6 });
    expect(receiveFields(f, 'acp')).toEqual({ cacheBytes: 8, timeoutMs: 5000, retryDelayMs: 50, minRateBytesPerSec: 2e6 });
  });

  it('no layer behind the CLI converts seconds or MB/s itself', () => {
    const hits: string[] = [];
    const walk = (dir: string): void => {
      for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
        const p = path.join(dir, e.name);
        if (e.isDirectory()) walk(p);
        else if (p.endsWith('.ts') && !['options.ts', 'defaults.ts'].includes(path.relative(path.join(ROOT, 'agent'), p))) {
          fs.readFileSync(p, 'utf8')
            .split('\n')
            .forEach((l, i) => /\*\s*(?:1000|1e6|1_000_000)\b/.test(l) && hits.push(`${path.relative(ROOT, p)}:${i + 1}: ${l.trim()}`));
        }
      }
    };
    walk(path.join(ROOT, 'agent'));
    expect(hits).toEqual([]);
  });
});

describe("the README's flag table", () => {
  const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
  const start = readme.indexOf('| flag | meaning | default |');
  const rows = readme
    .slice(start)
    .split('\n')
    .slice(2)
    .filter((_l, i, all) => all.slice(0, i + 1).every((x) => x.startsWith('|')))
    .map((l) => l.split('|').map((c) => c.trim()));
  const documented = new Map<string, string>();
  for (const r of rows) for (const m of r[1]!.matchAll(/--[a-z0-9-]+/g)) documented.set(m[0], r[3]!);

  it('lists every flag of the table and no other', () => {
    expect(start).toBeGreaterThan(0);
    expect([...documented.keys()].sort()).toEqual(FLAG_LIST.map(([, s]) => longName(s)).sort());
  });

  it("gives each flag's default as the table does", () => {
    for (const [, s] of FLAG_LIST) expect(documented.get(longName(s)), s.flags).toContain(s.default.shown);
  });
});
