// GRUB EFI images read back: the modules, prefix and configuration grub-mkimage was given (the module set
// checked against the closure of moddep.lst), grub-mkrescue's loader from the installer fixture judged unable
// to start from a FAT key, and Bootkey's own GRUB (the multi-ISO builder) judged able to.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { hostGrubBuilder } from '../../main/adapters/grub/host-grub-builder.js';
import { grubCannotReadKey, grubImageInfo } from '../../main/core/copy-efi/grub-image.js';
import { fixture } from '../fixtures/index.js';
import { tierSuite } from '../harness/tier.js';

const MODULES = '/usr/lib/grub/x86_64-efi';

/** The modules grub-mkimage embeds for `wanted`: their closure over moddep.lst (`name: dep dep …`). */
async function closure(wanted: string[]): Promise<Set<string>> {
  const deps = new Map<string, string[]>();
  for (const line of (await readFile(join(MODULES, 'moddep.lst'), 'utf8')).split('\n')) {
    const [name, rest = ''] = line.split(':');
    if (name) deps.set(name.trim(), rest.trim().split(/\s+/).filter(Boolean));
  }
  const out = new Set<string>();
  const visit = (name: string) => {
    if (out.has(name)) return;
    out.add(name);
    for (const dep of deps.get(name) ?? []) visit(dep);
  };
  wanted.forEach(visit);
  return out;
}

async function withDir<T>(work: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), 'bootkey-grub-image-'));
  try {
    return await work(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

tierSuite('tools', 'GRUB EFI image contents', () => {
  test('modules, prefix and embedded configuration as grub-mkimage was told', () => withDir(async (dir) => {
    const wanted = ['fat', 'part_msdos', 'normal', 'linux', 'search_fs_uuid'];
    const config = 'search --no-floppy --fs-uuid --set=root 1234-ABCD\nset prefix=($root)/boot/grub\n';
    await writeFile(join(dir, 'embed.cfg'), config);
    execFileSync('grub-mkimage', ['-O', 'x86_64-efi', '-d', MODULES, '-o', join(dir, 'a.efi'), '-p', '/boot/grub', ...wanted]);
    execFileSync('grub-mkimage', ['-O', 'x86_64-efi', '-d', MODULES, '-o', join(dir, 'b.efi'), '-p', '(hd0,msdos1)/grub',
      '-c', join(dir, 'embed.cfg'), 'iso9660']);
    const a = grubImageInfo(new Uint8Array(await readFile(join(dir, 'a.efi'))));
    assert.ok(a);
    assert.deepEqual(new Set(a.modules), await closure(wanted));
    assert.equal(a.prefix, '/boot/grub');
    assert.equal(a.config, null);
    assert.equal(a.signed, false);
    assert.equal(grubCannotReadKey(a, 'vfat'), false);
    assert.equal(grubCannotReadKey(a, 'exfat'), true, 'no exfat module built in');
    const b = grubImageInfo(new Uint8Array(await readFile(join(dir, 'b.efi'))));
    assert.ok(b);
    assert.deepEqual(new Set(b.modules), await closure(['iso9660']));
    assert.equal(b.prefix, '(hd0,msdos1)/grub');
    assert.equal(b.config, config);
    assert.equal(grubCannotReadKey(b, 'vfat'), false, 'its own configuration finds the root');
    // The same image with a certificate table (data directory 4) counts as signed: never swapped.
    const signed = new Uint8Array(await readFile(join(dir, 'a.efi')));
    const view = new DataView(signed.buffer);
    const optional = view.getUint32(0x3c, true) + 24;
    assert.equal(view.getUint16(optional, true), 0x20b);
    view.setUint32(optional + 112 + 4 * 8 + 4, 0x100, true);
    const info = grubImageInfo(signed);
    assert.equal(info?.signed, true);
    assert.equal(grubCannotReadKey({ ...info!, modules: [] }, 'vfat'), false);
  }));

  test("grub-mkrescue's loader (installer fixture) cannot start from a FAT key; Bootkey's GRUB can", () => withDir(async (dir) => {
    execFileSync('xorriso', ['-osirrox', 'on', '-indev', await fixture('installer-iso'), '-extract_boot_images', `${dir}/`],
      { stdio: 'ignore' });
    const uefi = execFileSync('ls', [dir], { encoding: 'utf8' }).split('\n').find((n) => /^eltorito_img\d+_uefi\.img$/.test(n));
    assert.ok(uefi, 'the fixture has a UEFI El Torito image');
    execFileSync('mcopy', ['-i', join(dir, uefi), '::/EFI/BOOT/BOOTX64.EFI', join(dir, 'mkrescue.efi')]);
    const rescue = grubImageInfo(new Uint8Array(await readFile(join(dir, 'mkrescue.efi'))));
    assert.ok(rescue);
    assert.equal(rescue.prefix, '()/boot/grub', 'the whole boot disk: an ISO on a CD, a partition table on a key');
    assert.ok(rescue.modules.includes('iso9660'));
    assert.equal(grubCannotReadKey(rescue, 'vfat'), true);
    const own = grubImageInfo(await hostGrubBuilder.buildEfiImage(await hostGrubBuilder.tools(false)));
    assert.ok(own);
    assert.equal(own.prefix, '/boot/grub');
    assert.ok(own.modules.includes('fat') && own.modules.includes('exfat'));
    assert.equal(grubCannotReadKey(own, 'vfat'), false);
    assert.equal(grubCannotReadKey(own, 'exfat'), false);
  }));

  test('not GRUB: memtest86+ and garbage give undefined', async () => {
    // The memtest86+ package holds the ISO fixture under usr/lib and its EFI loader under boot.
    const memtest = (await fixture('memtest-iso')).replace(/\/usr\/lib\/memtest86\+\/[^/]+$/, '/boot/memtest86+x64.efi');
    assert.equal((await readFile(memtest)).subarray(0, 2).toString(), 'MZ');
    assert.equal(grubImageInfo(new Uint8Array(await readFile(memtest))), undefined);
    assert.equal(grubImageInfo(new Uint8Array(4096)), undefined);
    assert.equal(grubImageInfo(new Uint8Array([0x4d, 0x5a])), undefined);
  });
});
