/**
 * The few steps udisks cannot do, run by the polkit-elevated helper (resources/helper). The helper checks the
 * device again itself; the confirmed identity travels with every request.
 */

/** What the user confirmed: the helper refuses the device unless all of it still matches. */
export interface ConfirmedDevice {
  /** Whole-disk device node, `/dev/sdb`. */
  device: string;
  serial: string;
  /** Bytes. */
  size: number;
}

export type HelperRequest =
  /** Validate only: exits 0 when the device passes every check (used by tests and as a dry run). */
  | { verb: 'check'; target: ConfirmedDevice }
  /** GRUB's BIOS boot code into the MBR and core.img into the gap; `mountPoint` must be a partition of `target`. */
  | { verb: 'install-grub-bios'; target: ConfirmedDevice; mountPoint: string }
  /** Read only: `dmsetup status` of a live system's device-mapper device (`live-rw`, or `bootkey-…`). */
  | { verb: 'dm-status'; name: string };

/** One line of the helper's JSON output. */
export type HelperEvent = { event: string } & Record<string, unknown>;

export interface PrivilegedRunner {
  /** Resolves with the helper's events when it exits 0; otherwise rejects with a BootkeyError. */
  run(request: HelperRequest, onEvent?: (event: HelperEvent) => void): Promise<HelperEvent[]>;
}
