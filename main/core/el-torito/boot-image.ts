import type { ByteSource } from '../../ports/byte-source.js';
import { sliceByteSource } from '../byte-source-reads.js';
import { type FileSystemTree } from '../filesystem-tree.js';
import type { BootEntry } from './boot-catalog.js';

/** The boot image as a source of its own (a UEFI image is a FAT filesystem the FAT reader can open). */
export function bootImageSource(source: ByteSource, entry: BootEntry): ByteSource {
  return sliceByteSource(source, entry.offset, entry.size);
}

/** Boot images sit near the root (boot/grub/i386-pc/, images/, isolinux/ …); deeper folders are not searched. */
const BOOT_IMAGE_SEARCH_DEPTH = 4;
const BOOT_IMAGE_SEARCH_ENTRIES = 4096;

/**
 * The path of the file in `tree` whose data starts where the boot image starts, or undefined when the image has
 * no name in the tree (memtest86+x64.iso's UEFI image, many installers). The search is bounded in depth and
 * entries so that inspecting a large ISO reads only its top directories.
 */
export async function bootImagePath(tree: FileSystemTree, entry: BootEntry): Promise<string | undefined> {
  let level = ['/'];
  let seen = 0;
  for (let depth = 0; depth < BOOT_IMAGE_SEARCH_DEPTH && level.length; depth += 1) {
    const next: string[] = [];
    for (const dir of level) {
      for (const node of await tree.list(dir)) {
        if (++seen > BOOT_IMAGE_SEARCH_ENTRIES) return undefined;
        if (node.kind === 'directory') next.push(node.path);
        if (node.kind !== 'file' || node.size === 0) continue;
        const [first] = await tree.extents(node.path);
        if (first?.offset === entry.offset) return node.path;
      }
    }
    level = next;
  }
  return undefined;
}
