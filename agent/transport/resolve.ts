/**
 * The DP's name to an IPv4 address, once, before any request goes out: a name that does not resolve is its own
 * typed answer (never "no reply after n requests", and no retries meant for lost packets). The agent then talks
 * to the address it got (UDP, RPC and the multicast session's source filter all use the same one).
 * Names under `.invalid` never resolve (RFC 6761 §6.4: resolver APIs "SHOULD always return immediately with a
 * negative response"): answered here without asking the system resolver.
 */
import dns from 'node:dns';
import net from 'node:net';

export type Resolved = { ok: true; address: string } | { ok: false; code: string; message: string };

/** The system resolver's IPv4 lookup (hosts file, DNS, …), as dns.lookup does it; replaceable in tests. */
export type Lookup = (host: string) => Promise<string>;

const systemLookup: Lookup = (host) => dns.promises.lookup(host, { family: 4 }).then((r) => r.address);

const WHY: Readonly<Record<string, string>> = {
  ENOTFOUND: 'no such host',
  EAI_NONAME: 'no such host',
  ENODATA: 'no IPv4 address for this name',
  EAI_NODATA: 'no IPv4 address for this name',
  EAI_AGAIN: 'the name server did not answer (temporary failure)',
  ESERVFAIL: 'the name server failed',
  ETIMEOUT: 'the name server did not answer in time',
  ECONNREFUSED: 'the name server refused the query',
};

/** RFC 6761 §6.4: "invalid." and every name under it. */
export function isInvalidTld(host: string): boolean {
  return /(^|\.)invalid\.?$/i.test(host);
}

/** An IP literal as it is; a name through `lookup`; a failure typed by its resolver code with a message for people. */
export async function resolveHost(host: string, lookup: Lookup = systemLookup): Promise<Resolved> {
  if (net.isIP(host)) return { ok: true, address: host };
  if (isInvalidTld(host)) return { ok: false, code: 'ENOTFOUND', message: `${WHY.ENOTFOUND} (".invalid" names never resolve, RFC 6761)` };
  try {
    return { ok: true, address: await lookup(host) };
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? 'EUNKNOWN';
    const why = WHY[code] ?? (e as Error).message;
    return { ok: false, code, message: `${why} (${code})` };
  }
}
