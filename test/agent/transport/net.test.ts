import dgram from 'node:dgram';
import fs from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { RECV_BUFFER_BYTES, closeSocket, isLocalAddress, isMulticast, macFor, openConnected, openMulticast, openUdpcast, openUnicast, routeTo, subnetBroadcast } from '../../../agent/transport/net';

// Every socket here is bound to, and every datagram sent to, 127.0.0.1 (the multicast socket only joins a group
// on the loopback interface; nothing is sent to the group).
const LO = '127.0.0.1';
const GROUP = '239.255.77.1';

const open: dgram.Socket[] = [];
afterEach(async () => {
  while (open.length) await closeSocket(open.pop());
});
const keep = <T extends dgram.Socket>(s: T): T => (open.push(s), s);

function plain(): Promise<dgram.Socket> {
  const s = keep(dgram.createSocket('udp4'));
  return new Promise((r) => s.bind(0, LO, () => r(s)));
}

/** Waits until `list` holds at least `n` entries. */
function next(list: unknown[], n = 1): Promise<void> {
  return new Promise((resolve, reject) => {
    const t0 = Date.now();
    const poll = () => (list.length >= n ? resolve() : Date.now() - t0 > 5000 ? reject(new Error('no datagram')) : setTimeout(poll, 5));
    poll();
  });
}

const port = (s: dgram.Socket) => s.address().port;

describe('UDP sockets', () => {
  it('unicast: bound to the interface on an ephemeral port, delivers what arrives', async () => {
    const got: { msg: Buffer; rinfo: dgram.RemoteInfo }[] = [];
    const s = keep(await openUnicast(LO, (msg, rinfo) => got.push({ msg, rinfo })));
    expect(s.address().address).toBe(LO);
    expect(port(s)).toBeGreaterThan(0);
    const peer = await plain();
    peer.send(Buffer.from('JOINACK'), port(s), LO);
    await next(got);
    expect(got[0]!.msg.toString()).toBe('JOINACK');
    expect(got[0]!.rinfo).toMatchObject({ address: LO, port: port(peer) });
  });

  it('connected: sends need no address and only the server it is connected to is heard', async () => {
    const server = await plain();
    const stranger = await plain();
    const atServer: Buffer[] = [];
    server.on('message', (m) => atServer.push(m));
    const got: { msg: Buffer; rinfo: dgram.RemoteInfo }[] = [];
    const s = keep(await openConnected(LO, { address: LO, port: port(server) }, (msg, rinfo) => got.push({ msg, rinfo })));
    expect(s.remoteAddress()).toMatchObject({ address: LO, port: port(server) });
    s.send(Buffer.from('ACK'));
    await next(atServer);
    await new Promise((r) => setTimeout(r, 20));
    expect(atServer.map(String)).toEqual(['ACK']);
    stranger.send(Buffer.from('forged'), port(s), LO);
    server.send(Buffer.from('from server'), port(s), LO);
    await next(got);
    await new Promise((r) => setTimeout(r, 50));
    expect(got.map((g) => g.msg.toString())).toEqual(['from server']);
  });

  it('errors after set-up are swallowed: ICMP port unreachable (ECONNREFUSED) and an emitted error do not throw', async () => {
    const gone = await plain();
    const p = port(gone);
    await closeSocket(open.pop()); // nobody listens on p now
    const s = keep(await openConnected(LO, { address: LO, port: p }, () => undefined));
    const seen: string[] = [];
    s.on('error', (e: NodeJS.ErrnoException) => seen.push(e.code ?? e.message));
    for (let i = 0; i < 3; i++) {
      s.send(Buffer.from('x'));
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(seen).toContain('ECONNREFUSED');
    expect(() => s.emit('error', new Error('later failure'))).not.toThrow();
    const u = keep(await openUnicast(LO, () => undefined));
    expect(u.listenerCount('error')).toBe(1);
    expect(() => u.emit('error', new Error('later failure'))).not.toThrow();
  });

  it('multicast: SO_REUSEADDR on the session port, the granted receive buffer reported (membership itself is not exercised: nothing is sent to a group)', async () => {
    const m = await openMulticast(GROUP, 0, LO, () => undefined);
    keep(m.socket);
    expect(m.socket.address().address).toBe('0.0.0.0');
    if (process.platform === 'linux') {
      // Linux doubles what is asked (for its bookkeeping) and caps the request at net.core.rmem_max
      const rmemMax = Number(fs.readFileSync('/proc/sys/net/core/rmem_max', 'utf8'));
      expect(m.granted).toBe(2 * Math.min(RECV_BUFFER_BYTES, rmemMax));
    } else {
      expect(m.granted).toBeGreaterThan(0);
    }
    // a second receiver on the same port (another agent on this host): reuseAddr lets it bind
    const again = await openMulticast(GROUP, port(m.socket), LO, () => undefined);
    keep(again.socket);
    expect(port(again.socket)).toBe(port(m.socket));
    expect(() => m.socket.emit('error', new Error('later failure'))).not.toThrow();
  });

  it('multicast set-up errors reject: a group that is not multicast, a port taken without SO_REUSEADDR', async () => {
    await expect(openMulticast(LO, 0, LO, () => undefined)).rejects.toMatchObject({ code: 'EINVAL' });
    const taken = keep(dgram.createSocket('udp4'));
    await new Promise<void>((r) => taken.bind(0, '0.0.0.0', () => r()));
    await expect(openMulticast(GROUP, port(taken), LO, () => undefined)).rejects.toMatchObject({ code: 'EADDRINUSE' });
  });

  it('closeSocket: closes, and is fine on undefined and on a closed socket', async () => {
    const s = await openUnicast(LO, () => undefined);
    await closeSocket(s);
    await closeSocket(s);
    await closeSocket(undefined);
    expect(() => s.address()).toThrow();
  });
});

describe('udpcast socket', () => {
  it('bound to 0.0.0.0:P with the big buffer, sends from P (the sender answers only port P), not shared: a second one on P fails', async () => {
    const got: { port: number }[] = [];
    const peer = await plain();
    peer.on('message', (_m, r) => got.push({ port: r.port }));
    const u = await openUdpcast(0, LO, () => undefined);
    keep(u.socket);
    const p = u.socket.address().port;
    expect(u.socket.address().address).toBe('0.0.0.0');
    expect(u.granted).toBeGreaterThan(0);
    u.socket.send(Buffer.from('x'), peer.address().port, LO);
    await new Promise((r) => setTimeout(r, 50));
    expect(got).toEqual([{ port: p }]);
    await expect(openUdpcast(p, LO, () => undefined)).rejects.toThrow(/EADDRINUSE/);
  });
});

describe('addresses', () => {
  it('subnetBroadcast from the netmask (loopback /8), undefined for a foreign address; isMulticast is 224.0.0.0/4', () => {
    expect(subnetBroadcast(LO)).toBe('127.255.255.255');
    expect(subnetBroadcast('192.0.2.77')).toBeUndefined();
    expect(['224.0.0.1', '234.77.0.1', '239.255.255.255'].map(isMulticast)).toEqual([true, true, true]);
    expect(['223.255.255.255', '240.0.0.1', '10.77.0.255'].map(isMulticast)).toEqual([false, false, false]);
  });

  it('routeTo: the local address towards a server (a UDP connect, no packet)', async () => {
    expect(await routeTo(LO, 9)).toBe(LO);
    expect(await routeTo('127.0.0.5', 9)).toBe(LO);
  });

  it('isLocalAddress / macFor: loopback is local with an all-zero MAC; an unknown address is neither', () => {
    expect(isLocalAddress(LO)).toBe(true);
    expect(isLocalAddress('192.0.2.1')).toBe(false);
    expect(macFor(LO)).toEqual(Buffer.alloc(6));
    expect(macFor('192.0.2.1')).toEqual(Buffer.alloc(6));
  });
});
