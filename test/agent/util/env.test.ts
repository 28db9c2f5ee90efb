/** agent/util/env.ts: environment lookups that ignore case, as on Windows. */
import { describe, expect, it } from 'vitest';
import { envValue } from '../../../agent/util/env';

describe('envValue', () => {
  it('prefers the exact spelling, else any case; undefined when absent', () => {
    expect(envValue({ _SMSTSLogPath: 'X:\\a', _smstslogpath: 'X:\\b' }, '_SMSTSLogPath')).toBe('X:\\a');
    expect(envValue({ _smstslogpath: 'X:\\b' }, '_SMSTSLogPath')).toBe('X:\\b');
    expect(envValue({ SYSTEMROOT: 'C:\\Windows' }, 'SystemRoot')).toBe('C:\\Windows');
    expect(envValue({ OTHER: '1' }, 'OSDCAST_SERVER')).toBeUndefined();
    expect(envValue({ osdcast_server: undefined, OSDCAST_SERVER_X: 'no' }, 'OSDCAST_SERVER')).toBeUndefined();
  });
});
