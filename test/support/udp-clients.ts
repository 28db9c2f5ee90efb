/**
 * Fake clients (sim.ts SimClient) on real sockets, for tests and demos against a running coordinator.
 */
import dgram from 'node:dgram';
import { ClientHost, SimClient, SimClientOpts } from '../coordinator/sim-client';

export interface CoordinatorAddress {
  port: number;
  iface: string;
  group: string;
  sessionId: number;
}

/**
 * Real-socket host for the fake clients: one unicast socket per client (as MS-WDSMT 3.2.3 says: any available
 * port) and one shared multicast socket bound to 0.0.0.0:port with reuseAddr, joined to the group.
 */
export class UdpHost implements ClientHost {
  readonly sessionId: number;
  readonly blockBase = 1;
  readonly totalBlocks: number;
  private readonly clients: { c: SimClient; sock: dgram.Socket }[] = [];
  private readonly timers = new Set<NodeJS.Timeout>();

  private constructor(
    private readonly r: CoordinatorAddress,
    private readonly mc: dgram.Socket,
    readonly size: number,
    readonly blockSize: number,
  ) {
    this.sessionId = r.sessionId;
    this.totalBlocks = Math.ceil(size / blockSize);
    mc.on('message', (m) => {
      for (const { c } of this.clients) c.onPacket(m);
    });
  }

  static async create(r: CoordinatorAddress, size: number, blockSize: number): Promise<UdpHost> {
    const mc = dgram.createSocket({ type: 'udp4', reuseAddr: true });
    await new Promise<void>((resolve) => mc.bind(r.port, '0.0.0.0', () => resolve()));
    mc.addMembership(r.group, r.iface);
    return new UdpHost(r, mc, size, blockSize);
  }

  get now(): number {
    return Math.floor(performance.timeOrigin + performance.now());
  }

  at(t: number, fn: () => void): void {
    const h = setTimeout(() => {
      this.timers.delete(h);
      fn();
    }, Math.max(0, t - this.now));
    this.timers.add(h);
  }

  toCoordinator(c: SimClient, buf: Buffer): void {
    const e = this.clients.find((x) => x.c === c);
    e?.sock.send(buf, this.r.port, this.r.iface);
  }

  /** A client with its own unicast socket (MS-WDSMT 3.2.3: "any available UDP port"), started at once. */
  async addClient(opts: SimClientOpts = {}): Promise<SimClient> {
    const sock = dgram.createSocket('udp4');
    await new Promise<void>((resolve) => sock.bind(0, this.r.iface, () => resolve()));
    const c = new SimClient(this, { ...opts, address: this.r.iface, port: sock.address().port }, this.clients.length);
    this.clients.push({ c, sock });
    sock.on('message', (m) => c.onPacket(m));
    c.start();
    return c;
  }

  async until(cond: () => boolean, ms: number): Promise<void> {
    const end = Date.now() + ms;
    while (!cond()) {
      if (Date.now() > end) throw new Error('timed out');
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  async close(): Promise<void> {
    for (const t of this.timers) clearTimeout(t);
    for (const { c } of this.clients) c.state = 'stopped';
    await Promise.all([this.mc, ...this.clients.map((x) => x.sock)].map((s) => new Promise<void>((r) => s.close(() => r()))));
  }
}
