import assert from 'node:assert/strict';
import { readFile, rm } from 'node:fs/promises';
import { after, before, test } from 'node:test';
import { fixture } from '../fixtures/index.js';
import { tierSuite } from '../harness/tier.js';
import { runInUml, type UmlResult } from '../harness/uml/index.js';

/**
 * OverlayFS persistence: the ext4 overlay image from `bootkey persist create --type overlayfs`, mounted by the
 * real kernel as dracut does, written, grown by `bootkey persist grow` and mounted again; usage read offline
 * agrees with the kernel's statfs and with dumpe2fs. test/integration/inside/persist-overlayfs.ts does the work.
 */
const field = (text: string, name: string) => Number(new RegExp(`^${name}:\\s+(\\d+)$`, 'm').exec(text)?.[1]);

tierSuite('uml', 'LiveOS OverlayFS-in-ext4 overlay (UML)', () => {
  let uml: UmlResult;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  let r: any;

  before(async () => {
    const squashfs = await fixture('liveos-squashfs');
    uml = await runInUml({
      command: ['node', '--import', 'tsx', 'test/integration/inside/persist-overlayfs.ts', squashfs],
      udisks: false,
      timeoutMs: 800_000,
    });
    r = JSON.parse(await readFile(`${uml.outDir}/persist-overlayfs.json`, 'utf8').catch(() => '{}'));
  });

  after(async () => {
    if (uml) await rm(uml.outDir, { recursive: true, force: true });
  });

  test('the run finished', () => {
    assert.equal(r.fatal, undefined, r.fatal);
    assert.equal(uml.exitCode, 0, `${uml.stderr.slice(-3000)}\n${uml.setupError ?? ''}`);
    assert.equal(r.create.code, 0, r.create.stderr);
  });

  test('free space read offline after unmount equals statfs while mounted (what df shows)', () => {
    assert.equal(r.afterWrite.blockSize, r.mounted.statfs.bsize);
    assert.equal(r.afterWrite.freeBlocks, r.mounted.statfs.free);
    const [, dfUsed] = String(r.mounted.df).trim().split(/\s+/).map(Number);
    // df's used excludes the filesystem's own metadata; ours counts it as dumpe2fs does
    assert.equal(dfUsed, (r.mounted.statfs.blocks - r.afterWrite.freeBlocks) * r.afterWrite.blockSize);
    assert.equal(r.afterWrite.blocksCount, field(r.dumpe2fs, 'Block count'));
    assert.equal(r.afterWrite.freeBlocks, field(r.dumpe2fs, 'Free blocks'));
    assert.ok(r.afterWrite.usedBytes > r.create.json[0].usage.usedBytes + 7_000_000, 'the writes landed in the overlay image');
  });

  test('grow: the image is 96 MiB, dumpe2fs and statfs agree, and the data is still there', () => {
    assert.equal(r.grow.code, 0, r.grow.stderr);
    assert.equal(r.afterGrow.capacityBytes, 96 * 2 ** 20);
    assert.equal(r.afterGrow.blocksCount, field(r.grownDumpe2fs, 'Block count'));
    assert.equal(r.afterGrow.freeBlocks, field(r.grownDumpe2fs, 'Free blocks'));
    assert.equal(r.afterGrow.freeBlocks, r.grownMounted.statfs.free);
    for (const [path, same] of Object.entries(r.readBack)) assert.equal(same, true, path);
    assert.equal(Object.keys(r.readBack).length, 5);
    assert.equal(r.hostname, 'changed-by-live\n');
    assert.equal(r.lowerHostname, 'localhost-live\n');
  });

  test('grow refuses an overlay a loop device has open', () => {
    assert.equal(r.growInUse.code, 1);
    assert.equal(r.growInUse.json.error.code, 'DRIVE_BUSY');
  });
});
