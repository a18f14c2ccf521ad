import type { ByteSource } from '../ports/byte-source.js';
import { BootkeyError, ParseError } from './errors.js';

/** One name in a directory of an image's filesystem. */
export interface TreeEntry {
  /** The name a user sees (Rock Ridge, else Joliet, else 8.3 for ISO 9660; the long name for FAT). */
  name: string;
  /** Absolute, '/'-separated, as it would be passed back to `stat`/`list` (root is '/'). */
  path: string;
  kind: 'file' | 'directory' | 'symlink';
  /** Bytes of file data (0 for directories and symlinks where the format has no size for them). */
  size: number;
  /** POSIX mode bits (permissions, setuid/setgid/sticky) where the format records them. */
  mode?: number;
  linkTarget?: string;
  mtime?: Date;
}

/**
 * Where a file's bytes are in the tree's `source`, in file order. `zero` marks a hole (allocated but not
 * recorded, UDF) that reads as `length` zero bytes; its `offset` means nothing.
 */
export interface FileExtent {
  offset: number;
  length: number;
  zero?: boolean;
}

/** A read-only filesystem inside an image (ISO 9660, UDF, FAT), browsed and copied the same way for each. */
export interface FileSystemTree {
  readonly kind: 'iso9660' | 'udf' | 'fat';
  readonly label: string;
  /** What `extents` offsets refer to. */
  readonly source: ByteSource;
  /** The entries of a directory, without '.' and '..'. BootkeyError NOT_FOUND when it does not exist or is not a directory. */
  list(path: string): Promise<TreeEntry[]>;
  /** The entry at `path` ('/' is the root directory), or undefined when nothing has that name. */
  stat(path: string): Promise<TreeEntry | undefined>;
  /** A file's bytes as ranges of `source`, in order, so callers can stream or copy without buffering it. */
  extents(path: string): Promise<FileExtent[]>;
  /** A small file's contents (configurations); FILE_TOO_LARGE above `maxBytes` (default 16 MiB). */
  readFile(path: string, maxBytes?: number): Promise<Uint8Array>;
}

export const DEFAULT_READ_FILE_LIMIT = 16 * 1024 * 1024;

/** Splits a '/'-separated path into names; '', '.' and repeated slashes mean nothing, '..' is refused. */
export function pathComponents(path: string): string[] {
  const names = path.split('/').filter((name) => name !== '' && name !== '.');
  if (names.includes('..')) throw new BootkeyError('INVALID_ARGUMENT', `'..' is not allowed in a path: ${path}`);
  return names;
}

/** The canonical form of `path`: leading '/', no trailing one. */
export function normalizePath(path: string): string {
  return `/${pathComponents(path).join('/')}`;
}

export function joinPath(directory: string, name: string): string {
  return directory === '/' ? `/${name}` : `${directory}/${name}`;
}

export function notFound(path: string, what = 'no such file or directory'): BootkeyError {
  return new BootkeyError('NOT_FOUND', `${path}: ${what}`, { path });
}

/** Reads a file's extents into one array; every implementation's `readFile` is this over its own `extents`. */
export async function readExtents(source: ByteSource, extents: FileExtent[], path: string, maxBytes: number): Promise<Uint8Array> {
  const total = extents.reduce((sum, extent) => sum + extent.length, 0);
  if (total > maxBytes) {
    throw new BootkeyError('FILE_TOO_LARGE', `${path} is ${total} bytes, more than ${maxBytes} allowed here`, { path, size: total });
  }
  const out = new Uint8Array(total);
  let at = 0;
  for (const extent of extents) {
    if (!extent.zero) {
      const bytes = await source.read(extent.offset, extent.length);
      if (bytes.length !== extent.length) {
        throw new ParseError(`${path}: file data lies beyond the end of the image`, extent.offset + bytes.length);
      }
      out.set(bytes, at);
    }
    at += extent.length;
  }
  return out;
}

/** Every entry below `path`, depth first, parents before children. Directory cycles are the reader's job to refuse. */
export async function* walkTree(tree: FileSystemTree, path = '/'): AsyncGenerator<TreeEntry> {
  for (const entry of await tree.list(path)) {
    yield entry;
    if (entry.kind === 'directory') yield* walkTree(tree, entry.path);
  }
}
