import { createHash } from 'node:crypto';
import { lstat, mkdtemp, readdir, readFile, readlink, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { walkTree, type FileSystemTree } from '../../main/core/filesystem-tree.js';

/** What a test compares about one path: kind, size, content hash, link target and (optionally) mode bits. */
export interface PathSummary {
  kind: 'file' | 'directory' | 'symlink';
  size?: number;
  sha256?: string;
  linkTarget?: string;
  mode?: number;
}

export type TreeSnapshot = Record<string, PathSummary>;

/** A folder on disk (an independent tool's extraction) as a snapshot keyed by '/'-paths. */
export async function snapshotDirectory(root: string, withModes: boolean): Promise<TreeSnapshot> {
  const out: TreeSnapshot = {};
  const visit = async (dir: string, prefix: string) => {
    for (const name of (await readdir(dir)).sort()) {
      const full = join(dir, name);
      const path = `${prefix}/${name}`;
      const info = await lstat(full);
      const mode = withModes ? info.mode & 0o7777 : undefined;
      if (info.isSymbolicLink()) out[path] = { kind: 'symlink', linkTarget: await readlink(full) };
      else if (info.isDirectory()) {
        out[path] = { kind: 'directory', ...(mode === undefined ? {} : { mode }) };
        await visit(full, path);
      } else {
        const sha256 = createHash('sha256').update(await readFile(full)).digest('hex');
        out[path] = { kind: 'file', size: info.size, sha256, ...(mode === undefined ? {} : { mode }) };
      }
    }
  };
  await visit(root, '');
  return out;
}

/** The same snapshot from one of our trees, reading file data through its extents in bounded chunks. */
export async function snapshotTree(tree: FileSystemTree, withModes: boolean): Promise<TreeSnapshot> {
  const out: TreeSnapshot = {};
  for await (const entry of walkTree(tree)) {
    const mode = withModes ? entry.mode : undefined;
    if (entry.kind === 'symlink') out[entry.path] = { kind: 'symlink', linkTarget: entry.linkTarget };
    else if (entry.kind === 'directory') out[entry.path] = { kind: 'directory', ...(mode === undefined ? {} : { mode }) };
    else {
      const hash = createHash('sha256');
      for (const extent of await tree.extents(entry.path)) {
        for (let done = 0; done < extent.length; ) {
          const length = Math.min(4 << 20, extent.length - done);
          hash.update(extent.zero ? new Uint8Array(length) : await tree.source.read(extent.offset + done, length));
          done += length;
        }
      }
      out[entry.path] = { kind: 'file', size: entry.size, sha256: hash.digest('hex'), ...(mode === undefined ? {} : { mode }) };
    }
  }
  return out;
}

/** Runs `body` with a fresh temporary folder, always removed afterwards. */
export async function withTempDir<T>(body: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), 'bootkey-test-'));
  try {
    return await body(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
