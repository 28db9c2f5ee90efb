/** agent/transport/resolve.ts: the DP's name once, before any request; a name that does not resolve is typed. */
import { describe, expect, it } from 'vitest';
import { isInvalidTld, resolveHost, type Lookup } from '../../../agent/transport/resolve';

const failing = (code: string): Lookup => async () => {
  throw Object.assign(new Error(`getaddrinfo ${code} dp01`), { code });
};

describe('resolveHost', () => {
  it('an IP literal is taken as it is, without a lookup', async () => {
    let asked = 0;
    const lookup: Lookup = async () => (asked++, '10.9.9.9');
    expect(await resolveHost('10.1.2.3', lookup)).toEqual({ ok: true, address: '10.1.2.3' });
    expect(await resolveHost('fd00::5', lookup)).toEqual({ ok: true, address: 'fd00::5' });
    expect(asked).toBe(0);
  });

  it('a name goes through the lookup once', async () => {
    const asked: string[] = [];
    const r = await resolveHost('dp01.corp.example', async (h) => (asked.push(h), '10.1.2.3'));
    expect(r).toEqual({ ok: true, address: '10.1.2.3' });
    expect(asked).toEqual(['dp01.corp.example']);
  });

  it.each([
    ['ENOTFOUND', 'no such host (ENOTFOUND)'],
    ['EAI_AGAIN', 'the name server did not answer (temporary failure) (EAI_AGAIN)'],
    ['ENODATA', 'no IPv4 address for this name (ENODATA)'],
  ])('a lookup failing with %s is typed by its code and says why', async (code, message) => {
    expect(await resolveHost('dp01', failing(code))).toEqual({ ok: false, code, message });
  });

  it('an unknown resolver error keeps its own message', async () => {
    const r = await resolveHost('dp01', failing('EWEIRD'));
    expect(r).toEqual({ ok: false, code: 'EWEIRD', message: 'getaddrinfo EWEIRD dp01 (EWEIRD)' });
  });

  it('names under .invalid never resolve and never reach the resolver (RFC 6761 §6.4)', async () => {
    let asked = 0;
    const lookup: Lookup = async () => (asked++, '10.9.9.9');
    for (const h of ['dp01.invalid', 'NONEXISTENT.INVALID', 'a.b.invalid.', 'invalid']) {
      const r = await resolveHost(h, lookup);
      expect(r.ok, h).toBe(false);
      expect(r).toMatchObject({ code: 'ENOTFOUND', message: expect.stringContaining('RFC 6761') });
    }
    expect(asked).toBe(0);
    expect(isInvalidTld('invalid.example.com')).toBe(false);
    expect(isInvalidTld('dp-invalid')).toBe(false);
  });

  it('the system resolver answers localhost from the hosts file (no network)', async () => {
    expect(await resolveHost('localhost')).toEqual({ ok: true, address: '127.0.0.1' });
  });
});
