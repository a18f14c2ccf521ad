import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { hostDurableWriter } from '../../main/adapters/fs/durable-writer.js';
import { hashFile } from '../../main/adapters/fs/file-hash.js';
import { hostKeyFiles } from '../../main/adapters/fs/key-files.js';
import { e2fsprogs } from '../../main/adapters/persistence/e2fsprogs.js';
import { hostPersistenceFiles } from '../../main/adapters/persistence/host-persistence-files.js';
import { squashfsTools } from '../../main/adapters/persistence/squashfs-tools.js';
import { BootkeyError } from '../../main/core/errors.js';
import type { PersistenceFiles, SquashfsTools } from '../../main/ports/persistence-files.js';
import { MERGE_PHASES, PersistenceService, type MergeProgress } from '../../main/services/persistence.js';
import { fixture } from '../fixtures/index.js';
import { tierSuite } from '../harness/tier.js';

/**
 * The merge on a folder key with the real tools (the UML merge test proves the merge itself on a kernel's overlay):
 * - cancelled at each point before the swap (before it starts, while unsquashfs extracts, while mksquashfs builds,
 *   while the new image is written from the old one's blocks), it ends in BootkeyError CANCELLED with the old
 *   squashfs.img and the overlay byte for byte as they were, and no temporary left on the key or in the work folder;
 * - where the old image's blocks cannot be reused (another file beside rootfs.img, no room for the changed blocks,
 *   other compressor options), everything is compressed again with the reason given, and a whole rebuild is
 *   refused before anything is written when the work folder cannot hold every file of the image;
 * - the steps a whole merge reports, in order.
 */
tierSuite('tools', 'persist merge on a folder key: cancels, fallbacks, progress', () => {
  let base: string;
  let squashfs: string;
  let rootfs: string;
  before(async () => {
    squashfs = await fixture('liveos-squashfs');
    rootfs = await fixture('liveos-rootfs');
    base = mkdtempSync(join(tmpdir(), 'bootkey-merge-cancel-'));
  });
  after(() => rmSync(base, { recursive: true, force: true }));

  /** A folder key with the live image and a new dm overlay from `persist create`, and a service whose tools `hook` (and files `hookFiles`) wraps. */
  async function keyWith(name: string, hook: (tools: SquashfsTools) => SquashfsTools, image = squashfs,
    hookFiles: (files: PersistenceFiles) => PersistenceFiles = (f) => f) {
    const key = join(base, name);
    const work = join(base, `${name}-work`);
    mkdirSync(join(key, 'LiveOS'), { recursive: true });
    mkdirSync(work);
    copyFileSync(image, join(key, 'LiveOS', 'squashfs.img'));
    const service = new PersistenceService({
      files: hookFiles(hostPersistenceFiles), ext4: e2fsprogs, squashfs: hook(squashfsTools), now: () => new Date(),
      keyFiles: hostKeyFiles, writer: hostDurableWriter(),
      openTarget: async () => ({
        root: key, fsType: 'ext4', freeBytes: 1 << 30, uuid: 'KEY-0001', label: 'LIVE',
        recheck: async () => undefined, release: async () => undefined,
      }),
    });
    await service.create(key, { type: 'dm', size: 8 << 20 });
    const overlay = join(key, 'LiveOS', 'overlay-LIVE-KEY-0001');
    return { key, work, service, overlay, hashes: { image: (await hashFile(join(key, 'LiveOS', 'squashfs.img'))).sha256, overlay: (await hashFile(overlay)).sha256 } };
  }

  /**
   * A device-mapper store as the kernel lays it out (4 KiB chunks: header, then areas of one metadata chunk and
   * 256 data chunks) whose `count` exceptions hold rootfs.img's own chunks 0…count-1: chunks the merge changes,
   * and a merged filesystem e2fsck finds clean.
   */
  function writeOwnChunks(overlay: string, count: number): void {
    const origin = readFileSync(rootfs);
    const areas = Math.ceil(count / 256);
    const store = Buffer.alloc((1 + areas * 257) * 4096);
    store.writeUInt32LE(0x70416e53, 0); // SnAp
    store.writeUInt32LE(1, 4); // valid
    store.writeUInt32LE(1, 8);
    store.writeUInt32LE(8, 12); // sectors a chunk
    for (let i = 0; i < count; i++) {
      const area = Math.floor(i / 256);
      const metadata = 1 + area * 257;
      const data = metadata + 1 + (i % 256);
      store.writeBigUInt64LE(BigInt(i), metadata * 4096 + (i % 256) * 16);
      store.writeBigUInt64LE(BigInt(data), metadata * 4096 + (i % 256) * 16 + 8);
      origin.copy(store, data * 4096, i * 4096, (i + 1) * 4096);
    }
    writeFileSync(overlay, store);
  }

  async function assertCancelledAndUntouched(run: Awaited<ReturnType<typeof keyWith>>, merge: Promise<unknown>) {
    await assertRefusedAndUntouched(run, merge, (e) => e.code === 'CANCELLED');
  }

  /** The merge fails as `expected` says, with the image and overlay byte for byte as they were and nothing left behind. */
  async function assertRefusedAndUntouched(run: Awaited<ReturnType<typeof keyWith>>, merge: Promise<unknown>, expected: (e: BootkeyError) => boolean) {
    await assert.rejects(merge, (e: unknown) => e instanceof BootkeyError && expected(e));
    assert.equal((await hashFile(join(run.key, 'LiveOS', 'squashfs.img'))).sha256, run.hashes.image);
    assert.equal((await hashFile(run.overlay)).sha256, run.hashes.overlay);
    assert.deepEqual(readdirSync(join(run.key, 'LiveOS')).sort(), ['overlay-LIVE-KEY-0001', 'squashfs.img']);
    assert.deepEqual(readdirSync(run.work), []);
  }

  test('aborted before it starts: nothing is made', async () => {
    const run = await keyWith('early', (t) => t);
    const controller = new AbortController();
    controller.abort();
    await assertCancelledAndUntouched(run, run.service.merge(run.key, run.work, {}, undefined, { signal: controller.signal }));
  });

  test('aborted while unsquashfs extracts rootfs.img: the extracted copy and the work folder are removed', async () => {
    const controller = new AbortController();
    let started = false;
    const run = await keyWith('extract', (t) => ({
      ...t,
      extract: (image, inner, dir, signal) => {
        started = true;
        const extracting = t.extract(image, inner, dir, signal);
        controller.abort();
        return extracting;
      },
    }));
    await assertCancelledAndUntouched(run, run.service.merge(run.key, run.work, {}, undefined, { signal: controller.signal }));
    assert.ok(started);
  });

  test('aborted while mksquashfs builds the new image: the half-built image is removed, the old one kept', async () => {
    const controller = new AbortController();
    let built = false;
    const run = await keyWith('build', (t) => ({
      ...t,
      build: (dir, out, options) => {
        built = true;
        const building = t.build(dir, out, options);
        controller.abort();
        return building;
      },
    }));
    await assertCancelledAndUntouched(run, run.service.merge(run.key, run.work, {}, undefined, { signal: controller.signal }));
    assert.ok(built);
  });

  test('aborted while the new image is written from the old one\'s blocks: it stops within a window, the half-written image is removed', async () => {
    const controller = new AbortController();
    let stopped: { written: number; whole: number } | undefined;
    const run = await keyWith('pieces', (t) => t, squashfs, (files) => ({
      ...files,
      writePieces: async (path, pieces, from, signal) => {
        controller.abort();
        const whole = pieces.reduce((sum, p) => sum + ('bytes' in p ? p.bytes.length : p.length), 0);
        try {
          await files.writePieces(path, pieces, from, signal);
        } finally {
          stopped = { written: statSync(path).size, whole };
        }
      },
    }));
    await assertCancelledAndUntouched(run, run.service.merge(run.key, run.work, {}, undefined, { signal: controller.signal }));
    assert.ok(stopped, 'the merge took the reused-block path');
    assert.ok(stopped.written <= 4 << 20 && stopped.written < stopped.whole, `stopped after ${stopped.written} of ${stopped.whole} bytes`);
  });

  test('not aborted: the same set-up merges (the cancels above are not failures of another kind)', async () => {
    const run = await keyWith('whole', (t) => t);
    const result = await run.service.merge(run.key, run.work, {}, undefined, { signal: new AbortController().signal });
    assert.equal(result.exceptions, 0);
    assert.deepEqual(readdirSync(run.work), []);
    assert.equal(result.rebuild.method, 'reused-blocks', JSON.stringify(result.rebuild));
  });

  test('an image that holds more than LiveOS/rootfs.img: everything compressed again by mksquashfs, the reason given, the other file kept', async () => {
    const tree = join(base, 'two-files-tree');
    mkdirSync(join(tree, 'LiveOS'), { recursive: true });
    execFileSync('cp', ['--sparse=always', rootfs, join(tree, 'LiveOS', 'rootfs.img')]);
    writeFileSync(join(tree, 'LiveOS', 'extra.txt'), 'kept\n');
    const image = join(base, 'two-files.img');
    execFileSync('mksquashfs', [tree, image, '-noappend', '-all-root', '-quiet', '-no-progress']);
    const run = await keyWith('two-files', (t) => t, image);
    const result = await run.service.merge(run.key, run.work, {}, undefined);
    // The small file sits in a fragment, which is the first thing the reader meets.
    assert.deepEqual(result.rebuild, { method: 'mksquashfs', why: 'the image has fragments (more than one file, or a file tail)' });
    const merged = join(run.key, 'LiveOS', 'squashfs.img');
    assert.equal(execFileSync('unsquashfs', ['-cat', merged, 'LiveOS/extra.txt'], { encoding: 'utf8' }), 'kept\n');
    assert.notEqual((await hashFile(merged)).sha256, run.hashes.image);
  });

  test('a whole rebuild needs room for every file of the image in the work folder: refused before anything is written when it has room for rootfs.img alone', async () => {
    const tree = join(base, 'big-extra-tree');
    mkdirSync(join(tree, 'LiveOS'), { recursive: true });
    execFileSync('cp', ['--sparse=always', rootfs, join(tree, 'LiveOS', 'rootfs.img')]);
    writeFileSync(join(tree, 'LiveOS', 'extra.bin'), randomBytes(4 << 20));
    const image = join(base, 'big-extra.img');
    execFileSync('mksquashfs', [tree, image, '-noappend', '-all-root', '-quiet', '-no-progress']);
    const rootfsBytes = statSync(rootfs).size;
    // The work folder on a filesystem of its own with 1 MiB more than rootfs.img: enough for the reusing merge, not for this one.
    const run = await keyWith('big-extra', (t) => t, image, (files) => ({
      ...files,
      space: async (dir) => (dir === join(base, 'big-extra-work') ? { freeBytes: rootfsBytes + (1 << 20), device: -1 } : files.space(dir)),
    }));
    await assertRefusedAndUntouched(run, run.service.merge(run.key, run.work, {}, undefined),
      (e) => e.code === 'NOT_ENOUGH_SPACE' && /in the work folder/.test(e.message));
  });

  test('no room in the work folder for the changed blocks: everything compressed by mksquashfs, with the reason', async () => {
    const work = join(base, 'no-room-work');
    const run = await keyWith('no-room', (t) => t, squashfs, (files) => ({
      ...files,
      // The plan sees the work folder's real space; the rebuild, in its own sub-folder, finds none left.
      space: async (dir) => (dir.startsWith(`${work}/`) ? { ...(await files.space(dir)), freeBytes: 0 } : files.space(dir)),
    }));
    writeOwnChunks(run.overlay, 3);
    const result = await run.service.merge(run.key, run.work, {}, undefined);
    assert.match(result.rebuild.method === 'mksquashfs' ? result.rebuild.why : '', /^the work folder has no room for the \d+ changed blocks$/,
      JSON.stringify(result.rebuild));
    // unsquashfs reads the merged rootfs.img out of the image mksquashfs made, and nothing is left in the work folder.
    const image = join(run.key, 'LiveOS', 'squashfs.img');
    assert.equal(execFileSync('sh', ['-c', 'unsquashfs -cat "$1" LiveOS/rootfs.img | sha256sum', 'sh', image], { encoding: 'utf8' }).split(' ')[0], result.rootfsSha256);
    assert.deepEqual(readdirSync(run.work), []);
  });

  test('mksquashfs storing other compressor options for the changed blocks than the old image has: everything compressed again, with the reason', async () => {
    const run = await keyWith('other-options', (t) => ({
      ...t,
      // gzip level 9 is the default and leaves no options block; level 1 stores one.
      build: (dir, out, options) => t.build(dir, out, options.blocksOnly ? { ...options, compressorArgs: ['-Xcompression-level', '1'] } : options),
    }));
    writeOwnChunks(run.overlay, 3);
    const result = await run.service.merge(run.key, run.work, {}, undefined);
    assert.match(result.rebuild.method === 'mksquashfs' ? result.rebuild.why : '', /^mksquashfs stored other compressor options \(\w+\) than the old image's \(none\)$/,
      JSON.stringify(result.rebuild));
  });

  test('progress: every step once, in order; the apply step counts the changed chunks’ bytes in batches up to all of them', async () => {
    // 4200 exceptions: over 16 MiB, so more than one batch.
    const run = await keyWith('progress', (t) => t);
    const count = 4200;
    writeOwnChunks(run.overlay, count);
    const seen: MergeProgress[] = [];
    const result = await run.service.merge(run.key, run.work, {}, undefined, { onProgress: (p) => seen.push(p) });
    assert.equal(result.exceptions, count);
    assert.equal(result.writtenBytes + result.skippedBytes, count * 4096);
    assert.equal(result.fsck.exitCode, 0, 'the chunks put back are the filesystem’s own');
    assert.deepEqual(seen.map((p) => p.phase).filter((phase, i, all) => phase !== all[i - 1]), [...MERGE_PHASES]);
    const apply = seen.filter((p) => p.phase === 'apply');
    assert.ok(apply.every((p) => p.total === count * 4096), 'the total is the changed chunks’ bytes');
    assert.deepEqual([apply[0]?.done, apply.at(-1)?.done], [0, count * 4096]);
    assert.ok(apply.length >= 3, `${apply.length} apply reports: a start and more than one batch`);
    assert.ok(apply.every((p, i) => i === 0 || p.done > apply[i - 1]!.done), 'apply only goes forward');
    assert.ok(seen.filter((p) => p.phase !== 'apply').every((p) => p.done === 0 && p.total === 0), 'other steps count nothing');
  });
});
