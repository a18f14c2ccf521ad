// Runs inside UML (one run shared by test/integration/multiboot.test.ts and test/boot/multiboot.test.ts, see
// multiboot-uml.ts) with two scsi_debug keys. sda gets the user-key fixture and is made a multi-ISO key keeping
// its files (init, bad inputs, add installer and memtest, then a full key and an ISO over 4 GiB); sdb is made one
// fresh, imaged, and then an `add` on it is killed mid-copy (the crash key). Everything goes through the real
// `bootkey multiboot` command line. Results go to BOOTKEY_OUT/multiboot.json (with each command's time in
// multiboot.log), the keys' images to BOOTKEY_OUT/{keep,fresh,crash}.img for QEMU.
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFile, mkdir, open, readdir, rm, statfs, symlink, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

const out = process.env.BOOTKEY_OUT as string;
const userKey = process.env.BOOTKEY_USER_KEY as string;
const installer = process.env.BOOTKEY_INSTALLER as string;
const memtest = process.env.BOOTKEY_MEMTEST as string;
const results: Record<string, unknown> = {};
const log: string[] = [];

const started = performance.now();
const seconds = (from: number) => ((performance.now() - from) / 1000).toFixed(1);

function sh(program: string, args: string[], input?: string): { status: number; stdout: string; stderr: string } {
  const at = performance.now();
  const r = spawnSync(program, args, { encoding: 'utf8', input, maxBuffer: 64 << 20 });
  log.push(`[${seconds(started)} s] $ ${program} ${args.join(' ')} → ${r.status} in ${seconds(at)} s\n${r.stdout.slice(-2000)}${r.stderr.slice(-2000)}`);
  return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

function must(program: string, args: string[]): string {
  const r = sh(program, args);
  if (r.status !== 0) throw new Error(`${program} ${args.join(' ')} failed (${r.status}): ${r.stderr}`);
  return r.stdout;
}

const bootkey = (...args: string[]) => sh('node', ['--import', 'tsx', 'main/cli/bootkey.ts', 'multiboot', ...args]);

/**
 * Records refused commands on one device: each one's exit code, last line, and whether the whole device still
 * hashes as before it. An unchanged device's hash is the next command's "before", so each costs one hash.
 */
async function refusals(device: string): Promise<{ refuse: (what: string, args: string[], extra?: object) => Promise<void>; results: object[] }> {
  let before = await sha256(device);
  const results: object[] = [];
  const refuse = async (what: string, args: string[], extra: object = {}) => {
    const r = bootkey(...args);
    const after = await sha256(device);
    results.push({ what, status: r.status, stderr: r.stderr.trim().split('\n').at(-1), unchanged: before === after, ...extra });
    before = after;
  };
  return { refuse, results };
}

/** Free bytes of a FAT partition, read from a read-only mount (what the key says, not what Bootkey computes). */
function freeBytes(partition: string): number {
  const mnt = '/tmp/free';
  must('mkdir', ['-p', mnt]);
  must('mount', ['-o', 'ro', partition, mnt]);
  try {
    const [available, blockSize] = must('stat', ['-f', '-c', '%a %S', mnt]).trim().split(' ').map(Number) as [number, number];
    return available * blockSize;
  } finally {
    must('umount', [mnt]);
  }
}

/** A real ISO (its descriptors say 60 MB) made `size` bytes long by a sparse tail: whole to every check but size. */
async function paddedIso(source: string, path: string, size: number): Promise<string> {
  await copyFile(source, path);
  await truncate(path, size);
  return path;
}

async function sha256(path: string, length?: number): Promise<string> {
  const hash = createHash('sha256');
  const handle = await open(path, 'r');
  try {
    // 4 MiB reads: every system call is expensive in UML, and the default 64 KiB made a 320 MiB key cost ~8 s.
    const range = length === undefined ? {} : { end: length - 1 };
    for await (const chunk of handle.createReadStream({ ...range, highWaterMark: 4 << 20 })) hash.update(chunk as Buffer);
  } finally {
    await handle.close().catch(() => undefined);
  }
  return hash.digest('hex');
}

/** Waits until udisks shows `device` with a filesystem of `type` (after dd, a new table or mkfs). */
function settle(device: string, type = 'vfat'): void {
  for (let i = 0; i < 50; i += 1) {
    // udev's watch on close-after-write can miss a mkfs that follows wipefs at once: ask it to look again.
    must('udevadm', ['trigger', '--action=change', device]);
    must('udevadm', ['settle']);
    const info = sh('udisksctl', ['info', '-b', device]);
    if (new RegExp(`IdType:\\s+${type}\\b`).test(info.stdout)) return;
    spawnSync('sleep', ['0.2']);
  }
  throw new Error(`${device} never showed ${type} in udisks`);
}

/** statfs(2)'s f_type of a key's filesystem as udisks mounts it for the CLI (what the durable writer's choice of windows reads). */
async function statfsTypeMounted(partition: string): Promise<number> {
  must('udisksctl', ['mount', '-b', partition]);
  try {
    return (await statfs(must('findmnt', ['-n', '-o', 'TARGET', '--source', partition]).trim())).type;
  } finally {
    must('udisksctl', ['unmount', '-b', partition]);
  }
}

/** Every file of the user key, read through the kernel's vfat from a read-only mount, by path → sha256. */
async function fileHashes(partition: string, paths: string[]): Promise<Record<string, string>> {
  const mnt = '/tmp/check';
  await mkdir(mnt, { recursive: true });
  must('mount', ['-o', 'ro,utf8', partition, mnt]); // utf8: the user key's names are not all Latin-1
  try {
    const hashes: Record<string, string> = {};
    for (const p of paths) hashes[p] = await sha256(join(mnt, p)).catch((e: Error) => `error: ${e.message}`);
    hashes['/boot/grub/grub.cfg'] = await sha256(join(mnt, 'boot/grub/grub.cfg')).catch(() => 'missing');
    results[`${partition}-tree`] = must('find', [mnt, '-maxdepth', '2', '-not', '-path', `${mnt}/Many files/*`]).split('\n').length;
    return hashes;
  } finally {
    must('umount', [mnt]);
  }
}

async function main(): Promise<void> {
  const manifest = JSON.parse(process.env.BOOTKEY_USER_FILES as string) as string[];
  // --- keep my files: sda holds the user key ---
  must('dd', [`if=${userKey}`, 'of=/dev/sda', 'bs=4M', 'conv=fsync', 'status=none']);
  must('blockdev', ['--rereadpt', '/dev/sda']);
  settle('/dev/sda1');
  results.before = await fileHashes('/dev/sda1', manifest);

  const init = bootkey('init', '/dev/sda', '--json');
  results.init = { status: init.status, stdout: init.stdout, stderr: init.stderr.slice(-3000) };
  results.mbrAfterInit = (await sha256('/dev/sda', 440)) !== '';
  const menuSet = bootkey('menu', '/dev/sda', '--serial', '--timeout=-1', '--json');
  results.menuSet = { status: menuSet.status, stderr: menuSet.stderr.slice(-2000) };

  // Bad input: each refused with exit 2 and the whole device unchanged.
  const junk = '/tmp/junk.iso';
  await writeFile(junk, Buffer.alloc(3 << 20, 0x5a));
  const truncated = '/tmp/truncated.iso';
  must('dd', [`if=${installer}`, `of=${truncated}`, 'bs=1M', 'count=20', 'status=none']);
  const early = await refusals('/dev/sda');
  await early.refuse('non-ISO', ['add', '/dev/sda', junk]);
  await early.refuse('truncated', ['add', '/dev/sda', truncated]);
  await early.refuse('bad name', ['add', '/dev/sda', junk, junk]);
  await rm(junk);
  await rm(truncated);

  const addInstaller = bootkey('add', '/dev/sda', installer, '--params', 'console=ttyS0,115200n8', '--json');
  results.addInstaller = { status: addInstaller.status, stdout: addInstaller.stdout, stderr: addInstaller.stderr.slice(-3000) };
  // memtest draws on the screen; its command line (GRUB passes chainloader's arguments) adds the serial port.
  const addMemtest = bootkey('add', '/dev/sda', memtest, '--params', 'console=ttyS0,115200', '--json');
  results.addMemtest = { status: addMemtest.status, stdout: addMemtest.stdout, stderr: addMemtest.stderr.slice(-3000) };
  results.statfsType = await statfsTypeMounted('/dev/sda1');
  const late = await refusals('/dev/sda');
  await late.refuse('duplicate', ['add', '/dev/sda', memtest]);
  // A full key: an ISO 1 MiB bigger than the free space the kernel reports. Then one over FAT32's 4 GiB - 1 on a
  // key with room to spare in every other respect: both refused before the first byte.
  const free = freeBytes('/dev/sda1');
  const fullSize = Math.ceil((free + (1 << 20)) / 2048) * 2048;
  const full = await paddedIso(installer, '/tmp/one-mib-too-big.iso', fullSize);
  await late.refuse('full key', ['add', '/dev/sda', full], { size: fullSize, free });
  await rm(full);
  const bigSize = 4 * 1024 ** 3 + 2048;
  const big = await paddedIso(installer, '/tmp/over-four-gib.iso', bigSize);
  await late.refuse('over 4 GiB', ['add', '/dev/sda', big], { size: bigSize });
  await rm(big);
  results.badFsck = sh('fsck.fat', ['-n', '/dev/sda1']);
  results.bad = [...early.results, ...late.results];
  const list = bootkey('list', '/dev/sda', '--verify', '--json');
  results.list = { status: list.status, value: list.status === 0 ? JSON.parse(list.stdout) : list.stderr };
  const print = bootkey('menu', '/dev/sda', '--print');
  results.menuText = print.stdout;
  results.after = await fileHashes('/dev/sda1', manifest);
  results.fsck = sh('fsck.fat', ['-n', '/dev/sda1']);
  results.sfdisk = JSON.parse(must('sfdisk', ['--json', '/dev/sda']));
  must('dd', ['if=/dev/sda', `of=${join(out, 'keep.img')}`, 'bs=4M', 'conv=sparse', 'status=none']);

  await exfatKey();

  // --- fresh: sdb starts empty ---
  const fresh = bootkey('init', '/dev/sdb', '--fresh', '--yes', '--json');
  results.freshInit = { status: fresh.status, stdout: fresh.stdout, stderr: fresh.stderr.slice(-3000) };
  const freshAdd = bootkey('add', '/dev/sdb', installer, '--params', 'console=ttyS0,115200n8');
  results.freshAdd = { status: freshAdd.status, stderr: freshAdd.stderr.slice(-3000) };
  const freshMemtest = bootkey('add', '/dev/sdb', memtest, '--params', 'console=ttyS0,115200');
  results.freshMemtest = { status: freshMemtest.status, stderr: freshMemtest.stderr.slice(-3000) };
  const freshMenu = bootkey('menu', '/dev/sdb', '--serial', '--timeout=-1', '--print');
  results.freshMenu = { status: freshMenu.status, text: freshMenu.stdout, stderr: freshMenu.stderr.slice(-2000) };
  results.freshFsck = sh('fsck.fat', ['-n', '/dev/sdb1']);
  results.freshSfdisk = JSON.parse(must('sfdisk', ['--json', '/dev/sdb']));
  results.freshBlkid = sh('blkid', ['/dev/sdb1']).stdout;
  must('dd', ['if=/dev/sdb', `of=${join(out, 'fresh.img')}`, 'bs=4M', 'conv=sparse', 'status=none']);

  // --- crash: an add on the fresh key killed in the middle of its copy ---
  await mkdir('/tmp/crash');
  const victim = '/tmp/crash/killed-during-copy.iso';
  await symlink(installer, victim);
  results.crashBefore = await leftOnKey('/dev/sdb1');
  results.crashKill = await killDuringCopy(['add', '/dev/sdb', victim, '--json']);
  // Unmounting what the killed process left mounted writes back what the kernel holds, as ejecting the key would.
  results.crashLeft = await leftOnKey('/dev/sdb1');
  results.crashFsck = sh('fsck.fat', ['-n', '/dev/sdb1']);
  must('dd', ['if=/dev/sdb', `of=${join(out, 'crash.img')}`, 'bs=4M', 'conv=sparse', 'status=none']);
  const repair = bootkey('add', '/dev/sdb', victim, '--json');
  results.crashRepair = { status: repair.status, stderr: repair.stderr.slice(-3000) };
  const repaired = bootkey('list', '/dev/sdb', '--verify', '--json');
  results.crashList = { status: repaired.status, value: repaired.status === 0 ? JSON.parse(repaired.stdout) : repaired.stderr };
  results.crashRepairLeft = await leftOnKey('/dev/sdb1');
  results.crashRepairFsck = sh('fsck.fat', ['-n', '/dev/sdb1']);
}

/**
 * exFAT, keep my files: sda again, now an MBR table with one exFAT partition from 1 MiB holding user files.
 * UML's kernel has no exFAT (CONFIG_EXFAT_FS is not set), so the partition is mounted with exfat-fuse before
 * Bootkey runs; udisks lists that mount and the CLI uses the mounted key as it is.
 */
async function exfatKey(): Promise<void> {
  const table = sh('sfdisk', ['--quiet', '--wipe', 'always', '/dev/sda'], 'label: dos\nstart=2048, type=7\n');
  if (table.status !== 0) throw new Error(`sfdisk: ${table.stderr}`);
  must('udevadm', ['settle']);
  must('wipefs', ['--all', '--quiet', '/dev/sda1']); // the old vfat signature must not linger beside the new one
  must('mkfs.exfat', ['-L', 'USERKEY', '/dev/sda1']);
  settle('/dev/sda1', 'exfat');
  must('modprobe', ['fuse']);
  const mnt = '/media/exfat-key';
  await mkdir(mnt, { recursive: true });
  must('mount.exfat-fuse', ['/dev/sda1', mnt]);
  const userFiles: Record<string, Buffer> = {
    'Notes/todo list.txt': Buffer.from('exFAT key, user notes\n'),
    'Fotos/été 2024.jpg': createHash('sha512').update('photo').digest(),
    'big/random.bin': Buffer.concat(Array.from({ length: 64 }, (_, i) => createHash('sha512').update(`block ${i}`).digest())).subarray(0, 4096),
  };
  for (const [path, bytes] of Object.entries(userFiles)) {
    await mkdir(join(mnt, path, '..'), { recursive: true });
    await writeFile(join(mnt, path), bytes);
  }
  const hashes = async () => Object.fromEntries(await Promise.all(Object.keys(userFiles).map(async (p) => [p, await sha256(join(mnt, p))])));
  must('sync', []);
  const before = await hashes();
  const init = bootkey('init', '/dev/sda', '--json');
  const menu = bootkey('menu', '/dev/sda', '--serial', '--timeout=-1', '--json');
  const add = bootkey('add', '/dev/sda', installer, '--params', 'console=ttyS0,115200n8', '--json');
  const addMemtest = bootkey('add', '/dev/sda', memtest, '--params', 'console=ttyS0,115200', '--json');
  const list = bootkey('list', '/dev/sda', '--verify', '--json');
  results.exfat = {
    mount: sh('findmnt', ['-n', '-o', 'FSTYPE,SOURCE', mnt]).stdout.trim(),
    init: { status: init.status, stdout: init.stdout, stderr: init.stderr.slice(-3000) },
    menu: { status: menu.status, stderr: menu.stderr.slice(-2000) },
    add: { status: add.status, stdout: add.stdout, stderr: add.stderr.slice(-3000) },
    addMemtest: { status: addMemtest.status, stderr: addMemtest.stderr.slice(-3000) },
    list: { status: list.status, value: list.status === 0 ? JSON.parse(list.stdout) : list.stderr },
    efiLoader: await sha256(join(mnt, 'EFI/BOOT/BOOTX64.EFI')).catch(() => 'missing'),
    before,
    after: await hashes(),
  };
  must('umount', [mnt]);
  (results.exfat as Record<string, unknown>).fsck = sh('fsck.exfat', ['-n', '/dev/sda1']);
  (results.exfat as Record<string, unknown>).blkid = sh('blkid', ['/dev/sda1']).stdout;
  (results.exfat as Record<string, unknown>).sfdisk = JSON.parse(must('sfdisk', ['--json', '/dev/sda']));
  must('dd', ['if=/dev/sda', `of=${join(out, 'exfat.img')}`, 'bs=4M', 'conv=sparse', 'status=none']);
}

/** Runs `bootkey multiboot ARGS` and SIGKILLs it as soon as it reports durable bytes of an ISO copy. */
function killDuringCopy(args: string[]): Promise<{ killedAt?: { phase: string; bytesDone: number; bytesTotal: number }; signal: string | null; code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const at = performance.now();
    const child = spawn('node', ['--import', 'tsx', 'main/cli/bootkey.ts', 'multiboot', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let killedAt: { phase: string; bytesDone: number; bytesTotal: number } | undefined;
    let stdout = '';
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (c: string) => { stderr += c; });
    child.stdout.setEncoding('utf8').on('data', (c: string) => {
      stdout += c;
      const lines = stdout.split('\n');
      stdout = lines.pop() ?? '';
      for (const line of lines) {
        const event = JSON.parse(line) as { event?: string; phase?: string; bytesDone?: number; bytesTotal?: number };
        if (!killedAt && event.event === 'progress' && event.phase?.startsWith('copying ') && (event.bytesDone ?? 0) > 0
          && (event.bytesDone ?? 0) < (event.bytesTotal ?? 0)) {
          killedAt = { phase: event.phase, bytesDone: event.bytesDone ?? 0, bytesTotal: event.bytesTotal ?? 0 };
          child.kill('SIGKILL');
        }
      }
    });
    child.on('close', (code, signal) => {
      log.push(`[${seconds(started)} s] killed run of bootkey multiboot ${args.join(' ')} → ${signal ?? code} in ${seconds(at)} s: ${JSON.stringify(killedAt)}\n${stderr.slice(-2000)}`);
      resolve({ ...(killedAt && { killedAt }), signal, code, stderr: stderr.slice(-3000) });
    });
  });
}

/** The names in /isos/ (hidden ones too: a temporary file of a cut-off copy) and grub.cfg's hash, read-only. */
async function leftOnKey(partition: string): Promise<{ isos: string[]; grubCfg: string }> {
  sh('udisksctl', ['unmount', '-b', partition]);
  const mnt = '/tmp/left';
  await mkdir(mnt, { recursive: true });
  must('mount', ['-o', 'ro', partition, mnt]);
  try {
    return { isos: (await readdir(join(mnt, 'isos'))).sort(), grubCfg: await sha256(join(mnt, 'boot/grub/grub.cfg')) };
  } finally {
    must('umount', [mnt]);
  }
}

main()
  .catch((error: Error) => {
    results.fatal = error.stack ?? String(error);
  })
  .finally(async () => {
    await writeFile(join(out, 'multiboot.json'), JSON.stringify(results, null, 2));
    await writeFile(join(out, 'multiboot.log'), log.join('\n'));
  });
