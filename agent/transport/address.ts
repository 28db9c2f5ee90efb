/**
 * Server addresses as operators write them (--server, OSDCAST_SERVER, osdcast.json, the ACP INI, the PXE
 * registry value): a host name, IPv4, IPv6 (bare or in brackets), any of them with ":port", a URL or a UNC path
 * (only the host is taken from those). Pure: no name resolution.
 */
import * as net from 'node:net';

export interface ServerAddress {
  host: string;
  port?: number;
  server: string;
}

const HOST_LABEL = /^[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?$/;

function validHostName(h: string): boolean {
  const name = h.endsWith('.') ? h.slice(0, -1) : h;
  if (name.length === 0 || name.length > 253) return false;
  if (/^[0-9.]+$/.test(name)) return net.isIPv4(name); // all-numeric must be a real dotted quad
  return name.split('.').every((l) => HOST_LABEL.test(l));
}

/** host (an IPv6 address in brackets) with ":port" when there is a port: what a URL or a log line shows. */
export function showHostPort(host: string, port?: number): string {
  const shown = host.includes(':') ? `[${host}]` : host;
  return port === undefined ? shown : `${shown}:${port}`;
}

export function hostAndPort(host: string, port?: number): ServerAddress {
  return { host, port, server: port === undefined ? host : showHostPort(host, port) };
}

function validHost(host: string): boolean {
  if (net.isIPv6(host)) return host !== '::';
  if (net.isIPv4(host)) return host !== '0.0.0.0' && host !== '255.255.255.255';
  return validHostName(host);
}

function parsePort(p: string): number | undefined {
  if (!/^\d{1,5}$/.test(p)) return undefined;
  const n = Number(p);
  return n >= 1 && n <= 65535 ? n : undefined;
}

/** A URL (scheme://host...) or a UNC path (\\host\share): the host, or undefined when it is neither / invalid. */
export function hostFromLocation(value: string): string | undefined {
  const v = value.trim();
  if (/^[A-Za-z][A-Za-z0-9+.-]*:\/\//.test(v)) {
    try {
      const u = new URL(v);
      let h = u.hostname;
      if (h.startsWith('[') && h.endsWith(']')) h = h.slice(1, -1);
      return h && validHost(h) ? h : undefined;
    } catch {
      return undefined;
    }
  }
  const unc = /^(?:\\\\|\/\/)([^\\/]+)[\\/]/.exec(v) ?? /^(?:\\\\|\/\/)([^\\/]+)$/.exec(v);
  if (unc) {
    const h = unc[1]!.replace(/@SSL(@\d+)?$/i, ''); // WebDAV form \\host@SSL\...
    return validHost(h) ? h : undefined;
  }
  return undefined;
}

export type ServerParse = { ok: true; address: ServerAddress } | { ok: false; badPort?: string };

/**
 * Accepts a host name, IPv4, IPv6 (bare or [v6]), any of them with :port, a URL or a UNC path. Returns undefined
 * for anything else (empty, spaces, drive paths such as "C:\x", 0.0.0.0 ...).
 */
export function normalizeServer(value: string): ServerAddress | undefined {
  const r = parseServerAddress(value);
  return r.ok ? r.address : undefined;
}

/** normalizeServer, saying when it was the port that was wrong (badPort: the port text as given). */
export function parseServerAddress(value: string): ServerParse {
  const ok = (address: ServerAddress): ServerParse => ({ ok: true, address });
  const bad: ServerParse = { ok: false };
  let v = value.trim();
  if (v.length >= 2 && ((v.startsWith('"') && v.endsWith('"')) || (v.startsWith("'") && v.endsWith("'")))) v = v.slice(1, -1).trim();
  if (v === '' || /\s/.test(v)) return bad;
  const loc = hostFromLocation(v);
  if (loc !== undefined) return ok(hostAndPort(loc));
  if (/^(?:\\\\|\/\/|[A-Za-z][A-Za-z0-9+.-]*:\/\/)/.test(v)) return bad; // a URL/UNC that did not parse
  const bracket = /^\[([^\]]+)\](?::(\d+))?$/.exec(v);
  if (bracket) {
    const port = bracket[2] === undefined ? undefined : parsePort(bracket[2]);
    if (bracket[2] !== undefined && port === undefined) return { ok: false, badPort: bracket[2] };
    return net.isIPv6(bracket[1]!) && bracket[1] !== '::' ? ok(hostAndPort(bracket[1]!, port)) : bad;
  }
  if (net.isIPv6(v)) return v === '::' ? bad : ok(hostAndPort(v));
  const hp = /^([^:]+)(?::([^:]*))?$/.exec(v);
  if (!hp) return bad;
  const port = hp[2] === undefined ? undefined : parsePort(hp[2]);
  if (hp[2] !== undefined && port === undefined) return validHost(hp[1]!) ? { ok: false, badPort: hp[2] } : bad;
  return validHost(hp[1]!) ? ok(hostAndPort(hp[1]!, port)) : bad;
}
