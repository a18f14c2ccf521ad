// Host side of multiboot-keys.ts: one UML run that builds the multi-ISO keys, shared by the UML test (which
// judges its results) and the QEMU test (which boots its key images). The run is cached in the fixture cache
// under a hash of everything it depends on — the fixtures' bytes, every source file of Bootkey and of this run,
// the versions of the Debian packages doing the work — so a cached run is always one of exactly this code on
// exactly these inputs, and any change builds a new one. A failed run is never cached.
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, open, readdir, readFile, rename, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { join, relative, resolve } from 'node:path';
import { promisify } from 'node:util';
import { cacheDir, cached } from '../../fixtures/cache.js';
import { run } from '../../fixtures/command.js';
import { fixture, userKeyManifest } from '../../fixtures/index.js';
import { runInUml } from '../../harness/uml/index.js';

const exec = promisify(execFile);
const projectRoot = resolve(import.meta.dirname, '..', '..', '..');
/** scsi_debug gives both keys this size: the user key fixture is 320 MiB. */
const KEY_MB = 320;
/** Sources the run's outcome depends on: all of Bootkey, the helper, the UML harness and this run's scripts (the
 * fixtures count by their bytes). */
const SOURCES = ['main', 'preload', 'resources/helper', 'test/harness/uml', 'test/integration/inside/multiboot-keys.ts',
  'test/integration/inside/multiboot-uml.ts', 'package-lock.json'];
/** Debian packages whose programs build, check or host the keys. */
const PACKAGES = ['grub-common', 'grub-efi-amd64-bin', 'grub-pc-bin', 'grub2-common', 'user-mode-linux', 'udisks2', 'udev',
  'dosfstools', 'mtools', 'util-linux', 'fdisk', 'exfatprogs', 'exfat-fuse', 'fuse'];
/** Cached runs unused for this long are removed when a new one is built. */
const KEEP_UNUSED_MS = 6 * 3600_000;

export interface MultibootRun {
  /** Folder holding keep.img, fresh.img, crash.img, multiboot.json, multiboot.log, uml.json. */
  dir: string;
  uml: { exitCode: number; timedOut: boolean; stderr: string; setupError?: string; console: string };
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  r: any;
  /** True when an earlier run of the same inputs was reused. */
  fromCache: boolean;
  /** Removes the folder when it is not in the cache (a failed run); a cached run stays for the next test. */
  release(): Promise<void>;
}

async function filesUnder(path: string): Promise<string[]> {
  if (!(await stat(path)).isDirectory()) return [path];
  const entries = await readdir(path, { withFileTypes: true });
  const nested = await Promise.all(entries.sort((a, b) => (a.name < b.name ? -1 : 1))
    .map((e) => filesUnder(join(path, e.name))));
  return nested.flat();
}

async function hashFile(hash: ReturnType<typeof createHash>, path: string): Promise<void> {
  const handle = await open(path, 'r');
  try {
    for await (const chunk of handle.createReadStream({ highWaterMark: 4 << 20 })) hash.update(chunk as Buffer);
  } finally {
    await handle.close().catch(() => undefined);
  }
}

/** The cache key: a hash of the fixtures' bytes, the sources, the package versions and Node's version. */
async function inputsKey(fixtures: string[]): Promise<string> {
  const hash = createHash('sha256');
  for (const file of (await Promise.all(SOURCES.map((s) => filesUnder(join(projectRoot, s))))).flat()) {
    hash.update(`\0${relative(projectRoot, file)}\0`);
    hash.update(await readFile(file));
  }
  for (const file of fixtures) {
    hash.update(`\0fixture\0`);
    await hashFile(hash, file);
  }
  const versions = await exec('dpkg-query', ['-W', '-f', '${Package} ${Version}\n', ...PACKAGES]).then((r) => r.stdout, (e: { stdout?: string }) => e.stdout ?? '');
  hash.update(`\0${versions}\0${process.version}`);
  return hash.digest('hex').slice(0, 32);
}

async function load(dir: string, fromCache: boolean, release: () => Promise<void>): Promise<MultibootRun> {
  const r = JSON.parse(await readFile(join(dir, 'multiboot.json'), 'utf8').catch(() => '{}'));
  const uml = JSON.parse(await readFile(join(dir, 'uml.json'), 'utf8'));
  return { dir, uml, r, fromCache, release };
}

/** Boots UML with two keys and leaves the run's results and key images in `dir`. True when it all went through. */
async function buildInto(dir: string, inputs: { userKey: string; installer: string; memtest: string }): Promise<boolean> {
  const helper = join(dir, 'bootkey-helper');
  await run('cc', ['-O2', '-Wall', '-Wextra', '-Werror', '-o', helper, join(projectRoot, 'resources/helper/bootkey-helper.c')]);
  const uml = await runInUml({
    command: ['node', '--import', 'tsx', 'test/integration/inside/multiboot-keys.ts'],
    keys: [{ sizeMb: KEY_MB }, { sizeMb: KEY_MB }],
    memMb: 2 * KEY_MB + 900,
    env: {
      BOOTKEY_HELPER: helper, BOOTKEY_USER_KEY: inputs.userKey, BOOTKEY_INSTALLER: inputs.installer, BOOTKEY_MEMTEST: inputs.memtest,
      BOOTKEY_USER_FILES: JSON.stringify(userKeyManifest().map((f) => f.path)),
    },
    timeoutMs: 1_800_000,
    outDir: dir,
  });
  await rm(helper, { force: true });
  const summary = { exitCode: uml.exitCode, timedOut: uml.timedOut, stderr: uml.stderr.slice(-5000),
    console: uml.console.slice(-5000), ...(uml.setupError && { setupError: uml.setupError }) };
  await writeFile(join(dir, 'uml.json'), JSON.stringify(summary, null, 2));
  const r = JSON.parse(await readFile(join(dir, 'multiboot.json'), 'utf8').catch(() => '{}'));
  return uml.exitCode === 0 && r.fatal === undefined;
}

/** Removes other cached runs nobody used for KEEP_UNUSED_MS (each is ~1 GiB of sparse images). */
async function pruneOld(root: string, keep: string): Promise<void> {
  for (const name of await readdir(root).catch(() => [] as string[])) {
    const path = join(root, name);
    if (path === keep || name.endsWith('.lock')) continue;
    const info = await stat(path).catch(() => undefined);
    if (info && Date.now() - info.mtimeMs > KEEP_UNUSED_MS) await rm(path, { recursive: true, force: true });
  }
}

/**
 * The keys of multiboot-keys.ts: from the cache when a run of the same inputs succeeded before, else built now
 * (once, under the cache's lock, so concurrent test files share one build). A failed run, or one during which
 * an input changed, is returned for the tests to judge from a folder that is not the cache entry; release()
 * removes it.
 */
export async function multibootKeys(): Promise<MultibootRun> {
  const inputs = { userKey: await fixture('user-key'), installer: await fixture('installer-iso'), memtest: await fixture('memtest-iso') };
  const root = join(cacheDir(), 'multiboot-keys');
  const key = await inputsKey(Object.values(inputs));
  const path = join(root, key);
  let built = false;
  let uncached: string | undefined;
  await mkdir(root, { recursive: true });
  await cached(path, async (partial) => {
    built = true;
    await mkdir(partial);
    const passed = await buildInto(partial, inputs);
    // A source edited while UML ran (parallel work in the checkout) makes the run no one version's: not cached.
    if (passed && (await inputsKey(Object.values(inputs))) === key) return;
    uncached = join(root, `uncached-${process.pid}-${Date.now()}`);
    await rename(partial, uncached);
    throw new Error('multiboot keys: this run is not cached');
  }).catch((error: unknown) => {
    if (!uncached) throw error;
  });
  if (uncached) {
    const dir = uncached;
    return load(dir, false, () => rm(dir, { recursive: true, force: true }));
  }
  const now = new Date();
  await utimes(path, now, now); // "used": pruning goes by the folder's time
  if (built) await pruneOld(root, path);
  return load(path, !built, async () => undefined);
}

/** The command's result: the last line of its --json output (progress events come before it). */
export function lastJson(stdout: string): any { // eslint-disable-line @typescript-eslint/no-explicit-any
  return JSON.parse(stdout.trim().split('\n').at(-1) ?? '');
}
