import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { run } from '../fixtures/command.js';
import { fixture } from '../fixtures/index.js';
import { tierSuite } from '../harness/tier.js';
import { runInUml, type UmlResult } from '../harness/uml/index.js';

/**
 * `bootkey persist merge` judged by the real kernel: what a dm snapshot showed (written through ext4 as dracut
 * activates it) must be what the new squashfs.img holds, mounted with its rootfs.img mounted; the merged
 * rootfs.img must equal, byte for byte, the one the seed's dm mirror method makes from the same overlay; the
 * reset overlay must be a new store to the kernel. test/integration/inside/persist-merge.ts does the work inside.
 */
tierSuite('uml', 'LiveOS dm overlay merge into a new squashfs.img (UML, real device-mapper)', () => {
  let uml: UmlResult;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  let r: any;

  let dir: string;

  before(async () => {
    const squashfs = await fixture('liveos-squashfs');
    dir = await mkdtemp(join(tmpdir(), 'bootkey-merge-'));
    const helper = join(dir, 'bootkey-helper');
    await run('cc', ['-O2', '-Wall', '-Wextra', '-Werror', '-o', helper, 'resources/helper/bootkey-helper.c']);
    uml = await runInUml({
      command: ['node', '--import', 'tsx', 'test/integration/inside/persist-merge.ts', squashfs, '1', '4'],
      udisks: false,
      memMb: 1536,
      env: { BOOTKEY_HELPER: helper },
      outDir: dir, // hostfs-mounted inside, so the helper built here is visible there
      timeoutMs: 1_000_000,
    });
    r = JSON.parse(await readFile(`${uml.outDir}/persist-merge.json`, 'utf8').catch(() => '{}'));
  });

  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  test('status on the running system: the helper\'s dmsetup status of live-rw beside our offline numbers, equal', () => {
    const file = r.liveStatus.json;
    assert.equal(r.liveStatus.code, 0, r.liveStatus.stderr);
    assert.equal(file.kernelProblem, undefined);
    assert.deepEqual(file.kernel, [{ device: 'live-rw', status: r.beforeMerge.kernel }]);
    assert.equal(r.beforeMerge.kernel, `${file.usage.allocatedSectors}/${file.usage.totalSectors} ${file.usage.metadataSectors}`);
  });

  test('the run finished and the merge succeeded', () => {
    assert.equal(r.fatal, undefined, r.fatal);
    assert.equal(uml.exitCode, 0, `${uml.stderr.slice(-3000)}\n${uml.setupError ?? ''}`);
    assert.equal(r.merge.code, 0, r.merge.stderr);
  });

  test('the writes changed the tree (so the proof is not vacuous) and the overlay recorded them', () => {
    assert.notDeepEqual(r.snapshotTree, r.baseTree);
    assert.ok(Object.keys(r.snapshotTree).some((p) => p.startsWith('home/liveuser/')));
    assert.ok(r.baseTree[r.deleted]);
    assert.equal(r.snapshotTree[r.deleted], undefined);
    assert.ok(r.overlayStatus.exceptions > 1000, JSON.stringify(r.overlayStatus));
    assert.equal(r.merge.json.exceptions, r.overlayStatus.exceptions);
  });

  test('the new squashfs.img, mounted with its rootfs.img mounted, holds exactly what the snapshot showed', () => {
    assert.equal(r.squashfsChanged, true);
    assert.deepEqual(r.mergedTree, r.snapshotTree);
    for (const [path, hash] of Object.entries(r.baseTree)) {
      if (path !== 'etc/hostname' && path !== r.deleted) assert.equal(r.mergedTree[path], hash, path);
    }
  });

  test('the merged rootfs.img equals, byte for byte, the one the seed\'s dm mirror makes from the same overlay; e2fsck finds it clean', () => {
    // Before e2fsck, which stamps its check time into the superblock of each.
    const [round] = r.timings;
    assert.equal(r.appliedSha256, round.mirror.preFsckSha256);
    assert.equal(round.mirror.fsck, 0);
    assert.equal(r.merge.json.fsck.exitCode, 0, r.merge.json.fsck.output);
    assert.equal(r.newRootfsSha256, r.merge.json.rootfsSha256);
  });

  test('the new image reuses the old one\'s compressed blocks: only the changed blocks were compressed', () => {
    const { rebuild } = r.merge.json;
    assert.equal(rebuild.method, 'reused-blocks', JSON.stringify(rebuild));
    assert.ok(rebuild.changedBlocks > 0 && rebuild.reusedBlocks > 0, JSON.stringify(rebuild));
  });

  test('same compressor and block size; only the image and the overlay on the key; no work files left', () => {
    assert.match(r.newSquashfsInfo, new RegExp(`^Compression ${r.merge.json.compression}$`, 'm'));
    assert.match(r.newSquashfsInfo, new RegExp(`^Block size ${r.merge.json.blockSize}$`, 'm'));
    assert.deepEqual(r.keyFiles, ['overlay-LIVE-KEY-0001', 'squashfs.img']);
    assert.deepEqual(r.workLeft, []);
  });

  test('the overlay is reset: we and the kernel see a new store over the new image, which shows the merged files', () => {
    assert.equal(r.merge.json.after.state, 'new');
    assert.equal(r.afterReset.ours.state, 'new');
    const ours = r.afterReset.ours;
    assert.equal(r.afterReset.kernel, `${ours.allocatedSectors}/${ours.totalSectors} ${ours.metadataSectors}`);
    assert.deepEqual(r.resetTree, r.snapshotTree);
  });
});
