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

/**
 * Per-stage view of the receive path: each sample goes to the stage of the innermost frame on its stack that a
 * stage claims (so `checksum` under `decodeMt` under `handleDatagram` counts as checksum, and what
 * `handleDatagram` does itself as MT/MA state). Frames are matched by function name (and `node:` file for
 * Node's own), so the table follows renames only as far as the names below.
 */
export interface Stage {
  name: string;
  /** function names (any file) */
  fns?: string[];
  /** function names inside Node's own modules (`node:…` files) or native */
  node?: string[];
}

export const STAGES: Stage[] = [
  { name: 'GC', fns: ['(garbage collector)'] },
  { name: 'datagram send (ACK, NACK)', fns: ['sendAck', 'afterDns', 'doSend'], node: ['send', 'doSend', 'afterDns', 'sendOne'] },
  { name: 'checksum', fns: ['checksum', 'checksumOk'] },
  { name: 'MT header decode', fns: ['decodeMt', 'readBody', 'peekMt', 'peekData', 'guard', 'u8', 'u16', 'u32', 'u64', 'u64f', 'bytes', 'findOption', 'readU64'] },
  { name: 'block copy into the ring', fns: ['put', 'copy', '_copyActual', 'differs'] },
  { name: 'resume checkpoint', fns: ['checkpoint', 'fdatasync', 'fsyncSync', 'sync', 'toBuffer', 'loadFrom'] },
  { name: 'disk pump (writev + completions)', fns: ['kick', 'takeWrite', 'start', 'writev', 'writeBuffers', 'written', 'writeDone', 'complete', 'onWritten', 'handleWritten', 'takeReleased', 'wrapper'] },
  { name: 'timers', fns: ['setTimeout', 'clearTimeout', 'listOnTimeout', 'processTimers', 'insert', 'unenroll', 'pollTimeout', 'next', 'arm', 'armed'] },
  { name: 'MT / MA state', fns: ['handleDatagram', 'handlePacket', 'onData', 'onDatagram', 'service', 'onMulticast', 'updateStart', 'updateEnd', 'received', 'highestContinuous', 'learnNumbering', 'has', 'set', 'pollTransmit', 'pollEvent', 'lossSteps', 'armNack'] },
  { name: 'Node dgram receive', node: ['onMessage', 'emit', 'FastBuffer', 'createUnsafeBuffer'] },
  { name: 'idle', fns: ['(idle)'] },
  { name: 'program (native, libuv)', fns: ['(program)'] },
];

export interface StageSummary {
  totalMs: number;
  /** % of non-idle samples per stage name (and `other`); `idle` is % of all samples */
  stages: Record<string, number>;
}

export function stageProfile(file: string, stages: Stage[] = STAGES): StageSummary {
  const p = JSON.parse(fs.readFileSync(file, 'utf8')) as { nodes: Node[]; samples: number[]; timeDeltas: number[] };
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const claim = (n: Node): string | undefined => {
    const f = n.callFrame;
    const name = f.functionName || '(anonymous)';
    const isNode = f.url.startsWith('node:') || f.url === '';
    for (const s of stages) if (s.fns?.includes(name) || (isNode && s.node?.includes(name))) return s.name;
    return undefined;
  };
  const stageOf = new Map<number, string>();
  const resolve = (id: number): string => {
    const known = stageOf.get(id);
    if (known) return known;
    const n = byId.get(id)!;
    const s = claim(n) ?? (parent.has(id) ? resolve(parent.get(id)!) : 'other');
    stageOf.set(id, s);
    return s;
  };
  const t = new Map<string, number>();
  let total = 0;
  for (let i = 0; i < p.samples.length; i++) {
    const dt = p.timeDeltas[i] ?? 0;
    total += dt;
    const s = resolve(p.samples[i]!);
    t.set(s, (t.get(s) ?? 0) + dt);
  }
  const idle = t.get('idle') ?? 0;
  const busy = total - idle;
  const out: Record<string, number> = {};
  for (const [k, v] of t) out[k] = k === 'idle' ? (100 * v) / total : (100 * v) / busy;
  for (const s of stages) out[s.name] ??= 0;
  out.other ??= 0;
  return { totalMs: total / 1000, stages: out };
}
