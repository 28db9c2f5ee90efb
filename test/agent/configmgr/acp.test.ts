/** agent/configmgr/acp.ts: the arguments the task sequence passes (the run itself: test/e2e/acp.test.ts). */
import { describe, expect, it } from 'vitest';
import { looksLikeAcpCall, parseAcpPositionals } from '../../../agent/configmgr/acp';

describe('acp arguments', () => {
  it('parses [<INI>] <PackageID> <DestinationDir>', () => {
    expect(parseAcpPositionals(['PS100004', 'C:\\_SMSTaskSequence\\Packages\\PS100004'])).toEqual({ packageId: 'PS100004', destination: 'C:\\_SMSTaskSequence\\Packages\\PS100004' });
    expect(parseAcpPositionals(['X:\\Windows\\TEMP\\SMSTSDownload.INI', 'ps1000aZ', 'D:\\p'])).toEqual({ iniPath: 'X:\\Windows\\TEMP\\SMSTSDownload.INI', packageId: 'ps1000aZ', destination: 'D:\\p' });
    for (const bad of [['PS10000', 'd'], ['PS1000045', 'd'], ['PS1.0004', 'd'], ['PS1 0004', 'd'], ['..\\..\\x', 'd'], ['PS100004'], ['a', 'b', 'c', 'd'], ['PS100004', '']]) {
      expect(() => parseAcpPositionals(bad), JSON.stringify(bad)).toThrow();
    }
  });

  it('recognises the task sequence calling the program without a command word', () => {
    expect(looksLikeAcpCall(['PS100004', 'C:\\x'])).toBe(true);
    expect(looksLikeAcpCall(['X:\\SMSTSDownload.INI', 'PS100004', 'C:\\x'])).toBe(true);
    expect(looksLikeAcpCall(['PS100004', 'C:\\x', '--json'])).toBe(true);
    expect(looksLikeAcpCall(['frobnicate'])).toBe(false);
    expect(looksLikeAcpCall(['frobnicate', 'x'])).toBe(false);
    expect(looksLikeAcpCall(['--server', 'PS100004', 'x'])).toBe(false);
  });
});
