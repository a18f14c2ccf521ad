import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync, openSync, readSync, closeSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { fixture, MEMTEST_USB } from '../fixtures/index.js';
import { bootkeyInProcess as bootkey } from '../harness/cli-in-process.js';
import { tierSuite } from '../harness/tier.js';
import { snapshotDirectory, withTempDir } from '../harness/tree-snapshot.js';

const root = join(import.meta.dirname, '..', '..');

const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

function blkid(file: string, offset = 0): Record<string, string> {
  const args = ['-o', 'export', '-p', ...(offset ? ['-O', String(offset)] : []), file];
  const text = execFileSync('blkid', args, { encoding: 'utf8' });
  return Object.fromEntries(text.trim().split('\n').map((l) => l.split('=', 2) as [string, string]));
}

tierSuite('tools', 'bootkey inspect / ls / extract on real images', () => {
  test('inspect --json of memtest86+x64.iso: BIOS + UEFI, the El Torito UEFI image without a path, memtest by its loader', async () => {
    const iso = await fixture('memtest-iso');
    const { code, stdout } = await bootkey('inspect', iso, '--json');
    assert.equal(code, 0);
    const r = JSON.parse(stdout);
    const id = blkid(iso);
    assert.equal(r.format, 'iso9660');
    assert.equal(r.label, id.LABEL);
    assert.equal(r.uuid, id.UUID);
    assert.deepEqual(r.boot, { bios: true, uefi: true });
    assert.equal(r.family, 'memtest');
    const report = execFileSync('xorriso', ['-indev', iso, '-report_el_torito', 'plain'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    const platforms = [...report.matchAll(/^El Torito boot img :\s+\d+\s+(\S+)/gm)].map((m) => (m[1] === 'UEFI' ? 'uefi' : 'bios'));
    assert.deepEqual(r.elTorito.map((e: { platform: string }) => e.platform), platforms);
    assert.ok(r.warnings.includes('UEFI boot image has no path in the ISO tree'));
    assert.ok(r.efiLoaders.some((l: { where: string; arch: string; path: string }) => l.where === 'el-torito' && l.arch === 'x64' && /bootx64\.efi$/i.test(l.path)));
  });

  test('inspect --json of the installer ISO: debian-installer family, its loopback.cfg passes iso_path, label as blkid', async () => {
    const iso = await fixture('installer-iso');
    const r = JSON.parse((await bootkey('inspect', iso, '--json')).stdout);
    assert.equal(r.label, blkid(iso).LABEL);
    assert.equal(r.family, 'debian-installer');
    assert.deepEqual(r.loopbackCfg, { path: '/boot/grub/loopback.cfg', passesIsoPath: true });
    assert.deepEqual(r.boot, { bios: true, uefi: true });
    assert.equal(r.implantedMd5, false);
  });

  test('inspect --json of a GPT disk image: partitions as sfdisk lists them, the ESP label and UUID as blkid, UEFI', async () => {
    const img = await fixture('memtest-usb-img');
    const r = JSON.parse((await bootkey('inspect', img, '--json')).stdout);
    const sfdisk = JSON.parse(execFileSync('sfdisk', ['--json', img], { encoding: 'utf8' })).partitiontable;
    assert.equal(r.format, 'gpt');
    assert.deepEqual(r.partitions.map((p: { start: number; size: number; type: string }) => [p.start / 512, p.size / 512, p.type]),
      sfdisk.partitions.map((p: { start: number; size: number; type: string }) => [p.start, p.size, p.type]));
    const esp = blkid(img, MEMTEST_USB.espOffset);
    assert.deepEqual(r.partitions[0].filesystem, { type: 'fat', label: esp.LABEL, uuid: esp.UUID });
    assert.equal(r.boot.uefi, true);
    assert.deepEqual(r.efiLoaders, [{ path: '/EFI/BOOT/BOOTX64.EFI', arch: 'x64', where: 'partition', index: 1 }]);
  });

  test('EFI/BOOT/BOOTX64.EFI from the ESP of the GPT image and from the El Torito image of the ISO: the bytes mtools reads', async () => {
    const img = await fixture('memtest-usb-img');
    const iso = await fixture('memtest-iso');
    await withTempDir(async (dir) => {
      assert.equal((await bootkey('extract', img, '/EFI/BOOT/BOOTX64.EFI', join(dir, 'from-gpt.efi'), '--partition', '1')).code, 0);
      execFileSync('mcopy', ['-i', `${img}@@${MEMTEST_USB.espOffset}`, '::/EFI/BOOT/BOOTX64.EFI', join(dir, 'mtools-gpt.efi')]);
      assert.equal(sha256(readFileSync(join(dir, 'from-gpt.efi'))), sha256(readFileSync(join(dir, 'mtools-gpt.efi'))));

      const catalog = JSON.parse((await bootkey('inspect', iso, '--json')).stdout).elTorito as { number: number; platform: string; lba: number; size: number }[];
      const uefi = catalog.find((e) => e.platform === 'uefi');
      assert.ok(uefi);
      assert.equal((await bootkey('extract', iso, '/EFI/BOOT/BOOTX64.EFI', join(dir, 'from-iso.efi'), '--el-torito', String(uefi.number))).code, 0);
      // mtools reads the same FAT image, cut out of the ISO by hand as seed 002 does with dd skip=
      const image = Buffer.alloc(uefi.size);
      const fd = openSync(iso, 'r');
      readSync(fd, image, 0, uefi.size, uefi.lba * 2048);
      closeSync(fd);
      writeFileSync(join(dir, 'efi.img'), image);
      execFileSync('mcopy', ['-i', join(dir, 'efi.img'), '::/EFI/BOOT/BOOTX64.EFI', join(dir, 'mtools-iso.efi')]);
      assert.equal(sha256(readFileSync(join(dir, 'from-iso.efi'))), sha256(readFileSync(join(dir, 'mtools-iso.efi'))));
    });
  });

  test('extract / of a Rock Ridge ISO equals xorriso -osirrox extraction: names, contents, modes, symlinks', async () => {
    const iso = await fixture('rockridge-iso');
    await withTempDir(async (dir) => {
      const ours = join(dir, 'ours');
      const theirs = join(dir, 'xorriso');
      const run = await bootkey('extract', iso, '/', ours);
      assert.equal(run.code, 0, run.stderr);
      execFileSync('xorriso', ['-osirrox', 'on', '-indev', iso, '-extract', '/', theirs], { stdio: 'ignore' });
      const expected = await snapshotDirectory(theirs, true);
      // Bootkey drops setuid, setgid and sticky bits: an image must not hand out privileges.
      for (const entry of Object.values(expected)) if (entry.mode !== undefined) entry.mode &= 0o777;
      assert.deepEqual(await snapshotDirectory(ours, true), expected);
    });
  });

  test('ls --json lists what xorriso lists in the root, and refuses to extract over an existing file', async () => {
    const iso = await fixture('joliet-iso');
    const { stdout } = await bootkey('ls', iso, '/', '--json');
    const ours = (JSON.parse(stdout).entries as { name: string }[]).map((e) => e.name).sort();
    const theirs = execFileSync('xorriso', ['-indev', iso, '-rockridge', 'off', '-lsl', '/'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })
      .split('\n').filter((l) => /^[d-]/.test(l)).map((l) => JSON.parse(`"${l.slice(l.indexOf("'") + 1, l.lastIndexOf("'")).replace(/"/g, '\\"')}"`) as string).sort();
    assert.deepEqual(ours, theirs);
    await withTempDir(async (dir) => {
      const first = ours.find((n) => !n.includes('/')) ?? '';
      writeFileSync(join(dir, first), 'mine');
      const again = await bootkey('extract', iso, `/${first}`, dir);
      assert.equal(again.code, 2);
      assert.match(again.stderr, /already exists/);
      assert.equal(readFileSync(join(dir, first), 'utf8'), 'mine');
    });
  });

  test('a partitioned image without --partition says which partitions there are', async () => {
    const run = await bootkey('ls', await fixture('memtest-usb-img'));
    assert.equal(run.code, 2);
    assert.match(run.stderr, /--partition N \(partitions: 1 EFI System, 2 /);
  });
});

test('bad input: one line with the file and the offset, a JSON error object, no stack trace, exit 2', async () => {
  await withTempDir(async (dir) => {
    const iso = join(dir, 'truncated.iso');
    const pvd = Buffer.alloc(17 * 2048);
    pvd.write('\x01CD001\x01', 16 * 2048, 'latin1');
    writeFileSync(iso, pvd);
    const cli = spawnSync(process.execPath, ['--import', 'tsx', join(root, 'main/cli/bootkey.ts'), 'inspect', iso], { encoding: 'utf8', cwd: root });
    assert.equal(cli.status, 2);
    assert.match(cli.stderr, new RegExp(`^bootkey: ${iso.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: .+ \\(offset \\d+\\).*\\n$`));
    assert.doesNotMatch(cli.stderr, /\n\s+at /);
    const json = await bootkey('inspect', iso, '--json');
    assert.equal(json.code, 2);
    assert.equal(JSON.parse(json.stdout).error.code, 'MALFORMED_IMAGE');
    const missing = await bootkey('inspect', join(dir, 'nope.iso'), '--json');
    assert.equal(JSON.parse(missing.stdout).error.code, 'NOT_FOUND');
    const usage = await bootkey('ls', iso, '--partition', 'x');
    assert.equal(usage.code, 2);
    assert.match(usage.stderr, /--partition takes a whole number/);
  });
});
