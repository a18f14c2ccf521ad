/**
 * Writing files onto a key so that what is reported as done is really on the medium: the bytes go under a
 * temporary name in the same directory, are flushed in windows (progress counts flushed bytes only), hashed
 * while written; once all are durable each is read back from the medium (not the page cache) and compared with
 * what was written, then they are renamed into place, and the renames are flushed too. A batch does this for many files with one flush per window and one for all the
 * renames, instead of several per file. The fs adapter implements it; copy-efi and the multi-ISO key use it.
 */

export interface DurableWriteOptions {
  /** Bytes the data must add up to; more or fewer is an error and nothing is renamed into place. */
  size: number;
  /** Where the bytes live until verified; default `temporaryPathOf(path)` (core/key-manifest). Same directory always. */
  tempPath?: string;
  /** true: an existing file at `path` is replaced by the rename; false (default): CONFLICT if one exists. */
  replace?: boolean;
  /** Bytes of this file flushed to the medium so far (after each flush window), never bytes only cached. */
  onDurable?: (bytes: number) => void;
  /** Bytes of this file read back from the medium and hashed so far, from 0, once every file of the batch is durable. */
  onVerified?: (bytes: number) => void;
  /**
   * Called with each chunk of `data` once the writer is done with it (written), so the caller can reuse its
   * memory (core's ChunkPool). A chunk of a failed or discarded write is never given back.
   */
  release?: (chunk: Uint8Array) => void;
  /**
   * Stops the write within one chunk: the temporary file is removed and the call throws BootkeyError
   * 'CANCELLED'. For `write`; a batch takes its signal once, in `batch()`.
   */
  signal?: AbortSignal;
}

export interface DurableWriteResult {
  bytes: number;
  /** SHA-256 of the bytes written, hex; the bytes read back were compared with them. */
  sha256: string;
  /**
   * Where the read-back came from: 'medium' (the cache bypassed, O_DIRECT), or 'page-cache' where the
   * filesystem cannot bypass it (tmpfs): then the comparison proves what the kernel holds, not the medium.
   */
  readBack: 'medium' | 'page-cache';
}

/**
 * Many files written as one: `add` each (a chunk yielded must not be reused by the caller until `release`
 * gives it back), then `commit`. Nothing has its final name before every file is flushed and verified.
 */
export interface DurableBatch {
  /**
   * Writes one file under its temporary name; resolves when its bytes are handed over (flushing may go on).
   * Several may run at once (small files, whose waits then overlap); results keep the order of the calls.
   */
  add(path: string, data: AsyncIterable<Uint8Array>, options: Omit<DurableWriteOptions, 'signal'>): Promise<void>;
  /**
   * Flushes and verifies every file, runs `beforeRename` (e.g. moving a user's file aside), renames every file
   * into place and flushes the renames (directories first, then the files). The signal is honoured until
   * `beforeRename` starts; from there on the batch finishes. Results in the order of `add`.
   */
  commit(beforeRename?: () => Promise<void>): Promise<DurableWriteResult[]>;
  /** After a failure or a cancel: waits for the I/O in flight, removes every temporary not yet renamed. */
  discard(): Promise<void>;
}

export interface DurableWriter {
  /** Writes `data` to the absolute path `path` as described above (a batch of one). */
  write(path: string, data: AsyncIterable<Uint8Array>, options: DurableWriteOptions): Promise<DurableWriteResult>;
  /** Replaces a small file (a configuration, a manifest) atomically: readers see the old or the new one whole. */
  replaceAtomically(path: string, bytes: Uint8Array): Promise<DurableWriteResult>;
  /** A batch of files on one filesystem; `signal` cancels it as for `write`. */
  batch(options?: { signal?: AbortSignal }): DurableBatch;
}
