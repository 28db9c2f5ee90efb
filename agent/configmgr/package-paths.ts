/**
 * Path safety for a package listing: every name the server lists becomes a path under the destination folder,
 * so each one is checked (safeRelativePath): it must lie under the package URL on the same server, and no segment
 * may be empty, "." or "..", contain "/", "\\", ":", NUL or another control character or one of * ? " < > |, end
 * in a dot or space (Windows strips those, so ".. " would become ".."), or be a DOS device name (CON, NUL, COM1 …).
 * Pure except joinInside's path.resolve (no file system access).
 */
import path from 'node:path';

export class UnsafePathError extends Error {}

const DEVICE = /^(?:CON|PRN|AUX|NUL|COM[0-9¹²³]|LPT[0-9¹²³])(?:\..*)?$/i;

/** Why one decoded path segment cannot be a file or folder name under the destination, or undefined when it can. */
export function segmentProblem(seg: string): string | undefined {
  if (seg === '') return 'empty name';
  if (seg === '.' || seg === '..') return `"${seg}" would leave the folder`;
  if (seg.includes('\0')) return 'NUL character';
  if (seg.includes('/') || seg.includes('\\')) return 'path separator inside a name';
  if (seg.includes(':')) return 'drive letter or ":" (alternate data stream) in a name';
  // eslint-disable-next-line no-control-regex
  if (/[\u0001-\u001f\u007f]/.test(seg)) return 'control character in a name';
  if (/[*?"<>|]/.test(seg)) return 'character not allowed in a Windows file name (* ? " < > |)';
  if (/[. ]$/.test(seg)) return 'name ends in a dot or space (Windows strips it)';
  if (DEVICE.test(seg)) return 'DOS device name';
  if (seg.length > 255) return 'name longer than 255 characters';
  return undefined;
}

function decodeSegment(raw: string, href: string): string {
  try {
    return decodeURIComponent(raw);
  } catch {
    throw new UnsafePathError(`refusing ${JSON.stringify(href)}: malformed percent-encoding`);
  }
}

/** The path part of an href as written (no scheme/host, no query or fragment), split on "/". */
function rawSegments(href: string): string[] {
  const noFrag = href.replace(/[?#].*$/s, '');
  const p = /^[A-Za-z][A-Za-z0-9+.-]*:\/\/[^/]*(.*)$/s.exec(noFrag)?.[1] ?? noFrag;
  return p.split('/');
}

/**
 * The path of `href` (from a listing of `base`) relative to the package URL `root`, as decoded segments.
 * Throws UnsafePathError when it leaves the package (other server, outside the root path, "..", bad names).
 * Returns [] for the package root itself.
 */
export function safeRelativePath(root: string, base: string, href: string): string[] {
  const shown = JSON.stringify(href);
  if (/[\\\0]/.test(href)) throw new UnsafePathError(`refusing ${shown}: backslash or NUL in the href`);
  for (const raw of rawSegments(href)) {
    const d = decodeSegment(raw, href);
    if (d === '.' || d === '..') throw new UnsafePathError(`refusing ${shown}: "${d}" segment would leave the package folder`);
  }
  let u: URL;
  try {
    u = new URL(href, base);
  } catch {
    throw new UnsafePathError(`refusing ${shown}: not a URL`);
  }
  const r = new URL(root);
  if (u.origin !== r.origin) throw new UnsafePathError(`refusing ${shown}: points to another server (${u.origin}, package is on ${r.origin})`);
  const rootSegs = r.pathname.split('/').filter((x) => x !== '').map((x) => decodeSegment(x, root).toLowerCase());
  const segs = u.pathname.split('/');
  if (segs[segs.length - 1] === '') segs.pop(); // collection hrefs end in "/"
  if (segs[0] === '') segs.shift();
  const decoded = segs.map((x) => decodeSegment(x, href));
  if (decoded.length < rootSegs.length || rootSegs.some((s, k) => decoded[k]!.toLowerCase() !== s)) {
    throw new UnsafePathError(`refusing ${shown}: outside the package (${r.pathname})`);
  }
  const rel = decoded.slice(rootSegs.length);
  for (const seg of rel) {
    const why = segmentProblem(seg);
    if (why) throw new UnsafePathError(`refusing ${shown}: ${why} (${JSON.stringify(seg)})`);
  }
  return rel;
}

/** dest joined with rel, checked to stay inside dest (the last line of defence after safeRelativePath). */
export function joinInside(dest: string, rel: readonly string[]): string {
  for (const seg of rel) {
    const why = segmentProblem(seg);
    if (why) throw new UnsafePathError(`refusing ${JSON.stringify(rel.join('/'))}: ${why}`);
  }
  const base = path.resolve(dest);
  const full = path.resolve(base, ...rel);
  if (full !== base && !full.startsWith(base.endsWith(path.sep) ? base : base + path.sep)) throw new UnsafePathError(`refusing ${JSON.stringify(rel.join('/'))}: leaves ${base}`);
  return full;
}
