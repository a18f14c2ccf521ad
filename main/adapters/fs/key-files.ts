import { mkdir, open, readdir, rename, rmdir, stat, statfs, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';
import { BootkeyError } from '../../core/errors.js';
import type { KeyFiles, PathKind } from '../../ports/key-files.js';
import { syncDirectory } from './durable-writer.js';
import { hashFile } from './file-hash.js';
import { translateErrno } from './image-files.js';
import { readFull } from './positioned-io.js';

async function guarded<T>(path: string, work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    throw translateErrno(error, path);
  }
}

function missingAs<T>(value: T) {
  return (error: NodeJS.ErrnoException): T => {
    if (error.code === 'ENOENT' || error.code === 'ENOTDIR') return value;
    throw error;
  };
}

/** KeyFiles on the host's filesystem, errno translated into our codes. */
export const hostKeyFiles: KeyFiles = {
  kind: (path) => guarded(path, async (): Promise<PathKind> => {
    const info = await stat(path).catch(missingAs(undefined));
    if (!info) return 'missing';
    if (info.isFile()) return 'file';
    if (info.isDirectory()) return 'directory';
    return info.isBlockDevice() ? 'block-device' : 'other';
  }),
  size: (path) => guarded(path, async () => {
    const info = await stat(path).catch(missingAs(undefined));
    return info?.isFile() ? info.size : undefined;
  }),
  names: (path) => guarded(path, () => readdir(path)),
  makeDirectory: (path) => guarded(path, async () => {
    try {
      await mkdir(path);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
      throw error;
    }
    await syncDirectory(dirname(path));
    return true;
  }),
  rename: (from, to) => guarded(to, async () => {
    await rename(from, to);
    await syncDirectory(dirname(to));
    if (dirname(from) !== dirname(to)) await syncDirectory(dirname(from));
    // The moved entry's clusters and size reach a vfat medium only with the file's own sync (durable-writer.ts).
    await syncDirectory(to);
  }),
  removeFile: (path) => guarded(path, async () => {
    const removed = await unlink(path).then(() => true, missingAs(false));
    if (removed) await syncDirectory(dirname(path));
  }),
  removeEmptyDirectory: (path) => guarded(path, async () => {
    const names = await readdir(path).catch(missingAs(undefined));
    if (!names || names.length > 0) return false;
    await rmdir(path);
    await syncDirectory(dirname(path));
    return true;
  }),
  readSmallFile: (path, maxBytes) => guarded(path, async () => {
    const handle = await open(path, 'r').catch(missingAs(undefined));
    if (!handle) return undefined;
    try {
      const { size } = await handle.stat();
      // A file the key's owner (or damage) made huge is an expected failure, typed like readFile's in core.
      if (size > maxBytes) throw new BootkeyError('FILE_TOO_LARGE', `${path} is ${size} bytes, more than ${maxBytes} allowed here`, { path, size });
      const bytes = new Uint8Array(size);
      return bytes.subarray(0, await readFull(handle, bytes, 0));
    } finally {
      await handle.close();
    }
  }),
  sha256: (path) => guarded(path, async () => (await hashFile(path)).sha256),
  allocationUnit: (path) => guarded(path, async () => (await statfs(path)).bsize),
  deviceNumber: (path) => guarded(path, async () => (await stat(path)).dev),
};
