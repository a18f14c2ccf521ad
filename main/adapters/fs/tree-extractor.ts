import { lstat, mkdir, open, symlink, utimes, chmod } from 'node:fs/promises';
import { join } from 'node:path';
import { BootkeyError } from '../../core/errors.js';
import { walkTree, type FileSystemTree, type TreeEntry } from '../../core/filesystem-tree.js';
import { inParallel } from '../../core/in-parallel.js';
import type { ExtractProgress, ExtractSummary } from '../../ports/extract.js';

/**
 * Reads of this size, into two buffers reused for the whole file, stay in the CPU cache between the read and the
 * write and cost no page faults; a fresh 4 MiB buffer per read was slower (npm run bench:inspect).
 */
const CHUNK = 256 * 1024;
/**
 * Files copied at once: reads and writes run on libuv's thread pool, so two copies in flight keep both cores of
 * a small machine busy with the kernel's page copies, and small files' open/chmod/utimes/close overlap.
 */
const COPIES_IN_FLIGHT = 2;

/**
 * Copies `path` of `tree` (a file or a whole directory) to `dest` on the host. Names come from an untrusted
 * image, so every name is checked, files are created exclusively (an existing file, or a symlink planted by an
 * earlier entry, is never written through), and symlinks are made last, after every file is written. Modes are
 * kept without setuid, setgid and sticky bits.
 */
export async function extractTree(
  tree: FileSystemTree,
  path: string,
  dest: string,
  onProgress?: (progress: ExtractProgress) => void,
): Promise<ExtractSummary> {
  const top = await tree.stat(path);
  if (!top) throw new BootkeyError('NOT_FOUND', `${path}: no such file or directory in the image`, { path });
  const entries: TreeEntry[] = [];
  let outPath: (entry: TreeEntry) => string;
  if (top.kind === 'directory') {
    for await (const entry of walkTree(tree, top.path)) entries.push(entry);
    outPath = (entry) => join(dest, ...relativeNames(top.path, entry.path));
    await mkdir(dest, { recursive: true });
  } else {
    entries.push(top);
    // A single file extracted into an existing directory lands inside it, as cp does.
    const into = (await isDirectory(dest)) ? join(dest, ...relativeNames(parentOf(top.path), top.path)) : dest;
    outPath = () => into;
  }

  const summary: ExtractSummary = { files: 0, directories: 0, symlinks: 0, bytes: 0 };
  const bytesTotal = entries.reduce((sum, e) => sum + (e.kind === 'file' ? e.size : 0), 0);
  const directories = entries.filter((e) => e.kind === 'directory');
  const files = entries.filter((e) => e.kind === 'file');
  const links = entries.filter((e) => e.kind === 'symlink');
  // Parents come before children in the walk, so every folder exists before any file is copied into it.
  for (const dir of directories) {
    await mkdir(outPath(dir));
    summary.directories += 1;
  }
  let copied = 0;
  await inParallel(files, COPIES_IN_FLIGHT, async (entry) => {
    await copyFile(tree, entry, outPath(entry), (bytes) => {
      copied += bytes;
      onProgress?.({ bytesDone: copied, bytesTotal, path: entry.path });
    });
    summary.bytes += entry.size;
    summary.files += 1;
  });
  for (const link of links) {
    await symlink(link.linkTarget ?? '', outPath(link));
    summary.symlinks += 1;
  }
  // Deepest first, so a read-only directory is made read-only after its contents are in place.
  for (const dir of directories.reverse()) await applyMeta(outPath(dir), dir);
  return summary;
}

function parentOf(path: string): string {
  return path.slice(0, path.lastIndexOf('/')) || '/';
}

/** The names of `path` below `base`, each checked: an image must not be able to write outside `dest`. */
function relativeNames(base: string, path: string): string[] {
  const rest = base === '/' ? path.slice(1) : path.slice(base.length + 1);
  const names = rest.split('/');
  for (const name of names) {
    if (name === '' || name === '.' || name === '..' || name.includes('\0')) {
      throw new BootkeyError('MALFORMED_IMAGE', `the image has an unsafe file name: ${JSON.stringify(path)}`, { path });
    }
  }
  return names;
}

async function isDirectory(path: string): Promise<boolean> {
  try {
    return (await lstat(path)).isDirectory();
  } catch {
    return false;
  }
}

async function copyFile(tree: FileSystemTree, entry: TreeEntry, out: string, progress: (bytes: number) => void): Promise<void> {
  const extents = await tree.extents(entry.path);
  const handle = await open(out, 'wx');
  try {
    const { source } = tree;
    // Two buffers reused for the whole file (when the source can read into them): one is read while the other is written.
    const buffers = source.readInto ? [new Uint8Array(CHUNK), new Uint8Array(CHUNK)] : undefined;
    const readChunk = async (offset: number, length: number, turn: number): Promise<Uint8Array> => {
      const buffer = buffers?.[turn % 2];
      if (!buffer || !source.readInto) return source.read(offset, length);
      return buffer.subarray(0, await source.readInto(offset, buffer.subarray(0, length)));
    };
    let at = 0;
    for (const extent of extents) {
      if (extent.zero) {
        at += extent.length;
        continue;
      }
      let turn = 0;
      let next = readChunk(extent.offset, Math.min(CHUNK, extent.length), turn);
      for (let done = 0; done < extent.length;) {
        const bytes = await next;
        if (bytes.length === 0) throw new BootkeyError('MALFORMED_IMAGE', `${entry.path}: file data is cut short`, { path: entry.path });
        done += bytes.length;
        if (done < extent.length) next = readChunk(extent.offset + done, Math.min(CHUNK, extent.length - done), ++turn);
        await handle.write(bytes, 0, bytes.length, at);
        at += bytes.length;
        progress(bytes.length);
      }
    }
    await handle.truncate(entry.size);
  } finally {
    await handle.close();
  }
  await applyMeta(out, entry);
}

async function applyMeta(out: string, entry: TreeEntry): Promise<void> {
  if (entry.mode !== undefined) await chmod(out, entry.mode & 0o777);
  if (entry.mtime && !Number.isNaN(entry.mtime.getTime())) await utimes(out, entry.mtime, entry.mtime);
}
