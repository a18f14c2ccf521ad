// Runs inside UML as root (see persist-overlayfs.test.ts): an OverlayFS overlay made by `bootkey persist create`
// is mounted as dracut's dmsquash-live does with rd.live.overlay.overlayfs (the ext4 image on a loop device,
// its overlayfs/ and ovlwork/ as upper and work over the read-only root), written, then grown with
// `bootkey persist grow` and mounted again. statfs (stat -f, df) of the mounted image is the judge of usage.
import { createHash, randomBytes } from 'node:crypto';
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { bootkey, run, tryRun } from './inside-commands.js';

const [squashfs] = process.argv.slice(2) as [string];
const out = process.env.BOOTKEY_OUT ?? '/tmp';
const report: Record<string, unknown> = {};

/** statfs of a mount point: block size, total, free. */
function statfs(path: string): { bsize: number; blocks: number; free: number } {
  const [bsize, blocks, free] = run('stat', ['-f', '-c', '%S %b %f', path]).split(' ').map(Number) as [number, number, number];
  return { bsize, blocks, free };
}

for (const module of ['loop', 'squashfs', 'ext4', 'overlay']) run('modprobe', [module]);
const key = '/run/key';
const uuid = 'OVL-0001';
const overlayFile = `${key}/LiveOS/overlay-LIVE-${uuid}`;
const [sq, lower, ovl, root] = ['/run/sq', '/run/lower', '/run/ovl', '/run/root'];
for (const dir of [sq, lower, ovl, root]) mkdirSync(dir, { recursive: true });
const written: Record<string, string> = {};

function mountLive(): void {
  run('mount', ['-t', 'ext4', '-o', 'loop', overlayFile, ovl]);
  run('mount', ['-t', 'overlay', '-o', `lowerdir=${lower},upperdir=${ovl}/overlayfs,workdir=${ovl}/ovlwork`, 'LiveOS_rootfs', root]);
}
function unmountLive(): void {
  run('umount', [root]);
  run('umount', [ovl]);
}

try {
  mkdirSync(`${key}/LiveOS`, { recursive: true });
  copyFileSync(squashfs, `${key}/LiveOS/squashfs.img`);
  run('mount', ['-t', 'squashfs', '-o', 'ro,loop', `${key}/LiveOS/squashfs.img`, sq]);
  run('mount', ['-t', 'ext4', '-o', 'ro,loop', `${sq}/LiveOS/rootfs.img`, lower]);

  report.create = bootkey(['persist', 'create', key, '--type', 'overlayfs', '--size', '48M', '--label', 'LIVE', '--uuid', uuid]);
  mountLive();
  for (let i = 0; i < 5; i++) {
    const data = randomBytes(1_500_000);
    writeFileSync(`${root}/home/persisted-${i}.bin`, data);
    written[`home/persisted-${i}.bin`] = createHash('sha256').update(data).digest('hex');
  }
  writeFileSync(`${root}/etc/hostname`, 'changed-by-live\n');
  run('sync', []);
  report.mounted = { statfs: statfs(ovl), df: run('df', ['-B1', '--output=size,used,avail', ovl]).split('\n')[1] };
  unmountLive();
  report.afterWrite = bootkey(['persist', 'status', '--file', overlayFile]).json;
  report.dumpe2fs = run('dumpe2fs', ['-h', overlayFile]);

  report.grow = bootkey(['persist', 'grow', key, '--size', '96M', '--label', 'LIVE', '--uuid', uuid]);
  mountLive();
  report.grownMounted = { statfs: statfs(ovl) };
  report.readBack = Object.fromEntries(Object.entries(written).map(([p, sha]) =>
    [p, createHash('sha256').update(readFileSync(`${root}/${p}`)).digest('hex') === sha]));
  report.hostname = readFileSync(`${root}/etc/hostname`, 'utf8');
  report.lowerHostname = readFileSync(`${lower}/etc/hostname`, 'utf8');
  // While it is in use, grow must refuse (a loop device has the file open).
  report.growInUse = bootkey(['persist', 'grow', key, '--size', '128M', '--label', 'LIVE', '--uuid', uuid]);
  unmountLive();
  report.afterGrow = bootkey(['persist', 'status', '--file', overlayFile]).json;
  report.grownDumpe2fs = run('dumpe2fs', ['-h', overlayFile]);
} catch (error) {
  report.fatal = error instanceof Error ? `${error.message}\n${error.stack}` : String(error);
} finally {
  tryRun('umount', [root]);
  tryRun('umount', [ovl]);
  tryRun('umount', [lower]);
  tryRun('umount', [sq]);
  writeFileSync(`${out}/persist-overlayfs.json`, JSON.stringify(report, null, 2));
}
