import { ParseError } from '../errors.js';
import { decodeOemName } from './short-name.js';

export type FatType = 'FAT12' | 'FAT16' | 'FAT32';

/** The geometry of a FAT volume from its BIOS Parameter Block, checked so every later offset is in range. */
export interface FatBootSector {
  fatType: FatType;
  bytesPerSector: number;
  sectorsPerCluster: number;
  clusterSize: number;
  reservedSectors: number;
  fatCount: number;
  /** Sectors of one FAT copy. */
  fatSectors: number;
  rootEntryCount: number;
  totalSectors: number;
  /** FAT12/16: the fixed root directory region, in sectors from the volume start. */
  rootDirSector: number;
  rootDirSectors: number;
  firstDataSector: number;
  /** Data clusters, numbered 2 … clusterCount + 1. */
  clusterCount: number;
  /** FAT32: the root directory's first cluster. */
  rootCluster: number;
  /** The volume serial number (the "UUID" Linux shows), when the extended boot signature says it is there. */
  serial?: number;
  /** The label in the boot sector, trailing spaces removed (the root directory's label entry wins over it). */
  bootLabel?: string;
}

/** Clusters below these counts make FAT12 and FAT16 (Microsoft's FAT specification, "FAT type determination"). */
const FAT12_LIMIT = 4085;
const FAT16_LIMIT = 65525;
const FAT32_MAX_CLUSTERS = 0x0ffffff5;

function isPowerOfTwo(n: number): boolean {
  return n > 0 && (n & (n - 1)) === 0;
}

/**
 * Parses and validates the boot sector (at least its first 512 bytes). Every field that later arithmetic trusts
 * is range-checked here; a bad one is a ParseError at that field's offset.
 *
 * FAT type: a BPB without a 16-bit FAT size is FAT32 (that form has no fixed root directory, and Linux, GRUB and
 * blkid all read it so); otherwise the spec's cluster-count rule picks FAT12 or FAT16.
 */
export function parseFatBootSector(sector: Uint8Array): FatBootSector {
  if (sector.length < 512) throw new ParseError('FAT boot sector is truncated', sector.length);
  const view = new DataView(sector.buffer, sector.byteOffset, sector.byteLength);
  const u16 = (at: number) => view.getUint16(at, true);
  const u32 = (at: number) => view.getUint32(at, true);

  const bytesPerSector = u16(11);
  if (bytesPerSector < 512 || bytesPerSector > 4096 || !isPowerOfTwo(bytesPerSector)) {
    throw new ParseError(`FAT: impossible bytes per sector ${bytesPerSector}`, 11);
  }
  const sectorsPerCluster = sector[13]!;
  if (!isPowerOfTwo(sectorsPerCluster)) throw new ParseError(`FAT: impossible sectors per cluster ${sectorsPerCluster}`, 13);
  const reservedSectors = u16(14);
  if (reservedSectors === 0) throw new ParseError('FAT: no reserved sectors', 14);
  const fatCount = sector[16]!;
  if (fatCount === 0) throw new ParseError('FAT: no FAT copies', 16);
  const rootEntryCount = u16(17);
  const totalSectors = u16(19) || u32(32);
  if (totalSectors === 0) throw new ParseError('FAT: total sectors is zero', 19);
  const media = sector[21]!;
  if (media !== 0xf0 && media < 0xf8) throw new ParseError(`FAT: impossible media byte 0x${media.toString(16)}`, 21);
  const fat32Form = u16(22) === 0;
  // Only FAT32 has no 16-bit FAT size, and only FAT32 has no fixed root directory: one without the other is damage.
  if (fat32Form && rootEntryCount !== 0) throw new ParseError('FAT: FAT size is zero', 22);
  if (!fat32Form && rootEntryCount === 0) throw new ParseError('FAT12/16: root entry count is zero', 17);
  const fatSectors = fat32Form ? u32(36) : u16(22);
  if (fatSectors === 0) throw new ParseError('FAT32: FAT size is zero', 36);

  const rootDirSector = reservedSectors + fatCount * fatSectors;
  const rootDirSectors = Math.ceil((rootEntryCount * 32) / bytesPerSector);
  const firstDataSector = rootDirSector + rootDirSectors;
  if (firstDataSector >= totalSectors) {
    throw new ParseError(`FAT: the FATs and root directory (${firstDataSector} sectors) fill the whole volume`, 19);
  }
  const clusterCount = Math.floor((totalSectors - firstDataSector) / sectorsPerCluster);
  if (clusterCount === 0) throw new ParseError('FAT: the volume has no data clusters', 13);

  let fatType: FatType;
  if (fat32Form) fatType = 'FAT32';
  else if (clusterCount < FAT12_LIMIT) fatType = 'FAT12';
  else if (clusterCount < FAT16_LIMIT) fatType = 'FAT16';
  else throw new ParseError(`FAT16: ${clusterCount} clusters are more than FAT16 can address`, 22);
  if (fatType === 'FAT32' && clusterCount > FAT32_MAX_CLUSTERS) {
    throw new ParseError(`FAT32: ${clusterCount} clusters are more than FAT32 can address`, 32);
  }
  const entryBits = fatType === 'FAT12' ? 12 : fatType === 'FAT16' ? 16 : 32;
  if (fatSectors * bytesPerSector * 8 < (clusterCount + 2) * entryBits) {
    throw new ParseError(`${fatType}: a FAT of ${fatSectors} sectors cannot map ${clusterCount} clusters`, fat32Form ? 36 : 22);
  }
  const rootCluster = fat32Form ? u32(44) : 0;
  if (fat32Form && (rootCluster < 2 || rootCluster > clusterCount + 1)) {
    throw new ParseError(`FAT32: root directory cluster ${rootCluster} is outside the volume`, 44);
  }

  // The extended BPB (signature 0x28 or 0x29) sits after the FAT32-only fields on FAT32.
  const ext = fat32Form ? 64 : 36;
  const signature = sector[ext + 2];
  const serial = signature === 0x28 || signature === 0x29 ? u32(ext + 3) : undefined;
  const bootLabel = signature === 0x29 ? decodeOemName(sector.subarray(ext + 7, ext + 18)).trimEnd() : undefined;

  return {
    fatType,
    bytesPerSector,
    sectorsPerCluster,
    clusterSize: bytesPerSector * sectorsPerCluster,
    reservedSectors,
    fatCount,
    fatSectors,
    rootEntryCount,
    totalSectors,
    rootDirSector,
    rootDirSectors,
    firstDataSector,
    clusterCount,
    rootCluster,
    serial,
    bootLabel,
  };
}

/** A boot sector that a FAT driver would mount: the check that tells a whole-disk FAT ("superfloppy") from an MBR. */
export function looksLikeFatBootSector(sector: Uint8Array): boolean {
  const jump = sector[0] === 0xeb || sector[0] === 0xe9;
  const type = (at: number) => String.fromCharCode(...sector.subarray(at, at + 3)) === 'FAT';
  if (!jump || !(type(54) || type(82))) return false;
  try {
    parseFatBootSector(sector);
    return true;
  } catch (error) {
    if (error instanceof ParseError) return false;
    throw error;
  }
}

/** The serial as Linux, blkid and GRUB show it: `XXXX-XXXX`, upper-case hex. */
export function formatFatSerial(serial: number): string {
  const hex = serial.toString(16).toUpperCase().padStart(8, '0');
  return `${hex.slice(0, 4)}-${hex.slice(4)}`;
}
