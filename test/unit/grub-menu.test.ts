import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { generateGrubMenu, menuOrder, type MenuInspection, type MenuIso, type MenuOptions } from '../../main/core/grub/grub-menu.js';
import { grubQuote } from '../../main/core/grub/grub-script-quote.js';
import { inspectImage } from '../../main/core/inspect/inspect-image.js';
import { FileByteSource } from '../../main/adapters/fs/file-byte-source.js';
import { fixture } from '../fixtures/index.js';
import { tierSuite } from '../harness/tier.js';

const run = promisify(execFile);

/**
 * GRUB script words as GRUB's lexer reads them: single quotes literal, double quotes keep `$` and take `\` before
 * `"`, `\`, `$`, a backslash outside quotes escapes the next character. Variables stay as text.
 */
function words(line: string): string[] {
  const out: string[] = [];
  let word: string | undefined;
  for (let i = 0; i < line.length; i += 1) {
    const c = line[i] as string;
    if (/\s/.test(c)) {
      if (word !== undefined) out.push(word);
      word = undefined;
    } else if (c === "'") {
      const end = line.indexOf("'", i + 1);
      assert.ok(end > i, `unterminated quote in ${line}`);
      word = (word ?? '') + line.slice(i + 1, end);
      i = end;
    } else if (c === '"') {
      word ??= '';
      for (i += 1; line[i] !== '"'; i += 1) {
        assert.ok(i < line.length, `unterminated double quote in ${line}`);
        if (line[i] === '\\' && /["\\$]/.test(line[i + 1] ?? '')) i += 1;
        word += line[i];
      }
    } else if (c === '\\') {
      word = (word ?? '') + (line[i + 1] ?? '');
      i += 1;
    } else {
      word = (word ?? '') + c;
    }
  }
  if (word !== undefined) out.push(word);
  return out;
}

interface ParsedEntry {
  title: string;
  id: string;
  /** `if [ "$grub_platform" = X ]` around the entry. */
  platform: string;
  commands: string[][];
}

/** The menu read back: preamble commands and every menuentry with its commands as words. */
function parseMenu(text: string): { preamble: string[][]; entries: ParsedEntry[]; comments: string[] } {
  const preamble: string[][] = [];
  const entries: ParsedEntry[] = [];
  const comments: string[] = [];
  let current: ParsedEntry | undefined;
  let platform = 'any';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '') continue;
    if (line.startsWith('#')) {
      comments.push(line.slice(1).trim());
      continue;
    }
    const w = words(line);
    if (w[0] === 'menuentry') {
      assert.equal(w.at(-1), '{');
      assert.equal(w[2], '--id');
      current = { title: w[1] as string, id: w[3] as string, platform, commands: [] };
    } else if (current && w[0] === '}') {
      entries.push(current);
      current = undefined;
    } else if (current) {
      current.commands.push(w);
    } else if (w[0] === 'if' && w[2] === '$grub_platform') {
      platform = w[4] as string;
    } else if (w[0] === 'fi') {
      platform = 'any';
    } else {
      preamble.push(w);
    }
  }
  return { preamble, entries, comments };
}

const base: MenuInspection = {
  format: 'iso9660', label: 'X', family: 'unknown', recipe: null, loopbackCfg: null, efiLoaders: [], partitionScheme: 'none',
};

const CASES: Record<string, MenuInspection> = {
  ubuntu: { ...base, family: 'ubuntu-casper', label: 'Ubuntu 24.04 LTS amd64',
    recipe: { kernel: '/casper/vmlinuz', initrd: ['/casper/initrd'], params: 'boot=casper iso-scan/filename=${iso_path}' },
    loopbackCfg: { path: '/boot/grub/loopback.cfg', passesIsoPath: true } },
  mint: { ...base, family: 'ubuntu-casper', label: 'Linux Mint 21.3',
    recipe: { kernel: '/casper/vmlinuz', initrd: ['/casper/initrd.lz'], params: 'boot=casper iso-scan/filename=${iso_path}' },
    loopbackCfg: { path: '/boot/grub/loopback.cfg', passesIsoPath: false } },
  fedora: { ...base, family: 'fedora-live', label: 'Fedora-WS-Live-41-1-4',
    recipe: { kernel: '/images/pxeboot/vmlinuz', initrd: ['/images/pxeboot/initrd.img'],
      params: 'root=live:CDLABEL=${isolabel} rd.live.image iso-scan/filename=${iso_path}' } },
  arch: { ...base, family: 'arch', label: 'ARCH_202501',
    recipe: { kernel: '/arch/boot/x86_64/vmlinuz-linux', initrd: ['/arch/boot/x86_64/initramfs-linux.img'],
      params: 'img_dev=/dev/disk/by-uuid/${rootuuid} img_loop=${iso_path}' } },
  windows: { ...base, format: 'udf', family: 'windows', label: 'CCCOMA_X64FRE' },
  mystery: { ...base, label: 'SOMETHING' },
  memtest: { ...base, family: 'memtest', label: 'MT86PLUS_64',
    efiLoaders: [{ path: '/EFI/BOOT/BOOTX64.EFI', arch: 'x64', where: 'el-torito', index: 2 }] },
  ipxe: { ...base, family: 'ipxe', recipe: { efiLoader: '/ipxe.efi', biosKernel: '/ipxe.lkrn' } },
  usbimg: { ...base, format: 'gpt', partitionScheme: 'gpt', label: '',
    efiLoaders: [{ path: '/EFI/BOOT/BOOTX64.EFI', arch: 'x64', where: 'partition', index: 1 }] },
};

const OPTIONS: MenuOptions = { timeoutSeconds: 7, serial: { unit: 0, speed: 115200 } };

function isos(names: Record<string, keyof typeof CASES>, extra: Partial<MenuIso> = {}): MenuIso[] {
  return Object.entries(names).map(([name, kind]) => ({ name, inspection: CASES[kind] as MenuInspection, ...extra }));
}

/** Menus the tests made, checked by grub-script-check at the end (tools tier). */
const made: string[] = [];
function menu(list: MenuIso[], options: MenuOptions = OPTIONS) {
  const result = generateGrubMenu(list, options);
  made.push(result.text);
  return { ...result, parsed: parseMenu(result.text) };
}

function command(entry: ParsedEntry | undefined, name: string): string[] {
  const found = entry?.commands.find((c) => c[0] === name);
  assert.ok(found, `no ${name} in ${JSON.stringify(entry)}`);
  return found;
}

describe('GRUB menu generator', () => {
  test('preamble: serial terminal, timeout, default by id, rootuuid, TPM workaround on UEFI', () => {
    const { parsed, entries } = menu(isos({ 'b.iso': 'fedora', 'a.iso': 'ubuntu' }), { ...OPTIONS, defaultName: 'b.iso' });
    const p = parsed.preamble.map((w) => w.join(' '));
    assert.ok(p.includes('serial --unit=0 --speed=115200'));
    assert.ok(p.includes('terminal_input serial console') && p.includes('terminal_output serial console'));
    assert.ok(p.includes('set timeout=7'));
    assert.ok(p.includes('probe --set rootuuid --fs-uuid $root'));
    assert.ok(p.includes('rmmod tpm'));
    // entries sorted by file name; default names b.iso's id
    assert.deepEqual(entries.map((e) => e.name), ['a.iso', 'b.iso']);
    assert.ok(p.includes(`set default=${entries[1]?.id}`));
    assert.deepEqual(parsed.entries.map((e) => e.id), entries.map((e) => e.id));
    const noSerial = menu(isos({ 'a.iso': 'ubuntu' }), { timeoutSeconds: 0 });
    assert.equal(noSerial.parsed.preamble.some((w) => w[0] === 'serial'), false);
    assert.ok(noSerial.parsed.preamble.some((w) => w.join(' ') === `set default=${noSerial.entries[0]?.id}`));
  });

  test('entries follow the given order, the ISOs it leaves out after them by name; without one, by name', () => {
    const list = isos({ 'c.iso': 'ubuntu', 'a.iso': 'fedora', 'b.iso': 'arch', 'd.iso': 'ipxe' });
    const names = (options: MenuOptions) => menu(list, options).entries.map((e) => e.name);
    assert.deepEqual(names(OPTIONS), ['a.iso', 'b.iso', 'c.iso', 'd.iso']);
    assert.deepEqual(names({ ...OPTIONS, order: ['d.iso', 'b.iso', 'gone.iso'] }), ['d.iso', 'b.iso', 'a.iso', 'c.iso']);
    assert.deepEqual(menuOrder(['x', 'y'], ['y', 'y', 'x']), ['y', 'x'], 'a name listed twice counts once');
    // the default entry is found by name wherever it moved
    const moved = menu(list, { ...OPTIONS, order: ['d.iso'], defaultName: 'a.iso' });
    const id = moved.entries.find((e) => e.name === 'a.iso')!.id;
    assert.match(moved.text, new RegExp(`^set default=${id}$`, 'm'));
  });

  test('an ISO whose loopback.cfg passes iso_path boots through it', () => {
    const { parsed, entries } = menu(isos({ 'ubuntu.iso': 'ubuntu' }));
    assert.equal(entries[0]?.method, 'loopback-cfg');
    const entry = parsed.entries[0];
    assert.deepEqual(command(entry, 'set'), ['set', 'iso_path=/isos/ubuntu.iso']);
    assert.deepEqual(command(entry, 'export'), ['export', 'iso_path']);
    assert.deepEqual(command(entry, 'loopback'), ['loopback', 'loop', '$iso_path']);
    assert.deepEqual(command(entry, 'configfile'), ['configfile', '/boot/grub/loopback.cfg']);
    assert.equal(entry?.title, 'Ubuntu live (ubuntu.iso)');
  });

  test('a loopback.cfg that does not pass iso_path (Mint 21.3) is skipped for the family recipe', () => {
    const { parsed, entries } = menu(isos({ 'mint.iso': 'mint' }));
    assert.equal(entries[0]?.method, 'recipe');
    assert.deepEqual(command(parsed.entries[0], 'linux'),
      ['linux', '(loop)/casper/vmlinuz', 'boot=casper', 'iso-scan/filename=${iso_path}']);
    assert.deepEqual(command(parsed.entries[0], 'initrd'), ['initrd', '(loop)/casper/initrd.lz']);
  });

  test('recipes: Fedora probes the ISO label, Arch names the key by UUID; extra parameters go last, literally', () => {
    const { parsed } = menu([
      ...isos({ 'fedora.iso': 'fedora' }, { extraParams: 'console=ttyS0,115200n8  rd.shell $x' }),
      ...isos({ 'arch.iso': 'arch' }),
    ]);
    const [arch, fedora] = parsed.entries;
    assert.deepEqual(command(fedora, 'probe'), ['probe', '--set', 'isolabel', '--label', '(loop)']);
    assert.deepEqual(command(fedora, 'linux'), ['linux', '(loop)/images/pxeboot/vmlinuz', 'root=live:CDLABEL=${isolabel}',
      'rd.live.image', 'iso-scan/filename=${iso_path}', 'console=ttyS0,115200n8', 'rd.shell', '$x']);
    assert.deepEqual(command(arch, 'linux').slice(2), ['img_dev=/dev/disk/by-uuid/${rootuuid}', 'img_loop=${iso_path}']);
    assert.equal(arch?.commands.some((c) => c[0] === 'probe'), false);
  });

  test('extra parameters on an ISO with a passing loopback.cfg use the recipe, which can carry them', () => {
    const { parsed, entries, warnings } = menu(isos({ 'u.iso': 'ubuntu' }, { extraParams: 'console=ttyS0' }));
    assert.equal(entries[0]?.method, 'recipe');
    assert.equal(command(parsed.entries[0], 'linux').at(-1), 'console=ttyS0');
    assert.deepEqual(warnings, []);
  });

  test('Windows gets no entry, a comment and a warning; unknown ISOs try loopback.cfg with a comment saying why', () => {
    const { parsed, entries, warnings } = menu(isos({ 'win.iso': 'windows', 'odd.iso': 'mystery' }));
    assert.deepEqual(entries.map((e) => [e.name, e.method]), [['odd.iso', 'try-loopback-cfg']]);
    assert.ok(warnings.some((w) => w.startsWith('win.iso: Windows')));
    assert.ok(warnings.some((w) => w.startsWith('odd.iso: no known distro family')));
    assert.ok(parsed.comments.some((c) => c.startsWith('odd.iso: no known distro family')));
    assert.deepEqual(command(parsed.entries[0], 'configfile'), ['configfile', '/boot/grub/loopback.cfg']);
  });

  test('memtest chainloads the loader copied next to it under UEFI and boots the .bin under BIOS; UEFI-only when only the .efi is there', () => {
    const both = menu(isos({ 'mt.iso': 'memtest' }, { loaders: { efi: '/isos/mt.iso.efi', bios: '/isos/mt.iso.bin' } }));
    const lines = both.text.split('\n').map((l) => words(l.trim()));
    assert.ok(lines.some((w) => w.join(' ') === 'chainloader /isos/mt.iso.efi'));
    assert.ok(lines.some((w) => w.join(' ') === 'linux /isos/mt.iso.bin'));
    assert.equal(both.parsed.entries[0]?.commands.some((c) => c[0] === 'loopback'), false);
    const efiOnly = menu(isos({ 'mt.iso': 'memtest' }, { loaders: { efi: '/isos/mt.iso.efi' } }));
    assert.equal(efiOnly.entries[0]?.platform, 'efi');
    assert.equal(efiOnly.parsed.entries[0]?.platform, 'efi');
    const serial = menu(isos({ 'mt.iso': 'memtest' }, { loaders: { efi: '/isos/mt.iso.efi' }, extraParams: 'console=ttyS0,115200' }));
    assert.ok(serial.text.split('\n').some((l) => words(l.trim()).join(' ') === 'chainloader /isos/mt.iso.efi console=ttyS0,115200'));
    const none = menu(isos({ 'mt.iso': 'memtest' }));
    assert.deepEqual(none.entries, []);
    assert.match(none.warnings[0] ?? '', /without a loader/);
  });

  test('iPXE from inside the ISO; a disk image with an ESP chainloads its loader (UEFI only)', () => {
    const { parsed, entries } = menu(isos({ 'ipxe.iso': 'ipxe', 'mt.img': 'usbimg' }));
    assert.deepEqual(entries.map((e) => [e.method, e.platform]), [['chainload', 'any'], ['chainload', 'efi']]);
    const text = parsed.entries[0]?.commands.map((c) => c.join(' ')) ?? [];
    assert.ok(text.includes('chainloader (loop)/ipxe.efi') && text.includes('linux (loop)/ipxe.lkrn'));
    assert.deepEqual(command(parsed.entries[1], 'chainloader'), ['chainloader', '(loop,gpt1)/EFI/BOOT/BOOTX64.EFI']);
  });

  test('names and titles with spaces, quotes, $ and backslashes come back unchanged', () => {
    const names = [`it's a "test" $HOME \\ x.iso`, 'two  spaces.iso', "''.iso", 'ünï ★.iso'];
    const { parsed } = menu(names.map((name) => ({ name, inspection: CASES.ubuntu as MenuInspection, title: `T ${name}` })));
    const sorted = [...names].sort((a, b) => (a < b ? -1 : 1));
    assert.deepEqual(parsed.entries.map((e) => command(e, 'set')[1]), sorted.map((n) => `iso_path=/isos/${n}`));
    assert.deepEqual(parsed.entries.map((e) => e.title), sorted.map((n) => `T ${n}`));
    assert.equal(grubQuote('a\nb'), "'a?b'");
  });

  test('an empty library still gives a menu', () => {
    const { parsed, entries } = menu([]);
    assert.deepEqual(entries, []);
    assert.equal(parsed.entries.length, 1);
  });
});

tierSuite('tools', 'GRUB menus against grub-script-check and real ISOs', () => {
  const dir = mkdtempSync(join(tmpdir(), 'bootkey-grub-menu-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  const check = async (text: string, name: string) => {
    const file = join(dir, name);
    writeFileSync(file, text);
    return run('grub-script-check', [file]);
  };

  test('the checker is real: it rejects a broken menu', async () => {
    await assert.rejects(check("menuentry 'x' {\n  linux 'unterminated\n", 'broken.cfg'));
  });

  test('menus made from the real installer and memtest ISOs, with their inspections', async () => {
    const inspections = [];
    for (const [name, file] of [['installer.iso', await fixture('installer-iso')], ['memtest86+x64.iso', await fixture('memtest-iso')]] as const) {
      const source = await FileByteSource.open(file);
      try {
        inspections.push({ name, inspection: await inspectImage(source) });
      } finally {
        await source.close();
      }
    }
    const [installer, memtest] = inspections;
    assert.equal(installer?.inspection.family, 'debian-installer');
    assert.equal(memtest?.inspection.family, 'memtest');
    const plain = menu([installer as MenuIso, { ...(memtest as MenuIso), loaders: { efi: '/isos/memtest86+x64.iso.efi' } }]);
    assert.deepEqual(plain.entries.map((e) => [e.name, e.method]), [['installer.iso', 'loopback-cfg'], ['memtest86+x64.iso', 'chainload']]);
    const withParams = menu([{ ...(installer as MenuIso), extraParams: 'console=ttyS0,115200n8' }]);
    assert.deepEqual(command(withParams.parsed.entries[0], 'linux'), ['linux', '(loop)/install.amd/vmlinuz', 'console=ttyS0,115200n8']);
  });

  test('grub-script-check accepts every menu these tests made', async () => {
    assert.ok(made.length >= 12, `only ${made.length} menus`);
    for (const [i, text] of made.entries()) await check(text, `menu-${i}.cfg`);
  });
});
