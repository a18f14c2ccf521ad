import type { ByteSource } from '../../ports/byte-source.js';
import { readExact } from '../byte-source-reads.js';
import type { Partition } from './partition.js';
import { isExtendedMbrType, mbrTypeName } from './partition-types.js';

const ENTRIES_AT = 446;
const ENTRY_SIZE = 16;
/** Linux stops at this many partitions on one disk; a longer EBR chain is damage, not data. */
const MAX_LOGICAL = 252;

/** One used slot of an MBR or EBR (CHS fields ignored: every tool since the 1990s uses the LBA fields). */
export interface MbrEntry {
  /** 0–3 within its sector. */
  slot: number;
  bootable: boolean;
  type: number;
  firstLba: number;
  sectors: number;
}

export interface MasterBootRecord {
  /** The 32-bit disk signature at byte 440. */
  diskSignature: number;
  /** Used slots only (a slot is used when its size is not zero, whatever its type, as Linux and fdisk read it). */
  entries: MbrEntry[];
}

export function hasBootSignature(sector: Uint8Array): boolean {
  return sector.length >= 512 && sector[510] === 0x55 && sector[511] === 0xaa;
}

/**
 * The four entries of an MBR (or EBR) sector, or undefined when the sector is not one: no 55 AA signature, or a
 * boot indicator other than 0x00/0x80 (boot code or a filesystem boot sector, not a table).
 */
export function parseMbrSector(sector: Uint8Array): MasterBootRecord | undefined {
  if (!hasBootSignature(sector)) return undefined;
  const view = new DataView(sector.buffer, sector.byteOffset, sector.byteLength);
  const entries: MbrEntry[] = [];
  for (let slot = 0; slot < 4; slot++) {
    const at = ENTRIES_AT + slot * ENTRY_SIZE;
    const indicator = sector[at]!;
    if (indicator !== 0x00 && indicator !== 0x80) return undefined;
    const sectors = view.getUint32(at + 12, true);
    if (sectors === 0) continue;
    entries.push({ slot, bootable: indicator === 0x80, type: sector[at + 4]!, firstLba: view.getUint32(at + 8, true), sectors });
  }
  return { diskSignature: view.getUint32(440, true), entries };
}

export function mbrPartition(number: number, entry: MbrEntry, firstLba: number, sectorSize: number, logical = false): Partition {
  const flags: Partition['flags'] = [];
  if (entry.bootable) flags.push('bootable');
  if (isExtendedMbrType(entry.type)) flags.push('extended');
  if (logical) flags.push('logical');
  return {
    number,
    start: firstLba * sectorSize,
    size: entry.sectors * sectorSize,
    type: entry.type.toString(16).padStart(2, '0'),
    typeName: mbrTypeName(entry.type),
    flags,
  };
}

/** The MBR's partitions, primary ones numbered by slot (1–4) and logical ones from 5 in chain order. */
export async function readMbrPartitions(
  source: ByteSource,
  mbr: MasterBootRecord,
  sectorSize: number,
  warnings: string[],
): Promise<Partition[]> {
  const partitions: Partition[] = [];
  let extendedSeen = false;
  for (const entry of mbr.entries) {
    const partition = mbrPartition(entry.slot + 1, entry, entry.firstLba, sectorSize);
    warnIfPastEnd(source, partition, warnings);
    partitions.push(partition);
    if (!isExtendedMbrType(entry.type)) continue;
    if (extendedSeen) {
      warnings.push(`MBR slot ${entry.slot + 1}: a second extended partition is ignored`);
      continue;
    }
    extendedSeen = true;
    partitions.push(...(await readLogicalPartitions(source, entry, sectorSize, warnings)));
  }
  return partitions.sort((a, b) => a.number - b.number);
}

/**
 * Follows the EBR chain of an extended partition. Each EBR holds one logical partition (relative to that EBR)
 * and a link to the next EBR (relative to the extended partition's start). A chain that loops, leaves the
 * extended partition or the image, or lacks a signature ends there with a warning: the partitions found before
 * the damage are still real.
 */
async function readLogicalPartitions(
  source: ByteSource,
  extended: MbrEntry,
  sectorSize: number,
  warnings: string[],
): Promise<Partition[]> {
  const logical: Partition[] = [];
  const extendedEnd = extended.firstLba + extended.sectors;
  const visited = new Set<number>();
  let ebrLba = extended.firstLba;
  while (logical.length < MAX_LOGICAL) {
    const where = `EBR at sector ${ebrLba}`;
    if (visited.has(ebrLba)) {
      warnings.push(`${where}: the EBR chain loops back on itself; logical partitions after it are ignored`);
      return logical;
    }
    visited.add(ebrLba);
    if ((ebrLba + 1) * sectorSize > source.size) {
      warnings.push(`${where} lies beyond the end of the image`);
      return logical;
    }
    const ebr = parseMbrSector(await readExact(source, ebrLba * sectorSize, sectorSize, where));
    if (!ebr) {
      warnings.push(`${where} has no valid signature; logical partitions after it are ignored`);
      return logical;
    }
    const data = ebr.entries.filter((e) => !isExtendedMbrType(e.type));
    const links = ebr.entries.filter((e) => isExtendedMbrType(e.type));
    if (data.length > 1 || links.length > 1) warnings.push(`${where}: extra entries ignored`);
    const entry = data[0];
    if (entry) {
      const partition = mbrPartition(5 + logical.length, entry, ebrLba + entry.firstLba, sectorSize, true);
      if (ebrLba + entry.firstLba + entry.sectors > extendedEnd) {
        warnings.push(`logical partition ${partition.number} extends past its extended partition`);
      }
      warnIfPastEnd(source, partition, warnings);
      logical.push(partition);
    }
    const link = links[0];
    if (!link) return logical;
    ebrLba = extended.firstLba + link.firstLba;
    if (ebrLba >= extendedEnd) {
      warnings.push(`${where} links to sector ${ebrLba}, outside its extended partition; the chain ends there`);
      return logical;
    }
  }
  warnings.push(`more than ${MAX_LOGICAL} logical partitions; the rest are ignored`);
  return logical;
}

export function warnIfPastEnd(source: ByteSource, partition: Partition, warnings: string[]): void {
  if (partition.start + partition.size > source.size) {
    warnings.push(`partition ${partition.number} extends past the end of the image (${source.size} bytes)`);
  }
}
