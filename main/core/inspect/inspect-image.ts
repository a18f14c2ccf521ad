import type { ByteSource } from '../../ports/byte-source.js';
import { readExact } from '../byte-source-reads.js';
import { BootkeyError } from '../errors.js';
import { detectFamily, isMemtestLoader, type BootRecipe, type DistroFamily } from '../distro/family.js';
import { findLoopbackCfg, type LoopbackCfg } from '../distro/loopback-cfg.js';
import { bootImagePath } from '../el-torito/boot-image.js';
import { PLATFORM_BIOS, PLATFORM_UEFI, type Emulation } from '../el-torito/boot-catalog.js';
import { FatFileSystem } from '../fat/fat-filesystem.js';
import type { FileSystemTree, TreeEntry } from '../filesystem-tree.js';
import { ESP_TYPE_GUID, MBR_TYPE_EFI } from '../partitions/partition-types.js';
import type { Partition, PartitionScheme } from '../partitions/partition.js';
import { peMachine, PE_HEADER_PROBE, type EfiArch } from '../pe/pe-machine.js';
import { openImage, openPartitionTree, selectTree, type ImageFormat } from './open-image.js';

/** FAT32's largest file: 4 GiB − 1 byte. */
export const FAT32_MAX_FILE = 4 * 1024 ** 3 - 1;
/** Directories searched for EFI programs, and how many a hostile tree may make us look at. */
const MAX_EFI_FILES = 64;
const MAX_SCANNED_ENTRIES = 4096;

export interface EfiLoader {
  /** Path inside the part of the image named by `where`. */
  path: string;
  arch: EfiArch | 'unknown';
  where: 'tree' | 'el-torito' | 'partition';
  /** El Torito entry or partition number, for `where` other than 'tree'. */
  index?: number;
}

export interface ElToritoEntrySummary {
  number: number;
  platform: 'bios' | 'uefi' | 'other';
  emulation: Emulation;
  bootable: boolean;
  lba: number;
  sectorCount: number;
  size: number;
  /** Where the image is in the ISO tree, or null when it has no name there. */
  path: string | null;
}

export interface PartitionSummary extends Partition {
  filesystem: { type: 'fat' | 'iso9660' | 'udf'; label: string; uuid?: string } | null;
}

/** What an image is: the result of `bootkey inspect` and the input of every planner. */
export interface ImageInspection {
  format: ImageFormat;
  label: string;
  uuid: string | null;
  size: number;
  boot: { bios: boolean; uefi: boolean };
  efiLoaders: EfiLoader[];
  family: DistroFamily;
  familyEvidence: string[];
  recipe: BootRecipe | null;
  loopbackCfg: LoopbackCfg | null;
  /** Fedora's implanted MD5 (checkisomd5) is present; null for images that are not ISOs. */
  implantedMd5: boolean | null;
  partitionScheme: PartitionScheme;
  partitions: PartitionSummary[];
  elTorito: ElToritoEntrySummary[] | null;
  warnings: string[];
}

/**
 * Inspects an image through its source. It reads descriptors, directories near the root and the first bytes of
 * EFI programs only, so a multi-gigabyte ISO costs a few hundred kilobytes of reads.
 */
export async function inspectImage(source: ByteSource): Promise<ImageInspection> {
  const image = await openImage(source);
  const warnings = [...image.warnings];
  const efiLoaders: EfiLoader[] = [];
  const heads: Uint8Array[] = [];
  const addLoaders = async (tree: FileSystemTree, where: EfiLoader['where'], index?: number) => {
    for (const found of await findEfiPrograms(tree)) {
      efiLoaders.push({ path: found.entry.path, arch: peMachine(found.head) ?? 'unknown', where, ...(index === undefined ? {} : { index }) });
      heads.push(found.head);
    }
  };

  let elTorito: ElToritoEntrySummary[] | null = null;
  if (image.catalog) {
    elTorito = [];
    for (const entry of image.catalog.entries) {
      const platform = entry.platform === PLATFORM_BIOS ? 'bios' : entry.platform === PLATFORM_UEFI ? 'uefi' : 'other';
      const path = image.iso ? await bootImagePath(image.iso.tree, entry) : undefined;
      elTorito.push({ number: entry.number, platform, emulation: entry.emulation, bootable: entry.bootable,
        lba: entry.lba, sectorCount: entry.sectorCount, size: entry.size, path: path ?? null });
      if (entry.beyondEnd) warnings.push(`El Torito entry ${entry.number} reaches past the end of the file: the download is incomplete`);
      if (platform === 'uefi') {
        if (!path) warnings.push('UEFI boot image has no path in the ISO tree');
        const tree = await selectTree(image, { elTorito: entry.number }).catch(expected(undefined));
        if (tree) await addLoaders(tree, 'el-torito', entry.number);
        else warnings.push(`El Torito entry ${entry.number} is marked UEFI but is not a FAT image`);
      }
    }
  }

  const partitions: PartitionSummary[] = [];
  for (const partition of image.table.partitions) {
    const tree = image.tree ? undefined : await openPartitionTree(source, partition).catch(expected(undefined));
    partitions.push({ ...partition, filesystem: tree ? { type: tree.kind, label: tree.label, ...(tree instanceof FatFileSystem && tree.uuid ? { uuid: tree.uuid } : {}) } : null });
    if (tree) await addLoaders(tree, 'partition', partition.number);
  }
  if (image.tree) await addLoaders(image.tree, 'tree');

  let family: DistroFamily = 'unknown';
  let familyEvidence: string[] = [];
  let recipe: BootRecipe | null = null;
  let loopbackCfg: LoopbackCfg | null = null;
  if (image.tree) {
    const detected = await detectFamily(image.tree);
    ({ family, evidence: familyEvidence } = detected);
    recipe = detected.recipe ?? null;
    loopbackCfg = (await findLoopbackCfg(image.tree)) ?? null;
    warnings.push(...(await largeFileWarnings(image.tree)));
  }
  if (family === 'unknown') {
    const memtest = efiLoaders.filter((_, i) => isMemtestLoader(heads[i] ?? new Uint8Array()));
    if (memtest.length) {
      family = 'memtest';
      familyEvidence = memtest.map((l) => `${l.where === 'tree' ? '' : `${l.where} ${l.index}:`}${l.path}`);
      const inTree = memtest.find((l) => l.where === 'tree');
      recipe = inTree ? { efiLoader: inTree.path } : null;
    }
  }
  if (source.size > FAT32_MAX_FILE && (image.format === 'iso9660' || image.format === 'udf')) {
    warnings.push('the image is over 4 GiB: it cannot be stored as one file on FAT32');
  }

  const hasEsp = image.table.partitions.some((p) => p.type === ESP_TYPE_GUID || p.type === MBR_TYPE_EFI.toString(16));
  const biosFromCatalog = elTorito?.some((e) => e.platform === 'bios') ?? false;
  const iso = image.iso;
  return {
    format: image.format,
    label: iso?.label ?? image.tree?.label ?? '',
    uuid: iso?.uuid ?? (image.tree instanceof FatFileSystem ? image.tree.uuid : undefined) ?? image.table.diskId ?? null,
    size: source.size,
    boot: {
      bios: biosFromCatalog || (image.format !== 'iso9660' && image.format !== 'udf' && (await hasMbrBootCode(source))),
      uefi: efiLoaders.some((l) => /^boot[a-z0-9]+\.efi$/i.test(l.path.split('/').pop() ?? '')) || (hasEsp && efiLoaders.length > 0),
    },
    efiLoaders,
    family,
    familyEvidence,
    recipe,
    loopbackCfg,
    implantedMd5: iso ? iso.implantedMd5 : null,
    partitionScheme: image.table.scheme,
    partitions,
    elTorito,
    warnings,
  };
}

/**
 * A damaged part of an image (one El Torito entry, one partition, one EFI file) is reported by what it lacks
 * rather than failing the whole inspection; any other exception is a bug and must surface.
 */
function expected<T>(fallback: T): (error: unknown) => T {
  return (error) => {
    if (error instanceof BootkeyError) return fallback;
    throw error;
  };
}

/** The first 440 bytes of sector 0 are boot code; an all-zero area boots nothing under BIOS. */
async function hasMbrBootCode(source: ByteSource): Promise<boolean> {
  if (source.size < 512) return false;
  const sector = await source.read(0, 512);
  return sector[510] === 0x55 && sector[511] === 0xaa && sector.subarray(0, 440).some((b) => b !== 0);
}

/** `.efi` files under /EFI (any case), with their first bytes for the PE header. */
async function findEfiPrograms(tree: FileSystemTree): Promise<{ entry: TreeEntry; head: Uint8Array }[]> {
  const root = await tree.list('/');
  const efi = root.find((e) => e.kind === 'directory' && e.name.toLowerCase() === 'efi');
  if (!efi) return [];
  const found: { entry: TreeEntry; head: Uint8Array }[] = [];
  const pending = [efi.path];
  let scanned = 0;
  while (pending.length && found.length < MAX_EFI_FILES && scanned < MAX_SCANNED_ENTRIES) {
    for (const entry of await tree.list(pending.shift() ?? '/')) {
      scanned += 1;
      if (entry.kind === 'directory') pending.push(entry.path);
      else if (entry.kind === 'file' && /\.efi$/i.test(entry.name) && found.length < MAX_EFI_FILES) {
        found.push({ entry, head: await readHead(tree, entry.path, PE_HEADER_PROBE).catch(expected(new Uint8Array())) });
      }
    }
  }
  return found;
}

/**
 * The first `length` bytes of a file (fewer when it is shorter), from its extents: a 100 MiB unified kernel
 * image, or a forged size, costs one small read instead of the whole file in memory.
 */
async function readHead(tree: FileSystemTree, path: string, length: number): Promise<Uint8Array> {
  const head = new Uint8Array(length);
  let at = 0;
  for (const extent of await tree.extents(path)) {
    if (at >= length) break;
    const wanted = Math.min(extent.length, length - at);
    if (!extent.zero) head.set(await readExact(tree.source, extent.offset, wanted, path), at);
    at += wanted;
  }
  return head.subarray(0, at);
}

/** Files near the root that FAT32 cannot hold (a LiveOS squashfs, a Windows install.wim). */
async function largeFileWarnings(tree: FileSystemTree): Promise<string[]> {
  const warnings: string[] = [];
  const root = await tree.list('/');
  const second = await Promise.all(root.filter((e) => e.kind === 'directory').slice(0, 64).map((d) => tree.list(d.path)));
  for (const entry of [...root, ...second.flat()]) {
    if (entry.kind === 'file' && entry.size > FAT32_MAX_FILE) {
      warnings.push(`file over 4 GiB: ${entry.path} cannot live on FAT32`);
    }
  }
  return warnings;
}
