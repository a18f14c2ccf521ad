import { ParseError } from './errors.js';
import type { FileSystemTree } from './filesystem-tree.js';

const CHUNK = 4 * 1024 * 1024;

/**
 * A file of an image as a stream of chunks of at most `chunkSize` bytes, read through its extents (holes as
 * zeros), the next read started while the consumer handles the current chunk.
 */
export async function* treeFileChunks(tree: FileSystemTree, path: string, chunkSize = CHUNK): AsyncGenerator<Uint8Array> {
  const ranges: { offset: number; length: number; zero: boolean }[] = [];
  for (const extent of await tree.extents(path)) {
    for (let done = 0; done < extent.length; done += chunkSize) {
      ranges.push({ offset: extent.offset + done, length: Math.min(chunkSize, extent.length - done), zero: extent.zero === true });
    }
  }
  const read = (index: number): Promise<Uint8Array> | undefined => {
    const range = ranges[index];
    if (!range) return undefined;
    const pending = range.zero ? Promise.resolve(new Uint8Array(range.length)) : tree.source.read(range.offset, range.length);
    // A consumer that stops early never awaits the read started for it: that must not be an unhandled rejection.
    pending.catch(() => undefined);
    return pending;
  };
  let next = read(0);
  for (let index = 0; next; index += 1) {
    const bytes = await next;
    const range = ranges[index] as { offset: number; length: number };
    if (bytes.length !== range.length) throw new ParseError(`${path}: file data lies beyond the end of the image`, range.offset + bytes.length);
    next = read(index + 1);
    yield bytes;
  }
}
