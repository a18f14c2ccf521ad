import type { ByteSource } from '../../ports/byte-source.js';
import { readExact } from '../byte-source-reads.js';
import { ParseError } from '../errors.js';

/**
 * A device-mapper persistent snapshot COW store (the classic Fedora LiveOS overlay), read offline with the
 * rules of the kernel's drivers/md/dm-snap-persistent.c, so the numbers equal what `dmsetup status` prints
 * for the same file once it is active:
 *
 * - chunk 0 is the header: little-endian u32 magic `SnAp`, valid flag, version 1, chunk size in sectors;
 *   a zero magic means "new": the kernel writes a fresh header when it first activates the store;
 * - then areas, each one metadata chunk of (old_chunk, new_chunk) u64 LE pairs followed by the data chunks
 *   it describes; the first pair whose new_chunk is 0 ends the table (chunk 0 is the header, never data);
 *   an area whose every pair is used continues in the next area;
 * - status: allocated = next free chunk × chunk size (header and metadata chunks included), total = the
 *   store's size in sectors, metadata = (areas in use + the header) × chunk size.
 */

export const DM_SNAPSHOT_MAGIC = 0x70416e53;
export const DM_SNAPSHOT_VERSION = 1;
export const SECTOR_BYTES = 512;
/** dracut's table: `snapshot <origin> <cow> PO 8` (4 KiB chunks); a new store takes it from the table. */
export const DRACUT_CHUNK_SECTORS = 8;
/** Reset zeroes this much (the seed's `dd bs=64k count=1`): the header and, for 4 KiB chunks, the first areas. */
export const RESET_BYTES = 64 * 1024;
/** Offset of the valid flag in the header (the seed's recovery writes 1 there). */
export const VALID_FLAG_OFFSET = 4;
const EXCEPTION_BYTES = 16;
/** LVM's largest snapshot chunk (512 KiB); anything larger in a header is damage, not a store. */
const MAX_CHUNK_SECTORS = 1024;

/**
 * - new: zeroed header; the kernel starts an empty store on activation.
 * - valid: usable, with room for at least one more chunk.
 * - overflow: valid, but the next write needs a chunk that does not fit: with the `O` option the kernel
 *   reports `Overflow` once a write is attempted (without it the snapshot is invalidated).
 * - invalid: the valid flag is 0; `dmsetup status` prints `Invalid` and the snapshot cannot be used.
 */
export type DmSnapshotState = 'new' | 'valid' | 'overflow' | 'invalid';

export interface DmSnapshotUsage {
  type: 'dm-snapshot';
  state: DmSnapshotState;
  valid: boolean;
  chunkSectors: number;
  /** Exceptions recorded: chunks of the origin that were written. */
  exceptions: number;
  /** `dmsetup status` numbers for this store: `<allocatedSectors>/<totalSectors> <metadataSectors>`. */
  allocatedSectors: number;
  totalSectors: number;
  metadataSectors: number;
  /** Metadata areas in use (the area being filled included). */
  areas: number;
  usedBytes: number;
  capacityBytes: number;
  /** allocated / total × 100, two decimals. */
  percentUsed: number;
}

/** One exception: origin chunk `oldChunk` lives in COW chunk `newChunk`. */
export interface DmException {
  oldChunk: number;
  newChunk: number;
}

export interface DmSnapshotHeader {
  /** false: magic 0, a new store. */
  initialised: boolean;
  valid: boolean;
  version: number;
  chunkSectors: number;
}

function u32(bytes: Uint8Array, at: number): number {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(at, true);
}

function u64(bytes: Uint8Array, at: number, offset: number): number {
  const value = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getBigUint64(at, true);
  if (value > BigInt(Number.MAX_SAFE_INTEGER)) throw new ParseError('snapshot exception chunk number is impossibly large', offset + at);
  return Number(value);
}

/** The header, or a ParseError when the file is neither a snapshot store nor a new (zeroed) one. */
export async function readDmSnapshotHeader(source: ByteSource): Promise<DmSnapshotHeader> {
  const bytes = await readExact(source, 0, 16, 'snapshot header');
  const magic = u32(bytes, 0);
  if (magic === 0) return { initialised: false, valid: true, version: DM_SNAPSHOT_VERSION, chunkSectors: DRACUT_CHUNK_SECTORS };
  if (magic !== DM_SNAPSHOT_MAGIC) throw new ParseError('not a device-mapper snapshot (no SnAp magic)', 0, 'UNSUPPORTED_IMAGE');
  const version = u32(bytes, 8);
  if (version !== DM_SNAPSHOT_VERSION) {
    throw new ParseError(`snapshot metadata version ${version} is not supported (only ${DM_SNAPSHOT_VERSION})`, 8, 'UNSUPPORTED_IMAGE');
  }
  const chunkSectors = u32(bytes, 12);
  if (chunkSectors === 0 || chunkSectors > MAX_CHUNK_SECTORS || (chunkSectors & (chunkSectors - 1)) !== 0) {
    throw new ParseError(`snapshot chunk size ${chunkSectors} sectors is not a power of two up to ${MAX_CHUNK_SECTORS}`, 12);
  }
  return { initialised: true, valid: u32(bytes, 4) !== 0, version, chunkSectors };
}

/**
 * Walks the exception table as the kernel does when it activates the store; `onException` sees every
 * exception in table order (merge uses it). A new store has none.
 */
export async function readDmSnapshot(source: ByteSource, onException?: (e: DmException) => void): Promise<DmSnapshotUsage> {
  const header = await readDmSnapshotHeader(source);
  const { chunkSectors } = header;
  const chunkBytes = chunkSectors * SECTOR_BYTES;
  const totalSectors = Math.floor(source.size / SECTOR_BYTES);
  const totalChunks = Math.floor(totalSectors / chunkSectors);
  const perArea = chunkBytes / EXCEPTION_BYTES;
  const stride = perArea + 1;
  // The header chunk, then area 0's metadata chunk.
  let nextFree = 2;
  let area = 0;
  let exceptions = 0;
  // An invalid store's table is still read: it says how much was used, and what recover would bring back.
  if (header.initialised) {
    for (;;) {
      const location = 1 + stride * area;
      const offset = location * chunkBytes;
      // An area past the end of the store was never written (the kernel zeroes the next area before use).
      const bytes = offset + chunkBytes <= source.size ? await readExact(source, offset, chunkBytes, `snapshot metadata area ${area}`) : undefined;
      let full = bytes !== undefined;
      for (let i = 0; bytes && i < perArea; i++) {
        const oldChunk = u64(bytes, i * EXCEPTION_BYTES, offset);
        const newChunk = u64(bytes, i * EXCEPTION_BYTES + 8, offset);
        if (newChunk === 0) {
          full = false;
          break;
        }
        if (newChunk >= totalChunks || (newChunk - 1) % stride === 0) {
          throw new ParseError(`snapshot exception ${exceptions} points at chunk ${newChunk}, ${newChunk >= totalChunks ? 'past the end of the store' : 'a metadata chunk'}`,
            offset + i * EXCEPTION_BYTES + 8);
        }
        nextFree = Math.max(nextFree, newChunk + 1);
        exceptions += 1;
        onException?.({ oldChunk, newChunk });
      }
      if (!full) break;
      area += 1;
    }
    // A free chunk that falls on the next area's metadata chunk moves past it (the kernel's skip_metadata).
    if (nextFree % stride === 1) nextFree += 1;
  }
  const allocatedSectors = nextFree * chunkSectors;
  const metadataSectors = (area + 2) * chunkSectors;
  // A zeroed file too small for the header, area 0 and one data chunk is no usable new store: the kernel cannot
  // write its first chunk (or even area 0), so it is overflow like any store without room, not 'new'.
  const state: DmSnapshotState = !header.valid ? 'invalid'
    : totalSectors < (nextFree + 1) * chunkSectors ? 'overflow'
      : !header.initialised ? 'new' : 'valid';
  return {
    type: 'dm-snapshot',
    state,
    valid: header.valid,
    chunkSectors,
    exceptions,
    allocatedSectors,
    totalSectors,
    metadataSectors,
    areas: area + 1,
    usedBytes: allocatedSectors * SECTOR_BYTES,
    capacityBytes: totalSectors * SECTOR_BYTES,
    percentUsed: totalSectors === 0 ? 100 : Math.round((allocatedSectors / totalSectors) * 10_000) / 100,
  };
}

/** What `dmsetup status` prints after the target name and type for this store when it is active. */
export function dmStatusText(usage: DmSnapshotUsage): string {
  if (!usage.valid) return 'Invalid';
  return `${usage.allocatedSectors}/${usage.totalSectors} ${usage.metadataSectors}`;
}

/** The smallest store that can hold anything: header, one metadata area and one data chunk. */
export function minimumDmSnapshotBytes(chunkSectors = DRACUT_CHUNK_SECTORS): number {
  return 3 * chunkSectors * SECTOR_BYTES;
}
