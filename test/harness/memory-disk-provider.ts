/**
 * TEST FAKE: an in-memory DiskProvider for tests of the front ends (the UI over the web host) — drives appear
 * and disappear on command, every write is recorded, and the next call can be made to fail with a chosen error.
 * The real provider is the udisks adapter, tested against a real udisksd in the UML tier.
 */
import { BootkeyError, type ErrorCode } from '../../main/core/errors.js';
import type {
  DiskProvider,
  DiskSnapshot,
  Drive,
  FormatOptions,
  NewPartition,
  Volume,
} from '../../main/ports/disk-provider.js';

export interface FakePartition {
  size: number;
  fsType?: string;
  label?: string;
  /** blkid's UUID of the filesystem (`XXXX-XXXX` on FAT). */
  uuid?: string;
  mountPoint?: string;
  /** Bytes in use when mounted. */
  used?: number;
}

export interface FakeDriveSpec {
  name: string;
  vendor?: string;
  model?: string;
  serial?: string;
  size: number;
  bus?: string;
  removable?: boolean;
  hintSystem?: boolean;
  readOnly?: boolean;
  table?: 'dos' | 'gpt';
  partitions?: FakePartition[];
}

const MiB = 1024 * 1024;
let nextDeviceNumber = 2048;

/** Builds a port Drive the way the udisks adapter would report it. */
export function fakeDrive(spec: FakeDriveSpec): Drive {
  const device = `/dev/${spec.name}`;
  const id = `/org/freedesktop/UDisks2/drives/${spec.vendor ?? 'Vendor'}_${spec.model ?? 'Model'}_${spec.serial ?? spec.name}`;
  const volume = (name: string, size: number, extra: Partial<Volume> = {}): Volume => ({
    objectPath: `/org/freedesktop/UDisks2/block_devices/${name}`,
    device: `/dev/${name}`,
    deviceNumber: nextDeviceNumber++,
    size,
    readOnly: spec.readOnly ?? false,
    hintSystem: spec.hintSystem ?? false,
    idUsage: '',
    idType: '',
    idVersion: '',
    idLabel: '',
    idUuid: '',
    mountPoints: [],
    swapActive: false,
    ...extra,
  });
  let offset = MiB;
  const partitions = (spec.partitions ?? []).map((p, index) => {
    const partition = { number: index + 1, offset, size: p.size, type: '0x0c', bootable: false, name: '', uuid: '' };
    offset += p.size;
    return volume(`${spec.name}${index + 1}`, p.size, {
      idUsage: p.fsType ? 'filesystem' : '',
      idType: p.fsType ?? '',
      idLabel: p.label ?? '',
      idUuid: p.uuid ?? '',
      mountPoints: p.mountPoint ? [p.mountPoint] : [],
      partition,
    });
  });
  return {
    id,
    kind: 'disk',
    vendor: spec.vendor ?? 'Vendor',
    model: spec.model ?? 'Model',
    serial: spec.serial ?? `SERIAL-${spec.name}`,
    size: spec.size,
    removable: spec.removable ?? true,
    mediaRemovable: spec.removable ?? true,
    connectionBus: spec.bus ?? 'usb',
    canPowerOff: true,
    ejectable: true,
    disk: volume(spec.name, spec.size, { device, ...(spec.table ? { partitionTable: spec.table } : {}) }),
    partitions,
  };
}

export class MemoryDiskProvider implements DiskProvider {
  #drives: Drive[] = [];
  readonly #listeners = new Set<(snapshot: DiskSnapshot) => void>();
  readonly #usage = new Map<string, number>();
  #failure: { code: ErrorCode; message: string } | undefined;
  /** Every call that would change a disk, in order: the proof that a cancelled action wrote nothing. */
  readonly writes: string[] = [];

  constructor(initial: FakeDriveSpec[] = []) {
    for (const spec of initial) this.#add(spec);
  }

  /** Plugs a drive in and tells listeners, as udisks would after a hotplug. */
  attach(spec: FakeDriveSpec): Drive {
    const drive = this.#add(spec);
    this.#emit();
    return drive;
  }

  /** Unplugs the drive whose device name (`sdb`) is given. */
  detach(name: string): void {
    this.#drives = this.#drives.filter((d) => d.disk.device !== `/dev/${name}`);
    this.#emit();
  }

  /** The next write (or usage) call fails with this error. */
  failNext(code: ErrorCode, message: string): void {
    this.#failure = { code, message };
  }

  #add(spec: FakeDriveSpec): Drive {
    const drive = fakeDrive(spec);
    (spec.partitions ?? []).forEach((p) => {
      if (p.mountPoint) this.#usage.set(p.mountPoint, p.used ?? 0);
    });
    this.#drives.push(drive);
    return drive;
  }

  #emit(): void {
    const snapshot = this.snapshot();
    for (const listener of this.#listeners) listener(snapshot);
  }

  #write(what: string): void {
    const failure = this.#failure;
    this.#failure = undefined;
    if (failure) throw new BootkeyError(failure.code, failure.message);
    this.writes.push(what);
  }

  #drive(objectPath: string): Drive {
    const drive = this.#drives.find((d) => d.id === objectPath || d.disk.objectPath === objectPath);
    if (!drive) throw new BootkeyError('DEVICE_GONE', `${objectPath} is gone`);
    return drive;
  }

  async start(): Promise<void> {}
  async stop(): Promise<void> {
    this.#listeners.clear();
  }
  snapshot(): DiskSnapshot {
    return { drives: [...this.#drives] };
  }
  async refresh(): Promise<DiskSnapshot> {
    return this.snapshot();
  }
  onChange(listener: (snapshot: DiskSnapshot) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }
  async mount(volume: string): Promise<string> {
    this.#write(`mount ${volume}`);
    return `/media/test/${volume.split('/').pop()}`;
  }
  async unmount(volume: string): Promise<void> {
    this.#write(`unmount ${volume}`);
  }
  async unmountAll(driveId: string): Promise<void> {
    this.#write(`unmountAll ${driveId}`);
  }
  async format(volume: string, options: FormatOptions): Promise<void> {
    this.#write(`format ${volume} ${options.type} ${options.label}`);
  }
  async createPartitionTable(disk: string, type: 'dos' | 'gpt'): Promise<void> {
    this.#write(`createPartitionTable ${disk} ${type}`);
  }
  /** Replaces the drive's partitions with the one new partition, as the real sequence would leave it. */
  async createPartition(disk: string, partition: NewPartition): Promise<string> {
    this.#write(`createPartition ${disk} ${partition.type}`);
    const old = this.#drive(disk);
    const name = old.disk.device.slice('/dev/'.length);
    const index = this.#drives.indexOf(old);
    const replaced = fakeDrive({
      name,
      vendor: old.vendor,
      model: old.model,
      serial: old.serial,
      size: old.size,
      bus: old.connectionBus,
      table: 'dos',
      partitions: [{ size: old.size - MiB, fsType: partition.format?.type, label: partition.format?.label }],
    });
    // the same physical drive keeps its identity
    this.#drives[index] = { ...replaced, id: old.id, disk: { ...replaced.disk, deviceNumber: old.disk.deviceNumber } };
    this.#emit();
    return replaced.partitions[0]!.objectPath;
  }
  async setLabel(volume: string, label: string): Promise<void> {
    this.#write(`setLabel ${volume} ${label}`);
  }
  async attachImage(file: string): Promise<string> {
    this.#write(`attachImage ${file}`);
    throw new BootkeyError('INTERNAL', 'the memory provider does not attach images');
  }
  async detachImage(loop: string): Promise<void> {
    this.#write(`detachImage ${loop}`);
  }
  async powerOff(driveId: string): Promise<void> {
    this.#write(`powerOff ${driveId}`);
  }
  async usage(mountPoint: string): Promise<{ size: number; free: number }> {
    const drive = this.#drives.find((d) => d.partitions.some((p) => p.mountPoints.includes(mountPoint)));
    const volume = drive?.partitions.find((p) => p.mountPoints.includes(mountPoint));
    if (!volume) throw new BootkeyError('NOT_MOUNTED', `${mountPoint} is not mounted`);
    return { size: volume.size, free: volume.size - (this.#usage.get(mountPoint) ?? 0) };
  }
}
