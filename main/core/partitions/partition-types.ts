/** Names for the partition types a boot key meets, as util-linux (`sfdisk -T`) spells them. */
const GPT_TYPE_NAMES: Record<string, string> = {
  'C12A7328-F81F-11D2-BA4B-00A0C93EC93B': 'EFI System',
  '21686148-6449-6E6F-744E-656564454649': 'BIOS boot',
  'EBD0A0A2-B9E5-4433-87C0-68B6B72699C7': 'Microsoft basic data',
  'E3C9E316-0B5C-4DB8-817D-F92DF00215AE': 'Microsoft reserved',
  'DE94BBA4-06D1-4D40-A16A-BFD50179D6AC': 'Windows recovery environment',
  '0FC63DAF-8483-4772-8E79-3D69D8477DE4': 'Linux filesystem',
  '0657FD6D-A4AB-43C4-84E5-0933C84B4F4F': 'Linux swap',
  '4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709': 'Linux root (x86-64)',
  '933AC7E1-2EB4-4F13-B844-0E14E2AEF915': 'Linux home',
  'A19D880F-05FC-4D3B-A006-743F0F84911E': 'Linux RAID',
  'E6D6D379-F507-44C2-A23C-238F2A3DF928': 'Linux LVM',
  'BC13C2FF-59E6-4262-A352-B275FD6F7172': 'Linux extended boot',
  '48465300-0000-11AA-AA11-00306543ECAC': 'Apple HFS/HFS+',
};

const MBR_TYPE_NAMES: Record<number, string> = {
  0x01: 'FAT12',
  0x04: 'FAT16 <32M',
  0x05: 'Extended',
  0x06: 'FAT16',
  0x07: 'HPFS/NTFS/exFAT',
  0x0b: 'W95 FAT32',
  0x0c: 'W95 FAT32 (LBA)',
  0x0e: 'W95 FAT16 (LBA)',
  0x0f: "W95 Ext'd (LBA)",
  0x17: 'Hidden HPFS/NTFS',
  0x1b: 'Hidden W95 FAT32',
  0x1c: 'Hidden W95 FAT32 (LBA)',
  0x82: 'Linux swap / Solaris',
  0x83: 'Linux',
  0x85: 'Linux extended',
  0x8e: 'Linux LVM',
  0xee: 'GPT',
  0xef: 'EFI (FAT-12/16/32)',
  0xfd: 'Linux raid autodetect',
};

export const ESP_TYPE_GUID = 'C12A7328-F81F-11D2-BA4B-00A0C93EC93B';
export const MBR_TYPE_EFI = 0xef;
export const MBR_TYPE_PROTECTIVE = 0xee;

/** An EFI system partition by its type (GPT type GUID, or MBR type 0xEF), never by its position or name. */
export function isEfiSystemPartition(partition: { type: string }): boolean {
  return partition.type === ESP_TYPE_GUID || partition.type === 'ef';
}

/** MBR types that hold a chain of logical partitions (EBRs) instead of a filesystem. */
export function isExtendedMbrType(type: number): boolean {
  return type === 0x05 || type === 0x0f || type === 0x85;
}

export function gptTypeName(guid: string): string {
  return GPT_TYPE_NAMES[guid] ?? 'unknown';
}

export function mbrTypeName(type: number): string {
  return MBR_TYPE_NAMES[type] ?? 'unknown';
}
