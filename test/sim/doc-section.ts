/**
 * Marked sections of a generated Markdown file (docs/performance.md): each writer replaces only the text between
 * its own `<!-- name:begin -->` and `<!-- name:end -->` markers, and a writer that rewrites the whole file (the
 * bench) carries the other writers' sections over.
 */
const begin = (name: string) => `<!-- ${name}:begin -->`;
const end = (name: string) => `<!-- ${name}:end -->`;

/** The section `name` of `md` with its markers, or undefined. */
export function findSection(md: string, name: string): string | undefined {
  const a = md.indexOf(begin(name));
  const b = md.indexOf(end(name));
  if (a < 0 || b < a) return undefined;
  return md.slice(a, b + end(name).length);
}

/** `md` with section `name` replaced by `body` (markers added); appended at the end when it had none. */
export function replaceSection(md: string, name: string, body: string): string {
  const block = `${begin(name)}\n${body.trim()}\n${end(name)}`;
  const old = findSection(md, name);
  if (old !== undefined) return md.replace(old, () => block);
  return `${md.trimEnd()}${md.trim() ? '\n\n' : ''}${block}\n`;
}

/** `fresh` (a whole new file) keeping the sections named in `names` from `old`. */
export function keepSections(old: string, fresh: string, names: readonly string[]): string {
  let out = fresh;
  for (const name of names) {
    const s = findSection(old, name);
    if (s === undefined) continue;
    const a = s.indexOf('\n');
    const inner = s.slice(a + 1, s.length - end(name).length);
    out = replaceSection(out, name, inner);
  }
  return out;
}

/** Sections of docs/performance.md written by tools other than the bench. */
export const FOREIGN_SECTIONS = ['nack-sim', 'loss-window', 'receive-path'] as const;
