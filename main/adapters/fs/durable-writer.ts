import { spawn, type ChildProcessByStdio } from 'node:child_process';
import { createHash, type Hash } from 'node:crypto';
import { constants } from 'node:fs';
import { open, readFile, rename, stat, statfs, unlink, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { crc32 } from 'node:zlib';
import { throwIfCancelled } from '../../core/cancellation.js';
import { BootkeyError } from '../../core/errors.js';
import { temporaryPathOf } from '../../core/key-manifest.js';
import type { DurableBatch, DurableWriteOptions, DurableWriteResult, DurableWriter } from '../../ports/durable-writer.js';
import { runTool, TOOL_ENV } from '../run-tool.js';
import { threadPoolSize } from '../thread-pool.js';
import { translateErrno } from './image-files.js';
import { readFull, writeAll } from './positioned-io.js';

/**
 * Bytes per flush window. One window is flushed while the next is written (at most one outstanding), so
 * reported progress trails the bytes handed over by at most two windows and a chunk (goal: ≤ 64 MiB); every
 * flush costs a journal commit or a FAT write and a device cache flush, so fewer is faster.
 */
export const SYNC_WINDOW = 24 * 1024 * 1024;
/** statfs(2) f_type of vfat and of exFAT (linux/magic.h). */
const MSDOS_SUPER_MAGIC = 0x4d44;
const EXFAT_SUPER_MAGIC = 0x2011bab0;
/**
 * Windows of a large file on a FAT-family filesystem (hostLargeFileWriter): about this many seconds of writing,
 * at most this many bytes; on vfat flushed with one syncfs(2) instead of a datasync. There a datasync writes each
 * FAT sector the window allocated as a write command of its own (~96 per 24 MiB of 4 KiB clusters: 48 sectors of
 * each FAT copy) besides the directory entry and a device cache flush; syncfs writes the FAT as the block device's
 * pages, in large commands, as `sync` does. vfat's syncfs sends no cache flush: USB sticks mostly declare no write
 * cache, and the commit's fsyncs flush one before anything is renamed into place or reported done.
 * A 1.2 GB ISO onto a FAT32 key paced like a USB stick (scsi_debug in UML, one command at a time), against cp +
 * sync of the same ISO (~9,870 write commands): write commands, and the time from the copy's first byte to
 * durable over cp + sync's (the best of three in a bench run):
 *   datasync, 24 MiB windows: 14,470              datasync, 2 s windows: 12,300–13,000, 1.29×
 *   syncfs, 24 MiB windows:   ~10,030, 1.22×      syncfs, 2 s windows:   ~9,850, 1.03–1.14× (three bench runs)
 * So short windows still cost time there, and two seconds keeps progress moving on a slow key. Elsewhere a
 * flush is cheap and large windows only delay the last one (ext4 on the host: slower).
 */
export const LARGE_WINDOW: WindowLimits = { seconds: 2, max: 256 * 1024 * 1024, filesystems: [MSDOS_SUPER_MAGIC, EXFAT_SUPER_MAGIC],
  syncfs: [MSDOS_SUPER_MAGIC] };
export const READ_CHUNK = 4 * 1024 * 1024;
/**
 * One direct read of the read-back: 15 of 512 KiB in flight read a virtio disk 1.4× faster than dd's one of 4 MiB.
 * Less on a device that takes less per command (see sliceFor).
 */
const READ_SLICE = 512 * 1024;
/** O_DIRECT wants buffer, offset and length aligned to the logical block size: 4096 covers 512 and 4Kn. */
const DIRECT_ALIGN = 4096;
/**
 * A window of more files than this is flushed with one syncfs(2) (`sync -f`) instead of a datasync per file:
 * on vfat every fsync also writes the FAT and flushes the device's cache, so many small files cost many flushes.
 */
const DATASYNCS_PER_WINDOW = 8;
/**
 * Closing a file written on a vfat mounted with `flush` (udisks' default) sleeps 100 ms in the kernel: small
 * files are closed as soon as written, many at a time in the background, so that neither the copy nor a cancel
 * waits for hundreds of them in a row. Each close holds a thread of libuv's pool: four are left for the copy's
 * reads and writes (see adapters/thread-pool). A window of many is flushed by syncfs.
 */
function closesInFlight(): number {
  return Math.max(3, threadPoolSize() - 4);
}
/** Files read back at once. */
const READERS = 3;
const WASM_PAGE = 64 * 1024;
/**
 * The read-back is compared with what was written as one CRC-32 per block of this many bytes, computed on both
 * sides. CRC-32 runs at ~5 GB/s here where SHA-256 runs at 1.5: a SHA-256 of the read-back made it 3× slower
 * than `dd iflag=direct` on a fast disk. A difference anywhere in a block escapes with odds of 2^-32, and the
 * first differing block says where.
 */
const CHECK_BLOCK = 1024 * 1024;

/**
 * The DurableWriter on the host's filesystem.
 *
 * What "verified" means here: once every window is flushed, each file is read back with O_DIRECT — from the
 * medium, not the page cache (after a datasync the cached pages are clean, and a direct read never looks at
 * them) — and compared block by block (CHECK_BLOCK) with checks computed while its bytes were written. Node gives no aligned buffers; the memory
 * of a WebAssembly.Memory is page-aligned (V8 reserves it with the page allocator), so direct reads go into
 * it. Where the filesystem refuses O_DIRECT (tmpfs before Linux 6.6, some FUSE), the read-back goes through
 * the cache and the result says 'page-cache'.
 *
 * A window ends after `syncWindow` bytes; with `longer` (on the filesystems it names), every window after the
 * first only once it also took `longer.seconds` to write or reached `longer.max` bytes: the first durable mark
 * still comes early, showing that the key takes the writes.
 */
export function hostDurableWriter(syncWindow = SYNC_WINDOW, longer?: WindowLimits): DurableWriter {
  const writer: DurableWriter = {
    batch: (options = {}) => new HostBatch(syncWindow, longer, options.signal),
    async write(path, data, options) {
      const batch = new HostBatch(syncWindow, longer, options.signal);
      try {
        await batch.add(path, data, options);
        const [result] = await batch.commit();
        return result as DurableWriteResult;
      } catch (error) {
        await batch.discard();
        throw translateErrno(error, path);
      }
    },
    replaceAtomically: (path, bytes) => writer.write(path, oneChunk(bytes), { size: bytes.length, replace: true }),
  };
  return writer;
}

export interface WindowLimits {
  seconds: number;
  max: number;
  /** statfs(2) f_type of the filesystems these apply on; all when absent. */
  filesystems?: number[];
  /** statfs(2) f_type of those whose windows are flushed by one syncfs(2) (see LARGE_WINDOW), not a datasync per file. */
  syncfs?: number[];
}

/** For files of hundreds of MiB (ISOs): on FAT, fewer flushes and progress in steps of about LARGE_WINDOW.seconds. */
export function hostLargeFileWriter(): DurableWriter {
  return hostDurableWriter(SYNC_WINDOW, LARGE_WINDOW);
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

function cancelled(signal: AbortSignal | undefined): void {
  throwIfCancelled(signal, 'cancelled: the files being written were removed');
}

interface Staged {
  path: string;
  temp: string;
  options: Omit<DurableWriteOptions, 'signal'>;
  handle?: FileHandle;
  device: number;
  hash: Hash;
  /** CRC-32 of each CHECK_BLOCK of the bytes written. */
  checks: BlockChecks;
  written: number;
  durable: number;
  complete: boolean;
  renamed: boolean;
  sha256?: string;
  readBack: DurableWriteResult['readBack'];
}

class HostBatch implements DurableBatch {
  private readonly files: Staged[] = [];
  /** The files written to since the last window ended (a Set keeps their order). */
  private window = new Set<Staged>();
  private windowBytes = 0;
  /** When the current window's writing began (performance.now()). */
  private windowStart = 0;
  private firstWindowEnded = false;
  /** Every window flushed by syncfs, however few files it has (see WindowLimits.syncfs). */
  private syncfsOnly = false;
  /** The newest window's flush: at most one is outstanding while the next window is written. */
  private flushed: Promise<void> = Promise.resolve();
  private readonly closing = new Set<Promise<void>>();
  private closeError: unknown;
  private readonly syncer = new Syncer();
  private readonly closesInFlight = closesInFlight();

  /** The window's limits; `longer` applies once the first file's filesystem is known to be one it names. */
  private limits: { min: number; seconds: number; max: number };

  constructor(min: number, private readonly longer: WindowLimits | undefined, private readonly signal: AbortSignal | undefined) {
    this.limits = { min, seconds: 0, max: min };
  }

  async add(path: string, data: AsyncIterable<Uint8Array>, options: Omit<DurableWriteOptions, 'signal'>): Promise<void> {
    // errno becomes our codes here (ENOSPC → NOT_ENOUGH_SPACE, EIO → IO_ERROR), as for `write`.
    await this.addFile(path, data, options).catch((error: unknown) => {
      throw translateErrno(error, path);
    });
  }

  async commit(beforeRename?: () => Promise<void>): Promise<DurableWriteResult[]> {
    return this.commitFiles(beforeRename).catch((error: unknown) => {
      throw translateErrno(error, dirname(this.files[0]?.path ?? '/'));
    }).finally(() => this.syncer.close());
  }

  private async addFile(path: string, data: AsyncIterable<Uint8Array>, options: Omit<DurableWriteOptions, 'signal'>): Promise<void> {
    cancelled(this.signal);
    const temp = options.tempPath ?? temporaryPathOf(path);
    if (dirname(temp) !== dirname(path)) throw new Error(`durable write: ${temp} is not beside ${path}`);
    const file: Staged = { path, temp, options, device: 0, hash: createHash('sha256'), checks: new BlockChecks(), written: 0, durable: 0,
      complete: false, renamed: false, readBack: 'medium' };
    // In the list before the first await: adds running at once keep the order of their calls.
    this.files.push(file);
    if (!options.replace && (await exists(path))) {
      throw new BootkeyError('CONFLICT', `${path} already exists`, { path });
    }
    // A leftover of an interrupted write of ours is replaced; 'w' truncates it.
    file.handle = await open(temp, 'w');
    file.device = (await file.handle.stat()).dev;
    if (this.longer && this.files[0] === file) await this.chooseLimits(dirname(temp), this.longer);
    for await (const chunk of data) {
      cancelled(this.signal);
      if (file.written + chunk.length > options.size) {
        throw new BootkeyError('IO_ERROR', `${path}: the source gave more than the ${options.size} bytes expected`, { path });
      }
      // Hash while the write is in flight (the thread pool copies, this thread hashes).
      const writing = writeAll(file.handle, chunk, file.written);
      file.hash.update(chunk);
      file.checks.update(chunk);
      await writing;
      // The kernel has its own copy now: the chunk's memory can hold the next one.
      options.release?.(chunk);
      file.written += chunk.length;
      this.windowStart ||= performance.now(); // the first window; endWindow starts the others
      this.window.add(file);
      this.windowBytes += chunk.length;
      if (this.windowFull()) await this.endWindow();
    }
    if (file.written !== options.size) {
      throw new BootkeyError('IO_ERROR', `${path}: the source gave ${file.written} bytes, ${options.size} expected`, { path });
    }
    file.sha256 = file.hash.digest('hex');
    file.checks.end();
    file.complete = true;
    if (file.written < this.limits.min || file.durable === file.written) await this.closeInBackground(file);
  }

  private async commitFiles(beforeRename?: () => Promise<void>): Promise<DurableWriteResult[]> {
    await this.endWindow();
    await this.flushed;
    await Promise.all(this.closing);
    if (this.closeError) throw this.closeError;
    // Every byte is durable: now each file is read back from the medium, after the writes rather than between
    // them, so that the reads never hold up the copy (a device serves one at a time) and no chunk waits in memory.
    // Both sides' block checks are compared (see CHECK_BLOCK); the SHA-256 is of the bytes as written.
    await this.verify();
    cancelled(this.signal);
    await beforeRename?.();
    // rename(2) replaces silently: check every name right before the first rename.
    for (const file of this.files) {
      if (!file.options.replace && (await exists(file.path))) {
        throw new BootkeyError('CONFLICT', `${file.path} appeared while it was being written`, { path: file.path });
      }
    }
    for (const file of this.files) {
      await rename(file.temp, file.path);
      file.renamed = true;
    }
    // vfat's rename writes the new entry with no clusters and size 0 and leaves the real ones to the inode's
    // writeback: until the file itself is synced, a pulled key shows an empty file over lost (or, when it
    // replaced a file, freed and reused) clusters. Directories first: a pull in between loses clusters, never
    // cross-links them under two names.
    await Promise.all([...new Set(this.files.map((f) => dirname(f.path)))].map(syncPath));
    if (this.files.length > DATASYNCS_PER_WINDOW) await this.syncer.syncFilesystems(this.files.map((f) => ({ dir: dirname(f.path), device: f.device })));
    else await Promise.all(this.files.map((f) => syncPath(f.path)));
    return this.files.map((f) => ({ bytes: f.written, sha256: f.sha256 as string, readBack: f.readBack }));
  }

  async discard(): Promise<void> {
    await this.flushed.catch(() => undefined);
    this.syncer.close();
    await Promise.all([...this.closing, ...this.files.map((f) => this.close(f).catch(() => undefined))]);
    // The temporary files are ours; remove them when we can (a pulled key cannot, and undo finds them by name).
    for (const file of this.files) if (!file.renamed) await unlink(file.temp).catch(() => undefined);
  }

  private async close(file: Staged): Promise<void> {
    const { handle } = file;
    file.handle = undefined;
    await handle?.close();
  }

  /** Closes a file without waiting for it, at most closesInFlight() at once; a failure surfaces at commit. */
  private async closeInBackground(file: Staged): Promise<void> {
    while (this.closing.size >= this.closesInFlight) await Promise.race(this.closing);
    const closing: Promise<void> = this.close(file).catch((error: unknown) => {
      this.closeError ??= error;
    }).finally(() => this.closing.delete(closing));
    this.closing.add(closing);
  }

  private async chooseLimits(dir: string, longer: WindowLimits): Promise<void> {
    const { type } = await statfs(dir);
    if (longer.filesystems && !longer.filesystems.includes(type)) return;
    this.limits = { ...this.limits, seconds: longer.seconds, max: longer.max };
    this.syncfsOnly = longer.syncfs?.includes(type) ?? false;
  }

  private windowFull(): boolean {
    const { min, seconds, max } = this.limits;
    if (this.windowBytes < min) return false;
    return this.windowBytes >= max || !this.firstWindowEnded || performance.now() - this.windowStart >= seconds * 1000;
  }

  /**
   * Queues the flush of the window written so far behind the previous one, and waits for the previous one:
   * one flush runs while the next window is written. Chained, not assigned after the wait, so that two adds
   * ending windows at once never leave a flush that commit does not wait for.
   */
  private async endWindow(): Promise<void> {
    // What each file had written when the window ended: a flush that starts later covers at least that.
    const marks = new Map([...this.window].map((file) => [file, file.written]));
    this.firstWindowEnded ||= marks.size > 0;
    this.window = new Set();
    this.windowBytes = 0;
    const previous = this.flushed;
    if (marks.size > 0) {
      this.flushed = previous.then(() => {
        cancelled(this.signal);
        return this.flush(marks);
      });
      // Awaited by the next window or by commit/discard; a failure must not surface as unhandled before that.
      this.flushed.catch(() => undefined);
    }
    await previous;
    // The next window's writing starts now: waiting for the flush is not writing time.
    this.windowStart = performance.now();
    cancelled(this.signal);
  }

  private async flush(marks: Map<Staged, number>): Promise<void> {
    const files = [...marks.keys()];
    // A few files' closed ones are synced by path: the syncer's first call forks this process, and then every pooled page faults again (copy-on-write).
    if (files.length > DATASYNCS_PER_WINDOW || this.syncfsOnly) {
      await this.syncer.syncFilesystems(files.map((f) => ({ dir: dirname(f.temp), device: f.device })));
    } else await Promise.all(files.map((f) => f.handle?.datasync() ?? syncPath(f.temp)));
    for (const [file, mark] of marks) {
      file.durable = Math.max(file.durable, mark);
      file.options.onDurable?.(file.durable);
      if (file.complete && file.durable === file.written && file.handle) await this.closeInBackground(file);
    }
  }

  /** Reads every file back and compares its block checks, a few files at once: a small file's read is mostly waiting on the device. */
  private async verify(): Promise<void> {
    let next = 0;
    const reader = async (buffer: Uint8Array) => {
      for (let file = this.files[next++]; file; file = this.files[next++]) {
        cancelled(this.signal);
        const { onVerified } = file.options;
        onVerified?.(0);
        const back = await checksFromMedium(file.temp, buffer, file.readBack === 'medium', this.signal, onVerified);
        file.readBack = back.readBack;
        const written = file.checks.blocks;
        const differs = written.findIndex((check, i) => back.blocks[i] !== check);
        if (differs >= 0 || back.bytes !== file.written) {
          const at = differs >= 0 ? `in the MiB from byte ${differs * CHECK_BLOCK}` : `${back.bytes} bytes read of ${file.written}`;
          throw new BootkeyError('IO_ERROR', `${file.path}: the bytes read back from the key differ from the bytes written (${at}); `
            + 'the key may be failing or smaller than it claims', { path: file.path, ...(differs >= 0 && { offset: differs * CHECK_BLOCK }) });
        }
      }
    };
    const buffers = Array.from({ length: Math.min(READERS, this.files.length) }, () => alignedBuffer(2 * READ_CHUNK));
    await Promise.all(buffers.map(reader));
  }
}

/** CRC-32 of each CHECK_BLOCK of a stream of bytes, the last block possibly shorter. */
export class BlockChecks {
  readonly blocks: number[] = [];
  private crc = 0;
  private filled = 0;

  update(bytes: Uint8Array): void {
    for (let at = 0; at < bytes.length;) {
      const take = Math.min(CHECK_BLOCK - this.filled, bytes.length - at);
      this.crc = crc32(bytes.subarray(at, at + take), this.crc);
      this.filled += take;
      at += take;
      if (this.filled === CHECK_BLOCK) this.end();
    }
  }

  /** Closes a partly filled last block. */
  end(): void {
    if (this.filled > 0) this.blocks.push(this.crc);
    this.crc = 0;
    this.filled = 0;
  }
}

/**
 * The block checks and length of a file as read back from the medium: O_DIRECT into `buffer` (page-aligned, a
 * multiple of READ_SLICE long) unless `direct` is false or the filesystem refuses it (EINVAL at open or at the
 * first read), then through the page cache, and says which. `onBytes` hears the bytes read so far.
 */
export async function checksFromMedium(path: string, buffer: Uint8Array, direct = true, signal?: AbortSignal,
  onBytes?: (bytes: number) => void): Promise<{ blocks: number[]; bytes: number; readBack: DurableWriteResult['readBack'] }> {
  const refused = (error: NodeJS.ErrnoException) => {
    if (error.code === 'EINVAL') return undefined;
    throw error;
  };
  if (direct) {
    const handle = await open(path, constants.O_RDONLY | constants.O_DIRECT).catch(refused);
    if (handle) {
      try {
        const read = await readThrough(handle, buffer, await deviceSlice(handle), signal, onBytes).catch(refused);
        if (read) return { ...read, readBack: 'medium' };
      } finally {
        await handle.close();
      }
    }
  }
  const handle = await open(path, 'r');
  try {
    return { ...(await readThrough(handle, buffer, READ_SLICE, signal, onBytes)), readBack: 'page-cache' };
  } finally {
    await handle.close();
  }
}

/**
 * The read-back's slice on a device that takes at most `maxKiB` per command (the disk's max_sectors_kb): the
 * largest multiple of that up to READ_SLICE, so that no slice ends in a short command. usb-storage takes 120 KiB:
 * 512 KiB is five commands where 480 KiB is four, and a stick serves one command at a time.
 */
export function sliceFor(maxKiB: number): number {
  const max = maxKiB * 1024;
  if (!(max >= DIRECT_ALIGN) || max % DIRECT_ALIGN !== 0 || max >= READ_SLICE) return READ_SLICE;
  return Math.floor(READ_SLICE / max) * max;
}

/** sliceFor the disk under an open file, from sysfs; READ_SLICE where there is none (tmpfs, FUSE) or the file fits in one. */
async function deviceSlice(handle: FileHandle): Promise<number> {
  const { dev, size } = await handle.stat({ bigint: true });
  if (size <= READ_SLICE) return READ_SLICE;
  // glibc's dev_t layout; /sys/dev/block/MAJ:MIN is the partition, whose queue is its disk's, one level up.
  const major = ((dev >> 8n) & 0xfffn) | ((dev >> 32n) & ~0xfffn);
  const minor = (dev & 0xffn) | ((dev >> 12n) & ~0xffn);
  for (const queue of ['queue', '../queue']) {
    const text = await readFile(`/sys/dev/block/${major}:${minor}/${queue}/max_sectors_kb`, 'utf8').catch(() => '');
    if (text) return sliceFor(Number(text.trim()));
  }
  return READ_SLICE;
}

/**
 * Reads ahead through the buffer's slices (`slice` bytes each, all but one in flight) to the end of the file: the
 * device always has requests queued while this thread computes the checks, so the read-back keeps up with
 * `dd iflag=direct`, which has one at a time.
 */
async function readThrough(handle: FileHandle, buffer: Uint8Array, slice: number, signal: AbortSignal | undefined,
  onBytes?: (bytes: number) => void): Promise<{ blocks: number[]; bytes: number }> {
  const slices = Math.max(2, Math.floor(buffer.length / slice));
  const size = Math.min(slice, buffer.length / slices - ((buffer.length / slices) % DIRECT_ALIGN));
  const into = (i: number) => buffer.subarray((i % slices) * size, (i % slices) * size + size);
  const checks = new BlockChecks();
  const pending = new Map<number, Promise<number>>();
  let end = Infinity;
  const start = (i: number) => {
    if (i * size >= end) return;
    const p = readFull(handle, into(i), i * size);
    p.catch(() => undefined); // awaited in turn; a failure after an earlier one must not go unhandled
    pending.set(i, p);
  };
  try {
    for (let i = 0; i < slices - 1; i += 1) start(i);
    let bytes = 0;
    for (let i = 0; pending.has(i); i += 1) {
      const got = await (pending.get(i) as Promise<number>);
      pending.delete(i);
      if (got < size) end = Math.min(end, i * size + got); // the end of the file: nothing further is read
      else start(i + slices - 1);
      cancelled(signal);
      if (got === 0) continue; // a read started past the end
      checks.update(into(i).subarray(0, got));
      bytes += got;
      onBytes?.(bytes);
    }
    checks.end();
    return { blocks: checks.blocks, bytes };
  } finally {
    await Promise.all([...pending.values()].map((p) => p.catch(() => undefined)));
  }
}

/** Node's global WebAssembly, which the ES2022 library types do not declare. */
const { Memory } = (globalThis as unknown as { WebAssembly: { Memory: new (size: { initial: number }) => { buffer: ArrayBuffer } } }).WebAssembly;

/** `length` bytes at a page-aligned address (see hostDurableWriter). */
export function alignedBuffer(length: number): Uint8Array {
  return new Uint8Array(new Memory({ initial: Math.ceil(length / WASM_PAGE) }).buffer, 0, length);
}

/**
 * syncfs(2) (coreutils `sync -f DIR`) for one batch, without a fork per call: Node has no syncfs, and spawning
 * `sync -f` forks this whole process (~70 ms here, and every pooled page faults again afterwards). The first call
 * starts one small shell that runs `sync -f` for each directory it reads; `close` ends it.
 */
export class Syncer {
  private shell?: Shell;

  /** Once per filesystem: the data and metadata of many files in one flush. */
  async syncFilesystems(places: { dir: string; device: number }[]): Promise<void> {
    const byDevice = new Map(places.map((p) => [p.device, p.dir]));
    await Promise.all([...byDevice.values()].map((dir) => this.sync(dir)));
  }

  close(): void {
    this.shell?.child.stdin.end();
    this.shell = undefined;
  }

  private sync(dir: string): Promise<void> {
    if (dir.includes('\n')) return syncOnce(dir); // the shell reads one directory per line
    const shell = this.shell ?? this.start();
    hold(shell.child, true);
    return new Promise((resolve, reject) => {
      shell.waiting.push({ dir, resolve, reject });
      shell.child.stdin.write(`${dir}\n`);
    });
  }

  private start(): Shell {
    // The directory is data on stdin, never part of the script.
    const child = spawn('sh', ['-c', 'while IFS= read -r d; do if sync -f -- "$d" 2>/dev/null; then echo ok; else echo failed; fi; done'],
      { stdio: ['pipe', 'pipe', 'ignore'], env: TOOL_ENV });
    // Each shell answers its own calls, in order: one closed while a new one starts must not answer the new one's.
    const shell: Shell = { child, waiting: [] };
    this.shell = shell;
    let output = '';
    child.stdin.on('error', () => undefined); // a shell gone is reported below, for every call waiting
    child.stdout.setEncoding('utf8').on('data', (text: string) => {
      output += text;
      for (let end = output.indexOf('\n'); end >= 0; end = output.indexOf('\n')) {
        const line = output.slice(0, end);
        output = output.slice(end + 1);
        const call = shell.waiting.shift();
        if (shell.waiting.length === 0) hold(child, false);
        // A failure is run once more on its own, for the error's words.
        if (call) void (line === 'ok' ? Promise.resolve() : syncOnce(call.dir)).then(call.resolve, call.reject);
      }
    });
    const gone = (why: string) => {
      if (this.shell === shell) this.shell = undefined;
      for (const call of shell.waiting.splice(0)) {
        call.reject(new BootkeyError('IO_ERROR', `${call.dir}: flushing to the medium failed: ${why}`, { path: call.dir }));
      }
    };
    child.on('error', (error) => gone(String(error)));
    child.on('close', (code) => gone(`the sync process ended (${code})`));
    return shell;
  }
}

interface Shell {
  child: ChildProcessByStdio<Writable, Readable, null>;
  waiting: { dir: string; resolve: () => void; reject: (error: unknown) => void }[];
}

/** An idle shell must not keep this process alive (a caller that never commits or discards); a busy one must. */
function hold(child: Shell['child'], busy: boolean): void {
  for (const handle of [child, child.stdout as unknown as { ref(): void; unref(): void }]) {
    if (busy) handle.ref();
    else handle.unref();
  }
}

/** syncfs(2) by spawning `sync -f DIR`. */
async function syncOnce(dir: string): Promise<void> {
  const { exitCode, output } = await runTool('sync', ['-f', '--', dir], 'coreutils');
  if (exitCode !== 0) throw new BootkeyError('IO_ERROR', `${dir}: flushing to the medium failed: ${output || `status ${exitCode}`}`, { path: dir });
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

/** Flushes a directory's entries (a rename) to the medium. */
export const syncDirectory = syncPath;
