import { BootkeyError } from '../errors.js';

/** Which GRUB pieces the host has, as an adapter found them (commands on PATH, platform folders). */
export interface GrubHostProbe {
  /** /etc/os-release ID and ID_LIKE words, lower case (`debian`, `fedora`, `rhel` …). */
  osIds: string[];
  /** Names found on PATH among the candidates asked for. */
  commands: ReadonlySet<string>;
  /** Platform folders found (`/usr/lib/grub/x86_64-efi` …) — the adapter checks each holds modinfo.sh. */
  folders: ReadonlySet<string>;
}

export interface GrubTools {
  /** `grub-mkimage` (Debian) or `grub2-mkimage` (Fedora). */
  mkimage: string;
  /** Module folder per platform. */
  efiModules: string;
  /** Undefined when only UEFI is possible on this host. */
  pcModules?: string;
}

type Distro = 'debian' | 'fedora';

/** Package names per distro: Debian `grub-*`, Fedora `grub2-*` (DOMAIN.md). */
const PACKAGES: Record<Distro, { mkimage: string; efi: string; pc: string }> = {
  debian: { mkimage: 'grub-common', efi: 'grub-efi-amd64-bin', pc: 'grub-pc-bin' },
  fedora: { mkimage: 'grub2-tools', efi: 'grub2-efi-x64-modules', pc: 'grub2-pc-modules' },
};

export const MKIMAGE_CANDIDATES = ['grub-mkimage', 'grub2-mkimage'] as const;
/** Debian installs platform folders under /usr/lib/grub, Fedora under /usr/lib/grub too (grub2-* names the tools only). */
export const EFI_FOLDERS = ['/usr/lib/grub/x86_64-efi', '/usr/lib/grub2/x86_64-efi'] as const;
export const PC_FOLDERS = ['/usr/lib/grub/i386-pc', '/usr/lib/grub2/i386-pc'] as const;

function distroOf(osIds: string[]): Distro {
  return osIds.some((id) => ['fedora', 'rhel', 'centos', 'rocky', 'almalinux', 'suse', 'opensuse'].includes(id)) ? 'fedora' : 'debian';
}

/**
 * The GRUB tools to build the key's boot files with, or MISSING_TOOL naming the package to install for this
 * host's distro. `needBios`: the BIOS part is wanted (keep-my-files on MBR, or fresh).
 */
export function chooseGrubTools(probe: GrubHostProbe, needBios: boolean): GrubTools {
  const packages = PACKAGES[distroOf(probe.osIds)];
  const missing = (what: string, pkg: string) =>
    new BootkeyError('MISSING_TOOL', `${what} is not installed: install the package ${pkg}`, { package: pkg });
  const mkimage = MKIMAGE_CANDIDATES.find((c) => probe.commands.has(c));
  if (!mkimage) throw missing('grub-mkimage', packages.mkimage);
  const efiModules = EFI_FOLDERS.find((f) => probe.folders.has(f));
  if (!efiModules) throw missing("GRUB's x86_64-efi modules", packages.efi);
  const pcModules = PC_FOLDERS.find((f) => probe.folders.has(f));
  if (needBios && !pcModules) throw missing("GRUB's i386-pc modules", packages.pc);
  return { mkimage, efiModules, ...(pcModules ? { pcModules } : {}) };
}

/**
 * Modules built into the images, so the menu runs even if /boot/grub's module folder is damaged: reading the
 * key (FAT, exFAT, both tables), looping ISOs and every command grub-menu.ts writes.
 */
export const GRUB_MODULES = [
  'part_msdos', 'part_gpt', 'fat', 'exfat', 'iso9660', 'udf', 'loopback', 'search', 'search_fs_uuid', 'search_fs_file',
  'configfile', 'normal', 'linux', 'echo', 'test', 'probe', 'serial', 'terminal', 'ls', 'cat', 'sleep', 'reboot',
  'halt', 'regexp', 'true', 'minicmd',
] as const;
export const EFI_ONLY_MODULES = ['chain', 'efi_gop', 'efi_uga', 'all_video'] as const;
export const PC_ONLY_MODULES = ['biosdisk', 'linux16', 'chain', 'all_video'] as const;
