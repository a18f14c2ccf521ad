import { ParseError } from '../core/errors.js';
import { gatherBlocks } from '../core/persistence/dm-merge.js';
import { layoutReusedImage, readSingleFileImage, type SingleFileImage } from '../core/persistence/squashfs-reuse.js';
import type { PersistenceFiles, SquashfsTools } from '../ports/persistence-files.js';

export interface ReuseJob {
  /** The old image, read by readSingleFileImage, and the mksquashfs arguments of its compressor options. */
  image: SingleFileImage;
  compressorArgs: string[];
  /** Block numbers of the file that changed (sorted), and the file holding the new content. */
  changed: number[];
  merged: string;
  /** A scratch folder, the old image, and where the new one goes (must not exist). */
  work: string;
  old: string;
  fresh: string;
  /** The new image's time (seconds since 1970). */
  modTime: number;
  signal?: AbortSignal | undefined;
}

/**
 * Writes the new image at `fresh` from the old one's compressed blocks and the `changed` blocks of `merged`, which
 * mksquashfs compresses alone in the work folder (same compressor, options, block size). The number of blocks
 * reused, or why it could not be done (then nothing is at `fresh` and the caller runs mksquashfs on everything).
 */
export async function rebuildReusingBlocks(deps: { files: PersistenceFiles; squashfs: SquashfsTools }, job: ReuseJob): Promise<number | string> {
  const { image, changed } = job;
  const { files, squashfs } = deps;
  const blocks = `${job.work}/blocks`;
  const blocksImage = `${job.work}/blocks.img`;
  let replacement: SingleFileImage | undefined;
  if (changed.length > 0) {
    const copies = gatherBlocks(changed, image.blockSize, image.file.size);
    const bytes = copies.reduce((sum, c) => sum + c.length, 0);
    // The changed blocks and their image (at most a little larger) beside the merged rootfs.img.
    if (2 * bytes + (1 << 20) > (await files.space(job.work)).freeBytes) return `the work folder has no room for the ${changed.length} changed blocks`;
    await files.createZeroed(blocks, bytes);
    await files.copyChunks(job.merged, blocks, copies);
    await squashfs.build(blocks, blocksImage, { compression: image.compression, blockSize: image.blockSize, compressorArgs: job.compressorArgs, blocksOnly: true,
      ...(job.signal ? { signal: job.signal } : {}) });
    await files.remove(blocks);
    const source = await files.open(blocksImage);
    try {
      replacement = await readSingleFileImage(source, ['blocks'], squashfs.decompressor(image.compression));
    } catch (error) {
      if (error instanceof ParseError) return `the image of the changed blocks is not as expected: ${error.message}`;
      throw error;
    } finally {
      await source.close();
    }
    const [want, got] = [image.compressorOptions, replacement.compressorOptions].map((o) => Buffer.from(o ?? []).toString('hex'));
    if (want !== got) return `mksquashfs stored other compressor options (${got || 'none'}) than the old image's (${want || 'none'})`;
  }
  const layout = layoutReusedImage(image, changed, replacement, job.modTime);
  await files.writePieces(job.fresh, layout.pieces, { old: job.old, changed: blocksImage }, job.signal);
  await files.remove(blocksImage);
  return layout.reused;
}
