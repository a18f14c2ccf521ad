import type { ByteSource } from '../../main/ports/byte-source.js';

/**
 * A ByteSource over bytes in memory, for unit tests of one parser. It counts what the parser read, so a test
 * can check that a reader stays within its budget instead of loading the whole image.
 */
export class MemoryByteSource implements ByteSource {
  /** Bytes handed out so far, and how many reads that took. */
  bytesRead = 0;
  reads = 0;

  constructor(readonly bytes: Uint8Array) {}

  get size(): number {
    return this.bytes.length;
  }

  async read(offset: number, length: number): Promise<Uint8Array> {
    if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0) {
      throw new RangeError(`bad read(${offset}, ${length})`);
    }
    const start = Math.min(offset, this.bytes.length);
    const end = Math.min(offset + length, this.bytes.length);
    this.reads += 1;
    this.bytesRead += end - start;
    // A copy, as a file read would give: a parser must not be able to change the image by writing to it.
    return this.bytes.slice(start, end);
  }

  async readInto(offset: number, target: Uint8Array): Promise<number> {
    const bytes = await this.read(offset, target.length);
    target.set(bytes);
    return bytes.length;
  }
}
