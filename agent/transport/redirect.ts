/**
 * Redirects, one rule for every HTTP client (content downloads and the WebDAV listing): 301, 302, 303, 307 and
 * 308 with a Location are followed (relative to the URL that answered), at most MAX_REDIRECTS hops, and only to
 * http: or https:. The method is kept (a 303 to PROPFIND is rare; the DP's IIS only redirects to add a "/").
 */
export const REDIRECT_STATUSES: ReadonlySet<number> = new Set([301, 302, 303, 307, 308]);
export const MAX_REDIRECTS = 5;

export type RedirectDecision =
  | { kind: 'none' }
  | { kind: 'follow'; to: string }
  | { kind: 'too-many' }
  | { kind: 'bad-location'; location: string };

/** What to do with an answer of `status` carrying `location` to a request for `from`, after `hops` redirects. */
export function redirectDecision(status: number, location: string | undefined, from: string | URL, hops: number): RedirectDecision {
  if (!REDIRECT_STATUSES.has(status) || !location) return { kind: 'none' };
  if (hops >= MAX_REDIRECTS) return { kind: 'too-many' };
  let to: URL;
  try {
    to = new URL(location, from);
  } catch {
    return { kind: 'bad-location', location };
  }
  if (to.protocol !== 'http:' && to.protocol !== 'https:') return { kind: 'bad-location', location };
  return { kind: 'follow', to: to.href };
}
