import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { ESLint } from 'eslint';

const root = join(import.meta.dirname, '..', '..');
const eslint = new ESLint({ cwd: root, overrideConfigFile: join(root, 'resources/build/eslint.config.mjs') });

/** Lints `source` as if it were a file in `folder` and returns ESLint's messages. */
async function lintIn(folder: string, source: string): Promise<string> {
  const [report] = await eslint.lintText(source, { filePath: join(root, folder, 'lint-probe.ts') });
  return (report?.messages ?? []).map((m) => `${m.ruleId}: ${m.message}`).join('\n');
}

const cases: [folder: string, source: string, forbidden: boolean][] = [
  ['main/core', "import { readFileSync } from 'node:fs';\nexport const x = readFileSync;\n", true],
  ['main/core', "import { readFileSync } from 'fs';\nexport const x = readFileSync;\n", true],
  ['main/core', "import { app } from 'electron';\nexport const x = app;\n", true],
  ['main/core', "import dbus from 'dbus-next';\nexport const x = dbus;\n", true],
  ['main/core', "import { FileByteSource } from '../../adapters/fs/file-byte-source.js';\nexport const x = FileByteSource;\n", true],
  ['main/core', 'export const x = Buffer.from([1]);\n', true],
  ['main/core', "import { ParseError } from '../errors.js';\nexport const x = ParseError;\n", false],
  ['main/services', "import { open } from 'node:fs/promises';\nexport const x = open;\n", true],
  ['main/adapters', "import { open } from 'node:fs/promises';\nexport const x = open;\n", false],
  ['main/cli', "import { app } from 'electron';\nexport const x = app;\n", true],
  ['main/cli', "import { open } from 'node:fs/promises';\nexport const x = open;\n", false],
  ['main/cli', "import dbus from 'dbus-next';\nexport const x = dbus;\n", true],
  ['main/app', "import dbus from 'dbus-next';\nexport const x = dbus;\n", true],
  ['main/adapters/udisks', "import dbus from 'dbus-next';\nexport const x = dbus;\n", false],
];

for (const [folder, source, forbidden] of cases) {
  const what = source.split('\n')[0];
  test(`${folder}: ${what} is ${forbidden ? 'refused' : 'allowed'} by lint`, async () => {
    const messages = await lintIn(folder, source);
    if (forbidden) assert.match(messages, /no-restricted-(imports|globals)/);
    else assert.equal(messages, '');
  });
}
