import { createHash } from 'node:crypto';
import { open, rename, stat, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';
import { BootkeyError } from '../../core/errors.js';
import { temporaryPathOf } from '../../core/key-manifest.js';
import type { DurableWriteOptions, DurableWriteResult, DurableWriter } from '../../ports/durable-writer.js';
import { translateErrno } from './image-files.js';

/** Bytes between two fdatasync calls: the most progress can run ahead of what is on the medium. */
export const SYNC_WINDOW = 32 * 1024 * 1024;
const READ_CHUNK = 4 * 1024 * 1024;

/**
 * The DurableWriter on the host's filesystem.
 *
 * What "verified" means here: after the last fdatasync the file is read back through a new descriptor and
 * hashed. Node cannot drop the page cache (no posix_fadvise) and O_DIRECT needs aligned buffers Node does not
 * promise, so the read-back may be served from the cache: it proves that the bytes the kernel holds for the
 * file, and has just flushed, are the bytes of the source — it catches a wrong read of the source, a short or
 * misplaced write and a filesystem that dropped data, but not a medium that silently stores garbage. Reading
 * the medium itself needs a remount (the UML tests do that with mtools after unmounting).
 */
export function hostDurableWriter(syncWindow = SYNC_WINDOW): DurableWriter {
  return {
    async write(path, data, options) {
      try {
        return await writeDurably(path, data, options, syncWindow);
      } catch (error) {
        throw translateErrno(error, path);
      }
    },
    async replaceAtomically(path, bytes) {
      try {
        return await writeDurably(path, oneChunk(bytes), { size: bytes.length, replace: true }, syncWindow);
      } catch (error) {
        throw translateErrno(error, path);
      }
    },
  };
}

async function* oneChunk(bytes: Uint8Array): AsyncGenerator<Uint8Array> {
  yield bytes;
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(() => true, (error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return false;
    throw error;
  });
}

async function writeDurably(path: string, data: AsyncIterable<Uint8Array>, options: DurableWriteOptions,
  syncWindow: number): Promise<DurableWriteResult> {
  const temp = options.tempPath ?? temporaryPathOf(path);
  if (dirname(temp) !== dirname(path)) throw new Error(`durable write: ${temp} is not beside ${path}`);
  if (!options.replace && (await exists(path))) {
    throw new BootkeyError('CONFLICT', `${path} already exists`, { path });
  }
  // A leftover of an interrupted write of ours is replaced; 'w' truncates it.
  const handle = await open(temp, 'w');
  const hash = createHash('sha256');
  let written = 0;
  let synced = 0;
  try {
    try {
      for await (const chunk of data) {
        if (written + chunk.length > options.size) {
          throw new BootkeyError('IO_ERROR', `${path}: the source gave more than the ${options.size} bytes expected`, { path });
        }
        hash.update(chunk);
        for (let at = 0; at < chunk.length;) {
          const { bytesWritten } = await handle.write(chunk, at, chunk.length - at, written + at);
          at += bytesWritten;
        }
        written += chunk.length;
        if (written - synced >= syncWindow) {
          await handle.datasync();
          synced = written;
          options.onDurable?.(synced);
        }
      }
      if (written !== options.size) {
        throw new BootkeyError('IO_ERROR', `${path}: the source gave ${written} bytes, ${options.size} expected`, { path });
      }
      await handle.datasync();
      synced = written;
    } finally {
      await handle.close();
    }
    const sha256 = hash.digest('hex');
    const readBack = await hashFile(temp);
    if (readBack !== sha256 || (options.expectedSha256 !== undefined && sha256 !== options.expectedSha256)) {
      throw new BootkeyError('IO_ERROR', `${path}: the bytes read back differ from the bytes written`, { path, sha256, readBack });
    }
    // rename(2) replaces silently: check again right before it (another writer in between is not guarded against).
    if (!options.replace && (await exists(path))) {
      throw new BootkeyError('CONFLICT', `${path} appeared while it was being written`, { path });
    }
    await rename(temp, path);
    await syncPath(dirname(path));
    // vfat's rename writes the new entry with no clusters and size 0 and leaves the real ones to the inode's
    // writeback: until the file itself is synced, a pulled key shows an empty file over lost (or, when it
    // replaced a file, freed and reused) clusters. Directory first: a pull in between loses clusters, never
    // cross-links them under two names.
    await syncPath(path);
    options.onDurable?.(synced);
    return { bytes: written, sha256 };
  } catch (error) {
    // The temporary file is ours; remove it when we can (a pulled key cannot, and undo finds it by name).
    await unlink(temp).catch(() => undefined);
    throw error;
  }
}

/** fsync(2) by path: a directory's entries (a rename), or a file's data and its directory entry. */
export async function syncPath(path: string): Promise<void> {
  const handle = await open(path, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

export async function hashFile(path: string): Promise<string> {
  const handle = await open(path, 'r');
  try {
    const hash = createHash('sha256');
    const buffer = new Uint8Array(READ_CHUNK);
    for (let at = 0; ;) {
      const { bytesRead } = await handle.read(buffer, 0, buffer.length, at);
      if (bytesRead === 0) break;
      hash.update(buffer.subarray(0, bytesRead));
      at += bytesRead;
    }
    return hash.digest('hex');
  } finally {
    await handle.close();
  }
}

/** Flushes a directory's entries (a rename) to the medium. */
export const syncDirectory = syncPath;
