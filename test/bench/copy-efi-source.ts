// The source of the copy-efi benches, built once into the fixture cache: a live-style ISO (memtest's EFI loader,
// a grub.cfg booting `boot=live`, so copy-efi takes /live whole: ~520 MiB in 330 files, 307 of them small) and
// the same tree unpacked beside it, for `cp -r`.
import { execFileSync } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { cached } from '../fixtures/cache';
import { run } from '../fixtures/command';
import { debianFile } from '../fixtures/debian-package';
import { cacheDir } from '../fixtures/index';
import { writeTree, type TreeEntry } from '../fixtures/tree';

const MiB = 1 << 20;

/** A live-style ISO: memtest's EFI loader, a grub.cfg booting `boot=live` (so copy-efi takes /live whole), /live. */
function entries(): TreeEntry[] {
  const list: TreeEntry[] = [
    { kind: 'text', path: 'boot/grub/grub.cfg', text: 'menuentry "bench" {\n  linux /live/vmlinuz boot=live\n  initrd /live/initrd.img\n}\n' },
    { kind: 'file', path: 'live/vmlinuz', size: 8 * MiB + 4321 },
    { kind: 'file', path: 'live/initrd.img', size: 40 * MiB + 777 },
  ];
  for (let i = 0; i < 20; i++) list.push({ kind: 'file', path: `live/big/part${String(i).padStart(2, '0')}.bin`, size: (18 + (i % 5)) * MiB + i * 4099 });
  for (let i = 0; i < 307; i++) {
    list.push({ kind: 'file', path: `live/small/dir${i % 9}/file${String(i).padStart(3, '0')}.bin`, size: 2048 + ((i * 7919 * 131) % (512 * 1024)) });
  }
  return list;
}

/** The ISO and the same tree unpacked beside it (for cp), built once into the cache. */
export function benchSource(): Promise<string> {
  return cached(join(cacheDir(), 'bench', 'copy-efi-source.v1'), async (partial) => {
    const tree = join(partial, 'tree');
    await writeTree(tree, entries());
    await mkdir(join(tree, 'EFI', 'BOOT'), { recursive: true });
    execFileSync('cp', [await debianFile('memtest86+', 'boot/memtest86+x64.efi'), join(tree, 'EFI', 'BOOT', 'BOOTX64.EFI')]);
    await run('xorriso', ['-report_about', 'WARNING', '-abort_on', 'FAILURE', '-joliet', 'on', '-volid', 'BOOTKEY_BENCH',
      '-outdev', join(partial, 'source.iso'), '-map', tree, '/', '-commit'], { timeoutMs: 600_000 });
  });
}

