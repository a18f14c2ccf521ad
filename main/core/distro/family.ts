import type { FileSystemTree, TreeEntry } from '../filesystem-tree.js';

/** Distro families whose live/installer ISOs boot from a file on the key (DOMAIN.md, "Booting ISO files"). */
export type DistroFamily =
  | 'ubuntu-casper'
  | 'debian-live'
  | 'debian-installer'
  | 'fedora-live'
  | 'fedora-installer'
  | 'arch'
  | 'sysrescue'
  | 'manjaro'
  | 'memtest'
  | 'ipxe'
  | 'windows'
  | 'unknown';

/**
 * How GRUB boots a family's ISO by `loopback`: kernel and initrd paths inside the ISO and the kernel parameters,
 * where `${iso_path}`, `${isolabel}` and `${rootuuid}` are GRUB variables the menu sets. `chainloader`/`bin`
 * name loaders for families that are not Linux kernels (memtest, iPXE).
 */
export interface BootRecipe {
  kernel?: string;
  initrd?: string[];
  params?: string;
  /** UEFI loader to chainload (memtest's .efi, iPXE's .efi). */
  efiLoader?: string;
  /** Image GRUB's `linux` command boots under BIOS (memtest's .bin, iPXE's .lkrn). */
  biosKernel?: string;
}

export interface FamilyDetection {
  family: DistroFamily;
  /** The directories and files that decided it, so a user (and a test) can see why. */
  evidence: string[];
  recipe?: BootRecipe;
}

const FEDORA_LIVE_PARAMS = 'root=live:CDLABEL=${isolabel} rd.live.image iso-scan/filename=${iso_path}';
const ARCH_PARAMS = 'img_dev=/dev/disk/by-uuid/${rootuuid} img_loop=${iso_path}';

/**
 * Decides an image's distro family from its directories (never from its file name), in the order that keeps
 * the more specific rule first: LiveOS before a bare pxeboot folder, sysresccd before arch.
 */
export async function detectFamily(tree: FileSystemTree): Promise<FamilyDetection> {
  const root = await listSafe(tree, '/');
  const dirs = new Map(root.filter((e) => e.kind === 'directory').map((e) => [e.name.toLowerCase(), e.name]));
  const has = (name: string) => dirs.has(name);
  const dir = (name: string) => `/${dirs.get(name) ?? name}`;

  if (has('sources') && (await tree.stat(`${dir('sources')}/boot.wim`))) {
    return { family: 'windows', evidence: [`${dir('sources')}/boot.wim`] };
  }
  if (has('casper')) {
    const kernel = await firstFile(tree, dir('casper'), /^vmlinuz/);
    const initrd = await firstFile(tree, dir('casper'), /^initrd/);
    return linux('ubuntu-casper', [dir('casper')], kernel, initrd, 'boot=casper iso-scan/filename=${iso_path}');
  }
  if (has('live')) {
    const kernel = await firstFile(tree, dir('live'), /^vmlinuz/);
    const initrd = await firstFile(tree, dir('live'), /^initrd/);
    return linux('debian-live', [dir('live')], kernel, initrd, 'boot=live findiso=${iso_path}');
  }
  if (has('liveos')) {
    const loader = await tree.stat('/boot/x86_64/loader/linux');
    if (loader) {
      return linux('fedora-live', [dir('liveos'), '/boot/x86_64/loader'], loader.path, '/boot/x86_64/loader/initrd', FEDORA_LIVE_PARAMS);
    }
    if (has('images') && (await tree.stat(`${dir('images')}/pxeboot/vmlinuz`))) {
      const pxe = `${dir('images')}/pxeboot`;
      return linux('fedora-live', [dir('liveos'), pxe], `${pxe}/vmlinuz`, `${pxe}/initrd.img`, FEDORA_LIVE_PARAMS);
    }
  }
  if (has('images') && (await tree.stat(`${dir('images')}/pxeboot/vmlinuz`))) {
    const pxe = `${dir('images')}/pxeboot`;
    return linux('fedora-installer', [pxe], `${pxe}/vmlinuz`, `${pxe}/initrd.img`,
      'inst.stage2=hd:LABEL=${isolabel} iso-scan/filename=${iso_path}');
  }
  if (has('sysresccd')) {
    const base = `${dir('sysresccd')}/boot/x86_64`;
    return linux('sysrescue', [dir('sysresccd')], `${base}/vmlinuz`, `${base}/sysresccd.img`,
      'archisobasedir=sysresccd img_dev=/dev/disk/by-uuid/${rootuuid} img_loop=${iso_path}');
  }
  if (has('manjaro')) {
    return linux('manjaro', [dir('manjaro')], '/boot/vmlinuz-x86_64', '/boot/initramfs-x86_64.img', ARCH_PARAMS);
  }
  if (has('arch')) {
    const base = `${dir('arch')}/boot/x86_64`;
    return linux('arch', [dir('arch')], `${base}/vmlinuz-linux`, `${base}/initramfs-linux.img`, ARCH_PARAMS);
  }
  for (const installDir of ['install.amd', 'install']) {
    if (has(installDir) && (await tree.stat(`${dir(installDir)}/vmlinuz`))) {
      const base = dir(installDir);
      return linux('debian-installer', [base], `${base}/vmlinuz`, `${base}/initrd.gz`, '');
    }
  }
  return detectLoaders(tree, root);
}

/** memtest86+ and iPXE ship their own loaders instead of a Linux kernel. */
async function detectLoaders(tree: FileSystemTree, root: TreeEntry[]): Promise<FamilyDetection> {
  const candidates = [...root, ...(await listSafe(tree, '/boot'))].filter((e) => e.kind === 'file');
  const named = (pattern: RegExp) => candidates.find((e) => pattern.test(e.name))?.path;
  const memtestEfi = named(/^memtest.*\.efi$/i);
  const memtestBin = named(/^memtest.*\.bin$/i);
  if (memtestEfi || memtestBin) {
    return {
      family: 'memtest',
      evidence: [memtestEfi, memtestBin].filter((p): p is string => p !== undefined),
      recipe: { efiLoader: memtestEfi, biosKernel: memtestBin },
    };
  }
  const ipxeEfi = named(/^ipxe\.efi$/i);
  const ipxeLkrn = named(/^ipxe\.lkrn$/i);
  if (ipxeEfi || ipxeLkrn) {
    return {
      family: 'ipxe',
      evidence: [ipxeEfi, ipxeLkrn].filter((p): p is string => p !== undefined),
      recipe: { efiLoader: ipxeEfi, biosKernel: ipxeLkrn },
    };
  }
  return { family: 'unknown', evidence: [] };
}

function linux(family: DistroFamily, evidence: string[], kernel: string | undefined, initrd: string | undefined,
  params: string): FamilyDetection {
  return { family, evidence, recipe: { kernel, initrd: initrd ? [initrd] : [], params } };
}

async function listSafe(tree: FileSystemTree, path: string): Promise<TreeEntry[]> {
  const entry = await tree.stat(path);
  return entry?.kind === 'directory' ? tree.list(path) : [];
}

/** The first file (by name) in `dir` matching `pattern`: `vmlinuz` sorts before `vmlinuz-6.1`, as wanted. */
async function firstFile(tree: FileSystemTree, dir: string, pattern: RegExp): Promise<string | undefined> {
  const files = (await listSafe(tree, dir)).filter((e) => e.kind === 'file' && pattern.test(e.name));
  files.sort((a, b) => a.name.localeCompare(b.name));
  return files[0]?.path;
}

const MEMTEST_SIGNATURE = [...'Memtest86+'].map((c) => c.charCodeAt(0));

/**
 * memtest86+ 6 loaders carry their name in the Linux boot header near the start of the file (the .efi and
 * the .bin alike), which tells them from any other EFI program whatever the file is called.
 */
export function isMemtestLoader(head: Uint8Array): boolean {
  outer: for (let i = 0; i + MEMTEST_SIGNATURE.length <= head.length; i += 1) {
    for (let j = 0; j < MEMTEST_SIGNATURE.length; j += 1) if (head[i + j] !== MEMTEST_SIGNATURE[j]) continue outer;
    return true;
  }
  return false;
}
