// The multi-ISO key's pure decisions: which ISOs may join (real ISOs, truncated, non-ISO, FAT32 limit), memtest's
// loaders copied out of its El Torito images (checked against the memtest86+ package's own files), where GRUB can
// go on a key as it is, and which host tools build it.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { describe, test } from 'node:test';
import { FileByteSource } from '../../main/adapters/fs/file-byte-source.js';
import { BootkeyError } from '../../main/core/errors.js';
import { chooseGrubTools } from '../../main/core/grub/grub-tools.js';
import { admitIso, checkIsoName } from '../../main/core/multiboot/iso-admission.js';
import { planGrubInstall, type KeyLayoutInput } from '../../main/core/multiboot/key-layout.js';
import { parseSettings, serializeSettings, defaultSettings } from '../../main/core/multiboot/multiboot-settings.js';
import type { ByteSource } from '../../main/ports/byte-source.js';
import { cacheDir, fixture } from '../fixtures/index.js';
import { MemoryByteSource } from '../harness/memory-byte-source.js';
import { tierSuite } from '../harness/tier.js';

const code = (c: string) => (e: unknown) => e instanceof BootkeyError && e.code === c;

/** A source that claims a size it does not have past `real`: a 5 GiB ISO without 5 GiB on disk. */
function sized(source: ByteSource, size: number): ByteSource {
  return { size, read: (o, l) => source.read(o, Math.max(0, Math.min(l, source.size - o))) };
}

describe('multiboot: names, layout, tools, settings', () => {
  test('names on the key', () => {
    for (const ok of ['ubuntu-24.04.iso', 'my file (1).ISO', 'memtest.img', 'ünï ★.iso']) checkIsoName(ok);
    for (const bad of ['a/b.iso', '.hidden.iso', 'x.txt', 'a:b.iso', 'q?.iso', 'nl\n.iso', '', `${'a'.repeat(201)}.iso`]) {
      assert.throws(() => checkIsoName(bad), code('INVALID_ARGUMENT'), bad);
    }
  });

  const mbr = (offset: number, extra: KeyLayoutInput['partitions'] = []): KeyLayoutInput => ({
    partitionTable: 'dos', filesystemDevice: '/dev/sdb1', filesystemType: 'vfat',
    partitions: [{ number: 1, offset, type: '0x0c', idType: 'vfat', device: '/dev/sdb1' }, ...extra],
  });

  test('keep-my-files: BIOS only on MBR with the FAT partition first at ≥ 1 MiB; else UEFI with a warning', () => {
    assert.deepEqual(planGrubInstall(mbr(1 << 20)), { bios: true, uefi: true, partitionNumber: 1, warnings: [] });
    const early = planGrubInstall(mbr(63 * 512));
    assert.equal(early.bios, false);
    assert.match(early.warnings[0] ?? '', /before 1 MiB/);
    const gpt = planGrubInstall({ ...mbr(1 << 20), partitionTable: 'gpt' });
    assert.equal(gpt.bios, false);
    assert.match(gpt.warnings[0] ?? '', /GPT key without a BIOS boot partition: UEFI only/);
    const second = planGrubInstall({ ...mbr(2 << 20), partitions: [
      { number: 2, offset: 1 << 20, type: '0x83', idType: 'ext4', device: '/dev/sdb2' },
      { number: 1, offset: 2 << 20, type: '0x0c', idType: 'vfat', device: '/dev/sdb1' }] });
    assert.equal(second.bios, false);
    const superfloppy = planGrubInstall({ ...mbr(0), partitionTable: undefined, partitions: [], filesystemDevice: '/dev/sdb' });
    assert.equal(superfloppy.bios, false);
    assert.throws(() => planGrubInstall({ ...mbr(1 << 20), filesystemType: 'ntfs' }), code('TARGET_REFUSED'));
  });

  test('GRUB tools: Debian and Fedora names and folders; a missing piece names the package', () => {
    const debian = { osIds: ['debian'], commands: new Set(['grub-mkimage']), folders: new Set(['/usr/lib/grub/x86_64-efi', '/usr/lib/grub/i386-pc']) };
    assert.deepEqual(chooseGrubTools(debian, true), { mkimage: 'grub-mkimage', efiModules: '/usr/lib/grub/x86_64-efi', pcModules: '/usr/lib/grub/i386-pc' });
    const fedora = { osIds: ['fedora'], commands: new Set(['grub2-mkimage']), folders: new Set(['/usr/lib/grub/x86_64-efi']) };
    assert.equal(chooseGrubTools(fedora, false).mkimage, 'grub2-mkimage');
    assert.throws(() => chooseGrubTools(fedora, true), (e) => code('MISSING_TOOL')(e) && /grub2-pc-modules/.test((e as Error).message));
    assert.throws(() => chooseGrubTools({ ...debian, commands: new Set() }, false), (e) => /grub-common/.test((e as Error).message));
    assert.throws(() => chooseGrubTools({ ...debian, folders: new Set() }, false), (e) => /grub-efi-amd64-bin/.test((e as Error).message));
  });

  test('settings round-trip; damage is a typed error', () => {
    const s = { ...defaultSettings(), defaultName: 'a.iso', serial: { unit: 0, speed: 115200 }, isos: { 'a.iso': { title: 'A', extraParams: 'x=1' } }, order: ['b.iso', 'a.iso'] };
    assert.deepEqual(parseSettings(new TextDecoder().decode(serializeSettings(s))), s);
    for (const bad of ['', '{}', '{"version":1,"timeoutSeconds":"5","isos":{}}', '{"version":1,"timeoutSeconds":5,"isos":{"a":{"title":3}}}',
      '{"version":1,"timeoutSeconds":5,"isos":{},"order":"a.iso"}', '{"version":1,"timeoutSeconds":5,"isos":{},"order":[1]}']) {
      assert.throws(() => parseSettings(bad), code('MALFORMED_IMAGE'), bad);
    }
  });

  test('a non-ISO is refused before anything is inspected further', async () => {
    await assert.rejects(admitIso(new MemoryByteSource(new Uint8Array(1 << 20)), 'zeros.iso', 'vfat'), code('UNSUPPORTED_IMAGE'));
  });
});

tierSuite('tools', 'multiboot admission of real ISOs', () => {
  test('the installer ISO joins with no companions; truncated, it is refused with the sizes', async () => {
    const source = await FileByteSource.open(await fixture('installer-iso'));
    try {
      const admitted = await admitIso(source, 'installer.iso', 'vfat');
      assert.equal(admitted.inspection.family, 'debian-installer');
      assert.deepEqual(admitted.companions, []);
      await assert.rejects(admitIso(sized(source, source.size - 4096), 'cut.iso', 'vfat'),
        (e) => code('MALFORMED_IMAGE')(e) && /truncated/.test((e as Error).message));
      await assert.rejects(admitIso(sized(source, 5 * 1024 ** 3), 'big.iso', 'vfat'), code('FILE_TOO_LARGE'));
    } finally {
      await source.close();
    }
  });

  test("memtest's .efi and .bin come out of its El Torito images byte-identical to the package's own files", async () => {
    const iso = await fixture('memtest-iso');
    const pkg = `${cacheDir()}/debian/memtest86+/root/boot`;
    const source = await FileByteSource.open(iso);
    try {
      const { companions } = await admitIso(source, 'memtest86+x64.iso', 'vfat');
      const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
      const efi = companions.find((c) => c.suffix === '.efi');
      const bin = companions.find((c) => c.suffix === '.bin');
      assert.ok(efi && bin, JSON.stringify(companions));
      assert.equal(sha(await source.read(efi.offset, efi.length)), sha(await readFile(`${pkg}/memtest86+x64.efi`)));
      // The floppy image pads the .bin; the header's length rounds it up to 16 bytes, so compare the package's bytes.
      const packaged = await readFile(`${pkg}/memtest86+x64.bin`);
      assert.ok(bin.length >= packaged.length && bin.length - packaged.length < 16);
      assert.equal(sha((await source.read(bin.offset, bin.length)).subarray(0, packaged.length)), sha(packaged));
    } finally {
      await source.close();
    }
  });
});
