// Runs inside UML (test/integration/multiboot.test.ts, test/boot/multiboot.test.ts) with two scsi_debug keys.
// sda gets the user-key fixture and is made a multi-ISO key keeping its files (init, bad inputs, add installer and
// memtest); sdb is made one fresh. Everything goes through the real `bootkey multiboot` command line. Results go
// to BOOTKEY_OUT/multiboot.json, and both keys' images to BOOTKEY_OUT/{keep,fresh}.img for QEMU.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, open, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

const out = process.env.BOOTKEY_OUT as string;
const userKey = process.env.BOOTKEY_USER_KEY as string;
const installer = process.env.BOOTKEY_INSTALLER as string;
const memtest = process.env.BOOTKEY_MEMTEST as string;
const results: Record<string, unknown> = {};
const log: string[] = [];

function sh(program: string, args: string[], input?: string): { status: number; stdout: string; stderr: string } {
  const r = spawnSync(program, args, { encoding: 'utf8', input, maxBuffer: 64 << 20 });
  log.push(`$ ${program} ${args.join(' ')} → ${r.status}\n${r.stdout.slice(-2000)}${r.stderr.slice(-2000)}`);
  return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

function must(program: string, args: string[]): string {
  const r = sh(program, args);
  if (r.status !== 0) throw new Error(`${program} ${args.join(' ')} failed (${r.status}): ${r.stderr}`);
  return r.stdout;
}

const bootkey = (...args: string[]) => sh('node', ['--import', 'tsx', 'main/cli/bootkey.ts', 'multiboot', ...args]);

async function sha256(path: string, length?: number): Promise<string> {
  const hash = createHash('sha256');
  const handle = await open(path, 'r');
  try {
    for await (const chunk of handle.createReadStream(length === undefined ? {} : { end: length - 1 })) hash.update(chunk as Buffer);
  } finally {
    await handle.close().catch(() => undefined);
  }
  return hash.digest('hex');
}

/** Waits until udisks shows `device` with a vfat filesystem (after dd or a new table). */
function settle(device: string): void {
  for (let i = 0; i < 50; i += 1) {
    must('udevadm', ['settle']);
    const info = sh('udisksctl', ['info', '-b', device]);
    if (/IdType:\s+vfat/.test(info.stdout)) return;
    spawnSync('sleep', ['0.2']);
  }
  throw new Error(`${device} never showed vfat in udisks`);
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
  const bad: Record<string, unknown>[] = [];
  for (const [what, args] of [
    ['non-ISO', ['add', '/dev/sda', junk]],
    ['truncated', ['add', '/dev/sda', truncated]],
    ['bad name', ['add', '/dev/sda', '/tmp/junk.iso', '/tmp/junk.iso']],
  ] as const) {
    const before = await sha256('/dev/sda');
    const r = bootkey(...args);
    bad.push({ what, status: r.status, stderr: r.stderr.trim().split('\n').at(-1), unchanged: before === (await sha256('/dev/sda')) });
  }

  const addInstaller = bootkey('add', '/dev/sda', installer, '--params', 'console=ttyS0,115200n8', '--json');
  results.addInstaller = { status: addInstaller.status, stdout: addInstaller.stdout, stderr: addInstaller.stderr.slice(-3000) };
  // memtest draws on the screen; its command line (GRUB passes chainloader's arguments) adds the serial port.
  const addMemtest = bootkey('add', '/dev/sda', memtest, '--params', 'console=ttyS0,115200', '--json');
  results.addMemtest = { status: addMemtest.status, stdout: addMemtest.stdout, stderr: addMemtest.stderr.slice(-3000) };
  {
    const before = await sha256('/dev/sda');
    const r = bootkey('add', '/dev/sda', memtest);
    bad.push({ what: 'duplicate', status: r.status, stderr: r.stderr.trim().split('\n').at(-1), unchanged: before === (await sha256('/dev/sda')) });
  }
  results.bad = bad;
  const list = bootkey('list', '/dev/sda', '--verify', '--json');
  results.list = { status: list.status, value: list.status === 0 ? JSON.parse(list.stdout) : list.stderr };
  const print = bootkey('menu', '/dev/sda', '--print');
  results.menuText = print.stdout;
  results.after = await fileHashes('/dev/sda1', manifest);
  results.fsck = sh('fsck.fat', ['-n', '/dev/sda1']);
  results.sfdisk = JSON.parse(must('sfdisk', ['--json', '/dev/sda']));
  must('dd', ['if=/dev/sda', `of=${join(out, 'keep.img')}`, 'bs=4M', 'conv=sparse', 'status=none']);

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
}

main()
  .catch((error: Error) => {
    results.fatal = error.stack ?? String(error);
  })
  .finally(async () => {
    await writeFile(join(out, 'multiboot.json'), JSON.stringify(results, null, 2));
    await writeFile(join(out, 'multiboot.log'), log.join('\n'));
  });
