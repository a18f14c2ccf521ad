// Builds the bundles with esbuild: one fast tool for Node (main, CLI), the sandboxed preload (which must be a
// single CommonJS file) and the React renderer, with no Electron binary needed.
import { build } from 'esbuild';
import { chmod } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const out = join(root, 'dist');
const node = { bundle: true, platform: 'node', target: 'node20', format: 'cjs', sourcemap: true, logLevel: 'warning' };

await build({
  ...node,
  entryPoints: [join(root, 'main/cli/bootkey.ts')],
  outfile: join(out, 'cli/bootkey.cjs'),
  banner: { js: '#!/usr/bin/env node' },
  // native module: loaded from node_modules at run time
  external: ['usocket'],
});
await chmod(join(out, 'cli/bootkey.cjs'), 0o755);
