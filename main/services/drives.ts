import { assessDrive, type DriveVerdict, type PolicyContext } from '../core/drive-policy.js';
import { confirmIdentity, type DriveIdentity } from '../core/drive-identity.js';
import { BootkeyError } from '../core/errors.js';
import type { DiskProvider, Drive, FilesystemType } from '../ports/disk-provider.js';

/** A drive as the user sees it in a list: the policy's verdict and the free space of each mounted filesystem. */
export interface DriveListing extends DriveVerdict {
  /** Mount point → total and free bytes. */
  readonly usage: Readonly<Record<string, { size: number; free: number }>>;
}

export interface PrepareKeyOptions {
  table: 'dos' | 'gpt';
  filesystem: FilesystemType;
  label: string;
}

/** MBR type per filesystem (FAT32 LBA, exFAT/NTFS, Linux); GPT uses Microsoft basic data or Linux data. */
const MBR_TYPES: Record<FilesystemType, string> = { vfat: '0x0c', exfat: '0x07', ext4: '0x83' };
const GPT_TYPES: Record<FilesystemType, string> = {
  vfat: 'ebd0a0a2-b9e5-4433-87c0-68b6b72699c7',
  exfat: 'ebd0a0a2-b9e5-4433-87c0-68b6b72699c7',
  ext4: '0fc63daf-8483-4772-8e79-3d69d8477de4',
};
/** The first partition starts at 1 MiB: aligned, and the gap holds GRUB's core.img. */
const FIRST_PARTITION_OFFSET = 1024 * 1024;

/** Lists drives with the safety policy applied, and guards every write with the identity check. */
export class DriveService {
  /** Loop devices Bootkey attached itself: image files the user chose as targets. */
  private readonly attached = new Set<string>();

  constructor(private readonly disks: DiskProvider) {}

  private context(context: PolicyContext): PolicyContext {
    return { ...context, attachedByBootkey: [...(context.attachedByBootkey ?? []), ...this.attached] };
  }

  /** Eligible drives, or every drive with `all` (refused ones carry their reasons). */
  async list(options: { all?: boolean; context?: PolicyContext } = {}): Promise<DriveListing[]> {
    const snapshot = await this.disks.refresh();
    const verdicts = snapshot.drives.map((d) => assessDrive(d, this.context(options.context ?? {})));
    const shown = options.all ? verdicts : verdicts.filter((v) => v.eligible);
    return Promise.all(
      shown.map(async (verdict) => {
        const mounts = [verdict.drive.disk, ...verdict.drive.partitions].flatMap((v) => v.mountPoints);
        const usage: Record<string, { size: number; free: number }> = {};
        for (const mount of mounts) usage[mount] = await this.disks.usage(mount).catch(() => ({ size: 0, free: 0 }));
        return { ...verdict, usage };
      }),
    );
  }

  /**
   * Right before a write: the drive behind the confirmed device must be the confirmed one (TARGET_CHANGED
   * otherwise) and must still pass the policy (TARGET_REFUSED with the reasons otherwise).
   */
  async confirmTarget(confirmed: DriveIdentity, context: PolicyContext = {}): Promise<Drive> {
    const drive = confirmIdentity(confirmed, await this.disks.refresh());
    const verdict = assessDrive(drive, this.context(context));
    if (!verdict.eligible) {
      throw new BootkeyError('TARGET_REFUSED', `${drive.disk.device} cannot be used: ${verdict.reasons.join('; ')}`, {
        device: drive.disk.device,
        reasons: verdict.reasons,
      });
    }
    return drive;
  }

  /** Attaches an image file the user chose as a target; from then on the policy accepts it. */
  async attachImageTarget(file: string): Promise<string> {
    const loop = await this.disks.attachImage(file, { readOnly: false });
    this.attached.add(loop);
    return loop;
  }

  async detachImageTarget(loop: string): Promise<void> {
    await this.disks.detachImage(loop);
    this.attached.delete(loop);
  }

  /**
   * Erases a confirmed key: a new partition table with one partition from 1 MiB to the end, formatted and
   * marked bootable. Returns the new partition's object path. Nothing is written unless the checks pass.
   */
  async prepareKey(confirmed: DriveIdentity, options: PrepareKeyOptions, context: PolicyContext = {}): Promise<string> {
    const drive = await this.confirmTarget(confirmed, context);
    await this.disks.unmountAll(drive.id);
    await this.disks.createPartitionTable(drive.disk.objectPath, options.table);
    return this.disks.createPartition(drive.disk.objectPath, {
      offset: FIRST_PARTITION_OFFSET,
      size: 0,
      type: (options.table === 'gpt' ? GPT_TYPES : MBR_TYPES)[options.filesystem],
      bootable: true,
      format: { type: options.filesystem, label: options.label },
    });
  }
}
