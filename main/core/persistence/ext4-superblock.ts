import type { ByteSource } from '../../ports/byte-source.js';
import { readExact } from '../byte-source-reads.js';
import { ParseError } from '../errors.js';

/**
 * The ext2/3/4 superblock fields persistence needs (an OverlayFS-in-ext4 overlay, home.img): size, free
 * space, state, label and UUID. Fields and offsets from the kernel's ext4 on-disk format documentation.
 * The free counts are what the filesystem last wrote: exact after an unmount (the kernel writes its counters
 * back then) or an e2fsck; while mounted the live numbers are statfs's.
 */

const SUPERBLOCK_OFFSET = 1024;
const SUPERBLOCK_BYTES = 1024;
export const EXT4_MAGIC = 0xef53;
const INCOMPAT_64BIT = 0x80;
const STATE_CLEAN = 0x1;
const STATE_ERRORS = 0x2;

export interface Ext4Superblock {
  blockSize: number;
  blocksCount: number;
  freeBlocks: number;
  reservedBlocks: number;
  inodesCount: number;
  freeInodes: number;
  /** Unmounted cleanly (or checked) last time. */
  clean: boolean;
  /** The kernel or e2fsck found errors and recorded it. */
  errors: boolean;
  label: string;
  uuid: string;
}

export interface Ext4Usage {
  type: 'overlayfs-ext4';
  /** No recorded errors. */
  valid: boolean;
  clean: boolean;
  blockSize: number;
  blocksCount: number;
  freeBlocks: number;
  usedBytes: number;
  capacityBytes: number;
  percentUsed: number;
  label: string;
  uuid: string;
}

function hex(bytes: Uint8Array): string {
  return [...bytes].map((b) => b.toString(16).padStart(2, '0')).join('');
}

/** True when the source carries the ext superblock magic (cheap; for telling overlay types apart). */
export async function hasExt4Magic(source: ByteSource): Promise<boolean> {
  if (source.size < SUPERBLOCK_OFFSET + SUPERBLOCK_BYTES) return false;
  const bytes = await source.read(SUPERBLOCK_OFFSET + 56, 2);
  return bytes.length === 2 && ((bytes[0] ?? 0) | ((bytes[1] ?? 0) << 8)) === EXT4_MAGIC;
}

export async function readExt4Superblock(source: ByteSource): Promise<Ext4Superblock> {
  const sb = await readExact(source, SUPERBLOCK_OFFSET, SUPERBLOCK_BYTES, 'ext4 superblock');
  const view = new DataView(sb.buffer, sb.byteOffset, sb.byteLength);
  if (view.getUint16(56, true) !== EXT4_MAGIC) throw new ParseError('not an ext2/3/4 filesystem (no superblock magic)', SUPERBLOCK_OFFSET + 56, 'UNSUPPORTED_IMAGE');
  const logBlockSize = view.getUint32(24, true);
  if (logBlockSize > 6) throw new ParseError(`ext4 block size 2^${10 + logBlockSize} is impossible`, SUPERBLOCK_OFFSET + 24);
  const wide = (view.getUint32(96, true) & INCOMPAT_64BIT) !== 0;
  const count = (lo: number, hi: number) => view.getUint32(lo, true) + (wide ? view.getUint32(hi, true) * 2 ** 32 : 0);
  const blocksCount = count(4, 0x150);
  const freeBlocks = count(12, 0x158);
  if (freeBlocks > blocksCount) throw new ParseError(`ext4 free blocks ${freeBlocks} exceed the block count ${blocksCount}`, SUPERBLOCK_OFFSET + 12);
  const blockSize = 1024 * 2 ** logBlockSize;
  // The kernel refuses to mount it either ("block count exceeds size of device"); its usage would be nonsense.
  if (blocksCount * blockSize > source.size) {
    throw new ParseError(`ext4 filesystem of ${blocksCount} blocks of ${blockSize} bytes is larger than its file (${source.size} bytes)`, SUPERBLOCK_OFFSET + 4);
  }
  const state = view.getUint16(58, true);
  const u = sb.subarray(104, 120);
  const uuid = `${hex(u.subarray(0, 4))}-${hex(u.subarray(4, 6))}-${hex(u.subarray(6, 8))}-${hex(u.subarray(8, 10))}-${hex(u.subarray(10, 16))}`;
  const labelBytes = sb.subarray(120, 136);
  const end = labelBytes.indexOf(0);
  return {
    blockSize,
    blocksCount,
    freeBlocks,
    reservedBlocks: count(8, 0x154),
    inodesCount: view.getUint32(0, true),
    freeInodes: view.getUint32(16, true),
    clean: (state & STATE_CLEAN) !== 0,
    errors: (state & STATE_ERRORS) !== 0,
    label: new TextDecoder().decode(end < 0 ? labelBytes : labelBytes.subarray(0, end)),
    uuid,
  };
}

/** Usage as a filesystem sees it: every block not free is used (metadata included, as dumpe2fs counts). */
export function ext4Usage(sb: Ext4Superblock): Ext4Usage {
  const capacityBytes = sb.blocksCount * sb.blockSize;
  const usedBytes = (sb.blocksCount - sb.freeBlocks) * sb.blockSize;
  return {
    type: 'overlayfs-ext4',
    valid: !sb.errors,
    clean: sb.clean,
    blockSize: sb.blockSize,
    blocksCount: sb.blocksCount,
    freeBlocks: sb.freeBlocks,
    usedBytes,
    capacityBytes,
    percentUsed: capacityBytes === 0 ? 100 : Math.round((usedBytes / capacityBytes) * 10_000) / 100,
    label: sb.label,
    uuid: sb.uuid,
  };
}
