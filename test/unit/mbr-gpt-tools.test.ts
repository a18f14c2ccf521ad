// readPartitionTable against sfdisk --json (and fdisk -b 4096 for 4Kn disks), computed at run time on images
// made with sfdisk/fdisk/xorriso/grub-mkrescue and on the shared fixtures, plus damaged copies of them.
import assert from 'node:assert/strict';
import { mkdtemp, open, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { FileByteSource } from '../../main/adapters/fs/file-byte-source.js';
import { ParseError } from '../../main/core/errors.js';
import { crc32 } from '../../main/core/partitions/crc32.js';
import type { PartitionTable } from '../../main/core/partitions/partition.js';
import { readPartitionTable } from '../../main/core/partitions/partition-table.js';
import { run } from '../fixtures/command.js';
import { partitionedDisk, sparseFile } from '../fixtures/disk-image.js';
import { fixture, type FixtureName } from '../fixtures/index.js';
import { tierSuite } from '../harness/tier.js';
import { MemoryByteSource } from '../harness/memory-byte-source.js';

const MiB = 1 << 20;

interface SfdiskPartition {
  node: string;
  start: number;
  size: number;
  type: string;
  uuid?: string;
  name?: string;
  attrs?: string;
  bootable?: boolean;
}

interface SfdiskTable {
  label: 'dos' | 'gpt';
  id: string;
  sectorsize: number;
  partitions?: SfdiskPartition[];
}

async function sfdisk(path: string): Promise<SfdiskTable> {
  return (JSON.parse(await run('sfdisk', ['--json', path])) as { partitiontable: SfdiskTable }).partitiontable;
}

/** GPT attribute bits in libfdisk's words (`sfdisk --json` "attrs"). */
function sfdiskAttributes(hex: string): string | undefined {
  const bits = BigInt(`0x${hex}`);
  const words: string[] = [];
  const known: [number, string][] = [[0, 'RequiredPartition'], [1, 'NoBlockIOProtocol'], [2, 'LegacyBIOSBootable']];
  for (const [bit, word] of known) if ((bits >> BigInt(bit)) & 1n) words.push(word);
  const guidBits = Array.from({ length: 16 }, (_, i) => 48 + i).filter((bit) => (bits >> BigInt(bit)) & 1n);
  if (guidBits.length) words.push(`GUID:${guidBits.join(',')}`);
  return words.length ? words.join(' ') : undefined;
}

/** Our table in the shape `sfdisk --json` prints for `device`. */
function asSfdisk(table: PartitionTable, device: string): SfdiskTable {
  const sectors = (bytes: number) => bytes / table.sectorSize;
  const partitions = table.partitions.map((p): SfdiskPartition => {
    const out: SfdiskPartition = { node: `${device}${p.number}`, start: sectors(p.start), size: sectors(p.size), type: p.type };
    if (table.scheme === 'mbr') {
      out.type = p.type.replace(/^0/, '');
      if (p.flags.includes('bootable')) out.bootable = true;
      return out;
    }
    out.uuid = p.uuid;
    if (p.name) out.name = p.name;
    const attrs = sfdiskAttributes(p.attributes!);
    if (attrs) out.attrs = attrs;
    return out;
  });
  return { label: table.scheme === 'gpt' ? 'gpt' : 'dos', id: table.diskId!, sectorsize: table.sectorSize, partitions };
}

function sfdiskShape(theirs: SfdiskTable): SfdiskTable {
  const { label, id, sectorsize } = theirs;
  return { label, id, sectorsize, partitions: theirs.partitions ?? [] };
}

async function ourTable(path: string): Promise<PartitionTable> {
  const source = await FileByteSource.open(path);
  try {
    return await readPartitionTable(source);
  } finally {
    await source.close();
  }
}

async function assertSameAsSfdisk(path: string): Promise<PartitionTable> {
  const ours = await ourTable(path);
  assert.deepEqual(asSfdisk(ours, path), sfdiskShape(await sfdisk(path)));
  return ours;
}

/** Overwrites bytes of a file in place. */
async function patch(path: string, offset: number, bytes: Uint8Array): Promise<void> {
  const handle = await open(path, 'r+');
  try {
    await handle.write(bytes, 0, bytes.length, offset);
  } finally {
    await handle.close();
  }
}

tierSuite('tools', 'partition tables agree with sfdisk and fdisk', () => {
  let dir = '';
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'bootkey-pt-'));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  test('MBR: primary, extended and logical partitions, a bootable flag and an empty slot', async () => {
    const path = join(dir, 'mbr.img');
    await partitionedDisk(path, 64 * MiB, [
      'label: dos',
      'label-id: 0x5eed1234',
      `${path}1 : start=2048, size=8M, type=c, bootable`,
      `${path}3 : size=30M, type=5`,
      `${path}4 : size=4M, type=83`,
      `${path}5 : size=6M, type=83`,
      `${path}6 : size=4M, type=ef`,
      `${path}7 : size=2M, type=7`,
      '',
    ].join('\n'));
    const ours = await assertSameAsSfdisk(path);
    assert.deepEqual(ours.partitions.map((p) => p.number), [1, 3, 4, 5, 6, 7]);
  });

  test('GPT: names (non-ASCII too), attributes, an empty entry and a type without a name of ours', async () => {
    const path = join(dir, 'gpt.img');
    await partitionedDisk(path, 64 * MiB, [
      'label: gpt',
      `${path}1 : size=8M, type=U, name="EFI system partition"`,
      `${path}2 : size=1M, type=21686148-6449-6E6F-744E-656564454649, attrs="LegacyBIOSBootable"`,
      `${path}4 : size=8M, type=L, name="données ☃", attrs="RequiredPartition NoBlockIOProtocol GUID:60"`,
      `${path}5 : size=4M, type=6A898CC3-1DD2-11B2-99A6-080020736631`,
      '',
    ].join('\n'));
    const ours = await assertSameAsSfdisk(path);
    assert.deepEqual(ours.partitions.map((p) => p.typeName), ['EFI System', 'BIOS boot', 'Linux filesystem', 'unknown']);
    assert.deepEqual(ours.warnings, []);
  });

  test('GPT on 4096-byte sectors: found at byte 4096 and equal to fdisk -b 4096', async () => {
    const path = join(dir, 'gpt-4k.img');
    await sparseFile(path, 64 * MiB);
    // fdisk's dialogue: new GPT, partition 1 of 8 MiB typed ESP, partition 2 the rest, write.
    await run('fdisk', ['-b', '4096', path], { input: 'g\nn\n\n\n+8M\nt\n1\nn\n\n\n\nw\n' });
    const listing = await run('fdisk', ['-b', '4096', '-l', '-o', 'Device,Start,Sectors,Type-UUID,UUID', path]);
    const diskId = /Disk identifier: (\S+)/.exec(listing)![1];
    const rows = listing.split('\n').filter((line) => line.startsWith(path)).map((line) => line.trim().split(/\s+/));
    const ours = await ourTable(path);
    assert.equal(ours.sectorSize, 4096);
    assert.equal(ours.diskId, diskId);
    assert.deepEqual(
      ours.partitions.map((p) => [`${path}${p.number}`, String(p.start / 4096), String(p.size / 4096), p.type, p.uuid]),
      rows,
    );
    assert.equal(rows.length, 2);
  });

  test('xorriso hybrid: an MBR partition over the ISO plus an appended EFI partition, no GPT', async () => {
    const { iso } = await hybridIsos(dir);
    const ours = await assertSameAsSfdisk(iso);
    assert.equal(ours.scheme, 'mbr');
    assert.deepEqual(ours.partitions.map((p) => p.type), ['cd', 'ef']);
  });

  test('xorriso with the appended partition as GPT: protective MBR and GPT equal sfdisk', async () => {
    const { gptIso } = await hybridIsos(dir);
    const ours = await assertSameAsSfdisk(gptIso);
    assert.equal(ours.scheme, 'gpt');
    assert.equal(ours.hybridMbr, undefined);
  });

  for (const name of ['installer-iso', 'memtest-iso', 'bios-only-iso', 'memtest-usb-img', 'user-key'] satisfies FixtureName[]) {
    test(`fixture ${name} equals sfdisk --json`, async () => {
      await assertSameAsSfdisk(await fixture(name));
    });
  }

  test('hybrid MBR beside a GPT (0xEE plus other entries): GPT wins, the MBR entries are reported', async () => {
    const path = join(dir, 'hybrid.img');
    await partitionedDisk(path, 16 * MiB, 'label: gpt\nsize=4M, type=U\nsize=4M, type=L\n');
    // Turn the protective MBR into a hybrid one: slot 2 becomes a 0xEF partition over GPT partition 1.
    const entry = new Uint8Array(16);
    const view = new DataView(entry.buffer);
    entry[0] = 0x80;
    entry[4] = 0xef;
    view.setUint32(8, 2048, true);
    view.setUint32(12, 8192, true);
    await patch(path, 446 + 16, entry);
    const ours = await assertSameAsSfdisk(path);
    assert.deepEqual(ours.hybridMbr?.map((p) => [p.number, p.type, p.start, p.flags]), [[2, 'ef', 2048 * 512, ['bootable']]]);
  });

  test('GPT with a damaged primary header: the backup is used, with a warning, as sfdisk does', async () => {
    const path = join(dir, 'gpt-bad-primary.img');
    await partitionedDisk(path, 16 * MiB, 'label: gpt\nsize=4M, type=U, name="esp"\nsize=4M, type=L\n');
    const intact = await sfdisk(path);
    await patch(path, 512 + 60, new Uint8Array([0xff, 0xff])); // inside the disk GUID: the header CRC no longer matches
    const ours = await ourTable(path);
    assert.deepEqual(asSfdisk(ours, path), sfdiskShape(intact));
    assert.match(ours.warnings.join('\n'), /primary GPT header is damaged \(.*bad header CRC32\); using the backup/);
  });

  test('GPT whose entry count × size is absurd (header CRC resealed): refused, backup used', async () => {
    const path = join(dir, 'gpt-huge-count.img');
    await partitionedDisk(path, 16 * MiB, 'label: gpt\nsize=4M, type=U\n');
    const intact = await sfdisk(path);
    const header = (await readFile(path)).subarray(512, 512 + 92);
    const view = new DataView(header.buffer, header.byteOffset, 92);
    view.setUint32(80, 0xffffffff, true);
    view.setUint32(16, 0, true);
    view.setUint32(16, crc32(header), true);
    await patch(path, 512, header);
    const ours = await ourTable(path);
    assert.deepEqual(asSfdisk(ours, path), sfdiskShape(intact));
    assert.match(ours.warnings.join('\n'), /impossible entry array \(4294967295 × 128 bytes\)/);
  });

  test('GPT with a bad entry array CRC in both copies: a ParseError at the primary header, never a throw of anything else', async () => {
    const path = join(dir, 'gpt-both-bad.img');
    await partitionedDisk(path, 16 * MiB, 'label: gpt\nsize=4M, type=U\n');
    const image = await readFile(path);
    for (const at of [1024 + 40, image.length - 33 * 512 + 40]) image[at] = image[at]! ^ 0xff; // both entry arrays
    const source = new MemoryByteSource(image);
    await assert.rejects(readPartitionTable(source), (error: unknown) => {
      assert.ok(error instanceof ParseError);
      assert.equal(error.offset, 512);
      assert.match(error.message, /primary header has a bad partition entry array CRC32; backup header has a bad partition entry array CRC32/);
      return true;
    });
    // sfdisk agrees that no GPT is left: it falls back to showing the protective MBR's single 0xEE entry.
    await writeFile(path, image);
    const theirs = await sfdisk(path);
    assert.equal(theirs.label, 'dos');
    assert.deepEqual(theirs.partitions?.map((p) => p.type), ['ee']);
  });
});

let hybrids: Promise<{ iso: string; gptIso: string }> | undefined;

/** Two xorriso hybrids of one small tree with an appended FAT EFI image: as MBR partitions, and as GPT. */
function hybridIsos(dir: string): Promise<{ iso: string; gptIso: string }> {
  hybrids ??= (async () => {
    const efi = join(dir, 'efi.img');
    await run('mkfs.fat', ['-C', efi, '2880']);
    await run('mmd', ['-i', efi, '::EFI', '::EFI/BOOT']);
    const tree = join(dir, 'tree');
    await run('mkdir', ['-p', join(tree, 'boot')]);
    await writeFile(join(tree, 'boot', 'hello.txt'), 'hello\n');
    const common = ['-as', 'mkisofs', '-V', 'HYBRID', '-append_partition', '2', '0xef', efi,
      '-e', '--interval:appended_partition_2:all::', '-no-emul-boot'];
    const iso = join(dir, 'hybrid-mbr.iso');
    const gptIso = join(dir, 'hybrid-gpt.iso');
    await run('xorriso', [...common, '-partition_offset', '16', '-o', iso, tree]);
    await run('xorriso', [...common, '-appended_part_as_gpt', '-o', gptIso, tree]);
    return { iso, gptIso };
  })();
  return hybrids;
}
