import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { hostKeyFiles } from '../../main/adapters/fs/key-files.js';
import { DriveService } from '../../main/services/drives.js';
import { openKeyTarget } from '../../main/services/key-target.js';
import type { DiskSnapshot, Drive } from '../../main/ports/disk-provider.js';
import { fakeDrive, MemoryDiskProvider } from '../harness/memory-disk-provider.js';

const GB = 1e9;

test('a folder target on a mounted key is re-checked: another key mounted at the same place is TARGET_CHANGED', async () => {
  const folder = mkdtempSync(join(tmpdir(), 'bootkey-key-'));
  try {
    const key = (name: string, label: string) => ({
      name, size: 16 * GB, serial: `S-${name}`, table: 'dos' as const,
      partitions: [{ size: 16 * GB - 1048576, fsType: 'vfat', label, mountPoint: folder }],
    });
    const disks = new MemoryDiskProvider([key('sdb', 'MINE')]);
    await disks.start();
    const deps = { disks, drives: new DriveService(disks), files: hostKeyFiles, sleep: async () => undefined };
    const target = await openKeyTarget(folder, deps);
    assert.equal(target.kind, 'folder');
    assert.equal(target.label, 'MINE');
    await target.recheck();

    disks.detach('sdb');
    disks.attach(key('sdc', 'OTHER'));
    await assert.rejects(target.recheck(), { code: 'TARGET_CHANGED' });
  } finally {
    rmSync(folder, { recursive: true, force: true });
  }
});

test('an image file target waits until udisks gives the new loop device its size (a size-0 loop would be refused)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'bootkey-image-'));
  try {
    const image = join(dir, 'key.img');
    writeFileSync(image, '');
    const spec = { name: 'loop0', size: GB, table: 'dos' as const, partitions: [{ size: GB - 1048576, fsType: 'vfat', label: 'IMG', mountPoint: dir }] };
    const sized = fakeDrive(spec);
    const loop: Drive = { ...sized, kind: 'loop' };
    // udisks lists the loop before udev's probe: no size, no table, no partitions, for the first few refreshes
    class LaggingLoop extends MemoryDiskProvider {
      refreshes = 0;
      override async attachImage(): Promise<string> {
        return loop.id;
      }
      override async refresh(): Promise<DiskSnapshot> {
        this.refreshes += 1;
        const { partitionTable: _, ...unprobed } = loop.disk; // no table yet either
        return { drives: [this.refreshes < 4 ? { ...loop, size: 0, disk: { ...unprobed, size: 0 }, partitions: [] } : loop] };
      }
    }
    const disks = new LaggingLoop([spec]); // holds the mounted folder for usage()
    const deps = { disks, drives: new DriveService(disks), files: hostKeyFiles, sleep: async () => undefined };
    const target = await openKeyTarget(image, deps);
    assert.equal(target.label, 'IMG');
    assert.ok(disks.refreshes >= 4);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
