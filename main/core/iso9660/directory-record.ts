import { ParseError } from '../errors.js';
import { bothEndian32, recordDate } from './iso-fields.js';

export const FLAG_HIDDEN = 0x01;
export const FLAG_DIRECTORY = 0x02;
export const FLAG_ASSOCIATED = 0x04;
export const FLAG_MULTI_EXTENT = 0x80;

/** One ISO 9660 directory record (ECMA-119 9.1), before Rock Ridge or Joliet naming. */
export interface DirectoryRecord {
  /** Offset of the record in the image, for errors. */
  offset: number;
  length: number;
  extendedAttributeLength: number;
  /** First logical block of the data (before the extended attribute record is skipped). */
  extent: number;
  dataLength: number;
  recorded?: Date;
  flags: number;
  isDirectory: boolean;
  /** The raw file identifier; "\0" is '.', "\x01" is '..'. */
  identifier: Uint8Array;
  /** The system use area (SUSP / Rock Ridge entries). */
  systemUse: Uint8Array;
}

/** Parses the record at the start of `bytes` (which holds at least the record's length byte's worth). */
export function parseDirectoryRecord(bytes: Uint8Array, offset: number): DirectoryRecord {
  const length = bytes[0] ?? 0;
  if (length < 34 || length > bytes.length) throw new ParseError(`directory record length ${length} is impossible here`, offset);
  const nameLength = bytes[32] ?? 0;
  if (33 + nameLength > length) throw new ParseError(`file identifier (${nameLength} bytes) overruns its directory record`, offset + 32);
  const flags = bytes[25] ?? 0;
  const suStart = 33 + nameLength + (nameLength % 2 === 0 ? 1 : 0);
  return {
    offset,
    length,
    extendedAttributeLength: bytes[1] ?? 0,
    extent: bothEndian32(bytes, 2, offset, 'extent location'),
    dataLength: bothEndian32(bytes, 10, offset, 'data length'),
    recorded: recordDate(bytes, 18),
    flags,
    isDirectory: (flags & FLAG_DIRECTORY) !== 0,
    identifier: bytes.subarray(33, 33 + nameLength),
    systemUse: bytes.subarray(Math.min(suStart, length), length),
  };
}

/** The 8.3 name a user sees: ';1' version and a trailing dot of an extensionless name removed. */
export function plainName(identifier: Uint8Array): string {
  let name = '';
  for (const byte of identifier) name += String.fromCharCode(byte);
  return stripVersion(name);
}

/** A Joliet identifier (UCS-2 big-endian), version removed the same way. */
export function jolietName(identifier: Uint8Array): string {
  let name = '';
  for (let i = 0; i + 1 < identifier.length; i += 2) name += String.fromCharCode(((identifier[i] ?? 0) << 8) | (identifier[i + 1] ?? 0));
  return stripVersion(name);
}

function stripVersion(name: string): string {
  const semicolon = name.lastIndexOf(';');
  const bare = semicolon >= 0 && /^\d+$/.test(name.slice(semicolon + 1)) ? name.slice(0, semicolon) : name;
  return bare.endsWith('.') && bare.length > 1 ? bare.slice(0, -1) : bare;
}
