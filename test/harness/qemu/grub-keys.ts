// Small bootable "USB key" images with a GRUB that runs a given grub.cfg, built without root or loop mounts
// (this host's kernel has no vfat): sfdisk writes the table into an image file, mkfs.fat + mtools fill a
// separate partition file, and dd splices it in at the offset sfdisk chose.
import { execFile } from 'node:child_process';
import { rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const SECTOR = 512;
const GRUB_PC = '/usr/lib/grub/i386-pc';
/** boot.img's code ends where the MBR's disk signature and partition table begin. */
const MBR_CODE_BYTES = 440;

/** A key image and where its one FAT partition starts, in bytes (for `mtools -i image@@offset`). */
export interface GrubKey {
  image: string;
  partitionOffset: number;
}

interface Partition {
  start: number;
  size: number;
}

/** Writes a one-partition table with sfdisk and returns where sfdisk put the partition, in sectors. */
async function partitionImage(image: string, sizeMiB: number, script: string): Promise<Partition> {
  writeFileSync(image, '');
  await run('truncate', ['-s', `${sizeMiB}M`, image]);
  await new Promise<void>((resolve, reject) => {
    const child = execFile('sfdisk', ['--quiet', image], (error) => (error ? reject(error) : resolve()));
    child.stdin?.end(script);
  });
  const table = JSON.parse((await run('sfdisk', ['--json', image])).stdout) as {
    partitiontable: { partitions: Partition[] };
  };
  const [partition] = table.partitiontable.partitions;
  if (!partition) throw new Error(`sfdisk made no partition in ${image}`);
  return partition;
}

/** Makes a FAT file system the size of the partition, copies files in (path in FAT → host file), splices it in. */
async function fillFatPartition(image: string, partition: Partition, files: Record<string, string>): Promise<void> {
  const fat = `${image}.part`;
  try {
    writeFileSync(fat, '');
    await run('truncate', ['-s', String(partition.size * SECTOR), fat]);
    await run('mkfs.fat', ['-n', 'BOOTKEYTEST', fat]);
    const folders = new Set<string>();
    for (const path of Object.keys(files)) {
      const parts = path.split('/').slice(0, -1);
      parts.forEach((_, i) => folders.add(parts.slice(0, i + 1).join('/')));
    }
    if (folders.size) await run('mmd', ['-i', fat, ...[...folders].sort().map((folder) => `::/${folder}`)]);
    for (const [path, source] of Object.entries(files)) await run('mcopy', ['-i', fat, source, `::/${path}`]);
    await run('dd', [`if=${fat}`, `of=${image}`, `bs=${SECTOR}`, `seek=${partition.start}`, 'conv=notrunc',
      'status=none']);
  } finally {
    rmSync(fat, { force: true });
  }
}

/**
 * A GPT key whose EFI System Partition holds a standalone GRUB (grub.cfg embedded in its memdisk) as the
 * removable-media loader EFI/BOOT/BOOTX64.EFI, the path firmware boots without any boot entry.
 */
export async function makeGrubEfiKey(dir: string, grubCfg: string): Promise<GrubKey> {
  const image = join(dir, 'grub-efi-key.img');
  const cfg = join(dir, 'grub-efi.cfg');
  const loader = join(dir, 'BOOTX64.EFI');
  writeFileSync(cfg, grubCfg);
  await run('grub-mkstandalone', ['-O', 'x86_64-efi', '-o', loader, '--locales=', '--fonts=', '--themes=',
    `boot/grub/grub.cfg=${cfg}`]);
  const esp = await partitionImage(image, 32, 'label: gpt\nstart=1MiB, type=C12A7328-F81F-11D2-BA4B-00A0C93EC93B\n');
  await fillFatPartition(image, esp, { 'EFI/BOOT/BOOTX64.EFI': loader });
  rmSync(loader);
  return { image, partitionOffset: esp.start * SECTOR };
}

/**
 * An MBR key with GRUB installed for BIOS the way grub-install does it (Debian 12's grub-pc-bin has no
 * grub-bios-setup, so by hand): boot.img's code in the MBR, core.img in the gap before the first partition, and
 * grub.cfg read from the FAT partition at (hd0,msdos1)/boot/grub. boot.img loads sector 1 by default and
 * grub-mkimage writes core.img's own length into its first sector's block list, so no patching is needed when
 * core.img sits at sector 1. `files` adds files to the partition (path on the key → host file).
 */
export async function makeGrubBiosKey(
  dir: string,
  grubCfg: string,
  files: Record<string, string> = {},
): Promise<GrubKey> {
  const image = join(dir, 'grub-bios-key.img');
  const cfg = join(dir, 'grub-bios.cfg');
  const core = join(dir, 'core.img');
  writeFileSync(cfg, grubCfg);
  const partition = await partitionImage(image, 32, 'label: dos\nstart=1MiB, type=c, bootable\n');
  await fillFatPartition(image, partition, { ...files, 'boot/grub/grub.cfg': cfg });
  await run('grub-mkimage', ['-O', 'i386-pc', '-o', core, '-p', '(hd0,msdos1)/boot/grub',
    'biosdisk', 'part_msdos', 'fat', 'normal', 'echo', 'serial', 'terminal', 'reboot', 'loadenv', 'sleep']);
  const coreBytes = statSync(core).size;
  if (SECTOR + coreBytes > partition.start * SECTOR) {
    throw new Error(`core.img (${coreBytes} bytes) does not fit before the partition at sector ${partition.start}`);
  }
  await run('dd', [`if=${core}`, `of=${image}`, `bs=${SECTOR}`, 'seek=1', 'conv=notrunc', 'status=none']);
  rmSync(core);
  await run('dd', [`if=${GRUB_PC}/boot.img`, `of=${image}`, `bs=${MBR_CODE_BYTES}`, 'count=1', 'conv=notrunc',
    'status=none']);
  return { image, partitionOffset: partition.start * SECTOR };
}
