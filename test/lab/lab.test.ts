/**
 * The namespace lab itself (test/lab/lab.ts): multicast crosses the bridge between host namespaces, an nftables
 * counter at the bridge sees it, and teardown ends the processes started and removes every namespace.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { canRun } from '../support/env';
import { Lab, createLab, labUnavailable } from './lab';

const why = labUnavailable({ nft: true });
const labs: Lab[] = [];
afterEach(async () => {
  while (labs.length) await labs.pop()!.teardown();
});

const GROUP = '239.255.77.1';
const PORT = 47001;
/** Joins the group on its address, prints each datagram's source and text, one JSON line each. */
const listener = (iface: string) => `
const s = require('node:dgram').createSocket({ type: 'udp4', reuseAddr: true });
s.on('message', (m, r) => console.log(JSON.stringify({ from: r.address, text: m.toString() })));
s.bind(${PORT}, '0.0.0.0', () => { s.addMembership('${GROUP}', '${iface}'); console.log('ready'); });`;
const sender = (iface: string, n: number) => `
const s = require('node:dgram').createSocket('udp4');
s.bind(0, '${iface}', () => { s.setMulticastInterface('${iface}'); let i = 0;
  const next = () => i < ${n} ? s.send('hello ' + i++, ${PORT}, '${GROUP}', next) : s.close(); next(); });`;

const allNamespaces = () => execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' });

describe('namespace lab', () => {
  it('carries multicast from one host namespace to another across the bridge, then tears everything down', async (ctx) => {
    if (!canRun(!why, why ?? '')) return ctx.skip();
    const lab = await createLab({ hosts: [{ name: 'a', host: 1 }, { name: 'b', host: 2 }] });
    labs.push(lab);
    expect(lab.existing()).toHaveLength(3);
    expect(await lab.exec('b', ['ip', '-4', '-o', 'addr', 'show', 'dev', 'eth0'])).toContain('10.77.0.2/24');
    await lab.nft('switch', `table bridge labtest {\n chain seen {\n  type filter hook forward priority 0; policy accept;\n  iifname "p-a" oifname "p-b" udp dport ${PORT} counter\n }\n}\n`);
    const rx = lab.start('b', [process.execPath, '-e', listener(lab.address('b'))]);
    await rx.line((l) => l === 'ready');
    const tx = lab.start('a', [process.execPath, '-e', sender(lab.address('a'), 5)]);
    expect((await tx.exited).code).toBe(0);
    await rx.line((l) => l.includes('hello 4'), 5000);
    const got = rx.stdout().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as { from: string; text: string });
    expect(got.map((g) => g.text)).toEqual(['hello 0', 'hello 1', 'hello 2', 'hello 3', 'hello 4']);
    expect(new Set(got.map((g) => g.from))).toEqual(new Set(['10.77.0.1']));
    expect(await lab.counter('switch', 'bridge', 'labtest', 'seen')).toBe(5);

    const pid = rx.pid;
    await lab.teardown();
    expect(lab.existing()).toEqual([]);
    expect(() => process.kill(pid, 0)).toThrow(); // the listener that never exits by itself was ended
    expect(rx.child.exitCode !== null || rx.child.signalCode !== null).toBe(true);
  }, 30_000);

  it('removes what it built when building fails', async (ctx) => {
    if (!canRun(!why, why ?? '')) return ctx.skip();
    const before = allNamespaces();
    await expect(createLab({ hosts: [{ name: 'ok', host: 1 }, { name: 'Bad-Name', host: 2 }] })).rejects.toThrow(/lab host name/);
    expect(allNamespaces()).toBe(before);
  }, 30_000);
});
