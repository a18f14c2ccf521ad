/**
 * The key services over the host's files, built in this one place for every front end (the desktop app, the web
 * test host and its browser tests, and the CLI through main/cli/key-services.ts): image inspection, copy-EFI, the
 * multi-ISO key, LiveOS persistence (with encrypted home.img), and the key's manifest for its summary.
 */
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { hostDurableWriter, hostLargeFileWriter } from '../adapters/fs/durable-writer.js';
import { hostImageFiles } from '../adapters/fs/image-files.js';
import { hostKeyFiles } from '../adapters/fs/key-files.js';
import { hostGrubBuilder } from '../adapters/grub/host-grub-builder.js';
import { HelperRunner } from '../adapters/helper/helper-runner.js';
import { e2fsprogs } from '../adapters/persistence/e2fsprogs.js';
import { hostPersistenceFiles } from '../adapters/persistence/host-persistence-files.js';
import { luksHomeMaker } from '../adapters/persistence/luks-home-maker.js';
import { squashfsTools } from '../adapters/persistence/squashfs-tools.js';
import type { KeyManifest } from '../core/key-manifest.js';
import type { DiskProvider } from '../ports/disk-provider.js';
import type { PrivilegedRunner } from '../ports/privileged-runner.js';
import { CopyEfiService } from '../services/copy-efi.js';
import type { DriveService } from '../services/drives.js';
import { ImageService } from '../services/images.js';
import { openKeyTarget } from '../services/key-target.js';
import { MultibootService } from '../services/multiboot.js';
import { readKeyManifest } from '../services/key-manifest-reader.js';
import { PersistenceService } from '../services/persistence.js';
import type { KeyServices } from './api-dispatcher.js';

/** Every key service, none missing (the CLI calls them directly). */
export type HostKeyServices = Required<Omit<KeyServices, 'mergeWorkDir'>>;

/** `runner`: the privileged helper (pkexec) by default; tests over a fake disk provider pass their own. */
export function hostKeyServices(disks: DiskProvider, drives: DriveService, runner: PrivilegedRunner = new HelperRunner({})): HostKeyServices {
  const wait = (ms: number) => sleep(ms);
  const openTarget = (spec: string) => openKeyTarget(spec, { disks, drives, files: hostKeyFiles, sleep: wait });
  const readManifest = async (spec: string): Promise<KeyManifest> => {
    const target = await openTarget(spec);
    try {
      return await readKeyManifest(hostKeyFiles, target.root);
    } finally {
      await target.release();
    }
  };
  const multiboot = new MultibootService({
    disks, drives, files: hostKeyFiles, writer: hostLargeFileWriter(), images: hostImageFiles, grub: hostGrubBuilder, runner, sleep: wait,
  });
  return {
    images: new ImageService(hostImageFiles),
    copyEfi: new CopyEfiService({
      images: hostImageFiles,
      files: hostKeyFiles,
      writer: hostDurableWriter(),
      grub: hostGrubBuilder,
      openTarget: (spec, options) => openKeyTarget(spec, { disks, drives, files: hostKeyFiles, sleep: wait }, options),
      newId: () => `${new Date().toISOString().replace(/[-:.]/g, '').slice(0, 15)}-${randomUUID().slice(0, 8)}`,
      now: () => new Date(),
    }),
    multiboot,
    persistence: new PersistenceService({
      files: hostPersistenceFiles, ext4: e2fsprogs, squashfs: squashfsTools, runner, openTarget, now: () => new Date(),
      keyFiles: hostKeyFiles, writer: hostDurableWriter(), multiboot, luks: luksHomeMaker,
    }),
    manifests: { read: readManifest },
  };
}
