// Builds xstate-preload.c (see there why Debian's UML needs it on AMX hosts) once into the fixture cache.
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { cacheDir, cached } from '../../fixtures/cache.js';
import { run } from '../../fixtures/command.js';

/** The path of the built shared object, named by its source's hash so an edited source is rebuilt. */
export async function xstatePreload(): Promise<string> {
  const source = join(import.meta.dirname, 'xstate-preload.c');
  const hash = createHash('sha256').update(await readFile(source)).digest('hex').slice(0, 16);
  return cached(join(cacheDir(), 'uml', `xstate-preload-${hash}.so`), async (partial) => {
    await run('cc', ['-O2', '-Wall', '-Wextra', '-Werror', '-shared', '-fPIC', '-o', partial, source, '-ldl']);
  });
}
