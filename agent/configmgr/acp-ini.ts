/**
 * The ACP INI (X:\Windows\TEMP\SMSTSDownload.INI), written by the task sequence engine; its layout is not
 * published. Read as a plain INI file (any section; ';' and '#' comments; surrounding quotes removed), and the
 * server taken by the key rules described in discovery.ts. Pure: text in (decoded by the caller), entries out.
 */
import { stripBom } from '../util/text';
import { hostAndPort, hostFromLocation, normalizeServer, ServerAddress } from '../transport/address';

export interface IniEntry {
  section: string;
  key: string;
  value: string;
  line: number;
}

/** A forgiving INI reader: [Section], key=value (or key: value), ';'/'#' comments, surrounding quotes removed. */
export function parseIni(text: string): IniEntry[] {
  const out: IniEntry[] = [];
  let section = '';
  const lines = stripBom(text).split(/\r\n|\r|\n/);
  lines.forEach((raw, i) => {
    const line = raw.trim();
    if (line === '' || line.startsWith(';') || line.startsWith('#')) return;
    const sec = /^\[([^\]]*)\]$/.exec(line);
    if (sec) {
      section = sec[1]!.trim();
      return;
    }
    const eq = line.indexOf('=');
    if (eq <= 0) return;
    const key = line.slice(0, eq).trim();
    let value = line.slice(eq + 1).trim();
    if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) value = value.slice(1, -1);
    out.push({ section, key, value, line: i + 1 });
  });
  return out;
}

const SERVER_KEY =
  /^(?:server|servername|dp|dpname|dpserver|dphost|distributionpoint|distributionpointname|multicastserver|mcsserver|contentserver|siteserver|host|hostname|osdcastserver)$|server/i;
const LOCATION_KEY = /url|location|source|path|^dps$|^dplist$/i;

export interface IniServer {
  address: ServerAddress;
  section: string;
  key: string;
  raw: string;
  candidates: string[];
}

function splitList(value: string): string[] {
  return value
    .split(/[;,|]/)
    .map((s) => s.trim())
    .filter((s) => s !== '');
}

/** The server named by an ACP INI, following the key rules in the module comment; undefined if none. */
export function findServerInIni(text: string): IniServer | undefined {
  const entries = parseIni(text);
  const pick = (kind: 'server' | 'location'): IniServer | undefined => {
    for (const e of entries) {
      const isServer = SERVER_KEY.test(e.key);
      if (kind === 'server' ? !isServer : isServer || !LOCATION_KEY.test(e.key)) continue;
      const addrs = splitList(e.value)
        .map((v) => (kind === 'server' ? normalizeServer(v) : ((h) => (h ? hostAndPort(h) : undefined))(hostFromLocation(v))))
        .filter((a): a is ServerAddress => a !== undefined);
      if (addrs.length > 0) {
        return { address: addrs[0]!, section: e.section, key: e.key, raw: e.value, candidates: addrs.map((a) => a.server) };
      }
    }
    return undefined;
  };
  return pick('server') ?? pick('location');
}
