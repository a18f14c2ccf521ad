import type { ByteSource } from '../../ports/byte-source.js';
import { readExact } from '../byte-source-reads.js';
import { ParseError } from '../errors.js';
import {
  DEFAULT_READ_FILE_LIMIT, joinPath, normalizePath, notFound, pathComponents, readExtents,
  type FileExtent, type FileSystemTree, type TreeEntry,
} from '../filesystem-tree.js';
import { view } from '../iso9660/iso-fields.js';
import { TAG_AED, TAG_EFE, TAG_FE, TAG_FID, TAG_FSD, checkTag, decodeCs0, longAd, udfTimestamp, type LongAd } from './udf-descriptors.js';
import { metadataSpace, readUdfVolume, type PartitionSpace, type UdfVolume } from './udf-volume.js';

const MAX_DIRECTORY_BYTES = 16 * 1024 * 1024;
const MAX_DEPTH = 128;
/** Allocation descriptors of one file, counting continuation blocks: bounds a forged chain. */
const MAX_EXTENTS = 1 << 16;
const MAX_SYMLINK_BYTES = 4096;
const CACHED_DIRECTORIES = 1024;

const FILE_TYPE_DIRECTORY = 4;
const FILE_TYPE_SYMLINK = 12;

/** One file entry (tag 261) or extended file entry (tag 266), with its data as byte ranges of the image. */
interface Icb {
  fileType: number;
  mode: number;
  size: number;
  mtime?: Date;
  extents: FileExtent[];
}

interface UdfNode {
  entry: TreeEntry;
  icb: Icb;
  key: string;
  at: number;
}

export interface UdfImage {
  volume: UdfVolume;
  label: string;
  tree: UdfTree;
}

export async function openUdfImage(source: ByteSource): Promise<UdfImage> {
  const volume = await readUdfVolume(source);
  const tree = new UdfTree(volume);
  await tree.open();
  return { volume, label: volume.label, tree };
}

/** A UDF file set as a FileSystemTree. */
export class UdfTree implements FileSystemTree {
  readonly kind = 'udf' as const;
  readonly source: ByteSource;
  readonly label: string;
  private rootNode?: UdfNode;
  private readonly cache = new Map<string, UdfNode[]>();

  constructor(private readonly volume: UdfVolume) {
    this.source = volume.source;
    this.label = volume.label;
  }

  /** Resolves metadata partitions, then reads the file set descriptor and the root directory's ICB. */
  async open(): Promise<void> {
    const { blockSize, spaces } = this.volume;
    for (const meta of this.volume.metadataMaps) {
      const physical = spaces[meta.reference];
      if (!physical) continue;
      const icb = await this.readIcb(physical, meta.reference, meta.fileLocation, 'metadata file');
      spaces[meta.reference] = metadataSpace(icb.extents, blockSize);
    }
    const fsdAd = this.volume.fileSet;
    const [fsdExtent] = this.space(fsdAd.partition, 0).map(fsdAd.block, blockSize, 0);
    if (!fsdExtent || fsdExtent.zero) throw new ParseError('file set descriptor is not recorded', 0);
    const fsd = await readExact(this.source, fsdExtent.offset, blockSize, 'file set descriptor');
    checkTag(fsd, fsdExtent.offset, [TAG_FSD], fsdAd.block, 'file set descriptor');
    const root = longAd(fsd, 400);
    const icb = await this.readIcb(this.space(root.partition, fsdExtent.offset + 400), root.partition, root.block, '/');
    if (icb.fileType !== FILE_TYPE_DIRECTORY) throw new ParseError('UDF root ICB is not a directory', fsdExtent.offset + 400);
    this.rootNode = { entry: { name: '', path: '/', kind: 'directory', size: 0, mode: icb.mode, mtime: icb.mtime }, icb, key: key(root), at: fsdExtent.offset + 400 };
  }

  async list(path: string): Promise<TreeEntry[]> {
    const node = await this.resolve(path);
    if (node?.entry.kind !== 'directory') throw notFound(normalizePath(path), node ? 'not a directory' : 'no such directory');
    return (await this.children(node)).map((child) => child.entry);
  }

  async stat(path: string): Promise<TreeEntry | undefined> {
    return (await this.resolve(path))?.entry;
  }

  async extents(path: string): Promise<FileExtent[]> {
    const node = await this.resolve(path);
    if (node?.entry.kind !== 'file') throw notFound(normalizePath(path), node ? 'not a file' : 'no such file');
    return node.icb.extents;
  }

  async readFile(path: string, maxBytes = DEFAULT_READ_FILE_LIMIT): Promise<Uint8Array> {
    return readExtents(this.source, await this.extents(path), normalizePath(path), maxBytes);
  }

  private async resolve(path: string): Promise<UdfNode | undefined> {
    if (!this.rootNode) throw new Error('UdfTree.open() was not called');
    let node = this.rootNode;
    const ancestors = new Set([node.key]);
    for (const name of pathComponents(path)) {
      if (node.entry.kind !== 'directory') return undefined;
      const child = (await this.children(node)).find((c) => c.entry.name === name);
      if (!child) return undefined;
      if (child.entry.kind === 'directory') {
        if (ancestors.has(child.key)) throw new ParseError(`directory cycle: ${child.entry.path} is one of its own ancestors`, child.at);
        if (ancestors.size >= MAX_DEPTH) throw new ParseError(`directory tree deeper than ${MAX_DEPTH} levels`, child.at);
        ancestors.add(child.key);
      }
      node = child;
    }
    return node;
  }

  private async children(node: UdfNode): Promise<UdfNode[]> {
    const cached = this.cache.get(node.key);
    if (cached) return cached.map((child) => ({ ...child, entry: { ...child.entry, path: joinPath(node.entry.path, child.entry.name) } }));
    const children = await this.readDirectory(node);
    if (this.cache.size >= CACHED_DIRECTORIES) this.cache.clear();
    this.cache.set(node.key, children);
    return children;
  }

  private async readDirectory(node: UdfNode): Promise<UdfNode[]> {
    const { path } = node.entry;
    if (node.icb.size > MAX_DIRECTORY_BYTES) throw new ParseError(`${path}: directory of ${node.icb.size} bytes is implausibly large`, node.at);
    const data = await readExtents(this.source, node.icb.extents, path, MAX_DIRECTORY_BYTES);
    const firstOffset = node.icb.extents[0]?.offset ?? node.at;
    const nodes: UdfNode[] = [];
    let pos = 0;
    while (pos + 38 <= data.length) {
      const at = firstOffset + pos; // exact for the usual single-extent directory; a hint otherwise
      checkTag(data.subarray(pos, pos + 16), at, [TAG_FID], undefined, `${path}: file identifier`);
      const v = view(data);
      const characteristics = data[pos + 18] ?? 0;
      const nameLength = data[pos + 19] ?? 0;
      const icbAd = longAd(data, pos + 20);
      const useLength = v.getUint16(pos + 36, true);
      const nameStart = pos + 38 + useLength;
      const total = Math.ceil((38 + useLength + nameLength) / 4) * 4;
      if (nameStart + nameLength > data.length) throw new ParseError(`${path}: file identifier overruns its directory`, at);
      pos += total;
      if (characteristics & 0x0c) continue; // deleted (0x04) or the parent entry (0x08)
      const name = decodeCs0(data.subarray(nameStart, nameStart + nameLength), at + 38 + useLength);
      if (name === '' || name === '.' || name === '..' || name.includes('/')) {
        throw new ParseError(`${path}: impossible file name ${JSON.stringify(name)}`, at + 38 + useLength);
      }
      const icb = await this.readIcb(this.space(icbAd.partition, at + 20), icbAd.partition, icbAd.block, joinPath(path, name));
      const entry: TreeEntry = { name, path: joinPath(path, name), kind: 'file', size: icb.size, mode: icb.mode };
      if (icb.mtime) entry.mtime = icb.mtime;
      if (icb.fileType === FILE_TYPE_DIRECTORY) {
        entry.kind = 'directory';
        entry.size = 0;
      } else if (icb.fileType === FILE_TYPE_SYMLINK) {
        entry.kind = 'symlink';
        entry.linkTarget = await this.symlinkTarget(icb, entry.path, at);
        entry.size = 0;
      }
      nodes.push({ entry, icb, key: key(icbAd), at });
    }
    return nodes;
  }

  private space(reference: number, at: number): PartitionSpace {
    const space = this.volume.spaces[reference];
    if (!space) throw new ParseError(`partition reference ${reference} has no partition map`, at);
    return space;
  }

  /** Reads the (extended) file entry at `block` of `space` and turns its allocation descriptors into extents. */
  private async readIcb(space: PartitionSpace, reference: number, block: number, what: string): Promise<Icb> {
    const { blockSize } = this.volume;
    const [extent] = space.map(block, blockSize, 0);
    if (!extent || extent.zero) throw new ParseError(`${what}: file entry is not recorded`, 0);
    const bytes = await readExact(this.source, extent.offset, blockSize, `${what}: file entry`);
    const tag = checkTag(bytes, extent.offset, [TAG_FE, TAG_EFE], block, `${what}: file entry`);
    const v = view(bytes);
    const extended = tag === TAG_EFE;
    const fileType = bytes[27] ?? 0;
    const icbFlags = v.getUint16(34, true);
    const permissions = v.getUint32(44, true);
    const size = Number(v.getBigUint64(56, true));
    const eaLength = v.getUint32(extended ? 208 : 168, true);
    const adLength = v.getUint32(extended ? 212 : 172, true);
    const adStart = (extended ? 216 : 176) + eaLength;
    if (adStart + adLength > blockSize) throw new ParseError(`${what}: allocation descriptors overrun the file entry`, extent.offset + adStart);
    if (!Number.isSafeInteger(size)) throw new ParseError(`${what}: impossible file length`, extent.offset + 56);
    const adType = icbFlags & 0x07;
    let extents: FileExtent[];
    if (adType === 3) {
      if (size > adLength) throw new ParseError(`${what}: embedded data is shorter than the file`, extent.offset + adStart);
      extents = size > 0 ? [{ offset: extent.offset + adStart, length: size }] : [];
    } else {
      extents = await this.allocation(space, reference, bytes.subarray(adStart, adStart + adLength), extent.offset + adStart, adType, what);
      extents = trimTo(extents, size, what, extent.offset + 56);
    }
    return {
      fileType,
      mode: posixMode(permissions, icbFlags),
      size,
      mtime: udfTimestamp(bytes, extended ? 92 : 84),
      extents,
    };
  }

  private async allocation(space: PartitionSpace, reference: number, area: Uint8Array, areaOffset: number, adType: number, what: string): Promise<FileExtent[]> {
    if (adType !== 0 && adType !== 1) throw new ParseError(`${what}: allocation descriptor type ${adType} is not supported`, areaOffset, 'UNSUPPORTED_IMAGE');
    const size = adType === 0 ? 8 : 16;
    const { blockSize } = this.volume;
    const out: FileExtent[] = [];
    const seen = new Set<string>();
    let bytes = area;
    let base = areaOffset;
    let count = 0;
    for (let pos = 0; pos + size <= bytes.length; pos += size) {
      if (++count > MAX_EXTENTS) throw new ParseError(`${what}: more than ${MAX_EXTENTS} allocation descriptors`, base + pos);
      const v = view(bytes);
      const raw = v.getUint32(pos, true);
      const length = raw & 0x3fffffff;
      const type = raw >>> 30;
      if (length === 0) break;
      const block = v.getUint32(pos + 4, true);
      const ref = adType === 0 ? reference : v.getUint16(pos + 8, true);
      const target = adType === 0 ? space : this.space(ref, base + pos);
      if (type === 3) {
        // The descriptors continue in an allocation extent descriptor (tag 258) elsewhere.
        const id = `${ref}:${block}`;
        if (seen.has(id)) throw new ParseError(`${what}: allocation extent descriptors form a loop`, base + pos);
        seen.add(id);
        const [next] = target.map(block, blockSize, base + pos);
        if (!next || next.zero) throw new ParseError(`${what}: allocation extent is not recorded`, base + pos);
        const aed = await readExact(this.source, next.offset, blockSize, `${what}: allocation extent`);
        checkTag(aed, next.offset, [TAG_AED], block, `${what}: allocation extent`);
        const used = view(aed).getUint32(20, true);
        if (24 + used > blockSize) throw new ParseError(`${what}: allocation extent overruns its block`, next.offset + 20);
        bytes = aed.subarray(24, 24 + used);
        base = next.offset + 24;
        pos = -size;
        continue;
      }
      if (type === 0) out.push(...target.map(block, length, base + pos));
      else out.push({ offset: 0, length, zero: true });
    }
    return out;
  }

  private async symlinkTarget(icb: Icb, path: string, at: number): Promise<string> {
    if (icb.size > MAX_SYMLINK_BYTES) throw new ParseError(`${path}: symbolic link of ${icb.size} bytes`, at);
    const data = await readExtents(this.source, icb.extents, path, MAX_SYMLINK_BYTES);
    const parts: string[] = [];
    let absolute = false;
    for (let pos = 0; pos + 4 <= data.length; ) {
      const type = data[pos] ?? 0;
      const length = data[pos + 1] ?? 0;
      const body = data.subarray(pos + 4, pos + 4 + length);
      if (body.length !== length) throw new ParseError(`${path}: symbolic link component overruns its data`, at);
      if (type === 1 || type === 2) {
        absolute = true;
        parts.length = 0;
      } else if (type === 3) parts.push('..');
      else if (type === 4) parts.push('.');
      else if (type === 5) parts.push(decodeCs0(body, at));
      pos += 4 + length;
    }
    return (absolute ? '/' : '') + parts.join('/');
  }
}

function key(ad: LongAd): string {
  return `${ad.partition}:${ad.block}`;
}

/** Extents cover whole blocks; the file is `size` bytes of them. */
function trimTo(extents: FileExtent[], size: number, what: string, at: number): FileExtent[] {
  const out: FileExtent[] = [];
  let left = size;
  for (const extent of extents) {
    if (left === 0) break;
    const length = Math.min(left, extent.length);
    out.push({ ...extent, length });
    left -= length;
  }
  if (left > 0) throw new ParseError(`${what}: allocation descriptors cover less than the file's ${size} bytes`, at);
  return out;
}

/** UDF permissions (other/group/owner × execute, write, read, attr, delete) and ICB setuid/setgid/sticky to st_mode bits. */
function posixMode(permissions: number, icbFlags: number): number {
  const rwx = (shift: number) => (permissions >> shift) & 0x7;
  let mode = (rwx(10) << 6) | (rwx(5) << 3) | rwx(0);
  if (icbFlags & 0x40) mode |= 0o4000;
  if (icbFlags & 0x80) mode |= 0o2000;
  if (icbFlags & 0x100) mode |= 0o1000;
  return mode;
}
