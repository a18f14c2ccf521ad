import type { SquashfsTools } from '../../ports/persistence-files.js';
import { inflateSync } from 'node:zlib';
import { BootkeyError, ParseError } from '../../core/errors.js';
import { mustSucceed, runToolBytes } from '../run-tool.js';

const PACKAGE = 'squashfs-tools';
/** unsquashfs's data and fragment queues, MB each: room for 32 blocks of the largest size (1 MiB). */
const EXTRACT_QUEUE_MB = 32;

/** `unsquashfs -lln` line: mode, uid/gid, size, date, time, path under squashfs-root. */
const LISTING_LINE = /^-\S+ \S+\s+(\d+) \d{4}-\d\d-\d\d \d\d:\d\d squashfs-root\/(.+)$/;

/** unsquashfs / mksquashfs on image files: no root, no loop device, no mount. */
export const squashfsTools: SquashfsTools = {
  async fileSizes(image) {
    const listing = await mustSucceed('unsquashfs', ['-lln', image], PACKAGE);
    const sizes = new Map<string, number>();
    for (const line of listing.split('\n')) {
      const match = LISTING_LINE.exec(line);
      if (match) sizes.set(match[2] as string, Number(match[1]));
    }
    return sizes;
  },
  async extract(image, inner, dir, signal) {
    // -d must not exist yet: unsquashfs makes it (and keeps holes: sparse files by default). Its default data and
    // fragment caches (256 MB each) fill with blocks already written: with 32 MB each, a 1 GiB rootfs.img came
    // out in 1.0–1.3 s instead of 2.5–3.9 s under UML (1 GiB of memory), the same bytes.
    await mustSucceed('unsquashfs', ['-q', '-n', '-da', String(EXTRACT_QUEUE_MB), '-fr', String(EXTRACT_QUEUE_MB), '-d', dir, image, ...(inner === undefined ? [] : [inner])], PACKAGE, signal);
  },
  async build(dir, out, { compression, blockSize, compressorArgs = [], blocksOnly = false, signal }) {
    await mustSucceed('mksquashfs', [dir, out, '-noappend', '-all-root', '-no-progress', '-quiet', '-comp', compression, ...compressorArgs,
      '-b', String(blockSize), ...(blocksOnly ? ['-no-fragments', '-noI', '-no-xattrs'] : [])], PACKAGE, signal);
  },
  decompressor(compression) {
    if (compression === 'gzip') {
      return async (bytes) => {
        try {
          return inflateSync(bytes);
        } catch (error) {
          throw new ParseError(`a gzip metadata block does not inflate: ${(error as Error).message}`, 0);
        }
      };
    }
    // squashfs-tools stores each xz or zstd block as a whole .xz stream or zstd frame, which the tools read.
    const tool = ({ xz: ['xz', 'xz-utils'], zstd: ['zstd', 'zstd'] } as Record<string, [string, string]>)[compression];
    if (!tool) return async () => { throw new ParseError(`reading ${compression} metadata is not supported`, 0, 'UNSUPPORTED_IMAGE'); };
    const [program, packageName] = tool;
    return async (bytes) => {
      const result = await runToolBytes(program, ['-dcq'], packageName, bytes).catch((error: unknown) => {
        // Without the tool the merge compresses everything with mksquashfs instead: a reason, not a failure.
        if (error instanceof BootkeyError && error.code === 'MISSING_TOOL') throw new ParseError(error.message, 0, 'UNSUPPORTED_IMAGE');
        throw error;
      });
      if (result.exitCode !== 0) throw new ParseError(`${program} could not decompress a metadata block: ${result.stderr.trim().slice(-200)}`, 0);
      return result.stdout;
    };
  },
};
