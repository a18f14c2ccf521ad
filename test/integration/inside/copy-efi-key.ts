// Runs inside UML as root (see copy-efi.test.ts): a scsi_debug key holding the user-key fixture gets copy-efi
// from each source, with the independent checks after each step — every earlier file hashes the same (the
// key mounted read-only by the kernel's vfat), fsck.fat -n, the whole device hashed where nothing may be
// written — and copies of the key's bytes in BOOTKEY_OUT for the QEMU boots on the host. Prints a JSON report.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, readdirSync, readFileSync, readlinkSync, writeFileSync, existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { hostDurableWriter } from '../../../main/adapters/fs/durable-writer.js';

const [userKey, memtestUsb, memtestIso, installerIso, biosOnlyIso] = process.argv.slice(2) as [string, string, string, string, string];
const out = process.env.BOOTKEY_OUT ?? '/tmp';
const check = '/run/bootkey-check';
mkdirSync(check, { recursive: true });
const report: Record<string, unknown> = {};

function run(cmd: string, args: string[]): string {
  return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}
function settle(): void {
  run('udevadm', ['settle', '--timeout=30']);
}
/** The key's current device (it may come back under another name after a re-attach). */
function keyDisk(): string {
  const disks = readdirSync('/sys/block').filter((d) => d.startsWith('sd'));
  if (disks.length !== 1) throw new Error(`expected one key, found ${disks.join(',')}`);
  return `/dev/${disks[0]}`;
}
function bootkey(args: string[]): { code: number; stdout: string; stderr: string; ms: number } {
  const started = Date.now();
  const r = spawnSync('node', ['--import', 'tsx', 'test/integration/inside/bootkey-cli.ts', ...args], { encoding: 'utf8' });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr, ms: Date.now() - started };
}
function sha(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}
async function deviceHash(dev: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(dev)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}
/** Every file and folder of the key's FAT, mounted read-only by the kernel, as path → sha256 (or 'dir'). */
function tree(): Record<string, string> {
  const part = `${keyDisk()}1`;
  run('mount', ['-t', 'vfat', '-o', 'ro,utf8=1', part, check]);
  try {
    const out: Record<string, string> = {};
    const visit = (dir: string, prefix: string) => {
      for (const entry of readdirSync(dir, { withFileTypes: true })) {
        const path = `${prefix}/${entry.name}`;
        if (entry.isDirectory()) {
          out[path] = 'dir';
          visit(join(dir, entry.name), path);
        } else out[path] = sha(readFileSync(join(dir, entry.name)));
      }
    };
    visit(check, '');
    return out;
  } finally {
    run('umount', [check]);
  }
}
function fsck(): { code: number; output: string } {
  const r = spawnSync('fsck.fat', ['-n', `${keyDisk()}1`], { encoding: 'utf8' });
  return { code: r.status ?? -1, output: `${r.stdout}${r.stderr}`.trim() };
}
/** Files of `before` whose hash changed or that are gone. */
function changed(before: Record<string, string>, after: Record<string, string>): string[] {
  return Object.keys(before).filter((p) => after[p] !== before[p]);
}
/** Bytes the kernel has read from the key's disk so far (its own counter, sectors read). */
function keyBytesRead(): number {
  return Number(readFileSync(`/sys/block/${keyDisk().slice(5)}/stat`, 'utf8').trim().split(/\s+/)[2]) * 512;
}
async function* once(bytes: Uint8Array): AsyncGenerator<Uint8Array> {
  yield bytes;
}
function saveKey(name: string): void {
  run('dd', [`if=${keyDisk()}`, `of=${join(out, name)}`, 'bs=4M', 'conv=sparse', 'status=none']);
}
function withMounted<T>(work: (root: string) => T): T {
  run('mount', ['-t', 'vfat', '-o', 'rw,utf8=1', `${keyDisk()}1`, check]);
  try {
    return work(check);
  } finally {
    run('umount', [check]);
  }
}

async function main(): Promise<void> {
  // The user's key: the fixture's bytes on the scsi_debug disk.
  run('dd', [`if=${userKey}`, `of=${keyDisk()}`, 'bs=4M', 'conv=fsync', 'status=none']);
  run('blockdev', ['--rereadpt', keyDisk()]);
  settle();
  const original = tree();
  report.originalFiles = Object.values(original).filter((v) => v !== 'dir').length;

  const sources = { 'memtest-usb-img': memtestUsb, 'memtest-iso': memtestIso, 'installer-iso': installerIso };
  report.copies = {};
  for (const [name, source] of Object.entries(sources)) {
    const readBefore = keyBytesRead();
    const copy = bootkey(['copy-efi', source, '--to', keyDisk(), '--json']);
    const keyRead = keyBytesRead() - readBefore;
    const after = tree();
    const fsckAfter = fsck();
    saveKey(`${name}.img`);
    const added = Object.keys(after).filter((p) => !(p in original));
    const undo = bootkey(['undo-efi', '--from', keyDisk(), '--json']);
    const afterUndo = tree();
    (report.copies as Record<string, unknown>)[name] = {
      copy: { code: copy.code, ms: copy.ms, stderr: copy.stderr, last: copy.stdout.trim().split('\n').at(-1), keyRead },
      changed: changed(original, after), added, fsck: fsckAfter,
      undo: { code: undo.code, stderr: undo.stderr },
      undoTreeEqual: JSON.stringify(afterUndo) === JSON.stringify(original),
      undoExtra: Object.keys(afterUndo).filter((p) => !(p in original)), fsckAfterUndo: fsck(),
    };
  }

  // BIOS-only: refused, and not one byte of the device differs.
  const before = await deviceHash(keyDisk());
  const bios = bootkey(['copy-efi', biosOnlyIso, '--to', keyDisk(), '--json']);
  report.biosOnly = { code: bios.code, stdout: bios.stdout.trim(), deviceUnchanged: before === (await deviceHash(keyDisk())) };

  // The user's own EFI/BOOT/BOOTX64.EFI: refused without --replace, backed up with it, back after undo.
  const userLoader = Buffer.from(`the user's own loader ${Date.now()}\n`);
  withMounted((root) => {
    mkdirSync(join(root, 'EFI/BOOT'), { recursive: true });
    writeFileSync(join(root, 'EFI/BOOT/BOOTX64.EFI'), userLoader);
  });
  const withLoader = tree();
  const conflict = bootkey(['copy-efi', memtestIso, '--to', keyDisk(), '--json']);
  const afterConflict = tree();
  const replace = bootkey(['copy-efi', memtestIso, '--to', keyDisk(), '--replace', '--json']);
  const afterReplace = tree();
  const backups = Object.entries(afterReplace).filter(([p]) => p.startsWith('/.bootkey/backup/') && p.toUpperCase().endsWith('/EFI/BOOT/BOOTX64.EFI'));
  const undoReplace = bootkey(['undo-efi', '--from', keyDisk(), '--json']);
  report.conflict = {
    refused: { code: conflict.code, stdout: conflict.stdout.trim(), unchanged: JSON.stringify(afterConflict) === JSON.stringify(withLoader) },
    replace: { code: replace.code, stderr: replace.stderr, loaderNow: afterReplace['/EFI/BOOT/BOOTX64.EFI'], userLoader: sha(userLoader),
      backups: backups.map(([p, h]) => ({ path: p, sha256: h })), changedOthers: changed(original, afterReplace) },
    undo: { code: undoReplace.code, treeEqual: JSON.stringify(tree()) === JSON.stringify(withLoader) },
  };
  withMounted((root) => run('rm', ['-r', join(root, 'EFI')]));

  // Not enough space: a user file fills the key until the installer's files cannot fit.
  withMounted((root) => {
    const free = Number(run('df', ['-B1', '--output=avail', root]).split('\n')[1]);
    run('fallocate', ['-l', String(Math.max(0, free - 20 * 1024 * 1024)), join(root, 'filler.bin')]);
  });
  const full = tree();
  const fullHash = await deviceHash(keyDisk());
  const space = bootkey(['copy-efi', installerIso, '--to', keyDisk(), '--json']);
  report.noSpace = { code: space.code, stdout: space.stdout.trim(), treeUnchanged: JSON.stringify(tree()) === JSON.stringify(full),
    deviceUnchanged: fullHash === (await deviceHash(keyDisk())) };
  withMounted((root) => run('rm', [join(root, 'filler.bin')]));
  const beforePull = tree();

  // Where the durable writer reads back from: the medium on the key's vfat, the cache on this kernel's tmpfs
  // (no O_DIRECT before Linux 6.6).
  const probe = new TextEncoder().encode('read back\n');
  const readBackOn = async (dir: string) => (await hostDurableWriter().write(join(dir, 'probe.txt'), once(probe), { size: probe.length })).readBack;
  const onTmpfs = await readBackOn('/run');
  run('rm', ['/run/probe.txt']);
  run('mount', ['-t', 'vfat', '-o', 'rw,utf8=1', `${keyDisk()}1`, check]);
  let onVfat: string | undefined;
  try {
    onVfat = await readBackOn(check);
    run('rm', [join(check, 'probe.txt')]);
  } finally {
    run('umount', [check]);
  }
  report.readBack = { vfat: onVfat, tmpfs: onTmpfs };

  // Ctrl-C in the middle of a copy: the CLI stops, removes what it wrote, and the key is as before.
  writeFileSync('/sys/bus/pseudo/drivers/scsi_debug/delay', '2');
  const interrupted = spawn('node', ['--import', 'tsx', 'test/integration/inside/bootkey-cli.ts', 'copy-efi', installerIso, '--to', keyDisk(), '--json'],
    { stdio: ['ignore', 'pipe', 'pipe'] });
  let cancelOut = '';
  let cancelErr = '';
  interrupted.stderr.on('data', (c: Buffer) => { cancelErr += c.toString(); });
  const cancelExit = new Promise<number>((resolve) => interrupted.once('close', (code) => resolve(code ?? -1)));
  let interruptedAt = 0;
  let durableAtInterrupt = 0;
  await new Promise<void>((resolve) => {
    interrupted.stdout.on('data', (c: Buffer) => {
      cancelOut += c.toString();
      const last = cancelOut.split('\n').filter((l) => l.includes('"progress"')).map((l) => JSON.parse(l) as { bytesDone: number; bytesTotal: number }).at(-1);
      if (!interruptedAt && last && last.bytesDone > 0 && last.bytesDone < last.bytesTotal) {
        durableAtInterrupt = last.bytesDone;
        interruptedAt = Date.now();
        interrupted.kill('SIGINT');
        resolve();
      }
    });
    void cancelExit.then(() => resolve());
  });
  const cancelCode = await cancelExit;
  writeFileSync('/sys/bus/pseudo/drivers/scsi_debug/delay', '0');
  const afterCancel = tree();
  report.cancelled = {
    interrupted: interruptedAt > 0, durableAtInterrupt, code: cancelCode, exitedAfterMs: interruptedAt ? Date.now() - interruptedAt : -1,
    stdoutTail: cancelOut.trim().split('\n').slice(-1), stderr: cancelErr,
    treeEqual: JSON.stringify(afterCancel) === JSON.stringify(beforePull),
    extra: Object.keys(afterCancel).filter((p) => !(p in beforePull)), changed: changed(beforePull, afterCancel), fsck: fsck(),
  };

  // Pulled key: slow the key down, start the copy, delete the device when the first bytes are durable.
  const disk = keyDisk();
  const host = /\/(host\d+)\//.exec(readlinkSync(`/sys/block/${disk.slice(5)}`))?.[1];
  writeFileSync('/sys/bus/pseudo/drivers/scsi_debug/delay', '2');
  const child = spawn('node', ['--import', 'tsx', 'test/integration/inside/bootkey-cli.ts', 'copy-efi', installerIso, '--to', disk, '--json'],
    { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stderr.on('data', (c: Buffer) => { stderr += c.toString(); });
  const exited = new Promise<number>((resolve) => child.once('close', (code) => resolve(code ?? -1)));
  let pulledAt = 0;
  let durableAtPull = 0;
  await new Promise<void>((resolve) => {
    child.stdout.on('data', (c: Buffer) => {
      stdout += c.toString();
      const progress = stdout.split('\n').filter((l) => l.includes('"progress"')).map((l) => JSON.parse(l) as { bytesDone: number; bytesTotal: number });
      const last = progress.at(-1);
      if (!pulledAt && last && last.bytesDone > 2 * 1024 * 1024 && last.bytesDone < last.bytesTotal) {
        durableAtPull = last.bytesDone;
        pulledAt = Date.now();
        writeFileSync(`/sys/block/${disk.slice(5)}/device/delete`, '1');
        resolve();
      }
    });
    void exited.then(() => resolve());
  });
  const pullCode = await exited;
  const failedAfterMs = pulledAt ? Date.now() - pulledAt : -1;
  writeFileSync('/sys/bus/pseudo/drivers/scsi_debug/delay', '0');
  // Re-attach: the same scsi_debug host keeps its store; a rescan brings the disk back.
  if (host) writeFileSync(`/sys/class/scsi_host/${host}/scan`, '- - -');
  for (let i = 0; i < 100 && !readdirSync('/sys/block').some((d) => d.startsWith('sd')); i += 1) spawnSync('sleep', ['0.1']);
  settle();
  spawnSync('sleep', ['2']); // udisks picks the new disk up from udev
  const afterPull = tree();
  const undoPull = bootkey(['undo-efi', '--from', keyDisk(), '--json']);
  const afterPullUndo = tree();
  report.pulled = {
    pulled: pulledAt > 0, durableAtPull, code: pullCode, failedAfterMs, stdoutTail: stdout.trim().split('\n').slice(-2), stderr,
    reattachedAs: keyDisk(), userFilesChanged: changed(beforePull, afterPull),
    undo: { code: undoPull.code, stdout: undoPull.stdout.trim().slice(0, 400), stderr: undoPull.stderr },
    treeEqualAfterUndo: JSON.stringify(afterPullUndo) === JSON.stringify(beforePull),
    extraAfterUndo: Object.keys(afterPullUndo).filter((p) => !(p in beforePull)), fsckAfterUndo: fsck(),
  };
  report.mountsLeft = readFileSync('/proc/mounts', 'utf8').split('\n').filter((l) => l.startsWith('/dev/sd'));
  report.existsCheck = existsSync(check);
  process.stdout.write(`${JSON.stringify(report)}\n`);
}

main().catch((error: unknown) => {
  process.stdout.write(`${JSON.stringify({ ...report, fatal: String((error as Error).stack ?? error) })}\n`);
  process.exitCode = 1;
});
