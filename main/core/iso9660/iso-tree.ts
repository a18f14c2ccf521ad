import type { ByteSource } from '../../ports/byte-source.js';
import { readExact } from '../byte-source-reads.js';
import { ParseError } from '../errors.js';
import {
  DEFAULT_READ_FILE_LIMIT, joinPath, normalizePath, notFound, pathComponents, readExtents,
  type FileExtent, type FileSystemTree, type TreeEntry,
} from '../filesystem-tree.js';
import { FLAG_ASSOCIATED, FLAG_MULTI_EXTENT, jolietName, parseDirectoryRecord, plainName, type DirectoryRecord } from './directory-record.js';
import { ISO_SECTOR } from './iso-fields.js';
import { S_IFLNK, S_IFMT, readRockRidge, type ContinuationReader, type SuspVolume } from './rock-ridge.js';

/** Which names the tree shows: Rock Ridge (with POSIX modes and symlinks), Joliet (UCS-2), or plain 8.3. */
export type IsoNaming = 'rock-ridge' | 'joliet' | 'plain';

/** A directory larger than this is refused: real ones are kilobytes, a forged size must not drive an allocation. */
const MAX_DIRECTORY_BYTES = 16 * 1024 * 1024;
/** Deeper than any real tree (Rock Ridge relocates beyond 8), shallow enough to stop a forged chain early. */
const MAX_DEPTH = 128;
/** Directory listings kept in memory, so resolving many paths under one directory reads it once. */
const CACHED_DIRECTORIES = 1024;

interface IsoNode {
  entry: TreeEntry;
  /** File data in the image; empty for directories and symlinks. */
  extents: FileExtent[];
  /** For directories: where the directory's records are. */
  directory?: { block: number; size: number };
  /** Offset of the (first) directory record, for errors. */
  recordOffset: number;
}

/** An ISO 9660 directory hierarchy (primary with or without Rock Ridge, or Joliet) as a FileSystemTree. */
export class IsoTree implements FileSystemTree {
  readonly kind = 'iso9660' as const;
  private readonly cache = new Map<number, IsoNode[]>();
  private readonly rootNode: IsoNode;

  constructor(
    readonly source: ByteSource,
    readonly label: string,
    root: DirectoryRecord,
    private readonly blockSize: number,
    readonly naming: IsoNaming,
    /** SUSP parameters when naming is 'rock-ridge'. */
    private readonly susp?: SuspVolume,
    rootMode?: number,
  ) {
    this.rootNode = {
      entry: { name: '', path: '/', kind: 'directory', size: 0, mode: rootMode, mtime: root.recorded },
      extents: [],
      directory: { block: root.extent + root.extendedAttributeLength, size: root.dataLength },
      recordOffset: root.offset,
    };
  }

  async list(path: string): Promise<TreeEntry[]> {
    const node = await this.resolve(path);
    if (!node?.directory) throw notFound(normalizePath(path), node ? 'not a directory' : 'no such directory');
    return (await this.children(node)).map((child) => child.entry);
  }

  async stat(path: string): Promise<TreeEntry | undefined> {
    return (await this.resolve(path))?.entry;
  }

  async extents(path: string): Promise<FileExtent[]> {
    const node = await this.resolve(path);
    if (node?.entry.kind !== 'file') throw notFound(normalizePath(path), node ? 'not a file' : 'no such file');
    for (const extent of node.extents) {
      if (extent.offset + extent.length > this.source.size) {
        throw new ParseError(`${node.entry.path}: file data lies beyond the end of the image`, node.recordOffset);
      }
    }
    return node.extents;
  }

  async readFile(path: string, maxBytes = DEFAULT_READ_FILE_LIMIT): Promise<Uint8Array> {
    return readExtents(this.source, await this.extents(path), normalizePath(path), maxBytes);
  }

  /** The node at `path`, refusing directory cycles (a directory that contains one of its ancestors). */
  private async resolve(path: string): Promise<IsoNode | undefined> {
    let node = this.rootNode;
    const ancestors = new Set<number>([node.directory?.block ?? -1]);
    for (const name of pathComponents(path)) {
      if (!node.directory) return undefined;
      const child = (await this.children(node)).find((c) => c.entry.name === name);
      if (!child) return undefined;
      if (child.directory) {
        if (ancestors.has(child.directory.block)) {
          throw new ParseError(`directory cycle: ${child.entry.path} is one of its own ancestors`, child.recordOffset);
        }
        if (ancestors.size >= MAX_DEPTH) throw new ParseError(`directory tree deeper than ${MAX_DEPTH} levels`, child.recordOffset);
        ancestors.add(child.directory.block);
      }
      node = child;
    }
    return node;
  }

  private async children(node: IsoNode): Promise<IsoNode[]> {
    const directory = node.directory;
    if (!directory) return [];
    const cached = this.cache.get(directory.block);
    if (cached) return cached.map((child) => ({ ...child, entry: { ...child.entry, path: joinPath(node.entry.path, child.entry.name) } }));
    const children = await this.readDirectory(node.entry.path, directory.block, directory.size, node.recordOffset);
    if (this.cache.size >= CACHED_DIRECTORIES) this.cache.clear();
    this.cache.set(directory.block, children);
    return children;
  }

  private async readDirectory(path: string, block: number, size: number, recordOffset: number): Promise<IsoNode[]> {
    if (size > MAX_DIRECTORY_BYTES) throw new ParseError(`${path}: directory of ${size} bytes is implausibly large`, recordOffset);
    const base = block * this.blockSize;
    const bytes = await readExact(this.source, base, size, `directory ${path}`);
    const nodes: IsoNode[] = [];
    let pending: { first: DirectoryRecord; extents: FileExtent[] } | undefined;
    let at = 0;
    while (at < size) {
      const length = bytes[at] ?? 0;
      if (length === 0) {
        // Records never span sectors: the rest of this sector is zero padding.
        at = (Math.floor(at / ISO_SECTOR) + 1) * ISO_SECTOR;
        continue;
      }
      if ((at % ISO_SECTOR) + length > ISO_SECTOR || at + length > size) {
        throw new ParseError(`${path}: directory record crosses a sector boundary`, base + at);
      }
      const record = parseDirectoryRecord(bytes.subarray(at, at + length), base + at);
      at += length;
      const id = record.identifier;
      if (id.length === 1 && (id[0] === 0 || id[0] === 1)) continue; // '.' and '..'
      if (record.flags & FLAG_ASSOCIATED) continue;
      const extent = this.dataExtent(record);
      if (pending) {
        if (!sameBytes(pending.first.identifier, id)) {
          throw new ParseError(`${path}: multi-extent file ends without its last extent`, record.offset);
        }
        pending.extents.push(extent);
      }
      if (record.flags & FLAG_MULTI_EXTENT) {
        pending ??= { first: record, extents: [extent] };
        continue;
      }
      const first = pending?.first ?? record;
      const extents = pending?.extents ?? [extent];
      pending = undefined;
      const node = await this.node(path, first, extents);
      if (node) nodes.push(node);
    }
    if (pending) throw new ParseError(`${path}: multi-extent file ends without its last extent`, pending.first.offset);
    return nodes;
  }

  private dataExtent(record: DirectoryRecord): FileExtent {
    return { offset: (record.extent + record.extendedAttributeLength) * this.blockSize, length: record.dataLength };
  }

  private async node(parent: string, record: DirectoryRecord, extents: FileExtent[]): Promise<IsoNode | undefined> {
    const rr = this.susp
      ? await readRockRidge(record.systemUse.subarray(this.susp.skip), record.offset + record.length - record.systemUse.length + this.susp.skip, this.continuation)
      : undefined;
    if (rr?.relocated) return undefined; // shown where its CL placeholder is
    const name = this.naming === 'joliet' ? jolietName(record.identifier) : (rr?.name ?? plainName(record.identifier));
    if (name === '' || name === '.' || name === '..' || name.includes('/')) {
      throw new ParseError(`${parent}: impossible file name ${JSON.stringify(name)}`, record.offset + 33);
    }
    const entry: TreeEntry = { name, path: joinPath(parent, name), kind: 'file', size: 0 };
    if (rr?.mode !== undefined) entry.mode = rr.mode & 0o7777;
    const mtime = rr?.mtime ?? record.recorded;
    if (mtime) entry.mtime = mtime;
    if (rr?.childLink !== undefined) {
      entry.kind = 'directory';
      return { entry, extents: [], directory: await this.relocatedDirectory(rr.childLink, record.offset), recordOffset: record.offset };
    }
    if (record.isDirectory) {
      entry.kind = 'directory';
      return { entry, extents: [], directory: { block: record.extent + record.extendedAttributeLength, size: record.dataLength }, recordOffset: record.offset };
    }
    if (rr?.mode !== undefined && (rr.mode & S_IFMT) === S_IFLNK) {
      entry.kind = 'symlink';
      entry.linkTarget = rr.linkTarget ?? '';
      return { entry, extents: [], recordOffset: record.offset };
    }
    const data = extents.filter((extent) => extent.length > 0);
    entry.size = data.reduce((sum, extent) => sum + extent.length, 0);
    return { entry, extents: data, recordOffset: record.offset };
  }

  /** A CL placeholder points at a relocated directory; its own '.' record tells the size. */
  private async relocatedDirectory(block: number, recordOffset: number): Promise<{ block: number; size: number }> {
    const at = block * this.blockSize;
    if (at + 34 > this.source.size) throw new ParseError('Rock Ridge CL points beyond the end of the image', recordOffset);
    const bytes = await this.source.read(at, 255);
    const dot = parseDirectoryRecord(bytes.subarray(0, bytes[0] ?? 0), at);
    return { block, size: dot.dataLength };
  }

  private readonly continuation: ContinuationReader = async (block, offset, length) => {
    const at = block * this.blockSize + offset;
    return { bytes: await readExact(this.source, at, length, 'SUSP continuation area'), at };
  };
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((byte, i) => byte === b[i]);
}
