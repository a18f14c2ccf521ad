// Runs inside UML as root (see persist-dm.test.ts): overlays made by `bootkey persist create` on a folder that
// holds the LiveOS fixture, activated exactly as dracut does (squashfs mounted, its rootfs.img and the overlay
// on loop devices, `dmsetup create live-rw --table "0 <sectors> snapshot <origin> <cow> PO 8"`), written
// through ext4, and measured both ways: the kernel's `dmsetup status` and our offline `persist status --file`.
// Prints nothing; writes a JSON report into BOOTKEY_OUT for the host to judge.
import { createHash, randomBytes } from 'node:crypto';
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { bootkey, run, tryRun } from './inside-commands.js';

const [squashfs] = process.argv.slice(2) as [string];
const out = process.env.BOOTKEY_OUT ?? '/tmp';
const report: Record<string, unknown> = { steps: [] };
const steps = report.steps as unknown[];

function ours(path: string): unknown {
  return bootkey(['persist', 'status', '--file', path]).json;
}
/** What `dmsetup status` prints after "<start> <length> snapshot". */
function kernel(name: string): string {
  return run('dmsetup', ['status', name]).replace(/^\d+ \d+ snapshot /, '');
}

for (const module of ['loop', 'squashfs', 'ext4', 'dm-mod', 'dm-snapshot']) run('modprobe', [module]);

const sq = '/run/sq';
mkdirSync(sq, { recursive: true });
run('mount', ['-t', 'squashfs', '-o', 'ro,loop', squashfs, sq]);
const origin = run('losetup', ['-r', '-f', '--show', `${sq}/LiveOS/rootfs.img`]);
const sectors = run('blockdev', ['--getsz', origin]);
report.originSectors = Number(sectors);

/** A key folder with the live image and an overlay made by Bootkey. */
function makeKey(name: string, size: string): { dir: string; overlay: string; uuid: string; create: unknown } {
  const dir = `/run/${name}`;
  const uuid = `${name.toUpperCase()}-0001`;
  mkdirSync(`${dir}/LiveOS`, { recursive: true });
  copyFileSync(squashfs, `${dir}/LiveOS/squashfs.img`);
  const create = bootkey(['persist', 'create', dir, '--type', 'dm', '--size', size, '--label', 'LIVE', '--uuid', uuid]);
  if (create.code !== 0) throw new Error(`create: ${create.stderr} ${JSON.stringify(create.json)}`);
  return { dir, overlay: `${dir}/LiveOS/overlay-LIVE-${uuid}`, uuid, create: create.json };
}

let cow = '';
function activate(overlay: string, mode: 'PO' | 'P'): void {
  cow = run('losetup', ['-f', '--show', overlay]);
  run('dmsetup', ['create', '--noudevsync', 'live-rw', '--table', `0 ${sectors} snapshot ${origin} ${cow} ${mode} 8`]);
  // No udevd here: make /dev/mapper/live-rw ourselves.
  run('dmsetup', ['mknodes', 'live-rw']);
}
function deactivate(): void {
  run('dmsetup', ['remove', '--noudevsync', 'live-rw']);
  run('losetup', ['-d', cow]);
}
const live = '/run/live';
mkdirSync(live, { recursive: true });
function writeFiles(prefix: string, count: number, size: number): Record<string, string> {
  const written: Record<string, string> = {};
  for (let i = 0; i < count; i++) {
    const data = randomBytes(size);
    const path = `home/${prefix}-${i}.bin`;
    writeFileSync(`${live}/${path}`, data);
    written[path] = createHash('sha256').update(data).digest('hex');
  }
  return written;
}

try {
  // 1. Normal use: a fresh overlay, then two sessions of writes (the second crosses several metadata areas).
  const key = makeKey('key', '24M');
  steps.push({ step: 'created', ours: ours(key.overlay), create: key.create });
  activate(key.overlay, 'PO');
  steps.push({ step: 'fresh-active', kernel: kernel('live-rw') });
  deactivate();
  steps.push({ step: 'fresh-after', ours: ours(key.overlay) });

  const written: Record<string, string> = {};
  for (const [session, count, size] of [['small', 3, 100_000], ['large', 6, 1_000_000]] as const) {
    activate(key.overlay, 'PO');
    run('mount', ['-t', 'ext4', '/dev/mapper/live-rw', live]);
    Object.assign(written, writeFiles(session, count, size));
    // Frozen, the filesystem writes nothing between the two readings (journal commits, lazy init).
    run('fsfreeze', ['-f', live]);
    const mounted = { kernel: kernel('live-rw'), ours: ours(key.overlay) };
    run('fsfreeze', ['-u', live]);
    run('umount', [live]);
    steps.push({ step: `session-${session}`, mounted, unmounted: { kernel: kernel('live-rw'), ours: ours(key.overlay) } });
    deactivate();
    steps.push({ step: `session-${session}-removed`, ours: ours(key.overlay) });
  }
  // The written files come back from the overlay, byte for byte.
  activate(key.overlay, 'PO');
  run('mount', ['-t', 'ext4', '-o', 'ro', '/dev/mapper/live-rw', live]);
  report.readBack = Object.fromEntries(Object.keys(written).map((p) =>
    [p, createHash('sha256').update(readFileSync(`${live}/${p}`)).digest('hex') === written[p]]));
  run('umount', [live]);
  deactivate();

  // grow (the file extended while unused): the kernel sees the new size, the table is untouched.
  const grow = bootkey(['persist', 'grow', key.dir, '--size', '40M', '--label', 'LIVE', '--uuid', key.uuid]);
  activate(key.overlay, 'PO');
  steps.push({ step: 'grown', grow, kernel: kernel('live-rw'), ours: ours(key.overlay) });
  deactivate();
  // reset: a new store again; through it the origin shows none of the written files.
  const reset = bootkey(['persist', 'reset', key.dir, '--label', 'LIVE', '--uuid', key.uuid, '--yes']);
  const resetOurs = ours(key.overlay);
  activate(key.overlay, 'PO');
  run('mount', ['-t', 'ext4', '-o', 'ro', '/dev/mapper/live-rw', live]);
  steps.push({ step: 'reset', reset: reset.code, ours: resetOurs, kernel: kernel('live-rw'), home: run('ls', ['-A', `${live}/home`]) });
  run('umount', [live]);
  deactivate();

  // 2. Past capacity with dracut's PO: the kernel reports Overflow and keeps the store valid.
  const small = makeKey('overflow', '2M');
  activate(small.overlay, 'PO');
  run('mount', ['-t', 'ext4', '/dev/mapper/live-rw', live]);
  report.overflowWrite = tryRun('dd', ['if=/dev/urandom', `of=${live}/home/fill.bin`, 'bs=1M', 'count=4', 'conv=fsync']).code;
  const overflowKernel = kernel('live-rw');
  tryRun('umount', [live]);
  steps.push({ step: 'overflow', kernel: overflowKernel, ours: ours(small.overlay) });
  deactivate();
  steps.push({ step: 'overflow-removed', ours: ours(small.overlay) });
  activate(small.overlay, 'PO');
  steps.push({ step: 'overflow-reactivated', kernel: kernel('live-rw'), ours: ours(small.overlay) });
  deactivate();

  // 3. Past capacity without O: the kernel invalidates the snapshot (valid flag 0 in the header).
  const bad = makeKey('invalid', '2M');
  activate(bad.overlay, 'P');
  run('mount', ['-t', 'ext4', '/dev/mapper/live-rw', live]);
  tryRun('dd', ['if=/dev/urandom', `of=${live}/home/fill.bin`, 'bs=1M', 'count=4', 'conv=fsync']);
  const invalidKernel = kernel('live-rw');
  tryRun('umount', [live]);
  deactivate();
  steps.push({ step: 'invalid', kernel: invalidKernel, ours: ours(bad.overlay) });
  activate(bad.overlay, 'PO');
  steps.push({ step: 'invalid-reactivated', kernel: kernel('live-rw') });
  deactivate();

  // 4. recover: header saved, valid flag set; then the kernel takes the store again and e2fsck looks at it.
  const recovered = bootkey(['persist', 'recover', bad.dir, '--label', 'LIVE', '--uuid', bad.uuid, '--yes']);
  activate(bad.overlay, 'PO');
  const recoveredKernel = kernel('live-rw');
  const fsck = tryRun('e2fsck', ['-f', '-n', '/dev/mapper/live-rw']);
  const mount = tryRun('mount', ['-t', 'ext4', '-o', 'ro', '/dev/mapper/live-rw', live]);
  const files = mount.code === 0 ? run('ls', [`${live}/etc`]) : '';
  if (mount.code === 0) run('umount', [live]);
  deactivate();
  steps.push({ step: 'recovered', recover: recovered, kernel: recoveredKernel, ours: ours(bad.overlay), fsck, mount: mount.code, etc: files,
    backupBytes: recovered.code === 0 ? readFileSync((recovered.json as { backup: string }).backup).length : -1 });
} catch (error) {
  report.fatal = error instanceof Error ? `${error.message}\n${error.stack}` : String(error);
} finally {
  tryRun('umount', [live]);
  tryRun('dmsetup', ['remove', '--noudevsync', 'live-rw']);
  tryRun('losetup', ['-D']);
  tryRun('umount', [sq]);
  writeFileSync(`${out}/persist-dm.json`, JSON.stringify(report, null, 2));
}
