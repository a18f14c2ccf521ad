// The multi-ISO key in a real kernel (UML): `bootkey multiboot` on a scsi_debug key holding the user-key fixture
// (keep my files) and on an empty one (fresh). inside/multiboot-keys.ts does the work; this file judges it with
// independent tools' output recorded inside (sfdisk, fsck.fat, blkid, the kernel's vfat).
import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { after, before, test } from 'node:test';
import { userKeyManifest } from '../fixtures/index.js';
import { tierSuite } from '../harness/tier.js';
import { lastJson } from './inside/multiboot-uml.js';
import { buildMultibootKeys, type MultibootRun } from './inside/multiboot-uml.js';

tierSuite('uml', 'multi-ISO key through bootkey multiboot (UML)', () => {
  let run: MultibootRun;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  let r: any;

  before(async () => {
    run = await buildMultibootKeys();
    r = run.r;
  });
  after(() => rm(run.dir, { recursive: true, force: true }));

  test('the run finished', () => {
    assert.equal(r.fatal, undefined, r.fatal);
    assert.equal(run.uml.exitCode, 0, `${run.uml.stderr.slice(-3000)}\n${run.uml.setupError ?? ''}`);
  });

  test('keep my files: init installs GRUB for BIOS and UEFI on the user key', () => {
    assert.equal(r.init.status, 0, r.init.stderr);
    const report = lastJson(r.init.stdout);
    assert.deepEqual([report.bios, report.uefi], [true, true]);
    assert.equal(r.menuSet.status, 0, r.menuSet.stderr);
  });

  test('every user file hashes the same as the fixture says, before and after; the table is the one it had', () => {
    const expected = Object.fromEntries(userKeyManifest().map((f) => [f.path, f.sha256]));
    const { '/boot/grub/grub.cfg': cfgBefore, ...before } = r.before;
    const { '/boot/grub/grub.cfg': cfgAfter, ...after } = r.after;
    assert.deepEqual(before, expected);
    assert.deepEqual(after, expected);
    assert.equal(cfgBefore, 'missing');
    assert.match(cfgAfter, /^[0-9a-f]{64}$/);
    const [p] = r.sfdisk.partitiontable.partitions;
    assert.equal(r.sfdisk.partitiontable.partitions.length, 1);
    assert.equal(p.start, 2048);
  });

  test('fsck.fat -n finds the key clean after every change', () => {
    assert.equal(r.fsck.status, 0, r.fsck.stdout + r.fsck.stderr);
    assert.equal(r.freshFsck.status, 0, r.freshFsck.stdout + r.freshFsck.stderr);
  });

  test('bad input: non-ISO, truncated, a name twice, a duplicate — each exit 2 with a clear line, the device unchanged', () => {
    const byWhat = Object.fromEntries(r.bad.map((b: { what: string }) => [b.what, b]));
    for (const [what, pattern] of [['non-ISO', /not an ISO image/], ['truncated', /truncated/], ['bad name', /named twice/],
      ['duplicate', /already on the key/]] as const) {
      assert.equal(byWhat[what].status, 2, JSON.stringify(byWhat[what]));
      assert.match(byWhat[what].stderr, pattern);
      assert.equal(byWhat[what].unchanged, true, `${what} changed the device`);
    }
  });

  test('add and list: both ISOs verified, families from inspection, both in the menu', () => {
    assert.equal(r.addInstaller.status, 0, r.addInstaller.stderr);
    assert.equal(r.addMemtest.status, 0, r.addMemtest.stderr);
    assert.equal(r.list.status, 0, String(r.list.value));
    const isos = r.list.value.isos as { name: string; family: string; verified: boolean; inMenu: boolean }[];
    assert.deepEqual(isos.map((i) => [i.family, i.verified, i.inMenu]), [['debian-installer', true, true], ['memtest', true, true]]);
    const text = r.menuText as string;
    assert.match(text, /console=ttyS0,115200n8/);
    assert.match(text, /chainloader '\/isos\/memtest86\+x64\.iso\.efi'/);
    assert.match(text, /^serial --unit=0 --speed=115200$/m);
  });

  test('fresh: one FAT partition labelled BOOTKEY from 1 MiB, bootable, then the same library', () => {
    assert.equal(r.freshInit.status, 0, r.freshInit.stderr);
    assert.deepEqual([lastJson(r.freshInit.stdout).bios, lastJson(r.freshInit.stdout).uefi], [true, true]);
    const parts = r.freshSfdisk.partitiontable.partitions;
    assert.equal(r.freshSfdisk.partitiontable.label, 'dos');
    assert.equal(parts.length, 1);
    assert.equal(parts[0].start, 2048);
    assert.match(r.freshBlkid, /LABEL="BOOTKEY"/);
    assert.match(r.freshBlkid, /TYPE="vfat"/);
    assert.equal(r.freshAdd.status, 0, r.freshAdd.stderr);
    assert.equal(r.freshMemtest.status, 0, r.freshMemtest.stderr);
    assert.match(r.freshMenu.text, /menuentry 'Debian installer/);
  });
});
