/**
 * The dispatcher's key actions, one module at a time: which key folder a drive id resolves to, the web host's
 * dropped-file folder, progress events (rate, time left, throttling), cancellation and the persistence and
 * summary DTOs, from stand-in services.
 * The real services behind them run in the browser tier (test/e2e/key-actions.test.ts) and the UML tier.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { BootkeyError } from '../../main/core/errors.js';
import { ApiDispatcher, type ApiServices } from '../../main/ipc/api-dispatcher.js';
import type { CopyEfiEvent, CopyEfiRequest, CopyEfiResult, CopyEfiService } from '../../main/services/copy-efi.js';
import { DriveService } from '../../main/services/drives.js';
import type { ImageService } from '../../main/services/images.js';
import type { MultibootService } from '../../main/services/multiboot.js';
import { MERGE_PHASES, type CreateRequest, type MergeProgress, type PersistenceService } from '../../main/services/persistence.js';
import type { JobProgressDto, KeySummaryDto, LiveInstallationDto } from '../../preload/contract.js';
import { MemoryDiskProvider, type FakeDriveSpec } from '../harness/memory-disk-provider.js';

const MB = 1e6;
const key: FakeDriveSpec = {
  name: 'sdb', vendor: 'V', model: 'Key', serial: 'S1', size: 16e9, table: 'dos',
  partitions: [{ size: 100 * MB, fsType: 'ext4' }, { size: 8e9, fsType: 'vfat', mountPoint: '/media/u/KEY' }],
};
const unmounted: FakeDriveSpec = { name: 'sdc', serial: 'S2', size: 8e9, table: 'dos', partitions: [{ size: 4e9, fsType: 'vfat' }] };
const internal: FakeDriveSpec = { name: 'sda', serial: 'S3', size: 500e9, removable: false, bus: '', hintSystem: true, table: 'gpt',
  partitions: [{ size: 1e9, fsType: 'vfat', mountPoint: '/boot/efi' }] };

/** A stand-in copy-EFI service: records the target it was given and reports the progress it is told to. */
function copyEfiStub(targets: string[], events: CopyEfiEvent[] = []): CopyEfiService {
  const result = { plan: { files: [{ to: '/EFI/BOOT/BOOTX64.EFI', size: 10 * MB, action: 'add' }], bytes: 10 * MB, requiredBytes: 11 * MB,
    freeBytes: 1e9, conflicts: [], problems: [] }, selection: { files: [], loaderSource: 'the ISO tree', warnings: [] },
  target: { root: '/media/u/KEY', device: '/dev/sdb2', fsType: 'vfat', uuid: null, freeBytes: 1e9 }, written: true, operation: 'op-1' };
  return {
    copy: async (request: CopyEfiRequest, onEvent: (event: CopyEfiEvent) => void) => {
      targets.push(request.target);
      for (const event of events) onEvent(event);
      return result as unknown as CopyEfiResult;
    },
    undo: async (target: string) => {
      targets.push(target);
      return { removed: [], restored: [], kept: [], operations: 1 };
    },
  } as unknown as CopyEfiService;
}

const images = { inspect: async () => { throw new Error('not used'); } } as unknown as ImageService;

test('a drive id resolves to its mounted FAT filesystem, else that partition; refused drives get the policy’s words', async () => {
  const disks = new MemoryDiskProvider([key, unmounted, internal]);
  const targets: string[] = [];
  const dispatcher = new ApiDispatcher({ version: 't', host: 'web', disks, drives: new DriveService(disks), images, copyEfi: copyEfiStub(targets) });
  const [sdb, sdc, sda] = disks.snapshot().drives;
  assert.ok((await dispatcher.call('undoEfi', [sdb!.id])).ok);
  assert.ok((await dispatcher.call('undoEfi', [sdc!.id])).ok);
  assert.deepEqual(targets, ['/media/u/KEY', '/dev/sdc1']);
  const refused = await dispatcher.call('undoEfi', [sda!.id]);
  assert.equal(!refused.ok && refused.error.code, 'TARGET_REFUSED');
  assert.equal(targets.length, 2, 'the service never saw the refused drive');
  const info = await dispatcher.call('getAppInfo', []);
  assert.deepEqual(info.ok && (info.value as { features: unknown }).features, { copyEfi: true, multiIso: false, persistence: false });
  const missing = await dispatcher.call('listIsos', [sdb!.id]);
  assert.equal(!missing.ok && missing.error.code, 'INVALID_ARGUMENT');
});

test('progress events: the job id, rate and time left from durable bytes, at most every 100 ms but always the last', async () => {
  const disks = new MemoryDiskProvider([key]);
  const total = 10 * MB;
  const at = (bytesDone: number): CopyEfiEvent => ({ event: 'progress', phase: 'copy', bytesDone, bytesTotal: total, path: '/EFI/BOOT/BOOTX64.EFI' });
  const times = [1000, 1500, 1550, 2000];
  let clock = 0;
  const observed: string[] = [];
  const dispatcher = new ApiDispatcher({
    version: 't', host: 'web', disks, drives: new DriveService(disks), images,
    copyEfi: copyEfiStub([], [at(2 * MB), at(3 * MB), at(6 * MB), at(total)]),
    now: () => times[clock++] ?? 9999,
    jobs: {
      started: (title) => {
        observed.push(`started ${title}`);
        return (outcome) => observed.push(`${outcome} ${title}`);
      },
      progress: (fraction) => observed.push(`${fraction}`),
    },
  });
  const events: JobProgressDto[] = [];
  dispatcher.subscribe((event, payload) => {
    if (event === 'jobProgress') events.push(payload as JobProgressDto);
  });
  const [sdb] = disks.snapshot().drives;
  const result = await dispatcher.call('copyEfi', [{ driveId: sdb!.id, source: '/var/tmp/x.iso', replace: false, jobId: 'job-7' }]);
  assert.ok(result.ok);
  assert.deepEqual(events.map((e) => [e.jobId, e.bytesDone, e.rate, e.etaSeconds]), [
    ['job-7', 2 * MB, 0, 0], // the first report: nothing measured yet (planning time must not count)
    ['job-7', 3 * MB, 2 * MB, 4], // 1 MB in the 0.5 s since: 2 MB/s, 7 MB left
    // 6 MB at 1.55 s came 50 ms after: dropped
    ['job-7', total, 8 * MB, 0], // the last always goes: 8 MB in 1 s
  ]);
  assert.deepEqual(observed, ['started Making x.iso bootable', '0.2', '0.3', '1', 'done Making x.iso bootable']);
  assert.deepEqual(result.value, {
    plan: { source: '/var/tmp/x.iso', targetRoot: '/media/u/KEY', targetFsType: 'vfat', loaderSource: 'the ISO tree',
      files: [{ path: '/EFI/BOOT/BOOTX64.EFI', size: total, action: 'add' }], bytes: total, requiredBytes: 11 * MB, freeBytes: 1e9,
      conflicts: [], problems: [], warnings: [] },
    operation: 'op-1', verifiedFiles: 1, verifiedBytes: total,
  });
});

test('dropped files: names map into the web host’s one folder only; the desktop app has no such folder', async () => {
  const folder = mkdtempSync(join(tmpdir(), 'bootkey-drop-'));
  try {
    writeFileSync(join(folder, 'a.iso'), 'x');
    mkdirSync(join(folder, 'sub.iso'));
    const disks = new MemoryDiskProvider([]);
    const web = new ApiDispatcher({ version: 't', host: 'web', disks, drives: new DriveService(disks), dropFolder: folder });
    assert.deepEqual(await web.call('droppedFilePaths', [['a.iso']]), { ok: true, value: [join(folder, 'a.iso')] });
    for (const name of ['b.iso', 'sub.iso']) {
      const result = await web.call('droppedFilePaths', [[name]]);
      assert.equal(!result.ok && result.error.code, 'NOT_FOUND', name);
    }
    const escape = await web.call('droppedFilePaths', [['../etc/passwd']]);
    assert.equal(!escape.ok && escape.error.code, 'INVALID_ARGUMENT');
    const desktop = new ApiDispatcher({ version: 't', host: 'electron', disks, drives: new DriveService(disks) });
    const refused = await desktop.call('droppedFilePaths', [['a.iso']]);
    assert.equal(!refused.ok && refused.error.code, 'INVALID_ARGUMENT');
  } finally {
    rmSync(folder, { recursive: true, force: true });
  }
});

test('adding ISOs: progress counts per file, so the rate restarts with each file', async () => {
  const disks = new MemoryDiskProvider([key]);
  const times = [0, 1000, 1000, 3000];
  let clock = 0;
  const multiboot = {
    add: async (_target: string, _files: string[], onProgress: (p: { phase: string; done: number; total: number }) => void) => {
      onProgress({ phase: 'copying a.iso', done: 0, total: 4 * MB });
      onProgress({ phase: 'copying a.iso', done: 4 * MB, total: 4 * MB });
      onProgress({ phase: 'copying b.iso', done: 0, total: 2 * MB });
      onProgress({ phase: 'copying b.iso', done: 2 * MB, total: 2 * MB });
      return { added: ['a.iso', 'b.iso'], menu: { text: '', entries: [], warnings: [] }, warnings: [] };
    },
    list: async () => [],
  } as unknown as MultibootService;
  const dispatcher = new ApiDispatcher({ version: 't', host: 'web', disks, drives: new DriveService(disks), images, multiboot, now: () => times[clock++] ?? 9999 });
  const events: JobProgressDto[] = [];
  dispatcher.subscribe((event, payload) => {
    if (event === 'jobProgress') events.push(payload as JobProgressDto);
  });
  const [sdb] = disks.snapshot().drives;
  const result = await dispatcher.call('addIsos', [{ driveId: sdb!.id, files: ['/v/a.iso', '/v/b.iso'], jobId: 'j' }]);
  assert.deepEqual(result, { ok: true, value: { prepared: true, isos: [] } });
  assert.deepEqual(events.map((e) => [e.file, e.bytesDone, e.rate]), [
    ['a.iso', 0, 0], ['a.iso', 4 * MB, 4 * MB], ['b.iso', 0, 0], ['b.iso', 2 * MB, 1 * MB],
  ]);
});

test('cancelJob aborts the running job’s signal; the call ends with CANCELLED; an ended or unknown job answers false', async () => {
  const disks = new MemoryDiskProvider([key]);
  let started!: () => void;
  const running = new Promise<void>((resolve) => (started = resolve));
  const multiboot = {
    add: (_target: string, _files: string[], _progress: unknown, options: { signal?: AbortSignal }) => new Promise((_resolve, reject) => {
      started();
      options.signal?.addEventListener('abort', () => reject(new BootkeyError('CANCELLED', 'add cancelled: nothing was written')));
    }),
    list: async () => [],
  } as unknown as MultibootService;
  const outcomes: string[] = [];
  let jobsStarted = 0;
  const dispatcher = new ApiDispatcher({ version: 't', host: 'web', disks, drives: new DriveService(disks), images, multiboot,
    jobs: { started: (title) => {
      const n = ++jobsStarted; // both jobs are 'Adding 1 ISO file(s)': each end must reach its own job
      return (outcome) => outcomes.push(`${n} ${title}: ${outcome}`);
    } } });
  const [sdb] = disks.snapshot().drives;
  const call = dispatcher.call('addIsos', [{ driveId: sdb!.id, files: ['/v/big.iso'], jobId: 'big' }]);
  await running;
  const twice = await dispatcher.call('addIsos', [{ driveId: sdb!.id, files: ['/v/other.iso'], jobId: 'big' }]);
  assert.equal(!twice.ok && twice.error.code, 'INVALID_ARGUMENT', 'one job per id');
  assert.deepEqual(await dispatcher.call('cancelJob', ['big']), { ok: true, value: true });
  const result = await call;
  assert.equal(!result.ok && result.error.code, 'CANCELLED');
  assert.deepEqual(outcomes, ['2 Adding 1 ISO file(s): failed', '1 Adding 1 ISO file(s): cancelled'],
    'the refused duplicate failed; the cancelled job is not a failure');
  assert.deepEqual(await dispatcher.call('cancelJob', ['big']), { ok: true, value: false });
});

test('persistence: key paths to the service, usage states as DTOs; the summary lists copy-EFI operations only', async () => {
  const disks = new MemoryDiskProvider([key]);
  const asked: string[] = [];
  const dm = { type: 'dm-snapshot', state: 'overflow', valid: true, chunkSectors: 8, exceptions: 1021, allocatedSectors: 8192, totalSectors: 8192,
    metadataSectors: 16, areas: 2, usedBytes: 4 * MB, capacityBytes: 4 * MB, percentUsed: 100 };
  const ext4 = { type: 'overlayfs-ext4', valid: false, clean: false, blockSize: 4096, blocksCount: 1000, freeBlocks: 250, usedBytes: 3_072_000,
    capacityBytes: 4_096_000, percentUsed: 75, label: 'home', uuid: 'u' };
  const overlay = { name: 'overlay-K-1', path: '/media/u/KEY/LiveOS/overlay-K-1', keyPath: '/LiveOS/overlay-K-1', role: 'overlay', matchesKey: true, usage: dm };
  const home = { name: 'home.img', path: '/media/u/KEY/LiveOS/home.img', keyPath: '/LiveOS/home.img', role: 'home', matchesKey: false, usage: ext4 };
  const persistence = {
    list: async (target: string) => {
      asked.push(`list ${target}`);
      return [{ dir: '/media/u/KEY/LiveOS', kind: 'extracted', squashfs: true, rootfs: false, files: [overlay, home] }];
    },
    reset: async (target: string, _identity: unknown, file: string) => {
      asked.push(`reset ${target} ${file}`);
      return { ...overlay, usage: { ...dm, state: 'new', exceptions: 0 } };
    },
  } as unknown as PersistenceService;
  const manifests = { read: async () => ({ version: 1, operations: [
    { id: 'a', kind: 'copy-efi', source: '/v/x.img', startedAt: 't', state: 'complete', added: [{ path: '/EFI/BOOT/BOOTX64.EFI', size: 10, sha256: 'f' }],
      replaced: [], createdDirectories: [], temporaries: [] },
    { id: 'b', kind: 'persistence', source: '/LiveOS', startedAt: 't', state: 'complete', added: [{ path: '/LiveOS/overlay-K-1', size: 4 * MB, sha256: null }],
      replaced: [], createdDirectories: [], temporaries: [] },
  ] }) } as unknown as ApiServices['manifests'];
  const dispatcher = new ApiDispatcher({ version: 't', host: 'web', disks, drives: new DriveService(disks), persistence, manifests });
  const [sdb] = disks.snapshot().drives;
  const listed = await dispatcher.call('listPersistence', [sdb!.id]);
  assert.ok(listed.ok);
  const [found] = listed.value as LiveInstallationDto[];
  assert.equal(found!.dir, '/LiveOS');
  assert.deepEqual(found!.files.map((f) => [f.keyPath, f.usage?.state, f.usage?.dmStatus ?? null, f.usage?.clean ?? null]), [
    ['/LiveOS/overlay-K-1', 'overflow', '8192/8192 16', null],
    ['/LiveOS/home.img', 'invalid', null, false],
  ]);
  const reset = await dispatcher.call('resetPersistence', [sdb!.id, '/LiveOS/overlay-K-1']);
  assert.equal(reset.ok && (reset.value as { usage: { state: string } }).usage.state, 'new');
  const summary = await dispatcher.call('keySummary', [sdb!.id]);
  assert.ok(summary.ok);
  assert.deepEqual((summary.value as KeySummaryDto).operations.map((o) => [o.kind, o.files]), [['copy-efi', [{ path: '/EFI/BOOT/BOOTX64.EFI', size: 10 }]]]);
  assert.deepEqual(asked, ['list /media/u/KEY', 'reset /media/u/KEY /LiveOS/overlay-K-1', 'list /media/u/KEY']);
  const info = await dispatcher.call('getAppInfo', []);
  assert.equal(info.ok && (info.value as { features: { persistence: boolean } }).features.persistence, true);
});

test('create with a home.img passphrase: its UTF-8 bytes reach the service; one the boot prompt cannot take is refused before the key is opened, and never echoed', async () => {
  const disks = new MemoryDiskProvider([key]);
  const requests: CreateRequest[] = [];
  const persistence = {
    create: async (_target: string, request: CreateRequest) => {
      requests.push(request);
      return [];
    },
  } as unknown as PersistenceService;
  const dispatcher = new ApiDispatcher({ version: 't', host: 'web', disks, drives: new DriveService(disks), persistence });
  const [sdb] = disks.snapshot().drives;
  const create = (homePassphrase: string) =>
    dispatcher.call('createPersistence', [{ driveId: sdb!.id, type: 'overlayfs', size: 1 << 26, homeSize: 1 << 26, homePassphrase }]);
  assert.ok((await create('clé secrète')).ok);
  assert.deepEqual(requests.map((r) => r.homePassphrase && Buffer.from(r.homePassphrase).toString('utf8')), ['clé secrète']);
  for (const [secret, words] of [['short7!', /too short/], ['line\nbreak here', /line break or control character/], ['x'.repeat(513), /too long/]] as const) {
    const refused = await create(secret);
    assert.ok(!refused.ok, secret);
    assert.equal(refused.error.code, 'INVALID_ARGUMENT');
    assert.match(refused.error.message, words);
    assert.ok(!JSON.stringify(refused).includes(secret.slice(0, 6)), 'the passphrase is not in the error');
  }
  assert.equal(requests.length, 1, 'refused passphrases never reach the service');
});

test('merge progress: each step in order with its number, bytes counted within the apply step', async () => {
  const disks = new MemoryDiskProvider([key]);
  const steps: MergeProgress[] = [
    { phase: 'extract', done: 0, total: 0 }, { phase: 'apply', done: 0, total: 8 * MB }, { phase: 'apply', done: 8 * MB, total: 8 * MB },
    ...MERGE_PHASES.slice(2).map((phase) => ({ phase, done: 0, total: 0 })),
  ];
  const persistence = {
    merge: async (_t: string, _w: string, _i: unknown, _f: string, options: { onProgress?: (p: MergeProgress) => void }) => {
      for (const step of steps) options.onProgress?.(step);
      return { exceptions: 2, fsck: { exitCode: 0 }, oldSquashfsBytes: 1, newSquashfsBytes: 1, rootfsSha256: 'f' };
    },
    status: async () => ({ name: 'overlay-K-1', path: '/media/u/KEY/LiveOS/overlay-K-1', keyPath: '/LiveOS/overlay-K-1', role: 'overlay', matchesKey: true, sizeBytes: 8 * MB }),
  } as unknown as PersistenceService;
  let clock = 0;
  const dispatcher = new ApiDispatcher({ version: 't', host: 'web', disks, drives: new DriveService(disks), persistence, now: () => (clock += 10) });
  const events: JobProgressDto[] = [];
  dispatcher.subscribe((name, payload) => {
    if (name === 'jobProgress') events.push(payload as JobProgressDto);
  });
  const [sdb] = disks.snapshot().drives;
  const merged = await dispatcher.call('mergePersistence', [{ driveId: sdb!.id, file: '/LiveOS/overlay-K-1', jobId: 'm-1' }]);
  assert.ok(merged.ok);
  assert.deepEqual(events.map((e) => [e.step?.index, e.step?.count, e.bytesDone, e.bytesTotal]), [
    [1, 7, 0, 0], [2, 7, 0, 8 * MB], [2, 7, 8 * MB, 8 * MB], [3, 7, 0, 0], [4, 7, 0, 0], [5, 7, 0, 0], [6, 7, 0, 0], [7, 7, 0, 0],
  ]);
  assert.deepEqual(new Set(events.map((e) => e.phase)).size, 7, 'each step has its own words');
  assert.match(events[1]!.phase, /Applying/);
  assert.ok(events.every((e) => e.jobId === 'm-1' && e.file === '/LiveOS/overlay-K-1'));
});
