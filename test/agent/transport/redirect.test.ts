/** agent/transport/redirect.ts: the one redirect rule of the HTTP client and the WebDAV listing. */
import { describe, expect, it } from 'vitest';
import { MAX_REDIRECTS, redirectDecision } from '../../../agent/transport/redirect';

describe('redirectDecision', () => {
  it.each([301, 302, 303, 307, 308])('follows %i relative to the answering URL', (st) => {
    expect(redirectDecision(st, '../b/', 'http://dp/a/x', 0)).toEqual({ kind: 'follow', to: 'http://dp/b/' });
    expect(redirectDecision(st, 'https://dp2/y', 'http://dp/a', 0)).toEqual({ kind: 'follow', to: 'https://dp2/y' });
  });

  it.each([[200, '/x'], [300, '/x'], [304, '/x'], [302, undefined], [302, '']])('does not follow %i with Location %j', (st, loc) => {
    expect(redirectDecision(st, loc, 'http://dp/a', 0)).toEqual({ kind: 'none' });
  });

  it('stops after MAX_REDIRECTS hops and refuses schemes other than http(s)', () => {
    expect(redirectDecision(302, '/x', 'http://dp/a', MAX_REDIRECTS - 1).kind).toBe('follow');
    expect(redirectDecision(302, '/x', 'http://dp/a', MAX_REDIRECTS)).toEqual({ kind: 'too-many' });
    expect(redirectDecision(302, 'ftp://dp/x', 'http://dp/a', 0)).toEqual({ kind: 'bad-location', location: 'ftp://dp/x' });
    expect(redirectDecision(302, 'http://[bad', 'http://dp/a', 0)).toEqual({ kind: 'bad-location', location: 'http://[bad' });
  });
});
