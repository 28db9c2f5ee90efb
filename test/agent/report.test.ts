/**
 * The --json report as the README describes it (section "The `--json` report") against the report's TypeScript
 * types: every field a report can carry is documented, nothing documented is missing from the types, and the
 * documented `errorKind` / `fallbackCause` values are exactly the typed ones.
 */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { FAILURE_KINDS, FALLBACK_CAUSES } from '../../core/outcome';
import { ACP_REPORT_FIELDS, REPORT_DROPS_FIELDS, REPORT_FIELDS, addDrops, noDrops } from '../../agent/report';

const readme = fs.readFileSync(path.join(__dirname, '..', '..', 'README.md'), 'utf8');

/** The paragraph that starts with "The `--json` report:" (up to the next blank line). */
function section(): string {
  const start = readme.indexOf('The `--json` report:');
  if (start < 0) throw new Error('README has no "The `--json` report:" paragraph');
  const end = readme.indexOf('\n\n', start);
  return readme.slice(start, end < 0 ? undefined : end);
}
/** The sentence that starts with "`<name>` is one of", as its backticked words (without the name). */
function oneOf(text: string, name: string): string[] {
  const m = new RegExp('`' + name + '` is one of ([^.]*)\\.').exec(text);
  if (!m) throw new Error(`the report paragraph does not list the values of ${name}`);
  return [...m[1]!.matchAll(/`([^`]+)`/g)].map((x) => x[1]!);
}
const sorted = (xs: readonly string[]) => [...new Set(xs)].sort();

describe('README: the --json report', () => {
  const text = section();
  const fieldPart = text.slice(0, text.search(/`errorKind` is one of/));

  it('documents every field of the report types, and no other', () => {
    const jsonKeys = [...fieldPart.matchAll(/"(\w+)":/g)].map((m) => m[1]!);
    const named = [...fieldPart.matchAll(/`([A-Za-z]\w*)`/g)].map((m) => m[1]!);
    expect(sorted([...jsonKeys, ...named])).toEqual(sorted([...REPORT_FIELDS, ...ACP_REPORT_FIELDS, ...REPORT_DROPS_FIELDS]));
  });

  it('lists exactly the typed errorKind and fallbackCause values', () => {
    expect(sorted(oneOf(text, 'errorKind'))).toEqual(sorted(FAILURE_KINDS));
    expect(sorted(oneOf(text, 'fallbackCause'))).toEqual(sorted(FALLBACK_CAUSES));
  });

  it('the key lists are those of the types (a field added to a type and not to its list does not compile)', () => {
    // The lists are built from `{ [K in keyof Required<T>]: true }` literals in agent/report.ts; here only that
    // they are distinct and the receive and ACP lists do not overlap.
    expect(new Set(REPORT_FIELDS).size).toBe(REPORT_FIELDS.length);
    expect(ACP_REPORT_FIELDS.filter((f) => (REPORT_FIELDS as readonly string[]).includes(f))).toEqual([]);
    expect(REPORT_FIELDS).toContain('maxRssBytes');
  });
});

describe('report drops', () => {
  it('noDrops is every drops field at zero; addDrops sums field by field and tolerates an older report without drops', () => {
    const d = noDrops();
    expect(Object.keys(d).sort()).toEqual([...REPORT_DROPS_FIELDS].sort());
    expect(Object.values(d).every((v) => v === 0)).toBe(true);
    addDrops(d, { ...noDrops(), truncated: 2, outOfRange: 5 });
    addDrops(d, { truncated: 1 });
    addDrops(d, undefined);
    expect(d).toEqual({ ...noDrops(), truncated: 3, outOfRange: 5 });
  });
});
