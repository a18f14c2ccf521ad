import type { ByteSource } from '../../ports/byte-source.js';
import { readExact } from '../byte-source-reads.js';
import { ParseError } from '../errors.js';
import { crc32 } from './crc32.js';
import { formatGuid, ZERO_GUID } from './guid.js';
import { warnIfPastEnd } from './mbr.js';
import type { Partition, PartitionFlag } from './partition.js';
import { gptTypeName } from './partition-types.js';

const SIGNATURE = 'EFI PART';
const MIN_HEADER_SIZE = 92;
const MIN_ENTRY_SIZE = 128;
/** The entry array is 16 KiB by convention; anything above this is damage, not a table (and would be read whole). */
const MAX_ENTRY_ARRAY_BYTES = 4 * 1024 * 1024;

export interface GptHeader {
  myLba: number;
  alternateLba: number;
  firstUsableLba: number;
  lastUsableLba: number;
  diskGuid: string;
  entriesLba: number;
  entryCount: number;
  entrySize: number;
}

export interface Gpt {
  sectorSize: number;
  header: GptHeader;
  partitions: Partition[];
  warnings: string[];
}

/** Whether `EFI PART` is at LBA 1 for this sector size: how 512 and 4096-byte sector tables are told apart. */
export async function hasGptSignatureAt(source: ByteSource, sectorSize: number): Promise<boolean> {
  if (sectorSize + 8 > source.size) return false;
  return ascii(await source.read(sectorSize, 8)) === SIGNATURE;
}

/**
 * Reads the GPT for a sector size: the primary header at LBA 1, else (with a warning) the backup header at the
 * last LBA. Both are checked in full (signature, sizes, both CRC32s, own LBA, bounds); a ParseError names what
 * is wrong with each when neither is usable.
 */
export async function readGpt(source: ByteSource, sectorSize: number): Promise<Gpt> {
  const warnings: string[] = [];
  const lastLba = Math.floor(source.size / sectorSize) - 1;
  const primary = await readTable(source, sectorSize, 1, lastLba);
  let table: Table;
  if (primary.ok) {
    table = primary;
    const backup = await readHeader(source, sectorSize, primary.header.alternateLba, lastLba);
    if (!backup.ok) warnings.push(`the backup GPT header is damaged (${backup.problem})`);
  } else {
    const backup = await readTable(source, sectorSize, lastLba, lastLba);
    if (!backup.ok) {
      throw new ParseError(`GPT is damaged: primary header ${primary.problem}; backup header ${backup.problem}`, sectorSize);
    }
    warnings.push(`the primary GPT header is damaged (${primary.problem}); using the backup at sector ${lastLba}`);
    table = backup;
  }
  return { sectorSize, header: table.header, partitions: gptPartitions(source, table, sectorSize, warnings), warnings };
}

type Header = { ok: true; header: GptHeader } | { ok: false; problem: string };
type Table = { ok: true; header: GptHeader; entries: Uint8Array } | { ok: false; problem: string };

async function readTable(source: ByteSource, sectorSize: number, lba: number, lastLba: number): Promise<Table> {
  const read = await readHeader(source, sectorSize, lba, lastLba);
  if (!read.ok) return read;
  const { header } = read;
  const bytes = header.entryCount * header.entrySize;
  const entries = await source.read(header.entriesLba * sectorSize, bytes);
  if (entries.length !== bytes) return { ok: false, problem: 'has its entry array past the end of the image' };
  if (crc32(entries) !== read.entriesCrc) return { ok: false, problem: 'has a bad partition entry array CRC32' };
  return { ok: true, header, entries };
}

async function readHeader(
  source: ByteSource,
  sectorSize: number,
  lba: number,
  lastLba: number,
): Promise<(Header & { ok: false }) | { ok: true; header: GptHeader; entriesCrc: number }> {
  if (lba < 1 || lba > lastLba) return { ok: false, problem: `at sector ${lba} is outside the image` };
  const sector = await readExact(source, lba * sectorSize, sectorSize, `GPT header at sector ${lba}`);
  const view = new DataView(sector.buffer, sector.byteOffset, sector.byteLength);
  if (ascii(sector.subarray(0, 8)) !== SIGNATURE) return { ok: false, problem: `at sector ${lba} has no "${SIGNATURE}" signature` };
  const headerSize = view.getUint32(12, true);
  if (headerSize < MIN_HEADER_SIZE || headerSize > sectorSize) return { ok: false, problem: `has an impossible size ${headerSize}` };
  const stored = view.getUint32(16, true);
  const copy = sector.slice(0, headerSize);
  copy.fill(0, 16, 20);
  if (crc32(copy) !== stored) return { ok: false, problem: `at sector ${lba} has a bad header CRC32` };
  const u64 = (at: number): number => {
    const value = view.getBigUint64(at, true);
    return value <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(value) : Number.POSITIVE_INFINITY;
  };
  const header: GptHeader = {
    myLba: u64(24),
    alternateLba: u64(32),
    firstUsableLba: u64(40),
    lastUsableLba: u64(48),
    diskGuid: formatGuid(sector, 56),
    entriesLba: u64(72),
    entryCount: view.getUint32(80, true),
    entrySize: view.getUint32(84, true),
  };
  if (header.myLba !== lba) return { ok: false, problem: `says it is at sector ${header.myLba}, not ${lba}` };
  if (header.entrySize < MIN_ENTRY_SIZE || header.entrySize % MIN_ENTRY_SIZE !== 0 || header.entrySize > 4096) {
    return { ok: false, problem: `has an impossible entry size ${header.entrySize}` };
  }
  // Both are 32-bit, so the product is exact in a double; bounding it keeps a hostile count from a huge read.
  if (header.entryCount === 0 || header.entryCount * header.entrySize > MAX_ENTRY_ARRAY_BYTES) {
    return { ok: false, problem: `has an impossible entry array (${header.entryCount} × ${header.entrySize} bytes)` };
  }
  const arraySectors = Math.ceil((header.entryCount * header.entrySize) / sectorSize);
  if (header.entriesLba < 2 || header.entriesLba + arraySectors - 1 > lastLba) {
    return { ok: false, problem: `has its entry array at impossible sector ${header.entriesLba}` };
  }
  if (header.firstUsableLba > header.lastUsableLba || header.lastUsableLba > lastLba) {
    return { ok: false, problem: `has impossible usable sectors ${header.firstUsableLba}–${header.lastUsableLba}` };
  }
  return { ok: true, header, entriesCrc: view.getUint32(88, true) };
}

const ATTRIBUTE_FLAGS: [bit: number, flag: PartitionFlag][] = [
  [0, 'required'],
  [1, 'no-block-io'],
  [2, 'legacy-bios-bootable'],
];

function gptPartitions(source: ByteSource, table: Table & { ok: true }, sectorSize: number, warnings: string[]): Partition[] {
  const { header, entries } = table;
  const names = new TextDecoder('utf-16le');
  const partitions: Partition[] = [];
  for (let index = 0; index < header.entryCount; index++) {
    const at = index * header.entrySize;
    const type = formatGuid(entries, at);
    if (type === ZERO_GUID) continue;
    const view = new DataView(entries.buffer, entries.byteOffset + at, header.entrySize);
    const first = view.getBigUint64(32, true);
    const last = view.getBigUint64(40, true);
    const number = index + 1;
    if (first > last || last > BigInt(Number.MAX_SAFE_INTEGER) / BigInt(sectorSize)) {
      warnings.push(`GPT entry ${number} has impossible sectors ${first}–${last}; ignored`);
      continue;
    }
    if (first < header.firstUsableLba || last > header.lastUsableLba) {
      warnings.push(`GPT entry ${number} lies outside the usable sectors`);
    }
    const attributes = view.getBigUint64(48, true);
    const nameUnits = new Uint16Array(36);
    for (let i = 0; i < 36; i++) nameUnits[i] = view.getUint16(56 + i * 2, true);
    const nameEnd = nameUnits.indexOf(0);
    const partition: Partition = {
      number,
      start: Number(first) * sectorSize,
      size: Number(last - first + 1n) * sectorSize,
      type,
      typeName: gptTypeName(type),
      name: names.decode(entries.subarray(at + 56, at + 56 + 2 * (nameEnd === -1 ? 36 : nameEnd))),
      uuid: formatGuid(entries, at + 16),
      attributes: attributes.toString(16).padStart(16, '0'),
      flags: ATTRIBUTE_FLAGS.filter(([bit]) => (attributes >> BigInt(bit)) & 1n).map(([, flag]) => flag),
    };
    warnIfPastEnd(source, partition, warnings);
    partitions.push(partition);
  }
  return partitions;
}

function ascii(bytes: Uint8Array): string {
  return String.fromCharCode(...bytes);
}
