import { ParseError } from '../errors.js';
import { view } from '../iso9660/iso-fields.js';

export const TAG_AVDP = 2;
export const TAG_VDP = 3;
export const TAG_PD = 5;
export const TAG_LVD = 6;
export const TAG_TD = 8;
export const TAG_FSD = 256;
export const TAG_FID = 257;
export const TAG_AED = 258;
export const TAG_FE = 261;
export const TAG_EFE = 266;

/** A descriptor tag (ECMA-167 3/7.2), checked: checksum always, location when the caller knows it. */
export function checkTag(bytes: Uint8Array, offset: number, expected: number[], location: number | undefined, what: string): number {
  if (bytes.length < 16) throw new ParseError(`${what}: descriptor tag is truncated`, offset);
  let sum = 0;
  for (let i = 0; i < 16; i++) if (i !== 4) sum = (sum + (bytes[i] ?? 0)) & 0xff;
  if (sum !== bytes[4]) throw new ParseError(`${what}: descriptor tag checksum is wrong`, offset + 4);
  const v = view(bytes);
  const id = v.getUint16(0, true);
  if (!expected.includes(id)) throw new ParseError(`${what}: descriptor tag ${id}, expected ${expected.join(' or ')}`, offset);
  if (location !== undefined && v.getUint32(12, true) !== location) {
    throw new ParseError(`${what}: descriptor says it is at block ${v.getUint32(12, true)}, found at ${location}`, offset + 12);
  }
  return id;
}

/** OSTA Compressed Unicode (UDF 2.1.1): compression id 8 (one byte a character) or 16 (UCS-2 big-endian). */
export function decodeCs0(bytes: Uint8Array, offset: number): string {
  if (bytes.length === 0) return '';
  const id = bytes[0];
  let text = '';
  if (id === 8 || id === 254) {
    for (let i = 1; i < bytes.length; i++) text += String.fromCharCode(bytes[i] ?? 0);
  } else if (id === 16 || id === 255) {
    for (let i = 1; i + 1 < bytes.length; i += 2) text += String.fromCharCode(((bytes[i] ?? 0) << 8) | (bytes[i + 1] ?? 0));
  } else {
    throw new ParseError(`OSTA compressed unicode with compression id ${id}`, offset);
  }
  return text;
}

/** A fixed-size dstring field: CS0 bytes whose used length is in the field's last byte. */
export function dstring(bytes: Uint8Array, at: number, size: number, offset: number): string {
  const used = bytes[at + size - 1] ?? 0;
  if (used === 0) return '';
  if (used > size - 1) throw new ParseError('dstring length overruns its field', offset + at + size - 1);
  return decodeCs0(bytes.subarray(at, at + used), offset + at).replace(/\0+$/, '');
}

/** ECMA-167 timestamp (1/7.3); undefined when unset or nonsense. */
export function udfTimestamp(bytes: Uint8Array, at: number): Date | undefined {
  const v = view(bytes);
  const typeAndZone = v.getUint16(at, true);
  const year = v.getInt16(at + 2, true);
  const [month, day, hour, minute, second, centi] = bytes.subarray(at + 4, at + 10);
  if (!year || !month || !day || month > 12 || day > 31) return undefined;
  let zone = typeAndZone & 0x0fff;
  if (zone & 0x0800) zone -= 0x1000; // 12-bit signed minutes
  const offsetMinutes = typeAndZone >> 12 === 1 && zone !== -2047 ? zone : 0;
  const utc = Date.UTC(year, month - 1, day, hour ?? 0, minute ?? 0, second ?? 0, (centi ?? 0) * 10) - offsetMinutes * 60_000;
  return Number.isFinite(utc) ? new Date(utc) : undefined;
}

/** long_ad: extent length and type, block, partition reference. */
export interface LongAd {
  length: number;
  type: number;
  block: number;
  partition: number;
}

export function longAd(bytes: Uint8Array, at: number): LongAd {
  const v = view(bytes);
  const raw = v.getUint32(at, true);
  return { length: raw & 0x3fffffff, type: raw >>> 30, block: v.getUint32(at + 4, true), partition: v.getUint16(at + 8, true) };
}
