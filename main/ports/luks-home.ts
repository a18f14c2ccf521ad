/**
 * An encrypted home.img made without root: cryptsetup formats and encrypts a regular file in user space
 * (main/adapters/persistence/luks-home-maker.ts says how). Paths are absolute.
 */
export interface LuksHomeMaker {
  /** Fails with MISSING_TOOL before anything is written when the tools are not installed. */
  ready(): Promise<void>;
  /**
   * A new LUKS2 container of `size` bytes at `path` holding an empty ext4 filesystem labelled `label`, opened
   * by `passphrase` (its exact bytes). CONFLICT if the file exists; on any failure the file is removed.
   */
  make(path: string, size: number, options: { label: string; passphrase: Uint8Array }): Promise<void>;
}
