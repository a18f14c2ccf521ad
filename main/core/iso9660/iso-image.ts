import type { ByteSource } from '../../ports/byte-source.js';
import { readExact } from '../byte-source-reads.js';
import { parseDirectoryRecord } from './directory-record.js';
import { IsoTree, type IsoNaming } from './iso-tree.js';
import { readRockRidge, readSuspVolume, type SuspVolume } from './rock-ridge.js';
import { readVolumeDescriptors, type VolumeDescriptor, type VolumeDescriptorSet } from './volume-descriptors.js';

const FEDORA_MD5_MARKER = 'ISO MD5SUM = ';

/** What an ISO 9660 image says about itself, and its tree with the best names it has. */
export interface IsoImage {
  descriptors: VolumeDescriptorSet;
  /** The label blkid and GRUB show. */
  label: string;
  /** blkid-style UUID: the PVD modification date (else creation) as YYYY-MM-DD-HH-MM-SS-cc. */
  uuid?: string;
  applicationUse: string;
  /** Fedora's implantisomd5 checksum is present in the application use area. */
  implantedMd5: boolean;
  rockRidge: boolean;
  joliet: boolean;
  /** Rock Ridge names if present, else Joliet, else plain 8.3. */
  tree: IsoTree;
}

export async function openIsoImage(source: ByteSource): Promise<IsoImage> {
  const descriptors = await readVolumeDescriptors(source);
  const { primary, joliet } = descriptors;
  const label = isoLabel(primary, joliet);
  const rr = await rockRidgeOf(source, primary);
  const naming: IsoNaming = rr ? 'rock-ridge' : joliet ? 'joliet' : 'plain';
  return {
    descriptors,
    label,
    uuid: isoUuid(primary),
    applicationUse: primary.applicationUse,
    implantedMd5: primary.applicationUse.includes(FEDORA_MD5_MARKER),
    rockRidge: rr !== undefined,
    joliet: joliet !== undefined,
    tree: await isoTree(source, descriptors, naming),
  };
}

/** The tree with one particular naming: 'rock-ridge' and 'plain' read the primary hierarchy, 'joliet' the Joliet one. */
export async function isoTree(source: ByteSource, descriptors: VolumeDescriptorSet, naming: IsoNaming): Promise<IsoTree> {
  const { primary, joliet } = descriptors;
  const label = isoLabel(primary, joliet);
  if (naming === 'joliet') {
    if (!joliet) throw new Error('isoTree: this image has no Joliet hierarchy');
    return new IsoTree(source, label, joliet.root, joliet.blockSize, 'joliet');
  }
  const rr = naming === 'rock-ridge' ? await rockRidgeOf(source, primary) : undefined;
  if (naming === 'rock-ridge' && !rr) throw new Error('isoTree: this image has no Rock Ridge');
  return new IsoTree(source, label, primary.root, primary.blockSize, naming, rr?.susp, rr?.rootMode);
}

/** SUSP is announced by an SP entry in the system use area of the root directory's '.' record. */
async function rockRidgeOf(source: ByteSource, primary: VolumeDescriptor): Promise<{ susp: SuspVolume; rootMode?: number } | undefined> {
  const at = (primary.root.extent + primary.root.extendedAttributeLength) * primary.blockSize;
  const head = await readExact(source, at, Math.min(255, primary.root.dataLength), 'root directory');
  const dot = parseDirectoryRecord(head.subarray(0, head[0] ?? 0), at);
  const suOffset = at + dot.length - dot.systemUse.length;
  const continuation = async (block: number, offset: number, length: number) => {
    const where = block * primary.blockSize + offset;
    return { bytes: await readExact(source, where, length, 'SUSP continuation area'), at: where };
  };
  const susp = await readSuspVolume(dot.systemUse, suOffset, continuation);
  if (!susp) return undefined;
  // The root's own PX gives its mode; the entries after SP in '.' are read like any record's.
  const info = await readRockRidge(dot.systemUse, suOffset, continuation);
  return { susp, rootMode: info.mode === undefined ? undefined : info.mode & 0o7777 };
}

/**
 * The label blkid and GRUB show: the Joliet label (mixed case, but only 16 characters) completed by the primary
 * label where the Joliet one is a truncated copy of it; the primary label when there is no Joliet one.
 */
export function isoLabel(primary: VolumeDescriptor, joliet?: VolumeDescriptor): string {
  const long = primary.volumeId;
  const short = joliet?.volumeId ?? '';
  if (short === '') return long;
  if (long.length > short.length && long.toUpperCase().startsWith(short.toUpperCase())) return short + long.slice(short.length);
  return short;
}

export function isoUuid(primary: VolumeDescriptor): string | undefined {
  const d = primary.modification ?? primary.creation;
  if (!d) return undefined;
  return `${d.slice(0, 4)}-${d.slice(4, 6)}-${d.slice(6, 8)}-${d.slice(8, 10)}-${d.slice(10, 12)}-${d.slice(12, 14)}-${d.slice(14, 16)}`;
}
