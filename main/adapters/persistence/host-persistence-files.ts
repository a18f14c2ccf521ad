import { mkdtemp, open, type FileHandle, readdir, readFile, rename, rm, stat, statfs } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { throwIfCancelled } from '../../core/cancellation.js';
import type { PersistenceEntry, PersistenceFiles } from '../../ports/persistence-files.js';
import { syncDirectory } from '../fs/durable-writer.js';
import { FileByteSource } from '../fs/file-byte-source.js';
import { translateErrno } from '../fs/image-files.js';
import { digestFile, hashFile } from '../fs/file-hash.js';
import { writeAll } from '../fs/positioned-io.js';

async function guarded<T>(path: string, work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    throw translateErrno(error, path);
  }
}

/** Merge copies move at most this much per read/write pair. */
const COPY_WINDOW = 4 << 20;
const ZEROS = Buffer.alloc(COPY_WINDOW);

/** The loop devices (`loop3`) whose backing file is `path`. */
async function loopsOf(path: string): Promise<string[]> {
  const target = resolve(path);
  const found: string[] = [];
  for (const name of (await readdir('/sys/block').catch(() => [] as string[])).filter((n) => n.startsWith('loop'))) {
    const backing = await readFile(`/sys/block/${name}/loop/backing_file`, 'utf8').catch(() => '');
    if (backing.trim() === target) found.push(name);
  }
  return found;
}

/** PersistenceFiles on the host: positioned writes, fdatasync before returning, errno → our codes. */
export const hostPersistenceFiles: PersistenceFiles = {
  open: (path) => guarded(path, () => FileByteSource.open(path)),
  list: (dir) => guarded(dir, async () => {
    const entries = await readdir(dir, { withFileTypes: true }).catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT' || error.code === 'ENOTDIR') return [];
      throw error;
    });
    const out: PersistenceEntry[] = [];
    for (const entry of entries) {
      const info = await stat(resolve(dir, entry.name));
      out.push({ name: entry.name, kind: info.isFile() ? 'file' : info.isDirectory() ? 'directory' : 'other', size: info.size });
    }
    return out;
  }),
  createZeroed: (path, size) => guarded(path, async () => {
    const handle = await open(path, 'wx');
    try {
      // ftruncate: a hole where the filesystem has them, zeros written by the kernel where it has not (FAT).
      await handle.truncate(size);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await syncDirectory(dirname(path));
  }),
  extend: (path, size) => guarded(path, async () => {
    const handle = await open(path, 'r+');
    try {
      const { size: current } = await handle.stat();
      if (size < current) throw new Error(`extend ${path}: ${size} is smaller than ${current}`);
      await handle.truncate(size);
      await handle.sync();
    } finally {
      await handle.close();
    }
  }),
  writeAt: (path, offset, bytes) => guarded(path, async () => {
    const handle = await open(path, 'r+');
    try {
      await writeAll(handle, bytes, offset);
      await handle.datasync();
    } finally {
      await handle.close();
    }
  }),
  writeNew: (path, bytes) => guarded(path, async () => {
    const handle = await open(path, 'wx');
    try {
      await handle.writeFile(bytes);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await syncDirectory(dirname(path));
  }),
  replace: (from, to) => guarded(to, async () => {
    await rename(from, to);
    await syncDirectory(dirname(to));
  }),
  remove: (path) => guarded(path, () => rm(path, { force: true })),
  inUse: (path) => guarded(path, async () => (await loopsOf(path)).length > 0),
  deviceMapperUsers: (path) => guarded(path, async () => {
    const loops = new Set(await loopsOf(path));
    const names: string[] = [];
    if (loops.size === 0) return names;
    for (const dm of (await readdir('/sys/block').catch(() => [] as string[])).filter((n) => n.startsWith('dm-'))) {
      const slaves = await readdir(`/sys/block/${dm}/slaves`).catch(() => [] as string[]);
      if (slaves.some((slave) => loops.has(slave))) names.push((await readFile(`/sys/block/${dm}/dm/name`, 'utf8')).trim());
    }
    return names;
  }),
  space: (dir) => guarded(dir, async () => {
    const [fs, info] = await Promise.all([statfs(dir), stat(dir)]);
    return { freeBytes: fs.bavail * fs.bsize, device: info.dev };
  }),
  makeWorkDir: (parent) => guarded(parent, () => mkdtemp(join(parent, 'bootkey-merge-'))),
  removeTree: (path) => guarded(path, () => rm(path, { recursive: true, force: true })),
  copyChunks: (from, to, copies) => guarded(to, async () => {
    const source = await open(from, 'r');
    const target = await open(to, 'r+');
    const buffer = Buffer.alloc(COPY_WINDOW);
    const existing = Buffer.alloc(COPY_WINDOW);
    let writtenBytes = 0;
    let skippedBytes = 0;
    try {
      for (const copy of copies) {
        for (let done = 0; done < copy.length;) {
          const length = Math.min(COPY_WINDOW, copy.length - done);
          const { bytesRead } = await source.read(buffer, 0, length, copy.cowOffset + done);
          if (bytesRead !== length) throw new Error(`${from} ends inside chunk data at ${copy.cowOffset + done}`);
          const data = buffer.subarray(0, length);
          // Zeros over zeros (a hole, or a block the origin had zeroed) change nothing: leave it unwritten.
          if (data.equals(ZEROS.subarray(0, length))) {
            const { bytesRead: had } = await target.read(existing, 0, length, copy.originOffset + done);
            if (had === length && existing.subarray(0, length).equals(data)) {
              skippedBytes += length;
              done += length;
              continue;
            }
          }
          await writeAll(target, data, copy.originOffset + done);
          writtenBytes += length;
          done += length;
        }
      }
      await target.datasync();
    } finally {
      await source.close();
      await target.close();
    }
    return { writtenBytes, skippedBytes };
  }),
  sync: (path) => guarded(path, async () => {
    const handle = await open(path, 'r+');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  }),
  hash: (path) => guarded(path, () => hashFile(path)),
  digest: (path, want) => guarded(path, () => digestFile(path, want)),
  writePieces: (path, pieces, from, signal) => guarded(path, async () => {
    const old = await open(from.old, 'r');
    let changed: FileHandle | undefined;
    let target: FileHandle | undefined;
    const buffer = Buffer.alloc(COPY_WINDOW);
    let at = 0;
    const write = async (into: FileHandle, bytes: Uint8Array) => {
      await writeAll(into, bytes, at);
      at += bytes.length;
    };
    try {
      target = await open(path, 'wx');
      for (const piece of pieces) {
        if ('bytes' in piece) {
          await write(target, piece.bytes);
          continue;
        }
        const source = piece.from === 'old' ? old : (changed ??= await open(from.changed, 'r'));
        for (let done = 0; done < piece.length;) {
          throwIfCancelled(signal, 'writing the new image was stopped: cancelled');
          const length = Math.min(COPY_WINDOW, piece.length - done);
          const { bytesRead } = await source.read(buffer, 0, length, piece.offset + done);
          if (bytesRead !== length) throw new Error(`${from[piece.from]} ends at ${piece.offset + done + bytesRead}, inside the bytes to copy`);
          await write(target, buffer.subarray(0, length));
          done += length;
        }
      }
      await target.sync();
    } finally {
      await Promise.all([target?.close(), old.close(), changed?.close()]);
    }
    await syncDirectory(dirname(path));
  }),
};
