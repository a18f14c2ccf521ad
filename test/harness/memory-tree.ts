import {
  joinPath, normalizePath, notFound, readExtents, DEFAULT_READ_FILE_LIMIT,
  type FileExtent, type FileSystemTree, type TreeEntry,
} from '../../main/core/filesystem-tree.js';
import { MemoryByteSource } from './memory-byte-source.js';

/**
 * A FileSystemTree built from a list of paths and contents, for unit tests of code that only consumes trees
 * (family detection, copy planning). Directories are implied by the paths; a path ending in '/' is an empty one.
 */
export function memoryTree(files: Record<string, string | Uint8Array>, label = 'TEST'): FileSystemTree {
  const chunks: Uint8Array[] = [];
  const entries = new Map<string, TreeEntry>([['/', { name: '', path: '/', kind: 'directory', size: 0 }]]);
  const extents = new Map<string, FileExtent[]>();
  let offset = 0;
  for (const [rawPath, content] of Object.entries(files)) {
    const isDir = rawPath.endsWith('/');
    const path = normalizePath(rawPath);
    const parts = path.split('/').filter(Boolean);
    for (let i = 1; i < parts.length + (isDir ? 1 : 0); i += 1) {
      const dir = `/${parts.slice(0, i).join('/')}`;
      entries.set(dir, { name: parts[i - 1] ?? '', path: dir, kind: 'directory', size: 0 });
    }
    if (isDir) continue;
    const bytes = typeof content === 'string' ? new TextEncoder().encode(content) : content;
    entries.set(path, { name: parts.at(-1) ?? '', path, kind: 'file', size: bytes.length });
    extents.set(path, [{ offset, length: bytes.length }]);
    chunks.push(bytes);
    offset += bytes.length;
  }
  const all = new Uint8Array(offset);
  let at = 0;
  for (const chunk of chunks) {
    all.set(chunk, at);
    at += chunk.length;
  }
  const source = new MemoryByteSource(all);
  const parentOf = (path: string) => path.slice(0, path.lastIndexOf('/')) || '/';
  return {
    kind: 'iso9660',
    label,
    source,
    async list(path) {
      const dir = normalizePath(path);
      if (entries.get(dir)?.kind !== 'directory') throw notFound(dir);
      return [...entries.values()].filter((e) => e.path !== '/' && parentOf(e.path) === dir && joinPath(dir, e.name) === e.path);
    },
    async stat(path) {
      return entries.get(normalizePath(path));
    },
    async extents(path) {
      const found = extents.get(normalizePath(path));
      if (!found) throw notFound(path);
      return found;
    },
    async readFile(path, maxBytes = DEFAULT_READ_FILE_LIMIT) {
      return readExtents(source, await this.extents(path), path, maxBytes);
    },
  };
}
