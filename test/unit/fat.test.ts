// FAT boot sector checks, directory entries (long names, case bits) and the tree on a hand-built FAT12 volume.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BootkeyError, ParseError } from '../../main/core/errors.js';
import { formatFatSerial, parseFatBootSector } from '../../main/core/fat/boot-sector.js';
import { parseDirectory } from '../../main/core/fat/directory.js';
import { FatFileSystem } from '../../main/core/fat/fat-filesystem.js';
import { decodeOemName, shortNameChecksum } from '../../main/core/fat/short-name.js';
import { MemoryByteSource } from '../harness/memory-byte-source.js';

const SECTOR = 512;

/** A FAT12 boot sector: 64 sectors, 1 sector per cluster, 1 reserved, 2 FATs of 1 sector, 16 root entries. */
function bootSector(): Uint8Array {
  const sector = new Uint8Array(SECTOR);
  const view = new DataView(sector.buffer);
  sector.set([0xeb, 0x3c, 0x90], 0);
  view.setUint16(11, SECTOR, true);
  sector[13] = 1;
  view.setUint16(14, 1, true);
  sector[16] = 2;
  view.setUint16(17, 16, true);
  view.setUint16(19, 64, true);
  sector[21] = 0xf8;
  view.setUint16(22, 1, true);
  sector[38] = 0x29;
  view.setUint32(39, 0x2024beef, true);
  sector.set(new TextEncoder().encode('NO NAME    FAT12   '), 43);
  view.setUint16(510, 0xaa55, true);
  return sector;
}

/** A 32-byte 8.3 entry. `name` is the 11 raw name bytes as text. */
function shortEntry(name: string, attributes: number, cluster: number, size: number, caseBits = 0): Uint8Array {
  const entry = new Uint8Array(32);
  entry.set(Array.from(name.padEnd(11, ' '), (c) => c.charCodeAt(0)), 0);
  entry[11] = attributes;
  entry[12] = caseBits;
  const view = new DataView(entry.buffer);
  view.setUint16(24, (44 << 9) | (3 << 5) | 14, true); // 2024-03-14
  view.setUint16(22, (15 << 11) | (9 << 5) | 13, true); // 15:09:26
  view.setUint16(20, cluster >>> 16, true);
  view.setUint16(26, cluster & 0xffff, true);
  view.setUint32(28, size, true);
  return entry;
}

/** The long-name entries (last first, as stored) for `name` belonging to the 8.3 entry `short`. */
function longEntries(name: string, short: Uint8Array, checksum = shortNameChecksum(short)): Uint8Array[] {
  const units = Array.from({ length: name.length }, (_, i) => name.charCodeAt(i));
  if (units.length % 13) units.push(0);
  while (units.length % 13) units.push(0xffff);
  const count = units.length / 13;
  const offsets = [1, 3, 5, 7, 9, 14, 16, 18, 20, 22, 24, 28, 30];
  const entries: Uint8Array[] = [];
  for (let sequence = count; sequence >= 1; sequence--) {
    const entry = new Uint8Array(32);
    entry[0] = sequence | (sequence === count ? 0x40 : 0);
    entry[11] = 0x0f;
    entry[13] = checksum;
    offsets.forEach((offset, i) => {
      const unit = units[(sequence - 1) * 13 + i]!;
      entry[offset] = unit & 0xff;
      entry[offset + 1] = unit >> 8;
    });
    entries.push(entry);
  }
  return entries;
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((sum, p) => sum + p.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

test('boot sector: geometry, FAT12 by cluster count, serial as XXXX-XXXX, NO NAME kept as read', () => {
  const boot = parseFatBootSector(bootSector());
  assert.equal(boot.fatType, 'FAT12');
  assert.equal(boot.firstDataSector, 1 + 2 + 1);
  assert.equal(boot.clusterCount, 60);
  assert.equal(boot.bootLabel, 'NO NAME');
  assert.equal(formatFatSerial(boot.serial!), '2024-BEEF');
  assert.equal(formatFatSerial(0x1a), '0000-001A');
});

test('boot sector: FAT12/FAT16 boundary at 4085 clusters, FAT16/FAT32 form, impossible FAT16 counts', () => {
  const withTotal = (total: number, spc = 1, fat = 16) => {
    const sector = bootSector();
    const view = new DataView(sector.buffer);
    view.setUint16(19, 0, true);
    view.setUint32(32, total, true);
    sector[13] = spc;
    view.setUint16(22, fat, true);
    return parseFatBootSector(sector);
  };
  const overhead = (fatSectors: number) => 1 + 2 * fatSectors + 1;
  assert.equal(withTotal(overhead(16) + 4084).fatType, 'FAT12');
  assert.equal(withTotal(overhead(16) + 4085).fatType, 'FAT16');
  assert.equal(withTotal(overhead(16) + 4085).clusterCount, 4085);
  // 16 sectors of FAT16 map 4096 entries, fewer than 5000 clusters need.
  assert.throws(() => withTotal(overhead(16) + 5000), (e: unknown) => e instanceof ParseError && /cannot map/.test(e.message));
  assert.throws(() => withTotal(overhead(300) + 70000, 1, 300), (e: unknown) => e instanceof ParseError && /more than FAT16/.test(e.message));
  // The FAT32 form (no 16-bit FAT size, no fixed root) is FAT32 even with few clusters, as Linux, GRUB and blkid read it.
  const fat32 = bootSector();
  const view = new DataView(fat32.buffer);
  view.setUint16(17, 0, true);
  view.setUint16(22, 0, true);
  view.setUint32(36, 1, true);
  view.setUint32(44, 2, true);
  fat32[66] = 0x29;
  view.setUint32(67, 0xcafe0001, true);
  const parsed = parseFatBootSector(fat32);
  assert.deepEqual([parsed.fatType, parsed.rootCluster, parsed.rootDirSectors, parsed.serial], ['FAT32', 2, 0, 0xcafe0001]);
  view.setUint32(44, 99, true);
  assert.throws(() => parseFatBootSector(fat32), (e: unknown) => e instanceof ParseError && e.offset === 44);
});

test('boot sector: every zero or impossible field is a ParseError at that field', () => {
  const cases: [what: string, at: number, width: 1 | 2, value: number, offset: number][] = [
    ['bytes per sector', 11, 2, 0, 11],
    ['bytes per sector not a power of two', 11, 2, 1000, 11],
    ['sectors per cluster', 13, 1, 0, 13],
    ['sectors per cluster not a power of two', 13, 1, 3, 13],
    ['reserved sectors', 14, 2, 0, 14],
    ['FAT count', 16, 1, 0, 16],
    ['root entries', 17, 2, 0, 17],
    ['total sectors', 19, 2, 0, 19],
    ['media', 21, 1, 0, 21],
    // A zero 16-bit FAT size would mean the FAT32 form, which has no fixed root directory.
    ['FAT size', 22, 2, 0, 22],
  ];
  for (const [what, at, width, value, offset] of cases) {
    const sector = bootSector();
    if (width === 1) sector[at] = value;
    else new DataView(sector.buffer).setUint16(at, value, true);
    assert.throws(() => parseFatBootSector(sector), (error: unknown) => {
      assert.ok(error instanceof ParseError, what);
      assert.equal(error.offset, offset, what);
      return true;
    });
  }
  assert.throws(() => parseFatBootSector(new Uint8Array(100)), ParseError);
});

test('directory: long names with checksums, surrogate pairs, 8.3 case bits, 0x05, deleted entries, label', () => {
  const plain = shortEntry('README  TXT', 0x20, 3, 10);
  const lower = shortEntry('LOWER   TXT', 0x20, 4, 0, 0x08);
  const lowerExt = shortEntry('UPPER   TXT', 0x20, 5, 0, 0x10);
  const emojiShort = shortEntry('SMILE~1 TXT', 0x20, 6, 1);
  const emoji = longEntries('smile 😀 and a long tail.txt', emojiShort);
  const badShort = shortEntry('BADSUM~1TXT', 0x20, 7, 1);
  const badSum = longEntries('wrong checksum.txt', badShort, 0x42);
  const lone = shortEntry('LONE~1  TXT', 0x20, 8, 1);
  const loneLong = longEntries('x\ud800y.txt', lone);
  const kanji = shortEntry('XFILE   BIN', 0x20, 9, 1);
  kanji[0] = 0x05; // stands for 0xE5, σ in code page 437
  const deletedShort = shortEntry('GONE    TXT', 0x20, 10, 1);
  const deleted = longEntries('deleted file.txt', deletedShort);
  deleted[0]![0] = 0xe5;
  deletedShort[0] = 0xe5;
  const orphanShort = shortEntry('ORPHAN  TXT', 0x20, 11, 1);
  // Only the middle long entry survives before this 8.3 entry: the sequence is incomplete, so it is not used.
  const orphan = longEntries('an orphaned long name that needs two entries.txt', orphanShort).slice(1);
  const directory = concat([
    shortEntry('MY LABEL   ', 0x08, 0, 0),
    shortEntry('.          ', 0x10, 2, 0),
    shortEntry('..         ', 0x10, 0, 0),
    plain, lower, lowerExt, ...emoji, emojiShort, ...badSum, badShort, ...loneLong, lone, kanji,
    ...deleted, deletedShort, ...orphan, orphanShort,
    new Uint8Array(32), // end of directory: nothing after it counts
    shortEntry('AFTER   END', 0x20, 12, 1),
  ]);
  const { entries, label } = parseDirectory(directory, 'FAT16');
  assert.equal(label, 'MY LABEL');
  assert.deepEqual(entries.map((e) => e.name), [
    'README.TXT', 'lower.TXT', 'UPPER.txt', 'smile 😀 and a long tail.txt', 'BADSUM~1.TXT', 'x\ufffdy.txt', 'σFILE.BIN',
    'ORPHAN.TXT',
  ]);
  assert.equal(entries[0]!.mtime?.toISOString(), '2024-03-14T15:09:26.000Z');
  assert.equal(entries[0]!.firstCluster, 3);
});

test('directory: the high cluster half counts on FAT32 only', () => {
  const entry = shortEntry('BIG     BIN', 0x20, 0x12345, 1);
  assert.equal(parseDirectory(entry, 'FAT32').entries[0]!.firstCluster, 0x12345);
  assert.equal(parseDirectory(entry, 'FAT16').entries[0]!.firstCluster, 0x2345);
});

test('8.3 bytes 0x80-0xFF read as code page 437', () => {
  assert.equal(decodeOemName(new Uint8Array([0x80, 0x81, 0x9a, 0xe1, 0xff])), 'ÇüÜß\u00a0');
});

/** A FAT12 volume of 64 sectors: label entry, a 2-cluster file, a long-named file, a subdirectory with a file. */
function volume(): Uint8Array {
  const image = new Uint8Array(64 * SECTOR);
  image.set(bootSector(), 0);
  const fat = new Uint8Array(SECTOR);
  const setFat = (cluster: number, value: number) => {
    const at = cluster + (cluster >> 1);
    const word = fat[at]! | (fat[at + 1]! << 8);
    const next = cluster & 1 ? (word & 0x000f) | (value << 4) : (word & 0xf000) | value;
    fat[at] = next & 0xff;
    fat[at + 1] = next >> 8;
  };
  setFat(0, 0xff8);
  setFat(1, 0xfff);
  setFat(2, 3);
  setFat(3, 0xfff); // HELLO.TXT: clusters 2, 3
  setFat(4, 0xfff); // the long-named file
  setFat(5, 0xfff); // SUB
  setFat(6, 0xfff); // SUB/INNER.BIN
  image.set(fat, SECTOR);
  image.set(fat, 2 * SECTOR);
  const longShort = shortEntry('A LONG~1TXT', 0x21, 4, 5);
  image.set(concat([
    shortEntry('VOLUME     ', 0x08, 0, 0),
    shortEntry('HELLO   TXT', 0x20, 2, 600),
    ...longEntries('A long name.txt', longShort),
    longShort,
    shortEntry('SUB        ', 0x10, 5, 0),
    shortEntry('EMPTY      ', 0x20, 0, 0),
  ]), 3 * SECTOR);
  const data = (cluster: number) => (4 + cluster - 2) * SECTOR;
  for (let i = 0; i < 600; i++) image[data(2) + i] = i % 251;
  image.set(new TextEncoder().encode('hello'), data(4));
  image.set(concat([
    shortEntry('.          ', 0x10, 5, 0),
    shortEntry('..         ', 0x10, 0, 0),
    shortEntry('INNER   BIN', 0x20, 6, 3),
  ]), data(5));
  image.set([1, 2, 3], data(6));
  return image;
}

test('tree: list, stat, case-insensitive lookup, extents merged, readFile, label and free space', async () => {
  const source = new MemoryByteSource(volume());
  const fat = await FatFileSystem.open(source);
  assert.equal(fat.label, 'VOLUME');
  assert.equal(fat.uuid, '2024-BEEF');
  assert.deepEqual((await fat.list('/')).map((e) => [e.path, e.kind, e.size]), [
    ['/HELLO.TXT', 'file', 600], ['/A long name.txt', 'file', 5], ['/SUB', 'directory', 0], ['/EMPTY', 'file', 0],
  ]);
  assert.deepEqual(await fat.extents('/hello.txt'), [{ offset: 4 * SECTOR, length: 600 }]);
  assert.equal(new TextDecoder().decode(await fat.readFile('/a LONG name.TXT')), 'hello');
  assert.equal((await fat.stat('/a long~1.txt'))?.attributes, 0x21);
  assert.deepEqual(await fat.readFile('/sub/inner.bin'), new Uint8Array([1, 2, 3]));
  assert.deepEqual(await fat.readFile('/EMPTY'), new Uint8Array());
  assert.equal((await fat.stat('/'))?.kind, 'directory');
  assert.equal(await fat.stat('/nope/deeper'), undefined);
  assert.equal(await fat.freeBytes(), (60 - 5) * SECTOR);
  await assert.rejects(fat.list('/HELLO.TXT'), (e: unknown) => e instanceof BootkeyError && e.code === 'NOT_FOUND');
  await assert.rejects(fat.extents('/SUB'), (e: unknown) => e instanceof BootkeyError && e.code === 'NOT_FOUND');
  await assert.rejects(fat.readFile('/HELLO.TXT', 100), (e: unknown) => e instanceof BootkeyError && e.code === 'FILE_TOO_LARGE');
  assert.ok(source.bytesRead < 8 * SECTOR * 4, `${source.bytesRead} bytes read`);
});

test('tree: a boot-sector label is used without a root label entry, unless it is NO NAME', async () => {
  const image = volume();
  image[3 * SECTOR] = 0xe5; // delete the root label entry
  assert.equal((await FatFileSystem.open(new MemoryByteSource(image))).label, '');
  image.set(new TextEncoder().encode('BOOTLABEL  '), 43);
  assert.equal((await FatFileSystem.open(new MemoryByteSource(image))).label, 'BOOTLABEL');
});

test('tree: damaged chains are ParseErrors — too short for the size, outside the volume, into a free cluster', async () => {
  const short = volume();
  new DataView(short.buffer).setUint32(3 * SECTOR + 32 + 28, 5000, true); // HELLO.TXT claims 5000 bytes
  await assert.rejects((await FatFileSystem.open(new MemoryByteSource(short))).readFile('/HELLO.TXT'), /holds 1024 of its 5000 bytes/);

  const outside = volume();
  new DataView(outside.buffer).setUint16(3 * SECTOR + 32 + 26, 4000, true);
  await assert.rejects((await FatFileSystem.open(new MemoryByteSource(outside))).readFile('/HELLO.TXT'), /outside the volume/);

  const free = volume();
  free[SECTOR + 3] = 0; // cluster 2's entry (low byte) → 0: the chain stops at a free cluster
  free[SECTOR + 4] = free[SECTOR + 4]! & 0xf0;
  await assert.rejects((await FatFileSystem.open(new MemoryByteSource(free))).readFile('/HELLO.TXT'), /free cluster/);

  const truncated = volume().subarray(0, 5 * SECTOR);
  await assert.rejects((await FatFileSystem.open(new MemoryByteSource(truncated))).readFile('/HELLO.TXT'), ParseError);
});

test('tree: a subdirectory pointing at the root (cluster 0) is a directory cycle', async () => {
  const image = volume();
  new DataView(image.buffer).setUint16(3 * SECTOR + 5 * 32 + 26, 0, true); // SUB → cluster 0 = the root
  const fat = await FatFileSystem.open(new MemoryByteSource(image));
  await assert.rejects(fat.list('/SUB'), (e: unknown) => e instanceof ParseError && /directory cycle/.test(e.message));
});

test('tree: two directory entries sharing one directory cluster are a cross-link ParseError', async () => {
  const image = volume();
  // A second root entry, OTHER, pointing at SUB's cluster 5.
  image.set(shortEntry('OTHER      ', 0x10, 5, 0), 3 * SECTOR + 7 * 32);
  const fat = await FatFileSystem.open(new MemoryByteSource(image));
  assert.equal((await fat.list('/sub')).length, 1);
  assert.equal((await fat.list('/SUB')).length, 1);
  await assert.rejects(fat.list('/OTHER'), (e: unknown) => e instanceof ParseError && /cross-linked with \/SUB/.test(e.message));
});
