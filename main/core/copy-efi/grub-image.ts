/**
 * What a GRUB EFI image (grub-mkimage's PE output) carries with it: the modules built in and its prefix, read
 * from the PE section `mods` (a module-info header `mimg`, then objects: ELF modules, memdisk, config, prefix …),
 * and whether the image is signed (Authenticode certificate table). copy-efi uses it to tell a GRUB that can
 * read the key from one that cannot — grub-mkrescue's image holds iso9660 only and stops at `grub rescue>` on FAT.
 */

export interface GrubImageInfo {
  /** Names of the built-in modules (each ELF object's `.modname`). */
  modules: string[];
  /** The embedded prefix (`()/boot/grub`, `/EFI/debian` …), null when there is none. */
  prefix: string | null;
  /** The embedded configuration (grub-mkimage -c), null when there is none. */
  config: string | null;
  /** A memdisk is built in: GRUB may take its root from there, we cannot judge such an image by its modules. */
  hasMemdisk: boolean;
  /** Has an Authenticode signature: Secure Boot may need it, so it is never swapped. */
  signed: boolean;
}

const MODULE_INFO_MAGIC = 0x676d696d; // 'mimg'
const OBJ_ELF = 0;
const OBJ_MEMDISK = 1;
const OBJ_CONFIG = 2;
const OBJ_PREFIX = 3;
/** A sane upper bound for a hostile image. */
const MAX_OBJECTS = 4096;

function cString(bytes: Uint8Array, start: number, end: number): string {
  let stop = start;
  while (stop < end && bytes[stop] !== 0) stop += 1;
  return new TextDecoder().decode(bytes.subarray(start, stop));
}

/** The `.modname` of a GRUB module (ELF32 or ELF64, little-endian), undefined when it has none or is not ELF. */
function moduleName(elf: Uint8Array): string | undefined {
  if (elf.length < 0x40 || elf[0] !== 0x7f || elf[1] !== 0x45 || elf[2] !== 0x4c || elf[3] !== 0x46 || elf[5] !== 1) return undefined;
  const view = new DataView(elf.buffer, elf.byteOffset, elf.byteLength);
  const is64 = elf[4] === 2;
  const shoff = is64 ? Number(view.getBigUint64(0x28, true)) : view.getUint32(0x20, true);
  const shentsize = view.getUint16(is64 ? 0x3a : 0x2e, true);
  const shnum = view.getUint16(is64 ? 0x3c : 0x30, true);
  const shstrndx = view.getUint16(is64 ? 0x3e : 0x32, true);
  const section = (index: number) => {
    const at = shoff + index * shentsize;
    if (index >= shnum || at + (is64 ? 0x28 : 0x18) > elf.length) return undefined;
    return {
      name: view.getUint32(at, true),
      offset: is64 ? Number(view.getBigUint64(at + 0x18, true)) : view.getUint32(at + 0x10, true),
      size: is64 ? Number(view.getBigUint64(at + 0x20, true)) : view.getUint32(at + 0x14, true),
    };
  };
  const strings = section(shstrndx);
  if (!strings || strings.offset + strings.size > elf.length) return undefined;
  for (let i = 0; i < shnum; i += 1) {
    const s = section(i);
    if (!s || s.name >= strings.size) continue;
    if (cString(elf, strings.offset + s.name, strings.offset + strings.size) !== '.modname') continue;
    if (s.offset + s.size > elf.length) return undefined;
    return cString(elf, s.offset, s.offset + s.size);
  }
  return undefined;
}

/** Reads a GRUB EFI image; undefined when `pe` is not a PE image with GRUB's `mods` section. */
export function grubImageInfo(pe: Uint8Array): GrubImageInfo | undefined {
  if (pe.length < 0x40 || pe[0] !== 0x4d || pe[1] !== 0x5a) return undefined;
  const view = new DataView(pe.buffer, pe.byteOffset, pe.byteLength);
  const header = view.getUint32(0x3c, true);
  if (header + 24 > pe.length || view.getUint32(header, false) !== 0x50450000) return undefined;
  const sections = view.getUint16(header + 6, true);
  const optionalSize = view.getUint16(header + 20, true);
  const optional = header + 24;
  if (optional + optionalSize + sections * 40 > pe.length) return undefined;
  // Data directory 4 (certificate table) sits after 96 (PE32) or 112 (PE32+) bytes of the optional header.
  const magic = view.getUint16(optional, true);
  const certificate = optional + (magic === 0x20b ? 112 : 96) + 4 * 8;
  const signed = certificate + 8 <= optional + optionalSize && view.getUint32(certificate + 4, true) > 0;
  for (let i = 0; i < sections; i += 1) {
    const at = optional + optionalSize + i * 40;
    if (cString(pe, at, at + 8) !== 'mods') continue;
    const rawSize = view.getUint32(at + 16, true);
    const rawOffset = view.getUint32(at + 20, true);
    const mods = pe.subarray(rawOffset, Math.min(pe.length, rawOffset + rawSize));
    return { ...readModules(mods), signed };
  }
  return undefined;
}

function readModules(mods: Uint8Array): Omit<GrubImageInfo, 'signed'> {
  const info: Omit<GrubImageInfo, 'signed'> = { modules: [], prefix: null, config: null, hasMemdisk: false };
  if (mods.length < 24) return info;
  const view = new DataView(mods.buffer, mods.byteOffset, mods.byteLength);
  if (view.getUint32(0, true) !== MODULE_INFO_MAGIC) return info;
  // grub_module_info64: magic, padding, offset (u64), size (u64) — the objects follow at `offset`.
  const start = Number(view.getBigUint64(8, true));
  const end = Math.min(mods.length, Number(view.getBigUint64(16, true)));
  for (let at = start, count = 0; at + 8 <= end && count < MAX_OBJECTS; count += 1) {
    const type = view.getUint32(at, true);
    const size = view.getUint32(at + 4, true);
    if (size < 8 || at + size > end) break;
    const body = mods.subarray(at + 8, at + size);
    if (type === OBJ_ELF) {
      const name = moduleName(body);
      if (name) info.modules.push(name);
    } else if (type === OBJ_PREFIX) info.prefix = cString(body, 0, body.length);
    else if (type === OBJ_CONFIG) info.config = cString(body, 0, body.length);
    else if (type === OBJ_MEMDISK) info.hasMemdisk = true;
    at += size;
  }
  return info;
}

/** GRUB's filesystem module for a key's filesystem type (as udisks/blkid name it). */
const FS_MODULE: Record<string, string> = { vfat: 'fat', exfat: 'exfat' };

/**
 * True when `info` describes a GRUB that cannot start from a partition of the key: unsigned (a signed one is
 * never swapped: Secure Boot), no memdisk or embedded configuration that finds its own root, and either
 * without the module for the key's filesystem built in or with a prefix naming a device — grub-mkrescue's
 * `()/boot/grub` means "the whole boot disk", an ISO on a CD but a partition table on a key (`unknown filesystem`).
 */
export function grubCannotReadKey(info: GrubImageInfo, keyFsType: string): boolean {
  const needed = FS_MODULE[keyFsType];
  if (info.signed || info.hasMemdisk || needed === undefined) return false;
  if (info.config !== null && /\bsearch\b|\bset\s+(root|prefix)=/.test(info.config)) return false;
  return !info.modules.includes(needed) || (info.prefix ?? '').startsWith('(');
}
