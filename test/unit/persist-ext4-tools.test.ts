import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { FileByteSource } from '../../main/adapters/fs/file-byte-source.js';
import { e2fsprogs } from '../../main/adapters/persistence/e2fsprogs.js';
import { readOverlayUsage } from '../../main/core/persistence/overlay-status.js';
import { run } from '../fixtures/command.js';
import { tierSuite } from '../harness/tier.js';

/** The ext4 superblock reader against dumpe2fs -h on images made by mkfs.ext4 and grown by resize2fs. */
function dumpe2fsField(text: string, name: string): string {
  const match = new RegExp(`^${name}:\\s+(.*)$`, 'm').exec(text);
  assert.ok(match, `dumpe2fs has no ${name}`);
  return (match[1] ?? '').trim();
}

async function ours(path: string) {
  const source = await FileByteSource.open(path);
  try {
    return await readOverlayUsage(source);
  } finally {
    await source.close();
  }
}

async function agrees(path: string): Promise<void> {
  const dump = await run('dumpe2fs', ['-h', path]);
  const u = await ours(path);
  assert.equal(u.type, 'overlayfs-ext4');
  if (u.type !== 'overlayfs-ext4') return;
  assert.equal(u.blocksCount, Number(dumpe2fsField(dump, 'Block count')), path);
  assert.equal(u.freeBlocks, Number(dumpe2fsField(dump, 'Free blocks')), path);
  assert.equal(u.blockSize, Number(dumpe2fsField(dump, 'Block size')), path);
  assert.equal(u.uuid, dumpe2fsField(dump, 'Filesystem UUID'));
  assert.equal(u.label, dumpe2fsField(dump, 'Filesystem volume name').replace('<none>', ''));
  assert.equal(u.usedBytes, (u.blocksCount - u.freeBlocks) * u.blockSize);
}

tierSuite('tools', 'ext4 overlay and home.img usage against dumpe2fs', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'bootkey-ext4-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  test('mkfs.ext4 variants: 1 KiB and 4 KiB blocks, 64bit on and off', async () => {
    for (const [name, args] of [['small', ['-b', '1024']], ['four', ['-b', '4096', '-O', '^64bit']], ['wide', ['-b', '4096', '-O', '64bit']]] as const) {
      const path = join(dir, `${name}.img`);
      await run('mkfs.ext4', ['-q', '-L', name, ...args, path, '40M']);
      await agrees(path);
    }
  });

  test('the adapter makes an overlay with overlayfs/ and ovlwork/, e2fsck finds it clean, resize2fs grows it', async () => {
    const path = join(dir, 'overlay');
    await e2fsprogs.make(path, 64 << 20, { label: 'overlay', directories: ['overlayfs', 'ovlwork'] });
    const listing = await run('debugfs', ['-R', 'ls -p /', path]);
    assert.match(listing, /\/overlayfs\//);
    assert.match(listing, /\/ovlwork\//);
    assert.equal((await e2fsprogs.check(path, false)).exitCode, 0);
    await agrees(path);
    await e2fsprogs.resize(path, 96 << 20);
    await agrees(path);
    const u = await ours(path);
    assert.equal(u.capacityBytes, 96 << 20);
  });
});
