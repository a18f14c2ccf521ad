// The durable writer's read-back comes from the medium, not the page cache. On a real ext4 on a loop device of
// this machine's kernel: (1) while the writer runs, the device's own read counter (/sys/block/loopN/stat, sectors
// read) grows by at least the file's size, although every byte is still cached — a read-back from the cache
// would read nothing, as the control read shows; (2) bytes changed on the medium behind a clean cache (the
// image file written underneath, found with filefrag) are caught by the direct read-back and missed by a
// cached read of the same range, and fail the writer when it happens between its last flush and its read-back.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, openSync, readFileSync, writeSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, statfs, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { alignedBuffer, BlockChecks, checksFromMedium, hostDurableWriter, READ_CHUNK } from '../../main/adapters/fs/durable-writer.js';
import { BootkeyError } from '../../main/core/errors.js';
import { inParallel } from '../../main/core/in-parallel.js';
import { temporaryPathOf } from '../../main/core/key-manifest.js';
import { tierSuite } from '../harness/tier.js';

const MiB = 1024 * 1024;

async function* chunksOf(bytes: Uint8Array, size: number): AsyncGenerator<Uint8Array> {
  for (let at = 0; at < bytes.length; at += size) yield bytes.subarray(at, at + size);
}

tierSuite('tools', 'durable writer reads back from the medium (ext4 on a loop device)', () => {
  let dir: string;
  let image: string;
  let loop: string;
  let mnt: string;
  const sectorsRead = () => Number(readFileSync(`/sys/block/${loop.slice(5)}/stat`, 'utf8').trim().split(/\s+/)[2]);

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'bootkey-dw-medium-'));
    image = join(dir, 'fs.img');
    mnt = join(dir, 'mnt');
    execFileSync('truncate', ['-s', '128M', image]);
    execFileSync('mkfs.ext4', ['-q', '-F', '-b', '4096', image]);
    loop = execFileSync('losetup', ['--find', '--show', image], { encoding: 'utf8' }).trim();
    execFileSync('mkdir', [mnt]);
    execFileSync('mount', ['-t', 'ext4', loop, mnt]);
  });
  after(async () => {
    if (mnt) execFileSync('umount', [mnt], { stdio: 'ignore' });
    if (loop) execFileSync('losetup', ['-d', loop], { stdio: 'ignore' });
    await rm(dir, { recursive: true, force: true });
  });

  test('the writer reads every byte back from the device; a cached read of the same file reads none', async () => {
    const data = randomBytes(24 * MiB + 5000);
    const path = join(mnt, 'verified.bin');
    const start = sectorsRead();
    const result = await hostDurableWriter(4 * MiB).write(path, chunksOf(data, MiB), { size: data.length });
    const read = (sectorsRead() - start) * 512;
    assert.equal(result.readBack, 'medium');
    assert.ok(read >= data.length, `the device read ${read} bytes during the write of ${data.length}`);
    // Control: the file is in the page cache, so a plain read does not reach the device.
    const control = sectorsRead();
    assert.deepEqual(await readFile(path), data);
    assert.ok((sectorsRead() - control) * 512 < MiB, `a cached read read ${(sectorsRead() - control) * 512} bytes`);
  });

  /** Writes 'corrupt!' at byte 100 of `path` into the image file under the loop device, where filefrag says its first block is. */
  function corruptOnMedium(path: string): void {
    const extent = /^\s*0:\s+0\.\.\s*\d+:\s+(\d+)\.\./m.exec(execFileSync('filefrag', ['-v', path], { encoding: 'utf8' }));
    assert.ok(extent, 'filefrag gave no first extent');
    const fd = openSync(image, 'r+');
    writeSync(fd, Buffer.from('corrupt!'), 0, 8, Number(extent[1]) * 4096 + 100);
    closeSync(fd);
  }

  test('a file changed on the medium after its last flush: the writer fails with IO_ERROR, nothing gets the name', async () => {
    const data = randomBytes(6 * MiB);
    const path = join(mnt, 'changed.bin');
    let corrupted = false;
    await assert.rejects(hostDurableWriter(4 * MiB).write(path, chunksOf(data, MiB), { size: data.length, onDurable: (bytes) => {
      if (bytes === data.length) {
        corruptOnMedium(temporaryPathOf(path));
        corrupted = true;
      }
    } }), (e: unknown) => e instanceof BootkeyError && e.code === 'IO_ERROR' && /read back from the key differ .*in the MiB from byte 0\b/.test(e.message));
    assert.ok(corrupted);
    assert.deepEqual((await readdir(mnt)).filter((n) => n.includes('changed')), []);
  });

  test('a batch that fills the filesystem: NOT_ENOUGH_SPACE, and its temporaries are removed', async () => {
    const batch = hostDurableWriter(4 * MiB).batch();
    const big = new Uint8Array(160 * MiB);
    await assert.rejects((async () => {
      await batch.add(join(mnt, 'small.bin'), chunksOf(randomBytes(1000), 1000), { size: 1000 });
      await batch.add(join(mnt, 'too-big.bin'), chunksOf(big, MiB), { size: big.length });
      await batch.commit();
    })(), (e: unknown) => e instanceof BootkeyError && e.code === 'NOT_ENOUGH_SPACE');
    await batch.discard();
    assert.deepEqual((await readdir(mnt)).filter((n) => n.includes('small') || n.includes('too-big')), []);
  });

  test('small files added four at a time fill the filesystem: NOT_ENOUGH_SPACE once those running end, every temporary removed', async () => {
    const filler = join(mnt, 'filler.bin');
    // bfree: this test runs as root, which may use ext4's reserved blocks too.
    const { bfree, bsize } = await statfs(mnt);
    execFileSync('fallocate', ['-l', String(bfree * bsize - 3 * MiB), filler]);
    try {
      const batch = hostDurableWriter(MiB).batch();
      const files = Array.from({ length: 40 }, (_, i) => ({ name: `many-${i}.bin`, data: randomBytes(200 * 1024) }));
      await assert.rejects(inParallel(files, 4, (f) => batch.add(join(mnt, f.name), chunksOf(f.data, 64 * 1024), { size: f.data.length })),
        (e: unknown) => e instanceof BootkeyError && e.code === 'NOT_ENOUGH_SPACE');
      await batch.discard();
      assert.deepEqual((await readdir(mnt)).filter((n) => n.startsWith('many-')), []);
    } finally {
      await rm(filler);
    }
  });

  test('bytes changed on the medium behind a clean cache: the direct read-back sees it, a cached read does not', async () => {
    const data = randomBytes(3 * MiB);
    const path = join(mnt, 'behind.bin');
    await writeFile(path, data);
    execFileSync('sync', ['-f', path]);
    await readFile(path); // cached and clean
    corruptOnMedium(path);
    const checksOf = (bytes: Uint8Array) => {
      const checks = new BlockChecks();
      checks.update(bytes);
      checks.end();
      return checks.blocks;
    };
    const cachedRead = await checksFromMedium(path, alignedBuffer(2 * READ_CHUNK), false);
    assert.deepEqual(cachedRead, { blocks: checksOf(data), bytes: data.length, readBack: 'page-cache' });
    const changed = Buffer.from(data);
    changed.write('corrupt!', 100);
    const directRead = await checksFromMedium(path, alignedBuffer(2 * READ_CHUNK));
    assert.deepEqual(directRead, { blocks: checksOf(changed), bytes: data.length, readBack: 'medium' });
    assert.notEqual(directRead.blocks[0], cachedRead.blocks[0]);
    assert.deepEqual(directRead.blocks.slice(1), cachedRead.blocks.slice(1));
  });
});
