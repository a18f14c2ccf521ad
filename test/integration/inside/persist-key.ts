// Runs inside UML as root with udisks and one scsi_debug key (see persist-key.test.ts). The key is a FAT
// filesystem found and mounted by udisks, named by its device as a user would; everything goes through the real
// `bootkey persist` and `bootkey multiboot` command lines:
//   1. extracted LiveOS: create (dm + home.img) puts rd.live.overlay into the LiveOS entries of both grub.cfg
//      files and records the files in the manifest; delete asks for --yes, then takes everything out again;
//      create again (overlayfs) adds the OverlayFS switch;
//   2. the same key made a multi-ISO key with a Fedora-style live ISO: list shows the ISO with its label and
//      UUID, create --image puts the overlay next to it and its parameters into the ISO's menu entry (kept when
//      the menu is regenerated), status/grow/reset on it, delete takes it and its parameters away.
// Judged on the host from BOOTKEY_OUT/persist-key.json: blkid, grub-script-check, fsck.fat and the files' bytes.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { bootkey, run, tryRun } from './inside-commands.js';

const [squashfs] = process.argv.slice(2) as [string];
const out = process.env.BOOTKEY_OUT ?? '/tmp';
// The host's /tmp is hidden in here: the ISO comes through the out folder.
const iso = `${out}/fedora-live.iso`;
const report: Record<string, unknown> = {};
const key = '/dev/sda';

/** Waits until udisks shows the key's vfat filesystem. */
function settle(): void {
  for (let i = 0; i < 50; i += 1) {
    run('udevadm', ['settle']);
    if (/IdType:\s+vfat\b/.test(tryRun('udisksctl', ['info', '-b', key]).out)) return;
    spawnSync('sleep', ['0.2']);
  }
  throw new Error(`${key} never showed vfat in udisks`);
}

const GRUB_CFG = (label: string) => [
  'set default="0"',
  'set timeout=5',
  `menuentry 'Start Fedora-Workstation-Live 42' --class fedora {`,
  `\tlinux /images/pxeboot/vmlinuz root=live:LABEL=${label} rd.live.image rd.live.overlay.readonly quiet rhgb`,
  '\tinitrd /images/pxeboot/initrd.img',
  '}',
  `menuentry 'Test this media & start Fedora-Workstation-Live 42' {`,
  `\tlinux /images/pxeboot/vmlinuz root=live:LABEL=${label} rd.live.image rd.live.check quiet`,
  '\tinitrd /images/pxeboot/initrd.img',
  '}',
  "menuentry 'Memory test (my own)' {",
  '\tlinux /boot/memtest.bin console=ttyS0',
  '}',
  '',
].join('\n');

try {
  run('mkfs.fat', ['-F', '32', '-n', 'LIVEKEY', key]);
  settle();
  const mounted = run('udisksctl', ['mount', '-b', key]);
  const root = / at (\S+?)\.?$/.exec(mounted)?.[1] as string;
  const uuid = run('blkid', ['-s', 'UUID', '-o', 'value', key]);
  const label = run('blkid', ['-s', 'LABEL', '-o', 'value', key]);
  report.key = { uuid, label, root };
  run('mkdir', ['-p', `${root}/LiveOS`, `${root}/EFI/BOOT`, `${root}/boot/grub2`]);
  run('cp', [squashfs, `${root}/LiveOS/squashfs.img`]);
  const original = GRUB_CFG(label);
  writeFileSync(`${root}/EFI/BOOT/grub.cfg`, original);
  writeFileSync(`${root}/boot/grub2/grub.cfg`, original);
  report.original = original;
  const cfgs = () => ({
    efi: readFileSync(`${root}/EFI/BOOT/grub.cfg`, 'utf8'),
    bios: readFileSync(`${root}/boot/grub2/grub.cfg`, 'utf8'),
  });
  const manifest = () => (existsSync(`${root}/.bootkey/manifest.json`) ? JSON.parse(readFileSync(`${root}/.bootkey/manifest.json`, 'utf8')) : null);
  const scriptCheck = (file: string) => tryRun('grub-script-check', [file]).code;
  const overlay = `overlay-${label}-${uuid}`;

  // 1. Extracted LiveOS.
  report.createDm = bootkey(['persist', 'create', key, '--type', 'dm', '--size', '8M', '--home', '16M']);
  report.afterDm = { cfgs: cfgs(), manifest: manifest(), check: [scriptCheck(`${root}/EFI/BOOT/grub.cfg`), scriptCheck(`${root}/boot/grub2/grub.cfg`)],
    files: run('ls', [`${root}/LiveOS`]).split('\n') };
  report.createAgain = bootkey(['persist', 'create', key, '--type', 'dm', '--size', '8M']);
  report.afterAgain = cfgs();
  report.deleteNoYes = bootkey(['persist', 'delete', key, overlay]);
  report.afterNoYes = { present: existsSync(`${root}/LiveOS/${overlay}`), cfgs: cfgs() };
  report.delete = bootkey(['persist', 'delete', key, overlay, '--yes']);
  report.afterDelete = { present: existsSync(`${root}/LiveOS/${overlay}`), cfgs: cfgs(), manifest: manifest() };
  report.recreateDm = bootkey(['persist', 'create', key, '--type', 'dm', '--size', '8M']);
  report.afterRecreate = cfgs();
  report.deleteAgain = bootkey(['persist', 'delete', key, overlay, '--yes']);
  report.createOverlayfs = bootkey(['persist', 'create', key, '--type', 'overlayfs', '--size', '24M']);
  report.afterOverlayfs = { cfgs: cfgs(), check: scriptCheck(`${root}/EFI/BOOT/grub.cfg`) };

  // 2. A multi-ISO key with a Fedora live ISO.
  report.init = bootkey(['multiboot', 'init', key]);
  report.add = bootkey(['multiboot', 'add', key, iso]);
  report.iso = { label: run('blkid', ['-s', 'LABEL', '-o', 'value', iso]), uuid: run('blkid', ['-s', 'UUID', '-o', 'value', iso]) };
  report.list = bootkey(['persist', 'list', key]);
  report.createIso = bootkey(['persist', 'create', key, '--image', 'fedora-live.iso', '--size', '24M']);
  const isoOverlay = `isos/overlay-${(report.iso as { label: string }).label}-${(report.iso as { uuid: string }).uuid}`;
  report.isoOverlay = isoOverlay;
  const menuState = () => ({
    settings: JSON.parse(readFileSync(`${root}/.bootkey/multiboot.json`, 'utf8')),
    menu: readFileSync(`${root}/boot/grub/grub.cfg`, 'utf8'),
    check: scriptCheck(`${root}/boot/grub/grub.cfg`),
    present: existsSync(`${root}/${isoOverlay}`),
  });
  report.afterIso = { ...menuState(), manifest: manifest(), extractedCfgs: cfgs() };
  report.regenerate = bootkey(['multiboot', 'menu', key, '--timeout', '3']);
  report.afterRegenerate = menuState();
  report.listIso = bootkey(['persist', 'list', key]);
  report.statusIso = bootkey(['persist', 'status', key, isoOverlay]);
  report.growIso = bootkey(['persist', 'grow', key, isoOverlay, '--size', '32M']);
  report.resetNoYes = bootkey(['persist', 'reset', key, isoOverlay]);
  report.resetIso = bootkey(['persist', 'reset', key, isoOverlay, '--yes']);
  report.deleteIso = bootkey(['persist', 'delete', key, isoOverlay, '--yes']);
  report.afterDeleteIso = { ...menuState(), manifest: manifest() };

  run('udisksctl', ['unmount', '-b', key]);
  report.fsck = tryRun('fsck.fat', ['-n', key]);
} catch (error) {
  report.fatal = error instanceof Error ? `${error.message}\n${error.stack}` : String(error);
} finally {
  writeFileSync(`${out}/persist-key.json`, JSON.stringify(report, null, 2));
}
