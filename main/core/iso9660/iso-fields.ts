import { ParseError } from '../errors.js';

/** ISO 9660 logical sector size of every volume descriptor, whatever the logical block size. */
export const ISO_SECTOR = 2048;

export function view(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/**
 * A both-endian 32-bit field (little-endian copy then big-endian copy, ECMA-119 7.3.3). The copies must agree:
 * a mismatch means a damaged or forged record. `base` is the field's offset in the image, for the error.
 */
export function bothEndian32(bytes: Uint8Array, at: number, base: number, what: string): number {
  const v = view(bytes);
  const le = v.getUint32(at, true);
  const be = v.getUint32(at + 4, false);
  if (le !== be) throw new ParseError(`${what}: both-endian copies differ (${le} ≠ ${be})`, base + at);
  return le;
}

export function bothEndian16(bytes: Uint8Array, at: number, base: number, what: string): number {
  const v = view(bytes);
  const le = v.getUint16(at, true);
  const be = v.getUint16(at + 2, false);
  if (le !== be) throw new ParseError(`${what}: both-endian copies differ (${le} ≠ ${be})`, base + at);
  return le;
}

/** An a-/d-character field: ASCII, padded with spaces (or NULs written by some tools). */
export function asciiField(bytes: Uint8Array, at: number, length: number): string {
  let text = '';
  for (const byte of bytes.subarray(at, at + length)) text += String.fromCharCode(byte);
  return text.replace(/[\s\0]+$/, '');
}

/** A Joliet field: UCS-2 big-endian, padded with spaces or NULs. */
export function ucs2Field(bytes: Uint8Array, at: number, length: number): string {
  let text = '';
  for (let i = at; i + 1 < at + length; i += 2) text += String.fromCharCode(((bytes[i] ?? 0) << 8) | (bytes[i + 1] ?? 0));
  return text.replace(/[\s\0]+$/, '');
}

/** The 7-byte recording date of a directory record (and of RR TF short form); undefined when unset or nonsense. */
export function recordDate(bytes: Uint8Array, at: number): Date | undefined {
  const [year, month, day, hour, minute, second] = bytes.subarray(at, at + 6);
  const zone = view(bytes).getInt8(at + 6);
  if (!year || !month || !day || month > 12 || day > 31) return undefined;
  const utc = Date.UTC(1900 + year, month - 1, day, hour ?? 0, minute ?? 0, second ?? 0) - zone * 15 * 60_000;
  return Number.isFinite(utc) ? new Date(utc) : undefined;
}

/** The 17-byte volume descriptor date as its 16 digits ('YYYYMMDDHHMMSScc'), or undefined when unset. */
export function volumeDateDigits(bytes: Uint8Array, at: number): string | undefined {
  const digits = asciiField(bytes, at, 16);
  if (!/^\d{16}$/.test(digits) || /^0+$/.test(digits)) return undefined;
  return digits;
}

/** A 17-byte volume descriptor date as a Date (RR TF long form uses the same layout). */
export function volumeDate(bytes: Uint8Array, at: number): Date | undefined {
  const digits = volumeDateDigits(bytes, at);
  if (!digits) return undefined;
  const n = (from: number, to: number) => Number(digits.slice(from, to));
  const zone = view(bytes).getInt8(at + 16);
  const utc = Date.UTC(n(0, 4), n(4, 6) - 1, n(6, 8), n(8, 10), n(10, 12), n(12, 14), n(14, 16) * 10) - zone * 15 * 60_000;
  return Number.isFinite(utc) ? new Date(utc) : undefined;
}
