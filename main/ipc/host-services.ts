/**
 * The key services over the host's files, for the front ends that speak the contract (the desktop app, the web
 * test host and its browser tests): image inspection, copy-EFI and the multi-ISO key, as the CLI builds them.
 */
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { hostDurableWriter } from '../adapters/fs/durable-writer.js';
import { hostImageFiles } from '../adapters/fs/image-files.js';
import { hostKeyFiles } from '../adapters/fs/key-files.js';
import { hostGrubBuilder } from '../adapters/grub/host-grub-builder.js';
import { HelperRunner } from '../adapters/helper/helper-runner.js';
import type { DiskProvider } from '../ports/disk-provider.js';
import type { PrivilegedRunner } from '../ports/privileged-runner.js';
import { CopyEfiService } from '../services/copy-efi.js';
import type { DriveService } from '../services/drives.js';
import { ImageService } from '../services/images.js';
import { openKeyTarget } from '../services/key-target.js';
import { MultibootService } from '../services/multiboot.js';
import type { KeyServices } from './api-dispatcher.js';

/** `runner`: the privileged helper (pkexec) by default; tests over a fake disk provider pass their own. */
export function hostKeyServices(disks: DiskProvider, drives: DriveService, runner: PrivilegedRunner = new HelperRunner({})): KeyServices {
  const wait = (ms: number) => sleep(ms);
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
    multiboot: new MultibootService({
      disks, drives, files: hostKeyFiles, writer: hostDurableWriter(), images: hostImageFiles,
      grub: hostGrubBuilder, runner, sleep: wait,
    }),
  };
}
