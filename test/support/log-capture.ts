import type { Logger } from '../../agent/log/log';

/** A Logger that keeps every line: its level, the object logged with it (if any) and the message. */
export function captureLogger() {
  const lines: { level: string; obj: Record<string, unknown>; msg: string }[] = [];
  const at = (level: string) => (a: unknown, b?: unknown) =>
    void lines.push({ level, obj: typeof a === 'object' && a ? (a as Record<string, unknown>) : {}, msg: String(typeof a === 'string' ? a : b) });
  return { lines, log: { info: at('info'), warn: at('warn'), error: at('error'), debug: at('debug') } as unknown as Logger };
}
