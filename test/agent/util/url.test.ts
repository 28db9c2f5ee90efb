/** agent/util/url.ts: one redaction rule for every URL that reaches a log line or a message. */
import { describe, expect, it } from 'vitest';
import { redactUrl } from '../../../agent/util/url';

describe('redactUrl', () => {
  it.each([
    ['http://user:secret@dp01/SMS_DP_SMSPKG$/P1', 'http://***@dp01/SMS_DP_SMSPKG$/P1'],
    ['https://user@dp01:8443/x?y=1', 'https://***@dp01:8443/x?y=1'],
    ['http://:pw@dp01', 'http://***@dp01'],
    ['http://u:p@ss@dp01/x', 'http://***@dp01/x'],
    ['HTTP://A:B@DP01/X', 'HTTP://***@DP01/X'],
  ])('hides user and password of %j', (url, shown) => {
    const r = redactUrl(url);
    expect(r).toBe(shown);
    expect(r).not.toMatch(/secret|user|pw|ss@/);
  });

  it.each(['http://dp01/x@y', 'http://dp01/a?b=c@d', 'http://dp01#x@y', 'not a url', 'dp01:5041', ''])('leaves %j as written', (url) => {
    expect(redactUrl(url)).toBe(url);
  });
});
