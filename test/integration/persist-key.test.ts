import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile, copyFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import { fixture } from '../fixtures/index.js';
import { tierSuite } from '../harness/tier.js';
import { runInUml, type UmlResult } from '../harness/uml/index.js';

/**
 * Persistence on a real key (UML, udisks, a scsi_debug FAT key named by its device): the kernel parameters
 * `bootkey persist create` puts into the boot entries of an extracted LiveOS and of a library ISO, the manifest
 * records, overlays next to library ISOs (list/create/status/grow/reset/delete), and delete with its
 * confirmation. One UML boot for all of it; test/integration/inside/persist-key.ts does the work inside.
 */

const exec = promisify(execFile);
const ISO_LABEL = 'Fedora-WS-Live-42';

/** A Fedora-style live ISO (LiveOS/squashfs.img and images/pxeboot) built with xorriso into the UML out folder. */
async function buildLiveIso(dir: string, squashfs: string): Promise<void> {
  const tree = join(dir, 'iso-tree');
  await mkdir(join(tree, 'LiveOS'), { recursive: true });
  await mkdir(join(tree, 'images', 'pxeboot'), { recursive: true });
  await copyFile(squashfs, join(tree, 'LiveOS', 'squashfs.img'));
  await writeFile(join(tree, 'images', 'pxeboot', 'vmlinuz'), 'not a kernel\n');
  await writeFile(join(tree, 'images', 'pxeboot', 'initrd.img'), 'not an initrd\n');
  const iso = join(dir, 'fedora-live.iso');
  await exec('xorriso', ['-as', 'mkisofs', '-quiet', '-V', ISO_LABEL, '-R', '-J', '-o', iso, tree]);
  await rm(tree, { recursive: true });
}

/** The words of the kernel lines of a grub.cfg that boot the extracted LiveOS (root=live:). */
const liveLines = (cfg: string) => cfg.split('\n').filter((l) => /^\s*linux\S*\s/.test(l) && l.includes('root=live:'));

tierSuite('uml', 'LiveOS persistence on a key: kernel parameters, library ISOs, delete, manifest (UML)', () => {
  let uml: UmlResult;
  let dir: string;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  let r: any;
  let param: string;

  before(async () => {
    const squashfs = await fixture('liveos-squashfs');
    dir = await mkdtemp(join(tmpdir(), 'bootkey-persist-key-'));
    await buildLiveIso(dir, squashfs);
    uml = await runInUml({
      command: ['node', '--import', 'tsx', 'test/integration/inside/persist-key.ts', squashfs],
      keys: [{ sizeMb: 192 }],
      outDir: dir,
      timeoutMs: 1_000_000,
    });
    r = JSON.parse(await readFile(join(dir, 'persist-key.json'), 'utf8').catch(() => '{}'));
    param = `rd.live.overlay=UUID=${r.key?.uuid}:/LiveOS/overlay-${r.key?.label}-${r.key?.uuid}`;
  });

  after(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  test('the run finished', () => {
    assert.equal(r.fatal, undefined, r.fatal);
    assert.equal(uml.exitCode, 0, `${uml.stderr.slice(-3000)}\n${uml.setupError ?? ''}`);
    assert.match(r.key.uuid, /^[0-9A-F]{4}-[0-9A-F]{4}$/);
  });

  test('create: both grub.cfg files boot the LiveOS with the overlay (key UUID from blkid), readonly gone, other lines as they were', () => {
    assert.equal(r.createDm.code, 0, r.createDm.stderr);
    const overlay = r.createDm.json.find((f: { role: string }) => f.role === 'overlay');
    assert.deepEqual(overlay.kernelParams, [param]);
    assert.deepEqual(overlay.bootEntries, [{ file: '/EFI/BOOT/grub.cfg', entries: 2 }, { file: '/boot/grub2/grub.cfg', entries: 2 }]);
    for (const cfg of [r.afterDm.cfgs.efi, r.afterDm.cfgs.bios]) {
      const lines = liveLines(cfg);
      assert.equal(lines.length, 2);
      for (const line of lines) {
        assert.ok(line.split(/\s+/).includes(param), line);
        assert.ok(!/rd\.live\.overlay\.(readonly|overlayfs)/.test(line), line);
      }
      const others = (text: string) => text.split('\n').filter((l) => !l.includes('root=live:'));
      assert.deepEqual(others(cfg), others(r.original));
    }
    assert.deepEqual(r.afterDm.check, [0, 0], 'grub-script-check');
    assert.deepEqual(r.afterDm.files.sort(), ['home.img', `overlay-${r.key.label}-${r.key.uuid}`, 'squashfs.img']);
  });

  test('the manifest records the overlay and home.img Bootkey made', () => {
    const ops = r.afterDm.manifest.operations.filter((o: { kind: string }) => o.kind === 'persistence');
    assert.equal(ops.length, 1);
    assert.equal(ops[0].state, 'complete');
    assert.deepEqual(ops[0].added.map((f: { path: string; size: number }) => [f.path, f.size]),
      [[`/LiveOS/overlay-${r.key.label}-${r.key.uuid}`, 8 << 20], ['/LiveOS/home.img', 16 << 20]]);
  });

  test('create again is refused and changes nothing; delete and create again give the same grub.cfg (idempotent)', () => {
    assert.equal(r.createAgain.code, 2);
    assert.equal(r.createAgain.json.error.code, 'CONFLICT');
    assert.deepEqual(r.afterAgain, r.afterDm.cfgs);
    assert.equal(r.recreateDm.code, 0, r.recreateDm.stderr);
    assert.deepEqual(r.afterRecreate, r.afterDm.cfgs);
  });

  test('delete without a terminal needs --yes, names what is lost, and changes nothing', () => {
    assert.equal(r.deleteNoYes.code, 2);
    assert.equal(r.deleteNoYes.json.error.code, 'INVALID_ARGUMENT');
    assert.match(r.deleteNoYes.json.error.message, /--yes/);
    assert.match(r.deleteNoYes.stderr, new RegExp(`delete .*/LiveOS/overlay-${r.key.label}-${r.key.uuid} \\(every change the live system saved in it`));
    assert.equal(r.afterNoYes.present, true);
    assert.deepEqual(r.afterNoYes.cfgs, r.afterDm.cfgs);
  });

  test('delete --yes: the overlay, its parameters and its record are gone; home.img stays', () => {
    assert.equal(r.delete.code, 0, r.delete.stderr);
    assert.equal(r.afterDelete.present, false);
    const expected = r.original.replace(' rd.live.overlay.readonly', '');
    assert.equal(r.afterDelete.cfgs.efi, expected);
    assert.equal(r.afterDelete.cfgs.bios, expected);
    const recorded = r.afterDelete.manifest.operations.flatMap((o: { added: { path: string }[] }) => o.added.map((f) => f.path));
    assert.deepEqual(recorded, ['/LiveOS/home.img']);
  });

  test('an OverlayFS overlay adds rd.live.overlay.overlayfs', () => {
    assert.equal(r.deleteAgain.code, 0, r.deleteAgain.stderr);
    assert.equal(r.createOverlayfs.code, 0, r.createOverlayfs.stderr);
    for (const line of liveLines(r.afterOverlayfs.cfgs.efi)) {
      const words = line.split(/\s+/);
      assert.ok(words.includes(param) && words.includes('rd.live.overlay.overlayfs'), line);
    }
    assert.equal(r.afterOverlayfs.check, 0);
  });

  test('list shows the library ISO with the label and UUID blkid reads from it', () => {
    assert.equal(r.init.code, 0, r.init.stderr);
    assert.equal(r.add.code, 0, r.add.stderr);
    assert.equal(r.list.code, 0, r.list.stderr);
    const iso = r.list.json.find((i: { kind: string }) => i.kind === 'iso');
    assert.deepEqual(iso.iso, { name: 'fedora-live.iso', label: r.iso.label, uuid: r.iso.uuid });
    assert.equal(r.iso.label, ISO_LABEL);
    assert.ok(r.list.json.some((i: { kind: string }) => i.kind === 'extracted'));
  });

  test('create --image: the overlay next to the ISO, its parameters in the ISO\'s menu entry, kept when the menu is regenerated', () => {
    assert.equal(r.createIso.code, 0, r.createIso.stderr);
    const isoParam = `rd.live.overlay=UUID=${r.key.uuid}:/${r.isoOverlay}`;
    assert.equal(r.afterIso.present, true);
    assert.equal(r.afterIso.settings.isos['fedora-live.iso'].extraParams, `${isoParam} rd.live.overlay.overlayfs`);
    for (const state of [r.afterIso, r.afterRegenerate]) {
      const linux = state.menu.split('\n').filter((l: string) => l.includes('iso-scan/filename'));
      assert.equal(linux.length, 1);
      assert.ok(linux[0].includes(`'${isoParam}' 'rd.live.overlay.overlayfs'`), linux[0]);
      assert.equal(state.check, 0);
    }
    assert.equal(r.regenerate.code, 0, r.regenerate.stderr);
    // The extracted LiveOS's entries are not touched by an ISO's overlay.
    assert.deepEqual(r.afterIso.extractedCfgs, r.afterOverlayfs.cfgs);
    const recorded = r.afterIso.manifest.operations.flatMap((o: { added: { path: string }[] }) => o.added.map((f) => f.path));
    assert.ok(recorded.includes(`/${r.isoOverlay}`));
  });

  test('the ISO\'s overlay: listed with its ISO, measured, grown, reset (after --yes)', () => {
    const iso = r.listIso.json.find((i: { kind: string; iso?: unknown }) => i.kind === 'iso' && i.iso);
    assert.deepEqual(iso.files.map((f: { keyPath: string; iso: string }) => [f.keyPath, f.iso]), [[`/${r.isoOverlay}`, 'fedora-live.iso']]);
    assert.equal(r.statusIso.code, 0, r.statusIso.stderr);
    assert.equal(r.statusIso.json.usage.type, 'overlayfs-ext4');
    assert.equal(r.statusIso.json.usage.capacityBytes, 24 << 20);
    assert.equal(r.growIso.code, 0, r.growIso.stderr);
    assert.equal(r.growIso.json.usage.capacityBytes, 32 << 20);
    assert.equal(r.resetNoYes.code, 2);
    assert.match(r.resetNoYes.json.error.message, /--yes/);
    assert.match(r.resetNoYes.stderr, /reset .*overlay-.*is lost/);
    assert.equal(r.resetIso.code, 0, r.resetIso.stderr);
    assert.equal(r.resetIso.json.usage.capacityBytes, 32 << 20);
  });

  test('delete the ISO\'s overlay: file, parameters and record gone; the key is clean', () => {
    assert.equal(r.deleteIso.code, 0, r.deleteIso.stderr);
    assert.equal(r.afterDeleteIso.present, false);
    assert.equal(r.afterDeleteIso.settings.isos['fedora-live.iso'].extraParams, '');
    assert.doesNotMatch(r.afterDeleteIso.menu, /rd\.live\.overlay/);
    assert.equal(r.afterDeleteIso.check, 0);
    const recorded = r.afterDeleteIso.manifest.operations.flatMap((o: { added: { path: string }[] }) => o.added.map((f) => f.path));
    assert.ok(!recorded.includes(`/${r.isoOverlay}`));
    assert.equal(r.fsck.code, 0, r.fsck.out);
  });
});
