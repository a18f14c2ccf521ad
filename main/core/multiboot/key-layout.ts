import { BootkeyError } from '../errors.js';

/** The GRUB BIOS core.img goes into the gap before the first partition; 1 MiB is what partitioners leave. */
export const MIN_GAP_BYTES = 1024 * 1024;
const BIOS_BOOT_GUID = '21686148-6449-6e6f-744e-656564454649';

/** The key as udisks describes it: enough to decide where GRUB can go without moving a byte of user data. */
export interface KeyLayoutInput {
  /** `dos`, `gpt`, or undefined for a filesystem on the whole disk ("superfloppy"). */
  partitionTable: string | undefined;
  partitions: { number: number; offset: number; type: string; idType: string; device: string }[];
  /** The volume whose files we write (`/dev/sdb1`). */
  filesystemDevice: string;
  filesystemType: string;
}

export interface GrubPlan {
  /** BIOS boot code into the MBR and core.img into the gap (the partition table and data untouched). */
  bios: boolean;
  /**
   * UEFI firmware can start it. EFI/BOOT/BOOTX64.EFI and the modules are written either way; on exFAT this is
   * false, since firmware is only required to read FAT.
   */
  uefi: boolean;
  /** Partition number of the filesystem holding /boot/grub (for core.img's prefix), 0 without a table. */
  partitionNumber: number;
  warnings: string[];
}

/**
 * Keep-my-files: where GRUB can go on a key as it is. UEFI always (files in the FAT/exFAT filesystem); BIOS
 * only on an MBR table whose first partition starts at ≥ 1 MiB and is the FAT/exFAT one we write to, since
 * core.img must fit the gap and boot.img only takes the MBR's first 440 bytes.
 */
export function planGrubInstall(input: KeyLayoutInput): GrubPlan {
  if (input.filesystemType !== 'vfat' && input.filesystemType !== 'exfat') {
    throw new BootkeyError('TARGET_REFUSED', `${input.filesystemDevice} holds ${input.filesystemType || 'no filesystem'}: GRUB for UEFI needs FAT (or exFAT)`);
  }
  const sorted = [...input.partitions].sort((a, b) => a.offset - b.offset);
  const own = sorted.find((p) => p.device === input.filesystemDevice);
  const uefi = input.filesystemType === 'vfat';
  // The UEFI specification requires firmware to read FAT12/16/32 only; EDK2 (OVMF, most PCs) has no exFAT driver.
  const warnings: string[] = input.filesystemType === 'exfat'
    ? ['exFAT key: the UEFI loader is written, but most UEFI firmware reads only FAT and will not start it; BIOS machines boot it (use FAT32 for UEFI)']
    : [];
  if (input.partitionTable === undefined || !own) {
    warnings.push('the key has no partition table (one filesystem on the whole disk): UEFI only; BIOS machines will not boot it (use --fresh for both)');
    return { bios: false, uefi, partitionNumber: 0, warnings };
  }
  if (input.partitionTable === 'gpt') {
    const biosBoot = sorted.some((p) => p.type.toLowerCase() === BIOS_BOOT_GUID);
    warnings.push(biosBoot
      ? 'GPT key: Bootkey installs BIOS GRUB only on MBR keys; UEFI only'
      : 'GPT key without a BIOS boot partition: UEFI only; BIOS machines will not boot it (use --fresh for both)');
    return { bios: false, uefi, partitionNumber: own.number, warnings };
  }
  const first = sorted[0];
  if (first !== own) {
    warnings.push(`${own.device} is not the first partition, whose start bounds the gap: UEFI only`);
    return { bios: false, uefi, partitionNumber: own.number, warnings };
  }
  if (own.offset < MIN_GAP_BYTES) {
    warnings.push(`the first partition starts at ${own.offset} bytes, before 1 MiB: no room for GRUB's core.img, so UEFI only`);
    return { bios: false, uefi, partitionNumber: own.number, warnings };
  }
  return { bios: true, uefi, partitionNumber: own.number, warnings };
}
