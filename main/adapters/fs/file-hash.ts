import { createHash } from 'node:crypto';
import { open } from 'node:fs/promises';
import { crc32 } from 'node:zlib';
import type { FileDigests } from '../../ports/persistence-files.js';
import { runTool } from '../run-tool.js';

/** Reads (and zeros hashed) this much at a time. */
const WINDOW = 4 << 20;
const ZEROS = new Uint8Array(WINDOW);

/** `filefrag -e` header: `File size of NAME is SIZE (N blocks of UNIT bytes)`. */
const HEADER = /^File size of .* is (\d+) \(\d+ blocks? of (\d+) bytes\)$/m;
/** One extent: `  1:     2560..    3327:   27206144..  27206911:    768:       2560: last,eof` (expected and flags may be blank). */
const EXTENT = /^\s*\d+:\s+(\d+)\.\.\s*(\d+):\s+\d+\.\.\s*\d+:\s+\d+:\s*(?:\d+:\s*)?(\S*)$/;
/** Extents whose bytes are not simply where the map says (data in the inode, not yet placed): the map is not used. */
const UNMAPPED_FLAGS = /inline|not_aligned|unknown|delalloc|encoded/;

interface Range {
  start: number;
  end: number;
}

/**
 * The byte ranges of `path` that hold data (everything else is a hole and reads as zeros), from the kernel's
 * extent map (FIEMAP, through e2fsprogs' filefrag, after it syncs the file), or undefined when there is no map
 * to trust (a filesystem without FIEMAP, a size that changed, an extent of an unusual kind, any unexpected line).
 */
async function dataRanges(path: string, size: number): Promise<Range[] | undefined> {
  const result = await runTool('filefrag', ['-e', '-s', '--', path], 'e2fsprogs').catch(() => undefined);
  if (!result || result.exitCode !== 0) return undefined;
  const header = HEADER.exec(result.stdout);
  if (!header || Number(header[1]) !== size) return undefined;
  const unit = Number(header[2]);
  const lines = result.stdout.slice((header.index ?? 0) + header[0].length).split('\n').map((l) => l.trimEnd()).filter((l) => l !== '');
  if (!/^ext:\s+logical_offset:/.test(lines.shift()?.trim() ?? '') || !/: \d+ extents? found$/.test(lines.pop() ?? '')) return undefined;
  const ranges: Range[] = [];
  for (const line of lines) {
    const extent = EXTENT.exec(line);
    if (!extent || UNMAPPED_FLAGS.test(extent[3] as string)) return undefined;
    const start = Number(extent[1]) * unit;
    const end = Math.min(size, (Number(extent[2]) + 1) * unit);
    if (start < end) ranges.push({ start, end });
  }
  ranges.sort((a, b) => a.start - b.start);
  const merged: Range[] = [];
  for (const range of ranges) {
    const last = merged[merged.length - 1];
    if (last && range.start <= last.end) last.end = Math.max(last.end, range.end);
    else merged.push({ ...range });
  }
  return merged;
}

/**
 * SHA-256 of a file and its length. A file with fewer blocks than its size has holes: then only where it holds
 * data is read, and the holes are hashed as the zeros they read as, from memory. A merge hashes a 1 GiB
 * rootfs.img that is mostly holes twice; under UML reading a hole costs nearly what reading data does (the kernel
 * fills page after page with zeros), hashing zeros a fraction. Any other file (an ISO, a file of a FAT key, a
 * block device), or one without an extent map, is read to its end, without running filefrag.
 */
export async function hashFile(path: string): Promise<{ sha256: string; bytes: number }> {
  const { sha256, bytes } = await digestFile(path, { sha256: true });
  return { sha256: sha256 as string, bytes };
}

/**
 * hashFile's read, giving the SHA-256 and/or CRC-32s of fixed-size blocks (a merge compares a rootfs.img's
 * squashfs blocks before and after, to find the ones that changed).
 */
export async function digestFile(path: string, want: { sha256: boolean; blockBytes?: number }): Promise<FileDigests> {
  const handle = await open(path, 'r');
  try {
    const stats = await handle.stat();
    const { size } = stats;
    const ranges = stats.isFile() && stats.blocks * 512 < size ? await dataRanges(path, size) : undefined;
    const hash = want.sha256 ? createHash('sha256') : undefined;
    const blockBytes = want.blockBytes;
    const blockCrcs: number[] = [];
    let crc = 0;
    let at = 0;
    const update = (bytes: Uint8Array) => {
      hash?.update(bytes);
      if (!blockBytes) return;
      for (let done = 0; done < bytes.length;) {
        const inBlock: number = (at + done) % blockBytes;
        const take = Math.min(bytes.length - done, blockBytes - inBlock);
        crc = crc32(bytes.subarray(done, done + take), crc);
        done += take;
        if (inBlock + take === blockBytes) {
          blockCrcs.push(crc);
          crc = 0;
        }
      }
    };
    const result = () => {
      if (blockBytes && at % blockBytes !== 0) blockCrcs.push(crc);
      return { bytes: at, ...(hash ? { sha256: hash.digest('hex') } : {}), ...(blockBytes ? { blockCrcs } : {}) };
    };
    const buffer = new Uint8Array(WINDOW);
    if (!ranges) {
      // stat's size is 0 for a block device: read until the end, whatever the size
      for (let got = -1; got !== 0; at += got) {
        got = (await handle.read(buffer, 0, WINDOW, at)).bytesRead;
        update(buffer.subarray(0, got));
      }
      return result();
    }
    const zerosUpTo = (end: number) => {
      while (at < end) {
        const length = Math.min(WINDOW, end - at);
        update(ZEROS.subarray(0, length));
        at += length;
      }
    };
    for (const { start, end } of ranges) {
      zerosUpTo(start);
      while (at < end) {
        const { bytesRead } = await handle.read(buffer, 0, Math.min(WINDOW, end - at), at);
        if (bytesRead === 0) throw new Error(`${path} ended at ${at} while it was hashed (${size} bytes when it began)`);
        update(buffer.subarray(0, bytesRead));
        at += bytesRead;
      }
    }
    zerosUpTo(size);
    return result();
  } finally {
    await handle.close();
  }
}
