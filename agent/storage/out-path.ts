/**
 * `--out` checked before anything else happens (no request to the DP, no file touched): a folder is a usage error
 * (exit 2); a parent folder that does not exist, is not a folder, or cannot be written (read-only file system,
 * permission) is a local I/O error (exit 6). Each is one line naming the path and the cause. Only stat and
 * access are used: nothing is created, so a rejected --out leaves the disk as it was.
 */
import nodeFs from 'node:fs';
import path from 'node:path';
import type { FailureKind } from '../../core/outcome';

export interface OutProblem {
  kind: Extract<FailureKind, 'usage' | 'io'>;
  message: string;
}

type OutFs = Pick<typeof nodeFs, 'statSync' | 'accessSync'>;

const code = (e: unknown) => (e as NodeJS.ErrnoException).code ?? '';

/** undefined when `<out>` (and `<out>.partial`, `<out>.osdcast` beside it) can be written; else what is wrong. */
export function checkOut(out: string, fs: OutFs = nodeFs): OutProblem | undefined {
  const folder = (why: string): OutProblem => ({ kind: 'usage', message: `--out ${out} ${why}; give a file name, e.g. ${path.join(out, 'install.wim')}` });
  if (/[\\/]$/.test(out) || out === '.' || out === '..') return folder('names a folder');
  try {
    if (fs.statSync(out).isDirectory()) return folder('is a folder');
  } catch (e) {
    if (code(e) !== 'ENOENT' && code(e) !== 'ENOTDIR') return { kind: 'io', message: `--out ${out}: ${(e as Error).message}` };
  }
  const parent = path.dirname(path.resolve(out));
  const io = (why: string, c?: string): OutProblem => ({ kind: 'io', message: `--out ${out}: folder ${parent} ${why}${c ? ` (${c})` : ''}` });
  try {
    if (!fs.statSync(parent).isDirectory()) return io('is not a folder');
  } catch (e) {
    if (code(e) === 'ENOENT') return io('does not exist');
    if (code(e) === 'ENOTDIR') return io('is not a folder (a part of its path is a file)');
    if (code(e) === 'EACCES' || code(e) === 'EPERM') return io('cannot be reached: permission denied', code(e));
    return io(`cannot be read: ${(e as Error).message}`);
  }
  try {
    fs.accessSync(parent, nodeFs.constants.W_OK | nodeFs.constants.X_OK);
  } catch (e) {
    if (code(e) === 'EROFS') return io('is on a read-only file system', 'EROFS');
    if (code(e) === 'EACCES' || code(e) === 'EPERM') return io('is not writable: permission denied', code(e));
    return io(`is not writable: ${(e as Error).message}`);
  }
  return undefined;
}
