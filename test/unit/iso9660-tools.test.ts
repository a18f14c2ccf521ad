// ISO 9660 / Joliet / Rock Ridge / El Torito readers against xorriso, isoinfo and blkid, computed at run time.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { FileByteSource } from '../../main/adapters/fs/file-byte-source.js';
import { readBootCatalog, type BootEntry } from '../../main/core/el-torito/boot-catalog.js';
import { bootImagePath, bootImageSource } from '../../main/core/el-torito/boot-image.js';
import { walkTree, type FileSystemTree } from '../../main/core/filesystem-tree.js';
import { isoTree, openIsoImage, type IsoImage } from '../../main/core/iso9660/iso-image.js';
import { run } from '../fixtures/command.js';
import { fixture, type FixtureName } from '../fixtures/index.js';
import { tierSuite } from '../harness/tier.js';
import { snapshotDirectory, snapshotTree, withTempDir } from '../harness/tree-snapshot.js';

const ISO_FIXTURES: FixtureName[] = ['plain-iso', 'joliet-iso', 'rockridge-iso', 'installer-iso', 'bios-only-iso', 'memtest-iso'];

async function blkidValue(path: string, tag: string): Promise<string> {
  return (await run('blkid', ['-p', '-o', 'value', '-s', tag, path]).catch(() => '')).trim();
}

const PLATFORMS: Record<number, string> = { 0x00: 'BIOS', 0x01: 'PPC', 0x02: 'Mac', 0xef: 'UEFI' };

/** Our entry as xorriso's `-report_el_torito plain` prints an image line. */
function reportLine(entry: BootEntry): string {
  const platform = PLATFORMS[entry.platform] ?? `0x${entry.platform.toString(16).padStart(2, '0')}`;
  const segment = `0x${entry.loadSegment.toString(16).padStart(4, '0')}`;
  return [entry.number, platform, entry.bootable ? 'y' : 'n', entry.emulation, segment, entry.sectorCount, entry.lba].join(' ');
}

tierSuite('tools', 'ISO 9660 readers agree with xorriso, isoinfo and blkid', () => {
  for (const name of ISO_FIXTURES) {
    let path = '';
    let source: FileByteSource;
    let image: IsoImage;
    before(async () => {
      path = await fixture(name);
      source = await FileByteSource.open(path);
      image = await openIsoImage(source);
    });
    after(() => source?.close());

    test(`${name}: every path, kind, size, content, link target and mode equals xorriso -osirrox -extract`, async () => {
      await withTempDir(async (dir) => {
        const out = join(dir, 'x');
        await run('xorriso', ['-osirrox', 'on', '-indev', path, '-extract', '/', out], { timeoutMs: 300_000 });
        const withModes = image.tree.naming === 'rock-ridge';
        assert.deepEqual(await snapshotTree(image.tree, withModes), await snapshotDirectory(out, withModes));
      });
    });

    test(`${name}: label and UUID equal blkid's`, async () => {
      assert.equal(image.label, await blkidValue(path, 'LABEL'));
      assert.equal(image.uuid ?? '', await blkidValue(path, 'UUID'));
    });

    test(`${name}: the 8.3 hierarchy lists what isoinfo -f lists`, async () => {
      const tree = await isoTree(source, image.descriptors, 'plain');
      // isoinfo prints 8.3 names with their ';1' version and an extensionless name's dot, which a user never sees
      const listing = await run('isoinfo', ['-f', '-i', path]);
      const theirs = listing.split('\n').filter(Boolean).map((p) => p.replace(/;\d+$/, '').replace(/(.)\.$/, '$1'));
      assert.deepEqual(await treePaths(tree), theirs.sort());
    });

    test(`${name}: the Joliet hierarchy lists what xorriso lists with Rock Ridge off`, async (t) => {
      if (!image.joliet) {
        const svd = await run('isoinfo', ['-d', '-i', path]);
        assert.match(svd, /NO Joliet present/);
        return;
      }
      const tree = await isoTree(source, image.descriptors, 'joliet');
      const listing = await run('xorriso', ['-rockridge', 'off', '-indev', path, '-find', '/']);
      const theirs = listing.split('\n').filter((l) => l.startsWith("'/") && l !== "'/'").map((l) => l.slice(1, -1).replaceAll(`'"'"'`, "'"));
      const ours = await treePaths(tree);
      t.diagnostic(`${ours.length} Joliet paths`);
      assert.deepEqual(ours, theirs.sort());
    });

    test(`${name}: El Torito entries equal xorriso -report_el_torito and isoinfo -d`, async () => {
      const catalog = await readBootCatalog(source, image.descriptors.bootRecords);
      const report = await run('xorriso', ['-indev', path, '-report_el_torito', 'plain']);
      const lines = report.split('\n');
      const images = lines.filter((l) => l.startsWith('El Torito boot img :')).map((l) => l.slice(20).trim().split(/\s+/));
      const paths = lines.filter((l) => l.startsWith('El Torito img path :')).map((l) => l.slice(20).trim().split(/\s+/, 2));
      if (!catalog) {
        assert.equal(images.length, 0);
        return;
      }
      const [catalogLba] = (lines.find((l) => l.startsWith('El Torito catalog  :')) ?? '').slice(20).trim().split(/\s+/);
      assert.equal(String(catalog.lba), catalogLba);
      // xorriso's columns: N Pltf B Emul Ld_seg Hdpt Ldsiz LBA (Hdpt is the hard-disk partition type we do not read)
      assert.deepEqual(catalog.entries.map(reportLine), images.map((c) => [c[0], c[1], c[2], c[3], c[4], c[6], c[7]].join(' ')));
      const ourPaths: string[][] = [];
      for (const entry of catalog.entries) {
        const found = await bootImagePath(image.tree, entry);
        if (found) ourPaths.push([String(entry.number), found]);
      }
      assert.deepEqual(ourPaths, paths);

      const info = await run('isoinfo', ['-d', '-i', path]);
      const field = (label: string) => new RegExp(`${label} (\\S+)`).exec(info)?.[1];
      const first = catalog.entries[0] as BootEntry;
      assert.equal(field('Bootid'), first.bootable ? '88' : '0');
      assert.equal(field('Load segment'), first.loadSegment.toString(16).toUpperCase());
      assert.equal(field('Nsect'), first.sectorCount.toString(16).toUpperCase());
      assert.equal(/Bootoff \S+ (\d+)/.exec(info)?.[1], String(first.lba));
    });

    test(`${name}: boot images equal xorriso -extract_boot_images (UEFI whole, BIOS as loaded)`, async () => {
      const catalog = await readBootCatalog(source, image.descriptors.bootRecords);
      await withTempDir(async (dir) => {
        const out = join(dir, 'boot');
        await run('xorriso', ['-osirrox', 'on', '-indev', path, '-extract_boot_images', out]);
        const files = (await readdir(out)).filter((f) => f.startsWith('eltorito_img'));
        assert.equal(files.length, catalog?.entries.length ?? 0);
        for (const entry of catalog?.entries ?? []) {
          const kind = entry.platform === 0xef ? 'uefi' : entry.platform === 0 ? 'bios' : entry.platform.toString(16);
          const theirs = await readFile(join(out, `eltorito_img${entry.number}_${kind}.img`));
          const slice = bootImageSource(source, entry);
          const ours = await slice.read(0, slice.size);
          if (entry.platform === 0xef) {
            assert.equal(sha256(ours), sha256(theirs), `UEFI image ${entry.number}`);
          } else {
            // xorriso writes a BIOS image with a path at its file's size; the firmware loads the catalog's count.
            assert.equal(sha256(ours), sha256(theirs.subarray(0, ours.length)), `BIOS image ${entry.number}`);
          }
        }
      });
    });
  }
});

async function treePaths(tree: FileSystemTree): Promise<string[]> {
  const paths: string[] = [];
  for await (const entry of walkTree(tree)) paths.push(entry.path);
  return paths.sort();
}

/** Bytes `[start, start + length)` of a file, read through its extents as a copier would. */
async function readRange(tree: FileSystemTree, path: string, start: number, length: number): Promise<Uint8Array> {
  const out = new Uint8Array(length);
  let fileOffset = 0;
  for (const extent of await tree.extents(path)) {
    const from = Math.max(start, fileOffset);
    const to = Math.min(start + length, fileOffset + extent.length);
    if (from < to) out.set(await tree.source.read(extent.offset + from - fileOffset, to - from), from - start);
    fileOffset += extent.length;
  }
  return out;
}

tierSuite('tools', 'ISO 9660 multi-extent files and labels agree with xorriso, isoinfo and blkid', () => {
  test('multiextent-iso: a file over 4 GiB is its two extents, bytes across the boundary equal xorriso -extract_cut', async () => {
    const path = await fixture('multiextent-iso');
    const source = await FileByteSource.open(path);
    try {
      const { tree } = await openIsoImage(source);
      const sizeLine = (await run('xorriso', ['-indev', path, '-lsl', '/big.bin'])).split('\n').find((l) => l.includes('big.bin'));
      assert.equal(String((await tree.stat('/big.bin'))?.size), sizeLine?.trim().split(/\s+/)[4]);
      // isoinfo -l prints one line per directory record: '[ LBA flags] NAME' with the size before it
      const records = (await run('isoinfo', ['-l', '-i', path])).split('\n').filter((l) => l.includes('BIG.BIN;1'))
        .map((l) => /(\d+) \w+ +\d+ \d+ \[ *(\d+)/.exec(l)).map((m) => ({ offset: Number(m?.[2]) * 2048, length: Number(m?.[1]) }));
      assert.equal(records.length, 2);
      assert.deepEqual(await tree.extents('/big.bin'), records);
      const boundary = records[0]?.length ?? 0;
      await withTempDir(async (dir) => {
        for (const [start, length] of [[0, 4096], [boundary - 4096, 8192], [Number((await tree.stat('/big.bin'))?.size) - 4096, 4096]] as const) {
          const out = join(dir, `cut-${start}`);
          await run('xorriso', ['-osirrox', 'on', '-indev', path, '-extract_cut', '/big.bin', String(start), String(length), out]);
          assert.equal(sha256(await readRange(tree, '/big.bin', start, length)), sha256(await readFile(out)), `bytes at ${start}`);
        }
      });
    } finally {
      await source.close();
    }
  });

  test('labels: the Joliet label completed by the primary one, as blkid shows it', async () => {
    await withTempDir(async (dir) => {
      const tree = join(dir, 'tree');
      await run('mkdir', ['-p', tree]);
      for (const [label, joliet] of [['Fedora-WS-Live-42-1-1', true], ['Mixed Case Label', true], ['UPPER_ONLY', false], ['A label of exactly 32 characters', true]] as const) {
        const out = join(dir, 'label.iso');
        await run('genisoimage', ['-quiet', ...(joliet ? ['-J'] : []), '-V', label, '-o', out, tree]);
        const source = await FileByteSource.open(out);
        try {
          const image = await openIsoImage(source);
          assert.equal(image.label, await blkidValue(out, 'LABEL'), label);
          assert.equal(image.uuid, await blkidValue(out, 'UUID'), label);
        } finally {
          await source.close();
          await run('rm', ['-f', out]);
        }
      }
    });
  });
});

function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}
