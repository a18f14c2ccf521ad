// The UDF reader against 7-Zip's UDF extraction, xorriso's view of the same bridge image, blkid and mkudffs.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { join } from 'node:path';
import { FileByteSource } from '../../main/adapters/fs/file-byte-source.js';
import { hasUdfRecognition } from '../../main/core/udf/udf-volume.js';
import { openUdfImage, type UdfImage } from '../../main/core/udf/udf-tree.js';
import { run } from '../fixtures/command.js';
import { fixture } from '../fixtures/index.js';
import { tierSuite } from '../harness/tier.js';
import { snapshotDirectory, snapshotTree, withTempDir } from '../harness/tree-snapshot.js';

async function blkidValue(path: string, tag: string): Promise<string> {
  return (await run('blkid', ['-p', '-o', 'value', '-s', tag, path]).catch(() => '')).trim();
}

tierSuite('tools', 'UDF reader agrees with 7-Zip, xorriso and blkid', () => {
  let path = '';
  let source: FileByteSource;
  let udf: UdfImage;
  before(async () => {
    path = await fixture('udf-image');
    source = await FileByteSource.open(path);
    udf = await openUdfImage(source);
  });
  after(() => source?.close());

  test('udf-image: every path, size and content equals what 7-Zip extracts from the UDF file system', async () => {
    await withTempDir(async (dir) => {
      const out = join(dir, 'x');
      const listing = await run('7zz', ['l', '-slt', path]);
      assert.match(listing, /^Type = Udf$/m, '7-Zip must read this image as UDF, not as its ISO 9660 bridge');
      await run('7zz', ['x', '-y', `-o${out}`, path]);
      assert.deepEqual(await snapshotTree(udf.tree, false), await snapshotDirectory(out, false));
    });
  });

  test('udf-image: the UDF tree holds the same files as the ISO 9660 side that xorriso extracts', async () => {
    await withTempDir(async (dir) => {
      const out = join(dir, 'x');
      await run('xorriso', ['-osirrox', 'on', '-indev', path, '-extract', '/', out]);
      assert.deepEqual(await snapshotTree(udf.tree, false), await snapshotDirectory(out, false));
    });
  });

  test('udf-image: label equals blkid and 7-Zip; listing reads a small part of the image', async () => {
    assert.equal(udf.label, await blkidValue(path, 'LABEL'));
    const listing = await run('7zz', ['l', '-slt', path]);
    assert.equal(udf.volume.volumeId, /VolumeId: (.*)/.exec(listing)?.[1]?.trim());
    const counting = await FileByteSource.open(path);
    let bytes = 0;
    const counted = {
      size: counting.size,
      async read(offset: number, length: number) {
        const chunk = await counting.read(offset, length);
        bytes += chunk.length;
        return chunk;
      },
    };
    try {
      const fresh = await openUdfImage(counted);
      await fresh.tree.list('/sources');
      assert.ok(bytes < 256 * 1024, `read ${bytes} bytes to list /sources`);
    } finally {
      await counting.close();
    }
  });

  test('udf-201-empty (mkudffs, UDF 2.01): opens, label equals blkid, root is empty', async () => {
    const empty = await fixture('udf-201-empty');
    const src = await FileByteSource.open(empty);
    try {
      assert.equal(await hasUdfRecognition(src), true);
      const image = await openUdfImage(src);
      assert.equal(image.label, await blkidValue(empty, 'LABEL'));
      assert.equal(image.volume.nsr, 3);
      assert.deepEqual(await image.tree.list('/'), []);
    } finally {
      await src.close();
    }
  });

  test('mkudffs with 512-byte blocks (hard-disk layout): anchor found, label equals blkid', async () => {
    await withTempDir(async (dir) => {
      const image = join(dir, 'hd512.img');
      await run('truncate', ['-s', '8M', image]);
      await run('mkudffs', ['--media-type=hd', '--blocksize=512', '--label=Hd512Label', image]);
      const src = await FileByteSource.open(image);
      try {
        const opened = await openUdfImage(src);
        assert.equal(opened.volume.blockSize, 512);
        assert.equal(opened.label, await blkidValue(image, 'LABEL'));
        assert.deepEqual(await opened.tree.list('/'), []);
      } finally {
        await src.close();
      }
    });
  });
});
