// The benchmark's ≥ 1 GiB ISO: built on demand into the cache (never a test fixture; tests do not need 1 GiB).
import { copyFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { cached } from '../fixtures/cache';
import { run } from '../fixtures/command';
import { debianFile } from '../fixtures/debian-package';
import { cacheDir } from '../fixtures/index';
import { writeTree, type TreeEntry } from '../fixtures/tree';

const MiB = 1 << 20;

/** The folder `extract` is timed on: 240 files in 12 folders, 30 of them 14–18 MiB, the rest up to 1 MiB (~590 MiB). */
export const EXTRACT_DIR = '/tree';

/** What goes into the ISO besides the real EFI loader: the extract tree and 60 files of ~9 MiB elsewhere (~1.1 GiB in all). */
export function benchEntries(): TreeEntry[] {
  const entries: TreeEntry[] = [];
  for (let i = 0; i < 240; i++) {
    const size = i % 8 === 0 ? (14 + (i % 5)) * MiB + 12_345 : 1024 + ((i * 7919 * 131) % MiB);
    entries.push({ kind: 'file', path: `tree/folder${String(i % 12).padStart(2, '0')}/file${String(i).padStart(3, '0')}.bin`, size });
  }
  for (let i = 0; i < 60; i++) entries.push({ kind: 'file', path: `other/part${String(i).padStart(2, '0')}.bin`, size: 9 * MiB + i * 4099 });
  entries.push({ kind: 'text', path: 'boot/grub/grub.cfg', text: 'menuentry "bench" { true }\n' });
  return entries;
}

/** Path of the bench ISO, built first if it is not in the cache (about a minute; 1.1 GiB of pseudo-random data). */
export function benchIso(): Promise<string> {
  return cached(join(cacheDir(), 'bench', 'bench-1g.v1.iso'), async (partial, work) => {
    const tree = join(work, 'tree');
    await writeTree(tree, benchEntries());
    // A real EFI program, so inspect reads a PE header as it would on a distro ISO.
    await mkdir(join(tree, 'EFI', 'BOOT'), { recursive: true });
    await copyFile(await debianFile('memtest86+', 'boot/memtest86+x64.efi'), join(tree, 'EFI', 'BOOT', 'BOOTX64.EFI'));
    await run('xorriso', ['-report_about', 'WARNING', '-abort_on', 'FAILURE', '-joliet', 'on', '-volid', 'BOOTKEY_BENCH',
      '-outdev', partial, '-map', tree, '/', '-commit'], { timeoutMs: 600_000 });
  });
}
