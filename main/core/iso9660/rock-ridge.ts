import { ParseError } from '../errors.js';
import { bothEndian32, recordDate, volumeDate } from './iso-fields.js';

/** What the Rock Ridge entries of one directory record say. */
export interface RockRidgeInfo {
  name?: string;
  /** st_mode: type bits and permissions. */
  mode?: number;
  linkTarget?: string;
  mtime?: Date;
  /** CL: this placeholder file stands for a directory relocated to this block. */
  childLink?: number;
  /** RE: this directory is a relocated one; it is listed under its CL placeholder, not here. */
  relocated: boolean;
}

/** What the SP/ER entries of the root directory's '.' record say about the whole volume. */
export interface SuspVolume {
  /** Bytes to skip at the start of every other system use area (SP LEN_SKP). */
  skip: number;
  /** Extension identifiers from ER entries (e.g. RRIP_1991A, IEEE_P1282). */
  extensions: string[];
}

/** Reads a continuation area: `length` bytes at byte `offset` of logical block `block`, and where they are in the image. */
export type ContinuationReader = (block: number, offset: number, length: number) => Promise<{ bytes: Uint8Array; at: number }>;

/** A record's system use bytes can continue through CE areas; these bound that chain. */
const MAX_CONTINUATIONS = 32;
const MAX_CONTINUATION_LENGTH = 64 * 1024;
/** Bounds a name or link assembled from continued NM/SL entries (PATH_MAX-like). */
const MAX_TEXT = 4096;

export const S_IFMT = 0o170000;
export const S_IFDIR = 0o040000;
export const S_IFLNK = 0o120000;

interface Entry {
  signature: string;
  version: number;
  data: Uint8Array;
  /** Offset of the entry in the image, for errors. */
  at: number;
}

/** Splits a system use area into SUSP entries, following CE continuation areas (each visited once). */
async function suspEntries(area: Uint8Array, areaOffset: number, readContinuation: ContinuationReader): Promise<Entry[]> {
  const entries: Entry[] = [];
  const seen = new Set<string>();
  let bytes = area;
  let base = areaOffset;
  for (let hops = 0; ; hops++) {
    let next: { block: number; offset: number; length: number } | undefined;
    let at = 0;
    while (at + 4 <= bytes.length) {
      const signature = String.fromCharCode(bytes[at] ?? 0, bytes[at + 1] ?? 0);
      const length = bytes[at + 2] ?? 0;
      if (signature === '\0\0') break; // padding
      if (length < 4 || at + length > bytes.length) throw new ParseError(`SUSP entry ${JSON.stringify(signature)} has length ${length}`, base + at + 2);
      const data = bytes.subarray(at, at + length);
      if (signature === 'ST') break;
      if (signature === 'CE') {
        if (length < 28) throw new ParseError('CE entry is too short', base + at);
        next = {
          block: bothEndian32(data, 4, base + at, 'CE block'),
          offset: bothEndian32(data, 12, base + at, 'CE offset'),
          length: bothEndian32(data, 20, base + at, 'CE length'),
        };
      } else {
        entries.push({ signature, version: bytes[at + 3] ?? 0, data, at: base + at });
      }
      at += length;
    }
    if (!next) return entries;
    const key = `${next.block}:${next.offset}`;
    if (seen.has(key)) throw new ParseError('SUSP continuation areas form a loop', base);
    if (hops >= MAX_CONTINUATIONS) throw new ParseError(`more than ${MAX_CONTINUATIONS} SUSP continuation areas`, base);
    if (next.length > MAX_CONTINUATION_LENGTH) throw new ParseError(`SUSP continuation area of ${next.length} bytes`, base);
    seen.add(key);
    ({ bytes, at: base } = await readContinuation(next.block, next.offset, next.length));
  }
}

/** The SP and ER entries of the root directory's first record, or undefined when the volume has no SUSP. */
export async function readSuspVolume(rootDot: Uint8Array, areaOffset: number, readContinuation: ContinuationReader): Promise<SuspVolume | undefined> {
  const sp = rootDot.subarray(0, 7);
  if (sp.length < 7 || sp[0] !== 0x53 || sp[1] !== 0x50 || sp[4] !== 0xbe || sp[5] !== 0xef) return undefined;
  const extensions: string[] = [];
  for (const entry of await suspEntries(rootDot, areaOffset, readContinuation)) {
    if (entry.signature !== 'ER' || entry.data.length < 8) continue;
    const idLength = entry.data[4] ?? 0;
    if (8 + idLength > entry.data.length) throw new ParseError('ER identifier overruns its entry', entry.at + 4);
    extensions.push(String.fromCharCode(...entry.data.subarray(8, 8 + idLength)));
  }
  return { skip: sp[6] ?? 0, extensions };
}

/** Interprets the Rock Ridge entries of one record's system use area. */
export async function readRockRidge(area: Uint8Array, areaOffset: number, readContinuation: ContinuationReader): Promise<RockRidgeInfo> {
  const info: RockRidgeInfo = { relocated: false };
  let name = '';
  let nameDone = false;
  let sawName = false;
  let link = '';
  let linkContinues = false;
  let linkDone = false;
  for (const entry of await suspEntries(area, areaOffset, readContinuation)) {
    const { data, at } = entry;
    switch (entry.signature) {
      case 'NM': {
        if (nameDone || data.length < 5) break;
        const flags = data[4] ?? 0;
        if (flags & 0x06) break; // '.' or '..': not a name of its own
        name += latin1(data.subarray(5));
        sawName = true;
        if (!(flags & 0x01)) nameDone = true;
        if (name.length > MAX_TEXT) throw new ParseError('Rock Ridge name is too long', at);
        break;
      }
      case 'PX':
        if (data.length < 36) throw new ParseError('PX entry is too short', at);
        info.mode = bothEndian32(data, 4, at, 'PX mode');
        break;
      case 'SL': {
        if (linkDone || data.length < 5) break;
        let pos = 5;
        while (pos + 2 <= data.length) {
          const flags = data[pos] ?? 0;
          const length = data[pos + 1] ?? 0;
          if (pos + 2 + length > data.length) throw new ParseError('SL component overruns its entry', at + pos);
          const part = flags & 0x02 ? '.' : flags & 0x04 ? '..' : flags & 0x08 ? '' : latin1(data.subarray(pos + 2, pos + 2 + length));
          if (flags & 0x08) link = '/';
          else if (link === '' || link.endsWith('/') || linkContinues) link += part;
          else link += `/${part}`;
          linkContinues = (flags & 0x01) !== 0;
          pos += 2 + length;
          if (link.length > MAX_TEXT) throw new ParseError('Rock Ridge symlink target is too long', at);
        }
        if (!((data[4] ?? 0) & 0x01)) linkDone = true;
        break;
      }
      case 'TF':
        info.mtime = timestamp(data, 0x02) ?? info.mtime;
        break;
      case 'CL':
        if (data.length < 12) throw new ParseError('CL entry is too short', at);
        info.childLink = bothEndian32(data, 4, at, 'CL location');
        break;
      case 'RE':
        info.relocated = true;
        break;
    }
  }
  if (sawName) info.name = decodeRockRidgeName(name);
  if (linkDone || link !== '') info.linkTarget = decodeRockRidgeName(link);
  return info;
}

/** The TF timestamp selected by `bit` (creation 0x01, modify 0x02, access 0x04 …), in short or long form. */
function timestamp(data: Uint8Array, bit: number): Date | undefined {
  const flags = data[4] ?? 0;
  if (!(flags & bit)) return undefined;
  const size = flags & 0x80 ? 17 : 7;
  let index = 0;
  for (let b = 1; b < bit; b <<= 1) if (flags & b) index++;
  const at = 5 + index * size;
  if (at + size > data.length) return undefined;
  return size === 17 ? volumeDate(data, at) : recordDate(data, at);
}

function latin1(bytes: Uint8Array): string {
  let text = '';
  for (const byte of bytes) text += String.fromCharCode(byte);
  return text;
}

/** Rock Ridge names are bytes in the writer's locale, in practice UTF-8; decode them so, falling back to Latin-1. */
function decodeRockRidgeName(raw: string): string {
  const bytes = Uint8Array.from(raw, (c) => c.charCodeAt(0));
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    return raw;
  }
}

