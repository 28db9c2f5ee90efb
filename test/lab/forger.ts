/**
 * A forging host for the namespace lab (issue 7), bundled to dist/lab-forger.cjs:
 *
 *   node dist/lab-forger.cjs --group 239.192.0.1 --port 64001 --iface 10.77.0.66 --count 2000 --skip 300
 *
 * Listens to the session's group, and once it has seen `skip` real ODATA (the transfer is live) answers each real
 * ODATA with a forged one until `count` were sent: the same session id and security mode, a valid CHECKSUM
 * (encodeMt computes it), a sequence number in or just ahead of the window (real + 0..ahead), the block number
 * that sequence number carries in the first pass (real + the same offset), a random payload of the real length.
 * Sent from its own address to the group and port. Prints one JSON line when done: {"event":"done","sent":n,...}.
 */
import { randomBytes, randomInt } from 'node:crypto';
import dgram from 'node:dgram';
import { parseArgs } from 'node:util';
import { MaOp, decodeMa, encodeMa } from '../../core/codec/ma';
import { Op, SecMode, decodeMt, encodeMt } from '../../core/codec/mt';

const { values } = parseArgs({
  options: {
    group: { type: 'string' },
    port: { type: 'string' },
    iface: { type: 'string' },
    count: { type: 'string', default: '2000' },
    skip: { type: 'string', default: '300' },
    ahead: { type: 'string', default: '8' },
  },
});
if (!values.group || !values.port || !values.iface) {
  process.stderr.write('lab-forger: --group, --port and --iface are required\n');
  process.exit(2);
}
const group = values.group;
const port = Number(values.port);
const iface = values.iface;
const count = Number(values.count);
const skip = Number(values.skip);
const ahead = Number(values.ahead);

const sock = dgram.createSocket({ type: 'udp4', reuseAddr: true });
let seen = 0;
let queued = 0;
let sent = 0;
let failed = 0;
let fullLength = 0;

function finishIfDone(): void {
  if (queued < count || sent + failed < queued) return;
  process.stdout.write(JSON.stringify({ event: 'done', sent, failed, seenOdata: seen }) + '\n');
  sock.close(() => process.exit(0));
}

sock.on('message', (msg, rinfo) => {
  if (rinfo.address === iface || queued >= count) return;
  const d = decodeMt(msg, { from: 'server' });
  if (!d.ok) return;
  const p = d.value;
  const b = p.body;
  if (b.op !== Op.ODATA) return;
  const ma = decodeMa(b.data);
  if (!ma.ok || ma.value.op !== MaOp.DATA) return;
  const len = ma.value.data.length;
  fullLength = Math.max(fullLength, len);
  if (++seen <= skip) return;
  // A short (last) block has no successor to jump ahead to.
  const k = len < fullLength ? 0 : randomInt(0, ahead + 1);
  const forged = encodeMt(
    { op: Op.ODATA, clientId: b.clientId, seq: b.seq + k, trailSeq: b.trailSeq, data: encodeMa({ op: MaOp.DATA, blockNumber: ma.value.blockNumber + k, data: randomBytes(len) }) },
    { secMode: p.secType as SecMode, sessionId: p.sessionId, senderTime: p.senderTime },
  );
  queued++;
  sock.send(forged, port, group, (err) => {
    if (err) failed++;
    else sent++;
    finishIfDone();
  });
});

sock.bind(port, '0.0.0.0', () => {
  sock.addMembership(group, iface);
  sock.setMulticastInterface(iface);
  sock.setMulticastLoopback(false);
  process.stdout.write(JSON.stringify({ event: 'listening', group, port, iface }) + '\n');
});
process.on('SIGTERM', () => {
  process.stdout.write(JSON.stringify({ event: 'stopped', sent, failed, seenOdata: seen }) + '\n');
  process.exit(0);
});
