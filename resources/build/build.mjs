// Builds the bundles with esbuild: one fast tool for Node (main, CLI), the sandboxed preload (which must be a
// single CommonJS file) and the React renderer, with no Electron binary needed.
import { build } from 'esbuild';
import { chmod, copyFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
// `--out DIR` instead of dist/: a browser test builds into its own folder, so that two test files running at
// once never serve a bundle the other is rewriting.
const outAt = process.argv.indexOf('--out');
const out = outAt > 0 && process.argv[outAt + 1] ? resolve(process.argv[outAt + 1]) : join(root, 'dist');
// usocket is native (loaded from node_modules at run time); dbus-next requires x11 only for X11 bus addresses.
const runtimeExternals = ['usocket', 'x11'];
const node = { bundle: true, platform: 'node', target: 'node20', format: 'cjs', sourcemap: true, logLevel: 'warning' };

await build({
  ...node,
  entryPoints: [join(root, 'main/cli/bootkey.ts')],
  outfile: join(out, 'cli/bootkey.cjs'),
  banner: { js: '#!/usr/bin/env node' },
  external: runtimeExternals,
});
await chmod(join(out, 'cli/bootkey.cjs'), 0o755);

// Electron main (electron itself and native modules load at run time) and the web test host.
await build({ ...node, entryPoints: [join(root, 'main/app/main.ts')], outfile: join(out, 'main/app.cjs'), external: ['electron', ...runtimeExternals] });
await build({ ...node, entryPoints: [join(root, 'main/web/serve.ts')], outfile: join(out, 'web/serve.cjs'), external: runtimeExternals });
// The sandboxed preload: one CommonJS file; only `electron` may stay a require.
await build({ ...node, entryPoints: [join(root, 'preload/index.ts')], outfile: join(out, 'preload/index.cjs'), external: ['electron'] });
// The renderer: React with the automatic JSX runtime, one ES module beside index.html and the stylesheet.
await build({
  bundle: true,
  platform: 'browser',
  target: 'chrome120',
  format: 'esm',
  jsx: 'automatic',
  minify: true,
  sourcemap: true,
  logLevel: 'warning',
  define: { 'process.env.NODE_ENV': '"production"' },
  entryPoints: { app: join(root, 'renderer/main.tsx') },
  outdir: join(out, 'renderer'),
});
await Promise.all(['index.html', 'app.css'].map((f) => copyFile(join(root, 'renderer', f), join(out, 'renderer', f))));
