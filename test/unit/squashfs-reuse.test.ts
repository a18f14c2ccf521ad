import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { hostPersistenceFiles as files } from '../../main/adapters/persistence/host-persistence-files.js';
import { squashfsTools } from '../../main/adapters/persistence/squashfs-tools.js';
import { ParseError } from '../../main/core/errors.js';
import { changedBlocks } from '../../main/core/persistence/dm-merge.js';
import { compressorArguments, layoutReusedImage, readSingleFileImage, type SingleFileImage } from '../../main/core/persistence/squashfs-reuse.js';
import { MemoryByteSource } from '../harness/memory-byte-source.js';
import { random } from '../harness/mutations.js';
import { rebuildReusingBlocks } from '../../main/services/squashfs-rebuild.js';
import { fuzzTest } from '../harness/fuzz-run.js';
import { tierSuite } from '../harness/tier.js';

/**
 * Rebuilding a LiveOS squashfs.img with its unchanged compressed blocks reused: images made by the real
 * mksquashfs (gzip, xz with a BCJ filter and a small dictionary, zstd with a level), some blocks changed (new
 * data, zeroed, the short last one), and unsquashfs — not our reader — must give back the changed file, with
 * the same owner, mode and time. Shapes it does not handle are refused with the reason, and the reader is fuzzed.
 * The UML merge test mounts a rebuilt image with the kernel.
 */

const BLOCK = 128 << 10;
const PATH = ['LiveOS', 'rootfs.img'];

/** A rootfs.img-like file: blocks of random data, repeated text and zeros. */
function content(blocks: number, tail = 0): Buffer {
  const data = Buffer.alloc(blocks * BLOCK + tail);
  for (let i = 0; i * BLOCK < data.length; i++) {
    const end = Math.min(data.length, (i + 1) * BLOCK);
    if (i % 3 === 0) randomBytes(end - i * BLOCK).copy(data, i * BLOCK);
    else if (i % 3 === 1) data.fill(`text of block ${i} `, i * BLOCK, end);
  }
  return data;
}

tierSuite('tools', 'squashfs rebuilt with its unchanged blocks reused', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'bootkey-squashfs-reuse-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  /** mksquashfs of `tree` (path → bytes) with these arguments; the image's path. */
  function squash(name: string, tree: Record<string, Buffer>, args: string[]): string {
    const root = join(dir, `${name}-tree`);
    for (const [path, bytes] of Object.entries(tree)) {
      mkdirSync(join(root, path, '..'), { recursive: true });
      writeFileSync(join(root, path), bytes);
    }
    const image = join(dir, `${name}.img`);
    execFileSync('mksquashfs', [root, image, '-noappend', '-quiet', '-no-progress', ...args]);
    return image;
  }

  async function read(image: string, path: string[], compression: string): Promise<SingleFileImage> {
    const source = await files.open(image);
    try {
      return await readSingleFileImage(source, path, squashfsTools.decompressor(compression));
    } finally {
      await source.close();
    }
  }

  /** The merge's rebuild (rebuildReusingBlocks) of `old` for `merged`, its changed blocks found by CRC as the merge finds e2fsck's. */
  async function rebuild(name: string, old: string, merged: Buffer, compression: string) {
    const image = await read(old, PATH, compression);
    const mergedPath = join(dir, `${name}-merged`);
    writeFileSync(mergedPath, merged);
    const before = (await files.digest(join(dir, `${name}-tree`, ...PATH), { sha256: false, blockBytes: BLOCK })).blockCrcs as number[];
    const after = (await files.digest(mergedPath, { sha256: false, blockBytes: BLOCK })).blockCrcs as number[];
    const changed = changedBlocks([], BLOCK, before, after);
    const work = join(dir, `${name}-work`);
    mkdirSync(work);
    const fresh = join(dir, `${name}-new.img`);
    const reused = await rebuildReusingBlocks({ files, squashfs: squashfsTools },
      { image, compressorArgs: compressorArguments(image), changed, merged: mergedPath, work, old, fresh, modTime: 1_700_000_000 });
    assert.equal(typeof reused, 'number', String(reused));
    assert.deepEqual(readdirSync(work), [], 'the changed blocks and their image are removed');
    return { fresh, changed, reused: reused as number, image };
  }

  for (const [compression, ...args] of [['gzip'], ['xz', '-Xbcj', 'x86', '-Xdict-size', '65536'], ['zstd', '-Xcompression-level', '5']] as string[][]) {
    test(`${[compression, ...args].join(' ')}: unsquashfs reads the changed file back; untouched blocks are the old bytes`, async () => {
      const name = compression as string;
      const data = content(24);
      const old = squash(name, { 'LiveOS/rootfs.img': data }, ['-comp', name, ...args]);
      const merged = Buffer.from(data);
      randomBytes(BLOCK).copy(merged, 1 * BLOCK);
      merged.fill(0, 3 * BLOCK, 4 * BLOCK);
      merged.fill('changed ', 7 * BLOCK, 7 * BLOCK + 100);
      const { fresh, changed, reused: counted, image } = await rebuild(name, old, merged, name);
      assert.deepEqual(changed, [1, 3, 7]);
      assert.deepEqual(execFileSync('unsquashfs', ['-cat', fresh, PATH.join('/')], { maxBuffer: 1 << 30 }), merged);
      assert.deepEqual(compressorArguments(await read(fresh, PATH, name)), compressorArguments(image));
      const listing = (image: string) => execFileSync('unsquashfs', ['-lln', image], { env: { TZ: 'UTC' } }).toString();
      assert.equal(listing(fresh), listing(old));
      // Every reused block is where its bytes were in the old image, byte for byte.
      const [before, now] = [readFileSync(old), readFileSync(fresh)];
      const rebuilt = await read(fresh, PATH, name);
      let reused = 0;
      for (const [i, block] of image.file.blocks.entries()) {
        const size = block.word & ~(1 << 24);
        if (changed.includes(i) || size === 0) continue;
        const at = rebuilt.file.blocks[i]!;
        assert.equal(at.word, block.word);
        assert.ok(before.subarray(block.offset, block.offset + size).equals(now.subarray(at.offset, at.offset + size)), `block ${i}`);
        reused++;
      }
      assert.equal(counted, reused);
      assert.ok(reused >= 12);
      assert.match(execFileSync('unsquashfs', ['-s', fresh]).toString(), new RegExp(`Compression ${name}`));
    });
  }

  test('a short last block (no fragments), changed, and no change at all', async () => {
    const data = content(5, 5000);
    const old = squash('tail', { 'LiveOS/rootfs.img': data }, ['-no-fragments']);
    const merged = Buffer.from(data);
    merged.fill(7, merged.length - 100);
    const { fresh, changed } = await rebuild('tail', old, merged, 'gzip');
    assert.deepEqual(changed, [5]);
    assert.deepEqual(execFileSync('unsquashfs', ['-cat', fresh, PATH.join('/')]), merged);
    const image = await read(old, PATH, 'gzip');
    const same = layoutReusedImage(image, [], undefined, 1);
    const unchanged = join(dir, 'unchanged.img');
    await files.writePieces(unchanged, same.pieces, { old, changed: '/nonexistent' });
    assert.deepEqual(execFileSync('unsquashfs', ['-cat', unchanged, PATH.join('/')]), data);
  });

  test('other shapes are refused with the reason (the merge then runs mksquashfs on everything)', async () => {
    const data = content(2);
    const refused = async (name: string, tree: Record<string, Buffer>, args: string[], why: RegExp, compression = 'gzip') => {
      await assert.rejects(read(squash(name, tree, args), PATH, compression), (e: unknown) => e instanceof ParseError && e.code === 'UNSUPPORTED_IMAGE' && why.test(e.message));
    };
    await refused('extra', { 'LiveOS/rootfs.img': data, 'LiveOS/other': Buffer.from('x') }, ['-no-fragments'], /\/LiveOS holds more than rootfs\.img/);
    await refused('tail-fragment', { 'LiveOS/rootfs.img': content(1, 100) }, ['-tailends'], /fragments/);
    await refused('root-tree', { 'usr/bin/sh': data }, [], /holds usr, not LiveOS/);
    await refused('lz4', { 'LiveOS/rootfs.img': data }, ['-comp', 'lz4', '-Xhc'], /lz4/, 'lz4');
  });

  describe('the reader under hostile images', () => {
    let pristine: Uint8Array;
    before(() => {
      pristine = new Uint8Array(readFileSync(squash('fuzz', { 'LiveOS/rootfs.img': content(40) }, [])));
    });
    const decompress = squashfsTools.decompressor('gzip');
    // Flips in the superblock and the tables (the data blocks are not read), or a cut: a result whose blocks lie
    // inside the image, or a typed error.
    fuzzTest('squashfs-reuse', 300, (seed) => {
      const next = random(seed);
      const bytes = new Uint8Array(pristine);
      const tables = Number(new DataView(bytes.buffer).getBigUint64(64, true));
      const steps: string[] = [];
      for (let flips = 1 + Math.floor(next() * 4); flips > 0; flips--) {
        const at = next() < 0.3 ? Math.floor(next() * 96) : tables + Math.floor(next() * (bytes.length - tables));
        const value = Math.floor(next() * 256);
        bytes[at] = value;
        steps.push(`byte ${at} = ${value}`);
      }
      const size = next() < 0.15 ? Math.floor(next() * bytes.length) : bytes.length;
      if (size < bytes.length) steps.push(`cut at ${size}`);
      return {
        steps,
        exercise: async () => {
          const image = await readSingleFileImage(new MemoryByteSource(bytes.subarray(0, size)), PATH, decompress);
          for (const block of image.file.blocks) assert.ok(block.offset + (block.word & ~(1 << 24)) <= size);
          assert.ok(image.ids.length > 0);
          return 'read';
        },
      };
    });
  });
});
