import type { ByteSource } from '../../ports/byte-source.js';
import { readDmSnapshot, type DmSnapshotUsage } from './dm-snapshot.js';
import { ext4Usage, hasExt4Magic, readExt4Superblock, type Ext4Usage } from './ext4-superblock.js';

/** How full one persistence file is, read from the file alone. */
export type OverlayUsage = DmSnapshotUsage | Ext4Usage;

/**
 * Tells the two LiveOS overlay kinds apart by content (both are named `overlay-<LABEL>-<UUID>`): an ext4
 * image is an OverlayFS overlay (or home.img); anything else must be a device-mapper snapshot store, new
 * (zeroed) or used. A dm store's header chunk is zero past its 16 header bytes, so it never has the ext magic.
 */
export async function readOverlayUsage(source: ByteSource): Promise<OverlayUsage> {
  if (await hasExt4Magic(source)) return ext4Usage(await readExt4Superblock(source));
  return readDmSnapshot(source);
}
