// El Torito catalog parsing on hand-built catalogs: sections, extension entries, FAT-sized UEFI images, bad checksums.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { readBootCatalog } from '../../main/core/el-torito/boot-catalog.js';
import { bootImagePath, bootImageSource } from '../../main/core/el-torito/boot-image.js';
import { ParseError } from '../../main/core/errors.js';
import type { BootRecord } from '../../main/core/iso9660/volume-descriptors.js';
import { memoryTree } from '../harness/memory-tree.js';
import { MemoryByteSource } from '../harness/memory-byte-source.js';

const SECTOR = 2048;
const CATALOG = 19;
const ascii = (text: string) => [...text].map((c) => c.charCodeAt(0));
const le16 = (v: number) => [v & 0xff, v >> 8];
const le32 = (v: number) => [...le16(v & 0xffff), ...le16(v >>> 16)];

function bootRecord(catalog = CATALOG): BootRecord {
  const bytes = new Uint8Array(SECTOR);
  bytes.set([0, ...ascii('CD001'), 1, ...ascii('EL TORITO SPECIFICATION')]);
  bytes.set(le32(catalog), 71);
  return { sector: 17, systemId: 'EL TORITO SPECIFICATION', bytes };
}

function validationEntry(platform: number, id: string): number[] {
  const entry = [1, platform, 0, 0, ...ascii(id.padEnd(24, '\0')), 0, 0, 0x55, 0xaa];
  let sum = 0;
  for (let i = 0; i < 32; i += 2) sum = (sum + (entry[i] ?? 0) + ((entry[i + 1] ?? 0) << 8)) & 0xffff;
  const check = (0x10000 - sum) & 0xffff;
  entry[28] = check & 0xff;
  entry[29] = check >> 8;
  return entry;
}

function bootEntry(media: number, count: number, lba: number, bootable = true): number[] {
  return [bootable ? 0x88 : 0, media, ...le16(0), 0, 0, ...le16(count), ...le32(lba), ...Array(20).fill(0)];
}

/** A FAT boot sector saying it has `total` sectors of 512 bytes. */
function fatBootSector(total: number): number[] {
  const sector = Array(512).fill(0);
  sector.splice(0, 3, 0xeb, 0x3c, 0x90);
  sector.splice(11, 2, ...le16(512));
  sector[13] = 4;
  sector.splice(32, 4, ...le32(total));
  sector[510] = 0x55;
  sector[511] = 0xaa;
  return sector;
}

function image(catalog: number[], blocks: Record<number, number[]> = {}, sectors = 80): Uint8Array {
  const bytes = new Uint8Array(sectors * SECTOR);
  bytes.set(catalog, CATALOG * SECTOR);
  for (const [block, data] of Object.entries(blocks)) bytes.set(data, Number(block) * SECTOR);
  return bytes;
}

describe('El Torito boot catalog', () => {
  test('initial entry, a UEFI section with an extension entry, and the UEFI size from its FAT boot sector', async () => {
    const catalog = [
      ...validationEntry(0, 'Bootkey'),
      ...bootEntry(0, 4, 40),
      0x91, 0xef, ...le16(1), ...ascii('UEFI section'.padEnd(28, '\0')),
      ...bootEntry(0x20, 1, 50), // bit 5: an extension entry follows
      0x44, 0, ...Array(30).fill(0),
    ];
    const source = new MemoryByteSource(image(catalog, { 40: [0xfa, 0xeb], 50: fatBootSector(48) }));
    const result = await readBootCatalog(source, [bootRecord()]);
    assert.ok(result);
    assert.equal(result.id, 'Bootkey');
    assert.deepEqual(result.entries.map((e) => [e.number, e.platform, e.emulation, e.sectorCount, e.lba, e.size, e.sizeFrom, e.sectionId]), [
      [1, 0, 'none', 4, 40, 2048, 'catalog', ''],
      [2, 0xef, 'none', 1, 50, 48 * 512, 'fat', 'UEFI section'],
    ]);
    const uefi = result.entries[1];
    assert.ok(uefi);
    const slice = bootImageSource(source, uefi);
    assert.equal(slice.size, 48 * 512);
    assert.deepEqual([...(await slice.read(510, 2))], [0x55, 0xaa]);
    assert.equal(uefi.beyondEnd, false);
  });

  test('floppy emulation sizes; an image past the end is flagged, not read', async () => {
    const catalog = [...validationEntry(0, ''), ...bootEntry(2, 1, 70)];
    const result = await readBootCatalog(new MemoryByteSource(image(catalog)), [bootRecord()]);
    assert.deepEqual(result?.entries.map((e) => [e.emulation, e.size, e.beyondEnd]), [['fd1.4', 1_474_560, true]]);
  });

  test('a wrong validation checksum or missing 55 AA is a ParseError at the catalog', async () => {
    const broken = validationEntry(0, 'x');
    broken[28] = (broken[28] ?? 0) ^ 1;
    await assert.rejects(readBootCatalog(new MemoryByteSource(image([...broken, ...bootEntry(0, 4, 40)])), [bootRecord()]),
      (error: unknown) => error instanceof ParseError && /checksum/.test(error.message) && error.offset === CATALOG * SECTOR + 28);
    const noKey = validationEntry(0, 'x');
    noKey[31] = 0;
    await assert.rejects(readBootCatalog(new MemoryByteSource(image([...noKey])), [bootRecord()]), ParseError);
  });

  test('a catalog pointer past the end of the image is a ParseError; no boot record means no catalog', async () => {
    await assert.rejects(readBootCatalog(new MemoryByteSource(image([])), [bootRecord(1_000_000)]), ParseError);
    assert.equal(await readBootCatalog(new MemoryByteSource(image([])), []), undefined);
  });

  test('sections that never end stop at the catalog size limit', async () => {
    const endless = [...validationEntry(0, ''), ...bootEntry(0, 4, 40)];
    const bytes = image(endless, {}, 80);
    // every following entry a non-final section header with no entries
    for (let at = CATALOG * SECTOR + 64; at < 79 * SECTOR; at += 32) bytes.set([0x90, 0, 0, 0], at);
    await assert.rejects(readBootCatalog(new MemoryByteSource(bytes), [bootRecord()]), /longer than/);
  });

  test('the path of a boot image is the file whose data starts at its LBA', async () => {
    const tree = memoryTree({ '/a.txt': 'x'.repeat(SECTOR), '/boot/efi.img': 'y' });
    const entry = { offset: SECTOR } as Parameters<typeof bootImagePath>[1];
    assert.equal(await bootImagePath(tree, entry), '/boot/efi.img');
    assert.equal(await bootImagePath(tree, { ...entry, offset: 7 * SECTOR }), undefined);
  });
});
