import { BootkeyError } from '../core/errors.js';
import { checkMergeSpace, planMergeCopies, planMergeSpace, readSquashfsInfo, type SquashfsInfo } from '../core/persistence/dm-merge.js';
import { readDmSnapshot, RESET_BYTES, SECTOR_BYTES, VALID_FLAG_OFFSET, type DmException } from '../core/persistence/dm-snapshot.js';
import { readOverlayUsage, type OverlayUsage } from '../core/persistence/overlay-status.js';
import {
  HOME_IMAGE, LIVE_DIR, OVERLAYFS_DIRS, checkPersistenceSize, overlayFileName, type OverlayType,
} from '../core/persistence/persistence-plan.js';
import type { PrivilegedRunner } from '../ports/privileged-runner.js';
import type { ClosableByteSource, Ext4CheckResult, Ext4Tools, PersistenceFiles, SquashfsTools } from '../ports/persistence-files.js';

/** The part of a key target persistence needs (services/key-target's KeyTarget has all of it). */
export interface PersistenceTarget {
  readonly root: string;
  readonly fsType: string;
  readonly freeBytes: number;
  readonly uuid: string | null;
  readonly label: string;
  recheck(): Promise<void>;
  release(): Promise<void>;
}

export interface PersistenceDeps {
  files: PersistenceFiles;
  ext4: Ext4Tools;
  squashfs: SquashfsTools;
  /** The helper, for `dmsetup status` of an overlay a running live system uses; without it, offline numbers only. */
  runner?: PrivilegedRunner;
  openTarget(spec: string): Promise<PersistenceTarget>;
  /** For backup names. */
  now(): Date;
}

/** The live filesystem's identity as dracut reads it; given by the user when the target cannot tell. */
export interface LiveIdentity {
  label?: string;
  uuid?: string;
}

export interface PersistenceFile {
  name: string;
  /** Absolute path. */
  path: string;
  role: 'overlay' | 'home';
  /** The overlay dracut would pick for this key (its label and UUID in the name). */
  matchesKey: boolean;
  usage?: OverlayUsage;
  /** Why the usage could not be read. */
  problem?: string;
  /** An overlay in use: what the kernel says for each device-mapper device over it (after `<start> <length> snapshot`). */
  kernel?: { device: string; status: string }[];
  /** Why the kernel's numbers could not be had (helper missing, password refused). */
  kernelProblem?: string;
}

export interface LiveInstallation {
  /** Absolute path of the LiveOS folder. */
  dir: string;
  squashfs: boolean;
  /** An uncompressed LiveOS/rootfs.img beside squashfs.img (old layouts). */
  rootfs: boolean;
  files: PersistenceFile[];
}

export interface CreateRequest extends LiveIdentity {
  type: OverlayType;
  size: number;
  /** Also a home.img of this size. */
  homeSize?: number;
}

export interface RecoverResult {
  path: string;
  /** Where the header was saved before the change. */
  backup: string;
  before: OverlayUsage;
  after: OverlayUsage;
  /** For an ext4 overlay: e2fsck -f -y on the file. A dm overlay's filesystem is checked through a snapshot. */
  fsck?: Ext4CheckResult;
}

/** The origin of a dm overlay inside squashfs.img, where dracut's dmsquash-live finds it. */
export const ROOTFS_IN_SQUASHFS = `${LIVE_DIR}/rootfs.img`;

export interface MergeResult {
  overlay: string;
  squashfs: string;
  compression: SquashfsInfo['compression'];
  blockSize: number;
  exceptions: number;
  /** Positioned copies after coalescing consecutive chunks. */
  copies: number;
  writtenBytes: number;
  /** Zero chunks over zeros, left as holes. */
  skippedBytes: number;
  /** e2fsck -f -y of the merged rootfs.img: 0 clean, 1 errors corrected. */
  fsck: Ext4CheckResult;
  rootfsBytes: number;
  /** SHA-256 of the merged rootfs.img, equal to the one read back out of the new squashfs.img. */
  rootfsSha256: string;
  oldSquashfsBytes: number;
  newSquashfsBytes: number;
  /** The overlay after its reset. */
  after: OverlayUsage;
  /** Milliseconds per step. */
  timings: Record<string, number>;
}

function identityOf(target: PersistenceTarget, given: LiveIdentity): { label: string; uuid: string } {
  const uuid = given.uuid ?? target.uuid;
  if (!uuid) {
    throw new BootkeyError('INVALID_ARGUMENT', `the UUID of the filesystem at ${target.root} is unknown; give it with --uuid (and --label)`);
  }
  return { label: given.label ?? target.label, uuid };
}

/**
 * LiveOS persistence on a key: find, create, measure, grow, reset and recover overlays and home.img. Every
 * change checks size limits and free space first and refuses a file a loop device has open.
 */
export class PersistenceService {
  constructor(private readonly deps: PersistenceDeps) {}

  private async withTarget<T>(spec: string, work: (target: PersistenceTarget) => Promise<T>): Promise<T> {
    const target = await this.deps.openTarget(spec);
    try {
      return await work(target);
    } finally {
      await target.release();
    }
  }

  /** Reads one persistence file offline. */
  async usageOf(path: string): Promise<OverlayUsage> {
    const source = await this.deps.files.open(path);
    try {
      return await readOverlayUsage(source);
    } finally {
      await source.close();
    }
  }

  private async installation(target: PersistenceTarget, identity: LiveIdentity): Promise<LiveInstallation | undefined> {
    const dir = `${target.root.replace(/\/$/, '')}/${LIVE_DIR}`;
    const entries = await this.deps.files.list(dir);
    if (entries.length === 0) return undefined;
    const uuid = identity.uuid ?? target.uuid;
    const expected = uuid ? overlayFileName(identity.label ?? target.label, uuid) : undefined;
    const files: PersistenceFile[] = [];
    for (const entry of entries) {
      const role = entry.name === HOME_IMAGE ? 'home' : entry.name.startsWith('overlay-') ? 'overlay' : undefined;
      if (!role || entry.kind !== 'file') continue;
      const path = `${dir}/${entry.name}`;
      const file: PersistenceFile = { name: entry.name, path, role, matchesKey: entry.name === expected };
      try {
        file.usage = await this.usageOf(path);
      } catch (error) {
        file.problem = error instanceof Error ? error.message : String(error);
      }
      files.push(file);
    }
    const has = (name: string) => entries.some((e) => e.name === name && e.kind === 'file');
    return { dir, squashfs: has('squashfs.img'), rootfs: has('rootfs.img'), files };
  }

  list(spec: string, identity: LiveIdentity = {}): Promise<LiveInstallation[]> {
    return this.withTarget(spec, async (target) => {
      const found = await this.installation(target, identity);
      return found ? [found] : [];
    });
  }

  /** The overlay file a command acts on: `name`, else the one dracut would use for this key, else the only one. */
  private async pick(target: PersistenceTarget, identity: LiveIdentity, name?: string): Promise<PersistenceFile> {
    const found = await this.installation(target, identity);
    if (!found) throw new BootkeyError('NOT_FOUND', `no ${LIVE_DIR} folder on ${target.root}`);
    const files = found.files;
    const chosen = name !== undefined ? files.find((f) => f.name === name)
      : files.find((f) => f.matchesKey) ?? (files.filter((f) => f.role === 'overlay').length === 1 ? files.find((f) => f.role === 'overlay') : undefined);
    if (!chosen) {
      throw new BootkeyError('NOT_FOUND', name !== undefined ? `no ${name} in ${found.dir}`
        : `name the overlay: ${files.map((f) => f.name).join(', ') || 'there is none'}`, { files: files.map((f) => f.name) });
    }
    return chosen;
  }

  /** Offline numbers; for a dm overlay a running system uses, the kernel's beside them (through the helper). */
  status(spec: string, identity: LiveIdentity = {}, name?: string): Promise<PersistenceFile> {
    return this.withTarget(spec, async (target) => {
      const file = await this.pick(target, identity, name);
      const runner = this.deps.runner;
      if (!runner || file.usage?.type !== 'dm-snapshot') return file;
      const devices = await this.deps.files.deviceMapperUsers(file.path);
      try {
        const kernel = [];
        for (const device of devices) {
          const events = await runner.run({ verb: 'dm-status', name: device });
          const line = String(events.find((e) => e.event === 'dm-status')?.status ?? '');
          kernel.push({ device, status: line.replace(/^\d+ \d+ snapshot /, '') });
        }
        return devices.length ? { ...file, kernel } : file;
      } catch (error) {
        return { ...file, kernelProblem: error instanceof Error ? error.message : String(error) };
      }
    });
  }

  /** Creates the overlay dracut will find for this key (and home.img), after checking limits and free space. */
  create(spec: string, request: CreateRequest): Promise<PersistenceFile[]> {
    return this.withTarget(spec, async (target) => {
      const { label, uuid } = identityOf(target, request);
      const dir = `${target.root.replace(/\/$/, '')}/${LIVE_DIR}`;
      const entries = await this.deps.files.list(dir);
      if (!entries.some((e) => e.name === 'squashfs.img' || e.name === 'rootfs.img')) {
        throw new BootkeyError('NOT_FOUND', `${dir} holds no squashfs.img or rootfs.img: copy the live image onto the key first`);
      }
      const overlay = checkPersistenceSize(request.type === 'dm' ? 'dm' : 'ext4', request.size, target.fsType, target.freeBytes);
      const home = request.homeSize === undefined ? undefined
        : checkPersistenceSize('ext4', request.homeSize, target.fsType, target.freeBytes - overlay.requiredBytes);
      const name = overlayFileName(label, uuid);
      const conflicts = [name, ...(home ? [HOME_IMAGE] : [])].filter((n) => entries.some((e) => e.name === n));
      if (conflicts.length) throw new BootkeyError('CONFLICT', `${conflicts.join(' and ')} already exist in ${dir}`, { files: conflicts });
      await target.recheck();
      const path = `${dir}/${name}`;
      // A zeroed dm store is a new snapshot to the kernel: it writes the header on first activation.
      if (request.type === 'dm') await this.deps.files.createZeroed(path, overlay.bytes);
      else await this.deps.ext4.make(path, overlay.bytes, { label: 'overlay', directories: OVERLAYFS_DIRS });
      if (home) await this.deps.ext4.make(`${dir}/${HOME_IMAGE}`, home.bytes, { label: 'home', directories: [] });
      const made = (await this.installation(target, { label, uuid }))?.files ?? [];
      return made.filter((f) => f.name === name || (home !== undefined && f.name === HOME_IMAGE));
    });
  }

  private async notInUse(path: string): Promise<void> {
    if (await this.deps.files.inUse(path)) {
      throw new BootkeyError('DRIVE_BUSY', `${path} is in use by a loop device (a running live system or another tool)`);
    }
  }

  /** Grows an overlay or home.img to `size` bytes; shrinking is refused with the reason. */
  grow(spec: string, size: number, identity: LiveIdentity = {}, name?: string): Promise<PersistenceFile> {
    return this.withTarget(spec, async (target) => {
      const file = await this.pick(target, identity, name);
      if (!file.usage) throw new BootkeyError('MALFORMED_IMAGE', `${file.path}: ${file.problem}`);
      await this.notInUse(file.path);
      const kind = file.usage.type === 'dm-snapshot' ? 'dm' : 'ext4';
      const { bytes } = checkPersistenceSize(kind, size, target.fsType, target.freeBytes, file.usage.capacityBytes);
      await target.recheck();
      if (kind === 'dm') {
        // The kernel reads the store's size at activation; new chunks simply go into the added space.
        await this.deps.files.extend(file.path, bytes);
      } else {
        const check = await this.deps.ext4.check(file.path, true);
        if (check.exitCode > 1) throw new BootkeyError('MALFORMED_IMAGE', `e2fsck left errors in ${file.path}; not resizing:\n${check.output.slice(-500)}`);
        await this.deps.ext4.resize(file.path, bytes);
      }
      return { ...file, usage: await this.usageOf(file.path) };
    });
  }

  /** Empties an overlay: a dm store's header region zeroed (a new store), an ext4 overlay made afresh. */
  reset(spec: string, identity: LiveIdentity = {}, name?: string): Promise<PersistenceFile> {
    return this.withTarget(spec, async (target) => {
      const file = await this.pick(target, identity, name);
      await this.notInUse(file.path);
      await target.recheck();
      await this.resetFile(file);
      return { ...file, usage: await this.usageOf(file.path) };
    });
  }

  private async resetFile(file: PersistenceFile): Promise<void> {
    if (file.usage?.type === 'overlayfs-ext4') {
      // A fresh filesystem of the same size beside the old one, then renamed over it: never half reset.
      const fresh = `${file.path}.bootkey-new`;
      await this.deps.files.remove(fresh);
      await this.deps.ext4.make(fresh, file.usage.capacityBytes,
        { label: file.usage.label, directories: file.role === 'home' ? [] : OVERLAYFS_DIRS });
      await this.deps.files.replace(fresh, file.path);
      return;
    }
    // The header chunk and area 0 must read as zero: 64 KiB covers both up to 32 KiB chunks.
    const chunkBytes = file.usage?.type === 'dm-snapshot' ? file.usage.chunkSectors * SECTOR_BYTES : 0;
    await this.deps.files.writeAt(file.path, 0, new Uint8Array(Math.max(RESET_BYTES, 2 * chunkBytes)));
  }

  /**
   * An overlay marked Invalid: the header saved beside it first, then the valid flag set (dm), or e2fsck -y
   * (ext4). What the dm overlay's filesystem holds is then checked through a snapshot by the caller.
   */
  recover(spec: string, identity: LiveIdentity = {}, name?: string): Promise<RecoverResult> {
    return this.withTarget(spec, async (target) => {
      const file = await this.pick(target, identity, name);
      if (!file.usage) throw new BootkeyError('MALFORMED_IMAGE', `${file.path}: ${file.problem}`);
      await this.notInUse(file.path);
      await target.recheck();
      return this.recoverFile(file.path, file.usage);
    });
  }

  /** Recover one file (the target already checked): backup, then the change, then the file read again. */
  async recoverFile(path: string, before: OverlayUsage): Promise<RecoverResult> {
    if (before.type === 'dm-snapshot' && before.valid) {
      throw new BootkeyError('INVALID_ARGUMENT', `${path} is not marked invalid; nothing to recover`);
    }
    const stamp = this.deps.now().toISOString().replace(/[-:.]/g, '').slice(0, 15);
    const backup = `${path}.header-${stamp}.bak`;
    const source = await this.deps.files.open(path);
    let header: Uint8Array;
    try {
      // dm: the header chunk; ext4: the boot block and superblock.
      header = await source.read(0, before.type === 'dm-snapshot' ? before.chunkSectors * SECTOR_BYTES : 4096);
    } finally {
      await source.close();
    }
    await this.deps.files.writeNew(backup, header);
    let fsck: Ext4CheckResult | undefined;
    if (before.type === 'dm-snapshot') await this.deps.files.writeAt(path, VALID_FLAG_OFFSET, new Uint8Array([1, 0, 0, 0]));
    else fsck = await this.deps.ext4.check(path, true);
    // Reading it again walks the whole exception table: a damaged one is reported now, not at boot.
    const after = await this.usageOf(path);
    return { path, backup, before, after, ...(fsck ? { fsck } : {}) };
  }

  /**
   * Merges a dm overlay into a new squashfs.img: LiveOS/rootfs.img extracted into `workParent`, the overlay's
   * exceptions copied onto it, e2fsck -f -y, mksquashfs with the old image's compressor and block size beside
   * the old image, verified (size, and the hash of the rootfs.img read back out of it), renamed over the old
   * one, then the overlay reset. Free space for every step is checked before the first write; until the
   * rename the old image is untouched.
   */
  merge(spec: string, workParent: string, identity: LiveIdentity = {}, name?: string): Promise<MergeResult> {
    return this.withTarget(spec, async (target) => {
      const timings: Record<string, number> = {};
      const clock = () => this.deps.now().getTime();
      let mark = clock();
      const lap = (step: string) => {
        const now = clock();
        timings[step] = now - mark;
        mark = now;
      };
      const file = await this.pick(target, identity, name);
      if (file.usage?.type !== 'dm-snapshot') {
        throw new BootkeyError('INVALID_ARGUMENT', `${file.path} is ${file.usage ? 'an OverlayFS overlay: its changes are files, not blocks of rootfs.img' : `unreadable: ${file.problem}`}`);
      }
      if (!file.usage.valid) throw new BootkeyError('MALFORMED_IMAGE', `${file.path} is marked Invalid: recover it (and check it) before merging`);
      const dir = file.path.slice(0, file.path.lastIndexOf('/'));
      const squashfs = `${dir}/squashfs.img`;
      await this.notInUse(file.path);
      await this.notInUse(squashfs);
      const info = await this.withSource(squashfs, readSquashfsInfo);
      const rootfsBytes = await this.deps.squashfs.fileSize(squashfs, ROOTFS_IN_SQUASHFS);
      if (rootfsBytes === undefined) {
        throw new BootkeyError('NOT_FOUND', `${squashfs} holds no ${ROOTFS_IN_SQUASHFS}: only images with a rootfs.img have dm overlays to merge`);
      }
      const exceptions: DmException[] = [];
      const usage = await this.withSource(file.path, (source) => readDmSnapshot(source, (e) => exceptions.push(e)));
      const chunkBytes = usage.chunkSectors * SECTOR_BYTES;
      const copies = planMergeCopies(exceptions, usage.chunkSectors, rootfsBytes);
      const space = planMergeSpace({ rootfsBytes, squashfsBytes: info.bytesUsed, changedBytes: exceptions.length * chunkBytes });
      const [workSpace, keySpace] = await Promise.all([this.deps.files.space(workParent), this.deps.files.space(dir)]);
      checkMergeSpace(space, workSpace, { ...keySpace, freeBytes: Math.min(keySpace.freeBytes, target.freeBytes) });
      lap('plan');

      await target.recheck();
      const work = await this.deps.files.makeWorkDir(workParent);
      const fresh = `${squashfs}.bootkey-new`;
      try {
        const tree = `${work}/tree`;
        const merged = `${tree}/${ROOTFS_IN_SQUASHFS}`;
        await this.deps.squashfs.extract(squashfs, ROOTFS_IN_SQUASHFS, tree);
        lap('extract');
        const { writtenBytes, skippedBytes } = await this.deps.files.copyChunks(file.path, merged, copies);
        lap('apply');
        const fsck = await this.deps.ext4.check(merged, true);
        if (fsck.exitCode > 1) {
          throw new BootkeyError('MALFORMED_IMAGE', `e2fsck left errors in the merged filesystem (status ${fsck.exitCode}); nothing on the key was changed:\n${fsck.output.slice(-500)}`);
        }
        lap('fsck');
        // Hashing alongside mksquashfs gained nothing on two cores (both are CPU-bound): one after the other.
        const rootfsSha256 = await this.deps.files.hash(merged);
        lap('hash');
        await this.deps.files.remove(fresh);
        await this.deps.squashfs.build(tree, fresh, info);
        await this.deps.files.sync(fresh);
        lap('mksquashfs');
        // Verified from the new image itself: listed with the right size, and its rootfs.img extracted again (in
        // place of the merged copy, so the work folder never holds two) hashes the same.
        const builtSize = await this.deps.squashfs.fileSize(fresh, ROOTFS_IN_SQUASHFS);
        await this.deps.files.removeTree(tree);
        const check = `${work}/check`;
        await this.deps.squashfs.extract(fresh, ROOTFS_IN_SQUASHFS, check);
        const builtHash = await this.deps.files.hash(`${check}/${ROOTFS_IN_SQUASHFS}`);
        if (builtSize !== rootfsBytes || builtHash !== rootfsSha256) {
          throw new BootkeyError('IO_ERROR', `the new ${squashfs} does not hold the merged rootfs.img (size ${builtSize}, expected ${rootfsBytes}; `
            + `hash ${builtHash === rootfsSha256 ? 'equal' : 'differs'}); the old image is kept`);
        }
        const newInfo = await this.withSource(fresh, readSquashfsInfo);
        lap('verify');
        await this.deps.files.replace(fresh, squashfs);
        await this.resetFile(file);
        lap('swap-reset');
        return {
          overlay: file.path, squashfs, compression: info.compression, blockSize: info.blockSize, exceptions: exceptions.length,
          copies: copies.length, writtenBytes, skippedBytes, fsck, rootfsBytes, rootfsSha256,
          oldSquashfsBytes: info.bytesUsed, newSquashfsBytes: newInfo.bytesUsed, after: await this.usageOf(file.path), timings,
        };
      } finally {
        await this.deps.files.removeTree(work);
        await this.deps.files.remove(fresh);
      }
    });
  }

  private async withSource<T>(path: string, read: (source: ClosableByteSource) => Promise<T>): Promise<T> {
    const source = await this.deps.files.open(path);
    try {
      return await read(source);
    } finally {
      await source.close();
    }
  }
}
