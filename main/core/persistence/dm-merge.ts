import type { ByteSource } from '../../ports/byte-source.js';
import { readExact } from '../byte-source-reads.js';
import { BootkeyError, ParseError } from '../errors.js';
import { SECTOR_BYTES, type DmException } from './dm-snapshot.js';

/**
 * Merging a device-mapper overlay into its origin offline: what the kernel's snapshot target shows is the
 * origin with every exception's COW chunk in place of its origin chunk. Applying those copies onto a copy of
 * `rootfs.img` gives the same bytes the seed's dm mirror reads through the snapshot, without reading the
 * unchanged chunks twice.
 */

/** One positioned copy: `length` bytes at `cowOffset` of the overlay go to `originOffset` of the rootfs copy. */
export interface ChunkCopy {
  cowOffset: number;
  originOffset: number;
  length: number;
}

/**
 * The copies for these exceptions (in table order), coalesced where both sides are consecutive so the adapter
 * does few large I/Os. A later exception for the same origin chunk wins, as it would when the kernel loads the
 * table; an exception past the end of the origin means the overlay does not belong to this image.
 */
export function planMergeCopies(exceptions: readonly DmException[], chunkSectors: number, originBytes: number): ChunkCopy[] {
  const chunkBytes = chunkSectors * SECTOR_BYTES;
  const originChunks = Math.ceil(originBytes / chunkBytes);
  const byOrigin = new Map<number, number>();
  for (const { oldChunk, newChunk } of exceptions) {
    if (oldChunk >= originChunks) {
      throw new BootkeyError('MALFORMED_IMAGE',
        `the overlay changes chunk ${oldChunk}, past the end of the ${originBytes}-byte rootfs.img: it was made for another image`);
    }
    byOrigin.set(oldChunk, newChunk);
  }
  const copies: ChunkCopy[] = [];
  for (const oldChunk of [...byOrigin.keys()].sort((a, b) => a - b)) {
    const newChunk = byOrigin.get(oldChunk) as number;
    const originOffset = oldChunk * chunkBytes;
    // The origin's last chunk may be partial: the snapshot never shows bytes past the origin's end.
    const length = Math.min(chunkBytes, originBytes - originOffset);
    const last = copies[copies.length - 1];
    if (last && last.originOffset + last.length === originOffset && last.cowOffset + last.length === newChunk * chunkBytes) {
      last.length += length;
    } else {
      copies.push({ cowOffset: newChunk * chunkBytes, originOffset, length });
    }
  }
  return copies;
}

export interface MergeSpaceRequest {
  /**
   * Apparent size of what is extracted into the work folder (assume no holes): LiveOS/rootfs.img, or every file
   * of the image when it is rebuilt whole.
   */
  extractedBytes: number;
  /** The current squashfs.img. */
  squashfsBytes: number;
  /** Bytes the overlay changes (exceptions × chunk). */
  changedBytes: number;
}

export interface MergeSpace {
  /** In the work folder: the extracted files, the merged rootfs.img among them. */
  workBytes: number;
  /** On the key: the new squashfs.img beside the old one until it is verified. */
  keyBytes: number;
}

/**
 * Free space each place must have before the first write. The new squashfs holds the old one's data plus at
 * most the changed chunks (mksquashfs stores a block uncompressed when compressing does not help), plus 1 %
 * and 1 MiB for its tables.
 */
export function planMergeSpace(request: MergeSpaceRequest): MergeSpace {
  const squashfs = request.squashfsBytes + request.changedBytes;
  return { workBytes: request.extractedBytes, keyBytes: Math.ceil(squashfs * 1.01) + (1 << 20) };
}

/** Checks free space for both places; when they share a filesystem the sum must fit there. */
export function checkMergeSpace(space: MergeSpace, work: { freeBytes: number; device: number }, key: { freeBytes: number; device: number }): void {
  const shortOf = (place: string, requiredBytes: number, freeBytes: number) => {
    if (requiredBytes > freeBytes) {
      throw new BootkeyError('NOT_ENOUGH_SPACE', `merging needs ${requiredBytes} free bytes ${place} and there are ${freeBytes}`,
        { requiredBytes, freeBytes, place });
    }
  };
  if (work.device === key.device) {
    shortOf('on the key (work folder and new image)', space.workBytes + space.keyBytes, key.freeBytes);
    return;
  }
  shortOf('in the work folder', space.workBytes, work.freeBytes);
  shortOf('on the key', space.keyBytes, key.freeBytes);
}

/** Compressor ids of the squashfs 4 superblock, as mksquashfs `-comp` names them. */
const SQUASHFS_COMPRESSORS: Record<number, string> = { 1: 'gzip', 2: 'lzma', 3: 'lzo', 4: 'xz', 5: 'lz4', 6: 'zstd' };
export const SQUASHFS_MAGIC = 0x73717368;

export interface SquashfsInfo {
  compression: string;
  /** The superblock's compressor id (1 gzip … 6 zstd). */
  compressorId: number;
  blockSize: number;
  bytesUsed: number;
}

/** The squashfs 4 superblock fields a rebuild keeps: compressor and block size (and the image's length). */
export async function readSquashfsInfo(source: ByteSource): Promise<SquashfsInfo> {
  const bytes = await readExact(source, 0, 96, 'squashfs superblock');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (view.getUint32(0, true) !== SQUASHFS_MAGIC) throw new ParseError('not a squashfs image (no hsqs magic)', 0, 'UNSUPPORTED_IMAGE');
  const major = view.getUint16(28, true);
  if (major !== 4) throw new ParseError(`squashfs version ${major} is not supported (only 4)`, 28, 'UNSUPPORTED_IMAGE');
  const id = view.getUint16(20, true);
  const compression = SQUASHFS_COMPRESSORS[id];
  if (!compression) throw new ParseError(`unknown squashfs compressor ${id}`, 20, 'UNSUPPORTED_IMAGE');
  const blockSize = view.getUint32(12, true);
  if (blockSize < 4096 || blockSize > 1 << 20 || (blockSize & (blockSize - 1)) !== 0) {
    throw new ParseError(`squashfs block size ${blockSize} is impossible`, 12);
  }
  return { compression, compressorId: id, blockSize, bytesUsed: Number(view.getBigUint64(40, true)) };
}

/**
 * The squashfs blocks (of `blockBytes`) of the merged rootfs.img that a rebuild must compress again: every block a
 * copy touched, and every block whose CRC-32 differs before the copies and after e2fsck (e2fsck rewrites blocks
 * of its own). A CRC that misses a change e2fsck made is caught by the verification of the new image.
 */
export function changedBlocks(copies: readonly ChunkCopy[], blockBytes: number, before: readonly number[], after: readonly number[]): number[] {
  if (before.length !== after.length) throw new Error(`block CRCs of ${before.length} and ${after.length} blocks`);
  const changed = new Set<number>();
  for (const copy of copies) {
    for (let block = Math.floor(copy.originOffset / blockBytes); block * blockBytes < copy.originOffset + copy.length; block++) changed.add(block);
  }
  before.forEach((crc, block) => {
    if (after[block] !== crc) changed.add(block);
  });
  return [...changed].sort((a, b) => a - b);
}

/** Copies that gather `blocks` of a `fileBytes` file one after another (the last one may be short), consecutive ones together. */
export function gatherBlocks(blocks: readonly number[], blockBytes: number, fileBytes: number): ChunkCopy[] {
  const copies: ChunkCopy[] = [];
  for (const [k, block] of blocks.entries()) {
    const length = Math.min(blockBytes, fileBytes - block * blockBytes);
    const last = copies[copies.length - 1];
    if (last && last.cowOffset + last.length === block * blockBytes) last.length += length;
    else copies.push({ cowOffset: block * blockBytes, originOffset: k * blockBytes, length });
  }
  return copies;
}
