import type { GrubTools } from '../core/grub/grub-tools.js';

/**
 * Building GRUB's boot files from the host's GRUB without root (grub-mkimage), and the one BIOS step that
 * needs no privilege: writing boot code into an image file the user owns. A device's MBR goes through the
 * PrivilegedRunner instead. The adapter in main/adapters/grub implements it.
 */
export interface GrubBuilder {
  /** The host's GRUB tools; MISSING_TOOL naming the package when a needed piece is absent. */
  tools(needBios: boolean): Promise<GrubTools>;
  /** EFI/BOOT/BOOTX64.EFI: a GRUB image for x86_64-efi that reads /boot/grub on the partition it was loaded from. */
  buildEfiImage(tools: GrubTools): Promise<Uint8Array>;
  /** The module folder's files (`*.mod`, `*.lst`) for /boot/grub/<platform>/, name → host path. */
  moduleFiles(folder: string): Promise<{ name: string; path: string; size: number }[]>;
  /**
   * BIOS GRUB into an image file: boot.img's code into the first 440 bytes (never the table) and a core.img that
   * finds the filesystem `fsUuid` into the gap from sector 1, which must end before `gapEnd` bytes.
   */
  installBiosIntoImage(tools: GrubTools, imageFile: string, fsUuid: string, gapEnd: number): Promise<void>;
  /** File names in a folder of the key (for /isos/), [] when it does not exist. */
  listFolder(path: string): Promise<string[]>;
}
