/**
 * A URL fit for a log line or a message: user name and password (the userinfo before "@") replaced by "***".
 * The rest is kept exactly as written (not normalised), so the operator recognises it. Anything that is not
 * scheme://… comes back unchanged.
 */
export function redactUrl(url: string): string {
  // The authority ends at the first "/", "?" or "#"; its userinfo at the last "@" before that (WHATWG URL).
  return url.replace(/^([A-Za-z][A-Za-z0-9+.-]*:\/\/)[^/?#]*@/, '$1***@');
}
