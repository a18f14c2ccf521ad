import type { ByteSource } from '../../ports/byte-source.js';
import { readExact } from '../byte-source-reads.js';
import { ParseError } from '../errors.js';

/**
 * What a LUKS container (an encrypted home.img) tells without its passphrase: version, UUID, cipher and where
 * the encrypted data lies. How full the filesystem inside is cannot be known while it is locked, so there is
 * no usage here on purpose. Layouts from the LUKS1 on-disk format specification (big-endian fields) and the
 * LUKS2 one (a binary header, then the JSON metadata area up to `hdr_size`). Checksums are not verified:
 * this only describes the file; cryptsetup checks them when the container is opened.
 */

const MAGIC = [0x4c, 0x55, 0x4b, 0x53, 0xba, 0xbe]; // "LUKS\xba\xbe"
const BINARY_HEADER_BYTES = 4096;
const SECTOR_BYTES = 512;
/** LUKS2's largest metadata area (the JSON area ends before 4 MiB). */
const LUKS2_MAX_HEADER_BYTES = 4 << 20;

export interface LuksHeader {
  type: 'luks';
  version: 1 | 2;
  uuid: string;
  /** LUKS2 only; '' when unset. */
  label: string;
  /** `aes-xts-plain64`. */
  cipher: string;
  /** Where the encrypted data starts. */
  dataOffset: number;
  /** Bytes of encrypted data: what the opened device's size will be (the filesystem inside may be smaller). */
  dataBytes: number;
  /** Keyslots holding a key (each opens the container with its own passphrase). */
  keyslots: number;
  /**
   * LUKS2: an encryption or re-encryption was started and not finished (the `online-reencrypt` requirement is
   * still set); cryptsetup must finish it before the container can be used normally.
   */
  unfinished: boolean;
}

function text(bytes: Uint8Array): string {
  const end = bytes.indexOf(0);
  return new TextDecoder().decode(end < 0 ? bytes : bytes.subarray(0, end));
}

/** True when the source starts with the LUKS magic (cheap; any version). */
export async function hasLuksMagic(source: ByteSource): Promise<boolean> {
  if (source.size < MAGIC.length) return false;
  const bytes = await source.read(0, MAGIC.length);
  return MAGIC.every((b, i) => bytes[i] === b);
}

function u64(view: DataView, offset: number): number {
  const value = view.getBigUint64(offset, false);
  if (value > BigInt(Number.MAX_SAFE_INTEGER)) throw new ParseError(`LUKS header field is impossibly large (${value})`, offset);
  return Number(value);
}

interface Luks2Segment { type?: unknown; offset?: unknown; size?: unknown; encryption?: unknown }
interface Luks2Json {
  keyslots?: Record<string, unknown>;
  segments?: Record<string, Luks2Segment>;
  config?: { requirements?: { mandatory?: unknown } };
}

/** A JSON number-in-a-string as LUKS2 writes offsets and sizes. */
function sizeField(value: unknown, what: string): number {
  if (typeof value !== 'string' || !/^\d{1,16}$/.test(value)) throw new ParseError(`LUKS2 ${what} '${String(value)}' is not a byte count`, BINARY_HEADER_BYTES);
  const n = Number(value);
  if (!Number.isSafeInteger(n)) throw new ParseError(`LUKS2 ${what} ${value} is too large`, BINARY_HEADER_BYTES);
  return n;
}

async function readLuks2(source: ByteSource, view: DataView, header: Uint8Array): Promise<LuksHeader> {
  const headerBytes = u64(view, 8);
  if (headerBytes <= BINARY_HEADER_BYTES || headerBytes > LUKS2_MAX_HEADER_BYTES) {
    throw new ParseError(`LUKS2 header size ${headerBytes} is impossible`, 8);
  }
  const area = await readExact(source, BINARY_HEADER_BYTES, headerBytes - BINARY_HEADER_BYTES, 'LUKS2 metadata');
  let json: Luks2Json;
  try {
    json = JSON.parse(text(area)) as Luks2Json;
  } catch {
    throw new ParseError('LUKS2 metadata is not JSON', BINARY_HEADER_BYTES);
  }
  if (typeof json !== 'object' || json === null) throw new ParseError('LUKS2 metadata is not an object', BINARY_HEADER_BYTES);
  // The data segment: a finished container has one `crypt` segment; one being encrypted has more (linear ones).
  const segments = Object.entries(json.segments ?? {}).sort(([a], [b]) => Number(a) - Number(b)).map(([key, s]) => {
    // cryptsetup refuses such metadata too; reading `type` of a null segment would be a TypeError.
    if (typeof s !== 'object' || s === null) throw new ParseError(`LUKS2 segment ${key} is not an object`, BINARY_HEADER_BYTES);
    return s;
  });
  const crypt = segments.find((s) => s.type === 'crypt');
  const first = crypt ?? segments[0];
  if (!first) throw new ParseError('LUKS2 metadata has no data segment', BINARY_HEADER_BYTES);
  const dataOffset = sizeField(first.offset, 'segment offset');
  const dataBytes = first.size === 'dynamic' ? Math.max(0, source.size - dataOffset) : sizeField(first.size, 'segment size');
  const mandatory = json.config?.requirements?.mandatory;
  const unfinished = segments.length !== 1 || !crypt
    || (Array.isArray(mandatory) && mandatory.some((r) => typeof r === 'string' && r.startsWith('online-reencrypt')));
  return {
    type: 'luks', version: 2, uuid: text(header.subarray(168, 208)), label: text(header.subarray(24, 72)),
    cipher: typeof crypt?.encryption === 'string' ? crypt.encryption : '', dataOffset, dataBytes,
    keyslots: Object.keys(json.keyslots ?? {}).length, unfinished,
  };
}

/** LUKS1 keyslots: 8 of 48 bytes from offset 208, each starting with its active marker. */
const LUKS1_KEYSLOT_ACTIVE = 0x00ac71f3;

function readLuks1(source: ByteSource, view: DataView, header: Uint8Array): LuksHeader {
  const dataOffset = view.getUint32(104, false) * SECTOR_BYTES;
  let keyslots = 0;
  for (let slot = 0; slot < 8; slot++) if (view.getUint32(208 + slot * 48, false) === LUKS1_KEYSLOT_ACTIVE) keyslots++;
  return {
    type: 'luks', version: 1, uuid: text(header.subarray(168, 208)), label: '',
    cipher: `${text(header.subarray(8, 40))}-${text(header.subarray(40, 72))}`, dataOffset,
    dataBytes: Math.max(0, source.size - dataOffset), keyslots, unfinished: false,
  };
}

/** Encrypted data that would lie past the file's end: the container was truncated (or the header is damaged). */
function withinFile(header: LuksHeader, fileBytes: number): LuksHeader {
  if (header.dataOffset + header.dataBytes > fileBytes) {
    throw new ParseError(`LUKS${header.version} data (${header.dataBytes} bytes from offset ${header.dataOffset}) `
      + `ends past the file's ${fileBytes} bytes: the file is truncated or its header damaged`, header.version === 1 ? 104 : BINARY_HEADER_BYTES);
  }
  return header;
}

/** The LUKS header of a container file, or undefined when the file is not LUKS. */
export async function readLuksHeader(source: ByteSource): Promise<LuksHeader | undefined> {
  if (!(await hasLuksMagic(source))) return undefined;
  const header = await readExact(source, 0, Math.min(BINARY_HEADER_BYTES, source.size), 'LUKS header');
  if (header.length < 592) throw new ParseError('LUKS header is truncated', header.length);
  const view = new DataView(header.buffer, header.byteOffset, header.byteLength);
  const version = view.getUint16(6, false);
  if (version === 1) return withinFile(readLuks1(source, view, header), source.size);
  if (version === 2) return withinFile(await readLuks2(source, view, header), source.size);
  throw new ParseError(`LUKS version ${version} is unknown`, 6);
}
