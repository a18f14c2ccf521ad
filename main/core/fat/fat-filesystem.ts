import type { ByteSource } from '../../ports/byte-source.js';
import { readExact } from '../byte-source-reads.js';
import { BootkeyError, ParseError } from '../errors.js';
import {
  DEFAULT_READ_FILE_LIMIT,
  joinPath,
  normalizePath,
  notFound,
  pathComponents,
  readExtents,
  type FileExtent,
  type FileSystemTree,
  type TreeEntry,
} from '../filesystem-tree.js';
import { formatFatSerial, parseFatBootSector, type FatBootSector, type FatType } from './boot-sector.js';
import { ATTR_DIRECTORY, ENTRY_BYTES, parseDirectory, type FatDirectory, type FatDirectoryEntry } from './directory.js';
import { FatTable } from './fat-table.js';

/** A FAT tree entry with what only FAT has. */
export interface FatEntry extends TreeEntry {
  shortName: string;
  /** DOS attribute bits (read-only 0x01, hidden 0x02, system 0x04, directory 0x10, archive 0x20). */
  attributes: number;
  firstCluster: number;
}

/** The FAT specification's limit: 65,536 entries of 32 bytes in one directory. */
const MAX_DIRECTORY_BYTES = 65536 * ENTRY_BYTES;
const CACHED_DIRECTORIES = 256;
/** Directory key of the fixed FAT12/16 root region (cluster 0 also means "the root" in '..' entries). */
const ROOT_REGION = 0;

/** A read-only FAT12/16/32 volume: the common tree interface, names matched case-insensitively as FAT does. */
export class FatFileSystem implements FileSystemTree {
  readonly kind = 'fat';
  private readonly table: FatTable;
  private readonly directories = new Map<number, FatDirectory>();
  /** The one path each directory was reached by: a second path to it is a cross-link, which could make walks explode. */
  private readonly directoryPaths = new Map<number, string>();
  private readonly rootKey: number;
  private volumeLabel = '';

  private constructor(
    readonly source: ByteSource,
    readonly boot: FatBootSector,
  ) {
    this.table = new FatTable(source, boot);
    this.rootKey = boot.fatType === 'FAT32' ? boot.rootCluster : ROOT_REGION;
  }

  /** Reads and checks the boot sector and the root directory. */
  static async open(source: ByteSource): Promise<FatFileSystem> {
    const boot = parseFatBootSector(await readExact(source, 0, 512, 'FAT boot sector'));
    if (boot.firstDataSector * boot.bytesPerSector > source.size) {
      throw new ParseError('FAT: the data region starts past the end of the image', source.size);
    }
    const volume = new FatFileSystem(source, boot);
    const root = await volume.directory(volume.rootKey, '/');
    const bootLabel = boot.bootLabel === 'NO NAME' ? undefined : boot.bootLabel;
    volume.volumeLabel = root.label ?? bootLabel ?? '';
    return volume;
  }

  /** The root directory's label entry, else the boot sector's label unless it is the "NO NAME" placeholder. */
  get label(): string {
    return this.volumeLabel;
  }

  get fatType(): FatType {
    return this.boot.fatType;
  }

  /** The volume serial as `XXXX-XXXX`: the filesystem UUID that blkid, udev and GRUB show. */
  get uuid(): string | undefined {
    return this.boot.serial === undefined ? undefined : formatFatSerial(this.boot.serial);
  }

  get clusterSize(): number {
    return this.boot.clusterSize;
  }

  /** Bytes the data region can hold in all. */
  get capacity(): number {
    return this.boot.clusterCount * this.boot.clusterSize;
  }

  /** Bytes in free clusters (counted in the FAT itself, not taken from FAT32's FSInfo hint). */
  async freeBytes(): Promise<number> {
    return (await this.table.freeClusters()) * this.boot.clusterSize;
  }

  async list(path: string): Promise<FatEntry[]> {
    const where = normalizePath(path);
    const key = await this.directoryKey(where);
    if (key === undefined) throw notFound(where, 'no such directory');
    return (await this.directory(key, where)).entries.map((entry) => this.treeEntry(where, entry));
  }

  async stat(path: string): Promise<FatEntry | undefined> {
    const names = pathComponents(path);
    if (names.length === 0) {
      return { name: '', path: '/', kind: 'directory', size: 0, shortName: '', attributes: ATTR_DIRECTORY, firstCluster: this.rootKey };
    }
    const parent = `/${names.slice(0, -1).join('/')}`;
    const key = await this.directoryKey(parent);
    if (key === undefined) return undefined;
    const entry = findEntry((await this.directory(key, parent)).entries, names.at(-1)!);
    return entry && this.treeEntry(parent, entry);
  }

  async extents(path: string): Promise<FileExtent[]> {
    const entry = await this.stat(path);
    if (!entry) throw notFound(normalizePath(path));
    if (entry.kind !== 'file') throw notFound(entry.path, 'is a directory');
    return this.fileExtents(entry);
  }

  async readFile(path: string, maxBytes = DEFAULT_READ_FILE_LIMIT): Promise<Uint8Array> {
    const entry = await this.stat(path);
    if (!entry) throw notFound(normalizePath(path));
    if (entry.kind !== 'file') throw notFound(entry.path, 'is a directory');
    if (entry.size > maxBytes) {
      throw new BootkeyError('FILE_TOO_LARGE', `${entry.path} is ${entry.size} bytes, more than ${maxBytes} allowed here`, {
        path: entry.path,
        size: entry.size,
      });
    }
    return readExtents(this.source, await this.fileExtents(entry), entry.path, maxBytes);
  }

  private async fileExtents(entry: FatEntry): Promise<FileExtent[]> {
    if (entry.size === 0) return [];
    const { clusterSize, firstDataSector, bytesPerSector } = this.boot;
    const needed = Math.ceil(entry.size / clusterSize);
    const { runs, clusters } = await this.table.chain(entry.firstCluster, needed, entry.path);
    if (clusters < needed) {
      throw new ParseError(`${entry.path}: its cluster chain holds ${clusters * clusterSize} of its ${entry.size} bytes`, this.table.entryOffset(entry.firstCluster));
    }
    const dataStart = firstDataSector * bytesPerSector;
    let left = entry.size;
    return runs.map((run) => {
      const offset = dataStart + (run.first - 2) * clusterSize;
      const length = Math.min(left, run.count * clusterSize);
      left -= length;
      if (offset + length > this.source.size) throw new ParseError(`${entry.path}: file data lies beyond the end of the image`, offset);
      return { offset, length };
    });
  }

  private treeEntry(directory: string, entry: FatDirectoryEntry): FatEntry {
    const isDirectory = (entry.attributes & ATTR_DIRECTORY) !== 0;
    return {
      name: entry.name,
      path: joinPath(directory, entry.name),
      kind: isDirectory ? 'directory' : 'file',
      size: isDirectory ? 0 : entry.size,
      mtime: entry.mtime,
      shortName: entry.shortName,
      attributes: entry.attributes,
      firstCluster: entry.firstCluster,
    };
  }

  /**
   * The directory key (its first cluster, or ROOT_REGION) for a path, or undefined when a component is missing
   * or not a directory. A directory that is its own ancestor (a cycle) or that a second path also reaches (a
   * cross-link, so walks could grow exponentially) is a ParseError.
   */
  private async directoryKey(path: string): Promise<number | undefined> {
    let key = this.rootKey;
    let where = '/';
    const ancestors = new Set([key]);
    for (const name of pathComponents(path)) {
      const entry = findEntry((await this.directory(key, where)).entries, name);
      if (!entry || !(entry.attributes & ATTR_DIRECTORY)) return undefined;
      // A first cluster of 0 in a directory entry refers to the root, like a '..' entry does.
      key = entry.firstCluster === 0 ? this.rootKey : entry.firstCluster;
      where = joinPath(where, entry.name);
      if (ancestors.has(key)) throw new ParseError(`${where}: directory cycle (it is its own ancestor)`, this.clusterOffset(key));
      ancestors.add(key);
      const seen = this.directoryPaths.get(key);
      if (seen !== undefined && seen !== where) {
        throw new ParseError(`${where}: directory cross-linked with ${seen} (both use cluster ${key})`, this.clusterOffset(key));
      }
      this.directoryPaths.set(key, where);
    }
    return key;
  }

  private async directory(key: number, path: string): Promise<FatDirectory> {
    const cached = this.directories.get(key);
    if (cached) return cached;
    const bytes = await this.directoryBytes(key, path);
    const parsed = parseDirectory(bytes, this.boot.fatType);
    if (this.directories.size >= CACHED_DIRECTORIES) this.directories.clear();
    this.directories.set(key, parsed);
    return parsed;
  }

  private async directoryBytes(key: number, path: string): Promise<Uint8Array> {
    const { bytesPerSector, clusterSize } = this.boot;
    if (key === ROOT_REGION) {
      return readExact(this.source, this.boot.rootDirSector * bytesPerSector, this.boot.rootDirSectors * bytesPerSector, 'FAT root directory');
    }
    const limit = Math.ceil(MAX_DIRECTORY_BYTES / clusterSize);
    const { runs, clusters, complete } = await this.table.chain(key, limit, `directory ${path}`);
    if (!complete) throw new ParseError(`directory ${path} is longer than FAT allows (65536 entries)`, this.clusterOffset(key));
    const bytes = new Uint8Array(clusters * clusterSize);
    let at = 0;
    for (const run of runs) {
      bytes.set(await readExact(this.source, this.clusterOffset(run.first), run.count * clusterSize, `directory ${path}`), at);
      at += run.count * clusterSize;
    }
    return bytes;
  }

  private clusterOffset(cluster: number): number {
    return this.boot.firstDataSector * this.boot.bytesPerSector + (cluster - 2) * this.boot.clusterSize;
  }
}

/** The exact name first, then any case (FAT names are case-insensitive); the 8.3 alias matches too, as on Linux. */
function findEntry(entries: FatDirectoryEntry[], name: string): FatDirectoryEntry | undefined {
  const exact = entries.find((e) => e.name === name);
  if (exact) return exact;
  const folded = name.toUpperCase();
  return entries.find((e) => e.name.toUpperCase() === folded || e.shortName.toUpperCase() === folded);
}
