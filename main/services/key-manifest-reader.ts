import { JOURNAL_PATH, MANIFEST_PATH, survivingManifest, type KeyManifest } from '../core/key-manifest.js';
import { BootkeyError } from '../core/errors.js';
import type { KeyFiles } from '../ports/key-files.js';

/** A manifest far larger than any Bootkey writes is not read into memory. */
const MANIFEST_LIMIT = 16 * 1024 * 1024;

/** The manifest of the key at `root`, or what survived of it and its journal (a key pulled mid-operation). */
export async function readKeyManifest(files: Pick<KeyFiles, 'readSmallFile'>, root: string): Promise<KeyManifest> {
  const text = async (path: string) => {
    // A file too large to be one Bootkey wrote is damage, as one that does not parse is: the other may be whole.
    const bytes = await files.readSmallFile(root + path, MANIFEST_LIMIT).catch((error: unknown) => {
      if (error instanceof BootkeyError && error.code === 'FILE_TOO_LARGE') return error;
      throw error;
    });
    return bytes instanceof BootkeyError ? bytes : bytes && new TextDecoder().decode(bytes);
  };
  return survivingManifest(await text(MANIFEST_PATH), await text(JOURNAL_PATH));
}
