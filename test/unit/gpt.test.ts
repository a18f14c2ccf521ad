// GPT on hand-built disks in memory: CRC32, both sector sizes, header checks and the backup fallback.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ParseError } from '../../main/core/errors.js';
import { crc32 } from '../../main/core/partitions/crc32.js';
import { readPartitionTable } from '../../main/core/partitions/partition-table.js';
import { MemoryByteSource } from '../harness/memory-byte-source.js';

const ESP = [0x28, 0x73, 0x2a, 0xc1, 0x1f, 0xf8, 0xd2, 0x11, 0xba, 0x4b, 0x00, 0xa0, 0xc9, 0x3e, 0xc9, 0x3b];

interface Entry {
  first: number;
  last: number;
  name?: string;
  attributes?: bigint;
}

/**
 * A disk of `sectors` sectors with a protective MBR, a primary GPT at LBA 1 and a backup at the last LBA,
 * 128 entries of 128 bytes (the entry array before the backup header, as sfdisk places it).
 */
function gptDisk(sectorSize: number, sectors: number, entries: Entry[]): Uint8Array {
  const disk = new Uint8Array(sectorSize * sectors);
  const view = new DataView(disk.buffer);
  disk[446 + 4] = 0xee;
  view.setUint32(446 + 8, 1, true);
  view.setUint32(446 + 12, Math.min(sectors - 1, 0xffffffff), true);
  view.setUint16(510, 0xaa55, true);
  const array = new Uint8Array(128 * 128);
  const arrayView = new DataView(array.buffer);
  entries.forEach((entry, i) => {
    const at = i * 128;
    array.set(ESP, at);
    array.fill(i + 1, at + 16, at + 32);
    arrayView.setBigUint64(at + 32, BigInt(entry.first), true);
    arrayView.setBigUint64(at + 40, BigInt(entry.last), true);
    arrayView.setBigUint64(at + 48, entry.attributes ?? 0n, true);
    Array.from(entry.name ?? '').forEach((c, k) => arrayView.setUint16(at + 56 + 2 * k, c.charCodeAt(0), true));
  });
  const arraySectors = array.length / sectorSize;
  const last = sectors - 1;
  const writeHeader = (lba: number, alternate: number, entriesLba: number) => {
    const header = new Uint8Array(92);
    const h = new DataView(header.buffer);
    header.set(new TextEncoder().encode('EFI PART'), 0);
    h.setUint32(8, 0x00010000, true);
    h.setUint32(12, 92, true);
    h.setBigUint64(24, BigInt(lba), true);
    h.setBigUint64(32, BigInt(alternate), true);
    h.setBigUint64(40, BigInt(2 + arraySectors), true);
    h.setBigUint64(48, BigInt(last - 1 - arraySectors), true);
    header.fill(0xab, 56, 72);
    h.setBigUint64(72, BigInt(entriesLba), true);
    h.setUint32(80, 128, true);
    h.setUint32(84, 128, true);
    h.setUint32(88, crc32(array), true);
    h.setUint32(16, crc32(header), true);
    disk.set(header, lba * sectorSize);
    disk.set(array, entriesLba * sectorSize);
  };
  writeHeader(1, last, 2);
  writeHeader(last, 1, last - arraySectors);
  return disk;
}

test('CRC-32 has the standard check value', () => {
  assert.equal(crc32(new TextEncoder().encode('123456789')), 0xcbf43926);
  assert.equal(crc32(new Uint8Array()), 0);
});

for (const sectorSize of [512, 4096]) {
  test(`${sectorSize}-byte sectors: found by the header's place, entries in bytes, names and attribute flags`, async () => {
    const disk = gptDisk(sectorSize, 2048, [
      { first: 40, last: 99, name: 'EFI system', attributes: 1n | (1n << 2n) | (1n << 60n) },
      { first: 100, last: 199 },
    ]);
    const table = await readPartitionTable(new MemoryByteSource(disk));
    assert.equal(table.scheme, 'gpt');
    assert.equal(table.sectorSize, sectorSize);
    assert.equal(table.diskId, 'ABABABAB-ABAB-ABAB-ABAB-ABABABABABAB');
    assert.deepEqual(table.partitions.map((p) => [p.number, p.start, p.size, p.typeName, p.name, p.attributes, p.flags, p.uuid]), [
      [1, 40 * sectorSize, 60 * sectorSize, 'EFI System', 'EFI system', '1000000000000005', ['required', 'legacy-bios-bootable'], '01010101-0101-0101-0101-010101010101'],
      [2, 100 * sectorSize, 100 * sectorSize, 'EFI System', '', '0000000000000000', [], '02020202-0202-0202-0202-020202020202'],
    ]);
    assert.deepEqual(table.warnings, []);
  });
}

test('a primary header at the wrong LBA or with an impossible size falls back to the backup, with a warning', async () => {
  for (const [what, at, value, reason] of [
    ['own LBA', 24, 7, /says it is at sector 7/],
    ['header size', 12, 4000, /impossible size 4000/],
    ['entry size', 84, 100, /impossible entry size 100/],
  ] as const) {
    const disk = gptDisk(512, 2048, [{ first: 40, last: 99 }]);
    const header = disk.subarray(512, 512 + 92);
    const view = new DataView(disk.buffer, 512, 92);
    view.setUint32(at, value, true);
    view.setUint32(16, 0, true);
    view.setUint32(16, crc32(header), true);
    const table = await readPartitionTable(new MemoryByteSource(disk));
    assert.deepEqual(table.partitions.map((p) => p.start), [40 * 512], what);
    assert.match(table.warnings[0] ?? '', reason, what);
  }
});

test('a damaged backup is reported while the primary is used', async () => {
  const disk = gptDisk(512, 2048, [{ first: 40, last: 99 }]);
  disk[2047 * 512] = 0; // the backup's signature
  const table = await readPartitionTable(new MemoryByteSource(disk));
  assert.equal(table.partitions.length, 1);
  assert.match(table.warnings.join('\n'), /backup GPT header is damaged/);
});

test('entries that end before they start are skipped; entries past the usable area or the disk are warned about', async () => {
  const disk = gptDisk(512, 2048, [{ first: 99, last: 40 }, { first: 100, last: 5000 }]);
  const table = await readPartitionTable(new MemoryByteSource(disk));
  assert.deepEqual(table.partitions.map((p) => p.number), [2]);
  assert.match(table.warnings.join('\n'), /entry 1 has impossible sectors 99–40/);
  assert.match(table.warnings.join('\n'), /entry 2 lies outside the usable sectors/);
  assert.match(table.warnings.join('\n'), /partition 2 extends past the end of the image/);
});

test('a GPT without a protective MBR is not used (as Linux does), but said', async () => {
  const disk = gptDisk(512, 2048, [{ first: 40, last: 99 }]);
  disk.fill(0, 446, 512);
  const table = await readPartitionTable(new MemoryByteSource(disk));
  assert.equal(table.scheme, 'none');
  assert.match(table.warnings.join('\n'), /GPT header is present but no MBR announces it/);
});

test('a disk cut short of its backup, with the primary damaged: a ParseError, and only small reads', async () => {
  const disk = gptDisk(512, 2048, [{ first: 40, last: 99 }]);
  disk[512 + 30] = 0xff - disk[512 + 30]!;
  const source = new MemoryByteSource(disk.subarray(0, 100 * 512));
  await assert.rejects(readPartitionTable(source), (error: unknown) => error instanceof ParseError && /GPT is damaged/.test(error.message));
  assert.ok(source.bytesRead < 64 * 1024, `${source.bytesRead} bytes read`);
});
