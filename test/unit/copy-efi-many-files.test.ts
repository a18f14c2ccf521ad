// copy-efi of a live ISO whose boot closure is many small files between larger ones (small files are written a
// few at a time): every file lands with the source's bytes, the manifest records each one's own SHA-256 in plan
// order, and undo-efi, which keeps any file whose hash changed, returns the folder to exactly what it was.
import assert from 'node:assert/strict';
import { cp, mkdir, mkdtemp, readFile, rm, statfs } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { hostDurableWriter } from '../../main/adapters/fs/durable-writer.js';
import { hostImageFiles } from '../../main/adapters/fs/image-files.js';
import { hostKeyFiles } from '../../main/adapters/fs/key-files.js';
import { hostGrubBuilder } from '../../main/adapters/grub/host-grub-builder.js';
import { MANIFEST_PATH } from '../../main/core/key-manifest.js';
import { CopyEfiService } from '../../main/services/copy-efi.js';
import { run } from '../fixtures/command.js';
import { debianFile } from '../fixtures/debian-package.js';
import { entrySha256, writeTree, type TreeEntry } from '../fixtures/tree.js';
import { tierSuite } from '../harness/tier.js';
import { snapshotDirectory } from '../harness/tree-snapshot.js';

const MiB = 1024 * 1024;

tierSuite('tools', 'copy-efi of many small files between larger ones', () => {
  test('each file hashes as its source, the manifest names each one\'s hash in plan order, undo leaves the folder as before', async (t) => {
    const root = await mkdtemp(join(tmpdir(), 'bootkey-many-'));
    t.after(() => rm(root, { recursive: true, force: true }));
    // grub.cfg boots `boot=live`, so copy-efi takes /live whole: 60 files of a few KiB to 300 KiB, and every
    // fifteenth one of 4 MiB and more (two chunks), in one folder and in sub-folders.
    const files: Extract<TreeEntry, { kind: 'file' }>[] = [];
    for (let i = 0; i < 60; i += 1) {
      const size = i % 15 === 7 ? 4 * MiB + 1 + i : 1 + ((i * 104_729) % (300 * 1024));
      files.push({ kind: 'file', path: `live/${i % 3 === 0 ? '' : `d${i % 4}/`}f${String(i).padStart(2, '0')}.bin`, size });
    }
    const source = join(root, 'tree');
    await writeTree(source, [
      { kind: 'text', path: 'boot/grub/grub.cfg', text: 'menuentry "many" {\n  linux /live/f00.bin boot=live\n  initrd /live/f03.bin\n}\n' },
      ...files,
    ]);
    await mkdir(join(source, 'EFI', 'BOOT'), { recursive: true });
    await cp(await debianFile('memtest86+', 'boot/memtest86+x64.efi'), join(source, 'EFI', 'BOOT', 'BOOTX64.EFI'));
    const iso = join(root, 'many.iso');
    await run('xorriso', ['-report_about', 'WARNING', '-abort_on', 'FAILURE', '-volid', 'MANY', '-outdev', iso, '-map', source, '/', '-commit']);

    const key = join(root, 'key');
    await mkdir(join(key, 'Documents'), { recursive: true });
    await cp(iso, join(key, 'Documents', 'mine.iso'));
    const before = await snapshotDirectory(key, false);
    const fs = await statfs(root);
    const service = new CopyEfiService({
      images: hostImageFiles, files: hostKeyFiles, writer: hostDurableWriter(MiB), grub: hostGrubBuilder,
      openTarget: async () => ({ root: key, fsType: 'vfat', freeBytes: fs.bavail * fs.bsize, uuid: 'ABCD-1234', label: 'KEY', device: null,
        kind: 'folder', recheck: async () => undefined, present: async () => true, release: async () => undefined }),
      newId: () => 'many', now: () => new Date(),
    });

    const result = await service.copy({ source: iso, target: key, replace: false, dryRun: false });
    const after = await snapshotDirectory(key, false);
    for (const file of files) assert.equal(after[`/${file.path}`]?.sha256, entrySha256(file), file.path);
    const manifest = JSON.parse(await readFile(join(key, MANIFEST_PATH), 'utf8')) as { operations: { added: { path: string; sha256: string }[] }[] };
    const added = manifest.operations[0]?.added ?? [];
    assert.deepEqual(added.map((a) => a.path), result.plan.files.map((f) => f.to), 'the manifest lists the files in plan order');
    for (const a of added) assert.equal(a.sha256, after[a.path]?.sha256, `the manifest's hash of ${a.path} is its own`);
    assert.ok(files.every((f) => added.some((a) => a.path === `/${f.path}`)), 'every file of /live was copied');

    const undo = await service.undo(key);
    assert.deepEqual(undo.kept, []);
    assert.deepEqual(await snapshotDirectory(key, false), before);
  });
});
