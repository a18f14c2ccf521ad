/**
 * 8.3 names and labels are bytes in an OEM code page; Linux mounts vfat with codepage 437 unless told otherwise,
 * so that is how bytes 0x80–0xFF read here. (Long names are UTF-16 and need none of this.)
 */
const CP437_HIGH =
  'ÇüéâäàåçêëèïîìÄÅÉæÆôöòûùÿÖÜ¢£¥₧ƒáíóúñÑªº¿⌐¬½¼¡«»░▒▓│┤╡╢╖╕╣║╗╝╜╛┐└┴┬├─┼╞╟╚╔╩╦╠═╬╧╨╤╥╙╘╒╓╫╪┘┌█▄▌▐▀' +
  'αßΓπΣσµτΦΘΩδ∞φε∩≡±≥≤⌠⌡÷≈°∙·√ⁿ²■\u00a0';

export function decodeOemName(bytes: Uint8Array): string {
  let text = '';
  for (const byte of bytes) text += byte < 0x80 ? String.fromCharCode(byte) : CP437_HIGH[byte - 0x80];
  return text;
}

/** NT reserved byte (offset 12) bits that Windows NT and Linux use for all-lower-case base name and extension. */
const LOWER_BASE = 0x08;
const LOWER_EXTENSION = 0x10;

/** The 8.3 name of a directory entry as shown: `NAME.EXT`, lower-cased per part where the case bits say so. */
export function shortName(entry: Uint8Array): string {
  const raw = entry.slice(0, 11);
  // 0x05 stands for a leading 0xE5, which would otherwise mark the entry deleted.
  if (raw[0] === 0x05) raw[0] = 0xe5;
  let base = decodeOemName(raw.subarray(0, 8)).trimEnd();
  let extension = decodeOemName(raw.subarray(8, 11)).trimEnd();
  const caseBits = entry[12]!;
  if (caseBits & LOWER_BASE) base = base.toLowerCase();
  if (caseBits & LOWER_EXTENSION) extension = extension.toLowerCase();
  return extension ? `${base}.${extension}` : base;
}

/** The checksum of the 11 name bytes that every long-name entry of that file repeats. */
export function shortNameChecksum(entry: Uint8Array): number {
  let sum = 0;
  for (let i = 0; i < 11; i++) sum = (((sum & 1) << 7) + (sum >> 1) + entry[i]!) & 0xff;
  return sum;
}
