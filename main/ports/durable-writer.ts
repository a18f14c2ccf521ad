/**
 * Writing files onto a key so that what is reported as done is really on the medium: the bytes go under a
 * temporary name in the same directory, are flushed in windows (progress counts flushed bytes only), hashed
 * while written, read back and compared, then renamed into place, and the directory is flushed too.
 * The fs adapter implements it; copy-efi and the multi-ISO key use it.
 */

export interface DurableWriteOptions {
  /** Bytes the data must add up to; more or fewer is an error and nothing is renamed into place. */
  size: number;
  /** Where the bytes live until verified; default `temporaryPathOf(path)` (core/key-manifest). Same directory always. */
  tempPath?: string;
  /** true: an existing file at `path` is replaced by the rename; false (default): CONFLICT if one exists. */
  replace?: boolean;
  /** When known in advance (a file of an image), the hash the written bytes must have. */
  expectedSha256?: string;
  /** Bytes flushed to the medium so far (after each datasync window and at the end), never bytes only cached. */
  onDurable?: (bytes: number) => void;
}

export interface DurableWriteResult {
  bytes: number;
  /** SHA-256 of the bytes written, hex, equal to the hash of the bytes read back. */
  sha256: string;
}

export interface DurableWriter {
  /** Writes `data` to the absolute path `path` as described above. */
  write(path: string, data: AsyncIterable<Uint8Array>, options: DurableWriteOptions): Promise<DurableWriteResult>;
  /** Replaces a small file (a configuration, a manifest) atomically: readers see the old or the new one whole. */
  replaceAtomically(path: string, bytes: Uint8Array): Promise<DurableWriteResult>;
}

