// Tier 3 proof of the multi-ISO key: the keys `bootkey multiboot` made inside UML (keep-my-files on the user key,
// fresh, keep-my-files on exFAT, and the fresh key after an `add` killed mid-copy) boot under real firmware. Under
// OVMF and SeaBIOS GRUB's menu lists every ISO; choosing the installer boots its kernel; memtest's entry starts
// memtest under UEFI and under BIOS; the exFAT key boots under BIOS only; the crash key still shows its old menu
// and boots from it. The key images come from the UML run
// that test/integration/multiboot.test.ts judges, cached by the hash of its inputs (built here when missing);
// QEMU writes to a throw-away overlay, so the cached images never change.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { lastJson, multibootKeys, type MultibootRun } from '../integration/inside/multiboot-uml.js';
import { tierSuite } from '../harness/tier.js';
import { withBoot, type Firmware, type QemuSession } from '../harness/qemu/index.js';

const MENU_TIMEOUT_MS = 180_000;
const KERNEL_TIMEOUT_MS = 300_000;
const DOWN = '\x1b[B';

tierSuite('qemu', 'multi-ISO keys boot under OVMF and SeaBIOS', () => {
  let built: MultibootRun;
  let titles: { installer: string; memtest: string };

  before(async () => {
    built = await multibootKeys();
    assert.equal(built.r.fatal, undefined, built.r.fatal);
    assert.equal(built.uml.exitCode, 0, built.uml.stderr);
    const entries = lastJson(built.r.addMemtest.stdout).entries as { name: string; title: string }[];
    const find = (re: RegExp) => entries.find((e) => re.test(e.name))?.title ?? assert.fail(`no entry for ${re}`);
    titles = { installer: find(/installer/), memtest: find(/memtest/) };
  });
  after(() => built?.release());

  /** GRUB draws the menu on the serial terminal: both titles, in file-name order (installer first). */
  async function menu(session: QemuSession): Promise<void> {
    await session.waitFor(titles.installer, MENU_TIMEOUT_MS);
    await session.waitFor(titles.memtest, 10_000);
  }

  async function installerBoots(session: QemuSession): Promise<void> {
    session.send('\r');
    await session.waitFor(/Linux version \d/, KERNEL_TIMEOUT_MS);
    await session.waitFor('Run /init', KERNEL_TIMEOUT_MS);
  }

  // Each boot is one single-threaded emulator: two at a time use both cores of the test machines.
  describe('boots', { concurrency: 2 }, () => {
    for (const [key, firmware] of [['keep', 'uefi'], ['keep', 'bios'], ['fresh', 'uefi'], ['fresh', 'bios'], ['exfat', 'bios']] as [string, Firmware][]) {
      test(`${key} key, ${firmware}: the menu lists every ISO and the installer entry boots its kernel`, async (t) => {
        await withBoot({ image: join(built.dir, `${key}.img`), firmware, memMb: 1024, name: `multiboot-${key}-${firmware}` }, async (s) => {
          await menu(s);
          await installerBoots(s);
          t.diagnostic(`${key}/${firmware}: kernel started from the ISO on the key`);
        });
      });
    }

    for (const firmware of ['uefi', 'bios'] as Firmware[]) {
      test(`keep key, ${firmware}: memtest starts from the loader copied next to its ISO`, async () => {
        await withBoot({ image: join(built.dir, 'keep.img'), firmware, name: `multiboot-memtest-${firmware}` }, async (s) => {
          await menu(s);
          s.send(`${DOWN}\r`);
          // memtest's own screen on the serial port (console=ttyS0 on its command line): its first test running.
          // Under BIOS GRUB starts memtest86+x64.iso.bin with `linux` (the 32-bit Linux boot protocol).
          await s.waitFor(/Address test|Pass:/, KERNEL_TIMEOUT_MS);
        });
      });
    }

    // The reason init warns on exFAT: OVMF (EDK2, like most PCs' firmware) reads only FAT, so it finds no loader on
    // the key and falls back to its shell, whose mapping table shows the partition as a block device without a
    // filesystem. The same key boots under SeaBIOS above, where GRUB's core.img reads exFAT itself.
    test('exfat key, uefi: the firmware cannot read exFAT, so GRUB never starts', async () => {
      await withBoot({ image: join(built.dir, 'exfat.img'), firmware: 'uefi', name: 'multiboot-exfat-uefi' }, async (s) => {
        await s.waitFor(/failed to load Boot\d+ "UEFI QEMU QEMU USB HARDDRIVE[^"]*".*: Not Found/, MENU_TIMEOUT_MS);
        await s.waitFor('Mapping table', MENU_TIMEOUT_MS);
        await s.waitFor(/USB\(0x0,0x0\)\/HD\(1,MBR,/, 10_000);
        await s.waitFor('Shell>', 60_000);
        assert.doesNotMatch(s.text(), /\bFS\d+:/);
        assert.doesNotMatch(s.text(), /GNU GRUB|Debian installer/);
      });
    });

    test('crash key, uefi: after an add killed mid-copy the old menu comes up and boots the installer', async () => {
      await withBoot({ image: join(built.dir, 'crash.img'), firmware: 'uefi', memMb: 1024, name: 'multiboot-crash-uefi' }, async (s) => {
        await menu(s);
        // The killed ISO sorts between the two: a menu naming it would have drawn it before memtest's title.
        assert.doesNotMatch(s.text(), /killed-during-copy/);
        await installerBoots(s);
      });
    });
  });
});
