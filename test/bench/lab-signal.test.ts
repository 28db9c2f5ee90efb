/**
 * test/bench/lab-bench.ts signalRun: GNU time does not pass a signal on to what it runs, so ending a timed
 * udp-receiver or udp-sender by signalling only /usr/bin/time left the tool running (and holding its port in the
 * lab namespace). signalRun signals the tool first. Checked on a plain `/usr/bin/time sleep 30`, no network.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { canRun } from '../support/env';
import { signalRun } from './lab-bench';

/** Running: exists and is not a zombie (an orphan whose parent died first is reaped by init, if ever, later). */
const alive = (pid: number) => {
  try {
    return !/^\d+ \(.*\) Z/.test(fs.readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
};

async function timedSleep() {
  const child = spawn('/usr/bin/time', ['-o', '/dev/null', 'sleep', '30'], { stdio: 'ignore' });
  let inner: number | undefined;
  for (let i = 0; i < 100 && !inner; i++) {
    await new Promise((r) => setTimeout(r, 20));
    const c = fs.readFileSync(`/proc/${child.pid}/task/${child.pid}/children`, 'utf8').trim();
    inner = c ? Number(c.split(/\s+/)[0]) : undefined;
  }
  const exited = new Promise((r) => child.once('exit', r));
  return { p: { pid: child.pid!, child }, inner: inner!, exited };
}

describe('lab bench signalRun', () => {
  it('ends the tool under /usr/bin/time, not only time (which would leave it running)', async (ctx) => {
    if (!canRun(fs.existsSync('/usr/bin/time'), 'GNU time (/usr/bin/time) is not installed')) return ctx.skip();
    const bare = await timedSleep();
    bare.p.child.kill('SIGKILL'); // what the bench did before
    await bare.exited;
    await new Promise((r) => setTimeout(r, 100));
    expect(alive(bare.inner)).toBe(true);
    process.kill(bare.inner, 'SIGKILL');

    const t = await timedSleep();
    signalRun(t.p, true, 'SIGTERM');
    await t.exited;
    await new Promise((r) => setTimeout(r, 100));
    expect(alive(t.inner)).toBe(false);
  });
});
