/**
 * Random-access bytes: a file, a block device, a partition inside an image, or an array in a test.
 * Every parser in main/core reads through this, so no image is ever loaded whole into memory.
 */
export interface ByteSource {
  /** Total size in bytes. */
  readonly size: number;
  /**
   * Reads `length` bytes at `offset`. Returns fewer bytes only at the end of the source; never throws for a
   * range past the end (the caller checks the length and reports a ParseError with the offset).
   */
  read(offset: number, length: number): Promise<Uint8Array>;
  /**
   * Optional: reads into `target` (up to its length) at `offset` and resolves with the count, fewer only at the
   * end. Bulk copies use it to reuse one small buffer instead of allocating a fresh one for every chunk.
   */
  readInto?(offset: number, target: Uint8Array): Promise<number>;
}
