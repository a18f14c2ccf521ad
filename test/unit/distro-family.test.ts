import assert from 'node:assert/strict';
import { test } from 'node:test';
import { detectFamily } from '../../main/core/distro/family.js';
import { findLoopbackCfg, kernelLinesUseIsoPath } from '../../main/core/distro/loopback-cfg.js';
import { memoryTree } from '../harness/memory-tree.js';

test('Ubuntu casper: kernel and initrd from /casper, iso-scan parameter', async () => {
  const tree = memoryTree({ '/casper/vmlinuz': 'k', '/casper/initrd': 'i', '/casper/filesystem.squashfs': 's' });
  const found = await detectFamily(tree);
  assert.equal(found.family, 'ubuntu-casper');
  assert.deepEqual(found.recipe, { kernel: '/casper/vmlinuz', initrd: ['/casper/initrd'], params: 'boot=casper iso-scan/filename=${iso_path}' });
});

test('Debian live: versioned kernel and initrd names are found', async () => {
  const tree = memoryTree({ '/live/vmlinuz-6.1.0-18-amd64': 'k', '/live/initrd.img-6.1.0-18-amd64': 'i' });
  const found = await detectFamily(tree);
  assert.equal(found.family, 'debian-live');
  assert.equal(found.recipe?.kernel, '/live/vmlinuz-6.1.0-18-amd64');
  assert.match(found.recipe?.params ?? '', /findiso=\$\{iso_path\}/);
});

test('Fedora live ≤ 41 (LiveOS + images/pxeboot) and ≥ 42 (LiveOS + boot/x86_64/loader)', async () => {
  const old = await detectFamily(memoryTree({ '/LiveOS/squashfs.img': 's', '/images/pxeboot/vmlinuz': 'k', '/images/pxeboot/initrd.img': 'i' }));
  assert.equal(old.family, 'fedora-live');
  assert.equal(old.recipe?.kernel, '/images/pxeboot/vmlinuz');
  const current = await detectFamily(memoryTree({ '/LiveOS/squashfs.img': 's', '/boot/x86_64/loader/linux': 'k', '/boot/x86_64/loader/initrd': 'i' }));
  assert.equal(current.family, 'fedora-live');
  assert.equal(current.recipe?.kernel, '/boot/x86_64/loader/linux');
  assert.match(current.recipe?.params ?? '', /root=live:CDLABEL=\$\{isolabel\} rd\.live\.image/);
});

test('a Fedora installer has pxeboot but no LiveOS', async () => {
  const found = await detectFamily(memoryTree({ '/images/pxeboot/vmlinuz': 'k', '/images/pxeboot/initrd.img': 'i', '/images/install.img': 'x' }));
  assert.equal(found.family, 'fedora-installer');
  assert.match(found.recipe?.params ?? '', /inst\.stage2=hd:LABEL=\$\{isolabel\}/);
});

test('SystemRescue wins over a plain arch layout; Manjaro and Arch by their folders', async () => {
  assert.equal((await detectFamily(memoryTree({ '/sysresccd/boot/x86_64/vmlinuz': 'k', '/arch/x': 'a' }))).family, 'sysrescue');
  assert.equal((await detectFamily(memoryTree({ '/manjaro/x86_64/rootfs.sfs': 'r', '/boot/vmlinuz-x86_64': 'k' }))).family, 'manjaro');
  const arch = await detectFamily(memoryTree({ '/arch/boot/x86_64/vmlinuz-linux': 'k' }));
  assert.equal(arch.family, 'arch');
  assert.match(arch.recipe?.params ?? '', /img_dev=\/dev\/disk\/by-uuid\/\$\{rootuuid\} img_loop=\$\{iso_path\}/);
});

test('Windows by sources/boot.wim, memtest and iPXE by their loaders, else unknown', async () => {
  assert.equal((await detectFamily(memoryTree({ '/sources/boot.wim': 'w' }))).family, 'windows');
  const memtest = await detectFamily(memoryTree({ '/boot/memtest.efi': 'e', '/boot/memtest.bin': 'b' }));
  assert.deepEqual(memtest.recipe, { efiLoader: '/boot/memtest.efi', biosKernel: '/boot/memtest.bin' });
  assert.equal((await detectFamily(memoryTree({ '/ipxe.lkrn': 'l' }))).family, 'ipxe');
  assert.deepEqual(await detectFamily(memoryTree({ '/readme.txt': 'hi', '/sources/': '' })), { family: 'unknown', evidence: [] });
});

test('folder names are matched without regard to case (ISO 9660 names without Rock Ridge are upper case)', async () => {
  const found = await detectFamily(memoryTree({ '/CASPER/VMLINUZ': 'k', '/CASPER/INITRD': 'i' }));
  assert.equal(found.family, 'ubuntu-casper');
  assert.deepEqual(found.evidence, ['/CASPER']);
});

test('loopback.cfg: found, and whether its kernel lines pass iso_path', async () => {
  const passes = 'menuentry x {\n  linux /casper/vmlinuz boot=casper iso-scan/filename=${iso_path} quiet\n}\n';
  const mint = 'menuentry x {\n  linux /casper/vmlinuz boot=casper quiet # iso_path not passed\n  initrd /casper/initrd\n}\n';
  assert.deepEqual(await findLoopbackCfg(memoryTree({ '/boot/grub/loopback.cfg': passes })), { path: '/boot/grub/loopback.cfg', passesIsoPath: true });
  assert.deepEqual(await findLoopbackCfg(memoryTree({ '/boot/grub/loopback.cfg': mint })), { path: '/boot/grub/loopback.cfg', passesIsoPath: false });
  assert.equal(await findLoopbackCfg(memoryTree({ '/boot/grub/grub.cfg': passes })), undefined);
  // A hostile size fails nothing: the ISO is still inspected, its loopback.cfg just not relied on.
  const huge = passes + '#'.repeat(1024 * 1024);
  assert.deepEqual(await findLoopbackCfg(memoryTree({ '/boot/grub/loopback.cfg': huge })), { path: '/boot/grub/loopback.cfg', passesIsoPath: false });
  assert.equal(kernelLinesUseIsoPath('linuxefi /k findiso=$iso_path'), true);
  assert.equal(kernelLinesUseIsoPath('set iso_path=/x.iso\nlinux /k quiet'), false);
});
