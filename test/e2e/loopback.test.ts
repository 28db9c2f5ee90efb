/**
 * End to end on loopback multicast: the coordinator (DP side) and several in-process agents.
 * 64 MiB random image, three agents, one joining after about 40 % has been sent; every output's SHA-256
 * must equal the source. Then with 2 % ODATA drop at the coordinator, and with independent 2 % loss per agent.
 */
import { afterEach, describe, expect, it } from 'vitest';
import fs from 'node:fs';
import path from 'node:path';
import { startCoordinator } from '../coordinator/udp';
import { randomImage, runAgent, seeded, sha256, tempDir } from './harness';

const MIB = 1024 * 1024;
const SIZE = 64 * MIB;
const image = randomImage(SIZE, 7);
const want = sha256(image);
const NS = 'WDS:E2E/image.wim/1';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

async function scenario(opts: { dropPercent?: number; agentLoss?: number; seed: number }) {
  const coord = await startCoordinator({ data: image, namespace: NS, content: 'image.wim', msiPort: 0, port: 0, iface: '127.0.0.1', dropPercent: opts.dropPercent ?? 0 });
  cleanups.push(() => coord.stop());
  const dir = tempDir();
  cleanups.push(() => fs.rmSync(dir, { recursive: true, force: true }));
  const base = { server: '127.0.0.1', port: coord.msiPort, namespace: NS, content: 'image.wim' };
  const loss = (i: number) => (opts.agentLoss ? { dropRate: opts.agentLoss, dropRng: seeded(opts.seed * 31 + i) } : {});
  let lateStarted: (() => void) | undefined;
  const reachedForty = new Promise<void>((res) => (lateStarted = res));
  const a = runAgent({ ...base, out: path.join(dir, 'a.wim') }, { ...loss(1), onProgress: (p) => p.blocks / p.totalBlocks >= 0.4 && lateStarted!() });
  const b = runAgent({ ...base, out: path.join(dir, 'b.wim') }, loss(2));
  await Promise.race([reachedForty, a]);
  const c = runAgent({ ...base, out: path.join(dir, 'c.wim') }, loss(3));
  const reports = await Promise.all([a, b, c]);
  for (const [i, r] of reports.entries()) {
    expect(r, `agent ${'abc'[i]}: ${r.error}`).toMatchObject({ status: 'ok', exitCode: 0, bytes: SIZE, sha256: want });
    expect(sha256(fs.readFileSync(path.join(dir, `${'abc'[i]}.wim`)))).toBe(want);
    expect(fs.existsSync(path.join(dir, `${'abc'[i]}.wim.partial`))).toBe(false);
  }
  return { coord, reports };
}

describe('loopback multicast end to end', () => {
  it('delivers 64 MiB to three agents, one joining late at ~40 %', async () => {
    const { coord } = await scenario({ seed: 1 });
    expect(coord.coordinator.stats.odataSent).toBeGreaterThan(SIZE / 1385);
  }, 120_000);

  it('repairs a 2 % ODATA drop at the coordinator', async () => {
    const { coord } = await scenario({ dropPercent: 2, seed: 2 });
    expect(coord.coordinator.stats.droppedOdata).toBeGreaterThan(0);
  }, 180_000);

  it('repairs independent 2 % loss per agent (NACK/RDATA and MA repair rounds)', async () => {
    const { coord } = await scenario({ agentLoss: 0.02, seed: 3 });
    expect(coord.coordinator.stats.nacksReceived).toBeGreaterThan(0);
  }, 180_000);
});
