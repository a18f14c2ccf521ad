// Runs inside UML as root (see persist-merge.test.ts and test/bench/merge.bench.ts). A dm overlay made by
// `bootkey persist create`, activated as dracut does and written through ext4; then, on copies of that same
// overlay, the seed's method (a dm mirror of the snapshot onto a sparse file, e2fsck, mksquashfs) and ours (the
// persistence service's merge), timed round by round; then `bootkey persist merge` on the key itself, and the
// new squashfs.img mounted (and its rootfs.img mounted) to be compared with what the snapshot showed.
// Writes a JSON report into BOOTKEY_OUT for the host to judge.
import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { copyFileSync, lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { statfs } from 'node:fs/promises';
import { performance } from 'node:perf_hooks';
import { hostDurableWriter } from '../../../main/adapters/fs/durable-writer.js';
import { hashFile } from '../../../main/adapters/fs/file-hash.js';
import { hostKeyFiles } from '../../../main/adapters/fs/key-files.js';
import { e2fsprogs } from '../../../main/adapters/persistence/e2fsprogs.js';
import { hostPersistenceFiles } from '../../../main/adapters/persistence/host-persistence-files.js';
import { squashfsTools } from '../../../main/adapters/persistence/squashfs-tools.js';
import { planMergeCopies } from '../../../main/core/persistence/dm-merge.js';
import { readDmSnapshot, type DmException } from '../../../main/core/persistence/dm-snapshot.js';
import { PersistenceService, ROOTFS_IN_SQUASHFS } from '../../../main/services/persistence.js';
import { bootkey, run, tryRun } from './inside-commands.js';

const [squashfs, roundsText = '1', writeMbText = '4', disk] = process.argv.slice(2) as [string, string?, string?, string?];
const rounds = Number(roundsText);
const writeMb = Number(writeMbText);
const out = process.env.BOOTKEY_OUT ?? '/tmp';
const report: Record<string, unknown> = {};

const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');
const dmStatus = (name: string) => run('dmsetup', ['status', name]).replace(/^\d+ \d+ \S+ /, '');

/** Every entry of a mounted tree: files by hash, symlinks by target, folders by name (lost+found left out). */
function walk(root: string, prefix = ''): Record<string, string> {
  const found: Record<string, string> = {};
  for (const name of readdirSync(`${root}/${prefix}`).sort()) {
    const path = prefix ? `${prefix}/${name}` : name;
    if (path === 'lost+found') continue;
    const info = lstatSync(`${root}/${path}`);
    if (info.isSymbolicLink()) found[path] = `-> ${readlinkSync(`${root}/${path}`)}`;
    else if (info.isDirectory()) Object.assign(found, { [path]: 'dir' }, walk(root, path));
    else found[path] = sha256(readFileSync(`${root}/${path}`));
  }
  return found;
}

for (const module of ['loop', 'squashfs', 'ext4', 'dm-mod', 'dm-snapshot', 'dm-mirror']) run('modprobe', [module]);

// Keys, work folders and mirror images on one filesystem: an ext4 disk when given (the bench: a mirror writes
// the whole rootfs.img, too much for the guest's memory), else a tmpfs (/run is small).
const base = '/media/merge';
mkdirSync(base, { recursive: true });
if (disk) run('mount', ['-t', 'ext4', disk, base]);
else run('mount', ['-t', 'tmpfs', '-o', 'size=80%', 'tmpfs', base]);
const sq = '/run/sq';
const live = '/run/live';
for (const dir of [sq, live]) mkdirSync(dir, { recursive: true });
run('mount', ['-t', 'squashfs', '-o', 'ro,loop', squashfs, sq]);
const origin = run('losetup', ['-r', '-f', '--show', `${sq}/LiveOS/rootfs.img`]);
const sectors = Number(run('blockdev', ['--getsz', origin]));
const info = run('unsquashfs', ['-s', squashfs]);
const compression = /^Compression (\S+)/m.exec(info)?.[1] ?? 'gzip';
const blockSize = /^Block size (\d+)/m.exec(info)?.[1] ?? '131072';

const loops: string[] = [];
function loop(file: string, readOnly: boolean): string {
  const device = run('losetup', [...(readOnly ? ['-r'] : []), '-f', '--show', file]);
  loops.push(device);
  return device;
}
function unloop(device: string): void {
  run('losetup', ['-d', device]);
  loops.splice(loops.indexOf(device), 1);
}
/** dmsetup without udevd: the node made by hand. */
function dmCreate(name: string, table: string, readOnly = false): void {
  run('dmsetup', ['create', '--noudevsync', ...(readOnly ? ['--readonly'] : []), name, '--table', table]);
  run('dmsetup', ['mknodes', name]);
}
const dmRemove = (name: string) => run('dmsetup', ['remove', '--noudevsync', name]);

/** The seed's merge: mirror the snapshot onto a sparse file, wait for sync, e2fsck, mksquashfs. */
async function mirrorMerge(overlay: string, dir: string): Promise<{ seconds: number; preFsckSha256: string; fsck: number; steps: Record<string, number> }> {
  const steps: Record<string, number> = {};
  const started = performance.now();
  let mark = started;
  const lap = (step: string) => {
    const now = performance.now();
    steps[step] = Math.round(now - mark);
    mark = now;
  };
  mkdirSync(`${dir}/tree/LiveOS`, { recursive: true });
  const newfs = `${dir}/tree/LiveOS/rootfs.img`;
  run('truncate', ['-s', String(sectors * 512), newfs]);
  const newDev = loop(newfs, false);
  const ovDev = loop(overlay, true);
  dmCreate('ori', `0 ${sectors} snapshot ${origin} ${ovDev} P 8`, true);
  dmCreate('mir', `0 ${sectors} mirror core 2 32 sync 2 /dev/mapper/ori 0 ${newDev} 0`);
  // `mirror 2 <dev> <dev> <in-sync>/<total> ...`: polled every 50 ms (the seed sleeps 2 s a round).
  for (;;) {
    const sync = /mirror 2 \S+ \S+ (\d+)\/(\d+)/.exec(run('dmsetup', ['status', 'mir']));
    if (sync && sync[1] === sync[2]) break;
    spawnSync('sleep', ['0.05']);
  }
  dmRemove('mir');
  dmRemove('ori');
  unloop(ovDev);
  unloop(newDev);
  lap('mirror');
  // The image as the mirror made it, before e2fsck stamps its check time into the superblock (not timed).
  const preFsckSha256 = (await hashFile(newfs)).sha256;
  const hashed = performance.now() - mark;
  mark += hashed;
  const fsck = tryRun('e2fsck', ['-f', '-y', newfs]).code;
  lap('fsck');
  run('mksquashfs', [`${dir}/tree`, `${dir}/squashfs.img`, '-noappend', '-all-root', '-no-progress', '-quiet', '-comp', compression, '-b', blockSize]);
  run('sync', ['-f', `${dir}/squashfs.img`]);
  lap('mksquashfs');
  return { seconds: (performance.now() - started - hashed) / 1000, preFsckSha256, fsck, steps };
}

/**
 * Our exception copies alone (core plan + adapter) onto an extracted rootfs.img, hashed before any e2fsck: the
 * bytes the kernel's snapshot shows, to be compared with the mirror's copy.
 */
async function applyOnly(overlay: string, dir: string): Promise<string> {
  await squashfsTools.extract(squashfs, ROOTFS_IN_SQUASHFS, dir);
  const exceptions: DmException[] = [];
  const source = await hostPersistenceFiles.open(overlay);
  const usage = await readDmSnapshot(source, (e) => exceptions.push(e)).finally(() => source.close());
  const rootfs = `${dir}/${ROOTFS_IN_SQUASHFS}`;
  await hostPersistenceFiles.copyChunks(overlay, rootfs, planMergeCopies(exceptions, usage.chunkSectors, sectors * 512));
  return (await hashFile(rootfs)).sha256;
}

/** Our merge in this process (no CLI start-up in the time): a folder key, work folder on the same tmpfs. */
async function ourMerge(key: string, work: string) {
  const fs = await statfs(key);
  const service = new PersistenceService({
    files: hostPersistenceFiles, ext4: e2fsprogs, squashfs: squashfsTools, now: () => new Date(), keyFiles: hostKeyFiles, writer: hostDurableWriter(),
    openTarget: async () => ({
      root: key, fsType: 'ext4', freeBytes: fs.bavail * fs.bsize, uuid: 'KEY-0001', label: 'LIVE',
      recheck: async () => undefined, release: async () => undefined,
    }),
  });
  mkdirSync(work, { recursive: true });
  const started = performance.now();
  const result = await service.merge(key, work);
  return { seconds: (performance.now() - started) / 1000, result };
}

async function main(): Promise<void> {
  // 1. A key with the live image and a Bootkey overlay, written through the snapshot as a live session would.
  const key = `${base}/key`;
  mkdirSync(`${key}/LiveOS`, { recursive: true });
  copyFileSync(squashfs, `${key}/LiveOS/squashfs.img`);
  const overlaySize = `${Math.max(16, writeMb * 2 + 8)}M`;
  const create = bootkey(['persist', 'create', key, '--type', 'dm', '--size', overlaySize, '--label', 'LIVE', '--uuid', 'KEY-0001']);
  if (create.code !== 0) throw new Error(`create: ${create.stderr}`);
  const overlay = `${key}/LiveOS/overlay-LIVE-KEY-0001`;
  const cow = loop(overlay, false);
  dmCreate('live-rw', `0 ${sectors} snapshot ${origin} ${cow} PO 8`);
  run('mount', ['-t', 'ext4', '/dev/mapper/live-rw', live]);
  const baseTree = walk(live);
  mkdirSync(`${live}/home/liveuser`, { recursive: true });
  const files = Math.max(4, writeMb);
  for (let i = 0; i < files; i++) writeFileSync(`${live}/home/liveuser/file-${i}.bin`, randomBytes(Math.floor((writeMb << 20) / files) + i * 513));
  writeFileSync(`${live}/etc/hostname`, 'merged-live\n');
  run('ln', ['-s', '../home/liveuser', `${live}/etc/user-link`]);
  // One base file deleted: the merged image must not have it either.
  const deleted = Object.keys(baseTree).filter((p) => p.startsWith('usr/') && /^[0-9a-f]{64}$/.test(baseTree[p] as string)).at(-1) as string;
  run('rm', [`${live}/${deleted}`]);
  report.deleted = deleted;
  run('umount', [live]);
  run('mount', ['-t', 'ext4', '-o', 'ro', '/dev/mapper/live-rw', live]);
  const snapshotTree = walk(live);
  run('umount', [live]);
  report.beforeMerge = { kernel: dmStatus('live-rw') };
  // On a running live system (the overlay held by live-rw): status shows the kernel's numbers through the helper.
  if (process.env.BOOTKEY_HELPER) report.liveStatus = bootkey(['persist', 'status', key, '--label', 'LIVE', '--uuid', 'KEY-0001']);
  dmRemove('live-rw');
  unloop(cow);
  report.baseTree = baseTree;
  report.snapshotTree = snapshotTree;
  report.overlayStatus = bootkey(['persist', 'status', '--file', overlay]).json;

  // 2. Side by side on copies of the same overlay: the seed's dm mirror and our merge, alternating.
  const timings: unknown[] = [];
  for (let round = 0; round < rounds; round++) {
    const mirrorDir = `${base}/mirror-${round}`;
    mkdirSync(mirrorDir, { recursive: true });
    copyFileSync(overlay, `${mirrorDir}/overlay`);
    run('sync', []);
    const mirror = await mirrorMerge(`${mirrorDir}/overlay`, mirrorDir);
    const oursKey = `${base}/ours-${round}`;
    mkdirSync(`${oursKey}/LiveOS`, { recursive: true });
    copyFileSync(squashfs, `${oursKey}/LiveOS/squashfs.img`);
    copyFileSync(overlay, `${oursKey}/LiveOS/overlay-LIVE-KEY-0001`);
    run('sync', []);
    const ours = await ourMerge(oursKey, `${base}/work-${round}`);
    timings.push({ round, mirror: { seconds: mirror.seconds, steps: mirror.steps, fsck: mirror.fsck, preFsckSha256: mirror.preFsckSha256 },
      ours: { seconds: ours.seconds, steps: ours.result.timings, fsck: ours.result.fsck.exitCode, rootfsSha256: ours.result.rootfsSha256,
        writtenBytes: ours.result.writtenBytes, skippedBytes: ours.result.skippedBytes, copies: ours.result.copies } });
    rmSync(mirrorDir, { recursive: true, force: true });
    rmSync(oursKey, { recursive: true, force: true });
  }
  report.timings = timings;
  report.appliedSha256 = await applyOnly(overlay, `${base}/apply-only`);
  rmSync(`${base}/apply-only`, { recursive: true, force: true });
  run('losetup', ['-d', origin]);
  run('umount', [sq]);

  // 3. The proof: `bootkey persist merge` on the key, then the new image mounted the way dracut would.
  const oldHash = sha256(readFileSync(`${key}/LiveOS/squashfs.img`));
  const merge = bootkey(['persist', 'merge', key, '--work', base, '--label', 'LIVE', '--uuid', 'KEY-0001']);
  report.merge = { code: merge.code, json: merge.json, stderr: merge.stderr.slice(-2000) };
  report.squashfsChanged = sha256(readFileSync(`${key}/LiveOS/squashfs.img`)) !== oldHash;
  report.keyFiles = readdirSync(`${key}/LiveOS`).sort();
  report.workLeft = readdirSync(base).filter((n) => n.startsWith('bootkey-merge-'));
  report.newSquashfsInfo = run('unsquashfs', ['-s', `${key}/LiveOS/squashfs.img`]);
  run('mount', ['-t', 'squashfs', '-o', 'ro,loop', `${key}/LiveOS/squashfs.img`, sq]);
  const newOrigin = loop(`${sq}/LiveOS/rootfs.img`, true);
  report.newRootfsSha256 = (await hashFile(newOrigin)).sha256;
  run('mount', ['-t', 'ext4', '-o', 'ro', newOrigin, live]);
  report.mergedTree = walk(live);
  run('umount', [live]);
  // The reset overlay over the new origin: the kernel takes it as a new store, and the merged files show through.
  const resetOurs = bootkey(['persist', 'status', '--file', overlay]).json;
  const cow2 = loop(overlay, false);
  dmCreate('live-rw', `0 ${sectors} snapshot ${newOrigin} ${cow2} PO 8`);
  report.afterReset = { kernel: dmStatus('live-rw'), ours: resetOurs };
  run('mount', ['-t', 'ext4', '-o', 'ro', '/dev/mapper/live-rw', live]);
  report.resetTree = walk(live);
  run('umount', [live]);
  dmRemove('live-rw');
  unloop(cow2);
  unloop(newOrigin);
  run('umount', [sq]);
}

main().catch((error: unknown) => {
  report.fatal = error instanceof Error ? `${error.message}\n${error.stack}` : String(error);
}).finally(() => {
  for (const name of ['live-rw', 'mir', 'ori']) tryRun('dmsetup', ['remove', '--noudevsync', name]);
  tryRun('umount', [live]);
  for (const device of loops) tryRun('losetup', ['-d', device]);
  tryRun('umount', [sq]);
  tryRun('umount', [base]);
  writeFileSync(`${out}/persist-merge.json`, JSON.stringify(report, null, 2));
});
