import type { ByteSource } from '../../ports/byte-source.js';
import { ParseError } from '../errors.js';
import { looksLikeFatBootSector } from '../fat/boot-sector.js';
import { hasGptSignatureAt, readGpt } from './gpt.js';
import { mbrPartition, parseMbrSector, readMbrPartitions } from './mbr.js';
import type { PartitionTable } from './partition.js';
import { MBR_TYPE_PROTECTIVE } from './partition-types.js';

export interface ReadPartitionTableOptions {
  /**
   * The device's logical sector size when it is known (a block device). Otherwise a GPT tells it by where its
   * header is (512 or 4096), and an MBR-only image is read with 512.
   */
  sectorSize?: number;
}

const SECTOR_SIZES = [512, 4096];

/**
 * The partition table of a disk or disk image, read the way Linux reads it: an MBR with a type 0xEE entry
 * (protective or hybrid) means GPT; an MBR without one is used as it is, whatever else is on the disk; a boot
 * sector that is a FAT filesystem (a "superfloppy" key) or no 55 AA signature means no table at all.
 * ParseError only when a GPT is announced and neither of its headers is usable.
 */
export async function readPartitionTable(source: ByteSource, options: ReadPartitionTableOptions = {}): Promise<PartitionTable> {
  const { sectorSize } = options;
  if (sectorSize !== undefined && !SECTOR_SIZES.includes(sectorSize)) {
    throw new ParseError(`unsupported sector size ${sectorSize}`, 0, 'UNSUPPORTED_IMAGE');
  }
  const none: PartitionTable = { scheme: 'none', sectorSize: sectorSize ?? 512, partitions: [], warnings: [] };
  if (source.size < 512) return none;
  const sector = await source.read(0, 512);
  const mbr = parseMbrSector(sector);
  if (!mbr || mbr.entries.length === 0 || looksLikeFatBootSector(sector)) {
    for (const size of SECTOR_SIZES) {
      if (await hasGptSignatureAt(source, size)) none.warnings.push('a GPT header is present but no MBR announces it; Linux ignores it');
    }
    return none;
  }

  if (mbr.entries.some((e) => e.type === MBR_TYPE_PROTECTIVE)) {
    const candidates = sectorSize ? [sectorSize] : SECTOR_SIZES;
    let chosen = candidates[0]!;
    for (const size of candidates) {
      if (await hasGptSignatureAt(source, size)) {
        chosen = size;
        break;
      }
    }
    const gpt = await readGptOrBackup(source, chosen, candidates);
    const others = mbr.entries.filter((e) => e.type !== MBR_TYPE_PROTECTIVE);
    return {
      scheme: 'gpt',
      sectorSize: gpt.sectorSize,
      diskId: gpt.header.diskGuid,
      partitions: gpt.partitions,
      ...(others.length ? { hybridMbr: others.map((e) => mbrPartition(e.slot + 1, e, e.firstLba, gpt.sectorSize)) } : {}),
      warnings: gpt.warnings,
    };
  }

  const warnings: string[] = [];
  const size = sectorSize ?? 512;
  return {
    scheme: 'mbr',
    sectorSize: size,
    diskId: `0x${mbr.diskSignature.toString(16).padStart(8, '0')}`,
    partitions: await readMbrPartitions(source, mbr, size, warnings),
    warnings,
  };
}

/**
 * The GPT for the sector size whose signature was found; when none was (a damaged primary header), each
 * candidate size is tried so its backup header at the end of the disk can still be found.
 */
async function readGptOrBackup(source: ByteSource, chosen: number, candidates: number[]): Promise<Awaited<ReturnType<typeof readGpt>>> {
  let firstError: ParseError | undefined;
  for (const size of [chosen, ...candidates.filter((s) => s !== chosen)]) {
    try {
      return await readGpt(source, size);
    } catch (error) {
      if (!(error instanceof ParseError)) throw error;
      firstError ??= error;
    }
  }
  throw firstError!;
}
