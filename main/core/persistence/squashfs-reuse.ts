import type { ByteSource } from '../../ports/byte-source.js';
import { readExact } from '../byte-source-reads.js';
import { ParseError } from '../errors.js';
import { readSquashfsInfo, SQUASHFS_MAGIC } from './dm-merge.js';

/**
 * Rebuilding a LiveOS squashfs.img after a merge without compressing it all again: the image holds one file
 * (LiveOS/rootfs.img) whose data blocks are compressed one by one, and a merge changes few of them. The new
 * image keeps every unchanged block's compressed bytes as they are, takes the changed ones from a small image
 * mksquashfs made of just those blocks (same compressor, options and block size), and gets new tables, written
 * uncompressed (a few KiB). Only that shape is handled: anything else is an UNSUPPORTED_IMAGE ParseError and the
 * caller builds the image with mksquashfs as before. Layout facts: the kernel's Documentation/filesystems/squashfs.rst
 * and squashfs_fs.h.
 */

const SUPERBLOCK_BYTES = 96;
const METADATA_BYTES = 8192;
const METADATA_UNCOMPRESSED = 0x8000;
const BLOCK_UNCOMPRESSED = 1 << 24;
const NO_FRAGMENT = 0xffffffff;
const NO_XATTR = 0xffffffff;
const INVALID_TABLE = 0xffffffffffffffffn;
const FLAG = { uncompressedInodes: 0x0001, noFragments: 0x0010, alwaysFragments: 0x0020, exportable: 0x0080, noXattrs: 0x0200, compressorOptions: 0x0400, uncompressedIds: 0x0800 };
const INODE = { dir: 1, file: 2, extendedDir: 8, extendedFile: 9 };

/** Decompresses one metadata block with the image's compressor (UNSUPPORTED_IMAGE ParseError when it cannot). */
export type Decompress = (bytes: Uint8Array) => Promise<Uint8Array>;

interface Attributes {
  mode: number;
  uidIndex: number;
  gidIndex: number;
  mtime: number;
}

/** One data block: where its bytes are and the block-list word (stored size, bit 24 when stored uncompressed; 0 a hole). */
export interface DataBlock {
  offset: number;
  word: number;
}

export interface SingleFileImage {
  /** mksquashfs's name for the compressor, and its superblock id. */
  compression: string;
  compressor: number;
  blockSize: number;
  flags: number;
  /** The compressor options block as stored (header included), when the image has one. */
  compressorOptions?: Uint8Array;
  /** The directories from the root down to the file. */
  directories: Attributes[];
  /** Their names below the root, then the file's. */
  names: string[];
  file: Attributes & { size: number; nlink: number; blocks: DataBlock[] };
  /** The uid/gid table, uncompressed (u32 each). */
  ids: Uint8Array;
}

const unsupported = (why: string, offset = 0) => new ParseError(why, offset, 'UNSUPPORTED_IMAGE');

function u64(view: DataView, at: number, what: string): number {
  const value = view.getBigUint64(at, true);
  if (value > BigInt(Number.MAX_SAFE_INTEGER)) throw new ParseError(`squashfs ${what} ${value} is impossible`, at);
  return Number(value);
}

const viewOf = (bytes: Uint8Array) => new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);

/** Reads metadata (8 KiB blocks, each with a 2-byte header) of one table, which must end before `end`. */
class MetadataReader {
  private readonly blocks = new Map<number, { data: Uint8Array; next: number }>();

  constructor(private readonly source: ByteSource, private readonly decompress: Decompress, private readonly start: number, private readonly end: number) {}

  private async block(at: number): Promise<{ data: Uint8Array; next: number }> {
    const known = this.blocks.get(at);
    if (known) return known;
    if (at + 2 > this.end) throw new ParseError(`squashfs metadata at ${at} runs past its table (ends at ${this.end})`, at);
    const header = viewOf(await readExact(this.source, at, 2, 'squashfs metadata header')).getUint16(0, true);
    const length = header & ~METADATA_UNCOMPRESSED;
    if (length === 0 || length > METADATA_BYTES || at + 2 + length > this.end) throw new ParseError(`squashfs metadata block at ${at} has an impossible length ${length}`, at);
    const stored = await readExact(this.source, at + 2, length, 'squashfs metadata block');
    const data = header & METADATA_UNCOMPRESSED ? stored : await this.decompress(stored);
    if (data.length === 0 || data.length > METADATA_BYTES) throw new ParseError(`squashfs metadata block at ${at} holds ${data.length} bytes`, at);
    const read = { data, next: at + 2 + length };
    this.blocks.set(at, read);
    return read;
  }

  /** `length` bytes from the block `blockOffset` bytes into the table, `offset` bytes into its data, on across blocks. */
  async read(blockOffset: number, offset: number, length: number): Promise<Uint8Array> {
    // Each block takes at least 3 bytes of the table and gives at most 8 KiB: a longer read is a lie (and no allocation).
    if (length > Math.ceil((this.end - this.start) / 3) * METADATA_BYTES) throw new ParseError(`squashfs metadata of ${length} bytes cannot be in its table`, this.start);
    const out = new Uint8Array(length);
    let at = this.start + blockOffset;
    let skip = offset;
    for (let got = 0; got < length;) {
      const { data, next } = await this.block(at);
      if (skip > data.length) throw new ParseError(`squashfs metadata offset ${skip} is past its block at ${at}`, at);
      const take = Math.min(length - got, data.length - skip);
      out.set(data.subarray(skip, skip + take), got);
      got += take;
      skip = 0;
      at = next;
    }
    return out;
  }
}

/** Reads the image's superblock and tables far enough to reuse the data blocks of the file at `path` (folders, then its name). */
export async function readSingleFileImage(source: ByteSource, path: readonly string[], decompress: Decompress): Promise<SingleFileImage> {
  // Magic, version, compressor and block size checked there; the table starts read here.
  const { compression, compressorId: compressor, blockSize } = await readSquashfsInfo(source);
  const sb = viewOf(await readExact(source, 0, SUPERBLOCK_BYTES, 'squashfs superblock'));
  const flags = sb.getUint16(24, true);
  const idCount = sb.getUint16(26, true);
  const bytesUsed = u64(sb, 40, 'length');
  const idTable = u64(sb, 48, 'id table start');
  const inodeTable = u64(sb, 64, 'inode table start');
  const directoryTable = u64(sb, 72, 'directory table start');
  if (sb.getBigUint64(56, true) !== INVALID_TABLE) throw unsupported('the image has extended attributes', 56);
  if (sb.getUint32(16, true) !== 0) throw unsupported('the image has fragments (more than one file, or a file tail)', 16);
  if (!(SUPERBLOCK_BYTES < inodeTable && inodeTable < directoryTable && directoryTable < idTable && idTable < bytesUsed && bytesUsed <= source.size)) {
    throw new ParseError('squashfs tables are out of order or past the image end', 40);
  }
  let dataStart = SUPERBLOCK_BYTES;
  let compressorOptions: Uint8Array | undefined;
  if (flags & FLAG.compressorOptions) {
    const header = viewOf(await readExact(source, dataStart, 2, 'squashfs compressor options')).getUint16(0, true);
    if (!(header & METADATA_UNCOMPRESSED) || (header & ~METADATA_UNCOMPRESSED) > 64) throw unsupported('the compressor options block is not a plain one', dataStart);
    compressorOptions = await readExact(source, dataStart, 2 + (header & ~METADATA_UNCOMPRESSED), 'squashfs compressor options');
    dataStart += compressorOptions.length;
  }

  const inodes = new MetadataReader(source, decompress, inodeTable, directoryTable);
  const directoriesTable = new MetadataReader(source, decompress, directoryTable, idTable);
  const at = (ref: bigint) => ({ block: Number(ref >> 16n), offset: Number(ref & 0xffffn) });
  let ref = sb.getBigUint64(32, true);
  const directories: Attributes[] = [];
  for (const [depth, name] of path.entries()) {
    const { block, offset } = at(ref);
    const head = viewOf(await inodes.read(block, offset, 16));
    const type = head.getUint16(0, true);
    const attributes = { mode: head.getUint16(2, true), uidIndex: head.getUint16(4, true), gidIndex: head.getUint16(6, true), mtime: head.getUint32(8, true) };
    let listing: { block: number; offset: number; size: number };
    if (type === INODE.dir) {
      const dir = viewOf(await inodes.read(block, offset + 16, 16));
      listing = { block: dir.getUint32(0, true), size: dir.getUint16(8, true), offset: dir.getUint16(10, true) };
    } else if (type === INODE.extendedDir) {
      const dir = viewOf(await inodes.read(block, offset + 16, 24));
      if (dir.getUint32(20, true) !== NO_XATTR) throw unsupported(`/${path.slice(0, depth).join('/')} has extended attributes`);
      listing = { size: dir.getUint32(4, true), block: dir.getUint32(8, true), offset: dir.getUint16(18, true) };
    } else {
      throw unsupported(`/${path.slice(0, depth).join('/')} is not a folder`);
    }
    directories.push(attributes);
    if (listing.size < 3 + 12 + 8) throw unsupported(`/${path.slice(0, depth).join('/')} is empty`);
    const bytes = await directoriesTable.read(listing.block, listing.offset, listing.size - 3);
    const view = viewOf(bytes);
    const count = view.getUint32(0, true) + 1;
    const nameSize = view.getUint16(12 + 6, true) + 1;
    const entryName = new TextDecoder().decode(bytes.subarray(20, 20 + nameSize));
    if (count !== 1 || 12 + 8 + nameSize !== bytes.length) throw unsupported(`/${path.slice(0, depth).join('/')} holds more than ${name}`);
    if (entryName !== name) throw unsupported(`/${path.slice(0, depth).join('/')} holds ${entryName}, not ${name}`);
    ref = (BigInt(view.getUint32(4, true)) << 16n) | BigInt(view.getUint16(12, true));
  }

  const where = `/${path.join('/')}`;
  const { block, offset } = at(ref);
  const head = viewOf(await inodes.read(block, offset, 16));
  const type = head.getUint16(0, true);
  let file: { start: number; size: number; fragment: number; nlink: number; listAt: number };
  if (type === INODE.file) {
    const f = viewOf(await inodes.read(block, offset + 16, 16));
    file = { start: f.getUint32(0, true), fragment: f.getUint32(4, true), size: f.getUint32(12, true), nlink: 1, listAt: 32 };
  } else if (type === INODE.extendedFile) {
    const f = viewOf(await inodes.read(block, offset + 16, 40));
    if (f.getUint32(36, true) !== NO_XATTR) throw unsupported(`${where} has extended attributes`);
    file = { start: u64(f, 0, 'file start'), size: u64(f, 8, 'file size'), nlink: f.getUint32(24, true), fragment: f.getUint32(28, true), listAt: 56 };
  } else {
    throw unsupported(`${where} is not a regular file`);
  }
  if (file.fragment !== NO_FRAGMENT) throw unsupported(`${where} ends in a fragment`);
  const count = Math.ceil(file.size / blockSize);
  const words = viewOf(await inodes.read(block, offset + file.listAt, count * 4));
  const blocks: DataBlock[] = [];
  let next = file.start;
  if (next !== dataStart) throw unsupported(`${where}'s data does not begin the image`);
  for (let i = 0; i < count; i++) {
    const word = words.getUint32(i * 4, true);
    const stored = word & ~BLOCK_UNCOMPRESSED;
    if (stored > blockSize || (word & ~(BLOCK_UNCOMPRESSED | 0xffffff)) !== 0) throw new ParseError(`${where} block ${i} has an impossible size word ${word}`, next);
    blocks.push({ offset: next, word });
    next += stored;
  }
  if (next > inodeTable) throw new ParseError(`${where}'s data runs into the inode table`, next);

  const idBlocks = Math.ceil((idCount * 4) / METADATA_BYTES);
  if (idCount === 0 || idTable + idBlocks * 8 > bytesUsed) throw new ParseError(`squashfs id table (${idCount} ids) is impossible`, idTable);
  const index = viewOf(await readExact(source, idTable, idBlocks * 8, 'squashfs id index'));
  const ids = new Uint8Array(idCount * 4);
  for (let i = 0; i < idBlocks; i++) {
    const blockAt = u64(index, i * 8, 'id block');
    const part = Math.min(METADATA_BYTES, ids.length - i * METADATA_BYTES);
    ids.set(await new MetadataReader(source, decompress, blockAt, idTable).read(0, 0, part), i * METADATA_BYTES);
  }
  const owners = [...directories, { uidIndex: head.getUint16(4, true), gidIndex: head.getUint16(6, true) }];
  if (owners.some((o) => o.uidIndex >= idCount || o.gidIndex >= idCount)) throw new ParseError('a squashfs inode names an owner past the id table', idTable);

  return {
    compression, compressor, blockSize, flags, ...(compressorOptions ? { compressorOptions } : {}), directories, names: [...path],
    file: { mode: head.getUint16(2, true), uidIndex: head.getUint16(4, true), gidIndex: head.getUint16(6, true), mtime: head.getUint32(8, true), size: file.size, nlink: file.nlink, blocks },
    ids,
  };
}

const GZIP_STRATEGIES = ['default', 'filtered', 'huffman_only', 'run_length_encoded', 'fixed'];
const XZ_FILTERS = ['x86', 'powerpc', 'ia64', 'arm', 'armthumb', 'sparc'];
const flagNames = (bits: number, names: readonly string[]) => names.filter((_, i) => bits & (1 << i));

/**
 * mksquashfs arguments that store the same compressor options block (squashfs-tools' gzip, xz and zstd
 * wrappers), or UNSUPPORTED_IMAGE for options of other compressors.
 */
export function compressorArguments(image: Pick<SingleFileImage, 'compressor' | 'compressorOptions'>): string[] {
  if (!image.compressorOptions) return [];
  const options = viewOf(image.compressorOptions.subarray(2));
  const need = (bytes: number) => {
    if (options.byteLength < bytes) throw new ParseError(`squashfs compressor options are ${options.byteLength} bytes, expected ${bytes}`, SUPERBLOCK_BYTES);
  };
  switch (image.compressor) {
    case 1: {
      need(8);
      const strategies = flagNames(options.getUint16(6, true), GZIP_STRATEGIES);
      return ['-Xcompression-level', String(options.getUint32(0, true)), '-Xwindow-size', String(options.getUint16(4, true)),
        ...(strategies.length ? ['-Xstrategy', strategies.join(',')] : [])];
    }
    case 4: {
      need(8);
      const filters = flagNames(options.getUint32(4, true), XZ_FILTERS);
      return ['-Xdict-size', String(options.getUint32(0, true)), ...(filters.length ? ['-Xbcj', filters.join(',')] : [])];
    }
    case 6:
      need(4);
      return ['-Xcompression-level', String(options.getUint32(0, true))];
    default:
      throw unsupported(`compressor ${image.compressor}'s options are not carried over`);
  }
}

/** A piece of the new image: bytes made here, or bytes copied from the old image or from the image of changed blocks. */
export type ImagePiece = { bytes: Uint8Array } | { from: 'old' | 'changed'; offset: number; length: number };

/** Uncompressed metadata blocks of `data` (a header with the uncompressed bit before each 8 KiB). */
function metadataBlocks(data: Uint8Array): Uint8Array {
  const count = Math.max(1, Math.ceil(data.length / METADATA_BYTES));
  const out = new Uint8Array(data.length + 2 * count);
  for (let i = 0; i < count; i++) {
    const part = data.subarray(i * METADATA_BYTES, (i + 1) * METADATA_BYTES);
    viewOf(out).setUint16(i * (METADATA_BYTES + 2), part.length | METADATA_UNCOMPRESSED, true);
    out.set(part, i * (METADATA_BYTES + 2) + 2);
  }
  return out;
}

/** Where byte `position` of uncompressed metadata lands once written by metadataBlocks: block offset and offset in it. */
const metadataRef = (position: number) => ({ block: Math.floor(position / METADATA_BYTES) * (METADATA_BYTES + 2), offset: position % METADATA_BYTES });

/**
 * The new image: `old`'s superblock fields and compressor options, its file's blocks in order — block
 * `changed[k]` taken as block k of `replacement` (the image mksquashfs made of the changed blocks alone), every
 * other one copied — then new uncompressed inode, directory and id tables, padded to 4 KiB like mksquashfs pads.
 */
export function layoutReusedImage(old: SingleFileImage, changed: readonly number[], replacement: SingleFileImage | undefined, modTime: number): { pieces: ImagePiece[]; reused: number } {
  const newBlocks = replacement?.file.blocks ?? [];
  if (newBlocks.length !== changed.length) throw new Error(`${changed.length} changed blocks, ${newBlocks.length} in their image`);
  if (replacement && (replacement.compressor !== old.compressor || replacement.blockSize !== old.blockSize)) throw new Error('the changed blocks were compressed differently');
  const pieces: ImagePiece[] = [];
  const superblock = new Uint8Array(SUPERBLOCK_BYTES);
  pieces.push({ bytes: superblock });
  let position = SUPERBLOCK_BYTES;
  if (old.compressorOptions) {
    pieces.push({ bytes: old.compressorOptions });
    position += old.compressorOptions.length;
  }
  const dataStart = position;
  const words = new Uint32Array(old.file.blocks.length);
  const replaced = new Map(changed.map((block, k) => [block, newBlocks[k] as DataBlock]));
  let reused = 0;
  for (const [i, block] of old.file.blocks.entries()) {
    const fresh = replaced.get(i);
    const { offset, word } = fresh ?? block;
    const from = fresh ? 'changed' : 'old';
    if (!fresh && word !== 0) reused++;
    words[i] = word;
    const length = word & ~BLOCK_UNCOMPRESSED;
    if (length === 0) continue;
    const last = pieces[pieces.length - 1] as ImagePiece;
    if ('from' in last && last.from === from && last.offset + last.length === offset) last.length += length;
    else pieces.push({ from, offset, length });
    position += length;
  }
  if (replaced.size !== changed.length || changed.some((i) => i >= old.file.blocks.length)) throw new Error('changed block numbers are repeated or past the file');

  // Inode numbers: the file 1, then its folders upwards (the root last); the root's parent is one past the count.
  const folders = old.directories.length;
  const inodeCount = folders + 1;
  const fileInodeBytes = 56 + 4 * words.length;
  const inodeAt = (n: number) => (n === 1 ? 0 : fileInodeBytes + (n - 2) * 32);
  const folderInode = (depth: number) => inodeCount - depth;
  // Each folder lists one entry: the next folder down, or the file.
  const listings = new Uint8Array(folders * 20 + old.names.reduce((sum, n) => sum + new TextEncoder().encode(n).length, 0));
  const listingAt: number[] = [];
  let listed = 0;
  for (let depth = 0; depth < folders; depth++) {
    const child = depth + 1 < folders ? folderInode(depth + 1) : 1;
    const name = new TextEncoder().encode(old.names[depth]);
    const ref = metadataRef(inodeAt(child));
    const view = viewOf(listings);
    listingAt.push(listed);
    view.setUint32(listed, 0, true);
    view.setUint32(listed + 4, ref.block, true);
    view.setUint32(listed + 8, child, true);
    view.setUint16(listed + 12, ref.offset, true);
    view.setInt16(listed + 14, 0, true);
    view.setUint16(listed + 16, child === 1 ? INODE.file : INODE.dir, true);
    view.setUint16(listed + 18, name.length - 1, true);
    listings.set(name, listed + 20);
    listed += 20 + name.length;
  }
  const inodes = new Uint8Array(fileInodeBytes + 32 * folders);
  const header = (at: number, type: number, a: Attributes, n: number) => {
    const view = viewOf(inodes);
    view.setUint16(at, type, true);
    view.setUint16(at + 2, a.mode, true);
    view.setUint16(at + 4, a.uidIndex, true);
    view.setUint16(at + 6, a.gidIndex, true);
    view.setUint32(at + 8, a.mtime, true);
    view.setUint32(at + 12, n, true);
    return view;
  };
  const sparse = old.file.blocks.reduce((sum, _, i) => sum + (words[i] === 0 ? Math.min(old.blockSize, old.file.size - i * old.blockSize) : 0), 0);
  const file = header(0, INODE.extendedFile, old.file, 1);
  file.setBigUint64(16, BigInt(dataStart), true);
  file.setBigUint64(24, BigInt(old.file.size), true);
  file.setBigUint64(32, BigInt(sparse), true);
  file.setUint32(40, old.file.nlink, true);
  file.setUint32(44, NO_FRAGMENT, true);
  file.setUint32(48, 0, true);
  file.setUint32(52, NO_XATTR, true);
  for (const [i, word] of words.entries()) file.setUint32(56 + 4 * i, word, true);
  for (let depth = 0; depth < folders; depth++) {
    const n = folderInode(depth);
    const at = inodeAt(n);
    const listing = metadataRef(listingAt[depth] as number);
    const size = (depth + 1 < folders ? (listingAt[depth + 1] as number) : listed) - (listingAt[depth] as number);
    const dir = header(at, INODE.dir, old.directories[depth] as Attributes, n);
    dir.setUint32(at + 16, listing.block, true);
    dir.setUint32(at + 20, depth + 1 < folders ? 3 : 2, true);
    dir.setUint16(at + 24, size + 3, true);
    dir.setUint16(at + 26, listing.offset, true);
    dir.setUint32(at + 28, depth === 0 ? inodeCount + 1 : folderInode(depth - 1), true);
  }

  const tables = [metadataBlocks(inodes), metadataBlocks(listings), metadataBlocks(old.ids)] as const;
  const inodeTable = position;
  const directoryTable = inodeTable + tables[0].length;
  const idBlocks = directoryTable + tables[1].length;
  const idCount = old.ids.length / 4;
  const index = new Uint8Array(8 * Math.ceil(old.ids.length / METADATA_BYTES));
  for (let i = 0; i < index.length / 8; i++) viewOf(index).setBigUint64(i * 8, BigInt(idBlocks + i * (METADATA_BYTES + 2)), true);
  const idTable = idBlocks + tables[2].length;
  const bytesUsed = idTable + index.length;
  pieces.push(...tables.map((bytes) => ({ bytes })), { bytes: index });
  const padded = Math.ceil(bytesUsed / 4096) * 4096;
  if (padded > bytesUsed) pieces.push({ bytes: new Uint8Array(padded - bytesUsed) });

  const sb = viewOf(superblock);
  const rootRef = metadataRef(inodeAt(folderInode(0)));
  sb.setUint32(0, SQUASHFS_MAGIC, true);
  sb.setUint32(4, inodeCount, true);
  sb.setUint32(8, modTime, true);
  sb.setUint32(12, old.blockSize, true);
  sb.setUint32(16, 0, true);
  sb.setUint16(20, old.compressor, true);
  sb.setUint16(22, Math.log2(old.blockSize), true);
  sb.setUint16(24, (old.flags | FLAG.uncompressedInodes | FLAG.uncompressedIds | FLAG.noFragments | FLAG.noXattrs) & ~(FLAG.exportable | FLAG.alwaysFragments), true);
  sb.setUint16(26, idCount, true);
  sb.setUint16(28, 4, true);
  sb.setUint16(30, 0, true);
  sb.setBigUint64(32, (BigInt(rootRef.block) << 16n) | BigInt(rootRef.offset), true);
  sb.setBigUint64(40, BigInt(bytesUsed), true);
  sb.setBigUint64(48, BigInt(idTable), true);
  sb.setBigUint64(56, INVALID_TABLE, true);
  sb.setBigUint64(64, BigInt(inodeTable), true);
  sb.setBigUint64(72, BigInt(directoryTable), true);
  // No fragments: the (empty) fragment table is where the id blocks begin, as mksquashfs leaves it; no NFS export table.
  sb.setBigUint64(80, BigInt(idBlocks), true);
  sb.setBigUint64(88, INVALID_TABLE, true);
  return { pieces, reused };
}
