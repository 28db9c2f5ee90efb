/**
 * A forging host for the namespace lab (issue 7), bundled to dist/lab-forger.cjs:
 *
 *   node dist/lab-forger.cjs --group 239.192.0.1 --port 64001 --iface 10.77.0.66 --count 2000 --skip 300
 *
 * Listens to the session's group, and once it has seen `skip` real ODATA (the transfer is live) answers each real
 * ODATA with a forged one until `count` were sent: the same session id and security mode, a sequence number in or
 * just ahead of the window (real + 0..ahead), the block number that sequence number carries in the first pass
 * (real + the same offset), a random payload of the real length. Its SecurityData: in a CHECKSUM session a valid
 * checksum (encodeMt computes it); in a HASH or SIGN session, whose key the forger does not have, random bytes of
 * the real packet's SecurityDataLen (a well-formed packet whose HMAC or signature is wrong).
 *
 * Sent to the group and port from `iface` on a port of its own. `iface` may be the coordinator's own address (the
 * forger then runs in the coordinator's namespace, hears the session over multicast loopback, and its packets
 * carry the server's source address, which is all a receiver checks: MS-WDSMT fixes no source port).
 * Prints one JSON line when done: {"event":"done","sent":n,"secType":t,...}.
 *
 * With `--kinds wrongSession,badChecksum,…` (issue 11 point 3; the kinds of test/support/hostile.ts) it sends, instead
 * of forged ODATA, one hostile packet of the next kind in turn for every `--every`-th real ODATA after `skip`, made
 * from that real ODATA (CHECKSUM sessions only; `--total-blocks` for outOfRange); `replayed` re-sends the last real
 * SPM / QCC / POLL heard after `skip` (the agent has it already: it went out first, on the same link). `--server`
 * limits what counts as the session's packets to those from that address (default with `--kinds`: `iface`). The done line
 * then carries `byKind` (packets sent of each kind).
 */
import { randomBytes, randomInt } from 'node:crypto';
import dgram from 'node:dgram';
import { parseArgs } from 'node:util';
import { MaOp, decodeMa, encodeMa } from '../../core/codec/ma';
import { Op, Sec, SecMode, decodeMt, encodeMt, type MtPacket } from '../../core/codec/mt';
import type { PacketAuth } from '../../core/codec/mt-security';
import { HOSTILE_KINDS, HostileContext, HostileKind, hostilePacket } from '../support/hostile';

const { values } = parseArgs({
  options: {
    group: { type: 'string' },
    port: { type: 'string' },
    iface: { type: 'string' },
    count: { type: 'string', default: '2000' },
    skip: { type: 'string', default: '300' },
    ahead: { type: 'string', default: '8' },
    kinds: { type: 'string' },
    every: { type: 'string', default: '1' },
    'total-blocks': { type: 'string', default: '0' },
    server: { type: 'string' },
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
const kinds = (values.kinds ?? '').split(',').filter(Boolean) as HostileKind[];
const every = Math.max(1, Number(values.every));
const totalBlocks = Number(values['total-blocks']);
for (const k of kinds) {
  if (!(HOSTILE_KINDS as readonly string[]).includes(k)) {
    process.stderr.write(`lab-forger: unknown kind ${k} (one of ${HOSTILE_KINDS.join(', ')})\n`);
    process.exit(2);
  }
}
if (kinds.includes('outOfRange') && !(totalBlocks > 0)) {
  process.stderr.write('lab-forger: outOfRange needs --total-blocks\n');
  process.exit(2);
}
/**
 * Only packets from this address are taken as the session's (`--server`; with `--kinds` it defaults to `iface`, the
 * coordinator's): so an injector never builds on another injector's packets (a copy of a wrong-session packet
 * would be a wrong-session packet of another kind).
 */
const server = values.server ?? (kinds.length ? iface : undefined);
const byKind: Partial<Record<HostileKind, number>> = {};
const control: NonNullable<HostileContext['control']> = {};

// `sock` hears the group; `out` sends from iface on a port of its own (not the session port, which the coordinator's
// session socket may hold on the same address).
const sock = dgram.createSocket({ type: 'udp4', reuseAddr: true });
const out = dgram.createSocket({ type: 'udp4' });
let seen = 0;
let secType: number | undefined;
let queued = 0;
let sent = 0;
let failed = 0;
let fullLength = 0;

function finishIfDone(): void {
  if (queued < count || sent + failed < queued) return;
  process.stdout.write(JSON.stringify({ event: 'done', sent, failed, seenOdata: seen, secType, ...(kinds.length ? { byKind } : {}) }) + '\n');
  out.close(() => sock.close(() => process.exit(0)));
}

/** A real server packet; a HASH or SIGN one, whose SecurityData cannot be checked here, read past its SecurityData. */
function readServerPacket(msg: Buffer): { p: MtPacket; secLen: number } | undefined {
  if (msg.length < 5) return undefined;
  const type = msg[2]!;
  const secLen = msg.readUInt16BE(3);
  const keyed = type === Sec.HASH || type === Sec.SIGN;
  const plain = keyed && msg.length >= 5 + secLen ? Buffer.concat([msg.subarray(0, 2), Buffer.from([Sec.NONE, 0, 0]), msg.subarray(5 + secLen)]) : msg;
  const d = decodeMt(plain, { from: 'server' });
  return d.ok ? { p: { ...d.value, secType: type }, secLen } : undefined;
}

/** SecurityData of the right length that is no HMAC or signature of the packet under the session's key. */
function wrongKey(mode: typeof Sec.HASH | typeof Sec.SIGN, length: number): PacketAuth {
  return { mode, length, seal: () => randomBytes(length), verify: () => false };
}

const ownPort = () => out.address().port;

/** `--kinds`: one hostile packet per `every` real ODATA after `skip`, the kinds in turn. */
function hostile(msg: Buffer, p: MtPacket): void {
  if (p.secType !== Sec.CHECKSUM) return;
  const op = p.body.op;
  if (op === Op.SPM || op === Op.QCC || op === Op.POLL) {
    if (seen > skip) control[op] = Buffer.from(msg);
    return;
  }
  if (op !== Op.ODATA) return;
  if (++seen <= skip || (seen - skip) % every !== 0) return;
  const kind = kinds[queued % kinds.length]!;
  // The variant by the kind's own count, so every variant of every kind is sent.
  const pkt = hostilePacket(kind, Math.floor(queued / kinds.length), { odata: msg, totalBlocks, control });
  secType = p.secType;
  queued++;
  out.send(pkt, port, group, (err) => {
    if (err) failed++;
    else {
      sent++;
      byKind[kind] = (byKind[kind] ?? 0) + 1;
    }
    finishIfDone();
  });
}

sock.on('message', (msg, rinfo) => {
  if ((rinfo.address === iface && rinfo.port === ownPort()) || queued >= count) return;
  if (server !== undefined && rinfo.address !== server) return;
  const r = readServerPacket(msg);
  if (!r) return;
  const { p, secLen } = r;
  const b = p.body;
  if (kinds.length) return hostile(msg, p);
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
    { secMode: p.secType as SecMode, sessionId: p.sessionId, senderTime: p.senderTime, ...(p.secType === Sec.HASH || p.secType === Sec.SIGN ? { auth: wrongKey(p.secType, secLen) } : {}) },
  );
  secType = p.secType;
  queued++;
  out.send(forged, port, group, (err) => {
    if (err) failed++;
    else sent++;
    finishIfDone();
  });
});

out.bind(0, iface, () => {
  out.setMulticastInterface(iface);
  out.setMulticastLoopback(false);
  out.setMulticastTTL(1);
  sock.bind(port, '0.0.0.0', () => {
    sock.addMembership(group, iface);
    process.stdout.write(JSON.stringify({ event: 'listening', group, port, iface, sourcePort: ownPort() }) + '\n');
  });
});
process.on('SIGTERM', () => {
  process.stdout.write(JSON.stringify({ event: 'stopped', sent, failed, seenOdata: seen }) + '\n');
  process.exit(0);
});
