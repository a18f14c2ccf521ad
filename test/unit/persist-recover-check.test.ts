import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { hostDurableWriter } from '../../main/adapters/fs/durable-writer.js';
import { hostKeyFiles } from '../../main/adapters/fs/key-files.js';
import { e2fsprogs } from '../../main/adapters/persistence/e2fsprogs.js';
import { hostPersistenceFiles } from '../../main/adapters/persistence/host-persistence-files.js';
import { squashfsTools } from '../../main/adapters/persistence/squashfs-tools.js';
import { PersistenceService, type OverlayCheck } from '../../main/services/persistence.js';
import { fixture } from '../fixtures/index.js';
import { bootkeyInProcess as bootkey } from '../harness/cli-in-process.js';
import { tierSuite } from '../harness/tier.js';

/**
 * After a dm overlay is recovered, the filesystem it shows is checked on a scratch copy (rootfs.img extracted,
 * the overlay's chunks copied on) with e2fsck: clean, repairable, or beyond repair. Real tools on a folder key
 * holding the LiveOS fixture, with stores written the kernel's way (header, exception area, data chunks) and
 * left marked Invalid. The UML test shows the check agrees with e2fsck -n on the kernel's own snapshot. The
 * command line's words for each verdict, through the real CLI.
 */
tierSuite('tools', 'persist recover checks the overlay\'s filesystem', () => {
  const CHUNK = 4096;
  const OVERLAY = 'overlay-LIVE-KEY-0001';
  let base: string;
  let squashfs: string;
  let rootfs: Buffer;
  let bitmapBlock: number;
  before(async () => {
    squashfs = await fixture('liveos-squashfs');
    const rootfsPath = await fixture('liveos-rootfs');
    rootfs = readFileSync(rootfsPath);
    const groups = execFileSync('dumpe2fs', [rootfsPath], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    bitmapBlock = Number(/Block bitmap at (\d+)/.exec(groups)?.[1]);
    assert.ok(bitmapBlock > 0);
    base = mkdtempSync(join(tmpdir(), 'bootkey-recover-check-'));
  });
  after(() => rmSync(base, { recursive: true, force: true }));

  /** A folder key holding `image` and an overlay, marked Invalid, that replaces these 4 KiB blocks of rootfs.img. */
  function keyWith(name: string, changes: [block: number, bytes: Buffer][], image = squashfs): { key: string; store: Buffer } {
    const key = join(base, name);
    mkdirSync(join(key, 'LiveOS'), { recursive: true });
    copyFileSync(image, join(key, 'LiveOS', 'squashfs.img'));
    const store = Buffer.alloc(1 << 20);
    store.write('SnAp', 0, 'latin1');
    store.writeUInt32LE(0, 4); // invalid
    store.writeUInt32LE(1, 8);
    store.writeUInt32LE(CHUNK / 512, 12);
    changes.forEach(([block, bytes], i) => {
      store.writeBigUInt64LE(BigInt(block), CHUNK + 16 * i);
      store.writeBigUInt64LE(BigInt(2 + i), CHUNK + 16 * i + 8);
      bytes.copy(store, (2 + i) * CHUNK);
    });
    writeFileSync(join(key, 'LiveOS', OVERLAY), store);
    return { key, store };
  }

  /** keyWith's key, recovered (with a work folder unless `work` is false). */
  async function recoverWith(name: string, changes: [block: number, bytes: Buffer][], work = true, image = squashfs) {
    const { key, store } = keyWith(name, changes, image);
    const workDir = join(base, `${name}-work`);
    mkdirSync(workDir);
    const service = new PersistenceService({
      files: hostPersistenceFiles, ext4: e2fsprogs, squashfs: squashfsTools, now: () => new Date(),
      keyFiles: hostKeyFiles, writer: hostDurableWriter(),
      openTarget: async () => ({
        root: key, fsType: 'vfat', freeBytes: 1 << 30, uuid: 'KEY-0001', label: 'LIVE',
        recheck: async () => undefined, release: async () => undefined,
      }),
    });
    const imageBefore = readFileSync(join(key, 'LiveOS', 'squashfs.img'));
    const result = await service.recover(key, {}, undefined, async () => true, work ? workDir : undefined);
    assert.deepEqual(readdirSync(workDir), [], 'the scratch copy is removed');
    // The check writes nothing on the key: the image as it was, the overlay changed only in its valid flag.
    assert.ok(readFileSync(join(key, 'LiveOS', 'squashfs.img')).equals(imageBefore));
    store.writeUInt32LE(1, 4);
    assert.ok(readFileSync(join(key, 'LiveOS', OVERLAY)).equals(store));
    return result;
  }

  test('a change that keeps the filesystem whole (the block as it was): clean, no repair tried', async () => {
    const block = rootfs.subarray(bitmapBlock * CHUNK, (bitmapBlock + 1) * CHUNK);
    const r = await recoverWith('clean', [[bitmapBlock, Buffer.from(block)]]);
    assert.equal(r.after.type === 'dm-snapshot' && r.after.valid, true);
    const check = r.overlayCheck as OverlayCheck;
    assert.equal(check.verdict, 'clean', JSON.stringify(check));
    assert.equal(check.check.exitCode, 0);
    assert.equal(check.repairTrial, undefined);
  });

  test('a zeroed block bitmap: e2fsck -n finds errors, e2fsck -y on the copy repairs them: repairable', async () => {
    const r = await recoverWith('bitmap', [[bitmapBlock, Buffer.alloc(CHUNK)]]);
    const check = r.overlayCheck as OverlayCheck;
    assert.equal(check.verdict, 'repairable', JSON.stringify(check));
    assert.equal(check.check.exitCode, 4);
    assert.match(check.check.output, /bitmap differences/i);
    assert.ok((check.repairTrial?.exitCode ?? 99) <= 2);
  });

  test('a destroyed superblock in a one-group filesystem (no backup): beyond repair', async () => {
    const r = await recoverWith('superblock', [[0, Buffer.alloc(CHUNK, 0x5a)]]);
    const check = r.overlayCheck as OverlayCheck;
    assert.equal(check.verdict, 'beyond-repair', JSON.stringify(check));
    assert.ok((check.repairTrial?.exitCode ?? 0) >= 4);
  });

  test('a check that cannot run (an image with its root tree directly, no rootfs.img) is reported; the recovery stands', async () => {
    const tree = join(base, 'root-tree');
    mkdirSync(join(tree, 'etc'), { recursive: true });
    writeFileSync(join(tree, 'etc', 'hostname'), 'live\n');
    const image = join(base, 'root-tree.img');
    execFileSync('mksquashfs', [tree, image, '-noappend', '-all-root', '-quiet', '-no-progress']);
    const r = await recoverWith('root-tree', [], true, image);
    assert.equal(r.after.type === 'dm-snapshot' && r.after.valid, true);
    assert.match((r.overlayCheck as { notChecked: string }).notChecked, /holds no LiveOS\/rootfs\.img/);
  });

  test('without a work folder it says it did not check', async () => {
    const r = await recoverWith('nowork', [], false);
    assert.deepEqual(r.overlayCheck, { notChecked: 'no work folder for a scratch copy of rootfs.img' });
  });

  test('bootkey persist recover says each verdict in words, with what to do next', async () => {
    const rootTree = join(base, 'cli-root-tree');
    mkdirSync(rootTree);
    writeFileSync(join(rootTree, 'hostname'), 'live\n');
    const rootTreeImage = join(base, 'cli-root-tree.img');
    execFileSync('mksquashfs', [rootTree, rootTreeImage, '-noappend', '-all-root', '-quiet', '-no-progress']);
    const cases: [string, [number, Buffer][], string, RegExp][] = [
      ['cli-clean', [], squashfs, /^ {2}its filesystem is clean \(e2fsck -f -n on a scratch copy of what it shows\)$/m],
      ['cli-bitmap', [[bitmapBlock, Buffer.alloc(CHUNK)]], squashfs,
        /^ {2}e2fsck -f -n found errors \(status 4\); e2fsck -y repairs them on a scratch copy: merge the overlay to repair them for good, or reset it$/m],
      ['cli-superblock', [[0, Buffer.alloc(CHUNK, 0x5a)]], squashfs,
        /^ {2}e2fsck -f -n found errors \(status \d+\); beyond repair \(e2fsck -y status \d+\): reset the overlay \(everything written to it is lost\)$/m],
      ['cli-root-tree', [], rootTreeImage, /^ {2}its filesystem was not checked: .*holds no LiveOS\/rootfs\.img/m],
    ];
    for (const [name, changes, image, said] of cases) {
      const { key } = keyWith(name, changes, image);
      const work = join(base, `${name}-work`);
      mkdirSync(work);
      const { code, stdout, stderr } = await bootkey('persist', 'recover', key, OVERLAY, '--yes', '--work', work);
      assert.equal(code, 0, stderr);
      assert.match(stdout, /^recovered .*overlay-LIVE-KEY-0001 \(header saved in /);
      assert.match(stdout, said, name);
    }
  });
});
