import { accessSync, constants } from 'node:fs';
import { describe, test } from 'node:test';
import { delimiter, join } from 'node:path';

/** What a tier needs from the machine: commands on PATH and files, each with the Debian package that has it. */
export interface TierNeeds {
  commands?: Record<string, string>;
  files?: Record<string, string>;
}

/** The tiers of ARCHITECTURE.md and TESTING.md; test/setup-test-host.sh installs every package named here. */
export const TIERS = {
  /** Parsers checked against independent tools, and the fixtures built from Debian packages. */
  tools: {
    commands: {
      xorriso: 'xorriso', isoinfo: 'genisoimage', mdir: 'mtools', 'mkfs.fat': 'dosfstools', sfdisk: 'fdisk',
      blkid: 'util-linux', mkudffs: 'udftools', 'fsck.fat': 'dosfstools', 'grub-mkrescue': 'grub-common',
      '7zz': '7zip', cryptsetup: 'cryptsetup-bin', mksquashfs: 'squashfs-tools', xz: 'xz-utils', zstd: 'zstd',
    },
    // grub-mkrescue makes the installer fixture's BIOS and UEFI entries from these platform folders.
    files: { '/usr/lib/grub/i386-pc/modinfo.sh': 'grub-pc-bin', '/usr/lib/grub/x86_64-efi/modinfo.sh': 'grub-efi-amd64-bin' },
  },
  /** A real kernel: User-Mode Linux with udisksd inside. */
  uml: {
    commands: { 'linux.uml': 'user-mode-linux', modprobe: 'kmod', 'dbus-daemon': 'dbus', udevadm: 'udev',
      udisksctl: 'udisks2', gdbus: 'libglib2.0-bin', dmsetup: 'dmsetup', cc: 'gcc', mksquashfs: 'squashfs-tools',
      'mkfs.ext4': 'e2fsprogs', 'mkfs.exfat': 'exfatprogs', 'mount.exfat-fuse': 'exfat-fuse',
      cryptsetup: 'cryptsetup-bin' },
    files: { '/usr/libexec/udisks2/udisksd': 'udisks2' },
  },
  /** Real firmware: QEMU with OVMF (UEFI) and SeaBIOS (BIOS). */
  qemu: {
    commands: { 'qemu-system-x86_64': 'qemu-system-x86', 'grub-mkstandalone': 'grub-common', mformat: 'mtools',
      'mkfs.fat': 'dosfstools', sfdisk: 'fdisk', setpriv: 'util-linux' },
    files: { '/usr/share/ovmf/OVMF.fd': 'ovmf', '/usr/lib/grub/x86_64-efi/modinfo.sh': 'grub-efi-amd64-bin',
      '/usr/lib/grub/i386-pc/modinfo.sh': 'grub-pc-bin' },
  },
  /**
   * The dracut live boot (test/boot/dracut-persistence.test.ts): QEMU's needs, plus what the dracut live fixture
   * takes from this host to build its initramfs (dracut itself comes unpacked from Debian's packages).
   */
  dracut: {
    commands: { 'qemu-system-x86_64': 'qemu-system-x86', setpriv: 'util-linux', mcopy: 'mtools', 'mkfs.fat': 'dosfstools',
      sfdisk: 'fdisk', cpio: 'cpio', depmod: 'kmod', udevadm: 'udev', dmsetup: 'dmsetup', losetup: 'mount',
      mksquashfs: 'squashfs-tools', 'mkfs.ext4': 'e2fsprogs', 'grub-mkimage': 'grub-common' },
    files: { '/usr/share/ovmf/OVMF.fd': 'ovmf', '/usr/lib/grub/i386-pc/modinfo.sh': 'grub-pc-bin',
      '/usr/lib/grub/x86_64-efi/modinfo.sh': 'grub-efi-amd64-bin' },
  },
  /** The UI in a real browser. */
  browser: { commands: { chromium: 'chromium' } },
} satisfies Record<string, TierNeeds>;

export type TierName = keyof typeof TIERS;

function onPath(command: string): boolean {
  return (process.env.PATH ?? '').split(delimiter).some((dir) => {
    try {
      accessSync(join(dir, command), constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

function exists(path: string): boolean {
  try {
    accessSync(path, constants.R_OK);
    return true;
  } catch {
    return false;
  }
}

/** The first thing the tier lacks, in words, or undefined when everything is there. */
export function missingFor(needs: TierNeeds): string | undefined {
  const command = Object.entries(needs.commands ?? {}).find(([c]) => !onPath(c));
  if (command) return `${command[1]} not installed (no ${command[0]})`;
  const file = Object.entries(needs.files ?? {}).find(([f]) => !exists(f));
  if (file) return `${file[1]} not installed (no ${file[0]})`;
  return undefined;
}

/**
 * A suite that needs system tools. Locally, missing tools skip it with one clear line; with CI=true the same
 * line fails the run, so CI can never go green on a tier it did not run.
 */
export function tierSuite(tier: TierName, name: string, body: () => void): void {
  const missing = missingFor(TIERS[tier]);
  if (missing === undefined) {
    describe(name, body);
    return;
  }
  const line = `tier ${tier}: ${missing} — npm run setup:test-host`;
  if (process.env.CI === 'true') {
    test(name, () => {
      throw new Error(`CI requires ${line}`);
    });
    return;
  }
  console.log(`skipped ${line}`);
  describe(name, { skip: `skipped ${line}` }, body);
}
