/**
 * The do-nothing Node listener: Node's own floor for receiving one multicast stream on this machine. It joins
 * the group, copies each datagram once into an arena and writes the arena with one positional `writev` every 64
 * datagrams, and nothing else: no parsing, no checksum, no ACK, no timers per datagram. The bench runs it beside
 * the agent on the same stream, so "agent µs/datagram ÷ floor µs/datagram" is the project's own share.
 *
 *   node dist/bench.cjs --floor-listener --group <addr> --port <n> --interface <ip> --out <file> [--idle-ms <ms>]
 *
 * It exits `--idle-ms` (default 3000) after the last datagram, or on SIGTERM, and prints one JSON line:
 * `{ datagrams, bytes, cpuUs, wallMs, rcvbuf }`, where `cpuUs` is user + system CPU from the first datagram to the
 * exit (start-up excluded; an idle process spends next to nothing) and `wallMs` from the first datagram to the
 * last flush.
 */
import dgram from 'node:dgram';
import fs from 'node:fs';

interface FloorResult {
  datagrams: number;
  bytes: number;
  cpuUs: number;
  wallMs: number;
  rcvbuf: number;
}

const BATCH = 64;
const SLOT = 9000;

export function runFloorListener(argv: string[]): void {
  const arg = (name: string, dflt?: string): string => {
    const i = argv.indexOf(name);
    const v = i >= 0 ? argv[i + 1] : dflt;
    if (v === undefined) throw new Error(`--floor-listener needs ${name}`);
    return v;
  };
  const group = arg('--group');
  const port = Number(arg('--port'));
  const iface = arg('--interface');
  const idleMs = Number(arg('--idle-ms', '3000'));
  const fd = fs.openSync(arg('--out'), 'w');
  const arena = Buffer.allocUnsafe(SLOT * BATCH);
  const views: Buffer[] = new Array(BATCH);
  let n = 0;
  let used = 0;
  let pos = 0;
  let datagrams = 0;
  let bytes = 0;
  let cpuFirst = 0;
  let tFirst = 0;
  let tLast = 0;
  const cpu = (): number => {
    const u = process.cpuUsage();
    return u.user + u.system;
  };
  const flush = (): void => {
    if (n === 0) return;
    fs.writevSync(fd, views.slice(0, n), pos);
    pos += used;
    tLast = performance.now();
    n = 0;
    used = 0;
  };
  const sock = dgram.createSocket({ type: 'udp4', reuseAddr: true, recvBufferSize: 32 << 20 });
  sock.on('message', (msg) => {
    if (datagrams === 0) {
      cpuFirst = cpu();
      tFirst = performance.now();
    }
    const len = msg.copy(arena, used);
    views[n++] = arena.subarray(used, used + len);
    used += len;
    datagrams++;
    bytes += len;
    if (n === BATCH) flush();
  });
  let rcvbuf = 0;
  const finish = (): void => {
    flush();
    fs.closeSync(fd);
    const r: FloorResult = { datagrams, bytes, cpuUs: datagrams ? cpu() - cpuFirst : 0, wallMs: tLast - tFirst, rcvbuf };
    process.stdout.write(JSON.stringify(r) + '\n');
    sock.close();
    process.exit(0);
  };
  // Idle check on an interval (not per datagram).
  let seenAtTick = 0;
  setInterval(() => {
    if (datagrams > 0 && datagrams === seenAtTick) finish();
    seenAtTick = datagrams;
  }, Math.max(100, idleMs));
  process.on('SIGTERM', finish);
  sock.bind(port, () => {
    sock.addMembership(group, iface);
    rcvbuf = sock.getRecvBufferSize();
    process.stdout.write(JSON.stringify({ listening: true, rcvbuf }) + '\n');
  });
}
