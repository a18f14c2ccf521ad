// Host side of multiboot-keys.ts: compiles the helper, builds the fixtures, boots UML with two keys and returns
// the results and the folder holding keep.img and fresh.img (the caller removes it).
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run } from '../../fixtures/command.js';
import { fixture, userKeyManifest } from '../../fixtures/index.js';
import { runInUml, type UmlResult } from '../../harness/uml/index.js';

/** scsi_debug gives both keys this size: the user key fixture is 320 MiB. */
const KEY_MB = 320;

export interface MultibootRun {
  dir: string;
  uml: UmlResult;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  r: any;
}

export async function buildMultibootKeys(): Promise<MultibootRun> {
  const dir = await mkdtemp(join(tmpdir(), 'bootkey-multiboot-'));
  const helper = join(dir, 'bootkey-helper');
  await run('cc', ['-O2', '-Wall', '-Wextra', '-Werror', '-o', helper, 'resources/helper/bootkey-helper.c']);
  const [userKey, installer, memtest] = [await fixture('user-key'), await fixture('installer-iso'), await fixture('memtest-iso')];
  const uml = await runInUml({
    command: ['node', '--import', 'tsx', 'test/integration/inside/multiboot-keys.ts'],
    keys: [{ sizeMb: KEY_MB }, { sizeMb: KEY_MB }],
    memMb: 2 * KEY_MB + 900,
    env: {
      BOOTKEY_HELPER: helper, BOOTKEY_USER_KEY: userKey, BOOTKEY_INSTALLER: installer, BOOTKEY_MEMTEST: memtest,
      BOOTKEY_USER_FILES: JSON.stringify(userKeyManifest().map((f) => f.path)),
    },
    timeoutMs: 900_000,
    outDir: dir,
  });
  const r = JSON.parse(await readFile(join(dir, 'multiboot.json'), 'utf8').catch(() => '{}'));
  return { dir, uml, r };
}

/** The command's result: the last line of its --json output (progress events come before it). */
export function lastJson(stdout: string): any { // eslint-disable-line @typescript-eslint/no-explicit-any
  return JSON.parse(stdout.trim().split('\n').at(-1) ?? '');
}
