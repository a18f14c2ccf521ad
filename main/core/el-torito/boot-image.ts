import type { ByteSource } from '../../ports/byte-source.js';
import { sliceByteSource } from '../byte-source-reads.js';
import { walkTree, type FileSystemTree } from '../filesystem-tree.js';
import type { BootEntry } from './boot-catalog.js';

/** The boot image as a source of its own (a UEFI image is a FAT filesystem the FAT reader can open). */
export function bootImageSource(source: ByteSource, entry: BootEntry): ByteSource {
  return sliceByteSource(source, entry.offset, entry.size);
}

/**
 * The path of the file in `tree` whose data starts where the boot image starts, or undefined when the image has
 * no name in the tree (memtest86+x64.iso's UEFI image, many installers).
 */
export async function bootImagePath(tree: FileSystemTree, entry: BootEntry): Promise<string | undefined> {
  for await (const node of walkTree(tree)) {
    if (node.kind !== 'file' || node.size === 0) continue;
    const [first] = await tree.extents(node.path);
    if (first?.offset === entry.offset) return node.path;
  }
  return undefined;
}
