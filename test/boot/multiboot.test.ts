// Tier 3 proof of the multi-ISO key: the keys `bootkey multiboot` made inside UML (keep-my-files on the user key,
// and fresh) boot under real firmware. Under OVMF and SeaBIOS GRUB's menu lists every ISO; choosing the installer
// boots its kernel; memtest's entry starts memtest under UEFI.
import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { buildMultibootKeys, lastJson, type MultibootRun } from '../integration/inside/multiboot-uml.js';
import { tierSuite } from '../harness/tier.js';
import { withBoot, type Firmware, type QemuSession } from '../harness/qemu/index.js';

const MENU_TIMEOUT_MS = 120_000;
const KERNEL_TIMEOUT_MS = 240_000;
const DOWN = '\x1b[B';

tierSuite('qemu', 'multi-ISO keys boot under OVMF and SeaBIOS', () => {
  let built: MultibootRun;
  let titles: { installer: string; memtest: string };

  before(async () => {
    built = await buildMultibootKeys();
    assert.equal(built.r.fatal, undefined, built.r.fatal);
    const entries = lastJson(built.r.addMemtest.stdout).entries as { name: string; title: string }[];
    const find = (re: RegExp) => entries.find((e) => re.test(e.name))?.title ?? assert.fail(`no entry for ${re}`);
    titles = { installer: find(/installer/), memtest: find(/memtest/) };
  });
  after(() => rm(built.dir, { recursive: true, force: true }));

  /** GRUB draws the menu on the serial terminal: both titles, in file-name order (installer first). */
  async function menu(session: QemuSession): Promise<void> {
    await session.waitFor(titles.installer, MENU_TIMEOUT_MS);
    await session.waitFor(titles.memtest, 10_000);
  }

  for (const [key, firmware] of [['keep', 'uefi'], ['keep', 'bios'], ['fresh', 'uefi'], ['fresh', 'bios']] as [string, Firmware][]) {
    test(`${key} key, ${firmware}: the menu lists every ISO and the installer entry boots its kernel`, async (t) => {
      await withBoot({ image: join(built.dir, `${key}.img`), firmware, memMb: 1024, name: `multiboot-${key}-${firmware}` }, async (s) => {
        await menu(s);
        s.send('\r');
        await s.waitFor(/Linux version \d/, KERNEL_TIMEOUT_MS);
        await s.waitFor('Run /init', KERNEL_TIMEOUT_MS);
        t.diagnostic(`${key}/${firmware}: kernel started from the ISO on the key`);
      });
    });
  }

  test('keep key, uefi: memtest starts from the loader copied next to its ISO', async () => {
    await withBoot({ image: join(built.dir, 'keep.img'), firmware: 'uefi', name: 'multiboot-memtest-uefi' }, async (s) => {
      await menu(s);
      s.send(`${DOWN}\r`);
      // memtest's own screen on the serial port (console=ttyS0 on its command line): its first test running.
      await s.waitFor(/Address test|Pass:/, KERNEL_TIMEOUT_MS);
    });
  });
});
