// The fixtures are what they claim to be, checked with independent tools (xorriso, isoinfo, mtools, sfdisk,
// fsck.fat, udfinfo) — not with our own parsers, which these fixtures exist to test.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, open, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { after, before, test } from 'node:test';
import { run } from '../fixtures/command';
import { debianFile } from '../fixtures/debian-package';
import {
  BIOS_ONLY_LABEL, INSTALLER_LABEL, MEMTEST_USB, MULTIEXTENT_EXTENT, MULTIEXTENT_SIZE, ROCKRIDGE_DEPTH,
  ROCKRIDGE_LONG_NAME, USER_KEY, USER_KEY_EMPTY_DIRS, buildFixtureInto, fixture, multiextentMarkers,
  userKeyManifest, type BuiltFixture,
} from '../fixtures/index';
import { tierSuite } from '../harness/tier';

interface ElToritoEntry {
  platform: string;
  emulation: string;
  loadSize: number;
  lba: number;
  path?: string;
}

/** The boot catalog as `xorriso -report_el_torito plain` reports it. */
async function elTorito(iso: string): Promise<ElToritoEntry[]> {
  const report = await run('xorriso', ['-indev', iso, '-report_el_torito', 'plain']);
  const entries = new Map<number, ElToritoEntry>();
  for (const line of report.split('\n')) {
    const img = /^El Torito boot img :\s+(\d+)\s+(\S+)\s+\S+\s+(\S+)\s+\S+\s+\S+\s+(\d+)\s+(\d+)/.exec(line);
    if (img) {
      entries.set(Number(img[1]), { platform: img[2]!, emulation: img[3]!, loadSize: Number(img[4]), lba: Number(img[5]) });
    }
    const path = /^El Torito img path :\s+(\d+)\s+(.+)$/.exec(line);
    if (path) entries.get(Number(path[1]))!.path = path[2]!.trim();
  }
  return [...entries.values()];
}

async function volumeId(iso: string): Promise<string> {
  return /^Volume id: (.*)$/m.exec(await run('isoinfo', ['-d', '-i', iso]))?.[1]?.trim() ?? '';
}

async function sha256File(path: string, start = 0, end?: number): Promise<string> {
  const hash = createHash('sha256');
  const handle = await open(path, 'r');
  try {
    for await (const chunk of handle.createReadStream({ start, end, highWaterMark: 4 << 20 })) hash.update(chunk as Buffer);
  } finally {
    await handle.close().catch(() => {});
  }
  return hash.digest('hex');
}

function sha256(data: string | Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

/** A file's bytes from an ISO, through isoinfo (Rock Ridge names). */
async function isoFile(iso: string, path: string): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const child = spawn('isoinfo', ['-R', '-i', iso, '-x', path], { stdio: ['ignore', 'pipe', 'inherit'] });
    const chunks: Buffer[] = [];
    child.stdout.on('data', (chunk: Buffer) => chunks.push(chunk));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve(Buffer.concat(chunks)) : reject(new Error(`isoinfo exit ${code}`))));
  });
}

async function sfdiskJson(image: string): Promise<{ label: string; id: string; partitions: Record<string, unknown>[] }> {
  return JSON.parse(await run('sfdisk', ['--json', image])).partitiontable;
}

/** Every file under `dir` (recursively) as `/`-relative paths. */
async function walk(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true, recursive: true });
  return entries.filter((e) => e.isFile()).map((e) => relative(dir, join(e.parentPath, e.name)));
}

let scratch = '';
before(async () => {
  scratch = await mkdtemp(join(tmpdir(), 'bootkey-fixtures-test-'));
});
after(async () => {
  await rm(scratch, { recursive: true, force: true });
});

tierSuite('tools', 'fixtures', () => {
  test('memtest-iso is the real memtest86+ ISO: BIOS floppy entry, UEFI entry without a path', async () => {
    const iso = await fixture('memtest-iso');
    const [bios, uefi, ...rest] = await elTorito(iso);
    assert.equal(rest.length, 0);
    assert.deepEqual([bios?.platform, bios?.emulation], ['BIOS', 'fd1.4']);
    assert.deepEqual([uefi?.platform, uefi?.emulation, uefi?.path], ['UEFI', 'none', undefined]);
    assert.match(await run('isoinfo', ['-l', '-i', iso]), /BOOTX64\.EFI;1/);
  });

  test('memtest-usb-img: GPT with an ESP at 1 MiB holding memtest86+.efi as EFI/BOOT/BOOTX64.EFI', async () => {
    const img = await fixture('memtest-usb-img');
    const table = await sfdiskJson(img);
    assert.equal(table.label, 'gpt');
    assert.equal(table.id, MEMTEST_USB.diskGuid);
    const [esp, data] = table.partitions;
    assert.equal(esp?.type, 'C12A7328-F81F-11D2-BA4B-00A0C93EC93B');
    assert.equal(esp?.start, MEMTEST_USB.espOffset / 512);
    assert.equal(data?.start, MEMTEST_USB.dataOffset / 512);
    const efi = join(scratch, 'BOOTX64.EFI');
    await run('mcopy', ['-n', '-i', `${img}@@${MEMTEST_USB.espOffset}`, '::/EFI/BOOT/BOOTX64.EFI', efi]);
    assert.equal(await sha256File(efi), await sha256File(await debianFile('memtest86+', 'boot/memtest86+x64.efi')));
    for (const [offset, bytes] of [[MEMTEST_USB.espOffset, MEMTEST_USB.espBytes], [MEMTEST_USB.dataOffset, MEMTEST_USB.dataBytes]]) {
      const part = join(scratch, `part-${offset}.img`);
      await run('dd', [`if=${img}`, `of=${part}`, 'bs=1M', `skip=${offset}`, `count=${bytes}`,
        'iflag=skip_bytes,count_bytes', 'status=none']);
      await run('fsck.fat', ['-n', part]);
    }
    assert.match(await run('mdir', ['-i', `${img}@@${MEMTEST_USB.dataOffset}`, '::/boot']), /memtest86\+x64\.bin/);
  });

  test('installer-iso: BIOS and UEFI entries, serial GRUB menu, loopback.cfg passing iso_path', async () => {
    const iso = await fixture('installer-iso');
    const entries = await elTorito(iso);
    assert.deepEqual(entries.map((e) => [e.platform, e.emulation]), [['BIOS', 'none'], ['UEFI', 'none']]);
    assert.equal(await volumeId(iso), INSTALLER_LABEL);
    const grubCfg = (await isoFile(iso, '/boot/grub/grub.cfg')).toString();
    assert.match(grubCfg, /^serial --unit=0 --speed=115200$/m);
    assert.match(grubCfg, /^terminal_output serial console$/m);
    assert.match(grubCfg, /linux \/install\.amd\/vmlinuz .*console=ttyS0/);
    assert.match((await isoFile(iso, '/boot/grub/loopback.cfg')).toString(), /findiso=\$\{iso_path\}/);
    const images = 'usr/lib/debian-installer/images/12/amd64/text/debian-installer/amd64';
    assert.equal(sha256(await isoFile(iso, '/install.amd/vmlinuz')),
      await sha256File(await debianFile('debian-installer-12-netboot-amd64', `${images}/linux`)));
    assert.equal(sha256(await isoFile(iso, '/install.amd/initrd.gz')),
      await sha256File(await debianFile('debian-installer-12-netboot-amd64', `${images}/initrd.gz`)));
  });

  test('bios-only-iso: one BIOS no-emulation entry (isolinux), nothing for UEFI', async () => {
    const iso = await fixture('bios-only-iso');
    const entries = await elTorito(iso);
    assert.deepEqual(entries.map((e) => [e.platform, e.emulation, e.path]), [['BIOS', 'none', '/isolinux/isolinux.bin']]);
    assert.equal(await volumeId(iso), BIOS_ONLY_LABEL);
    assert.doesNotMatch(await run('isoinfo', ['-R', '-f', '-i', iso]), /efi/i);
  });

  test('user-key: MBR with one FAT32 partition at 1 MiB, clean, equal to user-key-partition', async () => {
    const [disk, partition] = [await fixture('user-key'), await fixture('user-key-partition')];
    const table = await sfdiskJson(disk);
    assert.equal(table.label, 'dos');
    assert.equal(table.partitions.length, 1);
    assert.deepEqual([table.partitions[0]?.start, table.partitions[0]?.size, table.partitions[0]?.type],
      [USER_KEY.partitionOffset / 512, USER_KEY.partitionBytes / 512, USER_KEY.partitionType]);
    assert.equal((await stat(disk)).size, USER_KEY.diskBytes);
    await run('fsck.fat', ['-n', partition]);
    assert.match(await run('minfo', ['-i', partition, '::']), /disk type="FAT32/);
    assert.equal(await sha256File(disk, USER_KEY.partitionOffset, USER_KEY.partitionOffset + USER_KEY.partitionBytes - 1),
      await sha256File(partition));
  });

  test('user-key holds exactly the manifest: names, bytes, attributes, empty folders', async () => {
    const disk = await fixture('user-key');
    const manifest = userKeyManifest();
    const at = `${disk}@@${USER_KEY.partitionOffset}`;
    const out = join(scratch, 'user-key');
    await run('mcopy', ['-s', '-n', '-m', '-i', at, '::/', out], { timeoutMs: 300_000 });
    const extracted = (await walk(out)).map((p) => p.normalize('NFC')).sort();
    assert.deepEqual(extracted, manifest.map((f) => f.path).sort());
    for (const file of manifest) assert.equal(await sha256File(join(out, file.path)), file.sha256, file.path);
    for (const dir of USER_KEY_EMPTY_DIRS) assert.equal((await readdir(join(out, dir))).length, 0);

    const attributes = new Map<string, string>();
    for (const line of (await run('mattrib', ['-/', '-i', at, '::/'])).split('\n')) {
      const m = /^(.{10})\s*::\/(.+)$/.exec(line);
      if (m) attributes.set(m[2]!.normalize('NFC'), m[1]!);
    }
    for (const file of manifest) {
      const flags = attributes.get(file.path) ?? '';
      assert.equal(flags.includes('R'), file.readOnly, `${file.path} read-only`);
      assert.equal(flags.includes('H'), file.hidden, `${file.path} hidden`);
      assert.equal(flags.includes('S'), file.system, `${file.path} system`);
    }
  });

  test('user-key manifest is as varied as promised', () => {
    const manifest = userKeyManifest();
    assert.ok(manifest.length >= 50);
    assert.ok(manifest.some((f) => f.path.split('/').length >= 5), 'nested ≥ 4 folders deep');
    assert.ok(manifest.some((f) => f.size > 100_000_000), 'a file over 100 MB');
    assert.ok(manifest.some((f) => f.size === 0), 'an empty file');
    assert.ok(manifest.some((f) => f.readOnly), 'read-only files');
    assert.ok(manifest.some((f) => /[^\x20-\x7e]/.test(f.path)), 'non-ASCII names');
    assert.ok(manifest.some((f) => f.path.split('/').pop()!.length > 150), 'a long name');
    assert.ok(manifest.some((f) => f.path.includes(' ')), 'spaces');
  });

  test('plain-iso: ISO 9660 level 1 names only, no Joliet, no Rock Ridge', async () => {
    const iso = await fixture('plain-iso');
    const info = await run('isoinfo', ['-d', '-i', iso]);
    assert.match(info, /NO Joliet present/);
    assert.match(info, /NO Rock Ridge present/);
    const names = (await run('isoinfo', ['-f', '-i', iso])).trim().split('\n');
    assert.ok(names.length >= 7);
    for (const path of names) {
      for (const part of path.split('/').filter(Boolean)) assert.match(part, /^[A-Z0-9_]{1,8}(\.[A-Z0-9_]{0,3})?(;1)?$/, path);
    }
  });

  test('joliet-iso: Joliet names beyond 64 characters and outside ASCII (emoji as surrogates)', async () => {
    const iso = await fixture('joliet-iso');
    const info = await run('isoinfo', ['-d', '-i', iso]);
    assert.match(info, /Joliet with UCS level 3 found/);
    assert.match(info, /NO Rock Ridge present/);
    const files = await run('xorriso', ['-indev', iso, '-find', '/', '-type', 'f']);
    for (const name of ['smile 😀.txt', '日本語のファイル.txt', 'Übergröße Größe.txt', 'Mixed Case Folder/Ελληνικά.txt']) {
      assert.ok(files.includes(`/${name}'`), name);
    }
    assert.ok(files.split('\n').some((line) => line.length > 66), 'a name longer than 64 characters');
  });

  test('rockridge-iso: deep folders relocated, symlinks, modes, a name only a CE area can hold', async () => {
    const iso = await fixture('rockridge-iso');
    // The plain ISO 9660 tree shows the relocation; Rock Ridge readers (xorriso) put it back.
    assert.match(await run('isoinfo', ['-f', '-i', iso]), /^\/RR_MOVED\//m);
    const deep = Array.from({ length: ROCKRIDGE_DEPTH }, (_, i) => `level${i + 1}`).join('/');
    assert.match(await run('xorriso', ['-indev', iso, '-find', '/', '-type', 'f']), new RegExp(`'/${deep}/deep file.txt'`));
    const listing = await run('isoinfo', ['-R', '-l', '-i', iso]);
    assert.match(listing, /^l\S+ .* link-to-file -> bin\/run\.sh$/m);
    assert.match(listing, /^l\S+ .* link-long -> \/component0\/.*\/component19$/m);
    assert.match(listing, /^-rw------- .* private\.key $/m);
    assert.match(listing, /^dr-xr-xr-x .* locked $/m);
    assert.ok(listing.includes(` ${ROCKRIDGE_LONG_NAME} `), 'the long Rock Ridge name');
    assert.match(await run('xorriso', ['-indev', iso, '-lsdl', '/bin/setuid-tool']), /^-rwsr-xr-x/m);
  });

  test('multiextent-iso: one file in two extents whose bytes land where isoinfo says', async () => {
    const iso = await fixture('multiextent-iso');
    const records = [...(await run('isoinfo', ['-l', '-i', iso])).matchAll(/\s(\d+) \w{3} [ \d]\d \d{4} \[\s*(\d+) [0-9A-F]+\]?\s+BIG\.BIN;1/g)]
      .map((m) => ({ size: Number(m[1]), lba: Number(m[2]) }));
    assert.equal(records.length, 2);
    assert.equal(records[0]!.size, MULTIEXTENT_EXTENT);
    assert.equal(records[0]!.size + records[1]!.size, MULTIEXTENT_SIZE);
    const handle = await open(iso, 'r');
    try {
      for (const [offset, text] of multiextentMarkers()) {
        const [record, within] = offset < records[0]!.size ? [records[0]!, offset] : [records[1]!, offset - records[0]!.size];
        const bytes = Buffer.alloc(text.length);
        await handle.read(bytes, 0, text.length, record.lba * 2048 + within);
        assert.equal(bytes.toString(), text);
      }
    } finally {
      await handle.close();
    }
  });

  test('udf-image: UDF 1.02 bridge whose UDF side (7-Zip) holds what its Joliet side (xorriso) holds', async () => {
    const iso = await fixture('udf-image');
    const udf = await run('udfinfo', [iso]);
    assert.match(udf, /^udfrev=1\.02$/m);
    assert.match(udf, /^label=UDF_TEST$/m);
    const [udfTree, jolietTree] = [join(scratch, 'udf'), join(scratch, 'joliet')];
    await run('7zz', ['x', '-tudf', `-o${udfTree}`, iso]);
    await run('xorriso', ['-osirrox', 'on', '-indev', iso, '-extract', '/', jolietTree]);
    const files = (await walk(udfTree)).sort();
    assert.deepEqual(files, (await walk(jolietTree)).sort());
    assert.equal(Number(/^numfiles=(\d+)$/m.exec(udf)?.[1]), files.length);
    for (const file of files) assert.equal(await sha256File(join(udfTree, file)), await sha256File(join(jolietTree, file)), file);
  });

  test('udf-201-empty: a UDF 2.01 file system', async () => {
    const udf = await run('udfinfo', [await fixture('udf-201-empty')]);
    assert.match(udf, /^udfrev=2\.01$/m);
    assert.match(udf, /^label=UDF201_EMPTY$/m);
  });

  test('recipes with fixed dates rebuild byte for byte', async () => {
    const reproducible: BuiltFixture[] = ['plain-iso', 'joliet-iso', 'rockridge-iso', 'bios-only-iso', 'memtest-usb-img',
      'user-key-partition'];
    for (const name of reproducible) {
      const work = await mkdtemp(join(scratch, `${name}-`));
      const out = join(work, 'again');
      await buildFixtureInto(name, out, work);
      assert.equal(await sha256File(out), await sha256File(await fixture(name)), name);
      await rm(work, { recursive: true, force: true });
    }
  });

  test('concurrent processes build a fixture once and both get it; a second call does not rebuild', async () => {
    const cache = join(scratch, 'cache');
    const script = "require('./test/fixtures/index').fixture('plain-iso').then((path) => console.log(path));";
    const root = join(import.meta.dirname, '..', '..');
    const one = () => run(process.execPath, ['--import', 'tsx', '-e', script], { cwd: root, env: { BOOTKEY_CACHE: cache } });
    const [a, b] = (await Promise.all([one(), one()])).map((out) => out.trim());
    assert.equal(a, join(cache, 'fixtures', 'plain.v1.iso'));
    assert.equal(b, a);
    assert.deepEqual(await readdir(join(cache, 'fixtures')), ['plain.v1.iso'], 'no lock or partial file left');
    assert.equal(await sha256File(a!), await sha256File(await fixture('plain-iso')));
    const built = (await stat(a!)).mtimeMs;
    assert.equal((await one()).trim(), a);
    assert.equal((await stat(a!)).mtimeMs, built);
  });
});
