import { BootkeyError } from '../errors.js';
import { FAT32_MAX_FILE } from '../inspect/inspect-image.js';
import { DRACUT_CHUNK_SECTORS, SECTOR_BYTES, minimumDmSnapshotBytes } from './dm-snapshot.js';

/**
 * What LiveOS persistence files are called and how big they may be, as dracut's dmsquash-live and
 * livecd-iso-to-disk see them. Pure: the service checks a request with these before touching the key.
 */

export type OverlayType = 'dm' | 'overlayfs';

/** The folder dracut looks in (`rd.live.dir`, default LiveOS). */
export const LIVE_DIR = 'LiveOS';
export const HOME_IMAGE = 'home.img';
/** Top-level folders of an OverlayFS-in-ext4 overlay: the upper tree and OverlayFS's work folder. */
export const OVERLAYFS_DIRS = ['overlayfs', 'ovlwork'] as const;
/** Smallest ext4 image worth making (mkfs.ext4 needs room for its journal and tables). */
export const MIN_EXT4_BYTES = 16 * 1024 * 1024;
/** FAT's largest file; livecd-iso-to-disk caps overlay and home at 4096 MiB on vfat for the same reason. */
export const FAT_MAX_FILE = FAT32_MAX_FILE;

/**
 * dracut's default overlay name: `overlay-<LABEL>-<UUID>` of the filesystem the live image is on (for an ISO
 * booted through iso-scan, the ISO's label and UUID). dracut reads both with blkid, so they are used as is.
 */
export function overlayFileName(label: string, uuid: string): string {
  if (!uuid) throw new BootkeyError('INVALID_ARGUMENT', 'the live filesystem has no UUID, so dracut would not find an overlay for it');
  if (/[/\0]/.test(label + uuid)) throw new BootkeyError('INVALID_ARGUMENT', `label ${JSON.stringify(label)} or UUID cannot be part of a file name`);
  return `overlay-${label}-${uuid}`;
}

/** Where recover keeps an overlay's header before changing it: beside the overlay, stamped `YYYYMMDDTHHMMSS`. */
export function headerBackupName(overlayPath: string, stamp: string): string {
  return `${overlayPath}.header-${stamp}.bak`;
}

/** An overlay's file by name: dracut's `overlay-…`, but not one of recover's header backups beside it. */
export function isOverlayFileName(name: string): boolean {
  return name.startsWith('overlay-') && !/\.header-\d{8}T\d{6}\.bak$/.test(name);
}

/** `512M`, `2G`, `1.5GiB`, `4096MiB`, `100000000` (bytes): powers of 1024, as dd and livecd-iso-to-disk use. */
export function parseSize(text: string): number {
  const match = /^(\d+(?:\.\d+)?)\s*([KMGT]?)(?:i?B)?$/i.exec(text.trim());
  if (!match) throw new BootkeyError('INVALID_ARGUMENT', `'${text}' is not a size (examples: 512M, 2G, 1.5GiB)`);
  const unit = 1024 ** ' KMGT'.indexOf((match[2] || ' ').toUpperCase());
  const bytes = Math.floor(Number(match[1]) * unit);
  if (!Number.isSafeInteger(bytes) || bytes <= 0) throw new BootkeyError('INVALID_ARGUMENT', `'${text}' is not a usable size`);
  return bytes;
}

export interface SizeCheck {
  /** The size the file will have: a whole number of 4 KiB (chunks, ext4 blocks). */
  bytes: number;
  /** Bytes the key must have free (the file's whole size: FAT has no sparse files). */
  requiredBytes: number;
}

/**
 * Checks one persistence file's new size against its kind, the key's filesystem and its free space.
 * `currentBytes` is the file's size when it grows (only the difference must be free).
 */
export function checkPersistenceSize(kind: 'dm' | 'ext4', requested: number, fsType: string, freeBytes: number, currentBytes = 0): SizeCheck {
  const unit = DRACUT_CHUNK_SECTORS * SECTOR_BYTES;
  const bytes = Math.floor(requested / unit) * unit;
  const minimum = kind === 'dm' ? minimumDmSnapshotBytes() : MIN_EXT4_BYTES;
  if (bytes < minimum) throw new BootkeyError('INVALID_ARGUMENT', `${requested} bytes is too small; at least ${minimum} bytes`);
  if (bytes < currentBytes) {
    throw new BootkeyError('INVALID_ARGUMENT', kind === 'dm'
      ? 'a device-mapper overlay cannot shrink: its chunks are spread over the whole file (merge it, then create a smaller one)'
      : 'shrinking is not offered: an overlay that is too large costs only key space');
  }
  if (fsType === 'vfat' && bytes > FAT_MAX_FILE) {
    throw new BootkeyError('FILE_TOO_LARGE', `FAT cannot hold a file of 4 GiB or more; the largest is ${Math.floor(FAT_MAX_FILE / unit) * unit} bytes`);
  }
  const requiredBytes = bytes - currentBytes;
  if (requiredBytes > freeBytes) {
    throw new BootkeyError('NOT_ENOUGH_SPACE', `${requiredBytes} bytes are needed and the key has ${freeBytes} free`, { requiredBytes, freeBytes });
  }
  return { bytes, requiredBytes };
}
