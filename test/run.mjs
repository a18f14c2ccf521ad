// `npm test`: Node's built-in test runner (TypeScript through tsx) over every tier's *.test.ts files.
// Arguments narrow the run: `npm test -- unit` runs test/unit only, `npm test -- test/unit/x.test.ts` one file.
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

const testDir = new URL('.', import.meta.url).pathname;
const root = join(testDir, '..');

function collect(dir) {
  if (statSync(dir).isFile()) return [dir];
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return entry.name === 'node_modules' ? [] : collect(path);
    return /\.test\.tsx?$/.test(entry.name) ? [path] : [];
  });
}

const targets = process.argv.slice(2);
const files = (targets.length ? targets.map((t) => (t.includes('/') ? join(root, t) : join(testDir, t))) : [testDir])
  .flatMap(collect)
  .sort();
if (files.length === 0) {
  console.error('no test files found');
  process.exit(1);
}
// Two files at a time: the emulators (UML, QEMU) are single-threaded and wait on I/O, so a second file fills the
// machine's other core (a full CI run: 35 min one at a time, 22 min two at a time). Time limits inside tests are
// set for that load, and the fixture cache builds each fixture once across processes.
const result = spawnSync(
  process.execPath,
  ['--import', 'tsx', '--test', '--test-concurrency=2', '--test-reporter=spec', ...files.map((f) => relative(root, f))],
  { cwd: root, stdio: 'inherit' },
);
process.exit(result.status ?? 1);
