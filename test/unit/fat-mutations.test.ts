// Hostile input: seeded random mutations of a small GPT disk holding a populated FAT12 ESP (made with sfdisk,
// mkfs.fat and mtools). Every case must end in a result or a BootkeyError/ParseError, quickly, never another
// exception and never a hang.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import type { ByteSource } from '../../main/ports/byte-source.js';
import { sliceByteSource } from '../../main/core/byte-source-reads.js';
import { BootkeyError } from '../../main/core/errors.js';
import { FatFileSystem } from '../../main/core/fat/fat-filesystem.js';
import { walkTree } from '../../main/core/filesystem-tree.js';
import { readPartitionTable } from '../../main/core/partitions/partition-table.js';
import { run } from '../fixtures/command.js';
import { makeFat, partitionedDisk, splice } from '../fixtures/disk-image.js';
import { MemoryByteSource } from '../harness/memory-byte-source.js';
import { cpuMs, random } from '../harness/mutations.js';
import { tierSuite } from '../harness/tier.js';

const CASES = 3000;
const ESP_START = 34 * 512;
const ESP_BYTES = 2 * 1024 * 1024;

async function buildDisk(dir: string): Promise<Uint8Array> {
  const esp = join(dir, 'esp.img');
  await makeFat(esp, { bytes: ESP_BYTES, fatBits: 12, label: 'FUZZ', serial: '0000F0EE', sectorsPerCluster: 1 });
  await run('mmd', ['-i', esp, '::EFI', '::EFI/BOOT', '::deep', '::deep/er']);
  const file = join(dir, 'data');
  for (const [i, name] of ['EFI/BOOT/BOOTX64.EFI', 'deep/er/a long name.txt', 'deep/Ünïcödé.txt', 'x'].entries()) {
    await writeFile(file, randomBytes(1000 + i * 3000));
    await run('mcopy', ['-i', esp, file, `::${name}`]);
  }
  const disk = join(dir, 'disk.img');
  await partitionedDisk(disk, ESP_START + ESP_BYTES + 34 * 512, `label: gpt\nfirst-lba: 34\nstart=34, size=${ESP_BYTES / 512}, type=U\n`);
  await splice(disk, esp, ESP_START);
  return new Uint8Array(await readFile(disk));
}

/** Everything a user of the readers would do with an image: table, FAT, walk, read every file. */
async function exercise(source: ByteSource): Promise<void> {
  const table = await readPartitionTable(source);
  const partition = table.partitions[0];
  const fat = await FatFileSystem.open(partition ? sliceByteSource(source, partition.start, partition.size) : source);
  for await (const entry of walkTree(fat)) if (entry.kind === 'file') await fat.readFile(entry.path, 1 << 20);
  await fat.freeBytes();
}

tierSuite('tools', 'FAT and partition readers under random damage', () => {
  test(`${CASES} mutated GPT + FAT12 disks end in a result or a typed error`, { timeout: 300_000 }, async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'bootkey-fat-fuzz-'));
    try {
      const pristine = await buildDisk(dir);
      await exercise(new MemoryByteSource(pristine));
      assert.equal((await readPartitionTable(new MemoryByteSource(pristine))).partitions.length, 1);
      // Where the structures are: MBR + primary GPT, the FAT boot sector/FATs/root/first directory clusters, backup GPT.
      const hot: [number, number][] = [[0, 34 * 512], [ESP_START, 24 * 1024], [pristine.length - 33 * 512, 33 * 512]];
      let typed = 0;
      for (let n = 0; n < CASES; n++) {
        const next = random(n + 1);
        const bytes = pristine.slice();
        const flips = 1 + Math.floor(next() * 8);
        for (let i = 0; i < flips; i++) {
          const [start, length] = hot[Math.floor(next() * hot.length)]!;
          const at = start + Math.floor(next() * length);
          // Mostly single bit flips; sometimes a whole byte set to an extreme (0, 0xFF) to reach limits.
          const choice = next();
          bytes[at] = choice < 0.7 ? bytes[at]! ^ (1 << Math.floor(next() * 8)) : choice < 0.85 ? 0 : 0xff;
        }
        const image = next() < 0.1 ? bytes.subarray(0, Math.floor(next() * bytes.length)) : bytes;
        const started = cpuMs();
        try {
          await exercise(new MemoryByteSource(image));
        } catch (error) {
          if (!(error instanceof BootkeyError)) assert.fail(`case ${n}: ${error instanceof Error ? error.stack : String(error)}`);
          typed += 1;
        }
        const took = cpuMs() - started;
        assert.ok(took < 1000, `case ${n} took ${took.toFixed(0)} ms of CPU`);
      }
      t.diagnostic(`${typed} of ${CASES} cases ended in a typed error, the rest in a result`);
      assert.ok(typed > 0 && typed < CASES);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
