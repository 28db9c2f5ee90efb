/**
 * osdcast.json beside the binary: its validation (types, ranges, unknown keys as warnings) and its templates
 * (namespaceTemplate, contentTemplate, httpTemplate: placeholders, expansion, the package URL). Pure.
 */
import { stripBom } from '../util/text';
import { redactUrl } from '../util/url';
import { normalizeServer, showHostPort } from '../transport/address';

export const CONFIG_FILE_NAME = 'osdcast.json';

export interface OsdcastConfig {
  server?: string;
  abortCode?: number;
  namespaceTemplate?: string;
  contentTemplate?: string;
  httpTemplate?: string;
  /** The DP drive of the package share, for {drive} (SMSPKG<drive>$): one letter, default C. */
  drive?: string;
}

export class ConfigError extends Error {}

const CONFIG_KEYS = ['server', 'abortCode', 'namespaceTemplate', 'contentTemplate', 'httpTemplate', 'drive'] as const;

/**
 * Validates osdcast.json. Throws ConfigError for JSON syntax errors and wrong types; unknown keys are warnings
 * (a newer file on an older binary should still work).
 */
export function parseOsdcastConfig(text: string, source: string = CONFIG_FILE_NAME, platform: NodeJS.Platform = process.platform): { config: OsdcastConfig; warnings: string[] } {
  let raw: unknown;
  try {
    raw = JSON.parse(stripBom(text));
  } catch (e) {
    throw new ConfigError(`${source}: not valid JSON (${(e as Error).message})`);
  }
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) throw new ConfigError(`${source}: must be a JSON object`);
  const obj = raw as Record<string, unknown>;
  const config: OsdcastConfig = {};
  const warnings: string[] = [];
  for (const k of Object.keys(obj)) {
    if (!(CONFIG_KEYS as readonly string[]).includes(k)) warnings.push(`${source}: unknown key "${k}" ignored`);
  }
  if (obj.server !== undefined) {
    if (typeof obj.server !== 'string' || !normalizeServer(obj.server)) {
      throw new ConfigError(`${source}: "server" must be a host name, IP address, host:port or URL, got ${JSON.stringify(obj.server)}`);
    }
    config.server = obj.server.trim();
  }
  if (obj.abortCode !== undefined) {
    const c = obj.abortCode;
    if (typeof c !== 'number' || !Number.isInteger(c) || c < 1 || c > 0x7fffffff) {
      throw new ConfigError(`${source}: "abortCode" must be an integer from 1 to 2147483647, got ${JSON.stringify(c)}`);
    }
    // Outside Windows an exit status is 8 bits: 256 would reach the task sequence as 0, success.
    if (platform !== 'win32' && c > 255) throw new ConfigError(`${source}: "abortCode" must be from 1 to 255 on ${platform} (exit codes are 8 bits there), got ${c}`);
    config.abortCode = c;
  }
  if (obj.drive !== undefined) {
    if (typeof obj.drive !== 'string' || !/^[A-Za-z]$/.test(obj.drive)) throw new ConfigError(`${source}: "drive" must be one drive letter (e.g. "D"), got ${JSON.stringify(obj.drive)}`);
    config.drive = obj.drive.toUpperCase();
  }
  for (const k of ['namespaceTemplate', 'contentTemplate', 'httpTemplate'] as const) {
    const v = obj[k];
    if (v === undefined) continue;
    if (typeof v !== 'string' || v.trim() === '') throw new ConfigError(`${source}: "${k}" must be a non-empty string`);
    config[k] = v;
  }
  return { config, warnings };
}

// Templates

export const DEFAULT_TEMPLATES = {
  namespace: 'SMSPKG',
  content: '{PackageID}/{path}',
  http: 'http://{server}/SMS_DP_SMSPKG$/{PackageID}',
} as const;

/**
 * Placeholders (case-insensitive): {PackageID}, {path} (alias {file}; "/" separators), {winpath} ("\"), {server}
 * (alias {host}), {drive} (osdcast.json "drive", default C: ConfigMgr's package share is SMSPKG<drive>$).
 */
export const DEFAULT_DRIVE = 'C';
const PLACEHOLDER = /\{([^{}]*)\}/g;
const KNOWN = new Map<string, 'id' | 'path' | 'winpath' | 'server' | 'drive'>([
  ['packageid', 'id'],
  ['path', 'path'],
  ['file', 'path'],
  ['winpath', 'winpath'],
  ['server', 'server'],
  ['host', 'server'],
  ['drive', 'drive'],
]);

export class TemplateError extends Error {}

export function checkTemplate(name: string, tpl: string): void {
  for (const m of tpl.matchAll(PLACEHOLDER)) {
    if (!KNOWN.has(m[1]!.toLowerCase())) throw new TemplateError(`${name} ${JSON.stringify(tpl)}: unknown placeholder {${m[1]}} (use {PackageID}, {path}, {winpath}, {server}, {drive})`);
  }
}

export interface TemplateVars {
  packageId: string;
  /** Path segments of the file inside the package ([] for the package itself). */
  rel: readonly string[];
  host: string;
  /** {drive}; DEFAULT_DRIVE when absent. */
  drive?: string;
}

export function expandTemplate(tpl: string, v: TemplateVars, url = false): string {
  return tpl.replace(PLACEHOLDER, (m, name: string) => {
    const kind = KNOWN.get(name.toLowerCase());
    const seg = (s: string) => (url ? encodeURIComponent(s) : s);
    switch (kind) {
      case 'id':
        return seg(v.packageId);
      case 'path':
        return v.rel.map(seg).join('/');
      case 'winpath':
        return v.rel.map(seg).join(url ? '/' : '\\');
      case 'server':
        return url ? showHostPort(v.host) : v.host;
      case 'drive':
        return v.drive ?? DEFAULT_DRIVE;
      default:
        return m;
    }
  });
}

/** The package folder URL: the HTTP template with an empty path, without a trailing "/". */
export function packageUrl(tpl: string, packageId: string, host: string, drive?: string): string {
  const u = expandTemplate(tpl, { packageId, rel: [], host, drive }, true).replace(/\/+$/, '');
  let p: URL;
  try {
    p = new URL(u);
  } catch {
    throw new TemplateError(`httpTemplate gives ${JSON.stringify(redactUrl(u))}, which is not a URL`);
  }
  if (p.protocol !== 'http:' && p.protocol !== 'https:') throw new TemplateError(`httpTemplate gives ${JSON.stringify(redactUrl(u))}, which is not an http:// or https:// URL`);
  return u;
}

export interface Templates {
  namespace: string;
  content: string;
  http: string;
  /** The {drive} value. */
  drive: string;
}

/** The templates of a config (its own, else the defaults), each checked; throws TemplateError naming the key. */
export function templatesOf(cfg: OsdcastConfig): Templates {
  const t: Templates = {
    namespace: cfg.namespaceTemplate ?? DEFAULT_TEMPLATES.namespace,
    content: cfg.contentTemplate ?? DEFAULT_TEMPLATES.content,
    http: cfg.httpTemplate ?? DEFAULT_TEMPLATES.http,
    drive: cfg.drive ?? DEFAULT_DRIVE,
  };
  checkTemplate('namespaceTemplate', t.namespace);
  checkTemplate('contentTemplate', t.content);
  checkTemplate('httpTemplate', t.http);
  return t;
}
