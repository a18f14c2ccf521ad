import { identityOf } from '../core/drive-identity.js';
import { BootkeyError } from '../core/errors.js';
import type { DiskProvider, DiskSnapshot, Drive, Volume } from '../ports/disk-provider.js';
import type { KeyFiles } from '../ports/key-files.js';
import type { DriveService } from './drives.js';

/** Filesystems a key's files may be copied onto (what UEFI firmware reads, and exFAT for large files). */
const KEY_FILESYSTEMS = new Set(['vfat', 'exfat']);
/** How long an attached image may take to show its partitions in udisks. */
const ATTACH_WAIT_MS = 10_000;
const ATTACH_POLL_MS = 200;

/** A place files are copied to: a mounted filesystem, and how to let go of it. */
export interface KeyTarget {
  /** Mount point (or the folder the user named): key paths are relative to it. */
  readonly root: string;
  /** blkid's type (`vfat`, `exfat` …), or 'unknown' for a folder on a filesystem udisks does not list. */
  readonly fsType: string;
  /** Free bytes when the target was opened. */
  readonly freeBytes: number;
  /** The filesystem's UUID (`XXXX-XXXX` on FAT), or null when unknown. */
  readonly uuid: string | null;
  readonly label: string;
  /** The block device (`/dev/sdb1`), or null for a folder on no device udisks knows. */
  readonly device: string | null;
  /** How the target was named. */
  readonly kind: 'drive' | 'folder' | 'image';
  /** Right before the first byte: the drive must still be the one opened and pass the policy (no-op for a folder). */
  recheck(): Promise<void>;
  /** Whether the device is still attached: tells a pulled key from other I/O errors. */
  present(): Promise<boolean>;
  /** Unmounts what this target mounted and detaches what it attached; safe to call twice. */
  release(): Promise<void>;
}

export interface KeyTargetDeps {
  disks: DiskProvider;
  drives: DriveService;
  files: KeyFiles;
  /** Waits, for polling udisks after attaching an image. */
  sleep: (ms: number) => Promise<void>;
}

export interface KeyTargetOptions {
  /** st_dev of the filesystems holding the source image(s): a drive holding them is refused. */
  sourceDeviceNumbers?: readonly number[];
}

/**
 * Resolves a TARGET as the user typed it (absolute path): a block device (`/dev/sdX` — its FAT/exFAT
 * partition is chosen — or `/dev/sdX1`), a folder (a mounted key, or any folder), or an image file (attached
 * through udisks and then treated as a drive). Drives are checked by the drive policy and mounted through
 * udisks when they are not mounted yet.
 */
export async function openKeyTarget(spec: string, deps: KeyTargetDeps, options: KeyTargetOptions = {}): Promise<KeyTarget> {
  const kind = await deps.files.kind(spec);
  switch (kind) {
    case 'block-device':
      return openDrive(spec, deps, options, 'drive');
    case 'directory':
      return openFolder(spec, deps);
    case 'file': {
      const loop = await deps.drives.attachImageTarget(spec);
      try {
        const drive = await waitForLoop(loop, deps);
        return await openDrive(drive.disk.device, deps, options, 'image', () => deps.drives.detachImageTarget(loop));
      } catch (error) {
        await deps.drives.detachImageTarget(loop).catch(() => undefined);
        throw error;
      }
    }
    case 'missing':
      throw new BootkeyError('NOT_FOUND', `${spec}: no such device, folder or image file`, { path: spec });
    default:
      throw new BootkeyError('INVALID_ARGUMENT', `${spec} is not a device, a folder or an image file`, { path: spec });
  }
}

/** The volume mounted at the longest mount point that contains the folder. */
function volumeHolding(folder: string, snapshot: DiskSnapshot): Volume | undefined {
  let best: Volume | undefined;
  let bestLength = -1;
  for (const drive of snapshot.drives) {
    for (const volume of [drive.disk, ...drive.partitions]) {
      for (const mount of volume.mountPoints) {
        const inside = folder === mount || folder.startsWith(mount.endsWith('/') ? mount : `${mount}/`);
        if (inside && mount.length > bestLength) {
          best = volume;
          bestLength = mount.length;
        }
      }
    }
  }
  return best;
}

async function openFolder(folder: string, deps: KeyTargetDeps): Promise<KeyTarget> {
  // Without udisks (no system bus) a folder is still a target; only its UUID and type stay unknown.
  const noDisks = (): DiskSnapshot => ({ drives: [] });
  const best = volumeHolding(folder, await deps.disks.refresh().catch(noDisks));
  const { free } = await deps.disks.usage(folder);
  return {
    root: folder,
    fsType: best?.idType || 'unknown',
    freeBytes: free,
    uuid: best?.idUuid || null,
    label: best?.idLabel ?? '',
    device: best?.device ?? null,
    kind: 'folder',
    // A key mounted at the folder must still be the same filesystem (another key mounted at the same place is
    // not the one the user chose).
    recheck: async () => {
      if (!best) return;
      const now = volumeHolding(folder, await deps.disks.refresh().catch(noDisks));
      if (now?.deviceNumber !== best.deviceNumber || now.idUuid !== best.idUuid) {
        throw new BootkeyError('TARGET_CHANGED', `${folder} is no longer on ${best.device} (${best.idLabel || best.idUuid}): choose the key again`,
          { path: folder, device: best.device });
      }
    },
    present: async () => (await deps.files.kind(folder)) === 'directory',
    release: async () => undefined,
  };
}

function findDrive(device: string, drives: readonly Drive[]): { drive: Drive; volume?: Volume } | undefined {
  for (const drive of drives) {
    if (drive.disk.device === device) return { drive };
    const volume = drive.partitions.find((p) => p.device === device);
    if (volume) return { drive, volume };
  }
  return undefined;
}

/** The drive's one FAT/exFAT filesystem: a partition, or the whole disk when it has no partition table. */
function chooseVolume(drive: Drive): Volume {
  const candidates = [drive.disk, ...drive.partitions].filter((v) => KEY_FILESYSTEMS.has(v.idType));
  if (candidates.length === 1) return candidates[0] as Volume;
  if (candidates.length === 0) {
    const found = [drive.disk, ...drive.partitions].filter((v) => v.idType).map((v) => `${v.device} ${v.idType}`);
    throw new BootkeyError('TARGET_REFUSED', `${drive.disk.device} has no FAT or exFAT filesystem${found.length ? ` (it has ${found.join(', ')})` : ''}`,
      { device: drive.disk.device });
  }
  throw new BootkeyError('INVALID_ARGUMENT', `${drive.disk.device} has several FAT/exFAT filesystems: name one (${candidates.map((v) => v.device).join(', ')})`,
    { device: drive.disk.device, candidates: candidates.map((v) => v.device) });
}

async function openDrive(device: string, deps: KeyTargetDeps, options: KeyTargetOptions, kind: 'drive' | 'image',
  detach?: () => Promise<void>): Promise<KeyTarget> {
  const found = findDrive(device, (await deps.disks.refresh()).drives);
  if (!found) throw new BootkeyError('NOT_FOUND', `${device} is not a drive udisks knows`, { device });
  const identity = identityOf(found.drive);
  const policy = { sourceDeviceNumbers: options.sourceDeviceNumbers ?? [] };
  const drive = await deps.drives.confirmTarget(identity, policy);
  const chosen = found.volume ?? chooseVolume(drive);
  if (!KEY_FILESYSTEMS.has(chosen.idType)) {
    throw new BootkeyError('TARGET_REFUSED', `${chosen.device} holds ${chosen.idType || 'no filesystem'}, not FAT or exFAT`, { device: chosen.device });
  }
  let mountedHere = false;
  let root = chosen.mountPoints[0];
  if (root === undefined) {
    root = await deps.disks.mount(chosen.objectPath);
    mountedHere = true;
  }
  let released = false;
  const release = async () => {
    if (released) return;
    released = true;
    try {
      if (mountedHere) await deps.disks.unmount(chosen.objectPath);
    } finally {
      await detach?.();
    }
  };
  try {
    const { free } = await deps.disks.usage(root);
    return {
      root,
      fsType: chosen.idType,
      freeBytes: free,
      uuid: chosen.idUuid || null,
      label: chosen.idLabel,
      device: chosen.device,
      kind,
      recheck: async () => {
        await deps.drives.confirmTarget(identity, policy);
      },
      // The device node goes first when a key is pulled; udisks may still list it for a moment.
      present: async () => (await deps.files.kind(chosen.device)) === 'block-device'
        && findDrive(chosen.device, (await deps.disks.refresh()).drives) !== undefined,
      release,
    };
  } catch (error) {
    await release().catch(() => undefined);
    throw error;
  }
}

/** udisks lists a new loop device, and then its partitions, a moment after LoopSetup returns. */
async function waitForLoop(loop: string, deps: KeyTargetDeps): Promise<Drive> {
  const deadline = Date.now() + ATTACH_WAIT_MS;
  for (;;) {
    const drive = (await deps.disks.refresh()).drives.find((d) => d.id === loop || d.disk.objectPath === loop);
    // udisks reports the loop before udev's probe has given it its size and partitions
    const settled = drive && drive.size > 0 && (drive.disk.partitionTable === undefined || drive.partitions.length > 0);
    if (drive && settled) return drive;
    if (Date.now() > deadline) {
      if (drive) return drive;
      throw new BootkeyError('TIMEOUT', `the attached image ${loop} did not appear in udisks`, { loop });
    }
    await deps.sleep(ATTACH_POLL_MS);
  }
}
