import type { FatType } from './boot-sector.js';
import { decodeOemName, shortName, shortNameChecksum } from './short-name.js';

export const ENTRY_BYTES = 32;

export const ATTR_READ_ONLY = 0x01;
export const ATTR_HIDDEN = 0x02;
export const ATTR_SYSTEM = 0x04;
export const ATTR_VOLUME_ID = 0x08;
export const ATTR_DIRECTORY = 0x10;
export const ATTR_ARCHIVE = 0x20;
const ATTR_LONG_NAME = 0x0f;

const DELETED = 0xe5;
const LAST_LONG_ENTRY = 0x40;
const MAX_LONG_ENTRIES = 20;
/** Where the 13 UTF-16 units of a long-name entry are: 5 at 1, 6 at 14, 2 at 28. */
const LONG_NAME_UNIT_OFFSETS = [1, 3, 5, 7, 9, 14, 16, 18, 20, 22, 24, 28, 30];

/** One live entry of a FAT directory ('.' and '..' left out). */
export interface FatDirectoryEntry {
  /** The long (VFAT) name when a valid one precedes the entry, else the 8.3 name with its case bits applied. */
  name: string;
  shortName: string;
  attributes: number;
  firstCluster: number;
  size: number;
  mtime?: Date;
  /** Where the 8.3 entry is inside the directory's bytes, for error messages. */
  index: number;
}

export interface FatDirectory {
  entries: FatDirectoryEntry[];
  /** The volume label entry's text, trailing spaces removed (only meaningful in the root directory). */
  label?: string;
}

interface LongNameInProgress {
  checksum: number;
  /** The sequence number the next long entry must carry (they come last-first); 0 when complete. */
  next: number;
  parts: number[][];
}

/** An unpaired surrogate (a damaged or truncated name) cannot be a file name on Linux: it reads as U+FFFD. */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

/**
 * Parses directory bytes. Long-name entries count down from the one flagged "last" to 1 and each repeats the
 * checksum of the 8.3 name that follows; a sequence that breaks either rule is dropped and the 8.3 name used,
 * as Windows and Linux do.
 */
export function parseDirectory(bytes: Uint8Array, fatType: FatType): FatDirectory {
  const entries: FatDirectoryEntry[] = [];
  let label: string | undefined;
  let long: LongNameInProgress | undefined;
  for (let at = 0; at + ENTRY_BYTES <= bytes.length; at += ENTRY_BYTES) {
    const entry = bytes.subarray(at, at + ENTRY_BYTES);
    const first = entry[0]!;
    if (first === 0x00) break;
    if (first === DELETED) {
      long = undefined;
      continue;
    }
    const attributes = entry[11]!;
    if ((attributes & 0x3f) === ATTR_LONG_NAME) {
      long = continueLongName(long, entry);
      continue;
    }
    const longName = long?.next === 0 && long.checksum === shortNameChecksum(entry) ? joinLongName(long.parts) : undefined;
    long = undefined;
    if (attributes & ATTR_VOLUME_ID) {
      if (label === undefined && !(attributes & ATTR_DIRECTORY)) label = volumeLabel(entry);
      continue;
    }
    const short = shortName(entry);
    if (short === '.' || short === '..') continue;
    const view = new DataView(entry.buffer, entry.byteOffset, ENTRY_BYTES);
    // The high half of the cluster number exists on FAT32 only; FAT12/16 used those bytes for other things.
    const high = fatType === 'FAT32' ? view.getUint16(20, true) : 0;
    entries.push({
      name: longName ?? short,
      shortName: short,
      attributes,
      firstCluster: high * 0x10000 + view.getUint16(26, true),
      size: view.getUint32(28, true),
      mtime: fatTimestamp(view.getUint16(24, true), view.getUint16(22, true)),
      index: at / ENTRY_BYTES,
    });
  }
  return { entries, label };
}

function continueLongName(long: LongNameInProgress | undefined, entry: Uint8Array): LongNameInProgress | undefined {
  const order = entry[0]!;
  const sequence = order & 0x1f;
  const checksum = entry[13]!;
  if (sequence === 0 || sequence > MAX_LONG_ENTRIES) return undefined;
  if (order & LAST_LONG_ENTRY) long = { checksum, next: sequence, parts: new Array<number[]>(sequence) };
  else if (!long || long.next !== sequence || long.checksum !== checksum) return undefined;
  long.parts[sequence - 1] = LONG_NAME_UNIT_OFFSETS.map((offset) => entry[offset]! | (entry[offset + 1]! << 8));
  long.next = sequence - 1;
  return long;
}

/** The long name up to its NUL terminator; undefined when it could not be a name (empty, or with '/' or NUL). */
function joinLongName(parts: number[][]): string | undefined {
  const units = parts.flat();
  const end = units.indexOf(0);
  // UCS-2 as stored, surrogate pairs included; JavaScript strings are UTF-16 too.
  const name = String.fromCharCode(...units.slice(0, end === -1 ? units.length : end)).replace(LONE_SURROGATE, '\uFFFD');
  if (name === '' || name === '.' || name === '..' || name.includes('/')) return undefined;
  return name;
}

function volumeLabel(entry: Uint8Array): string {
  const raw = entry.slice(0, 11);
  if (raw[0] === 0x05) raw[0] = DELETED;
  return decodeOemName(raw).trimEnd();
}

/** A FAT date and time (local time, 2-second resolution) as a Date read in UTC; undefined when unset. */
function fatTimestamp(date: number, time: number): Date | undefined {
  if (date === 0) return undefined;
  const day = date & 0x1f;
  const month = (date >> 5) & 0x0f;
  if (day === 0 || month === 0 || month > 12) return undefined;
  return new Date(Date.UTC(1980 + (date >> 9), month - 1, day, time >> 11, (time >> 5) & 0x3f, (time & 0x1f) * 2));
}
