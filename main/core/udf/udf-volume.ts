import type { ByteSource } from '../../ports/byte-source.js';
import { readExact } from '../byte-source-reads.js';
import { ParseError } from '../errors.js';
import type { FileExtent } from '../filesystem-tree.js';
import { asciiField, view } from '../iso9660/iso-fields.js';
import { TAG_AVDP, TAG_LVD, TAG_PD, TAG_TD, TAG_VDP, checkTag, dstring, longAd, type LongAd } from './udf-descriptors.js';

const VRS_START = 32768;
const MAX_VRS_DESCRIPTORS = 64;
const ANCHOR_SECTOR = 256;
/** Descriptors a volume descriptor sequence may hold before we call it garbage (real ones hold about ten). */
const MAX_VDS_DESCRIPTORS = 256;
const MAX_VDS_POINTERS = 8;
const BLOCK_SIZES = [2048, 512, 4096, 1024];

/** A partition descriptor: where its blocks are, in sectors of the volume. */
interface PhysicalPartition {
  number: number;
  start: number;
  length: number;
}

/** A logical block address space (one partition map): turns (block, length) into byte ranges of the image. */
export interface PartitionSpace {
  readonly name: string;
  map(block: number, length: number, at: number): FileExtent[];
}

export interface UdfVolume {
  source: ByteSource;
  blockSize: number;
  /** Highest NSR revision seen: 2 (UDF 1.02 era) or 3 (UDF 2.00+). */
  nsr: number;
  /** Logical volume identifier (what blkid shows as LABEL). */
  label: string;
  /** Primary volume descriptor's volume identifier. */
  volumeId: string;
  /** Partition maps, indexed by partition reference number; metadata maps are filled in by the caller. */
  spaces: PartitionSpace[];
  /** Metadata partition maps to resolve (UDF 2.50+): the FE of their metadata file, in the physical partition. */
  metadataMaps: { reference: number; physical: number; fileLocation: number }[];
  /** File set descriptor location. */
  fileSet: LongAd;
}

/** True when the Volume Recognition Sequence names an NSR (UDF) descriptor. */
export async function hasUdfRecognition(source: ByteSource): Promise<boolean> {
  return (await recognitionSequence(source)) > 0;
}

/** The NSR revision (2 or 3) in the recognition sequence, 0 when there is none. */
async function recognitionSequence(source: ByteSource): Promise<number> {
  let inExtended = false;
  let nsr = 0;
  for (let i = 0; i < MAX_VRS_DESCRIPTORS; i++) {
    const at = VRS_START + i * 2048;
    if (at + 2048 > source.size) break;
    const head = await source.read(at, 7);
    const id = asciiField(head, 1, 5);
    if (head[6] !== 1 && id !== 'BEA01') break;
    if (id === 'BEA01') inExtended = true;
    else if (id === 'TEA01') break;
    else if (inExtended && id === 'NSR02') nsr = Math.max(nsr, 2);
    else if (inExtended && id === 'NSR03') nsr = Math.max(nsr, 3);
    else if (!['CD001', 'CDW02', 'BOOT2'].includes(id)) break;
  }
  return nsr;
}

/** Reads the UDF anchor and volume descriptors: partitions, logical volume, file set location. */
export async function readUdfVolume(source: ByteSource): Promise<UdfVolume> {
  const nsr = await recognitionSequence(source);
  if (!nsr) throw new ParseError('not a UDF image (no NSR descriptor in the volume recognition sequence)', VRS_START, 'UNSUPPORTED_IMAGE');
  const anchor = await findAnchor(source);
  let failure: unknown;
  for (const extent of [anchor.main, anchor.reserve]) {
    try {
      return { source, nsr, blockSize: anchor.blockSize, ...(await readSequence(source, anchor.blockSize, extent)) };
    } catch (error) {
      if (!(error instanceof ParseError)) throw error;
      failure ??= error; // the reserve copy exists for exactly this
    }
  }
  throw failure;
}

async function findAnchor(source: ByteSource): Promise<{ blockSize: number; main: Extent; reserve: Extent }> {
  for (const blockSize of BLOCK_SIZES) {
    const last = Math.floor(source.size / blockSize) - 1;
    for (const sector of [ANCHOR_SECTOR, last - ANCHOR_SECTOR, last]) {
      if (sector < ANCHOR_SECTOR) continue;
      const at = sector * blockSize;
      const bytes = await source.read(at, 512);
      if (bytes.length < 512 || bytes[0] !== TAG_AVDP || bytes[1] !== 0) continue;
      try {
        checkTag(bytes, at, [TAG_AVDP], sector, 'anchor volume descriptor pointer');
      } catch (error) {
        if (error instanceof ParseError) continue; // another block size or another anchor copy
        throw error;
      }
      const v = view(bytes);
      return {
        blockSize,
        main: { length: v.getUint32(16, true), location: v.getUint32(20, true) },
        reserve: { length: v.getUint32(24, true), location: v.getUint32(28, true) },
      };
    }
  }
  throw new ParseError('no UDF anchor volume descriptor pointer at sector 256, N−256 or N', ANCHOR_SECTOR * 2048);
}

interface Extent {
  length: number;
  location: number;
}

async function readSequence(source: ByteSource, blockSize: number, first: Extent): Promise<Omit<UdfVolume, 'source' | 'nsr' | 'blockSize'>> {
  const partitions: PhysicalPartition[] = [];
  let lvd: Uint8Array | undefined;
  let lvdOffset = 0;
  let volumeId = '';
  let extent = first;
  let pointers = 0;
  let count = 0;
  sequence: for (;;) {
    const sectors = Math.floor(extent.length / blockSize);
    for (let i = 0; i < sectors; i++) {
      if (++count > MAX_VDS_DESCRIPTORS) throw new ParseError('volume descriptor sequence never ends', extent.location * blockSize);
      const sector = extent.location + i;
      const at = sector * blockSize;
      const bytes = await readExact(source, at, blockSize, 'UDF volume descriptor');
      const id = checkTag(bytes, at, [1, 2, 3, 4, 5, 6, 7, 8, 9], sector, 'UDF volume descriptor');
      const v = view(bytes);
      if (id === TAG_TD) break sequence;
      if (id === 1 && volumeId === '') volumeId = dstring(bytes, 24, 32, at);
      if (id === TAG_PD) partitions.push({ number: v.getUint16(22, true), start: v.getUint32(188, true), length: v.getUint32(192, true) });
      if (id === TAG_LVD && !lvd) {
        lvd = bytes;
        lvdOffset = at;
      }
      if (id === TAG_VDP) {
        if (++pointers > MAX_VDS_POINTERS) throw new ParseError('too many volume descriptor pointers', at);
        extent = { length: v.getUint32(20, true), location: v.getUint32(24, true) };
        continue sequence;
      }
    }
    break;
  }
  if (!lvd) throw new ParseError('no logical volume descriptor', first.location * blockSize);
  const v = view(lvd);
  const logicalBlockSize = v.getUint32(212, true);
  if (logicalBlockSize !== blockSize) throw new ParseError(`logical block size ${logicalBlockSize} differs from the sector size ${blockSize}`, lvdOffset + 212);
  const label = dstring(lvd, 84, 128, lvdOffset);
  const fileSet = longAd(lvd, 248);
  const tableLength = v.getUint32(264, true);
  const mapCount = v.getUint32(268, true);
  if (440 + tableLength > blockSize || mapCount > 64) throw new ParseError('partition map table overruns its descriptor', lvdOffset + 264);
  const spaces: PartitionSpace[] = [];
  const metadataMaps: UdfVolume['metadataMaps'] = [];
  let at = 440;
  for (let i = 0; i < mapCount; i++) {
    const type = lvd[at] ?? 0;
    const length = lvd[at + 1] ?? 0;
    if (length < 6 || at + length > 440 + tableLength) throw new ParseError('partition map overruns the table', lvdOffset + at);
    const number = v.getUint16(at + 4, true);
    if (type === 1) {
      spaces.push(physicalSpace(partitionNumbered(partitions, number, lvdOffset + at), blockSize));
    } else if (type === 2 && length >= 64) {
      const identifier = asciiField(lvd, at + 5, 23);
      const physical = v.getUint16(at + 38, true);
      const partition = partitionNumbered(partitions, physical, lvdOffset + at);
      if (identifier === '*UDF Metadata Partition') {
        metadataMaps.push({ reference: i, physical: partition.number, fileLocation: v.getUint32(at + 40, true) });
        spaces.push(physicalSpace(partition, blockSize)); // replaced by the metadata file's space once it is read
      } else if (identifier === '*UDF Sparable Partition') {
        // Sparing remaps defective packets of rewritable discs; an image has none to remap.
        spaces.push(physicalSpace(partition, blockSize));
      } else {
        throw new ParseError(`partition map '${identifier}' is not supported`, lvdOffset + at, 'UNSUPPORTED_IMAGE');
      }
    } else {
      throw new ParseError(`partition map type ${type} is not supported`, lvdOffset + at, 'UNSUPPORTED_IMAGE');
    }
    at += length;
  }
  return { label, volumeId, spaces, metadataMaps, fileSet };
}

function partitionNumbered(partitions: PhysicalPartition[], number: number, at: number): PhysicalPartition {
  const partition = partitions.find((p) => p.number === number);
  if (!partition) throw new ParseError(`partition map names partition ${number}, which has no descriptor`, at);
  return partition;
}

function physicalSpace(partition: PhysicalPartition, blockSize: number): PartitionSpace {
  return {
    name: `partition ${partition.number}`,
    map(block, length, at) {
      if (block * blockSize + length > partition.length * blockSize) {
        throw new ParseError(`extent at block ${block} (+${length} bytes) lies outside partition ${partition.number}`, at);
      }
      return [{ offset: (partition.start + block) * blockSize, length }];
    },
  };
}

/** A metadata partition (UDF 2.50+): its blocks are the bytes of the metadata file, wherever those lie. */
export function metadataSpace(fileExtents: FileExtent[], blockSize: number): PartitionSpace {
  return {
    name: 'metadata partition',
    map(block, length, at) {
      const out: FileExtent[] = [];
      let skip = block * blockSize;
      let left = length;
      for (const extent of fileExtents) {
        if (left === 0) break;
        if (skip >= extent.length) {
          skip -= extent.length;
          continue;
        }
        const take = Math.min(left, extent.length - skip);
        out.push(extent.zero ? { offset: 0, length: take, zero: true } : { offset: extent.offset + skip, length: take });
        left -= take;
        skip = 0;
      }
      if (left > 0) throw new ParseError(`extent at metadata block ${block} lies beyond the metadata file`, at);
      return out;
    },
  };
}

