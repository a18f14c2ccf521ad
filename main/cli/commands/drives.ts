import { formatBytes } from '../../core/drive-policy.js';
import { connectSystemUdisks } from '../../adapters/udisks/system-udisks.js';
import { DriveService, type DriveListing } from '../../services/drives.js';
import { EXIT_BAD_INPUT, EXIT_OK, type Command } from '../command.js';

const USAGE = `Usage: bootkey drives [--all] [--json]

Lists the drives Bootkey may write to: vendor, model, size, partitions, filesystems, labels, mount points and
free space. --all also lists the drives it refuses, with the reasons.`;

function toJson(listing: DriveListing) {
  const { drive } = listing;
  const volume = (v: DriveListing['drive']['disk']) => ({
    device: v.device,
    size: v.size,
    filesystem: v.idType,
    version: v.idVersion,
    label: v.idLabel,
    uuid: v.idUuid,
    mountPoints: v.mountPoints,
    free: v.mountPoints.length > 0 ? (listing.usage[v.mountPoints[0] as string]?.free ?? null) : null,
    ...(v.partition && { number: v.partition.number, type: v.partition.type, bootable: v.partition.bootable }),
  });
  return {
    device: drive.disk.device,
    kind: drive.kind,
    vendor: drive.vendor,
    model: drive.model,
    serial: drive.serial,
    size: drive.size,
    connectionBus: drive.connectionBus,
    removable: drive.removable || drive.mediaRemovable,
    partitionTable: drive.disk.partitionTable ?? null,
    eligible: listing.eligible,
    reasons: listing.reasons,
    warnings: listing.warnings,
    ...(drive.loop && { backingFile: drive.loop.backingFile }),
    partitions: drive.partitions.map(volume),
    ...(drive.partitions.length === 0 && drive.disk.idType !== '' && { filesystem: volume(drive.disk) }),
  };
}

function toText(listing: DriveListing): string {
  const { drive } = listing;
  const name = [drive.vendor, drive.model].filter(Boolean).join(' ') || 'Unknown drive';
  const lines = [`${drive.disk.device}  ${name}  ${formatBytes(drive.size)}${drive.loop ? `  (${drive.loop.backingFile})` : ''}`];
  for (const v of drive.partitions.length > 0 ? drive.partitions : [drive.disk]) {
    if (v === drive.disk && v.idType === '') continue;
    const mount = v.mountPoints[0];
    const free = mount !== undefined ? listing.usage[mount] : undefined;
    const where = mount !== undefined ? `  on ${mount}${free ? `, ${formatBytes(free.free)} free` : ''}` : '';
    lines.push(`  ${v.device}  ${v.idType || 'no filesystem'}${v.idLabel ? ` "${v.idLabel}"` : ''}  ${formatBytes(v.size)}${where}`);
  }
  for (const reason of listing.reasons) lines.push(`  refused: ${reason}`);
  for (const warning of listing.warnings) lines.push(`  warning: ${warning}`);
  return lines.join('\n');
}

export const drivesCommand: Command = {
  name: 'drives',
  summary: 'list the drives Bootkey can write to',
  usage: USAGE,
  async run(args, io) {
    const unknown = args.find((a) => a !== '--json' && a !== '--all');
    if (unknown !== undefined) {
      io.stderr.write(`bootkey: drives: unknown option '${unknown}'\n${USAGE}\n`);
      return EXIT_BAD_INPUT;
    }
    const udisks = await connectSystemUdisks({ required: true });
    try {
      const listings = await new DriveService(udisks.disks).list({ all: args.includes('--all') });
      if (args.includes('--json')) io.stdout.write(`${JSON.stringify({ drives: listings.map(toJson) }, null, 2)}\n`);
      else io.stdout.write(listings.length > 0 ? `${listings.map(toText).join('\n\n')}\n` : 'No drive Bootkey can use.\n');
      return EXIT_OK;
    } finally {
      await udisks.close();
    }
  },
};
