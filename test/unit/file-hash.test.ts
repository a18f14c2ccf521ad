import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { closeSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { hashFile } from '../../main/adapters/fs/file-hash.js';
import { run } from '../fixtures/command.js';
import { tierSuite } from '../harness/tier.js';

/**
 * The one file hash (key files, ISOs, a merge's images): for a file with holes it reads only the data extents and
 * hashes the holes as zeros. It must equal sha256sum reading every byte, for data at odd places, a partial last
 * block, preallocated (unwritten) extents, a file without holes, and on tmpfs (no extent map: read whole).
 */
tierSuite('tools', 'file hash, sparse-aware', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'bootkey-file-hash-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  /** A file of `size` bytes with random data written at these offsets (everything else a hole). */
  async function sparse(name: string, size: number, writes: [offset: number, length: number][], folder = dir): Promise<string> {
    const path = join(folder, name);
    const fd = openSync(path, 'w');
    try {
      for (const [offset, length] of writes) writeSync(fd, randomBytes(length), 0, length, offset);
    } finally {
      closeSync(fd);
    }
    await run('truncate', ['-s', String(size), path]);
    return path;
  }

  async function assertSameAsSha256sum(path: string): Promise<void> {
    const expected = (await run('sha256sum', [path])).split(' ')[0];
    const size = Number((await run('stat', ['-c', '%s', path])).trim());
    assert.deepEqual(await hashFile(path), { sha256: expected, bytes: size });
  }

  test('holes between data at block and odd offsets, a partial last block', async () => {
    await assertSameAsSha256sum(await sparse('a.img', 64 * 1048576 + 1234, [[0, 4096], [5 * 1048576 + 17, 300_000], [40 * 1048576, 9 * 1048576], [64 * 1048576 + 1000, 234]]));
  });

  test('only holes, and no holes at all', async () => {
    await assertSameAsSha256sum(await sparse('holes.img', 20 * 1048576, []));
    await assertSameAsSha256sum(await sparse('full.img', 3 * 1048576 + 5, [[0, 3 * 1048576 + 5]]));
    await assertSameAsSha256sum(await sparse('empty.img', 0, []));
  });

  test('preallocated (unwritten) extents read as the zeros they are', async () => {
    const path = await sparse('prealloc.img', 16 * 1048576, [[8 * 1048576, 4096]]);
    await run('fallocate', ['-o', String(1048576), '-l', String(4 * 1048576), path]);
    await assertSameAsSha256sum(path);
  });

  test('on tmpfs (no extent map) the whole file is read', async () => {
    const shm = mkdtempSync('/dev/shm/bootkey-sparse-hash-');
    try {
      await assertSameAsSha256sum(await sparse('shm.img', 8 * 1048576, [[3 * 1048576, 5000]], shm));
    } finally {
      rmSync(shm, { recursive: true, force: true });
    }
  });
});
