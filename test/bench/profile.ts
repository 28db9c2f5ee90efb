/** Summarises a V8 .cpuprofile (node --cpu-prof): self time per function and inclusive time of chosen frames. */
import fs from 'node:fs';

interface Node {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

export interface ProfileSummary {
  totalMs: number;
  self: { name: string; percent: number }[];
  inclusive: Record<string, number>;
}

function label(n: Node): string {
  const f = n.callFrame;
  const file = f.url.split('/').pop() || '';
  const name = f.functionName || '(anonymous)';
  if (name.startsWith('(')) return name; // (garbage collector), (idle), (program)
  return file.startsWith('node:') || !file.endsWith('.cjs') ? `${name} [${file || 'native'}]` : name;
}

export function summarizeProfile(file: string, frames: string[], top = 14): ProfileSummary {
  const p = JSON.parse(fs.readFileSync(file, 'utf8')) as { nodes: Node[]; samples: number[]; timeDeltas: number[] };
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const t = new Map<number, number>();
  for (let i = 0; i < p.samples.length; i++) t.set(p.samples[i]!, (t.get(p.samples[i]!) ?? 0) + (p.timeDeltas[i] ?? 0));
  const total = [...t.values()].reduce((a, b) => a + b, 0);
  const self = new Map<string, number>();
  const incl = new Map<string, number>();
  for (const n of p.nodes) {
    const dt = t.get(n.id) ?? 0;
    if (!dt) continue;
    const l = label(n);
    self.set(l, (self.get(l) ?? 0) + dt);
    const seen = new Set<string>();
    for (let id: number | undefined = n.id; id !== undefined; id = parent.get(id)) {
      const name = byId.get(id)!.callFrame.functionName;
      if (!seen.has(name)) {
        seen.add(name);
        incl.set(name, (incl.get(name) ?? 0) + dt);
      }
    }
  }
  return {
    totalMs: total / 1000,
    self: [...self].sort((a, b) => b[1] - a[1]).slice(0, top).map(([name, v]) => ({ name, percent: (100 * v) / total })),
    inclusive: Object.fromEntries(frames.map((f) => [f, (100 * (incl.get(f) ?? 0)) / total])),
  };
}
