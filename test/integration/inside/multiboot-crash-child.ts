// Child process of test/integration/multiboot-crash.test.ts, killed with SIGKILL at a random moment: runs one
// multiboot service call on a folder standing for a mounted key (the host's real files, durable writer, GRUB
// tools; a fake udisks that says the folder is a FAT partition of a USB key). argv: FOLDER add ISO… | FOLDER menu N
import { setTimeout as sleep } from 'node:timers/promises';
import { hostDurableWriter } from '../../../main/adapters/fs/durable-writer.js';
import { hostImageFiles } from '../../../main/adapters/fs/image-files.js';
import { hostKeyFiles } from '../../../main/adapters/fs/key-files.js';
import { hostGrubBuilder } from '../../../main/adapters/grub/host-grub-builder.js';
import { DriveService } from '../../../main/services/drives.js';
import { MultibootService } from '../../../main/services/multiboot.js';
import { MemoryDiskProvider } from '../../harness/memory-disk-provider.js';

/** `writer`: 1 MiB windows by default here, so kills land between flushes as well as inside. */
export function folderService(folder: string, writer = hostDurableWriter(1 << 20)): MultibootService {
  const disks = new MemoryDiskProvider([{ name: 'sdz', size: 4 * 1024 ** 3, table: 'dos',
    partitions: [{ size: 4 * 1024 ** 3 - (1 << 20), fsType: 'vfat', label: 'KEY', mountPoint: folder }] }]);
  return new MultibootService({
    disks, drives: new DriveService(disks), files: hostKeyFiles,
    writer, images: hostImageFiles, grub: hostGrubBuilder,
    runner: { run: async () => { throw new Error('no helper in this test'); } },
    sleep: (ms) => sleep(ms),
  });
}

if (process.argv[1]?.endsWith('multiboot-crash-child.ts')) {
  const [folder, action, ...rest] = process.argv.slice(2) as [string, string, ...string[]];
  const service = folderService(folder);
  const work = action === 'add' ? service.add(folder, rest) : service.menu(folder, { timeoutSeconds: Number(rest[0]) });
  work.then(() => process.exit(0), (error: Error) => {
    process.stderr.write(`${error.message}\n`);
    process.exit(1);
  });
}
