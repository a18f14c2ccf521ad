// Cancelling copy-efi and multiboot add through their `signal` fields, on a host folder standing for a mounted
// key (the real file adapters and durable writer): the signal is aborted while the files are being written
// (after the first chunk of the third file), and the call must throw CANCELLED and leave the folder exactly as
// it was — every file hashed the same, nothing added, no temporary, the manifest or menu as before.
import assert from 'node:assert/strict';
import { cp, mkdir, mkdtemp, rm, stat, statfs, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { test } from 'node:test';
import { hostDurableWriter } from '../../main/adapters/fs/durable-writer.js';
import { hostImageFiles } from '../../main/adapters/fs/image-files.js';
import { hostKeyFiles } from '../../main/adapters/fs/key-files.js';
import { hostGrubBuilder } from '../../main/adapters/grub/host-grub-builder.js';
import { BootkeyError } from '../../main/core/errors.js';
import { defaultSettings, serializeSettings } from '../../main/core/multiboot/multiboot-settings.js';
import type { DurableWriter } from '../../main/ports/durable-writer.js';
import { CopyEfiService } from '../../main/services/copy-efi.js';
import { DriveService } from '../../main/services/drives.js';
import { MultibootService } from '../../main/services/multiboot.js';
import { fixture } from '../fixtures/index.js';
import { MemoryDiskProvider } from '../harness/memory-disk-provider.js';
import { tierSuite } from '../harness/tier.js';
import { snapshotDirectory } from '../harness/tree-snapshot.js';

/** The host writer; aborts `controller` once file number `nth` of a batch has handed over its first chunk. */
function abortingWriter(controller: AbortController, nth: number): DurableWriter {
  const inner = hostDurableWriter(256 * 1024);
  return {
    ...inner,
    batch(options) {
      const batch = inner.batch(options);
      let files = 0;
      return {
        async add(path, data, addOptions) {
          files += 1;
          const number = files;
          async function* watched(): AsyncGenerator<Uint8Array> {
            for await (const chunk of data) {
              yield chunk;
              if (number === nth) controller.abort();
            }
          }
          return batch.add(path, watched(), addOptions);
        },
        commit: (beforeRename) => batch.commit(beforeRename),
        discard: () => batch.discard(),
      };
    },
  };
}

const isCancelled = (e: unknown) => e instanceof BootkeyError && e.code === 'CANCELLED';

tierSuite('tools', 'cancelling copy-efi and multiboot add leaves the key as before', () => {
  test('copy-efi: CANCELLED while writing; a key with an earlier copy keeps its manifest, files and folders byte for byte', async (t) => {
    const root = await mkdtemp(join(tmpdir(), 'bootkey-cancel-'));
    t.after(() => rm(root, { recursive: true, force: true }));
    const key = join(root, 'key');
    await mkdir(join(key, 'Documents'), { recursive: true });
    await cp(await fixture('memtest-iso'), join(key, 'Documents', 'mine.iso'));
    const fs = await statfs(root);
    const service = (writer: DurableWriter) => new CopyEfiService({
      images: hostImageFiles, files: hostKeyFiles, writer, grub: hostGrubBuilder,
      openTarget: async () => ({ root: key, fsType: 'vfat', freeBytes: fs.bavail * fs.bsize, uuid: 'ABCD-1234', label: 'KEY', device: null,
        kind: 'folder', recheck: async () => undefined, present: async () => true, release: async () => undefined }),
      newId: () => `op-${Date.now()}`, now: () => new Date(),
    });
    const installer = await fixture('installer-iso');
    for (const earlier of [false, true]) {
      // Second round: the key already carries one copy (memtest's), so the manifest must come back as it was.
      if (earlier) await service(hostDurableWriter()).copy({ source: await fixture('memtest-usb-img'), target: key, replace: false, dryRun: false });
      const before = await snapshotDirectory(key, false);
      const controller = new AbortController();
      await assert.rejects(service(abortingWriter(controller, 3)).copy({ source: installer, target: key, replace: false, dryRun: false, signal: controller.signal }),
        isCancelled);
      assert.ok(controller.signal.aborted);
      assert.deepEqual(await snapshotDirectory(key, false), before, earlier ? 'with an earlier copy' : 'on a key without Bootkey files');
    }
  });

  test('multiboot add: CANCELLED while writing; the library, its menu and the settings are as before', async (t) => {
    const root = await mkdtemp(join(tmpdir(), 'bootkey-cancel-'));
    t.after(() => rm(root, { recursive: true, force: true }));
    const key = join(root, 'key');
    await mkdir(key);
    const disks = new MemoryDiskProvider([{ name: 'sdz', size: 4 * 1024 ** 3, table: 'dos',
      partitions: [{ size: 4 * 1024 ** 3 - (1 << 20), fsType: 'vfat', label: 'KEY', mountPoint: key }] }]);
    const service = (writer: DurableWriter) => new MultibootService({
      disks, drives: new DriveService(disks), files: hostKeyFiles, writer, images: hostImageFiles, grub: hostGrubBuilder,
      runner: { run: async () => { throw new Error('no helper in this test'); } }, sleep: (ms) => sleep(ms),
    });
    // A multi-ISO key as init leaves it (init itself needs the helper for BIOS), with one ISO added.
    await mkdir(join(key, '.bootkey'), { recursive: true });
    await mkdir(join(key, 'boot/grub'), { recursive: true });
    await writeFile(join(key, '.bootkey/multiboot.json'), serializeSettings(defaultSettings()));
    await service(hostDurableWriter()).add(key, [await fixture('memtest-iso')]);
    const before = await snapshotDirectory(key, false);
    const cfg = (await stat(join(key, 'boot/grub/grub.cfg'))).mtimeMs;
    const controller = new AbortController();
    await assert.rejects(service(abortingWriter(controller, 1)).add(key, [await fixture('installer-iso')], undefined, { signal: controller.signal }), isCancelled);
    assert.deepEqual(await snapshotDirectory(key, false), before);
    assert.equal((await stat(join(key, 'boot/grub/grub.cfg'))).mtimeMs, cfg, 'the menu was not rewritten');
  });
});
