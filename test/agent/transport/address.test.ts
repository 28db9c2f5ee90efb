/** agent/transport/address.ts: server addresses as operators write them. */
import { describe, expect, it } from 'vitest';
import { normalizeServer, parseServerAddress, showHostPort } from '../../../agent/transport/address';

describe('normalizeServer', () => {
  it.each([
    ['dp01', 'dp01'],
    ['  dp01.corp.contoso.com  ', 'dp01.corp.contoso.com'],
    ['"cm01"', 'cm01'],
    ['10.20.30.40', '10.20.30.40'],
    ['10.20.30.40:4011', '10.20.30.40:4011'],
    ['dp01:8080', 'dp01:8080'],
    ['fe80::1', 'fe80::1'],
    ['[fd00::5]:4011', '[fd00::5]:4011'],
    ['http://dp01.corp.contoso.com/SMS_DP_SMSPKG$/PS100004', 'dp01.corp.contoso.com'],
    ['https://[fd00::7]:8443/x', 'fd00::7'],
    ['\\\\dp03\\SMSPKGE$\\PS100004', 'dp03'],
    ['\\\\dp04.corp@SSL\\DavWWWRoot\\x', 'dp04.corp'],
    ['SRV_WDS-01', 'SRV_WDS-01'],
  ])('accepts %j as %j', (input, server) => {
    expect(normalizeServer(input)?.server).toBe(server);
  });

  it.each(['', '   ', 'two words', 'C:\\_SMSTaskSequence', 'X:\\Windows\\TEMP', '0.0.0.0', '::', '999.1.1.1', '10.1.2', 'dp01:0', 'dp01:70000', 'dp01:', '-bad-', 'http://', 'a..b', '\\\\'])(
    'rejects %j',
    (input) => {
      expect(normalizeServer(input)).toBeUndefined();
    },
  );

  it('keeps an explicit port apart from the host', () => {
    expect(normalizeServer('dp01:4011')).toEqual({ host: 'dp01', port: 4011, server: 'dp01:4011' });
    expect(normalizeServer('http://dp01:8080/x')).toEqual({ host: 'dp01', port: undefined, server: 'dp01' });
  });
});

describe('parseServerAddress', () => {
  it('says when only the port is wrong, so --server can name it', () => {
    expect(parseServerAddress('dp01:0')).toEqual({ ok: false, badPort: '0' });
    expect(parseServerAddress('[fd00::5]:70000')).toEqual({ ok: false, badPort: '70000' });
    expect(parseServerAddress('two words')).toEqual({ ok: false });
    expect(parseServerAddress('-bad-:80')).toEqual({ ok: false });
    expect(parseServerAddress('dp01:5041')).toEqual({ ok: true, address: { host: 'dp01', port: 5041, server: 'dp01:5041' } });
  });

  it('shows IPv6 hosts in brackets, others as they are', () => {
    expect(showHostPort('fd00::5', 4011)).toBe('[fd00::5]:4011');
    expect(showHostPort('fd00::5')).toBe('[fd00::5]');
    expect(showHostPort('dp01', 5041)).toBe('dp01:5041');
    expect(showHostPort('10.1.2.3')).toBe('10.1.2.3');
  });
});
