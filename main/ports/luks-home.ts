/**
 * An encrypted home.img made without root: cryptsetup formats and encrypts a regular file in user space
 * (main/adapters/persistence/luks-home-maker.ts says how). Paths are absolute.
 */
export interface LuksHomeMaker {
  /**
   * Everything that can be checked before the first byte: the passphrase (INVALID_ARGUMENT), the size
   * (INVALID_ARGUMENT when too small for the encryption and a filesystem) and the tools (MISSING_TOOL).
   */
  check(size: number, passphrase: Uint8Array): Promise<void>;
  /**
   * A new LUKS2 container of `size` bytes at `path` holding an empty ext4 filesystem labelled `label`, opened
   * by `passphrase` (its exact bytes). CONFLICT if the file exists; on any failure the file is removed.
   */
  make(path: string, size: number, options: { label: string; passphrase: Uint8Array }): Promise<void>;
}
