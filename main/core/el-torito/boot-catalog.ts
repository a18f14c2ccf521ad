import type { ByteSource } from '../../ports/byte-source.js';
import { readExact } from '../byte-source-reads.js';
import { ParseError } from '../errors.js';
import { ISO_SECTOR, asciiField, view } from '../iso9660/iso-fields.js';
import type { BootRecord } from '../iso9660/volume-descriptors.js';

export const EL_TORITO_SYSTEM_ID = 'EL TORITO SPECIFICATION';
export const PLATFORM_BIOS = 0x00;
export const PLATFORM_UEFI = 0xef;

const ENTRY = 32;
/** Real catalogs are one sector; a few more allow many sections, more is a forged chain. */
const MAX_CATALOG_SECTORS = 16;

export type Emulation = 'none' | 'fd1.2' | 'fd1.4' | 'fd2.8' | 'hd';
const EMULATIONS: Emulation[] = ['none', 'fd1.2', 'fd1.4', 'fd2.8', 'hd'];
/** Sizes of the emulated floppies, in bytes. */
const FLOPPY_BYTES: Partial<Record<Emulation, number>> = { 'fd1.2': 1_228_800, 'fd1.4': 1_474_560, 'fd2.8': 2_949_120 };

/** One boot entry of the catalog (the initial/default entry is number 1, as xorriso counts). */
export interface BootEntry {
  number: number;
  /** Platform id: 0x00 BIOS (x86), 0x01 PowerPC, 0x02 Mac, 0xEF UEFI. */
  platform: number;
  bootable: boolean;
  emulation: Emulation;
  loadSegment: number;
  systemType: number;
  /** Virtual 512-byte sectors the BIOS loads (no emulation), as the catalog says. */
  sectorCount: number;
  /** First 2048-byte block of the image. */
  lba: number;
  /** Byte offset of the image in the ISO. */
  offset: number;
  /** Bytes of the image: emulated floppy size, hard-disk MBR extent, FAT size for a 0/1 count, else the count. */
  size: number;
  sizeFrom: 'catalog' | 'fat' | 'floppy' | 'mbr';
  /** The image reaches past the end of the ISO file (a truncated download). */
  beyondEnd: boolean;
  /** Section id string (manufacturer text), empty for the initial entry. */
  sectionId: string;
}

export interface BootCatalog {
  /** Block of the catalog. */
  lba: number;
  /** Platform and id string of the validation entry. */
  platform: number;
  id: string;
  entries: BootEntry[];
}

/** The El Torito catalog named by a boot record, or undefined when the image has no El Torito boot record. */
export async function readBootCatalog(source: ByteSource, bootRecords: BootRecord[]): Promise<BootCatalog | undefined> {
  const record = bootRecords.find((r) => r.systemId === EL_TORITO_SYSTEM_ID);
  if (!record) return undefined;
  const lba = view(record.bytes).getUint32(71, true);
  const base = lba * ISO_SECTOR;
  const sectors: Uint8Array[] = [];
  const entryAt = async (index: number): Promise<Uint8Array> => {
    const sector = Math.floor((index * ENTRY) / ISO_SECTOR);
    if (sector >= MAX_CATALOG_SECTORS) throw new ParseError(`boot catalog longer than ${MAX_CATALOG_SECTORS} sectors`, base + index * ENTRY);
    while (sectors.length <= sector) {
      sectors.push(await readExact(source, base + sectors.length * ISO_SECTOR, ISO_SECTOR, 'El Torito boot catalog'));
    }
    const at = (index * ENTRY) % ISO_SECTOR;
    return (sectors[sector] as Uint8Array).subarray(at, at + ENTRY);
  };

  const validation = await entryAt(0);
  checkValidationEntry(validation, base);
  const platform = validation[1] ?? 0;
  const entries: BootEntry[] = [];
  const add = async (bytes: Uint8Array, index: number, entryPlatform: number, sectionId: string) => {
    entries.push(await bootEntry(source, bytes, base + index * ENTRY, entries.length + 1, entryPlatform, sectionId));
  };
  await add(await entryAt(1), 1, platform, '');

  let index = 2;
  for (;;) {
    const header = await entryAt(index);
    const indicator = header[0];
    if (indicator !== 0x90 && indicator !== 0x91) break; // no more sections (0x00 ends many catalogs)
    const sectionPlatform = header[1] ?? 0;
    const count = view(header).getUint16(2, true);
    const sectionId = asciiField(header, 4, 28);
    index++;
    for (let n = 0; n < count; n++) {
      const entry = await entryAt(index);
      if (entry[0] !== 0x88 && entry[0] !== 0x00) throw new ParseError(`boot catalog section entry has indicator 0x${(entry[0] ?? 0).toString(16)}`, base + index * ENTRY);
      await add(entry, index, sectionPlatform, sectionId);
      index++;
      // Extension entries (0x44) carry more selection criteria; Bootkey does not need them.
      while ((await entryAt(index))[0] === 0x44) index++;
    }
    if (indicator === 0x91) break;
  }
  return { lba, platform, id: asciiField(validation, 4, 24), entries };
}

function checkValidationEntry(bytes: Uint8Array, at: number): void {
  if (bytes[0] !== 0x01) throw new ParseError('El Torito validation entry has no header id 1', at);
  if (bytes[30] !== 0x55 || bytes[31] !== 0xaa) throw new ParseError('El Torito validation entry lacks the 55 AA key', at + 30);
  const words = view(bytes);
  let sum = 0;
  for (let i = 0; i < ENTRY; i += 2) sum = (sum + words.getUint16(i, true)) & 0xffff;
  if (sum !== 0) throw new ParseError('El Torito validation entry checksum is wrong', at + 28);
}

async function bootEntry(source: ByteSource, bytes: Uint8Array, at: number, number: number, platform: number, sectionId: string): Promise<BootEntry> {
  const v = view(bytes);
  const media = (bytes[1] ?? 0) & 0x0f;
  const emulation = EMULATIONS[media];
  if (!emulation) throw new ParseError(`El Torito boot media type ${media} is unknown`, at + 1);
  const lba = v.getUint32(8, true);
  const sectorCount = v.getUint16(6, true);
  const offset = lba * ISO_SECTOR;
  const { size, sizeFrom } = await imageSize(source, offset, emulation, sectorCount);
  return {
    number,
    platform,
    bootable: bytes[0] === 0x88,
    emulation,
    loadSegment: v.getUint16(2, true),
    systemType: bytes[4] ?? 0,
    sectorCount,
    lba,
    offset,
    size,
    sizeFrom,
    beyondEnd: offset + size > source.size,
    sectionId,
  };
}

async function imageSize(source: ByteSource, offset: number, emulation: Emulation, sectorCount: number): Promise<Pick<BootEntry, 'size' | 'sizeFrom'>> {
  const floppy = FLOPPY_BYTES[emulation];
  if (floppy) return { size: floppy, sizeFrom: 'floppy' };
  const first = offset < source.size ? await source.read(offset, 512) : new Uint8Array(0);
  if (emulation === 'hd') {
    const end = mbrEnd(first);
    if (end) return { size: end, sizeFrom: 'mbr' };
  } else if (sectorCount <= 1) {
    // UEFI images are FAT filesystems; a 0 or 1 count (all 16 bits can say is 32 MiB) means "see its boot sector".
    const fat = fatSize(first);
    if (fat) return { size: fat, sizeFrom: 'fat' };
  }
  return { size: sectorCount * 512, sizeFrom: 'catalog' };
}

/** Bytes a FAT boot sector says its filesystem has, or undefined when `sector` is not a plausible FAT boot sector. */
export function fatSize(sector: Uint8Array): number | undefined {
  if (sector.length < 512 || sector[510] !== 0x55 || sector[511] !== 0xaa) return undefined;
  const v = view(sector);
  const bytesPerSector = v.getUint16(11, true);
  if (![512, 1024, 2048, 4096].includes(bytesPerSector)) return undefined;
  const clusterSectors = sector[13] ?? 0;
  if (clusterSectors === 0 || (clusterSectors & (clusterSectors - 1)) !== 0) return undefined;
  const total = v.getUint16(19, true) || v.getUint32(32, true);
  return total > 0 ? total * bytesPerSector : undefined;
}

/** End of the furthest partition of a hard-disk emulation image's MBR, in bytes. */
function mbrEnd(sector: Uint8Array): number | undefined {
  if (sector.length < 512 || sector[510] !== 0x55 || sector[511] !== 0xaa) return undefined;
  const v = view(sector);
  let end = 0;
  for (let i = 0; i < 4; i++) {
    const entry = 446 + i * 16;
    if ((sector[entry + 4] ?? 0) === 0) continue;
    end = Math.max(end, (v.getUint32(entry + 8, true) + v.getUint32(entry + 12, true)) * 512);
  }
  return end || undefined;
}
