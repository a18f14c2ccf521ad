import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ParseError } from '../../main/core/errors.js';
import { DM_SNAPSHOT_MAGIC, dmStatusText, readDmSnapshot, type DmException } from '../../main/core/persistence/dm-snapshot.js';
import { readOverlayUsage } from '../../main/core/persistence/overlay-status.js';
import { checkPersistenceSize, headerBackupName, isOverlayFileName, overlayFileName, parseSize } from '../../main/core/persistence/persistence-plan.js';
import { MemoryByteSource } from '../harness/memory-byte-source.js';

/**
 * The dm-snapshot COW reader on stores built here the way the kernel lays them out (header chunk, then areas
 * of one metadata chunk and the data chunks it describes). The UML test checks the same reader against the
 * real kernel; these pin the edges the kernel run does not reach every time.
 */

const CHUNK = 4096;
const PER_AREA = CHUNK / 16;
const STRIDE = PER_AREA + 1;

/** A store of `chunks` chunks holding `count` exceptions, allocated as the kernel does (skipping metadata). */
function store(chunks: number, count: number, { valid = 1, chunkSectors = 8, version = 1, magic = DM_SNAPSHOT_MAGIC } = {}): Uint8Array {
  const bytes = new Uint8Array(chunks * CHUNK);
  const view = new DataView(bytes.buffer);
  view.setUint32(0, magic, true);
  view.setUint32(4, valid, true);
  view.setUint32(8, version, true);
  view.setUint32(12, chunkSectors, true);
  let next = 2;
  for (let i = 0; i < count; i++) {
    const area = Math.floor(i / PER_AREA);
    const at = (1 + STRIDE * area) * CHUNK + (i % PER_AREA) * 16;
    view.setBigUint64(at, BigInt(1000 + i), true);
    view.setBigUint64(at + 8, BigInt(next), true);
    next += 1;
    if (next % STRIDE === 1) next += 1;
  }
  return bytes;
}

describe('dm-snapshot COW reader', () => {
  test('a zeroed file is a new store: 2 chunks allocated, header + area 0 metadata', async () => {
    const u = await readDmSnapshot(new MemoryByteSource(new Uint8Array(100 * CHUNK)));
    assert.equal(u.state, 'new');
    assert.equal(dmStatusText(u), `16/${100 * 8} 16`);
  });

  test('exceptions within area 0', async () => {
    const seen: DmException[] = [];
    const u = await readDmSnapshot(new MemoryByteSource(store(600, 10)), (e) => seen.push(e));
    assert.equal(u.exceptions, 10);
    assert.equal(dmStatusText(u), `${12 * 8}/${600 * 8} 16`);
    assert.deepEqual(seen[0], { oldChunk: 1000, newChunk: 2 });
    assert.equal(u.percentUsed, Math.round((96 / 4800) * 10_000) / 100);
  });

  test('an exactly full area moves on to the next one, and the next free chunk skips its metadata chunk', async () => {
    const u = await readDmSnapshot(new MemoryByteSource(store(600, PER_AREA)));
    assert.equal(u.areas, 2);
    // header + area 0 (1 + 256 chunks) = 258 chunks; chunk 258 is area 1's metadata, so 259 are taken
    assert.equal(u.allocatedSectors, 259 * 8);
    assert.equal(u.metadataSectors, 3 * 8);
  });

  test('one past a full area', async () => {
    const u = await readDmSnapshot(new MemoryByteSource(store(600, PER_AREA + 1)));
    assert.equal(dmStatusText(u), `${260 * 8}/${600 * 8} ${3 * 8}`);
  });

  test('a store with no room for one more chunk is overflow; one chunk more is valid', async () => {
    assert.equal((await readDmSnapshot(new MemoryByteSource(store(12, 10)))).state, 'overflow');
    assert.equal((await readDmSnapshot(new MemoryByteSource(store(13, 10)))).state, 'valid');
  });

  test('valid flag 0 is invalid; the table is still read for what recovery would bring back', async () => {
    const u = await readDmSnapshot(new MemoryByteSource(store(600, 5, { valid: 0 })));
    assert.equal(u.state, 'invalid');
    assert.equal(u.exceptions, 5);
    assert.equal(dmStatusText(u), 'Invalid');
  });

  test('damage is a ParseError with the offset', async () => {
    const cases: [Uint8Array, number][] = [
      [store(10, 0, { magic: 0x12345678 }), 0],
      [store(10, 0, { version: 2 }), 8],
      [store(10, 0, { chunkSectors: 12 }), 12],
    ];
    const past = store(20, 1);
    new DataView(past.buffer).setBigUint64(CHUNK + 8, 99n, true);
    cases.push([past, CHUNK + 8]);
    const onMetadata = store(600, 1);
    new DataView(onMetadata.buffer).setBigUint64(CHUNK + 8, BigInt(1 + STRIDE), true);
    cases.push([onMetadata, CHUNK + 8]);
    for (const [bytes, offset] of cases) {
      await assert.rejects(readDmSnapshot(new MemoryByteSource(bytes)), (e: unknown) => e instanceof ParseError && e.offset === offset);
    }
  });

  test('reads only the header and the metadata chunks, never the data', async () => {
    const source = new MemoryByteSource(store(2000, 1000));
    await readDmSnapshot(source);
    assert.ok(source.bytesRead <= 16 + 5 * CHUNK, `${source.bytesRead}`);
  });

  test('overlay type by content: no ext magic means a dm store', async () => {
    assert.equal((await readOverlayUsage(new MemoryByteSource(store(50, 3)))).type, 'dm-snapshot');
  });
});

describe('persistence sizes and names', () => {
  test('dracut overlay name', () => {
    assert.equal(overlayFileName('Fedora-WS-Live-40', 'A1B2-C3D4'), 'overlay-Fedora-WS-Live-40-A1B2-C3D4');
    assert.throws(() => overlayFileName('x', ''), /UUID/);
    assert.throws(() => overlayFileName('a/b', 'U'), /file name/);
  });

  test("recover's header backups are not overlays", () => {
    const overlay = overlayFileName('Fedora-WS-Live-40', 'A1B2-C3D4');
    const backup = headerBackupName(overlay, '20261122T023015');
    assert.equal(backup, `${overlay}.header-20261122T023015.bak`);
    assert.equal(isOverlayFileName(overlay), true);
    assert.equal(isOverlayFileName(backup), false);
    assert.equal(isOverlayFileName('overlay-x.bak'), true, 'only the backup pattern is excluded');
    assert.equal(isOverlayFileName('home.img'), false);
  });

  test('sizes', () => {
    assert.equal(parseSize('512M'), 512 * 2 ** 20);
    assert.equal(parseSize('1.5GiB'), 1.5 * 2 ** 30);
    assert.equal(parseSize('4096'), 4096);
    assert.throws(() => parseSize('lots'), /not a size/);
  });

  test('FAT 4 GiB − 1, free space, shrinking refused, rounding to 4 KiB', () => {
    const G = 2 ** 30;
    assert.throws(() => checkPersistenceSize('dm', 4 * G, 'vfat', 100 * G), (e: { code: string }) => e.code === 'FILE_TOO_LARGE');
    assert.equal(checkPersistenceSize('dm', 4 * G, 'exfat', 100 * G).bytes, 4 * G);
    assert.equal(checkPersistenceSize('dm', 4 * G - 1, 'vfat', 100 * G).bytes, 4 * G - 4096);
    assert.throws(() => checkPersistenceSize('ext4', G, 'vfat', G - 1), (e: { code: string }) => e.code === 'NOT_ENOUGH_SPACE');
    assert.equal(checkPersistenceSize('ext4', 2 * G, 'vfat', G + 1, G).requiredBytes, G);
    assert.throws(() => checkPersistenceSize('dm', G, 'vfat', G, 2 * G), /cannot shrink/);
    assert.throws(() => checkPersistenceSize('dm', 4096, 'vfat', G), /too small/);
  });
});
