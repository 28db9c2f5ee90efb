/** The text `reg query` prints, parsed (pure: discovery.ts runs the command). */
export interface RegValue {
  name: string;
  type: string;
  data: string;
}

/**
 * Parses the text `reg query <key> [/v name]` prints:
 *
 *   (blank line)
 *   HKEY_LOCAL_MACHINE\SYSTEM\CurrentControlSet\Control
 *       PEBootServerAddr    REG_SZ    10.20.30.40
 *   (blank line)
 *
 * Value lines are indented; name, type and data are separated by four spaces; the data may be empty.
 */
export function parseRegQuery(stdout: string): { key?: string; values: RegValue[] } {
  let key: string | undefined;
  const values: RegValue[] = [];
  for (const raw of stdout.split(/\r\n|\r|\n/)) {
    if (/^HKEY_/i.test(raw)) {
      key = raw.trim();
      continue;
    }
    const m = /^\s+(.*?)\s{2,}(REG_[A-Z0-9_]+)(?:\s{1,4}(.*))?$/.exec(raw);
    if (m) values.push({ name: m[1]!, type: m[2]!, data: (m[3] ?? '').replace(/\s+$/, '') });
  }
  return { key, values };
}
