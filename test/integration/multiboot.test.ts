// The multi-ISO key in a real kernel (UML): `bootkey multiboot` on a scsi_debug key holding the user-key fixture
// (keep my files), on an empty one (fresh), and an `add` killed mid-copy. inside/multiboot-keys.ts does the work;
// this file judges it with independent tools' output recorded inside (sfdisk, fsck.fat, blkid, the kernel's vfat).
// The run is shared with test/boot/multiboot.test.ts and cached by the hash of everything it depends on
// (inside/multiboot-uml.ts): whichever test comes first builds it.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, test } from 'node:test';
import { LARGE_WINDOW } from '../../main/adapters/fs/durable-writer.js';
import { userKeyManifest } from '../fixtures/index.js';
import { tierSuite } from '../harness/tier.js';
import { lastJson, multibootKeys, type MultibootRun } from './inside/multiboot-uml.js';

tierSuite('uml', 'multi-ISO key through bootkey multiboot (UML)', () => {
  let run: MultibootRun;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  let r: any;

  before(async () => {
    run = await multibootKeys();
    r = run.r;
  });
  after(() => run.release());

  test('the run finished', (t) => {
    t.diagnostic(run.fromCache ? `results of the cached run in ${run.dir} (same inputs)` : `built now in ${run.dir}`);
    assert.equal(r.fatal, undefined, r.fatal);
    assert.equal(run.uml.exitCode, 0, `${run.uml.stderr.slice(-3000)}\n${run.uml.setupError ?? ''}\n${run.uml.console.slice(-2000)}`);
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

  test('the kernel\'s vfat as udisks mounts it: ISO copies get the longer flush windows, flushed by syncfs', () => {
    const type = `statfs type 0x${Number(r.statfsType).toString(16)}`;
    assert.ok(LARGE_WINDOW.filesystems?.includes(r.statfsType), type);
    assert.ok(LARGE_WINDOW.syncfs?.includes(r.statfsType), type);
  });

  test('fsck.fat -n finds the key clean after every change', () => {
    for (const check of [r.badFsck, r.fsck, r.freshFsck]) assert.equal(check.status, 0, check.stdout + check.stderr);
  });

  test('bad input: non-ISO, truncated, a name twice, a duplicate, a full key, over 4 GiB on FAT32 — each exit 2 with a clear line, the whole device unchanged', () => {
    const byWhat = Object.fromEntries(r.bad.map((b: { what: string }) => [b.what, b]));
    for (const [what, pattern] of [['non-ISO', /not an ISO image/], ['truncated', /truncated/], ['bad name', /named twice/],
      ['duplicate', /already on the key/], ['full key', /need .* free/], ['over 4 GiB', /over 4 GiB .*FAT32.*exFAT.*split/]] as const) {
      assert.ok(byWhat[what], `no result for ${what}`);
      assert.equal(byWhat[what].status, 2, JSON.stringify(byWhat[what]));
      assert.match(byWhat[what].stderr, pattern);
      assert.equal(byWhat[what].unchanged, true, `${what} changed the device`);
    }
    // The full key's ISO was 1 MiB over what the kernel said was free, not just over the key's size.
    const full = byWhat['full key'];
    assert.ok(full.size > full.free && full.size - full.free <= (1 << 20) + 2048, JSON.stringify(full));
    assert.ok(byWhat['over 4 GiB'].size > 2 ** 32 - 1);
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

  test('exFAT, keep my files: init and add on an exFAT partition (mounted by exfat-fuse: no exFAT in this kernel)', () => {
    const x = r.exfat;
    assert.ok(x, 'no exFAT results');
    assert.match(x.mount, /^fuseblk\s+\/dev\/sda1$/);
    assert.equal(x.init.status, 0, x.init.stderr);
    const report = lastJson(x.init.stdout);
    assert.equal(report.bios, true);
    assert.ok(report.warnings.some((w: string) => /exFAT key: .*UEFI firmware reads only FAT/.test(w)), JSON.stringify(report.warnings));
    assert.match(x.efiLoader, /^[0-9a-f]{64}$/);
    for (const step of [x.menu, x.add, x.addMemtest]) assert.equal(step.status, 0, step.stderr);
    assert.equal(x.list.status, 0, String(x.list.value));
    assert.deepEqual(x.list.value.isos.map((i: { family: string; verified: boolean; inMenu: boolean }) => [i.family, i.verified, i.inMenu]),
      [['debian-installer', true, true], ['memtest', true, true]]);
    assert.deepEqual(x.after, x.before);
    assert.equal(Object.keys(x.before).length, 3);
    assert.equal(x.fsck.status, 0, x.fsck.stdout + x.fsck.stderr);
    assert.match(x.blkid, /TYPE="exfat"/);
    const [p] = x.sfdisk.partitiontable.partitions;
    assert.deepEqual([x.sfdisk.partitiontable.partitions.length, p.start, p.type], [1, 2048, '7']);
  });

  test('crash: an add killed mid-copy leaves the old menu and a clean FAT; re-running it repairs the library', () => {
    const kill = r.crashKill;
    assert.equal(kill.signal, 'SIGKILL', JSON.stringify(kill));
    assert.ok(kill.killedAt && kill.killedAt.bytesDone < kill.killedAt.bytesTotal, JSON.stringify(kill));
    // Killed before the rename: only the temporary file of the cut-off copy, and grub.cfg is the one before.
    assert.deepEqual(r.crashLeft.isos.filter((n: string) => n.includes('killed')), ['.killed-during-copy.iso.bootkey-tmp']);
    assert.equal(r.crashLeft.grubCfg, r.crashBefore.grubCfg);
    const freshMenuHash = createHash('sha256').update(r.freshMenu.text).digest('hex');
    assert.equal(r.crashBefore.grubCfg, freshMenuHash, 'the key held the menu `menu --print` showed');
    assert.equal(r.crashFsck.status, 0, r.crashFsck.stdout + r.crashFsck.stderr);
    assert.equal(r.crashRepair.status, 0, r.crashRepair.stderr);
    assert.equal(r.crashList.status, 0, String(r.crashList.value));
    assert.deepEqual(r.crashList.value.isos.map((i: { name: string; verified: boolean; inMenu: boolean }) => [i.name, i.verified, i.inMenu]),
      [['debian-netboot-installer.v1.iso', true, true], ['killed-during-copy.iso', true, true], ['memtest86+x64.iso', true, true]]);
    assert.deepEqual(r.crashRepairLeft.isos.filter((n: string) => n.startsWith('.')), [], 'temporary files left after the repair');
    assert.equal(r.crashRepairFsck.status, 0, r.crashRepairFsck.stdout + r.crashRepairFsck.stderr);
  });
});
