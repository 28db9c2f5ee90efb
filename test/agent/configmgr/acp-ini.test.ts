/** agent/configmgr/acp-ini.ts: the ACP INI reader and its server rules (fixtures shared with discovery.test.ts). */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { findServerInIni, parseIni } from '../../../agent/configmgr/acp-ini';
import { decodeWindowsText } from '../../../agent/util/text';

const FIX = path.join(__dirname, 'fixtures');
const text = (name: string): string => decodeWindowsText(fs.readFileSync(path.join(FIX, name)));

describe('ACP INI', () => {
  it('parses sections, comments and quotes', () => {
    expect(parseIni('; c\r\n# c\r\ntop=1\r\n[ A ]\r\nk = "v w"\r\nnoequals\r\n=novalue\r\n[B]\r\nk2=x=y')).toEqual([
      { section: '', key: 'top', value: '1', line: 3 },
      { section: 'A', key: 'k', value: 'v w', line: 5 },
      { section: 'B', key: 'k2', value: 'x=y', line: 9 },
    ]);
  });

  it('finds a server key in a UTF-16 INI', () => {
    const s = findServerInIni(text('acp-server-key.ini'));
    expect(s).toMatchObject({ section: 'Download', key: 'DPServer', candidates: ['dp01.corp.contoso.com'] });
    expect(s!.address.server).toBe('dp01.corp.contoso.com');
  });

  it('takes the host of the first URL in a location list and skips local paths', () => {
    const s = findServerInIni(text('acp-url-list.ini'));
    expect(s).toMatchObject({ section: 'Locations', key: 'ContentLocation' });
    expect(s!.candidates).toEqual(['dp01.corp.contoso.com', 'dp02.corp.contoso.com']);
  });

  it('takes the host of a UNC source', () => {
    expect(findServerInIni(text('acp-unc.ini'))).toMatchObject({ key: 'Source', address: { host: 'dp03' } });
  });

  it('finds nothing when only package data and local paths are present', () => {
    expect(findServerInIni(text('acp-no-server.ini'))).toBeUndefined();
  });

  it('prefers a server key over an earlier URL key, and ignores bare words in location keys', () => {
    const s = findServerInIni('[a]\nUrl=http://web01/x\nSourcePath=Packages\n[b]\nMulticastServer=mcs01\n');
    expect(s).toMatchObject({ key: 'MulticastServer', address: { server: 'mcs01' } });
    expect(findServerInIni('[a]\nSourcePath=Packages\n')).toBeUndefined();
  });
});
