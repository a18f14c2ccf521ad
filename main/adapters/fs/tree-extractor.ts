import { lstat, mkdir, open, symlink, utimes, chmod } from 'node:fs/promises';
import { join } from 'node:path';
import { BootkeyError } from '../../core/errors.js';
import { walkTree, type FileSystemTree, type TreeEntry } from '../../core/filesystem-tree.js';
import type { ExtractProgress, ExtractSummary } from '../../ports/extract.js';

/** Reads of this size keep the disk busy without holding much memory. */
const CHUNK = 4 * 1024 * 1024;

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
  const directories: TreeEntry[] = [];
  const links: TreeEntry[] = [];
  for (const entry of entries) {
    if (entry.kind === 'directory') {
      await mkdir(outPath(entry));
      directories.push(entry);
      summary.directories += 1;
    } else if (entry.kind === 'symlink') {
      links.push(entry);
    } else {
      await copyFile(tree, entry, outPath(entry), (done) =>
        onProgress?.({ bytesDone: summary.bytes + done, bytesTotal, path: entry.path }));
      summary.bytes += entry.size;
      summary.files += 1;
    }
  }
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

async function copyFile(tree: FileSystemTree, entry: TreeEntry, out: string, progress: (done: number) => void): Promise<void> {
  const extents = await tree.extents(entry.path);
  const handle = await open(out, 'wx');
  try {
    let at = 0;
    for (const extent of extents) {
      if (extent.zero) {
        at += extent.length;
        continue;
      }
      // Read the next chunk while the current one is written.
      let next = tree.source.read(extent.offset, Math.min(CHUNK, extent.length));
      for (let done = 0; done < extent.length;) {
        const bytes = await next;
        if (bytes.length === 0) throw new BootkeyError('MALFORMED_IMAGE', `${entry.path}: file data is cut short`, { path: entry.path });
        done += bytes.length;
        if (done < extent.length) next = tree.source.read(extent.offset + done, Math.min(CHUNK, extent.length - done));
        await handle.write(bytes, 0, bytes.length, at);
        at += bytes.length;
        progress(at);
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
