import { BootkeyError } from '../errors.js';
import { normalizePath, walkTree, type FileSystemTree } from '../filesystem-tree.js';
import type { ImageInspection } from '../inspect/inspect-image.js';
import type { TreeSelector } from '../inspect/open-image.js';
import { grubCannotReadKey, grubImageInfo } from './grub-image.js';
import { grubReferences, rewriteMediumReferences, type Rewrite } from './grub-references.js';

/** A file to put on the key: bytes from a part of the source, or a rewritten configuration held here. */
export interface EfiFile {
  /** Which part of the source image: {} is the image's own tree. */
  part: TreeSelector;
  /** Path in that part. */
  from: string;
  /** Key path. */
  to: string;
  size: number;
  /** Set when the file is a configuration rewritten for the key: these bytes are written instead. */
  content?: Uint8Array;
  rewrites?: Rewrite[];
  /** `content` is Bootkey's own GRUB, standing in for the image's loader (withOwnGrubLoader). */
  ownGrub?: boolean;
}

export interface EfiSelection {
  files: EfiFile[];
  /** Where the UEFI loaders come from, in words (`the ISO tree`, `El Torito entry 2`, `partition 1`). */
  loaderSource: string;
  warnings: string[];
}

/** Opens a part of the source image (the service does it through openImage/selectTree). */
export type PartOpener = (part: TreeSelector) => Promise<FileSystemTree>;

/** Firmware looks for `\EFI\BOOT\BOOT<arch>.EFI` on removable media. */
const REMOVABLE_LOADER = /^boot[a-z0-9]+\.efi$/i;
/** shim's fallback loader: in EFI/BOOT it makes shim re-register boot entries instead of booting (DOMAIN.md). */
const FALLBACK_LOADER = /^fb[a-z0-9]*\.efi$/i;
/** GRUB platform folders: only the one for the loader's architecture is copied. */
const GRUB_PLATFORM_DIR = /^(i386|x86_64|arm|arm64|riscv32|riscv64|loongarch64|ia64|powerpc|mips|mipsel|sparc64)-[a-z0-9]+$/;
const GRUB_EFI_PLATFORM: Record<string, string> = { x64: 'x86_64-efi', ia32: 'i386-efi', aa64: 'arm64-efi', arm: 'arm-efi',
  riscv64: 'riscv64-efi', loongarch64: 'loongarch64-efi' };
const GRUB_DIRS = ['/boot/grub', '/boot/grub2'];
/** Folders live systems find on their medium after boot; copied whole when the kernel arguments ask for them. */
const PAYLOAD_RULES: { dir: string; when: RegExp }[] = [
  { dir: 'LiveOS', when: /\broot=live:|\brd\.live\.image\b/ },
  { dir: 'images', when: /\binst\.(stage2|repo)=/ },
  { dir: 'casper', when: /\bboot=casper\b/ },
  { dir: 'live', when: /\bboot=live\b/ },
  { dir: 'arch', when: /\barchisobasedir=arch\b|\bimg_dev=|\barchisolabel=/ },
  { dir: 'sysresccd', when: /\barchisobasedir=sysresccd\b/ },
];
/** Bounds for a hostile image. */
const MAX_FILES = 100_000;
const MAX_CONFIGS = 64;
const CONFIG_LIMIT = 1024 * 1024;
/** grub-mkimage's EFI images are a few hundred KiB; a bigger loader is something else. */
const GRUB_LOADER_LIMIT = 16 * 1024 * 1024;
/** The loader Bootkey can build its own GRUB for (GrubBuilder.buildEfiImage is x86_64-efi). */
const X64_LOADER = /^\/efi\/boot\/bootx64\.efi$/i;

function partName(part: TreeSelector): string {
  if (part.elTorito !== undefined) return `El Torito entry ${part.elTorito}`;
  if (part.partition !== undefined) return `partition ${part.partition}`;
  return 'the image tree';
}

/**
 * Decides which files of an image make an existing FAT key boot it under UEFI: the EFI folder with the
 * removable-media loader (from the image tree, else its El Torito UEFI image, else its EFI system partition),
 * GRUB's folder for that architecture and everything the copied GRUB configurations load, plus the folders
 * the booted system looks for (LiveOS, casper …). Configurations that find the medium by label are rewritten
 * to find the key by `keyUuid`. NOT_EFI_BOOTABLE when there is no removable-media loader.
 */
export async function selectEfiFiles(inspection: ImageInspection, openPart: PartOpener, keyUuid: string | null): Promise<EfiSelection> {
  const loaders = inspection.efiLoaders.filter((l) => {
    const names = normalizePath(l.path).split('/');
    return names.length === 4 && names[1]?.toLowerCase() === 'efi' && names[2]?.toLowerCase() === 'boot' && REMOVABLE_LOADER.test(names[3] ?? '');
  });
  const order = ['tree', 'el-torito', 'partition'] as const;
  const loader = order.map((where) => loaders.find((l) => l.where === where)).find((l) => l !== undefined);
  if (!loader || !inspection.boot.uefi) {
    throw new BootkeyError('NOT_EFI_BOOTABLE', 'the image has no UEFI boot loader (no EFI/BOOT/BOOT<arch>.EFI in its tree, El Torito UEFI image or EFI partition)');
  }
  const loaderPart: TreeSelector = loader.where === 'el-torito' ? { elTorito: loader.index } : loader.where === 'partition' ? { partition: loader.index } : {};
  const warnings: string[] = [];
  const files = new Map<string, EfiFile>();
  const add = (file: EfiFile) => {
    const key = file.to.toLowerCase();
    if (files.has(key)) return;
    if (files.size >= MAX_FILES) throw new BootkeyError('MALFORMED_IMAGE', `the image has more than ${MAX_FILES} files to copy`);
    files.set(key, file);
  };
  const addTree = async (tree: FileSystemTree, part: TreeSelector, dir: string, skip: (path: string) => boolean) => {
    for await (const entry of walkTree(tree, dir)) {
      if (entry.kind === 'file' && !skip(entry.path)) add({ part, from: entry.path, to: entry.path, size: entry.size });
      else if (entry.kind === 'symlink') warnings.push(`${entry.path} is a symbolic link; FAT cannot hold it, not copied`);
    }
  };

  // 1. The EFI folder beside the loader, without shim's fallback in EFI/BOOT.
  const loaderTree = await openPart(loaderPart);
  const efiDir = `/${normalizePath(loader.path).split('/')[1]}`;
  await addTree(loaderTree, loaderPart, efiDir, (path) => {
    const names = path.split('/');
    return names.length === 4 && names[2]?.toLowerCase() === 'boot' && FALLBACK_LOADER.test(names[3] ?? '');
  });

  // 2. GRUB's folder and what its configurations load, from the tree that holds the boot files: the image's own
  //    tree when it has one (an ISO), else the part with the loader (a disk image's ESP).
  const mainPart: TreeSelector = inspection.format === 'iso9660' || inspection.format === 'udf' || inspection.format === 'fat' ? {} : loaderPart;
  const mainTree = mainPart === loaderPart ? loaderTree : await openPart(mainPart);
  const platform = GRUB_EFI_PLATFORM[loader.arch] ?? '';
  for (const dir of GRUB_DIRS) {
    const entry = await mainTree.stat(dir);
    if (entry?.kind !== 'directory') continue;
    await addTree(mainTree, mainPart, entry.path, (path) => {
      const sub = path.slice(entry.path.length + 1).split('/');
      return sub.length > 1 && GRUB_PLATFORM_DIR.test(sub[0] ?? '') && sub[0] !== platform;
    });
  }
  const disk = await mainTree.stat('/.disk');
  if (disk?.kind === 'directory') await addTree(mainTree, mainPart, disk.path, () => false);

  const pending = [...files.values()].filter((f) => /\.cfg$/i.test(f.from));
  const seenConfigs = new Set<string>();
  const params: string[] = [];
  while (pending.length > 0) {
    const config = pending.shift() as EfiFile;
    if (seenConfigs.has(config.to.toLowerCase()) || seenConfigs.size >= MAX_CONFIGS) continue;
    seenConfigs.add(config.to.toLowerCase());
    const tree = config.part === mainPart ? mainTree : await openPart(config.part);
    const text = new TextDecoder().decode(await tree.readFile(config.from, CONFIG_LIMIT));
    const refs = grubReferences(text);
    params.push(...refs.kernelParams);
    for (const { path, why } of refs.unresolved) warnings.push(`${config.to} loads ${path}, ${why}: not followed`);
    for (const path of [...refs.files, ...refs.configs]) {
      const entry = await mainTree.stat(path);
      if (!entry) {
        warnings.push(`${config.to} loads ${path}, which is not in the image`);
        continue;
      }
      if (entry.kind === 'directory') await addTree(mainTree, mainPart, entry.path, () => false);
      else if (entry.kind === 'file') {
        const file = { part: mainPart, from: entry.path, to: entry.path, size: entry.size };
        add(file);
        if (refs.configs.includes(path)) pending.push(file);
      }
    }
    if (keyUuid !== null) {
      const { text: rewritten, rewrites } = rewriteMediumReferences(text, keyUuid, inspection.uuid);
      if (rewrites.length > 0) {
        const content = new TextEncoder().encode(rewritten);
        files.set(config.to.toLowerCase(), { ...config, size: content.length, content, rewrites });
      }
    } else if (rewriteMediumReferences(text, '0000-0000', inspection.uuid).rewrites.length > 0) {
      warnings.push(`${config.to} finds the medium by its label, and the key's UUID is unknown: left unchanged`);
    }
  }

  // 3. What the booted system looks for on its medium.
  const allParams = params.join(' ');
  const root = await mainTree.list('/');
  for (const rule of PAYLOAD_RULES) {
    if (!rule.when.test(allParams)) continue;
    const dir = root.find((e) => e.kind === 'directory' && e.name.toLowerCase() === rule.dir.toLowerCase());
    if (dir) await addTree(mainTree, mainPart, dir.path, () => false);
    else warnings.push(`the kernel arguments ask for /${rule.dir}, which is not in the image`);
  }
  return { files: [...files.values()], loaderSource: partName(loaderPart), warnings };
}

/**
 * The selection's x64 removable-media loader when it is a GRUB that cannot start from the key (grub-image.ts:
 * grub-mkrescue's image looks for /boot/grub on the whole disk), else undefined. The caller puts a GRUB of its
 * own there that reads /boot/grub (the image's grub.cfg, copied and rewritten) from the key's partition.
 */
export async function grubLoaderUnableToReadKey(selection: EfiSelection, openPart: PartOpener, keyFsType: string): Promise<EfiFile | undefined> {
  const loader = selection.files.find((f) => X64_LOADER.test(f.to) && f.content === undefined);
  if (!loader || loader.size > GRUB_LOADER_LIMIT) return undefined;
  const info = grubImageInfo(await (await openPart(loader.part)).readFile(loader.from, GRUB_LOADER_LIMIT));
  return info && grubCannotReadKey(info, keyFsType) ? loader : undefined;
}

/** The selection with `loader` written from `image` (a GRUB built by Bootkey) instead of the image's bytes. */
export function withOwnGrubLoader(selection: EfiSelection, loader: EfiFile, image: Uint8Array): EfiSelection {
  return {
    ...selection,
    files: selection.files.map((f) => (f === loader ? { ...f, size: image.length, content: image, ownGrub: true } : f)),
    warnings: [...selection.warnings, `${loader.to} of the image is a GRUB that cannot read the key's partition: `
      + 'Bootkey puts its own GRUB there, which reads /boot/grub/grub.cfg from the key'],
  };
}
