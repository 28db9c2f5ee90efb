// Bundles each entry point into one CommonJS file under dist/ with esbuild (no transports, no native addons:
// the same bundle is what packaging/package.mjs injects into the single binary).
import { build } from 'esbuild';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const pkg = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8'));
const entries = [
  ['agent/cli.ts', 'dist/osdcast.cjs', true],
  ['test/demo/main.ts', 'dist/demo.cjs', false],
  ['test/coordinator/main.ts', 'dist/coordinator.cjs', false],
  ['test/bench/main.ts', 'dist/bench.cjs', false],
  ['test/lab/forger.ts', 'dist/lab-forger.cjs', false], // a forging host for the namespace lab (test/lab)
  ['test/sim/main.ts', 'dist/sim.cjs', false], // npm run sim: the NACK-suppression fleet simulation
  ['test/fuzz/main.ts', 'dist/fuzz.cjs', false], // npm run fuzz (test/fuzz)
  ['test/reliability/main.ts', 'dist/reliability.cjs', false], // npm run reliability: the loss matrix (test/lab/matrix.ts)
];
for (const [src, out, shebang] of entries) {
  if (!existsSync(path.join(root, src))) continue;
  await build({
    entryPoints: [path.join(root, src)],
    outfile: path.join(root, out),
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    sourcemap: false,
    legalComments: 'none',
    logLevel: 'warning',
    define: { OSDCAST_VERSION: JSON.stringify(pkg.version) },
    banner: shebang ? { js: '#!/usr/bin/env node' } : undefined,
  });
}
