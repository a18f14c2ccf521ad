import type { Drive, Volume } from '../ports/disk-provider.js';
import { formatBytes } from '../../preload/byte-size.js';

export { formatBytes };

/** Mount points that mean "this disk runs the computer". */
const SYSTEM_MOUNTS = new Set(['/', '/boot', '/boot/efi', '/efi', '/home', '/usr', '/var']);
/** Buses of plug-in media; udisks leaves ConnectionBus empty for some, hence also the removable flags. */
const PLUGGABLE_BUSES = new Set(['usb', 'sdio', 'mmc']);
/** Above this a "key" is more likely a backup disk: allowed, with a warning. */
export const LARGE_DRIVE_BYTES = 128e9;

export interface PolicyContext {
  /** Device numbers (st_dev) of the filesystems holding the source image(s): those drives are never targets. */
  sourceDeviceNumbers?: readonly number[];
  /** Bytes the operation needs on the drive. */
  requiredBytes?: number;
  /** Object paths of loop devices Bootkey attached itself (image files the user chose as targets). */
  attachedByBootkey?: readonly string[];
}

export interface DriveVerdict {
  readonly drive: Drive;
  readonly eligible: boolean;
  /** Why it is refused, in words a user understands (empty when eligible). */
  readonly reasons: readonly string[];
  readonly warnings: readonly string[];
}

function volumes(drive: Drive): Volume[] {
  return [drive.disk, ...drive.partitions];
}

/** Decides whether a drive may be written to, and says why not. */
export function assessDrive(drive: Drive, context: PolicyContext = {}): DriveVerdict {
  const reasons: string[] = [];
  const warnings: string[] = [];
  if (drive.kind === 'loop') {
    if (!(context.attachedByBootkey ?? []).includes(drive.id)) {
      reasons.push('it is a loop device that Bootkey did not attach');
    }
  } else if (!drive.removable && !drive.mediaRemovable && !PLUGGABLE_BUSES.has(drive.connectionBus)) {
    reasons.push('it is an internal disk, not a removable or USB drive');
  }
  if (volumes(drive).some((v) => v.hintSystem) && drive.kind !== 'loop') {
    reasons.push('the system marks it as a system disk');
  }
  if (volumes(drive).some((v) => v.readOnly)) reasons.push('it is read-only (check its write-protect switch)');
  const systemMounts = volumes(drive)
    .flatMap((v) => v.mountPoints)
    .filter((m) => SYSTEM_MOUNTS.has(m));
  if (systemMounts.length > 0) {
    reasons.push(`it holds the running system (mounted at ${systemMounts.join(', ')})`);
  }
  if (volumes(drive).some((v) => v.swapActive)) reasons.push('it holds active swap space');
  const sources = context.sourceDeviceNumbers ?? [];
  if (volumes(drive).some((v) => sources.includes(v.deviceNumber))) {
    reasons.push('it holds the image you are copying from');
  }
  if (drive.size === 0) reasons.push('it has no medium');
  else if (context.requiredBytes !== undefined && drive.size < context.requiredBytes) {
    reasons.push(`it is too small (${formatBytes(drive.size)}; ${formatBytes(context.requiredBytes)} needed)`);
  }
  if (drive.size > LARGE_DRIVE_BYTES) {
    warnings.push(`it is large (${formatBytes(drive.size)}) for a USB key: make sure it is not a backup disk`);
  }
  return { drive, eligible: reasons.length === 0, reasons, warnings };
}

