import type { ByteSource } from '../../ports/byte-source.js';
import { readExact } from '../byte-source-reads.js';
import { ParseError } from '../errors.js';
import { parseDirectoryRecord, type DirectoryRecord } from './directory-record.js';
import { ISO_SECTOR, asciiField, bothEndian16, bothEndian32, ucs2Field, volumeDateDigits } from './iso-fields.js';

const FIRST_DESCRIPTOR_SECTOR = 16;
/** Real images have 2–5 descriptors; a set without a terminator this long is garbage, not a reason to read on. */
const MAX_DESCRIPTORS = 64;
const JOLIET_ESCAPES = ['%/@', '%/C', '%/E'];

/** A primary or supplementary volume descriptor: the fields Bootkey uses. */
export interface VolumeDescriptor {
  sector: number;
  volumeId: string;
  /** Logical blocks in the volume (`blockSize` bytes each). */
  spaceSize: number;
  blockSize: number;
  root: DirectoryRecord;
  /** 'YYYYMMDDHHMMSScc' digits, or undefined when unset. */
  creation?: string;
  modification?: string;
  applicationId: string;
  /** The 512-byte application use area as text (Fedora's implanted MD5 lives here). */
  applicationUse: string;
}

export interface BootRecord {
  sector: number;
  systemId: string;
  /** The whole 2048-byte descriptor: El Torito reads its catalog pointer from it. */
  bytes: Uint8Array;
}

export interface VolumeDescriptorSet {
  primary: VolumeDescriptor;
  /** The supplementary descriptor with a Joliet escape sequence (UCS-2 names), if any. */
  joliet?: VolumeDescriptor;
  bootRecords: BootRecord[];
}

/** True when sector 16 starts an ISO 9660 volume descriptor set ("CD001"). */
export async function hasIsoSignature(source: ByteSource): Promise<boolean> {
  const at = FIRST_DESCRIPTOR_SECTOR * ISO_SECTOR;
  if (source.size < at + ISO_SECTOR) return false;
  return asciiField(await source.read(at + 1, 5), 0, 5) === 'CD001';
}

/** Reads the volume descriptor set from sector 16 up to the terminator. */
export async function readVolumeDescriptors(source: ByteSource): Promise<VolumeDescriptorSet> {
  let primary: VolumeDescriptor | undefined;
  let joliet: VolumeDescriptor | undefined;
  const bootRecords: BootRecord[] = [];
  for (let index = 0; ; index++) {
    const sector = FIRST_DESCRIPTOR_SECTOR + index;
    const base = sector * ISO_SECTOR;
    if (index >= MAX_DESCRIPTORS) throw new ParseError(`no volume descriptor set terminator in ${MAX_DESCRIPTORS} sectors`, base);
    const bytes = await readExact(source, base, ISO_SECTOR, 'ISO 9660 volume descriptor');
    const type = bytes[0];
    if (asciiField(bytes, 1, 5) !== 'CD001') {
      if (index === 0) throw new ParseError('not an ISO 9660 image (no CD001 at sector 16)', base + 1, 'UNSUPPORTED_IMAGE');
      throw new ParseError('volume descriptor without CD001 before the set terminator', base + 1);
    }
    if (type === 255) break;
    if (type === 0) bootRecords.push({ sector, systemId: asciiField(bytes, 7, 32), bytes });
    else if (type === 1 && !primary) primary = parseVolumeDescriptor(bytes, sector, false);
    else if (type === 2 && !joliet && JOLIET_ESCAPES.includes(asciiField(bytes, 88, 3))) {
      joliet = parseVolumeDescriptor(bytes, sector, true);
    }
  }
  if (!primary) throw new ParseError('no primary volume descriptor', FIRST_DESCRIPTOR_SECTOR * ISO_SECTOR);
  return { primary, joliet, bootRecords };
}

function parseVolumeDescriptor(bytes: Uint8Array, sector: number, ucs2: boolean): VolumeDescriptor {
  const base = sector * ISO_SECTOR;
  const blockSize = bothEndian16(bytes, 128, base, 'logical block size');
  if (![512, 1024, 2048].includes(blockSize)) throw new ParseError(`logical block size ${blockSize} is not 512, 1024 or 2048`, base + 128);
  const rootLength = bytes[156] ?? 0;
  if (rootLength < 34) throw new ParseError('root directory record is too short', base + 156);
  const root = parseDirectoryRecord(bytes.subarray(156, 156 + 34), base + 156);
  if (!root.isDirectory) throw new ParseError('root directory record is not a directory', base + 156 + 25);
  return {
    sector,
    volumeId: ucs2 ? ucs2Field(bytes, 40, 32) : asciiField(bytes, 40, 32),
    spaceSize: bothEndian32(bytes, 80, base, 'volume space size'),
    blockSize,
    root,
    creation: volumeDateDigits(bytes, 813),
    modification: volumeDateDigits(bytes, 830),
    applicationId: ucs2 ? ucs2Field(bytes, 574, 128) : asciiField(bytes, 574, 128),
    applicationUse: asciiField(bytes, 883, 512),
  };
}
