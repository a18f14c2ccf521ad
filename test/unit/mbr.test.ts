// MBR and EBR chains on hand-built disks in memory: numbering, flags, and the damage a chain can carry.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { readPartitionTable } from '../../main/core/partitions/partition-table.js';
import { MemoryByteSource } from '../harness/memory-byte-source.js';

const SECTOR = 512;

interface Slot {
  type: number;
  start: number;
  sectors: number;
  boot?: number;
}

/** Writes a table sector (MBR or EBR) with up to four entries at `lba` of `disk`. */
function writeTable(disk: Uint8Array, lba: number, slots: (Slot | undefined)[], signature = 0x1234abcd): void {
  const view = new DataView(disk.buffer, lba * SECTOR, SECTOR);
  if (lba === 0) view.setUint32(440, signature, true);
  slots.forEach((slot, i) => {
    if (!slot) return;
    const at = 446 + i * 16;
    view.setUint8(at, slot.boot ?? 0);
    view.setUint8(at + 4, slot.type);
    view.setUint32(at + 8, slot.start, true);
    view.setUint32(at + 12, slot.sectors, true);
  });
  view.setUint16(510, 0xaa55, true);
}

function disk(sectors = 4096): Uint8Array {
  return new Uint8Array(sectors * SECTOR);
}

test('primary entries keep their slot numbers; type, bootable flag, start and size in bytes', async () => {
  const bytes = disk();
  writeTable(bytes, 0, [{ type: 0x0c, start: 2048, sectors: 1024, boot: 0x80 }, undefined, { type: 0x83, start: 3072, sectors: 1000 }]);
  const table = await readPartitionTable(new MemoryByteSource(bytes));
  assert.equal(table.scheme, 'mbr');
  assert.equal(table.diskId, '0x1234abcd');
  assert.deepEqual(table.partitions.map((p) => [p.number, p.start, p.size, p.type, p.typeName, p.flags]), [
    [1, 2048 * SECTOR, 1024 * SECTOR, '0c', 'W95 FAT32 (LBA)', ['bootable']],
    [3, 3072 * SECTOR, 1000 * SECTOR, '83', 'Linux', []],
  ]);
  assert.deepEqual(table.warnings, []);
});

test('logical partitions follow the EBR chain and are numbered from 5', async () => {
  const bytes = disk();
  writeTable(bytes, 0, [{ type: 0x0c, start: 64, sectors: 64 }, { type: 0x05, start: 1000, sectors: 2000 }]);
  writeTable(bytes, 1000, [{ type: 0x83, start: 10, sectors: 100 }, { type: 0x05, start: 500, sectors: 300 }]);
  writeTable(bytes, 1500, [{ type: 0xef, start: 20, sectors: 200 }]);
  const table = await readPartitionTable(new MemoryByteSource(bytes));
  assert.deepEqual(table.partitions.map((p) => [p.number, p.start / SECTOR, p.size / SECTOR, p.type, p.flags]), [
    [1, 64, 64, '0c', []],
    [2, 1000, 2000, '05', ['extended']],
    [5, 1010, 100, '83', ['logical']],
    [6, 1520, 200, 'ef', ['logical']],
  ]);
});

test('an EBR chain that loops ends with a warning, keeping the partitions before the loop', async () => {
  const bytes = disk();
  writeTable(bytes, 0, [{ type: 0x0f, start: 1000, sectors: 2000 }]);
  writeTable(bytes, 1000, [{ type: 0x83, start: 10, sectors: 100 }, { type: 0x05, start: 500, sectors: 300 }]);
  // The second EBR links back to the first.
  writeTable(bytes, 1500, [{ type: 0x83, start: 10, sectors: 100 }, { type: 0x05, start: 0, sectors: 300 }]);
  const source = new MemoryByteSource(bytes);
  const table = await readPartitionTable(source);
  assert.deepEqual(table.partitions.map((p) => p.number), [1, 5, 6]);
  assert.match(table.warnings.join('\n'), /loops/);
  assert.ok(source.reads < 10, `${source.reads} reads`);
});

test('an EBR link outside the extended partition or past the image ends the chain with a warning', async () => {
  const outside = disk();
  writeTable(outside, 0, [{ type: 0x05, start: 1000, sectors: 1000 }]);
  writeTable(outside, 1000, [{ type: 0x83, start: 10, sectors: 100 }, { type: 0x05, start: 5000, sectors: 300 }]);
  const first = await readPartitionTable(new MemoryByteSource(outside));
  assert.deepEqual(first.partitions.map((p) => p.number), [1, 5]);
  assert.match(first.warnings.join('\n'), /outside its extended partition/);

  const truncated = disk();
  writeTable(truncated, 0, [{ type: 0x05, start: 3000, sectors: 60000 }]);
  const second = await readPartitionTable(new MemoryByteSource(truncated.subarray(0, 2000 * SECTOR)));
  assert.deepEqual(second.partitions.map((p) => p.number), [1]);
  assert.match(second.warnings.join('\n'), /beyond the end of the image/);
  assert.match(second.warnings.join('\n'), /partition 1 extends past the end/);
});

test('an EBR without a signature ends the chain with a warning', async () => {
  const bytes = disk();
  writeTable(bytes, 0, [{ type: 0x85, start: 1000, sectors: 1000 }]);
  const table = await readPartitionTable(new MemoryByteSource(bytes));
  assert.deepEqual(table.partitions.map((p) => p.number), [1]);
  assert.match(table.warnings.join('\n'), /no valid signature/);
});

test('no table: no 55 AA, an impossible boot indicator, no used entry, or a FAT boot sector', async () => {
  const blank = disk(8);
  assert.equal((await readPartitionTable(new MemoryByteSource(blank))).scheme, 'none');

  const badIndicator = disk(8);
  writeTable(badIndicator, 0, [{ type: 0x83, start: 1, sectors: 4, boot: 0x12 }]);
  assert.equal((await readPartitionTable(new MemoryByteSource(badIndicator))).scheme, 'none');

  const empty = disk(8);
  writeTable(empty, 0, []);
  assert.equal((await readPartitionTable(new MemoryByteSource(empty))).scheme, 'none');

  // A whole-disk FAT volume's boot sector also ends in 55 AA; its entries area is boot code, not a table.
  const superfloppy = disk(64);
  writeTable(superfloppy, 0, [{ type: 0x83, start: 1, sectors: 4 }]);
  superfloppy.set([0xeb, 0x3c, 0x90], 0);
  const bpb = new DataView(superfloppy.buffer);
  bpb.setUint16(11, 512, true);
  superfloppy[13] = 1;
  bpb.setUint16(14, 1, true);
  superfloppy[16] = 2;
  bpb.setUint16(17, 16, true);
  bpb.setUint16(19, 64, true);
  superfloppy[21] = 0xf8;
  bpb.setUint16(22, 1, true);
  superfloppy.set(new TextEncoder().encode('FAT12   '), 54);
  assert.equal((await readPartitionTable(new MemoryByteSource(superfloppy))).scheme, 'none');
});

test('a tiny or empty source has no table and causes no error', async () => {
  assert.equal((await readPartitionTable(new MemoryByteSource(new Uint8Array(100)))).scheme, 'none');
  assert.equal((await readPartitionTable(new MemoryByteSource(new Uint8Array(0)))).scheme, 'none');
});
