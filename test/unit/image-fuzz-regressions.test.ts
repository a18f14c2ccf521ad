// Resource bounds found while fuzzing and benchmarking, each checked on an image a real tool made.
import assert from 'node:assert/strict';
import { copyFile, mkdir, mkdtemp, rm, truncate } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { FileByteSource } from '../../main/adapters/fs/file-byte-source.js';
import { inspectImage } from '../../main/core/inspect/inspect-image.js';
import type { ByteSource } from '../../main/ports/byte-source.js';
import { run } from '../fixtures/command.js';
import { debianFile } from '../fixtures/debian-package.js';
import { tierSuite } from '../harness/tier.js';

const MiB = 1 << 20;

tierSuite('tools', 'inspection reads bounded amounts of large images', () => {
  // inspect used to read every EFI program whole to look at its PE header: a unified kernel image of 100 MiB
  // (or a forged size) meant a read, and an allocation, of that size.
  test('an ISO holding a 48 MiB EFI program (a unified kernel image) costs under 1 MiB of reads', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'bootkey-uki-'));
    try {
      const tree = join(dir, 'tree');
      await mkdir(join(tree, 'EFI', 'BOOT'), { recursive: true });
      await mkdir(join(tree, 'EFI', 'Linux'));
      const efi = await debianFile('memtest86+', 'boot/memtest86+x64.efi');
      await copyFile(efi, join(tree, 'EFI', 'BOOT', 'BOOTX64.EFI'));
      const uki = join(tree, 'EFI', 'Linux', 'linux.efi');
      await copyFile(efi, uki);
      await truncate(uki, 48 * MiB);
      const iso = join(dir, 'uki.iso');
      await run('xorriso', ['-report_about', 'WARNING', '-abort_on', 'FAILURE', '-outdev', iso, '-map', tree, '/', '-commit']);

      const file = await FileByteSource.open(iso);
      let bytes = 0;
      let largest = 0;
      const counted: ByteSource = {
        size: file.size,
        read(offset, length) {
          largest = Math.max(largest, length);
          bytes += Math.max(0, Math.min(length, file.size - offset));
          return file.read(offset, length);
        },
      };
      try {
        const result = await inspectImage(counted);
        const loaders = Object.fromEntries(result.efiLoaders.map((l) => [l.path, l.arch]));
        // Both programs start with the same PE header, so they must get the same architecture.
        assert.ok(loaders['/EFI/Linux/linux.efi'], JSON.stringify(result.efiLoaders));
        assert.equal(loaders['/EFI/Linux/linux.efi'], loaders['/EFI/BOOT/BOOTX64.EFI']);
        assert.ok(bytes < MiB, `inspect read ${bytes} bytes (largest read ${largest})`);
      } finally {
        await file.close();
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
