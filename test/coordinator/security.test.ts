/**
 * The coordinator's session security (security.ts): the reply's security fields per mode and per kind of client,
 * and the checks on what clients send (MS-WDSMT 3.1.5.1.1 with HASH).
 */
import { describe, expect, it } from 'vitest';
import { Op, Sec, SecMode, decodeMt, encodeMt } from '../../core/codec/mt';
import { Calg, HmacAuth, parseSignKey, symKeyBytes } from '../../core/codec/mt-security';
import { securityFromReply, sessionAuth } from '../../core/session';
import { Coordinator } from './coordinator';
import { bufferSource, mulberry32 } from './sim';
import { isPreOs, newSecurity } from './security';

const SID = 0x4242;
function coordinator(mode: 'checksum' | 'hash' | 'sign' | 'none') {
  return new Coordinator(
    { namespace: 'NS', content: 'C', source: bufferSource(Buffer.alloc(5000, 1)), sessionId: SID, multicastAddr: '239.1.1.1', serverAddr: '10.0.0.1', port: 5000, rng: mulberry32(1), security: newSecurity(mode, mulberry32(2), 1024) },
    0,
  );
}
const join = (secMode: SecMode, auth?: HmacAuth) =>
  encodeMt({ op: Op.JOIN, clientName: 'PC', ipAddress: Buffer.from([10, 0, 0, 9]), macAddress: Buffer.alloc(6) }, { secMode, sessionId: SID, senderTime: 5, auth });
const drain = (c: Coordinator) => {
  const out = [];
  for (let t = c.pollTransmit(); t; t = c.pollTransmit()) out.push(t);
  return out;
};

describe('coordinator security fields (MS-WDSMSI 3.1.5.2)', () => {
  it('checksum, and any pre-OS client: no security field (read as CHECKSUM both ways), no key', () => {
    for (const m of ['checksum', 'hash', 'sign'] as const) expect(coordinator(m).replySecurity(m !== 'checksum')).toEqual({});
    expect(coordinator('checksum').replySecurity(false)).toEqual({});
    expect(securityFromReply(coordinator('hash').replySecurity(true))).toEqual({ client: { mode: Sec.CHECKSUM }, server: { mode: Sec.CHECKSUM } });
    expect(coordinator('none').replySecurity(false)).toEqual({ secMode: 0 });
    expect(isPreOs(0x5)).toBe(true);
    expect(isPreOs(0x1)).toBe(false);
    expect(isPreOs(undefined)).toBe(false);
  });

  it('hash: SecMode HASH/HASH, the SymKey as a PLAINTEXTKEYBLOB, HashAlgId SHA-256, HMACAlgId CALG_HMAC', () => {
    const r = coordinator('hash').replySecurity(false);
    expect(r).toMatchObject({ secMode: 0x00010001, hashAlgId: Calg.SHA_256, hmacAlgId: Calg.HMAC });
    expect(r.signKey).toBeUndefined();
    expect(r.symKey!.subarray(0, 12).toString('hex')).toBe('080200000366000018000000');
    expect(typeof sessionAuth(securityFromReply(r))).toBe('object');
  });

  it('sign: SecMode client HASH / server SIGN, a PUBLICKEYBLOB SignKey and the SymKey', () => {
    const r = coordinator('sign').replySecurity(false);
    expect(r.secMode).toBe(0x00010002);
    expect(r.signKey![0]).toBe(0x06);
    expect(typeof parseSignKey(r.signKey!)).toBe('object');
    const sec = securityFromReply(r);
    expect(sec.client.mode).toBe(Sec.HASH);
    expect(sec.server.mode).toBe(Sec.SIGN);
    expect(typeof sessionAuth(sec)).toBe('object');
  });
});

describe('coordinator checks what clients send', () => {
  it('a HASH session: a JOIN with the right HMAC is answered in HASH, a bad HMAC is authFailed, a pre-OS CHECKSUM JOIN gets a CHECKSUM JOINACK, NONE is refused', () => {
    const c = coordinator('hash');
    const r = c.replySecurity(false);
    const auth = new HmacAuth(symKeyBytes(r.symKey!), 'sha256');
    c.handleDatagram(join(Sec.HASH, auth), { address: '10.0.0.9', port: 1 }, 10);
    const [ack] = drain(c).filter((t) => t.dest !== 'multicast');
    expect(ack!.data[2]).toBe(Sec.HASH);
    expect(decodeMt(ack!.data, { from: 'server', auth }).ok).toBe(true);

    const bad = join(Sec.HASH, auth);
    bad[bad.length - 3] ^= 1;
    c.handleDatagram(bad, { address: '10.0.0.10', port: 1 }, 11);
    expect(c.stats.authFailed).toBe(1);
    c.handleDatagram(join(Sec.HASH, new HmacAuth(Buffer.alloc(24, 7), 'sha256')), { address: '10.0.0.10', port: 1 }, 11);
    expect(c.stats.authFailed).toBe(2);
    expect(drain(c).filter((t) => t.dest !== 'multicast')).toEqual([]);

    c.handleDatagram(join(Sec.CHECKSUM), { address: '10.0.0.11', port: 1 }, 12);
    const [ack2] = drain(c).filter((t) => t.dest !== 'multicast');
    expect(ack2!.data[2]).toBe(Sec.CHECKSUM);

    c.handleDatagram(join(Sec.NONE), { address: '10.0.0.12', port: 1 }, 13);
    expect(c.stats.securityMismatch).toBe(1);
  });

  it('a client keeps the mode it joined with: a CHECKSUM LEAVE naming a HASH client is refused', () => {
    const c = coordinator('hash');
    const auth = new HmacAuth(symKeyBytes(c.replySecurity(false).symKey!), 'sha256');
    c.handleDatagram(join(Sec.HASH, auth), { address: '10.0.0.9', port: 1 }, 10);
    const ack = drain(c).find((t) => t.dest !== 'multicast')!;
    const d = decodeMt(ack.data, { from: 'server', auth });
    if (!d.ok || d.value.body.op !== Op.JOINACK) throw new Error('JOINACK expected');
    const leave = encodeMt({ op: Op.LEAVE, clientId: d.value.body.clientId, reason: 0 }, { secMode: Sec.CHECKSUM, sessionId: SID, senderTime: 20 });
    c.handleDatagram(leave, { address: '10.0.0.9', port: 1 }, 20);
    expect(c.stats.securityMismatch).toBe(1);
    expect(c.stats.leavesReceived).toBe(0);
  });
});
