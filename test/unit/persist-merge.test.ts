import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { describe, test } from 'node:test';
import { tmpdir } from 'node:os';
import { promisify } from 'node:util';
import { hostPersistenceFiles } from '../../main/adapters/persistence/host-persistence-files.js';
import { BootkeyError, ParseError } from '../../main/core/errors.js';
import { changedBlocks, checkMergeSpace, gatherBlocks, planMergeCopies, planMergeSpace, readSquashfsInfo } from '../../main/core/persistence/dm-merge.js';
import { fixture } from '../fixtures/index.js';
import { MemoryByteSource } from '../harness/memory-byte-source.js';
import { tierSuite } from '../harness/tier.js';

/**
 * The merge plan: which overlay chunks go where in the rootfs copy, how much room each place needs, and the
 * squashfs superblock a rebuild copies (checked against unsquashfs -s). The UML test proves the whole merge
 * against the kernel's snapshot and the seed's dm mirror.
 */

const CHUNK = 4096;

describe('merge copies from a dm exception table', () => {
  test('consecutive on both sides coalesce; out-of-order input is sorted by origin', () => {
    const copies = planMergeCopies([
      { oldChunk: 10, newChunk: 2 }, { oldChunk: 11, newChunk: 3 }, { oldChunk: 5, newChunk: 4 }, { oldChunk: 12, newChunk: 5 },
    ], 8, 100 * CHUNK);
    assert.deepEqual(copies, [
      { originOffset: 5 * CHUNK, cowOffset: 4 * CHUNK, length: CHUNK },
      { originOffset: 10 * CHUNK, cowOffset: 2 * CHUNK, length: 2 * CHUNK },
      { originOffset: 12 * CHUNK, cowOffset: 5 * CHUNK, length: CHUNK },
    ]);
  });

  test('consecutive origin chunks whose COW chunks are not consecutive (a metadata chunk between) stay apart', () => {
    const copies = planMergeCopies([{ oldChunk: 0, newChunk: 257 }, { oldChunk: 1, newChunk: 259 }], 8, 10 * CHUNK);
    assert.equal(copies.length, 2);
  });

  test('a later exception for the same origin chunk wins', () => {
    const copies = planMergeCopies([{ oldChunk: 3, newChunk: 2 }, { oldChunk: 3, newChunk: 7 }], 8, 10 * CHUNK);
    assert.deepEqual(copies, [{ originOffset: 3 * CHUNK, cowOffset: 7 * CHUNK, length: CHUNK }]);
  });

  test('a partial last origin chunk copies only up to the origin end; past the end is another image', () => {
    const size = 4 * CHUNK + 1000;
    assert.deepEqual(planMergeCopies([{ oldChunk: 4, newChunk: 2 }], 8, size), [{ originOffset: 4 * CHUNK, cowOffset: 2 * CHUNK, length: 1000 }]);
    assert.throws(() => planMergeCopies([{ oldChunk: 5, newChunk: 2 }], 8, size), (e: unknown) => e instanceof BootkeyError && e.code === 'MALFORMED_IMAGE');
  });

  test('larger chunks (16 KiB) scale offsets', () => {
    assert.deepEqual(planMergeCopies([{ oldChunk: 2, newChunk: 3 }], 32, 10 * 16384), [{ originOffset: 32768, cowOffset: 49152, length: 16384 }]);
  });
});

describe('the squashfs blocks a merge compresses again', () => {
  const BLOCK = 128 << 10;
  test('every block a copy touches (one crossing a boundary touches two), and every block whose CRC changed', () => {
    const copies = [{ originOffset: BLOCK - CHUNK, cowOffset: 0, length: 2 * CHUNK }, { originOffset: 5 * BLOCK, cowOffset: CHUNK, length: CHUNK }];
    assert.deepEqual(changedBlocks(copies, BLOCK, [1, 2, 3, 4, 5, 6, 7, 8], [1, 2, 3, 4, 5, 6, 7, 9]), [0, 1, 5, 7]);
    assert.deepEqual(changedBlocks([], BLOCK, [1, 2], [1, 2]), []);
    assert.throws(() => changedBlocks([], BLOCK, [1], [1, 2]));
  });
  test('gathered one after another, consecutive blocks in one copy, the short last block short', () => {
    assert.deepEqual(gatherBlocks([1, 2, 5, 9], BLOCK, 9 * BLOCK + 100), [
      { cowOffset: BLOCK, originOffset: 0, length: 2 * BLOCK },
      { cowOffset: 5 * BLOCK, originOffset: 2 * BLOCK, length: BLOCK },
      { cowOffset: 9 * BLOCK, originOffset: 3 * BLOCK, length: 100 },
    ]);
  });
});

describe('merge space', () => {
  const space = planMergeSpace({ extractedBytes: 1000 << 20, squashfsBytes: 400 << 20, changedBytes: 50 << 20 });
  test('work holds the whole rootfs.img; the key the old image plus the changed chunks, with margin', () => {
    assert.equal(space.workBytes, 1000 << 20);
    assert.ok(space.keyBytes >= 450 << 20 && space.keyBytes < 460 << 20);
  });
  test('separate places are checked apart; one filesystem must hold both', () => {
    checkMergeSpace(space, { freeBytes: space.workBytes, device: 1 }, { freeBytes: space.keyBytes, device: 2 });
    const short = (e: unknown) => e instanceof BootkeyError && e.code === 'NOT_ENOUGH_SPACE';
    assert.throws(() => checkMergeSpace(space, { freeBytes: space.workBytes - 1, device: 1 }, { freeBytes: 1e12, device: 2 }), short);
    assert.throws(() => checkMergeSpace(space, { freeBytes: 1e12, device: 1 }, { freeBytes: space.keyBytes - 1, device: 2 }), short);
    assert.throws(() => checkMergeSpace(space, { freeBytes: space.workBytes + space.keyBytes - 1, device: 3 },
      { freeBytes: space.workBytes + space.keyBytes - 1, device: 3 }), short);
  });
});

describe('squashfs superblock', () => {
  test('not squashfs, or squashfs 3, is refused', async () => {
    await assert.rejects(readSquashfsInfo(new MemoryByteSource(new Uint8Array(96))), ParseError);
    const old = new Uint8Array(96);
    new DataView(old.buffer).setUint32(0, 0x73717368, true);
    new DataView(old.buffer).setUint16(28, 3, true);
    await assert.rejects(readSquashfsInfo(new MemoryByteSource(old)), /version 3/);
  });
});

tierSuite('tools', 'squashfs superblock against unsquashfs -s', () => {
  test('compressor, block size and length of the LiveOS fixture and of an xz rebuild', async () => {
    const images = [await fixture('liveos-squashfs')];
    const dir = await hostPersistenceFiles.makeWorkDir(tmpdir());
    try {
      await promisify(execFile)('mksquashfs', [images[0] as string, `${dir}/xz.img`, '-noappend', '-quiet', '-no-progress', '-comp', 'xz', '-b', '65536']);
      images.push(`${dir}/xz.img`);
      for (const image of images) {
        const { stdout } = await promisify(execFile)('unsquashfs', ['-s', image]);
        const source = await hostPersistenceFiles.open(image);
        const info = await readSquashfsInfo(source).finally(() => source.close());
        assert.equal(info.compression, /^Compression (\S+)/m.exec(stdout)?.[1]);
        assert.equal(info.blockSize, Number(/^Block size (\d+)/m.exec(stdout)?.[1]));
        assert.equal(info.bytesUsed, Number(/^Filesystem size (\d+) bytes/m.exec(stdout)?.[1]));
      }
    } finally {
      await hostPersistenceFiles.removeTree(dir);
    }
  });
});
