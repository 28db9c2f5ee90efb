/** agent/util/version.ts: one version string for --version, the first log line and the User-Agent. */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { USER_AGENT, VERSION, VERSION_LINE } from '../../../agent/util/version';

describe('version', () => {
  it('derives the User-Agent and the --version line from one VERSION', () => {
    expect(VERSION).toBe('0.0.0-dev'); // from source; the build defines OSDCAST_VERSION (test/e2e/cli.test.ts checks the bundle)
    expect(USER_AGENT).toBe(`osdcast/${VERSION}`);
    expect(VERSION_LINE).toBe(`osdcast ${VERSION} (node ${process.version})`);
  });

  it('no other module declares the build-time version', () => {
    const root = path.resolve(__dirname, '../../..');
    const hits: string[] = [];
    const walk = (dir: string): void => {
      for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
        const p = path.join(dir, e.name);
        if (e.isDirectory()) walk(p);
        else if (p.endsWith('.ts') && fs.readFileSync(p, 'utf8').includes('declare const OSDCAST_VERSION')) hits.push(path.relative(root, p));
      }
    };
    for (const d of ['agent', 'packaging', 'test/coordinator', 'test/demo', 'test/bench']) if (fs.existsSync(path.join(root, d))) walk(path.join(root, d));
    expect(hits).toEqual([path.join('agent', 'util', 'version.ts')]);
  });
});
