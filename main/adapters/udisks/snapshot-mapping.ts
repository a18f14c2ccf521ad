import type { DiskSnapshot, Drive, Volume } from '../../ports/disk-provider.js';

/** GetManagedObjects with the variants unwrapped: object path → interface → property → value. */
export type ManagedObjects = Record<string, Record<string, Record<string, unknown>>>;

export const UDISKS = 'org.freedesktop.UDisks2';
const IFACE = {
  drive: `${UDISKS}.Drive`,
  block: `${UDISKS}.Block`,
  partition: `${UDISKS}.Partition`,
  table: `${UDISKS}.PartitionTable`,
  filesystem: `${UDISKS}.Filesystem`,
  swap: `${UDISKS}.Swapspace`,
  loop: `${UDISKS}.Loop`,
};
const NO_OBJECT = '/';

/** D-Bus `t`/`x` arrive as BigInt; every size we handle fits a double exactly (< 2^53 bytes). */
function num(value: unknown): number {
  return typeof value === 'bigint' ? Number(value) : typeof value === 'number' ? value : 0;
}

function str(value: unknown): string {
  return typeof value === 'string' ? value : '';
}

/** `ay` paths (Buffer, Uint8Array or number[]) carry a trailing NUL that is not part of the path. */
export function bytesToPath(value: unknown): string {
  if (!value || typeof value !== 'object' || !('length' in value)) return '';
  const bytes = Array.from(value as ArrayLike<number>);
  const end = bytes.indexOf(0);
  return new TextDecoder().decode(Uint8Array.from(end === -1 ? bytes : bytes.slice(0, end)));
}

interface BlockRecord {
  path: string;
  ifaces: Record<string, Record<string, unknown>>;
  mountPoints: string[];
  swapActive: boolean;
}

/** Maps the daemon's objects to drives → whole disk → partitions. Pure: the same dump gives the same snapshot. */
export function mapSnapshot(objects: ManagedObjects): DiskSnapshot {
  const blocks = new Map<string, BlockRecord>();
  for (const [path, ifaces] of Object.entries(objects)) {
    if (!ifaces[IFACE.block]) continue;
    const fs = ifaces[IFACE.filesystem];
    blocks.set(path, {
      path,
      ifaces,
      mountPoints: fs ? ((fs.MountPoints as unknown[]) ?? []).map(bytesToPath) : [],
      swapActive: ifaces[IFACE.swap]?.Active === true,
    });
  }
  // An unlocked encrypted volume's mounts and swap count for the partition that holds it.
  for (const block of blocks.values()) {
    const seen = new Set<string>([block.path]);
    let backing = str(block.ifaces[IFACE.block]?.CryptoBackingDevice);
    while (backing !== '' && backing !== NO_OBJECT && !seen.has(backing)) {
      seen.add(backing);
      const holder = blocks.get(backing);
      if (!holder) break;
      holder.mountPoints.push(...block.mountPoints);
      holder.swapActive ||= block.swapActive;
      backing = str(holder.ifaces[IFACE.block]?.CryptoBackingDevice);
    }
  }
  const isPartition = (b: BlockRecord) => Boolean(b.ifaces[IFACE.partition]);
  const isCleartext = (b: BlockRecord) => str(b.ifaces[IFACE.block]?.CryptoBackingDevice) !== NO_OBJECT &&
    str(b.ifaces[IFACE.block]?.CryptoBackingDevice) !== '';
  const partitionsOf = (disk: BlockRecord) =>
    [...blocks.values()]
      .filter((b) => b.ifaces[IFACE.partition]?.Table === disk.path)
      .map(toVolume)
      .sort((a, b) => (a.partition?.number ?? 0) - (b.partition?.number ?? 0));

  const drives: Drive[] = [];
  for (const [path, ifaces] of Object.entries(objects)) {
    const d = ifaces[IFACE.drive];
    if (!d) continue;
    const disk = [...blocks.values()].find(
      (b) => b.ifaces[IFACE.block]?.Drive === path && !isPartition(b) && !isCleartext(b),
    );
    if (!disk) continue; // a card reader without a card
    drives.push({
      id: path,
      kind: 'disk',
      vendor: str(d.Vendor).trim(),
      model: str(d.Model).trim(),
      serial: str(d.Serial),
      size: num(d.Size) || num(disk.ifaces[IFACE.block]?.Size),
      removable: d.Removable === true,
      mediaRemovable: d.MediaRemovable === true,
      connectionBus: str(d.ConnectionBus),
      canPowerOff: d.CanPowerOff === true,
      ejectable: d.Ejectable === true,
      disk: toVolume(disk),
      partitions: partitionsOf(disk),
    });
  }
  for (const block of blocks.values()) {
    const loop = block.ifaces[IFACE.loop];
    if (!loop || isPartition(block)) continue;
    const backingFile = bytesToPath(loop.BackingFile);
    if (backingFile === '') continue; // an unused /dev/loopN
    const disk = toVolume(block);
    drives.push({
      id: block.path,
      kind: 'loop',
      vendor: '',
      model: 'Image file',
      serial: '',
      size: disk.size,
      removable: false,
      mediaRemovable: false,
      connectionBus: '',
      canPowerOff: false,
      ejectable: false,
      disk,
      partitions: partitionsOf(block),
      loop: { backingFile, setupByUid: num(loop.SetupByUID) },
    });
  }
  drives.sort((a, b) => a.disk.device.localeCompare(b.disk.device));
  return { drives };
}

function toVolume(block: BlockRecord): Volume {
  const b = block.ifaces[IFACE.block] ?? {};
  const p = block.ifaces[IFACE.partition];
  const table = block.ifaces[IFACE.table];
  return {
    objectPath: block.path,
    device: bytesToPath(b.Device),
    deviceNumber: num(b.DeviceNumber),
    size: num(b.Size),
    readOnly: b.ReadOnly === true,
    hintSystem: b.HintSystem === true,
    idUsage: str(b.IdUsage),
    idType: str(b.IdType),
    idVersion: str(b.IdVersion),
    idLabel: str(b.IdLabel),
    idUuid: str(b.IdUUID),
    mountPoints: [...block.mountPoints],
    swapActive: block.swapActive,
    ...(p && {
      partition: {
        number: num(p.Number),
        offset: num(p.Offset),
        size: num(p.Size),
        type: str(p.Type),
        // MBR active flag is bit 7 (0x80); GPT "legacy BIOS bootable" is bit 2
        bootable: (num(p.Flags) & 0x80) !== 0 || (num(p.Flags) & 0x4) !== 0,
        name: str(p.Name),
        uuid: str(p.UUID),
      },
    }),
    ...(table && { partitionTable: str(table.Type) }),
  };
}
