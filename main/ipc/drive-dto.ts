/**
 * The contract's view of a drive, for both front ends that speak the contract (Electron IPC and the web test
 * host): the drives service's listing (port Drive + policy verdict + usage) flattened into plain DTOs.
 */
import type { DriveDto, PartitionDto } from '../../preload/contract.js';
import type { Volume } from '../ports/disk-provider.js';
import type { DriveListing } from '../services/drives.js';

type PartitionVolume = Volume & { partition: NonNullable<Volume['partition']> };

export function driveDto(listing: DriveListing): DriveDto {
  const { drive } = listing;
  const table = drive.disk.partitionTable;
  return {
    id: drive.id,
    kind: drive.kind,
    device: drive.disk.device,
    deviceNumber: drive.disk.deviceNumber,
    vendor: drive.vendor,
    model: drive.model,
    serial: drive.serial,
    size: drive.size,
    connection: drive.connectionBus,
    partitionTable: table === 'dos' ? 'mbr' : table === 'gpt' ? 'gpt' : 'none',
    partitions: drive.partitions
      .filter((v): v is PartitionVolume => v.partition !== undefined)
      .sort((a, b) => a.partition.offset - b.partition.offset)
      .map((v) => partitionDto(v, listing.usage)),
    eligible: listing.eligible,
    refusals: [...listing.reasons],
    warnings: [...listing.warnings],
  };
}

function partitionDto(volume: PartitionVolume, usage: DriveListing['usage']): PartitionDto {
  const mountPoint = volume.mountPoints[0] ?? null;
  const measured = mountPoint === null ? undefined : usage[mountPoint];
  return {
    number: volume.partition.number,
    device: volume.device,
    offset: volume.partition.offset,
    size: volume.partition.size,
    fsType: volume.idType || null,
    label: volume.idLabel || null,
    // the service reports a failed measurement as size 0: unknown, not "all free"
    used: measured && measured.size > 0 ? measured.size - measured.free : null,
    mountPoint,
  };
}
