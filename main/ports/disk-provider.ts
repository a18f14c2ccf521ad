/**
 * The system's disks as one immutable snapshot (drives → their whole-disk block → partitions), and the
 * operations Bootkey performs on them without root. The udisks2 adapter implements it; tests may fake it.
 * Every volume and drive is named by its udisks object path, which stays the same while the device exists.
 */

/** A block device: a whole disk, a partition, or a loop device. Sizes in bytes; device paths without NUL. */
export interface Volume {
  readonly objectPath: string;
  /** `/dev/sda1` */
  readonly device: string;
  /** Linux dev_t as udisks reports it (major * 256 + minor for small numbers). */
  readonly deviceNumber: number;
  readonly size: number;
  readonly readOnly: boolean;
  readonly hintSystem: boolean;
  /** blkid's view: usage (`filesystem`, `other`, `crypto`), type (`vfat`, `swap`, `ext4`), version, label, UUID. */
  readonly idUsage: string;
  readonly idType: string;
  readonly idVersion: string;
  readonly idLabel: string;
  readonly idUuid: string;
  /** Where this volume, or an unlocked volume inside it, is mounted. */
  readonly mountPoints: readonly string[];
  /** True when this volume, or a volume inside it, is active swap. */
  readonly swapActive: boolean;
  /** Set when the volume is a partition. */
  readonly partition?: PartitionInfo;
  /** Set when the volume holds a partition table (`dos` or `gpt`). */
  readonly partitionTable?: string;
}

export interface PartitionInfo {
  readonly number: number;
  readonly offset: number;
  readonly size: number;
  /** MBR type as `0x0c`, or a GPT type GUID. */
  readonly type: string;
  readonly bootable: boolean;
  readonly name: string;
  readonly uuid: string;
}

/** A physical drive (or an image file attached as a loop device) with its whole-disk block and partitions. */
export interface Drive {
  /** Object path of the udisks Drive, or of the loop Block for an attached image. */
  readonly id: string;
  readonly kind: 'disk' | 'loop';
  readonly vendor: string;
  readonly model: string;
  readonly serial: string;
  readonly size: number;
  readonly removable: boolean;
  readonly mediaRemovable: boolean;
  /** `usb`, `sdio`, `ieee1394` … or '' when udisks does not know. */
  readonly connectionBus: string;
  readonly canPowerOff: boolean;
  readonly ejectable: boolean;
  readonly disk: Volume;
  readonly partitions: readonly Volume[];
  /** For a loop device: the image file behind it and the uid that attached it. */
  readonly loop?: { readonly backingFile: string; readonly setupByUid: number };
}

export interface DiskSnapshot {
  readonly drives: readonly Drive[];
}

export type FilesystemType = 'vfat' | 'exfat' | 'ext4';

export interface FormatOptions {
  type: FilesystemType;
  label: string;
}

export interface NewPartition {
  /** Bytes; 0 lets udisks choose (the start of the largest free space). */
  offset: number;
  /** Bytes; 0 means "all the free space". */
  size: number;
  /** MBR type (`0x0c`) or GPT type GUID. */
  type: string;
  bootable?: boolean;
  /** GPT partition name. */
  name?: string;
  /** Format the new partition in the same call. */
  format?: FormatOptions;
}

export interface DiskProvider {
  /** Connects and takes the first snapshot; changes are tracked until stop(). */
  start(): Promise<void>;
  stop(): Promise<void>;
  /** The latest snapshot (tracked from change signals). */
  snapshot(): DiskSnapshot;
  /** A fresh snapshot read from the daemon now (before a write, so nothing is stale). */
  refresh(): Promise<DiskSnapshot>;
  /** Called (debounced) after hotplug or property changes; returns the unsubscribe function. */
  onChange(listener: (snapshot: DiskSnapshot) => void): () => void;

  mount(volume: string): Promise<string>;
  /** NOT_MOUNTED is not an error here: the volume is unmounted either way. */
  unmount(volume: string): Promise<void>;
  unmountAll(driveId: string): Promise<void>;
  format(volume: string, options: FormatOptions): Promise<void>;
  createPartitionTable(disk: string, type: 'dos' | 'gpt'): Promise<void>;
  /** Returns the object path of the new partition. */
  createPartition(disk: string, partition: NewPartition): Promise<string>;
  setLabel(volume: string, label: string): Promise<void>;
  /** Attaches an image file as a loop device (partitions scanned); returns the loop Block's object path. */
  attachImage(file: string, options: { readOnly: boolean }): Promise<string>;
  detachImage(loop: string): Promise<void>;
  powerOff(driveId: string): Promise<void>;
  /** Total and free bytes of a mounted filesystem. */
  usage(mountPoint: string): Promise<{ size: number; free: number }>;
}
