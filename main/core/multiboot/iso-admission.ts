import type { ByteSource } from '../../ports/byte-source.js';
import { isMemtestLoader } from '../distro/family.js';
import { PLATFORM_BIOS, PLATFORM_UEFI } from '../el-torito/boot-catalog.js';
import { BootkeyError } from '../errors.js';
import { inspectImage, FAT32_MAX_FILE, type ImageInspection } from '../inspect/inspect-image.js';
import { openImage, selectTree } from '../inspect/open-image.js';

/** What an ISO file that may go onto the key brings: its inspection and loaders to copy beside it. */
export interface AdmittedIso {
  inspection: ImageInspection;
  /** Loaders to copy next to the ISO on the key (memtest's live only inside El Torito images). */
  companions: Companion[];
  warnings: string[];
}

/** A byte range of the ISO that becomes the file `<iso name><suffix>` beside it. */
export interface Companion {
  suffix: '.efi' | '.bin';
  offset: number;
  length: number;
}

/** Characters a name on the key may not have: path separators, control characters, FAT's reserved ones. */
const BAD_NAME = /[\u0000-\u001f\u007f/\\:*?"<>|]/;

/** A file name for /isos/: refused when FAT cannot hold it or it would hide among our own files. */
export function checkIsoName(name: string): void {
  if (name === '' || name === '.' || name === '..' || BAD_NAME.test(name) || name.startsWith('.') || name.length > 200) {
    throw new BootkeyError('INVALID_ARGUMENT', `'${name}' cannot be a file name on the key (no / \\ : * ? " < > |, control characters or leading dot; at most 200 characters)`, { name });
  }
  if (!/\.(iso|img)$/i.test(name)) {
    throw new BootkeyError('INVALID_ARGUMENT', `'${name}': the name on the key must end in .iso or .img`, { name });
  }
}

/**
 * Decides whether an image may join the key's library: it must be a whole ISO (or a disk image with an EFI
 * loader), fit the key's filesystem, and be something the menu can boot. Reads only descriptors, directories
 * and loader headers.
 */
export async function admitIso(source: ByteSource, name: string, keyFsType: string): Promise<AdmittedIso> {
  const image = await openImage(source);
  const isIso = image.format === 'iso9660' || image.format === 'udf';
  if (!isIso && !(image.format === 'gpt' || image.format === 'mbr')) {
    throw new BootkeyError('UNSUPPORTED_IMAGE', `${name} is not an ISO image (${image.format === 'unknown' ? 'unrecognised content' : image.format})`, { name });
  }
  if (image.iso) {
    const { spaceSize, blockSize } = image.iso.descriptors.primary;
    const expected = spaceSize * blockSize;
    if (source.size < expected) {
      throw new BootkeyError('MALFORMED_IMAGE', `${name} is truncated: the ISO says ${expected} bytes, the file has ${source.size}`,
        { name, expected, actual: source.size });
    }
  }
  if (keyFsType === 'vfat' && source.size > FAT32_MAX_FILE) {
    throw new BootkeyError('FILE_TOO_LARGE', `${name} is over 4 GiB and the key is FAT32, which cannot hold it; use an exFAT key or a layout that splits the image`,
      { name, size: source.size });
  }
  const inspection = await inspectImage(source);
  const warnings = [...inspection.warnings];
  if (!isIso && !inspection.efiLoaders.some((l) => l.where === 'partition')) {
    throw new BootkeyError('UNSUPPORTED_IMAGE', `${name} is a disk image without an EFI system partition: GRUB cannot boot it from a file`, { name });
  }
  if (keyFsType === 'exfat' && (inspection.family === 'ubuntu-casper' || inspection.family === 'debian-live')) {
    warnings.push(`${name}: older ${inspection.family} initramfs cannot read exFAT, so the live system may not find its ISO on this key`);
  }
  const companions: Companion[] = [];
  if (inspection.family === 'memtest' && image.catalog) {
    for (const entry of image.catalog.entries) {
      if (entry.platform === PLATFORM_UEFI && !companions.some((c) => c.suffix === '.efi')) {
        const tree = await selectTree(image, { elTorito: entry.number }).catch(() => undefined);
        const loader = tree && (await tree.stat('/EFI/BOOT/BOOTX64.EFI'));
        const extents = tree && loader?.kind === 'file' ? await tree.extents(loader.path) : [];
        const [only] = extents;
        // The loader is one run of the boot image, which is one run of the ISO: copy its bytes as they are.
        if (extents.length === 1 && only && !only.zero) companions.push({ suffix: '.efi', offset: entry.offset + only.offset, length: only.length });
      }
      if (entry.platform === PLATFORM_BIOS && !companions.some((c) => c.suffix === '.bin')) {
        const bin = await linuxBootImageLength(source, entry.offset, entry.size);
        if (bin) companions.push({ suffix: '.bin', offset: entry.offset, length: bin });
      }
    }
  }
  return { inspection, companions, warnings };
}

/**
 * memtest86+'s BIOS floppy image is its `.bin` (a Linux boot protocol image) padded to 1.44 MB; the header
 * says how long the real image is: (setup sectors + 1) × 512 + syssize × 16.
 */
async function linuxBootImageLength(source: ByteSource, offset: number, size: number): Promise<number | undefined> {
  if (size < 0x264) return undefined;
  const head = await source.read(offset, Math.min(size, 4096));
  if (head.length < 0x264 || String.fromCharCode(...head.subarray(0x202, 0x206)) !== 'HdrS' || !isMemtestLoader(head)) return undefined;
  const setupSectors = (head[0x1f1] ?? 0) || 4;
  const sysSize = new DataView(head.buffer, head.byteOffset).getUint32(0x1f4, true);
  const length = (setupSectors + 1) * 512 + sysSize * 16;
  return length <= size ? length : undefined;
}
