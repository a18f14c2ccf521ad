// The copy-efi planner on in-memory images: which files make a FAT key boot an image under UEFI, which
// configuration lines are rewritten to the key's UUID, and what the target check refuses.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { planCopy, type TargetState } from '../../main/core/copy-efi/copy-plan.js';
import { selectEfiFiles, type EfiFile } from '../../main/core/copy-efi/efi-files.js';
import { grubReferences, rewriteMediumReferences } from '../../main/core/copy-efi/grub-references.js';
import { BootkeyError } from '../../main/core/errors.js';
import type { FileSystemTree } from '../../main/core/filesystem-tree.js';
import type { EfiLoader, ImageInspection } from '../../main/core/inspect/inspect-image.js';
import { memoryTree } from '../harness/memory-tree.js';

const KEY_UUID = 'ABCD-1234';

function inspection(loaders: EfiLoader[], extra: Partial<ImageInspection> = {}): ImageInspection {
  return { format: 'iso9660', label: 'MEDIUM', uuid: '2024-05-01-10-00-00-00', size: 1, boot: { bios: true, uefi: loaders.length > 0 },
    efiLoaders: loaders, family: 'unknown', familyEvidence: [], recipe: null, loopbackCfg: null, implantedMd5: null,
    partitionScheme: 'none', partitions: [], elTorito: null, warnings: [], ...extra };
}

const text = (f: EfiFile | undefined) => new TextDecoder().decode(f?.content);

describe('copy-efi: which files', () => {
  test('a signed live ISO: shim, GRUB and config without fbx64, kernel, initrd, LiveOS; labels become the key UUID', async () => {
    const grubCfg = `search --no-floppy --set=root -l 'Fedora-WS-Live-42'
menuentry 'Start' {
  linux /images/pxeboot/vmlinuz root=live:CDLABEL=Fedora-WS-Live-42 rd.live.image quiet
  initrd /images/pxeboot/initrd.img
}
menuentry 'Test' { linux ($root)/images/pxeboot/vmlinuz quiet ; initrd \${extra}/x /missing.img /images/../../up.img }
`;
    const tree = memoryTree({
      '/EFI/BOOT/BOOTX64.EFI': 'shim', '/EFI/BOOT/grubx64.efi': 'grub', '/EFI/BOOT/mmx64.efi': 'mm',
      '/EFI/BOOT/fbx64.efi': 'fallback', '/EFI/BOOT/grub.cfg': grubCfg, '/EFI/BOOT/fonts/unicode.pf2': 'font',
      '/images/pxeboot/vmlinuz': 'kernel', '/images/pxeboot/initrd.img': 'initrd', '/images/eltorito.img': 'bios',
      '/LiveOS/squashfs.img': 'squash', '/README': 'readme',
    });
    const selection = await selectEfiFiles(inspection([{ path: '/EFI/BOOT/BOOTX64.EFI', arch: 'x64', where: 'tree' }]),
      async () => tree, KEY_UUID);
    assert.deepEqual(selection.files.map((f) => f.to).sort(), ['/EFI/BOOT/BOOTX64.EFI', '/EFI/BOOT/fonts/unicode.pf2',
      '/EFI/BOOT/grub.cfg', '/EFI/BOOT/grubx64.efi', '/EFI/BOOT/mmx64.efi', '/LiveOS/squashfs.img',
      '/images/pxeboot/initrd.img', '/images/pxeboot/vmlinuz']);
    const cfg = selection.files.find((f) => f.to === '/EFI/BOOT/grub.cfg');
    assert.match(text(cfg), /^search --no-floppy --fs-uuid --set=root ABCD-1234$/m);
    assert.match(text(cfg), /root=live:UUID=ABCD-1234 rd\.live\.image/);
    assert.doesNotMatch(text(cfg), /Fedora-WS-Live-42/);
    assert.equal(cfg?.size, cfg?.content?.length);
    assert.ok(selection.warnings.some((w) => w.includes('${extra}/x')), selection.warnings.join('\n'));
    assert.ok(selection.warnings.some((w) => w.includes('/missing.img')), selection.warnings.join('\n'));
    assert.ok(selection.warnings.some((w) => w.includes("/images/../../up.img, a path with '..': not followed")), selection.warnings.join('\n'));
  });

  test('grub-mkrescue layout: loader from El Torito, GRUB folder for x86_64-efi only, configfile followed', async () => {
    const iso = memoryTree({
      '/boot/grub/grub.cfg': 'configfile /boot/grub/menu.cfg\n',
      '/boot/grub/menu.cfg': 'menuentry x {\n linux /install.amd/vmlinuz console=ttyS0 ---\n initrd /install.amd/initrd.gz\n}\n',
      '/boot/grub/i386-pc/linux.mod': 'bios', '/boot/grub/x86_64-efi/linux.mod': 'efi', '/boot/grub/fonts/unicode.pf2': 'f',
      '/install.amd/vmlinuz': 'k', '/install.amd/initrd.gz': 'i', '/install.amd/other': 'o', '/.disk/info': 'info', '/efi.img': 'fat',
    });
    const esp = memoryTree({ '/efi/boot/bootx64.efi': 'grub' });
    const parts: FileSystemTree[] = [];
    const selection = await selectEfiFiles(inspection([{ path: '/efi/boot/bootx64.efi', arch: 'x64', where: 'el-torito', index: 2 }]),
      async (part) => {
        const tree = part.elTorito === 2 ? esp : iso;
        parts.push(tree);
        return tree;
      }, KEY_UUID);
    assert.deepEqual(selection.files.map((f) => `${f.part.elTorito ?? '-'} ${f.to}`).sort(), [
      '- /.disk/info', '- /boot/grub/fonts/unicode.pf2', '- /boot/grub/grub.cfg', '- /boot/grub/menu.cfg',
      '- /boot/grub/x86_64-efi/linux.mod', '- /install.amd/initrd.gz', '- /install.amd/vmlinuz', '2 /efi/boot/bootx64.efi']);
    assert.equal(selection.loaderSource, 'El Torito entry 2');
    assert.ok(selection.files.every((f) => f.content === undefined), 'nothing to rewrite');
  });

  test('a disk image: the ESP partition is the source of everything', async () => {
    const esp = memoryTree({ '/EFI/BOOT/BOOTX64.EFI': 'memtest' });
    const selection = await selectEfiFiles(
      inspection([{ path: '/EFI/BOOT/BOOTX64.EFI', arch: 'x64', where: 'partition', index: 1 }], { format: 'gpt' }),
      async (part) => {
        assert.deepEqual(part, { partition: 1 });
        return esp;
      }, KEY_UUID);
    assert.deepEqual(selection.files.map((f) => [f.from, f.to, f.part.partition]), [['/EFI/BOOT/BOOTX64.EFI', '/EFI/BOOT/BOOTX64.EFI', 1]]);
  });

  test('no removable-media loader: NOT_EFI_BOOTABLE before anything is opened', async () => {
    for (const loaders of [[], [{ path: '/EFI/debian/grubx64.efi', arch: 'x64', where: 'tree' } as EfiLoader]]) {
      await assert.rejects(selectEfiFiles(inspection(loaders), async () => assert.fail('opened a part'), KEY_UUID),
        (e: unknown) => e instanceof BootkeyError && e.code === 'NOT_EFI_BOOTABLE');
    }
  });
});

describe('copy-efi: GRUB references', () => {
  test('files, configs and kernel arguments; comments and variables', () => {
    const refs = grubReferences(`# linux /commented
linux16 /k1 a=1 b
linuxefi ($root)/k2 quiet
initrd /i1 "/i 2"
source /x.cfg
chainloader (hd0,gpt1)/EFI/x.efi
initrd $prefix/i3
initrd /boot/../../etc/passwd`);
    assert.deepEqual(refs.files, ['/k1', '/k2', '/i1', '/i 2', '/EFI/x.efi']);
    assert.deepEqual(refs.configs, ['/x.cfg']);
    assert.deepEqual(refs.kernelParams, ['a=1 b', 'quiet', '']);
    assert.deepEqual(refs.unresolved, [{ path: '$prefix/i3', why: 'a path with a variable' },
      { path: '/boot/../../etc/passwd', why: "a path with '..'" }]);
    assert.deepEqual(grubReferences('initrd ($root)/${x}/i').unresolved, [{ path: '/${x}/i', why: 'a path with a variable' }]);
  });

  test('label and medium-UUID searches rewritten; file searches and other UUIDs kept', () => {
    const medium = '2024-05-01-10-00-00-00';
    const { text: out, rewrites } = rewriteMediumReferences(`search.fs_label RHEL-9 root
  search --fs-uuid --set=dev ${medium}
search --fs-uuid --set=dev 1111-2222
search --file --set=root /.disk/info
search --label X
linux /v inst.stage2=hd:LABEL=RHEL-9\\x20BaseOS quiet`, KEY_UUID, medium);
    assert.equal(out, `search --no-floppy --fs-uuid --set=root ${KEY_UUID}
  search --no-floppy --fs-uuid --set=dev ${KEY_UUID}
search --fs-uuid --set=dev 1111-2222
search --file --set=root /.disk/info
search --no-floppy --fs-uuid ${KEY_UUID}
linux /v inst.stage2=hd:UUID=${KEY_UUID} quiet`);
    assert.deepEqual(rewrites.map((r) => r.line), [1, 2, 5, 6]);
  });
});

describe('copy-efi: the plan against the target', () => {
  const file = (to: string, size: number): EfiFile => ({ part: {}, from: to, to, size });
  const state = (extra: Partial<TargetState> = {}): TargetState => ({ fsType: 'vfat', freeBytes: 100 * 1024 * 1024, clusterBytes: 4096,
    existing: new Map(), addedByBootkey: new Set(), replace: false, ...extra });

  test('the user\'s file is a conflict; with --replace it is replaced; our own is overwritten silently', () => {
    const files = [file('/EFI/BOOT/BOOTX64.EFI', 10), file('/boot/grub/grub.cfg', 5), file('/new', 1)];
    const existing = new Map([['/efi/boot/bootx64.efi', 99], ['/boot/grub/grub.cfg', 7]]);
    const added = new Set(['/boot/grub/grub.cfg']);
    const refused = planCopy(files, state({ existing, addedByBootkey: added }));
    assert.deepEqual(refused.problems.map((p) => p.code), ['CONFLICT']);
    assert.deepEqual(refused.conflicts, [{ path: '/EFI/BOOT/BOOTX64.EFI', size: 99 }]);
    const replaced = planCopy(files, state({ existing, addedByBootkey: added, replace: true }));
    assert.deepEqual(replaced.problems, []);
    assert.deepEqual(replaced.files.map((f) => f.action), ['replace-user', 'overwrite-own', 'add']);
  });

  test('space with cluster rounding, FAT32 4 GiB limit, Bootkey\'s own folder', () => {
    const small = planCopy([file('/a', 1), file('/b', 4097)], state({ freeBytes: 1024 * 1024 + 3 * 4096 }));
    assert.equal(small.requiredBytes, 1024 * 1024 + 3 * 4096);
    assert.deepEqual(small.problems, []);
    assert.deepEqual(planCopy([file('/a', 1), file('/b', 4097)], state({ freeBytes: 1024 * 1024 + 3 * 4096 - 1 })).problems.map((p) => p.code),
      ['NOT_ENOUGH_SPACE']);
    const big = [file('/LiveOS/squashfs.img', 4 * 1024 ** 3)];
    assert.ok(planCopy(big, state({ freeBytes: 8 * 1024 ** 3 })).problems.some((p) => p.code === 'FILE_TOO_LARGE'));
    assert.deepEqual(planCopy(big, state({ fsType: 'exfat', freeBytes: 8 * 1024 ** 3 })).problems, []);
    assert.deepEqual(planCopy([file('/.bootkey/manifest.json', 1)], state()).problems.map((p) => p.code), ['INVALID_ARGUMENT']);
  });
});
