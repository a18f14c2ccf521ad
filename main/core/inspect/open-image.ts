import type { ByteSource } from '../../ports/byte-source.js';
import { sliceByteSource } from '../byte-source-reads.js';
import { bootImageSource } from '../el-torito/boot-image.js';
import { readBootCatalog, type BootCatalog } from '../el-torito/boot-catalog.js';
import { BootkeyError, ParseError } from '../errors.js';
import { looksLikeFatBootSector } from '../fat/boot-sector.js';
import { FatFileSystem } from '../fat/fat-filesystem.js';
import type { FileSystemTree } from '../filesystem-tree.js';
import { openIsoImage, type IsoImage } from '../iso9660/iso-image.js';
import { hasIsoSignature } from '../iso9660/volume-descriptors.js';
import type { Partition, PartitionTable } from '../partitions/partition.js';
import { readPartitionTable } from '../partitions/partition-table.js';
import { hasUdfRecognition } from '../udf/udf-volume.js';
import { openUdfImage } from '../udf/udf-tree.js';

export type ImageFormat = 'iso9660' | 'udf' | 'gpt' | 'mbr' | 'fat' | 'unknown';

/** An image opened as what it is, with the tree a user browses when no part of it is named. */
export interface OpenedImage {
  format: ImageFormat;
  source: ByteSource;
  iso?: IsoImage;
  /** Both an ISO 9660 and a UDF tree: the UDF one when it holds more (Windows' near-empty ISO bridge). */
  tree?: FileSystemTree;
  catalog?: BootCatalog;
  table: PartitionTable;
  /** Damage that was worked around, in words. */
  warnings: string[];
}

/** Which part of an image to browse: the default tree, a partition, or an El Torito boot image. */
export interface TreeSelector {
  partition?: number;
  elTorito?: number;
}

/**
 * Recognises an image: ISO 9660 first (hybrid ISOs also carry an MBR or GPT, but are read as ISOs, as blkid
 * does), then a bare UDF volume, then a FAT "superfloppy", then a partition table.
 */
export async function openImage(source: ByteSource): Promise<OpenedImage> {
  if (await hasIsoSignature(source)) {
    const warnings: string[] = [];
    // A hybrid ISO's table only matters for booting from USB; a damaged one must not hide the ISO.
    const table = await readPartitionTable(source).catch((error: unknown) => {
      if (!(error instanceof ParseError)) throw error;
      warnings.push(`the partition table for USB boot is damaged: ${error.message}`);
      return { scheme: 'none', sectorSize: 512, partitions: [], warnings: [] } satisfies PartitionTable;
    });
    warnings.push(...table.warnings);
    const iso = await openIsoImage(source);
    const catalog = await readBootCatalog(source, iso.descriptors.bootRecords);
    let tree: FileSystemTree = iso.tree;
    let format: ImageFormat = 'iso9660';
    if (await hasUdfRecognition(source)) {
      const udf = await openUdfImage(source);
      if ((await udf.tree.list('/')).length > (await iso.tree.list('/')).length) {
        tree = udf.tree;
        format = 'udf';
      }
    }
    return { format, source, iso, tree, catalog, table, warnings };
  }
  const table = await readPartitionTable(source);
  const warnings = [...table.warnings];
  if (await hasUdfRecognition(source)) {
    return { format: 'udf', source, tree: (await openUdfImage(source)).tree, table, warnings };
  }
  if (table.scheme === 'none' && source.size >= 512 && looksLikeFatBootSector(await source.read(0, 512))) {
    return { format: 'fat', source, tree: await FatFileSystem.open(source), table, warnings };
  }
  return { format: table.scheme === 'none' ? 'unknown' : table.scheme, source, table, warnings };
}

/** The filesystem inside a partition, or undefined when it is not one Bootkey reads (ext4, NTFS, swap …). */
export async function openPartitionTree(source: ByteSource, partition: Partition): Promise<FileSystemTree | undefined> {
  if (partition.flags.includes('extended')) return undefined;
  const inner = sliceByteSource(source, partition.start, partition.size);
  if (inner.size >= 512 && looksLikeFatBootSector(await inner.read(0, 512))) return FatFileSystem.open(inner);
  if (await hasIsoSignature(inner)) return (await openIsoImage(inner)).tree;
  if (await hasUdfRecognition(inner)) return (await openUdfImage(inner)).tree;
  return undefined;
}

/** The tree a selector names, with an error that says what there is to choose when it names nothing. */
export async function selectTree(image: OpenedImage, selector: TreeSelector): Promise<FileSystemTree> {
  if (selector.elTorito !== undefined) {
    const entries = image.catalog?.entries ?? [];
    const entry = entries.find((e) => e.number === selector.elTorito);
    if (!entry) {
      throw new BootkeyError('NOT_FOUND', entries.length
        ? `no El Torito entry ${selector.elTorito}; the image has ${entries.map((e) => e.number).join(', ')}`
        : 'the image has no El Torito boot catalog');
    }
    const inner = bootImageSource(image.source, entry);
    if (inner.size < 512 || !looksLikeFatBootSector(await inner.read(0, 512))) {
      throw new ParseError(`El Torito entry ${entry.number} is not a FAT image (a BIOS boot image has no files)`, entry.offset, 'UNSUPPORTED_IMAGE');
    }
    return FatFileSystem.open(inner);
  }
  if (selector.partition !== undefined) {
    const partition = image.table.partitions.find((p) => p.number === selector.partition);
    if (!partition) throw new BootkeyError('NOT_FOUND', `no partition ${selector.partition}; ${describePartitions(image.table)}`);
    const tree = await openPartitionTree(image.source, partition);
    if (!tree) throw new ParseError(`partition ${partition.number} (${partition.typeName}) holds no FAT, ISO 9660 or UDF filesystem`, partition.start, 'UNSUPPORTED_IMAGE');
    return tree;
  }
  if (image.tree) return image.tree;
  if (image.table.scheme !== 'none') {
    throw new BootkeyError('INVALID_ARGUMENT', `this is a partitioned disk image: choose one with --partition N (${describePartitions(image.table)})`);
  }
  throw new ParseError('not an ISO 9660, UDF, FAT or partitioned disk image', 0, 'UNSUPPORTED_IMAGE');
}

function describePartitions(table: PartitionTable): string {
  if (table.partitions.length === 0) return 'the image has no partitions';
  return `partitions: ${table.partitions.map((p) => `${p.number} ${p.typeName}`).join(', ')}`;
}
