/** agent/configmgr/package-paths.ts: which listed names may become paths under the destination folder. */
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { joinInside, safeRelativePath, segmentProblem, UnsafePathError } from '../../../agent/configmgr/package-paths';

describe('path rules', () => {
  const root = 'http://dp/SMS_DP_SMSPKG$/PKG00001';
  const base = `${root}/`;
  it.each([
    ['/SMS_DP_SMSPKG$/PKG00001/a.txt', ['a.txt']],
    ['/SMS_DP_SMSPKG%24/pkg00001/Sub%20Dir/b%26c.bin', ['Sub Dir', 'b&c.bin']],
    ['http://dp/SMS_DP_SMSPKG$/PKG00001/x/', ['x']],
    ['/SMS_DP_SMSPKG$/PKG00001/', []],
    ['y.txt', ['y.txt']],
  ])('accepts %j', (href, rel) => {
    expect(safeRelativePath(root, base, href)).toEqual(rel);
  });

  it.each([
    ['/SMS_DP_SMSPKG$/PKG00001/../../etc/passwd', /leave the package/],
    ['/SMS_DP_SMSPKG$/PKG00001/%2e%2e/x', /leave the package/],
    ['/SMS_DP_SMSPKG$/PKG00001/a/%2E%2E/%2E%2E/x', /leave the package/],
    ['/SMS_DP_SMSPKG$/PKG00001/..%2F..%2Fx', /separator/],
    ['/SMS_DP_SMSPKG$/PKG00001/..%5C..%5Cx', /separator/],
    ['/SMS_DP_SMSPKG$/PKG00001/a\\b', /backslash/],
    ['/SMS_DP_SMSPKG$/PKG00001/C%3A%5Cwindows', /separator|drive letter/],
    ['/SMS_DP_SMSPKG$/PKG00001/C:', /drive letter/],
    ['/SMS_DP_SMSPKG$/PKG00001/a%00b', /NUL/],
    ['/SMS_DP_SMSPKG$/PKG00002/a.txt', /outside the package/],
    ['/etc/passwd', /outside the package/],
    ['http://evil/SMS_DP_SMSPKG$/PKG00001/a.txt', /another server/],
    ['//evil/SMS_DP_SMSPKG$/PKG00001/a.txt', /another server/],
    ['/SMS_DP_SMSPKG$/PKG00001/..%20', /dot or space/],
    ['/SMS_DP_SMSPKG$/PKG00001/a/..%20/..%20/x', /dot or space/],
    ['/SMS_DP_SMSPKG$/PKG00001/CON.txt', /device/],
    ['/SMS_DP_SMSPKG$/PKG00001/a%ZZ', /percent-encoding/],
    ['/SMS_DP_SMSPKG$/PKG00001/a%7Cb', /Windows file name/],
  ])('refuses %j', (href, msg) => {
    expect(() => safeRelativePath(root, base, href)).toThrow(UnsafePathError);
    expect(() => safeRelativePath(root, base, href)).toThrow(msg);
  });

  it('segmentProblem and joinInside keep names inside the destination', () => {
    expect(segmentProblem('install.wim')).toBeUndefined();
    expect(segmentProblem('..')).toMatch(/leave/);
    const dest = path.resolve('/tmp/dest');
    expect(joinInside(dest, ['a', 'b.txt'])).toBe(path.join(dest, 'a', 'b.txt'));
    expect(() => joinInside(dest, ['..', 'x'])).toThrow(UnsafePathError);
    expect(() => joinInside(dest, ['/etc'])).toThrow(UnsafePathError);
  });
});
