// Mutators for hostile-input tests: deterministic, structure-aware changes to real images.
//
// An image is never copied: a case is the pristine image seen through a few patched bytes and perhaps a shorter
// size. Where to mutate comes from two places: the byte ranges the readers themselves read on the pristine
// image (its metadata), and a map of known structure fields found here by small, independent walks of ISO 9660
// (with SUSP/Rock Ridge), El Torito, MBR, GPT, FAT and UDF. Checksums that readers verify (GPT CRC32s, UDF tag
// checksums) are usually recomputed after mutating, so a forged value reaches the code behind the check.
import { crc32 } from '../../main/core/partitions/crc32.js';
import type { ByteSource } from '../../main/ports/byte-source.js';

export type Random = () => number;

/** Deterministic pseudo-random numbers (xorshift32), so a failing case can be replayed by its seed. */
export function random(seed: number): Random {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 2 ** 32;
  };
}

/**
 * CPU time this process has used, in ms: what a fuzz case's time limit measures, since a parser that loops burns
 * CPU while wall time also grows with whatever else loads the machine (other test files, emulators).
 */
export function cpuMs(): number {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1000;
}

/** A case's seed from the fixture name and the case number (FNV-1a over both). */
export function caseSeed(name: string, index: number): number {
  let hash = 0x811c9dc5;
  for (const c of `${name}#${index}`) hash = Math.imul(hash ^ c.charCodeAt(0), 0x01000193);
  return hash >>> 0;
}

function below(next: Random, n: number): number {
  return Math.floor(next() * n);
}

function pick<T>(next: Random, items: readonly T[]): T {
  const item = items[below(next, items.length)];
  if (item === undefined) throw new Error('pick from an empty list');
  return item;
}

/** Bytes that replace the image's own at `offset`. */
export interface Patch {
  offset: number;
  bytes: Uint8Array;
}

/**
 * A read-through cache of fixed blocks over an image file, so thousands of cases read metadata from memory.
 * Large reads (file data) bypass it; it stops growing at `limit` bytes.
 */
export class CachedSource implements ByteSource {
  private static readonly BLOCK = 64 * 1024;
  private readonly blocks = new Map<number, Uint8Array>();
  /** Bytes held in the cache, so memory checks can leave it out. */
  cachedBytes = 0;

  constructor(
    private readonly base: ByteSource,
    private readonly limit = 128 * 1024 * 1024,
  ) {}

  get size(): number {
    return this.base.size;
  }

  async read(offset: number, length: number): Promise<Uint8Array> {
    const end = Math.min(this.size, offset + length);
    if (end <= offset) return new Uint8Array(0);
    if (end - offset > 1024 * 1024) return this.base.read(offset, end - offset);
    const out = new Uint8Array(end - offset);
    const { BLOCK } = CachedSource;
    for (let block = Math.floor(offset / BLOCK); block * BLOCK < end; block++) {
      let bytes = this.blocks.get(block);
      if (!bytes) {
        bytes = await this.base.read(block * BLOCK, BLOCK);
        if (this.cachedBytes + bytes.length <= this.limit) {
          this.blocks.set(block, bytes);
          this.cachedBytes += bytes.length;
        }
      }
      const from = Math.max(offset, block * BLOCK);
      const to = Math.min(end, block * BLOCK + bytes.length);
      if (to > from) out.set(bytes.subarray(from - block * BLOCK, to - block * BLOCK), from - offset);
    }
    return out;
  }
}

/**
 * The image as a case sees it: `base` with `patches` laid over it (later ones win), cut at `size`. It can read
 * into a caller's buffer too, as a file does, so bulk copies take the same path as on a real image.
 */
export function patchedSource(base: ByteSource, patches: readonly Patch[], size: number): Required<ByteSource> {
  const read = async (offset: number, length: number) => {
    const bytes = await base.read(offset, Math.max(0, Math.min(length, size - offset)));
    overlay(bytes, offset, patches);
    return bytes;
  };
  return {
    size,
    read,
    async readInto(offset, target) {
      const bytes = await read(offset, target.length);
      target.set(bytes);
      return bytes.length;
    },
  };
}

function overlay(bytes: Uint8Array, offset: number, patches: readonly Patch[]): void {
  for (const patch of patches) {
    const from = Math.max(offset, patch.offset);
    const to = Math.min(offset + bytes.length, patch.offset + patch.bytes.length);
    if (to > from) bytes.set(patch.bytes.subarray(from - patch.offset, to - patch.offset), from - offset);
  }
}

/** A numeric field of a structure: little-endian, big-endian, or ISO 9660 both-endian (LE then BE copy). */
export interface Field {
  at: number;
  width: 1 | 2 | 4 | 8;
  endian: 'le' | 'be' | 'both';
  what: string;
}

export function encodeField(field: Field, value: number): Patch[] {
  const le = new Uint8Array(field.width);
  let rest = BigInt(Math.max(0, Math.floor(value))) & ((1n << BigInt(8 * field.width)) - 1n);
  for (let i = 0; i < field.width; i++, rest >>= 8n) le[i] = Number(rest & 0xffn);
  const be = le.slice().reverse();
  if (field.endian === 'le') return [{ offset: field.at, bytes: le }];
  if (field.endian === 'be') return [{ offset: field.at, bytes: be }];
  return [{ offset: field.at, bytes: le }, { offset: field.at + field.width, bytes: be }];
}

/** A coherent set of writes that builds a trap: a directory cycle, a continuation loop, an EBR loop. */
export interface Rewire {
  what: string;
  patches: Patch[];
}

/** What is known about a pristine image: where its metadata is and which fields and links it has. */
export interface ImageMap {
  size: number;
  /** Merged [start, end) ranges the readers read on the pristine image, each at most a few hundred KiB. */
  metadata: [number, number][];
  fields: Field[];
  rewires: Rewire[];
  /** UDF descriptor tags: [offset, covered length]; a patch inside one gets its checksum fixed. */
  udfTags: [number, number][];
  /** GPT headers (byte offset) with their entry array, whose CRC32s get fixed after a patch. */
  gptHeaders: { at: number; headerSize: number; entriesAt: number; entriesBytes: number }[];
}

/** Records the ranges a pristine run reads: what the readers treat as metadata. */
export class RecordingSource implements ByteSource {
  readonly ranges: [number, number][] = [];
  /** Offsets of 512-byte reads: boot sectors the readers probed (FAT volumes among them). */
  readonly probes = new Set<number>();
  constructor(private readonly base: ByteSource) {}
  get size(): number {
    return this.base.size;
  }
  read(offset: number, length: number): Promise<Uint8Array> {
    if (length <= 256 * 1024) this.ranges.push([offset, Math.min(this.size, offset + length)]);
    if (length === 512) this.probes.add(offset);
    return this.base.read(offset, length);
  }
  merged(): [number, number][] {
    const sorted = this.ranges.filter(([a, b]) => b > a).sort((x, y) => x[0] - y[0]);
    const out: [number, number][] = [];
    for (const [a, b] of sorted) {
      const last = out[out.length - 1];
      if (last && a <= last[1]) last[1] = Math.max(last[1], b);
      else out.push([a, b]);
    }
    return out;
  }
}

const u16le = (b: Uint8Array, at: number) => (b[at] ?? 0) | ((b[at + 1] ?? 0) << 8);
const u32le = (b: Uint8Array, at: number) => (u16le(b, at) + u16le(b, at + 2) * 0x10000);
const ascii = (b: Uint8Array, at: number, n: number) => String.fromCharCode(...b.subarray(at, at + n));

/** Limits for the map walks: enough to reach every structure of a fixture, bounded for hostile-looking ones. */
const MAX_DIRECTORIES = 400;

/** Builds the map of a pristine image (`source` must be the unmutated image) from what its readers read. */
export async function mapImage(source: ByteSource, recorded: RecordingSource): Promise<ImageMap> {
  const map: ImageMap = { size: source.size, metadata: recorded.merged(), fields: [], rewires: [], udfTags: [], gptHeaders: [] };
  const read = (offset: number, length: number) => source.read(offset, length);
  await mapMbr(read, map);
  await mapGpt(read, map);
  await mapIso(read, map);
  for (const probe of recorded.probes) await mapFat(read, map, probe);
  await mapUdfTags(read, map);
  return map;
}

type Read = (offset: number, length: number) => Promise<Uint8Array>;

async function mapMbr(read: Read, map: ImageMap): Promise<void> {
  const sector = await read(0, 512);
  if (sector[510] !== 0x55 || sector[511] !== 0xaa) return;
  for (let slot = 0; slot < 4; slot++) {
    const at = 446 + slot * 16;
    map.fields.push({ at: at + 8, width: 4, endian: 'le', what: `MBR entry ${slot} start` },
      { at: at + 12, width: 4, endian: 'le', what: `MBR entry ${slot} sectors` });
  }
  // An extended partition whose EBR links to itself, and one whose EBR links back to the first.
  const free = [1, 2, 3, 4].find((s) => u32le(sector, 446 + (s - 1) * 16 + 12) === 0) ?? 4;
  const ebrAt = 34; // inside the gap every fixture leaves before its first partition or ISO descriptors
  const entry = (type: number, start: number, count: number) => {
    const e = new Uint8Array(16);
    e[4] = type;
    e.set(encodeField({ at: 0, width: 4, endian: 'le', what: '' }, start)[0]!.bytes, 8);
    e.set(encodeField({ at: 0, width: 4, endian: 'le', what: '' }, count)[0]!.bytes, 12);
    return e;
  };
  const ebr = (next: number) => {
    const s = new Uint8Array(512);
    s.set(entry(0x83, 1, 8), 446);
    s.set(entry(0x05, next, 16), 462);
    s[510] = 0x55;
    s[511] = 0xaa;
    return s;
  };
  const primary = { offset: 446 + (free - 1) * 16, bytes: entry(0x05, ebrAt, 64) };
  map.rewires.push({ what: 'EBR linking to itself', patches: [primary, { offset: ebrAt * 512, bytes: ebr(0) }] });
  map.rewires.push({ what: 'two EBRs linking to each other',
    patches: [primary, { offset: ebrAt * 512, bytes: ebr(8) }, { offset: (ebrAt + 8) * 512, bytes: ebr(0) }] });
}

async function mapGpt(read: Read, map: ImageMap): Promise<void> {
  const mapHeader = async (at: number, which: string) => {
    const header = await read(at, 512);
    if (ascii(header, 0, 8) !== 'EFI PART') return undefined;
    const entriesAt = Number(new DataView(header.buffer, header.byteOffset).getBigUint64(72, true)) * 512;
    const count = u32le(header, 80);
    const size = u32le(header, 84);
    map.gptHeaders.push({ at, headerSize: u32le(header, 12), entriesAt, entriesBytes: count * size });
    const f = (off: number, width: 4 | 8, what: string) => map.fields.push({ at: at + off, width, endian: 'le', what: `GPT ${which} ${what}` });
    f(12, 4, 'header size');
    f(24, 8, 'my LBA');
    f(32, 8, 'alternate LBA');
    f(40, 8, 'first usable LBA');
    f(48, 8, 'last usable LBA');
    f(72, 8, 'entries LBA');
    f(80, 4, 'entry count');
    f(84, 4, 'entry size');
    const entries = await read(entriesAt, Math.min(count * size, 16384));
    for (let i = 0; (i + 1) * size <= entries.length && size >= 128; i++) {
      if (entries.subarray(i * size, i * size + 16).every((b) => b === 0)) continue;
      const entryAt = entriesAt + i * size;
      map.fields.push({ at: entryAt + 32, width: 8, endian: 'le', what: `GPT ${which} entry ${i} first LBA` },
        { at: entryAt + 40, width: 8, endian: 'le', what: `GPT ${which} entry ${i} last LBA` });
    }
    return Number(new DataView(header.buffer, header.byteOffset).getBigUint64(32, true));
  };
  const alternate = await mapHeader(512, 'primary');
  if (alternate !== undefined && alternate * 512 < map.size) await mapHeader(alternate * 512, 'backup');
}

/** ISO 9660: descriptors, every directory record of the primary and Joliet trees, SUSP entries and El Torito. */
async function mapIso(read: Read, map: ImageMap): Promise<void> {
  if (map.size < 17 * 2048 || ascii(await read(16 * 2048 + 1, 5), 0, 5) !== 'CD001') return;
  const roots: { lba: number; size: number }[] = [];
  for (let n = 16; n < 64; n++) {
    const at = n * 2048;
    const d = await read(at, 2048);
    if (ascii(d, 1, 5) !== 'CD001' || d[0] === 255) break;
    if (d[0] === 0 && ascii(d, 7, 23) === 'EL TORITO SPECIFICATION') {
      map.fields.push({ at: at + 71, width: 4, endian: 'le', what: 'El Torito catalog LBA' });
      map.rewires.push({ what: 'El Torito catalog at the boot record', patches: encodeField({ at: at + 71, width: 4, endian: 'le', what: '' }, n) });
      await mapCatalog(read, map, u32le(d, 71));
    } else if (d[0] === 1 || d[0] === 2) {
      const both = (off: number, width: 2 | 4, what: string) => map.fields.push({ at: at + off, width, endian: 'both', what: `VD ${n} ${what}` });
      both(80, 4, 'volume space size');
      both(128, 2, 'logical block size');
      both(132, 4, 'path table size');
      roots.push({ lba: u32le(d, 156 + 2), size: u32le(d, 156 + 10) });
      recordFields(map, at + 156, `VD ${n} root`);
    }
  }
  const rootLbas = roots.map((r) => r.lba);
  const seen = new Set<number>();
  const queue = roots.map((r) => ({ ...r, parent: r.lba }));
  while (queue.length && seen.size < MAX_DIRECTORIES) {
    const dir = queue.shift()!;
    if (seen.has(dir.lba) || dir.size > 1024 * 1024) continue;
    seen.add(dir.lba);
    const bytes = await read(dir.lba * 2048, dir.size);
    for (let pos = 0; pos < bytes.length;) {
      const length = bytes[pos] ?? 0;
      if (length === 0) {
        pos = (Math.floor(pos / 2048) + 1) * 2048;
        continue;
      }
      if (length < 34 || pos + length > bytes.length) break;
      const at = dir.lba * 2048 + pos;
      const nameLength = bytes[pos + 32] ?? 0;
      const special = nameLength === 1 && (bytes[pos + 33] ?? 0) <= 1;
      recordFields(map, at, `record at ${at}`);
      const lba = u32le(bytes, pos + 2);
      if ((bytes[pos + 25] ?? 0) & 0x02 && !special) {
        const lbaField: Field = { at: at + 2, width: 4, endian: 'both', what: '' };
        map.rewires.push({ what: `directory at ${at} points to its parent`, patches: encodeField(lbaField, dir.lba) });
        map.rewires.push({ what: `directory at ${at} points to the root`, patches: encodeField(lbaField, rootLbas[0] ?? 0) });
        queue.push({ lba, size: u32le(bytes, pos + 10), parent: dir.lba });
      }
      const suStart = pos + 33 + nameLength + (nameLength % 2 === 0 ? 1 : 0);
      await mapSusp(read, map, bytes.subarray(0, pos + length), suStart, dir.lba * 2048, dir.parent, true);
      pos += length;
    }
  }
}

function recordFields(map: ImageMap, at: number, what: string): void {
  map.fields.push({ at, width: 1, endian: 'le', what: `${what} length` },
    { at: at + 2, width: 4, endian: 'both', what: `${what} extent` },
    { at: at + 10, width: 4, endian: 'both', what: `${what} data length` },
    { at: at + 32, width: 1, endian: 'le', what: `${what} name length` });
}

/** SUSP entries of one system use area (`area` is indexed from `base`), following one level of CE. */
async function mapSusp(read: Read, map: ImageMap, area: Uint8Array, start: number, base: number, parentLba: number, followCe: boolean): Promise<void> {
  for (let pos = start; pos + 4 <= area.length;) {
    const length = area[pos + 2] ?? 0;
    if (length < 4 || pos + length > area.length) break;
    const at = base + pos;
    const signature = ascii(area, pos, 2);
    map.fields.push({ at: at + 2, width: 1, endian: 'le', what: `SUSP ${signature} length` });
    if (signature === 'CE' && length >= 28) {
      map.fields.push({ at: at + 4, width: 4, endian: 'both', what: 'CE block' },
        { at: at + 12, width: 4, endian: 'both', what: 'CE offset' },
        { at: at + 20, width: 4, endian: 'both', what: 'CE length' });
      // The continuation area is this very system use area: it holds the same CE again.
      const suAt = base + start;
      map.rewires.push({ what: `CE at ${at} continues into itself`, patches: [
        ...encodeField({ at: at + 4, width: 4, endian: 'both', what: '' }, Math.floor(suAt / 2048)),
        ...encodeField({ at: at + 12, width: 4, endian: 'both', what: '' }, suAt % 2048),
        ...encodeField({ at: at + 20, width: 4, endian: 'both', what: '' }, area.length - start),
      ] });
      if (followCe) {
        const block = u32le(area, pos + 4);
        const offset = u32le(area, pos + 12);
        const ceLength = Math.min(u32le(area, pos + 20), 2048);
        const ceAt = block * 2048 + offset;
        if (ceAt + ceLength <= map.size) await mapSusp(read, map, await read(ceAt, ceLength), 0, ceAt, parentLba, false);
      }
    } else if ((signature === 'CL' || signature === 'PL') && length >= 12) {
      const field: Field = { at: at + 4, width: 4, endian: 'both', what: `${signature} location` };
      map.fields.push(field);
      map.rewires.push({ what: `${signature} at ${at} points to the parent`, patches: encodeField(field, parentLba) });
    } else if ((signature === 'NM' || signature === 'SL') && length >= 5) {
      map.fields.push({ at: at + 4, width: 1, endian: 'le', what: `${signature} flags` });
    }
    pos += length;
  }
}

async function mapCatalog(read: Read, map: ImageMap, lba: number): Promise<void> {
  if ((lba + 1) * 2048 > map.size) return;
  const catalog = await read(lba * 2048, 2048);
  const base = lba * 2048;
  for (let pos = 32; pos + 32 <= catalog.length; pos += 32) {
    const indicator = catalog[pos] ?? 0;
    if (indicator === 0x90 || indicator === 0x91) {
      map.fields.push({ at: base + pos + 2, width: 2, endian: 'le', what: `El Torito section ${pos} entry count` });
    } else if (indicator === 0x88 || (indicator === 0 && u32le(catalog, pos + 8) !== 0)) {
      map.fields.push({ at: base + pos + 6, width: 2, endian: 'le', what: `El Torito entry ${pos} sector count` },
        { at: base + pos + 8, width: 4, endian: 'le', what: `El Torito entry ${pos} LBA` });
      map.rewires.push({ what: `El Torito entry ${pos} image is the catalog`,
        patches: encodeField({ at: base + pos + 8, width: 4, endian: 'le', what: '' }, lba) });
    } else if (indicator !== 0) {
      break;
    }
  }
}

/** A FAT volume whose boot sector is at `at` (found among the ranges the readers read): BPB, FAT chains, directories. */
async function mapFat(read: Read, map: ImageMap, at: number): Promise<void> {
  const bs = await read(at, 512);
  const bytesPerSector = u16le(bs, 11);
  const perCluster = bs[13] ?? 0;
  if (bs[510] !== 0x55 || bs[511] !== 0xaa || ![512, 1024, 2048, 4096].includes(bytesPerSector)
    || perCluster === 0 || (perCluster & (perCluster - 1)) !== 0 || !(bs[16] === 1 || bs[16] === 2)) return;
  const f = (off: number, width: 1 | 2 | 4, what: string) => map.fields.push({ at: at + off, width, endian: 'le', what: `FAT@${at} ${what}` });
  f(11, 2, 'bytes per sector');
  f(13, 1, 'sectors per cluster');
  f(14, 2, 'reserved sectors');
  f(16, 1, 'FAT count');
  f(17, 2, 'root entries');
  f(19, 2, 'total sectors 16');
  f(22, 2, 'FAT size 16');
  f(32, 4, 'total sectors 32');
  const fat16Size = u16le(bs, 22);
  const fatSectors = fat16Size || u32le(bs, 36);
  if (!fat16Size) {
    f(36, 4, 'FAT size 32');
    f(44, 4, 'root cluster');
  }
  const reserved = u16le(bs, 14);
  const rootEntries = u16le(bs, 17);
  const totalSectors = u16le(bs, 19) || u32le(bs, 32);
  const rootDirSectors = Math.ceil((rootEntries * 32) / bytesPerSector);
  const firstData = reserved + (bs[16] ?? 0) * fatSectors + rootDirSectors;
  const clusters = Math.floor((totalSectors - firstData) / perCluster);
  const type = fat16Size === 0 ? 32 : clusters < 4085 ? 12 : 16;
  const clusterBytes = bytesPerSector * perCluster;
  const fatAt = at + reserved * bytesPerSector;
  const clusterAt = (c: number) => at + (firstData + (c - 2) * perCluster) * bytesPerSector;
  const rootCluster = type === 32 ? u32le(bs, 44) : 0;

  // A FAT entry set to a cluster value (12-bit entries share bytes with their neighbours).
  const fatEntry = async (cluster: number, value: number): Promise<Patch[]> => {
    if (type === 32) return encodeField({ at: fatAt + cluster * 4, width: 4, endian: 'le', what: '' }, value);
    if (type === 16) return encodeField({ at: fatAt + cluster * 2, width: 2, endian: 'le', what: '' }, value);
    const offset = fatAt + Math.floor(cluster * 1.5);
    const pair = u16le(await read(offset, 2), 0);
    const next = cluster % 2 ? (pair & 0x000f) | (value << 4) : (pair & 0xf000) | (value & 0x0fff);
    return encodeField({ at: offset, width: 2, endian: 'le', what: '' }, next & 0xffff);
  };

  const dirs: { cluster: number; offset: number; bytes: number }[] = type === 32
    ? [{ cluster: rootCluster, offset: clusterAt(rootCluster), bytes: clusterBytes }]
    : [{ cluster: 0, offset: at + (reserved + (bs[16] ?? 0) * fatSectors) * bytesPerSector, bytes: rootDirSectors * bytesPerSector }];
  const seen = new Set<number>();
  while (dirs.length && seen.size < MAX_DIRECTORIES) {
    const dir = dirs.shift()!;
    if (seen.has(dir.offset) || dir.offset + dir.bytes > map.size) continue;
    seen.add(dir.offset);
    if (dir.cluster >= 2) {
      map.rewires.push({ what: `FAT@${at} cluster ${dir.cluster} links to itself`, patches: await fatEntry(dir.cluster, dir.cluster) });
    }
    const bytes = await read(dir.offset, dir.bytes);
    for (let pos = 0; pos + 32 <= bytes.length; pos += 32) {
      const first = bytes[pos] ?? 0;
      if (first === 0) break;
      const attributes = bytes[pos + 11] ?? 0;
      if (first === 0xe5 || attributes === 0x0f) continue;
      const entryAt = dir.offset + pos;
      const cluster = u16le(bytes, pos + 26) + (type === 32 ? u16le(bytes, pos + 20) * 0x10000 : 0);
      map.fields.push({ at: entryAt + 28, width: 4, endian: 'le', what: `FAT@${at} size at ${entryAt}` },
        { at: entryAt + 26, width: 2, endian: 'le', what: `FAT@${at} cluster at ${entryAt}` });
      if (!(attributes & 0x10) || first === 0x2e || cluster < 2) continue;
      const pointAt = (target: number): Patch[] => [
        ...encodeField({ at: entryAt + 26, width: 2, endian: 'le', what: '' }, target & 0xffff),
        ...(type === 32 ? encodeField({ at: entryAt + 20, width: 2, endian: 'le', what: '' }, target >>> 16) : []),
      ];
      map.rewires.push({ what: `FAT@${at} directory at ${entryAt} points to its parent`, patches: pointAt(dir.cluster) });
      map.rewires.push({ what: `FAT@${at} directory at ${entryAt} points to itself`, patches: pointAt(cluster) });
      dirs.push({ cluster, offset: clusterAt(cluster), bytes: clusterBytes });
    }
  }
}

const UDF_TAGS = new Set([1, 2, 3, 4, 5, 6, 7, 8, 9, 256, 257, 258, 259, 260, 261, 262, 263, 264, 265, 266]);

/** UDF descriptor tags inside the metadata ranges (checksum, identifier and version all right), and their fields. */
async function mapUdfTags(read: Read, map: ImageMap): Promise<void> {
  if (map.size < 257 * 2048) return;
  const anchor = await read(256 * 2048, 16);
  if (u16le(anchor, 0) !== 2) return;
  let rootIcb: number | undefined;
  const fids: { at: number; parent: boolean; directory: boolean; lbn: number }[] = [];
  for (const [start, end] of map.metadata) {
    const bytes = await read(start, end - start);
    for (let pos = 0; pos + 16 <= bytes.length; pos += 4) {
      const id = u16le(bytes, pos);
      if (!UDF_TAGS.has(id) || bytes[pos + 5] !== 0 || ![2, 3].includes(u16le(bytes, pos + 2))) continue;
      let sum = 0;
      for (let i = 0; i < 16; i++) if (i !== 4) sum = (sum + (bytes[pos + i] ?? 0)) & 0xff;
      if (sum !== bytes[pos + 4]) continue;
      const at = start + pos;
      map.udfTags.push([at, 16 + u16le(bytes, pos + 10)]);
      const f = (off: number, width: 1 | 2 | 4 | 8, what: string) => map.fields.push({ at: at + off, width, endian: 'le', what: `UDF tag ${id} at ${at} ${what}` });
      switch (id) {
        case 2: f(16, 4, 'main VDS length'); f(20, 4, 'main VDS location'); f(24, 4, 'reserve VDS length'); break;
        case 5: f(188, 4, 'partition start'); f(192, 4, 'partition length'); break;
        case 6: f(212, 4, 'logical block size'); f(248, 4, 'FSD length'); f(252, 4, 'FSD block'); f(264, 4, 'map table length'); f(268, 4, 'map count'); break;
        case 256: f(400, 4, 'root ICB length'); f(404, 4, 'root ICB block'); rootIcb = u32le(bytes, pos + 404); break;
        case 257: {
          f(19, 1, 'name length'); f(20, 4, 'ICB length'); f(24, 4, 'ICB block'); f(36, 2, 'implementation use length');
          const characteristics = bytes[pos + 18] ?? 0;
          fids.push({ at, parent: (characteristics & 0x08) !== 0, directory: (characteristics & 0x02) !== 0, lbn: u32le(bytes, pos + 24) });
          break;
        }
        case 258: f(16, 4, 'previous AED'); f(20, 4, 'AD length'); break;
        case 261: case 266: {
          const ea = id === 261 ? 168 : 208;
          f(56, 8, 'information length'); f(ea, 4, 'EA length'); f(ea + 4, 4, 'AD length');
          const adAt = ea + 8 + u32le(bytes, pos + ea);
          f(adAt, 4, 'first AD length'); f(adAt + 4, 4, 'first AD position');
          break;
        }
      }
    }
  }
  // A subdirectory's FID pointed at the root, or at the directory that holds it (its parent FID's target is one up).
  let parentLbn: number | undefined;
  for (const fid of fids) {
    if (fid.parent) parentLbn = fid.lbn;
    else if (fid.directory) {
      for (const [target, what] of [[rootIcb, 'the root'], [parentLbn, 'the grandparent']] as const) {
        if (target !== undefined) map.rewires.push({ what: `UDF directory FID at ${fid.at} points to ${what}`, patches: encodeField({ at: fid.at + 24, width: 4, endian: 'le', what: '' }, target) });
      }
    }
  }
}

/** One mutated case: the patches, the size, and what was done, in words for a failure message. */
export interface MutatedCase {
  patches: Patch[];
  size: number;
  steps: string[];
}

const EXTREME_BYTES = [0x00, 0xff, 0x7f, 0x80];

/**
 * A case from a seed: one to four mutations (bit flips and byte sets in metadata, overlong known fields,
 * rewired links, huge words, truncation), then checksums fixed most of the time.
 */
export async function mutateCase(map: ImageMap, source: ByteSource, seed: number): Promise<MutatedCase> {
  const next = random(seed);
  const patches: Patch[] = [];
  const steps: string[] = [];
  let size = map.size;
  const metaOffset = () => {
    const [start, end] = pick(next, map.metadata);
    return start + below(next, end - start);
  };
  const count = 1 + below(next, 4);
  for (let i = 0; i < count; i++) {
    const roll = next();
    if (roll < 0.2) {
      const flips = 1 + below(next, 8);
      for (let k = 0; k < flips; k++) {
        const at = metaOffset();
        const original = (await source.read(at, 1))[0] ?? 0;
        patches.push({ offset: at, bytes: Uint8Array.of(original ^ (1 << below(next, 8))) });
      }
      steps.push(`${flips} bit flips`);
    } else if (roll < 0.35) {
      const sets = 1 + below(next, 6);
      for (let k = 0; k < sets; k++) patches.push({ offset: metaOffset(), bytes: Uint8Array.of(pick(next, EXTREME_BYTES)) });
      steps.push(`${sets} bytes set to extremes`);
    } else if (roll < 0.42) {
      const at = metaOffset() & ~3;
      const value = pick(next, [0xffffffff, 0x7fffffff, 0x80000000, 0x00010000]);
      patches.push(...encodeField({ at, width: 4, endian: next() < 0.5 ? 'le' : 'be', what: '' }, value));
      steps.push(`word at ${at} = ${value}`);
    } else if (roll < 0.72 && map.fields.length) {
      const field = pick(next, map.fields);
      const max = 2 ** (8 * field.width) - 1;
      const value = pick(next, [max, Math.floor(max / 2), Math.floor(max / 2) + 1, 0, 1, Math.floor(map.size / 2048) + 1, map.size, 3 + below(next, 64)]);
      patches.push(...encodeField(field, value));
      steps.push(`${field.what} = ${value}`);
    } else if (roll < 0.9 && map.rewires.length) {
      const rewire = pick(next, map.rewires);
      patches.push(...rewire.patches);
      steps.push(rewire.what);
    } else {
      const cut = next() < 0.6 ? metaOffset() : below(next, map.size);
      size = Math.min(size, cut);
      steps.push(`truncated to ${cut}`);
    }
  }
  if (next() < 0.85) {
    const fixed = await resign(map, source, patches);
    if (fixed.length) steps.push(`${fixed.length} checksums fixed`);
    patches.push(...fixed);
  }
  return { patches, size, steps };
}

/** Checksums recomputed over the patched bytes: UDF tag checksums, GPT entry-array and header CRC32s. */
async function resign(map: ImageMap, source: ByteSource, patches: Patch[]): Promise<Patch[]> {
  const touches = (start: number, length: number) => patches.some((p) => p.offset < start + length && p.offset + p.bytes.length > start);
  const patched = async (offset: number, length: number, extra: Patch[] = []) => {
    const bytes = await source.read(offset, length);
    overlay(bytes, offset, [...patches, ...extra]);
    return bytes;
  };
  const out: Patch[] = [];
  for (const [at, length] of map.udfTags) {
    if (!touches(at, length)) continue;
    const tag = await patched(at, 16);
    let sum = 0;
    for (let i = 0; i < 16; i++) if (i !== 4) sum = (sum + (tag[i] ?? 0)) & 0xff;
    out.push({ offset: at + 4, bytes: Uint8Array.of(sum) });
  }
  for (const header of map.gptHeaders) {
    const headerSize = Math.min(header.headerSize, 512);
    if (!touches(header.at, 512) && !touches(header.entriesAt, header.entriesBytes)) continue;
    if (header.entriesBytes <= 4 * 1024 * 1024) {
      const entriesCrc = crc32(await patched(header.entriesAt, header.entriesBytes));
      out.push(...encodeField({ at: header.at + 88, width: 4, endian: 'le', what: '' }, entriesCrc));
    }
    const bytes = await patched(header.at, headerSize, out);
    bytes.fill(0, 16, 20);
    out.push(...encodeField({ at: header.at + 16, width: 4, endian: 'le', what: '' }, crc32(bytes)));
  }
  return out;
}
