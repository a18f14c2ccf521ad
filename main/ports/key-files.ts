/**
 * The files of a mounted key (or any folder) as the copy and undo services need them: everything except
 * writing file data, which goes through the DurableWriter. Paths are absolute host paths.
 */

export type PathKind = 'file' | 'directory' | 'block-device' | 'other' | 'missing';

export interface KeyFiles {
  /** What is at `path` (symlinks followed: a mount point given as a link is still a folder). */
  kind(path: string): Promise<PathKind>;
  /** Size of a file, undefined when there is none. */
  size(path: string): Promise<number | undefined>;
  /** The names in a directory as stored (a FAT key keeps the case the user gave). */
  names(path: string): Promise<string[]>;
  /** Creates one directory; false when it already existed. */
  makeDirectory(path: string): Promise<boolean>;
  /** Renames within the filesystem and flushes both directories. */
  rename(from: string, to: string): Promise<void>;
  /** Removes a file and flushes its directory; a missing file is not an error. */
  removeFile(path: string): Promise<void>;
  /** Removes a directory only when empty; true when removed. */
  removeEmptyDirectory(path: string): Promise<boolean>;
  /** A small file's bytes, or undefined when missing. */
  readSmallFile(path: string, maxBytes: number): Promise<Uint8Array | undefined>;
  /** SHA-256 (hex) of a file's contents. */
  sha256(path: string): Promise<string>;
  /** The filesystem's allocation unit in bytes (statfs block size: the cluster size on FAT). */
  allocationUnit(path: string): Promise<number>;
  /** st_dev of the filesystem holding `path` (to refuse a source image that lives on the target). */
  deviceNumber(path: string): Promise<number>;
}
