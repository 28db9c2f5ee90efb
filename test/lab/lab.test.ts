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
  it('sets IPv4 reassembly per host namespace when asked (ipfrag), kernel defaults otherwise', async (ctx) => {
    if (!canRun(!why, why ?? '')) return ctx.skip();
    const read = (l: Lab, h: string) => l.exec(h, ['sysctl', '-n', 'net.ipv4.ipfrag_time', 'net.ipv4.ipfrag_high_thresh']).then((o) => o.trim().split(/\s+/).map(Number));
    const plain = await createLab({ hosts: [{ name: 'a', host: 1 }] });
    labs.push(plain);
    const [t0] = await read(plain, 'a');
    expect(t0).not.toBe(3);
    const lab = await createLab({ hosts: [{ name: 'a', host: 1 }, { name: 'b', host: 2 }], subnet: '10.77.1', ipfrag: { timeS: 3, highThreshBytes: 48 << 20 } });
    labs.push(lab);
    for (const h of ['a', 'b']) expect(await read(lab, h)).toEqual([3, 48 << 20]);
  });

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

  it('shapes a sender with tbf, drops a random share towards one port and counts it, and reads the namespace\'s UDP counters', async (ctx) => {
    if (!canRun(!why, why ?? '')) return ctx.skip();
    const lab = await createLab({ hosts: [{ name: 'a', host: 1 }, { name: 'b', host: 2 }, { name: 'c', host: 3 }] });
    labs.push(lab);
    await lab.shape('a', 100);
    await lab.impair(['b', 'c'], { lossPer10k: 5000 });
    const n = 2000;
    // Large datagrams (data, by the counters' rule), an 8 MiB buffer so the receivers drop none.
    const big = (iface: string) => `
const s = require('node:dgram').createSocket({ type: 'udp4', reuseAddr: true, recvBufferSize: 8 << 20 });
const h = require('node:crypto').createHash('sha256');
let n = 0;
s.on('message', (m) => { if (m.length === 1200) { n++; h.update(m.subarray(0, 4)); } });
process.on('SIGTERM', () => { console.log('got ' + n + ' ' + h.digest('hex')); process.exit(0); });
s.bind(${PORT}, '0.0.0.0', () => { s.addMembership('${GROUP}', '${iface}'); console.log('ready'); });`;
    const rxs = ['b', 'c'].map((h) => lab.start(h, [process.execPath, '-e', big(lab.address(h))]));
    for (const r of rxs) await r.line((l) => l === 'ready');
    const snmp0 = await lab.udpSnmp('b');
    const tx = lab.start('a', [process.execPath, '-e', sender(lab.address('a'), n).replace("'hello ' + i++", "(() => { const b = Buffer.alloc(1200); b.writeUInt32BE(i++); return b; })()")]);
    expect((await tx.exited).code).toBe(0);
    await new Promise((r) => setTimeout(r, 500));
    const c = await lab.counters();
    const got: number[] = [];
    const which: string[] = [];
    for (const r of rxs) {
      r.child.kill('SIGTERM');
      const m = /got (\d+) ([0-9a-f]+)/.exec(await r.line((l) => l.startsWith('got ')))!;
      got.push(Number(m[1]));
      which.push(m[2]!);
    }
    for (const [i, h] of ['b', 'c'].entries()) {
      expect(c[`${h}_seen`]).toBe(n);
      expect(c[`${h}_lost`]! + c[`${h}_data`]!).toBe(n);
      expect(c[`${h}_lost`]).toBeGreaterThan(n * 0.4);
      expect(c[`${h}_lost`]).toBeLessThan(n * 0.6);
      expect(got[i]).toBe(c[`${h}_data`]);
    }
    // independent draws per port: the two receivers got different sets of datagrams (a hash of the sequence numbers
    // each received, in order; equal counts alone happen by chance)
    expect(which[0]).not.toBe(which[1]);
    const q = await lab.qdisc('a');
    expect(q).toMatchObject({ kind: 'tbf', dropped: 0 });
    expect(q.packets).toBeGreaterThanOrEqual(n);
    expect(q.overlimits).toBeGreaterThan(0); // the bucket ran dry: the rate, not the sender, set the pace
    const snmp1 = await lab.udpSnmp('b');
    expect(snmp1.InDatagrams! - snmp0.InDatagrams!).toBe(got[0]);
    expect(snmp1.RcvbufErrors).toBe(snmp0.RcvbufErrors);
    await lab.shape('a', undefined);
    expect((await lab.qdisc('a')).kind).not.toBe('tbf');
  }, 30_000);

  it('removes what it built when building fails', async (ctx) => {
    if (!canRun(!why, why ?? '')) return ctx.skip();
    const before = allNamespaces();
    await expect(createLab({ hosts: [{ name: 'ok', host: 1 }, { name: 'Bad-Name', host: 2 }] })).rejects.toThrow(/lab host name/);
    expect(allNamespaces()).toBe(before);
  }, 30_000);
});
