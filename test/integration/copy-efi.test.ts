// copy-efi and undo-efi on a real kernel, then the resulting keys booted by real firmware.
// UML: a scsi_debug key holding the user-key fixture (MBR + FAT32, 108 files, one of 120 MiB) gets copy-efi
// from the memtest86-usb-style image, memtest86+x64.iso and the installer ISO; the inside script checks with
// the kernel's vfat, fsck.fat and whole-device hashes (test/integration/inside/copy-efi-key.ts).
// QEMU: the key's bytes after each copy boot under OVMF to the copied loader: the installer's GRUB and kernel;
// memtest86+ started by the firmware by itself, and started by a GRUB on a second disk with console=ttyS0 so that
// memtest's own screen reaches the serial port.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { gunzipSync } from 'node:zlib';
import { run } from '../fixtures/command.js';
import { debianFile } from '../fixtures/debian-package.js';
import { fixture, INSTALLER_BANNER } from '../fixtures/index.js';
import { makeGrubEfiKey } from '../harness/qemu/grub-keys.js';
import { withBoot, type QemuSession } from '../harness/qemu/index.js';
import { tierSuite } from '../harness/tier.js';
import { withTempDir } from '../harness/tree-snapshot.js';
import { runInUml, type UmlResult } from '../harness/uml/index.js';

/** scsi_debug's size for the key: at least the user-key fixture (320 MiB). */
const KEY_MB = 336;

interface CopyReport {
  copy: { code: number; ms: number; stderr: string; last?: string; keyRead: number };
  changed: string[];
  added: string[];
  fsck: { code: number; output: string };
  undo: { code: number; stderr: string };
  undoTreeEqual: boolean;
  undoExtra: string[];
  fsckAfterUndo: { code: number; output: string };
}

interface Report {
  fatal?: string;
  originalFiles: number;
  copies: Record<string, CopyReport>;
  biosOnly: { code: number; stdout: string; deviceUnchanged: boolean };
  conflict: {
    refused: { code: number; stdout: string; unchanged: boolean };
    replace: { code: number; stderr: string; loaderNow?: string; userLoader: string; backups: { path: string; sha256: string }[]; changedOthers: string[] };
    undo: { code: number; treeEqual: boolean };
  };
  noSpace: { code: number; stdout: string; treeUnchanged: boolean; deviceUnchanged: boolean };
  readBack: { vfat: string; tmpfs: string };
  cancelled: {
    interrupted: boolean; durableAtInterrupt: number; code: number; exitedAfterMs: number; stdoutTail: string[]; stderr: string;
    treeEqual: boolean; extra: string[]; changed: string[]; fsck: { code: number; output: string };
  };
  pulled: {
    pulled: boolean; durableAtPull: number; code: number; failedAfterMs: number; stdoutTail: string[]; stderr: string;
    reattachedAs: string; userFilesChanged: string[]; undo: { code: number; stdout: string; stderr: string };
    treeEqualAfterUndo: boolean; extraAfterUndo: string[]; fsckAfterUndo: { code: number; output: string };
  };
  mountsLeft: string[];
}

let uml: Promise<{ result: UmlResult; report: Report }> | undefined;
let outDir: string | undefined;
// At file level: registered inside a test, node:test would run it after that test and the QEMU suite would find no keys.
after(() => (outDir ? rm(outDir, { recursive: true, force: true }) : undefined));
/** One UML boot for every check (each boot costs seconds); the QEMU tests use the keys it saved. */
function umlRun(): Promise<{ result: UmlResult; report: Report }> {
  uml ??= (async () => {
    const sources = await Promise.all((['user-key', 'memtest-usb-img', 'memtest-iso', 'installer-iso', 'bios-only-iso'] as const).map((n) => fixture(n)));
    const result = await runInUml({
      command: ['node', '--import', 'tsx', 'test/integration/inside/copy-efi-key.ts', ...sources],
      keys: [{ sizeMb: KEY_MB }],
      memMb: 1024,
      timeoutMs: 1_500_000,
    });
    outDir = result.outDir;
    const context = `exit ${result.exitCode}\nstderr:\n${result.stderr}\nconsole (end):\n${result.console.slice(-3000)}`;
    const line = result.stdout.trim().split('\n').at(-1) ?? '';
    let report: Report;
    try {
      report = JSON.parse(line) as Report;
    } catch {
      throw new Error(`no report from inside UML\n${result.stdout}\n${context}`);
    }
    assert.equal(report.fatal, undefined, `${report.fatal}\n${context}`);
    assert.equal(result.exitCode, 0, context);
    return { result, report };
  })();
  return uml;
}

const lastEvent = (text: string) => JSON.parse(text.split('\n').at(-1) ?? '{}') as { error?: { code: string; message: string } };

tierSuite('uml', 'copy-efi on a scsi_debug key with the user\'s files (UML)', () => {
  for (const name of ['memtest-usb-img', 'memtest-iso', 'installer-iso']) {
    test(`${name}: copied, every earlier file identical, fsck clean; undo-efi gives back the exact tree`, async (t) => {
      const { report } = await umlRun();
      const copy = report.copies[name]!;
      t.diagnostic(`copy took ${copy.copy.ms} ms; added ${copy.added.length} paths`);
      assert.equal(report.originalFiles, 108);
      assert.equal(copy.copy.code, 0, copy.copy.stderr);
      // Verified from the medium: the key's disk read back at least every byte copied (its own counter).
      const copied = (JSON.parse(copy.copy.last ?? '{}') as { bytes: number }).bytes;
      assert.ok(copy.copy.keyRead >= copied, `the key's disk read ${copy.copy.keyRead} bytes during a copy of ${copied}`);
      assert.deepEqual(copy.changed, []);
      assert.ok(copy.added.some((p) => /^\/efi\/boot\/bootx64\.efi$/i.test(p)), copy.added.join('\n'));
      assert.ok(copy.added.includes('/.bootkey/manifest.json'));
      assert.ok(!copy.added.some((p) => /fbx64/i.test(p) || p.endsWith('.bootkey-tmp')));
      if (name === 'installer-iso') {
        for (const p of ['/install.amd/vmlinuz', '/install.amd/initrd.gz', '/boot/grub/grub.cfg', '/boot/grub/x86_64-efi/linux.mod']) {
          assert.ok(copy.added.includes(p), `${p} missing`);
        }
        assert.ok(!copy.added.some((p) => p.includes('/i386-pc/')), 'BIOS GRUB modules are not needed for UEFI');
      }
      assert.equal(copy.fsck.code, 0, copy.fsck.output);
      assert.equal(copy.undo.code, 0, copy.undo.stderr);
      assert.deepEqual(copy.undoExtra, []);
      assert.equal(copy.undoTreeEqual, true);
      assert.equal(copy.fsckAfterUndo.code, 0, copy.fsckAfterUndo.output);
    });
  }

  test('BIOS-only ISO: NOT_EFI_BOOTABLE, not one byte of the device changed', async () => {
    const { report } = await umlRun();
    assert.equal(report.biosOnly.code, 2, report.biosOnly.stdout);
    assert.equal(lastEvent(report.biosOnly.stdout).error?.code, 'NOT_EFI_BOOTABLE');
    assert.equal(report.biosOnly.deviceUnchanged, true);
  });

  test('the user\'s EFI/BOOT/BOOTX64.EFI: refused without --replace; kept as a backup with it; back after undo', async () => {
    const { conflict } = (await umlRun()).report;
    assert.equal(conflict.refused.code, 2, conflict.refused.stdout);
    assert.equal(lastEvent(conflict.refused.stdout).error?.code, 'CONFLICT');
    assert.equal(conflict.refused.unchanged, true);
    assert.equal(conflict.replace.code, 0, conflict.replace.stderr);
    assert.notEqual(conflict.replace.loaderNow, conflict.replace.userLoader);
    assert.deepEqual(conflict.replace.backups.map((b) => b.sha256), [conflict.replace.userLoader]);
    assert.deepEqual(conflict.replace.changedOthers, []);
    assert.equal(conflict.undo.code, 0);
    assert.equal(conflict.undo.treeEqual, true);
  });

  test('not enough space: refused before writing (device bytes identical)', async () => {
    const { noSpace } = (await umlRun()).report;
    assert.equal(noSpace.code, 2, noSpace.stdout);
    assert.equal(lastEvent(noSpace.stdout).error?.code, 'NOT_ENOUGH_SPACE');
    assert.equal(noSpace.treeUnchanged, true);
    assert.equal(noSpace.deviceUnchanged, true);
  });

  test('the read-back bypasses the cache on vfat; on tmpfs (no O_DIRECT in this kernel) the result says it came from the cache', async () => {
    const { readBack } = (await umlRun()).report;
    assert.deepEqual(readBack, { vfat: 'medium', tmpfs: 'page-cache' });
  });

  test('Ctrl-C in the middle of a copy: exits non-zero with CANCELLED; the key is as before (tree hashed identical), fsck clean', async (t) => {
    const { cancelled } = (await umlRun()).report;
    t.diagnostic(`interrupted after ${cancelled.durableAtInterrupt} durable bytes; exit ${cancelled.code} ${cancelled.exitedAfterMs} ms later`);
    assert.equal(cancelled.interrupted, true, `the copy ended before it could be interrupted: ${cancelled.stdoutTail.join('\n')}`);
    assert.equal(cancelled.code, 1, cancelled.stderr);
    assert.equal(lastEvent(cancelled.stdoutTail.at(-1) ?? '').error?.code, 'CANCELLED', cancelled.stdoutTail.join('\n'));
    assert.match(cancelled.stderr, /SIGINT: stopping/);
    assert.deepEqual(cancelled.changed, []);
    assert.deepEqual(cancelled.extra, []);
    assert.equal(cancelled.treeEqual, true);
    assert.equal(cancelled.fsck.code, 0, cancelled.fsck.output);
  });

  test('pulled key: fails within 10 s saying so; after re-attaching the files are intact and undo-efi cleans up', async (t) => {
    const { pulled, mountsLeft } = (await umlRun()).report;
    t.diagnostic(`pulled after ${pulled.durableAtPull} durable bytes; exit ${pulled.code} after ${pulled.failedAfterMs} ms; back as ${pulled.reattachedAs}; mounts left: ${mountsLeft.join(' | ')}`);
    assert.equal(pulled.pulled, true, `the copy ended before it could be pulled: ${pulled.stdoutTail.join('\n')}`);
    assert.notEqual(pulled.code, 0);
    assert.ok(pulled.failedAfterMs >= 0 && pulled.failedAfterMs <= 10_000, `${pulled.failedAfterMs} ms`);
    assert.equal(lastEvent(pulled.stdoutTail.at(-1) ?? '').error?.code, 'DEVICE_GONE', pulled.stdoutTail.join('\n'));
    assert.deepEqual(pulled.userFilesChanged, []);
    assert.equal(pulled.undo.code, 0, `${pulled.undo.stdout}\n${pulled.undo.stderr}`);
    assert.deepEqual(pulled.extraAfterUndo, []);
    assert.equal(pulled.treeEqualAfterUndo, true);
  });
});

/**
 * The launcher disk's grub.cfg. It finds the key by a file only the key has, prints the SHA-256 of the key's
 * removable-media loader as GRUB reads it, and chainloads exactly that file; GRUB passes the words after the path
 * as the image's UEFI load options, which memtest86+ takes as its command line (console=ttyS0: it then draws its
 * screen on the serial port too). The key itself stays as copy-efi left it.
 */
const LAUNCHER_CFG = `insmod part_msdos
insmod part_gpt
insmod fat
if search --no-floppy --file --set=root /.bootkey/manifest.json; then
  echo "launcher: the key is ($root)"
  sha256sum ($root)/EFI/BOOT/BOOTX64.EFI
  chainloader ($root)/EFI/BOOT/BOOTX64.EFI console=ttyS0,115200
  boot
  echo "launcher: gave up: the key's loader did not start"
else
  echo "launcher: gave up: no disk has /.bootkey/manifest.json"
fi
`;

/** Waits for the pattern or for the launcher giving up (then fails at once, saying why, instead of timing out). */
async function launched(s: QemuSession, pattern: RegExp, timeoutMs: number): Promise<string> {
  const found = await s.waitFor(new RegExp(`${pattern.source}|launcher: gave up: [^\\n]+\\n`), timeoutMs);
  assert.doesNotMatch(found, /^launcher: gave up/, `${found.trim()}\n--- serial text ---\n${s.text().slice(-2000)}`);
  return found;
}

/**
 * The launcher disk on virtio with the first boot index. OVMF connects only the devices QEMU's boot order names,
 * so the key (the harness's usb-storage device) needs an index too, or GRUB does not see it.
 */
function launcherArgs(image: string): string[] {
  return [
    '-drive', `file=${image},format=raw,if=none,id=launcher,snapshot=on`,
    '-device', 'virtio-blk-pci,drive=launcher,bootindex=0',
    '-global', 'usb-storage.bootindex=1',
  ];
}

/** memtest86+'s upstream version (`6.10` of Debian's `6.10-4`), from its package's changelog. */
async function memtestVersion(): Promise<string> {
  const changelog = gunzipSync(await readFile(await debianFile('memtest86+', 'usr/share/doc/memtest86+/changelog.Debian.gz')));
  const version = /^memtest86\+ \((?:\d+:)?([^)]+)-[^-)]+\)/.exec(changelog.toString('utf8'))?.[1];
  return version ?? assert.fail('no version in memtest86+\'s changelog');
}

/**
 * SHA-256 of the source's own UEFI loader, read by mtools: from the ESP of the disk image (found by sfdisk), or
 * from the ISO's El Torito UEFI image (extracted by xorriso; memtest86+x64.iso's tree has no EFI folder).
 */
async function sourceLoaderSha256(name: string, scratch: string): Promise<string> {
  const source = await fixture(name === 'memtest-iso' ? 'memtest-iso' : 'memtest-usb-img');
  let fat: string;
  if (name === 'memtest-iso') {
    const dir = join(scratch, 'boot-images');
    await run('xorriso', ['-osirrox', 'on', '-indev', source, '-extract_boot_images', dir]);
    const image = (await readdir(dir)).find((file) => /^eltorito_img\d+_uefi\.img$/.test(file));
    fat = join(dir, image ?? assert.fail(`no UEFI El Torito image in ${source}`));
  } else {
    const table = JSON.parse(await run('sfdisk', ['--json', source])) as {
      partitiontable: { sectorsize?: number; partitions: { start: number; type: string }[] };
    };
    const esp = table.partitiontable.partitions.find((p) => p.type === 'C12A7328-F81F-11D2-BA4B-00A0C93EC93B');
    fat = `${source}@@${(esp ?? assert.fail(`no ESP in ${source}`)).start * (table.partitiontable.sectorsize ?? 512)}`;
  }
  const loader = join(scratch, 'source-loader.efi');
  await run('mcopy', ['-n', '-i', fat, '::/EFI/BOOT/BOOTX64.EFI', loader]);
  return createHash('sha256').update(await readFile(loader)).digest('hex');
}

tierSuite('qemu', 'keys made by copy-efi boot under OVMF (QEMU)', () => {
  test('installer ISO copied onto the user key: GRUB menu from the key, then the Linux kernel', async () => {
    const { result } = await umlRun();
    await withBoot({ image: join(result.outDir, 'installer-iso.img'), firmware: 'uefi', memMb: 1024, name: 'copy-efi-installer' }, async (s) => {
      await s.waitFor(INSTALLER_BANNER, 120_000);
      await s.waitFor('Install (serial console)', 30_000);
      await s.waitFor(/Linux version \d/, 240_000);
    });
  });

  for (const name of ['memtest-usb-img', 'memtest-iso']) {
    test(`${name} copied onto the user key: OVMF starts the key's loader by itself and stays in it`, async () => {
      // Without a command line memtest86+ draws on the screen only, so the proof that the firmware picks the copied
      // EFI/BOOT/BOOTX64.EFI on its own is what OVMF prints: it starts the USB key's boot option, and no
      // "failed"/next option follows while memtest runs. The next test reads memtest's own screen.
      const { result } = await umlRun();
      await withBoot({ image: join(result.outDir, `${name}.img`), firmware: 'uefi', name: `copy-efi-${name}` }, async (s) => {
        await s.waitFor(/BdsDxe: starting Boot\d+ "UEFI QEMU QEMU USB HARDDRIVE[^"]*"/, 120_000);
        await assert.rejects(s.waitFor(/BdsDxe: (failed to start|loading Boot\d+)|Shell>|Start PXE/, 20_000), /timed out/);
      });
    });

    test(`${name} copied onto the user key: its loader, the source's own bytes, runs memtest86+ (banner and first test on serial)`, async (t) => {
      const { result } = await umlRun();
      await withTempDir(async (scratch) => {
        const [expectedSha256, version, launcher] = await Promise.all([
          sourceLoaderSha256(name, scratch), memtestVersion(), makeGrubEfiKey(scratch, LAUNCHER_CFG),
        ]);
        const started = Date.now();
        await withBoot({
          image: join(result.outDir, `${name}.img`), firmware: 'uefi', name: `copy-efi-${name}-memtest`,
          extraArgs: launcherArgs(launcher.image),
        }, async (s) => {
          await launched(s, /launcher: the key is \(hd\d+,msdos\d+\)/, 180_000);
          const hashed = await launched(s, /[0-9a-f]{64} {2}\(hd\d+,msdos\d+\)\/EFI\/BOOT\/BOOTX64\.EFI/, 30_000);
          assert.equal(hashed.slice(0, 64), expectedSha256, 'the key\'s loader, as GRUB read it, is not the source\'s');
          await launched(s, new RegExp(`Memtest86\\+ v${version.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`), 120_000);
          await s.waitFor(/\[Address test, walking ones/, 120_000);
          t.diagnostic(`memtest86+ ${version} running ${Date.now() - started} ms after QEMU started`);
        });
      });
    });
  }
});
