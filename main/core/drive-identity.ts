import { BootkeyError } from './errors.js';
import type { DiskSnapshot, Drive } from '../ports/disk-provider.js';

/** What the user confirmed about a drive: all of it must still hold right before the first byte is written. */
export interface DriveIdentity {
  /** Whole-disk device node, `/dev/sdb`. */
  readonly device: string;
  readonly serial: string;
  readonly size: number;
  readonly deviceNumber: number;
}

export function identityOf(drive: Drive): DriveIdentity {
  return { device: drive.disk.device, serial: drive.serial, size: drive.size, deviceNumber: drive.disk.deviceNumber };
}

/**
 * The drive now behind the confirmed device node, or TARGET_CHANGED when it is gone or differs in serial,
 * size or device number (another key plugged into the same port gets the same name).
 */
export function confirmIdentity(confirmed: DriveIdentity, snapshot: DiskSnapshot): Drive {
  const drive = snapshot.drives.find((d) => d.disk.device === confirmed.device);
  if (!drive) {
    throw new BootkeyError('TARGET_CHANGED', `${confirmed.device} is no longer there`, { device: confirmed.device });
  }
  const now = identityOf(drive);
  const changed = (['serial', 'size', 'deviceNumber'] as const).filter((k) => now[k] !== confirmed[k]);
  if (changed.length > 0) {
    throw new BootkeyError('TARGET_CHANGED', `${confirmed.device} is not the drive you confirmed (${changed.join(', ')} changed)`, {
      device: confirmed.device,
      changed,
    });
  }
  return drive;
}
