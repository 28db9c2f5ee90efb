/**
 * agent/storage/out-path.ts: --out checked before anything happens. A folder is a usage error; a parent that does
 * not exist, is a file, or is read-only (a read-only tmpfs mount, as root) is exit 6; nothing is created.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkOut } from '../../../agent/storage/out-path';
import { canRun } from '../../support/env';

let dir: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'osdcast-out-'));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const listing = () => fs.readdirSync(dir).sort();

describe('checkOut', () => {
  it('a file name in a writable folder is fine (existing or not)', () => {
    expect(checkOut(path.join(dir, 'install.wim'))).toBeUndefined();
    fs.writeFileSync(path.join(dir, 'old.wim'), 'x');
    expect(checkOut(path.join(dir, 'old.wim'))).toBeUndefined();
  });

  it.each([[''], ['/'], ['.'], ['..']])('a folder is a usage error: %j + name / as given', (suffix) => {
    const out = suffix === '' ? dir : suffix === '/' ? `${dir}/` : suffix;
    const p = checkOut(out);
    expect(p?.kind).toBe('usage');
    expect(p!.message).toMatch(/^--out .* (is|names) a folder; give a file name, e\.g\. .*install\.wim$/);
  });

  it('a parent folder that does not exist is exit 6 naming it; nothing is created', () => {
    const before = listing();
    const p = checkOut(path.join(dir, 'no', 'such', 'x.wim'));
    expect(p).toEqual({ kind: 'io', message: `--out ${path.join(dir, 'no', 'such', 'x.wim')}: folder ${path.join(dir, 'no', 'such')} does not exist` });
    expect(listing()).toEqual(before);
  });

  it('a parent that is a file is exit 6', () => {
    fs.writeFileSync(path.join(dir, 'afile'), 'x');
    expect(checkOut(path.join(dir, 'afile', 'x.wim'))).toMatchObject({ kind: 'io', message: expect.stringMatching(/folder .*afile is not a folder/) });
  });

  it('a parent on a read-only file system is exit 6 (a read-only tmpfs mount; root)', () => {
    const root = process.getuid?.() === 0;
    if (!canRun(root && process.platform === 'linux', 'mounting a read-only tmpfs needs root on Linux')) return;
    const ro = path.join(dir, 'ro');
    fs.mkdirSync(ro);
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'ro,size=1m', 'tmpfs', ro]);
    try {
      const p = checkOut(path.join(ro, 'x.wim'));
      expect(p).toEqual({ kind: 'io', message: `--out ${path.join(ro, 'x.wim')}: folder ${ro} is on a read-only file system (EROFS)` });
      expect(fs.readdirSync(ro)).toEqual([]);
    } finally {
      execFileSync('umount', [ro]);
    }
  });

  it('a folder without write permission is exit 6 (stand-in fs: root may write anywhere)', () => {
    const enoent = () => {
      throw Object.assign(new Error('ENOENT'), { code: 'ENOENT' });
    };
    const fsStub = {
      statSync: ((p: string) => (p.endsWith('x.wim') ? enoent() : { isDirectory: () => true })) as unknown as typeof fs.statSync,
      accessSync: (() => {
        throw Object.assign(new Error('EACCES: permission denied'), { code: 'EACCES' });
      }) as typeof fs.accessSync,
    };
    expect(checkOut('/srv/images/x.wim', fsStub)).toEqual({ kind: 'io', message: '--out /srv/images/x.wim: folder /srv/images is not writable: permission denied (EACCES)' });
  });
});
