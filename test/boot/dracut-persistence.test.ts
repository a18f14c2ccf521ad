// Boot proof of LiveOS persistence with real dracut: a key with a Debian kernel, a Debian dracut initramfs
// (dmsquash-live) and a LiveOS/squashfs.img, plus a device-mapper overlay made by `bootkey persist create`, which
// also adds rd.live.overlay= to the key's GRUB entry. Booted twice from the key through the project's GRUB (first
// under SeaBIOS, then under OVMF from the same key and grub.cfg), the live system writes a note on the first boot
// and reads it back on the second; after each boot, `bootkey persist status --file` on the overlay copied off the
// key gives the numbers the kernel's `dmsetup status` gave inside.
// Two emulated boots: 1.5-3.5 minutes warm, depending on what else the machine runs.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { copyFile, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import { hostGrubBuilder } from '../../main/adapters/grub/host-grub-builder.js';
import { DRACUT_LIVE, fixture } from '../fixtures/index.js';
import { withBoot, type Firmware } from '../harness/qemu/index.js';
import { tierSuite } from '../harness/tier.js';

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const MiB = 1 << 20;
const KEY_MIB = 128;
const PARTITION_START = MiB;
/** Under software emulation one boot took 45-105 s here, depending on what else the 2 cores ran. */
const BOOT_TIMEOUT_MS = 8 * 60_000;

/** The key's FAT filesystem: dracut finds the live root and the overlay by this UUID, names the overlay by both. */
const KEY_LABEL = 'BKLIVE';
const VOLUME_ID = randomBytes(4).toString('hex').toUpperCase();
const KEY_UUID = `${VOLUME_ID.slice(0, 4)}-${VOLUME_ID.slice(4)}`;
/** dracut's rule for the default overlay: LiveOS/overlay-<LABEL>-<UUID> of the live root device. */
const OVERLAY_PATH = `/LiveOS/overlay-${KEY_LABEL}-${KEY_UUID}`;

function seconds(sinceMs: number): string {
  return ((performance.now() - sinceMs) / 1000).toFixed(1);
}

/** `bootkey` from the sources, as a user runs it. */
async function bootkey(args: string[]): Promise<unknown> {
  const { stdout } = await run(process.execPath, ['--import', 'tsx', 'main/cli/bootkey.ts', ...args], { cwd: ROOT });
  return JSON.parse(stdout) as unknown;
}

interface DmUsage {
  type: string;
  valid: boolean;
  exceptions: number;
  allocatedSectors: number;
  totalSectors: number;
  metadataSectors: number;
}

/** Copies the overlay off the key's FAT with mtools and reads it with `bootkey persist status --file`. */
async function overlayOnKey(key: string, dir: string): Promise<DmUsage> {
  const copy = join(dir, 'overlay-copy');
  await rm(copy, { force: true });
  await run('mcopy', ['-n', '-i', `${key}@@${PARTITION_START}`, `::${OVERLAY_PATH}`, copy], { env: { ...process.env, MTOOLS_SKIP_CHECK: '1' } });
  try {
    return await bootkey(['persist', 'status', '--file', copy, '--json']) as DmUsage;
  } finally {
    await rm(copy, { force: true });
  }
}

/**
 * The key: the live parts and a GRUB entry as a LiveOS key has them (no overlay yet), then Bootkey's overlay,
 * made in the staged tree (this host's kernel cannot mount FAT), copied onto a new FAT partition with mtools;
 * GRUB from the project's GRUB builder: for BIOS in the MBR and its gap, finding the partition by its UUID, and
 * for UEFI as EFI/BOOT/BOOTX64.EFI. Both read /boot/grub/grub.cfg.
 */
async function makeKey(dir: string, token: string): Promise<string> {
  const live = await fixture('dracut-live');
  const stage = join(dir, 'stage');
  await mkdir(join(stage, 'LiveOS'), { recursive: true });
  await mkdir(join(stage, 'boot', 'grub'), { recursive: true });
  await copyFile(join(live, DRACUT_LIVE.squashfs), join(stage, 'LiveOS', 'squashfs.img'));
  await copyFile(join(live, DRACUT_LIVE.kernel), join(stage, 'boot', 'vmlinuz'));
  await copyFile(join(live, DRACUT_LIVE.initrd), join(stage, 'boot', 'initrd.img'));
  // rd.emergency=poweroff and panic=-1: a failing boot ends QEMU at once instead of waiting at a shell.
  await writeFile(join(stage, 'boot', 'grub', 'grub.cfg'), [
    'serial --unit=0 --speed=115200', 'terminal_input serial console', 'terminal_output serial console', 'set timeout=0',
    "menuentry 'Bootkey dracut live' {",
    `  linux /boot/vmlinuz root=live:UUID=${KEY_UUID} rd.live.image rw console=ttyS0,115200 rd.emergency=poweroff panic=-1 ${DRACUT_LIVE.tokenParam}=${token}`,
    '  initrd /boot/initrd.img', '}', ''].join('\n'));

  const tools = await hostGrubBuilder.tools(true);
  await mkdir(join(stage, 'EFI', 'BOOT'), { recursive: true });
  await writeFile(join(stage, 'EFI', 'BOOT', 'BOOTX64.EFI'), await hostGrubBuilder.buildEfiImage(tools));

  const made = await bootkey(['persist', 'create', stage, '--type', 'dm', '--size', '32M', '--label', KEY_LABEL,
    '--uuid', KEY_UUID, '--json']) as { path: string; usage: DmUsage }[];
  assert.equal(made[0]?.path, join(stage, OVERLAY_PATH), 'persist create made the overlay dracut looks for');
  assert.equal(made[0]?.usage.exceptions, 0);
  const grubCfg = await readFile(join(stage, 'boot', 'grub', 'grub.cfg'), 'utf8');
  assert.match(grubCfg, new RegExp(` rd\\.live\\.overlay=UUID=${KEY_UUID}:${OVERLAY_PATH} `),
    'persist create added the overlay to the key\'s LiveOS entry');

  const key = join(dir, 'key.img');
  const part = join(dir, 'part.img');
  await run('truncate', ['-s', `${KEY_MIB}M`, key]);
  await run('sh', ['-c', `printf 'label: dos\\nstart=${PARTITION_START / 512}, type=c, bootable\\n' | sfdisk --quiet "$1"`, 'sh', key]);
  await run('truncate', ['-s', `${KEY_MIB - PARTITION_START / MiB}M`, part]);
  await run('mkfs.fat', ['-F', '32', '-n', KEY_LABEL, '-i', VOLUME_ID, part]);
  const top = (await readdir(stage)).map((name) => join(stage, name));
  await run('mcopy', ['-s', '-i', part, ...top, '::/'], { env: { ...process.env, MTOOLS_SKIP_CHECK: '1' } });
  await run('dd', [`if=${part}`, `of=${key}`, 'bs=1M', `seek=${PARTITION_START / MiB}`, 'conv=notrunc,sparse', 'status=none']);
  await rm(part);
  await rm(stage, { recursive: true });
  await hostGrubBuilder.installBiosIntoImage(tools, key, KEY_UUID, PARTITION_START);
  return key;
}

/** The serial lines starting with `marker`, without it. */
function marked(text: string, marker: string): string[] {
  return text.split('\n').filter((line) => line.startsWith(`${marker} `)).map((line) => line.slice(marker.length + 1).trim());
}

/**
 * One boot until power-off. Returns the serial text after checking that dracut made live-rw a snapshot whose COW
 * store is a loop device over the key's overlay file.
 */
async function bootOnce(key: string, firmware: Firmware, name: string): Promise<string> {
  return withBoot({ image: key, firmware, memMb: DRACUT_LIVE.memMb, snapshot: false, name }, async (session) => {
    await session.waitFor(/dracut: Mounted root filesystem \/dev\/mapper\/live-rw/, BOOT_TIMEOUT_MS);
    await session.waitFor(DRACUT_LIVE.poweroff, BOOT_TIMEOUT_MS);
    await session.waitFor('reboot: Power down', 60_000);
    const text = session.text();
    assert.doesNotMatch(text, /Unable to find a persistent overlay/, 'dracut found the overlay');
    assert.deepEqual(marked(text, DRACUT_LIVE.root).map((line) => line.split(' ')[0]), ['/dev/mapper/live-rw']);
    const loops = new Map(marked(text, DRACUT_LIVE.loop).map((line) => line.split(' ') as [string, string]));
    const liveRw = marked(text, DRACUT_LIVE.dm).find((line) => line.startsWith('live-rw over '));
    assert.ok(liveRw, `no live-rw device-mapper device:\n${text.slice(-3000)}`);
    const backing = liveRw.slice('live-rw over '.length).split(/\s+/).filter(Boolean).map((slave) => loops.get(slave));
    assert.ok(backing.some((file) => file?.endsWith(OVERLAY_PATH)),
      `live-rw is not over the key's overlay: its devices are backed by ${backing.join(', ')}`);
    return text;
  });
}

/** `dmsetup status live-rw` as the live system printed it before power-off, beside our offline reading of the file. */
function kernelAgrees(text: string, usage: DmUsage): void {
  const [status] = marked(text, DRACUT_LIVE.dmStatus);
  const numbers = /^0 \d+ snapshot (\d+)\/(\d+) (\d+)$/.exec(status ?? '');
  assert.ok(numbers, `no snapshot status from dmsetup: ${status}`);
  assert.deepEqual({ allocatedSectors: Number(numbers[1]), totalSectors: Number(numbers[2]), metadataSectors: Number(numbers[3]) },
    { allocatedSectors: usage.allocatedSectors, totalSectors: usage.totalSectors, metadataSectors: usage.metadataSectors },
    'persist status --file reads what the kernel reported');
  console.log(`  dmsetup status live-rw in the live system: ${status}; persist status --file: ${usage.exceptions} chunks, ` +
    `${usage.allocatedSectors}/${usage.totalSectors} ${usage.metadataSectors}`);
}

tierSuite('dracut', 'dracut boots a Bootkey overlay from the key and keeps a file across two boots', () => {
  let dir: string;
  let key: string;
  let afterBoot1: DmUsage;
  const token = `bk${randomBytes(8).toString('hex')}`;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'bootkey-dracut-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  test('the key: Debian kernel, dracut initramfs, LiveOS image, overlay and boot entry from bootkey persist create', { timeout: 15 * 60_000 }, async () => {
    const start = performance.now();
    await fixture('dracut-live');
    console.log(`dracut-live fixture ready in ${seconds(start)} s: ${(await readFile(join(await fixture('dracut-live'), DRACUT_LIVE.versions), 'utf8')).replace(/\n/g, '; ')}`);
    const keyStart = performance.now();
    key = await makeKey(dir, token);
    console.log(`key assembled in ${seconds(keyStart)} s`);
  });

  test('boot 1 (SeaBIOS): dracut sets up the overlay, the live system writes the note, the overlay file grows', { timeout: BOOT_TIMEOUT_MS + 60_000 }, async () => {
    const start = performance.now();
    const text = await bootOnce(key, 'bios', 'dracut-persistence-boot-1');
    console.log(`boot 1 in ${seconds(start)} s`);
    assert.deepEqual(marked(text, DRACUT_LIVE.wrote), [token]);
    assert.deepEqual(marked(text, DRACUT_LIVE.read), []);
    const usage = await overlayOnKey(key, dir);
    assert.equal(usage.type, 'dm-snapshot');
    assert.equal(usage.valid, true);
    assert.ok(usage.exceptions > 0, `the kernel wrote no chunk into the overlay: ${JSON.stringify(usage)}`);
    kernelAgrees(text, usage);
    afterBoot1 = usage;
  });

  test('boot 2 (UEFI): the note from boot 1 is read back; the overlay stays valid', { timeout: BOOT_TIMEOUT_MS + 60_000 }, async () => {
    const start = performance.now();
    const text = await bootOnce(key, 'uefi', 'dracut-persistence-boot-2');
    console.log(`boot 2 in ${seconds(start)} s`);
    assert.deepEqual(marked(text, DRACUT_LIVE.read), [token]);
    assert.deepEqual(marked(text, DRACUT_LIVE.wrote), []);
    const usage = await overlayOnKey(key, dir);
    assert.equal(usage.valid, true);
    // Write-once: a snapshot store never gives chunks back.
    assert.ok(usage.exceptions >= afterBoot1.exceptions, `${JSON.stringify(usage)} after ${JSON.stringify(afterBoot1)}`);
    kernelAgrees(text, usage);
  });
});
