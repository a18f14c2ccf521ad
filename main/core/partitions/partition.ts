/** What a partition table says, in one shape for MBR and GPT; offsets and sizes in bytes. */

export type PartitionScheme = 'gpt' | 'mbr' | 'none';

/**
 * `bootable`: the MBR active flag; `extended`: an MBR container of logical partitions (not a filesystem);
 * `logical`: inside one; GPT attribute bits 0–2 as `required`, `no-block-io`, `legacy-bios-bootable`.
 */
export type PartitionFlag = 'bootable' | 'extended' | 'logical' | 'required' | 'no-block-io' | 'legacy-bios-bootable';

export interface Partition {
  /** As Linux numbers it (the `N` of /dev/sdXN): the GPT entry index + 1, the MBR slot 1–4, logical from 5. */
  number: number;
  start: number;
  size: number;
  /** GPT: the type GUID (upper case); MBR: the type byte as two lower-case hex digits. */
  type: string;
  /** A name for the type as util-linux gives it, or 'unknown'. */
  typeName: string;
  /** GPT only: the partition's own name and unique GUID. */
  name?: string;
  uuid?: string;
  /** GPT only: the 64-bit attribute field as 16 hex digits. */
  attributes?: string;
  flags: PartitionFlag[];
}

export interface PartitionTable {
  scheme: PartitionScheme;
  /** Logical sector size the table's LBAs count in (512 or 4096). */
  sectorSize: number;
  /** GPT disk GUID, or the MBR disk signature as `0x` and 8 hex digits (as sfdisk shows it). */
  diskId?: string;
  partitions: Partition[];
  /**
   * GPT only, on a hybrid MBR (isohybrid, some grub-mkrescue/xorriso output): the MBR's entries other than
   * the protective one, which BIOS boot code sees instead of the GPT.
   */
  hybridMbr?: Partition[];
  /** Damage that was worked around (a bad primary GPT header, a broken EBR chain …), in words. */
  warnings: string[];
}
