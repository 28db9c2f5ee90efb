import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Exit, OsdcastError } from '../../../agent/errors';
import { FileSink, sha256File } from '../../../agent/storage/sink';

let dir: string;
let out: string;
const sinks: FileSink[] = [];
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'osdcast-sink-'));
  out = path.join(dir, 'install.wim');
});
afterEach(() => {
  while (sinks.length) sinks.pop()!.close();
  fs.rmSync(dir, { recursive: true, force: true });
});
const open = (size: number, resume?: boolean) => {
  const s = FileSink.open(out, size, resume);
  sinks.push(s);
  return s;
};
const sha = (b: Buffer) => crypto.createHash('sha256').update(b).digest('hex');

function thrown(f: () => unknown): OsdcastError {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(OsdcastError);
    return e as OsdcastError;
  }
  throw new Error('expected a throw');
}

describe('FileSink', () => {
  it('writes go to <out>.partial (created at full size); <out> appears only on commit', async () => {
    const s = open(100);
    expect(s.partial).toBe(`${out}.partial`);
    expect(fs.statSync(s.partial).size).toBe(100);
    expect(fs.existsSync(out)).toBe(false);
    expect(await s.write([Buffer.from('abc'), Buffer.from('de')], 10)).toBe(5);
    expect(await s.write([Buffer.from('Z')], 99)).toBe(1);
    await s.sync();
    await s.finish();
    expect(fs.existsSync(out)).toBe(false);
    const want = Buffer.alloc(100);
    want.write('abcde', 10);
    want.write('Z', 99);
    expect(await s.hash()).toBe(sha(want));
    s.commit();
    expect(fs.readFileSync(out).equals(want)).toBe(true);
    expect(fs.existsSync(s.partial)).toBe(false);
  });

  it('an existing <out> is never written: its bytes stay until commit replaces it by rename', async () => {
    fs.writeFileSync(out, 'the previous image');
    const keep = path.join(dir, 'hardlink-to-previous');
    fs.linkSync(out, keep); // same inode: would show any write into the old file
    const s = open(8);
    await s.write([Buffer.from('NEWBYTES')], 0);
    await s.finish();
    expect(fs.readFileSync(out, 'utf8')).toBe('the previous image');
    s.commit();
    expect(fs.readFileSync(out, 'utf8')).toBe('NEWBYTES');
    expect(fs.readFileSync(keep, 'utf8')).toBe('the previous image');
  });

  it('resume keeps a partial file of the right size; otherwise (or without resume) it starts afresh', async () => {
    fs.writeFileSync(`${out}.partial`, Buffer.alloc(16, 7));
    expect(FileSink.canResume(out, 16)).toBe(true);
    expect(FileSink.canResume(out, 17)).toBe(false);
    open(16, true).close();
    expect(fs.readFileSync(`${out}.partial`).equals(Buffer.alloc(16, 7))).toBe(true);
    open(32, true).close(); // wrong size: recreated
    expect(fs.readFileSync(`${out}.partial`).equals(Buffer.alloc(32))).toBe(true);
    fs.writeFileSync(`${out}.partial`, Buffer.alloc(32, 7));
    open(32).close(); // no resume: truncated
    expect(fs.readFileSync(`${out}.partial`).equals(Buffer.alloc(32))).toBe(true);
    fs.writeFileSync(`${out}.partial`, Buffer.alloc(32, 7));
    expect(FileSink.canResume(out, 16)).toBe(false);
    open(16, true).close(); // too long: recreated too
    expect(fs.readFileSync(`${out}.partial`).equals(Buffer.alloc(16))).toBe(true);
    fs.rmSync(`${out}.partial`);
    expect(FileSink.canResume(out, 32)).toBe(false);
  });

  it('a partial file that cannot be created is an io error (exit 6) naming it', () => {
    out = path.join(dir, 'no-such-dir', 'install.wim');
    const e = thrown(() => FileSink.open(out, 10));
    expect(e).toMatchObject({ kind: 'io', exitCode: Exit.LOCAL_IO });
    expect(e.message).toBe(`cannot create ${out}.partial: ENOENT: no such file or directory, open '${out}.partial'`);
  });

  it('a commit that cannot rename is an io error naming both files', () => {
    const s = open(1);
    s.close();
    s.close(); // twice is fine
    fs.rmSync(s.partial);
    const e = thrown(() => s.commit());
    expect(e.kind).toBe('io');
    expect(e.message).toMatch(new RegExp(`^cannot rename ${s.partial.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} to .*install\\.wim: ENOENT`));
  });

  it('writes, sync and finish after close fail (the file is not reopened behind the caller)', async () => {
    const s = open(4);
    s.close();
    // An io error that says what happened (was Node's RangeError about fd -1)
    await expect(s.write([Buffer.from('x')], 0)).rejects.toMatchObject({ kind: 'io', message: expect.stringMatching(/^cannot write to .*\.partial: the file is already closed$/) });
    await expect(s.sync()).rejects.toMatchObject({ kind: 'io', message: expect.stringMatching(/^cannot flush .*\.partial: the file is already closed$/) });
    await expect(s.finish()).rejects.toMatchObject({ kind: 'io', message: expect.stringMatching(/^cannot flush .*\.partial: /) });
  });

  it('sha256File streams a file; a missing one is an io error', async () => {
    const f = path.join(dir, 'f');
    const data = crypto.randomBytes(3 << 20);
    fs.writeFileSync(f, data);
    expect(await sha256File(f)).toBe(sha(data));
    // a tail shorter than one read, and an empty file
    const tail = crypto.randomBytes((3 << 20) + 17);
    fs.writeFileSync(f, tail);
    expect(await sha256File(f)).toBe(sha(tail));
    fs.writeFileSync(f, Buffer.alloc(0));
    expect(await sha256File(f)).toBe(sha(Buffer.alloc(0)));
    await expect(sha256File(path.join(dir, 'missing'))).rejects.toMatchObject({ kind: 'io', message: expect.stringMatching(/^cannot read .*missing: /) });
  });
});
