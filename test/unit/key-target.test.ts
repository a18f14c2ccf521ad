import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { hostKeyFiles } from '../../main/adapters/fs/key-files.js';
import { DriveService } from '../../main/services/drives.js';
import { openKeyTarget } from '../../main/services/key-target.js';
import { MemoryDiskProvider } from '../harness/memory-disk-provider.js';

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
