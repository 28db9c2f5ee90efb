/**
 * One receive from a udpcast udp-sender, driven: the sans-I/O UdpcastReceiver (core/udpcast/receiver.ts) on one
 * socket bound to port P (transport/net.ts openUdpcast), one timer, and the disk pump's write completions. This
 * file decides nothing itself: it feeds the receiver, sends what it says, joins the group it names, and turns its
 * end (complete, failed, refused) into an outcome: complete, a fallback (with an HTTP source) or an OsdcastError.
 */
import type { BlockStore } from '../../core/block-store';
import { failureWithoutFallback, type FallbackCause } from '../../core/outcome';
import { UdpcastReceiver, UdpcastEvent, UdpcastFailure, UdpcastRefusal, UdpcastStats } from '../../core/udpcast/receiver';
import { defaultDataGroup } from '../../core/udpcast/codec';
import type { Transmit } from '../../core/mt-client';
import type { DiskPump } from '../storage/disk';
import { OsdcastError } from '../errors';
import type { Logger } from '../log/log';
import { MulticastSocket, SocketFailures, closeSocket, isMulticast, openUdpcast, recvBufferNote, subnetBroadcast } from '../transport/net';
import type { McOutcome } from './multicast';
import { Outcome } from '../util/outcome';
import { WakeTimer } from '../util/wake-timer';

export interface UdpcastContext {
  iface: string;
  portbase: number;
  rdvAddress: string;
  /** Makes the store and its pump once the sender announced the block size (CONNECT_REPLY). */
  openStore(blockSize: number): { store: BlockStore; pump: DiskPump };
  log: Logger;
  now: () => number;
  signal: AbortSignal;
  /** No sender (HELLO / CONNECT_REPLY) within this (ms); Infinity: wait. */
  mcastTimeoutMs: number;
  inactivityMs?: number;
  /** An HTTP source exists: a failure ends in a fallback outcome instead of an OsdcastError. */
  canFallBack: boolean;
  /** Statistics out, also on failure. */
  stats?: (s: UdpcastStats) => void;
}

/** What the receive was told, for people (the cause is what programs decide on). */
function failureText(kind: UdpcastFailure | UdpcastRefusal, c: UdpcastContext, st: UdpcastStats): string {
  const rdv = `${c.rdvAddress}:${c.portbase + 1}`;
  const sender = st.sender ? `${st.sender.address}:${st.sender.port}` : 'the udp-sender';
  switch (kind) {
    case 'no-sender':
      return `no udpcast sender answered at ${rdv} within ${c.mcastTimeoutMs / 1000} s (is udp-sender running with --portbase ${c.portbase} on this subnet? A sender whose transfer is already running answers no late joiner and sends no HELLO then)`;
    case 'late-join':
      return `${sender} is there but never answered our CONNECT_REQ within ${c.mcastTimeoutMs / 1000} s: its transfer was already running (udp-sender serves no late joiner; start osdcast before the sender's start rule fires, or wait for its next session)`;
    case 'inactivity':
      return `no packet from ${sender} for ${(c.inactivityMs ?? 30_000) / 1000} s (the sender stopped, or dropped this receiver)`;
    case 'dropped':
      return `${sender} went on without this receiver (it dropped us: a slice we miss was never repaired)`;
    case 'protocol':
      return `${sender} sent slices that cannot be laid out as one image`;
    case 'async':
      return `${sender} runs --async (unacknowledged streaming, capability 0x20): not supported; run udp-sender without --async`;
    case 'streaming':
      return `${sender} runs --streaming (receivers join a running stream, no acknowledged start): not supported; run udp-sender without --streaming`;
    case 'table-full':
      return `${sender} refused the connection: its receiver table is full`;
    case 'no-big-endian':
      return `${sender} does not speak the big-endian protocol (udpcast older than 2004?): not supported`;
  }
}

/** A data address that is our own (udp-sender --pointopoint names it in CONNECT_REPLY): nothing to join. */
function isUnicastTo(address: string, iface: string): boolean {
  return address === iface || !isMulticast(address);
}

export async function runUdpcast(c: UdpcastContext): Promise<McOutcome> {
  const { log, now } = c;
  let pump: DiskPump | undefined;
  let stopListening: () => void = () => {};
  let sock: (MulticastSocket & { join(group: string): void }) | undefined;
  /** The end the receiver reached (complete, failed, refused); the session returns once it is also `closed`. */
  let end: McOutcome | Error | undefined;

  const out = new Outcome<McOutcome>();
  const finish = (o: McOutcome | Error) => out.finish(o);
  const giveUp = (kind: UdpcastFailure | UdpcastRefusal, cause: FallbackCause) => {
    const reason = failureText(kind, c, rx.stats());
    end ??= c.canFallBack ? { kind: 'fallback', cause, reason } : new OsdcastError(failureWithoutFallback(cause), reason);
  };

  const rx = new UdpcastReceiver(
    {
      openStore: (blockSize) => {
        const made = c.openStore(blockSize);
        pump = made.pump;
        stopListening = made.pump.onWritten(() => {
          if (out.done) return;
          rx.handleWritten(now());
          service();
        });
        return made.store;
      },
      localAddress: c.iface,
      rdvAddress: c.rdvAddress,
      portbase: c.portbase,
      params: { mcastTimeoutMs: c.mcastTimeoutMs, ...(c.inactivityMs ? { inactivityMs: c.inactivityMs } : {}) },
    },
    now(),
  );

  const onEvent = (ev: UdpcastEvent) => {
    switch (ev.type) {
      case 'hello':
        // Joined at once: if our CONNECT_REQ is never answered, the data of a running transfer tells the receiver
        // why (a late joiner), instead of silence.
        try {
          sock?.join(ev.dataAddress);
        } catch (e) {
          log.warn(`cannot join ${ev.dataAddress} on ${c.iface} yet: ${(e as Error).message}`);
        }
        return log.info({ sender: ev.sender, dataAddress: ev.dataAddress, blockSize: ev.blockSize }, `udp-sender at ${ev.sender.address}:${ev.sender.port} (data ${ev.dataAddress}, blocks of ${ev.blockSize} bytes)`);
      case 'connected':
        if (!ev.pointToPoint && !isUnicastTo(ev.dataAddress, c.iface)) {
          try {
            sock!.join(ev.dataAddress);
          } catch (e) {
            // Without the group no data can come: give up now (DISCONNECT first) rather than wait for a timeout.
            log.error(`cannot join ${ev.dataAddress} on ${c.iface}: ${(e as Error).message}`);
            end ??= c.canFallBack ? { kind: 'fallback', cause: 'join-failed', reason: `cannot join ${ev.dataAddress}: ${(e as Error).message}` } : new OsdcastError('no-session', `cannot join the data group ${ev.dataAddress} on ${c.iface}: ${(e as Error).message}`);
            rx.cancel(now());
            return;
          }
        }
        return log.info({ client: ev.client, dataAddress: ev.dataAddress, pointToPoint: ev.pointToPoint }, `connected to ${ev.sender.address} as client ${ev.client}${ev.pointToPoint ? ' (point-to-point: data to our own address)' : `, data on ${ev.dataAddress}`}`);
      case 'started':
        return log.info('transfer started');
      case 'refused':
        log.error(`refused: ${failureText(ev.reason, c, rx.stats())}`);
        return giveUp(ev.reason, ev.cause);
      case 'failed':
        return giveUp(ev.kind, ev.cause);
      case 'complete':
        log.info(`end of transfer: ${ev.bytes} bytes, all on disk; lingering to re-answer, then DISCONNECT`);
        end ??= { kind: 'complete' };
        return;
      case 'closed':
        return finish(end ?? new OsdcastError('internal', 'udpcast session closed without an outcome'));
    }
  };

  // dgram sends complete on a later tick: the socket is closed only once the last (the DISCONNECT) went out.
  let sending = 0;
  let sent: (() => void) | undefined;
  const netFailures = new SocketFailures((code, message) => log.warn({ code }, `cannot send to the udpcast sender: ${message} (further failures are counted in "udpcast statistics")`));
  const afterSend = (err: Error | null) => {
    netFailures.callback(err);
    if (--sending === 0) sent?.();
  };
  const send = (tx: Transmit) => {
    if (!sock) return;
    sending++;
    // A send that throws at once calls no callback: flushed() must not wait for it.
    if (!netFailures.send(sock.socket, tx.data, tx.to, afterSend)) sending--;
  };
  const flushed = () => (sending === 0 ? Promise.resolve() : new Promise<void>((res) => {
    sent = res;
    setTimeout(res, 500).unref();
  }));

  /** After every input: send, write, handle events, re-arm the one timer. */
  const service = () => {
    if (out.done) return;
    let tx;
    while ((tx = rx.pollTransmit())) send(tx);
    pump?.kick();
    let ev;
    while (!out.done && (ev = rx.pollEvent())) onEvent(ev);
    if (out.done) return;
    // A cancel inside onEvent queued a DISCONNECT.
    while ((tx = rx.pollTransmit())) send(tx);
    const next = rx.pollTimeout() ?? Infinity;
    wake.wakeBy(next);
  };
  const wake = new WakeTimer(() => {
    rx.handleTimeout(now());
    service();
  }, now);
  const onAbort = () => {
    if (out.done) return;
    end ??= c.signal.reason instanceof Error ? c.signal.reason : new OsdcastError('interrupted', 'interrupted');
    rx.cancel(now()); // DISCONNECT, then closed
    service();
  };
  c.signal.addEventListener('abort', onAbort);

  try {
    try {
      sock = await openUdpcast(c.portbase, c.iface, (msg, from) => {
        if (out.done) return;
        rx.handleDatagram(msg, from, now());
        service();
      });
      if (isMulticast(c.rdvAddress)) sock.join(c.rdvAddress);
      else if (c.rdvAddress !== subnetBroadcast(c.iface)) {
        // The sender's own address (FOG passes the storage node's): its default data group is known now, so a
        // transfer already running is seen (and said so: a late joiner) instead of silence until --mcast-timeout.
        try {
          sock.join(defaultDataGroup(c.rdvAddress));
        } catch (e) {
          log.debug(`cannot join ${defaultDataGroup(c.rdvAddress)}: ${(e as Error).message}`);
        }
      }
    } catch (e) {
      const reason = `cannot listen on UDP port ${c.portbase} (${c.iface}${isMulticast(c.rdvAddress) ? `, group ${c.rdvAddress}` : ''}): ${(e as Error).message}${(e as NodeJS.ErrnoException).code === 'EADDRINUSE' ? ' (another udp-receiver or osdcast on this port?)' : ''}`;
      if (c.canFallBack) return { kind: 'fallback', cause: 'join-failed', reason };
      throw new OsdcastError('no-session', reason);
    }
    const note = recvBufferNote(sock.granted);
    if (note.warn) log.warn({ granted: sock.granted }, note.text);
    else log.info({ granted: sock.granted }, note.text);
    log.info(`looking for a udp-sender at ${c.rdvAddress}:${c.portbase + 1} from ${c.iface}:${c.portbase}`);
    if (c.signal.aborted) onAbort();
    service();
    return await out.promise;
  } finally {
    out.done = true;
    wake.clear();
    stopListening();
    c.signal.removeEventListener('abort', onAbort);
    await flushed();
    await closeSocket(sock?.socket);
    const st = rx.stats();
    const { state, knownSlices, knownBytes, totalBytes, bytes, dataPackets, duplicates, fecIgnored, reqacks, oks, retransmits, connectReqs, heldPlaced, drops } = st;
    log.info({ udpcast: { state, knownSlices, knownBytes, totalBytes, bytes, dataPackets, duplicates, fecIgnored, reqacks, oks, retransmits, connectReqs, heldPlaced }, drops, socketFailures: netFailures.byCode, disk: pump ? { ...pump.counts } : undefined }, 'udpcast statistics');
    c.stats?.(st);
  }
}
