/**
 * What LiveOS persistence needs of the host besides reading bytes: files made, grown and patched in place
 * (each change flushed before it returns), and e2fsprogs for the ext4 images. Paths are absolute.
 */
import type { ChunkCopy } from '../core/persistence/dm-merge.js';
import type { Decompress, ImagePiece } from '../core/persistence/squashfs-reuse.js';
import type { ByteSource } from './byte-source.js';

export interface ClosableByteSource extends ByteSource {
  close(): Promise<void>;
}

/** What one read of a file gives: its length, its SHA-256 (hex) when asked, and a CRC-32 per block when asked. */
export interface FileDigests {
  bytes: number;
  sha256?: string;
  blockCrcs?: number[];
}

export interface PersistenceEntry {
  name: string;
  kind: 'file' | 'directory' | 'other';
  size: number;
}

export interface PersistenceFiles {
  open(path: string): Promise<ClosableByteSource>;
  /** The entries of a folder, or [] when it does not exist. */
  list(dir: string): Promise<PersistenceEntry[]>;
  /** A new file of `size` zero bytes (CONFLICT if it exists), flushed with its folder. */
  createZeroed(path: string, size: number): Promise<void>;
  /** Extends a file with zeros to `size` bytes and flushes it. */
  extend(path: string, size: number): Promise<void>;
  /** Overwrites bytes in place and flushes them. */
  writeAt(path: string, offset: number, bytes: Uint8Array): Promise<void>;
  /** A new small file (CONFLICT if it exists), flushed with its folder. */
  writeNew(path: string, bytes: Uint8Array): Promise<void>;
  /** Renames `from` over `to` (same folder) and flushes the folder. */
  replace(from: string, to: string): Promise<void>;
  /** Removes a file if it is there. */
  remove(path: string): Promise<void>;
  /** Whether a loop device of this system has the file open (an overlay in use must not change). */
  inUse(path: string): Promise<boolean>;
  /** Names of the device-mapper devices stacked on a loop device of this file (dracut's live-rw over an overlay). */
  deviceMapperUsers(path: string): Promise<string[]>;
  /** Free bytes of the filesystem holding `dir`, and its device number (to tell two places share one). */
  space(dir: string): Promise<{ freeBytes: number; device: number }>;
  /** A new private folder inside `parent`. */
  makeWorkDir(parent: string): Promise<string>;
  /** Removes a folder and everything in it. */
  removeTree(path: string): Promise<void>;
  /**
   * Positioned copies from `from` into the existing file `to`, flushed before returning; a copy of zeros onto
   * zeros is skipped so holes stay holes.
   */
  copyChunks(from: string, to: string, copies: readonly ChunkCopy[]): Promise<{ writtenBytes: number; skippedBytes: number }>;
  /** Flushes a file's data and metadata to the medium. */
  sync(path: string): Promise<void>;
  /** SHA-256 (hex) of a file, and how many bytes it holds. */
  hash(path: string): Promise<{ sha256: string; bytes: number }>;
  /** One read of a file: its length, SHA-256 when `sha256`, and a CRC-32 of each `blockBytes` block when given. */
  digest(path: string, want: { sha256: boolean; blockBytes?: number }): Promise<FileDigests>;
  /**
   * A new file (CONFLICT if it exists) made of `pieces` in order: bytes given, or ranges copied from the files
   * `from` names; flushed with its folder. An aborted `signal` stops it within one copy window (BootkeyError
   * CANCELLED), the file left half written for the caller to remove.
   */
  writePieces(path: string, pieces: readonly ImagePiece[], from: Record<'old' | 'changed', string>, signal?: AbortSignal): Promise<void>;
}

/** squashfs-tools on image files (no root, no mount). `inner` is a path inside the image, like LiveOS/rootfs.img. */
export interface SquashfsTools {
  /** Every regular file in the image by its path inside (like LiveOS/rootfs.img), with its size. */
  fileSizes(image: string): Promise<Map<string, number>>;
  /** Extracts one file to `dir`/`inner`, or (inner undefined) the whole image to `dir` (holes kept); an aborted `signal` stops the tool (BootkeyError CANCELLED). */
  extract(image: string, inner: string | undefined, dir: string, signal?: AbortSignal): Promise<void>;
  /**
   * A new image `out` of the tree under `dir` (or of one file), every file owned by root, with this compressor,
   * its options (mksquashfs -X… arguments) and block size. `blocksOnly`: no fragments and uncompressed tables, an
   * image whose data blocks are taken into another one.
   */
  build(dir: string, out: string, options: { compression: string; blockSize: number; compressorArgs?: readonly string[]; blocksOnly?: boolean; signal?: AbortSignal }): Promise<void>;
  /** Decompresses a metadata block of an image of this compressor (gzip, xz, zstd; others an UNSUPPORTED_IMAGE ParseError). */
  decompressor(compression: string): Decompress;
}

export interface Ext4CheckResult {
  /** e2fsck's exit status: 0 clean, 1 errors corrected, 4 errors left, 8+ operational failure. */
  exitCode: number;
  output: string;
}

export interface Ext4Tools {
  /** mkfs.ext4 on a new file of `size` bytes with these empty top-level folders (CONFLICT if it exists). */
  make(path: string, size: number, options: { label: string; directories: readonly string[] }): Promise<void>;
  /** e2fsck -f: `repair` false only looks (-n), true fixes what is safe to fix (-y). */
  check(path: string, repair: boolean): Promise<Ext4CheckResult>;
  /** resize2fs to `size` bytes (the file grows first). */
  resize(path: string, size: number): Promise<void>;
}
