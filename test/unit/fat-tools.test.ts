// The FAT reader against mtools (mdir, mcopy), blkid and fsck.fat, computed at run time on FAT12/16/32 images
// full of awkward names and fragmented files, on the ESP inside the GPT fixture and on the MBR user key; then
// damaged copies (cluster loop, directory cycle) that must end in a ParseError.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, open, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { FileByteSource } from '../../main/adapters/fs/file-byte-source.js';
import { sliceByteSource } from '../../main/core/byte-source-reads.js';
import { ParseError } from '../../main/core/errors.js';
import { ATTR_HIDDEN, ATTR_READ_ONLY, ATTR_SYSTEM } from '../../main/core/fat/directory.js';
import { FatFileSystem } from '../../main/core/fat/fat-filesystem.js';
import { walkTree } from '../../main/core/filesystem-tree.js';
import { readPartitionTable } from '../../main/core/partitions/partition-table.js';
import { isEfiSystemPartition } from '../../main/core/partitions/partition-types.js';
import { run } from '../fixtures/command.js';
import { makeFat } from '../fixtures/disk-image.js';
import { fixture, userKeyManifest } from '../fixtures/index.js';
import { MemoryByteSource } from '../harness/memory-byte-source.js';
import { tierSuite } from '../harness/tier.js';
import { snapshotDirectory, snapshotTree, withTempDir } from '../harness/tree-snapshot.js';

const MiB = 1 << 20;

/** Names that exercise long names, case bits, non-ASCII and 8.3 aliases; written by mtools, read by us. */
const NAMES = [
  'README', 'UPPER.TXT', 'lower.txt', 'MixedCase.Txt', 'base.TXT', 'SHOUT.txt', 'name with  two spaces.text',
  'Ünïcödé façade.txt', 'Документ.odt', '日本語のファイル名.txt', '☃ snow ★.md', 'a.b.c.d', '.hidden-dot', 'x',
  'A name that is quite a bit longer than one long-name entry can hold, needing several.bin',
];

/** Paths of a FAT image as mtools knows them, with the data the test wrote (so sizes and kinds are known too). */
async function populate(image: string, work: string, fatBits: number): Promise<void> {
  const src = join(work, `src${fatBits}`);
  await mkdir(src, { recursive: true });
  const put = async (path: string, bytes: number) => {
    const file = join(src, 'file');
    await writeFile(file, randomBytes(bytes));
    await run('mcopy', ['-i', image, file, `::${path}`]);
  };
  const dirs = ['EFI', 'EFI/BOOT', 'deep', 'deep/a', 'deep/a/b', 'deep/a/b/c', 'deep/a/b/c/d', 'Ünïcödé Ordner', 'many', 'empty dir', 'frag'];
  await run('mmd', ['-i', image, ...dirs.map((d) => `::${d}`)]);
  for (const [i, name] of NAMES.entries()) await put(name, i * 777);
  await put('EFI/BOOT/BOOTX64.EFI', 150_000);
  await put('deep/a/b/c/d/bottom.txt', 513);
  await put('Ünïcödé Ordner/Straße.txt', 4096);
  await put('Ünïcödé Ordner/empty', 0);
  // Enough long names to spread the directory over several clusters.
  for (let i = 0; i < 70; i++) await put(`many/long file name number ${String(i).padStart(3, '0')}.data`, i % 3 === 0 ? 0 : 100 + i);
  // Fragmentation: fill, punch holes, then write files bigger than any hole.
  for (let i = 0; i < 6; i++) await put(`frag/filler ${i}`, 9000);
  await run('mdel', ['-i', image, '::frag/filler 1', '::frag/filler 3']);
  // On FAT32 mtools allocates after FSInfo's "next free" hint and would never reuse the holes: mark it unknown.
  if (fatBits === 32) await forgetNextFreeHint(image);
  await put('frag/fragmented one.bin', 30_000);
  await put('frag/fragmented two.bin', 25_000);
  await run('mattrib', ['-i', image, '+r', '::UPPER.TXT']);
  await run('mattrib', ['-i', image, '+h', '+s', '::x']);
}

async function forgetNextFreeHint(image: string): Promise<void> {
  const handle = await open(image, 'r+');
  try {
    const bpb = new Uint8Array(512);
    await handle.read(bpb, 0, 512, 0);
    const fsInfoSector = new DataView(bpb.buffer).getUint16(48, true);
    await handle.write(new Uint8Array([0xff, 0xff, 0xff, 0xff]), 0, 4, fsInfoSector * 512 + 492);
  } finally {
    await handle.close();
  }
}

async function blkid(path: string): Promise<Record<string, string>> {
  const out = await run('blkid', ['-o', 'export', '-p', path]);
  // Values come shell-quoted: a space in a label is '\ '.
  const pairs = out.split('\n').filter(Boolean).map((line) => line.split(/=(.*)/s).slice(0, 2) as [string, string]);
  return Object.fromEntries(pairs.map(([key, value]) => [key, value.replace(/\\(.)/g, '$1')]));
}

/** `mdir -/ -b -a` (hidden files too) paths ('::/a/b', folders with a trailing '/') as our '/a/b'. */
async function mdirPaths(image: string): Promise<string[]> {
  const out = await run('mdir', ['-/', '-b', '-a', '-i', image, '::']);
  return out.split('\n').filter(Boolean).map((line) => line.replace(/^::/, '').replace(/\/$/, '')).sort();
}

async function ourPaths(fat: FatFileSystem): Promise<string[]> {
  const paths: string[] = [];
  for await (const entry of walkTree(fat)) paths.push(entry.path);
  return paths.sort();
}

/** Used and total clusters from `fsck.fat -n -v` ("N files, USED/TOTAL clusters"). */
async function fsckClusters(image: string): Promise<{ used: number; total: number }> {
  const out = await run('fsck.fat', ['-n', '-v', image]);
  const match = /(\d+)\/(\d+) clusters/.exec(out);
  assert.ok(match, out);
  return { used: Number(match[1]), total: Number(match[2]) };
}

tierSuite('tools', 'FAT reader agrees with mtools, blkid and fsck.fat', () => {
  let work = '';
  const images = new Map<number, string>();
  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'bootkey-fat-'));
    for (const [fatBits, bytes] of [[12, 4 * MiB], [16, 32 * MiB], [32, 64 * MiB]] as const) {
      const image = join(work, `fat${fatBits}.img`);
      await makeFat(image, { bytes, fatBits, label: `BK FAT${fatBits}`, serial: `1234ABC${fatBits % 10}`, sectorsPerCluster: fatBits === 32 ? 1 : 4 });
      await populate(image, work, fatBits);
      images.set(fatBits, image);
    }
  });
  after(() => rm(work, { recursive: true, force: true }));

  for (const fatBits of [12, 16, 32] as const) {
    const withFat = async <T>(body: (fat: FatFileSystem, image: string) => Promise<T>): Promise<T> => {
      const image = images.get(fatBits)!;
      const source = await FileByteSource.open(image);
      try {
        return await body(await FatFileSystem.open(source), image);
      } finally {
        await source.close();
      }
    };

    test(`FAT${fatBits}: every path, size and content equals mcopy -s; every path equals mdir -/ -b -a`, () =>
      withFat(async (fat, image) => {
        assert.equal(fat.fatType, `FAT${fatBits}`);
        await withTempDir(async (dir) => {
          await run('mcopy', ['-s', '-n', '-i', image, '::*', dir]);
          assert.deepEqual(await snapshotTree(fat, false), await snapshotDirectory(dir, false));
        });
        assert.deepEqual(await ourPaths(fat), await mdirPaths(image));
      }));

    test(`FAT${fatBits}: label, UUID and type equal blkid -p`, () =>
      withFat(async (fat, image) => {
        const theirs = await blkid(image);
        assert.equal(theirs.TYPE, 'vfat');
        assert.deepEqual({ label: fat.label, uuid: fat.uuid, version: fat.fatType }, { label: theirs.LABEL, uuid: theirs.UUID, version: theirs.VERSION });
      }));

    test(`FAT${fatBits}: cluster count and free space equal fsck.fat -n -v`, () =>
      withFat(async (fat, image) => {
        const { used, total } = await fsckClusters(image);
        assert.equal(fat.boot.clusterCount, total);
        assert.equal(await fat.freeBytes(), (total - used) * fat.clusterSize);
      }));

    test(`FAT${fatBits}: fragmented files come out as several merged extents; attributes and lookups`, () =>
      withFat(async (fat, image) => {
        const extents = await fat.extents('/frag/fragmented one.bin');
        assert.ok(extents.length > 1, `${extents.length} extent(s)`);
        for (let i = 1; i < extents.length; i++) {
          assert.notEqual(extents[i - 1]!.offset + extents[i - 1]!.length, extents[i]!.offset, 'adjacent runs are merged');
        }
        assert.equal(extents.reduce((sum, e) => sum + e.length, 0), 30_000);
        const readOnly = await fat.stat('/upper.txt');
        assert.equal(readOnly?.name, 'UPPER.TXT');
        assert.ok(readOnly!.attributes & ATTR_READ_ONLY);
        const hidden = await fat.stat('/X');
        assert.ok(hidden && hidden.attributes & ATTR_HIDDEN && hidden.attributes & ATTR_SYSTEM);
        // The 8.3 alias of a long name finds it too, as on a Linux vfat mount.
        const long = (await fat.list('/')).find((e) => e.name === NAMES.at(-1))!;
        assert.equal((await fat.stat(`/${long.shortName.toLowerCase()}`))?.path, `/${NAMES.at(-1)}`);
        const mtype = await withTempDir(async (dir) => {
          await run('mcopy', ['-n', '-i', image, '::deep/a/b/c/d/bottom.txt', join(dir, 'out')]);
          return readFile(join(dir, 'out'));
        });
        assert.deepEqual(await fat.readFile('/DEEP/A/B/C/D/BOTTOM.TXT'), new Uint8Array(mtype));
      }));
  }

  test('ESP inside the GPT fixture: found by type GUID, BOOTX64.EFI equals mcopy -i IMG@@OFFSET, blkid agrees', async () => {
    const image = await fixture('memtest-usb-img');
    const source = await FileByteSource.open(image);
    try {
      const table = await readPartitionTable(source);
      const esp = table.partitions.find(isEfiSystemPartition)!;
      const fat = await FatFileSystem.open(sliceByteSource(source, esp.start, esp.size));
      const theirs = await withTempDir(async (dir) => {
        await run('mcopy', ['-n', '-i', `${image}@@${esp.start}`, '::EFI/BOOT/BOOTX64.EFI', join(dir, 'BOOTX64.EFI')]);
        return readFile(join(dir, 'BOOTX64.EFI'));
      });
      assert.deepEqual(await fat.readFile('/efi/boot/bootx64.efi'), new Uint8Array(theirs));
      const probed = await run('blkid', ['-o', 'export', '-p', '-O', String(esp.start), image]);
      assert.match(probed, new RegExp(`^UUID=${fat.uuid}$`, 'm'));
      assert.match(probed, new RegExp(`^LABEL=${fat.label}$`, 'm'));
    } finally {
      await source.close();
    }
  });

  test('user key (MBR + FAT32): the tree equals mcopy -s, and names, sizes and attributes equal the manifest', async () => {
    const image = await fixture('user-key');
    const source = await FileByteSource.open(image);
    try {
      const table = await readPartitionTable(source);
      const partition = table.partitions[0]!;
      const fat = await FatFileSystem.open(sliceByteSource(source, partition.start, partition.size));
      await withTempDir(async (dir) => {
        await run('mcopy', ['-s', '-n', '-i', `${image}@@${partition.start}`, '::*', dir], { timeoutMs: 300_000 });
        assert.deepEqual(await snapshotTree(fat, false), await snapshotDirectory(dir, false));
      });
      for (const file of userKeyManifest()) {
        const entry = await fat.stat(`/${file.path}`);
        assert.equal(entry?.path, `/${file.path}`);
        assert.equal(entry.size, file.size);
        const attributes = ['readOnly', 'hidden', 'system'] as const;
        const bits = [ATTR_READ_ONLY, ATTR_HIDDEN, ATTR_SYSTEM];
        attributes.forEach((name, i) => assert.equal(Boolean(entry.attributes & bits[i]!), Boolean(file[name]), `${file.path} ${name}`));
      }
    } finally {
      await source.close();
    }
  });

  test('a cluster chain that loops is a ParseError at the FAT entry, not a hang', async () => {
    const bytes = new Uint8Array(await readFile(images.get(16)!));
    const fat = await FatFileSystem.open(new MemoryByteSource(bytes));
    const file = (await fat.stat('/frag/fragmented two.bin'))!;
    const [, second] = await clusterList(fat, file.path);
    // Point the file's second cluster back at its first.
    const entry = fat.boot.reservedSectors * fat.boot.bytesPerSector + second! * 2;
    new DataView(bytes.buffer).setUint16(entry, file.firstCluster, true);
    const damaged = await FatFileSystem.open(new MemoryByteSource(bytes));
    await assert.rejects(damaged.extents(file.path), (error: unknown) => {
      assert.ok(error instanceof ParseError);
      assert.match(error.message, /loops at cluster/);
      assert.equal(error.offset, entry);
      return true;
    });
    await assert.rejects(damaged.readFile(file.path), ParseError);
  });

  test('a directory that contains its own ancestor is a ParseError when walked, not an endless walk', async () => {
    const bytes = new Uint8Array(await readFile(images.get(32)!));
    const fat = await FatFileSystem.open(new MemoryByteSource(bytes));
    const a = (await fat.stat('/deep/a'))!;
    const b = (await fat.stat('/deep/a/b'))!;
    // Find b's 8.3 entry inside a's first cluster and point it at /deep/a.
    const { firstDataSector, bytesPerSector, clusterSize } = fat.boot;
    const aStart = firstDataSector * bytesPerSector + (a.firstCluster - 2) * clusterSize;
    const name = new TextEncoder().encode(`${b.shortName.toUpperCase().padEnd(11, ' ')}`);
    let at = aStart;
    while (!name.every((byte, i) => bytes[at + i] === byte)) at += 32;
    const view = new DataView(bytes.buffer);
    view.setUint16(at + 20, a.firstCluster >>> 16, true);
    view.setUint16(at + 26, a.firstCluster & 0xffff, true);
    const damaged = await FatFileSystem.open(new MemoryByteSource(bytes));
    await assert.rejects(
      (async () => {
        for await (const _ of walkTree(damaged, '/deep')) void _;
      })(),
      (error: unknown) => error instanceof ParseError && /directory cycle/.test(error.message),
    );
  });
});

/** The clusters of a file in order, from its extents. */
async function clusterList(fat: FatFileSystem, path: string): Promise<number[]> {
  const { firstDataSector, bytesPerSector, clusterSize } = fat.boot;
  const dataStart = firstDataSector * bytesPerSector;
  const clusters: number[] = [];
  for (const extent of await fat.extents(path)) {
    for (let at = extent.offset; at < extent.offset + extent.length; at += clusterSize) clusters.push(2 + (at - dataStart) / clusterSize);
  }
  return clusters;
}
