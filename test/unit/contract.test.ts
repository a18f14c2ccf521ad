import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ERROR_CODES as CORE_CODES } from '../../main/core/errors.js';
import { BootkeyError } from '../../main/core/errors.js';
import { ApiDispatcher } from '../../main/ipc/api-dispatcher.js';
import { DriveService } from '../../main/services/drives.js';
import {
  apiOver,
  ERROR_CODES,
  METHOD_NAMES,
  parseWireCall,
  VALIDATE_ARGS,
  type ApiResult,
  type MethodName,
} from '../../preload/contract.js';
import { MemoryDiskProvider, type FakeDriveSpec } from '../harness/memory-disk-provider.js';

const key: FakeDriveSpec = { name: 'sdb', vendor: 'SanDisk', model: 'Cruzer', serial: 'S1', size: 16e9, table: 'dos', partitions: [{ size: 8e9, fsType: 'vfat' }] };

function dispatcherOver(disks: MemoryDiskProvider): ApiDispatcher {
  return new ApiDispatcher({ version: '1.2.3', host: 'web', disks, drives: new DriveService(disks) });
}

test('main/core and the contract share one error code list', () => {
  assert.equal(CORE_CODES, ERROR_CODES);
});

test('every method has a validator and a channel name; names from the prototype are not methods', () => {
  assert.deepEqual([...METHOD_NAMES].sort(), [
    'addIsos', 'cancelJob', 'copyEfi', 'createPersistence', 'deletePersistence', 'droppedFilePaths', 'eraseDrive', 'getAppInfo', 'getDrive', 'growPersistence',
    'inspectImage', 'keySummary', 'listDrives', 'listIsos', 'listPersistence', 'mergePersistence', 'persistenceStatus', 'planCopyEfi',
    'prepareMultiIso', 'recoverPersistence', 'removeIsos', 'resetPersistence', 'setIsoMenu', 'undoEfi',
  ]);
  for (const name of ['constructor', '__proto__', 'toString', 'hasOwnProperty', 'on', 'pathForFile']) {
    assert.equal(typeof parseWireCall(JSON.stringify({ id: 1, method: name, args: [] })), 'string', name);
  }
});

test('validators accept good arguments and say what is wrong with bad ones', () => {
  const confirmed = { device: '/dev/sdb', serial: 'S1', size: 16e9, deviceNumber: 2048 };
  const cases: [MethodName, unknown[], RegExp | undefined][] = [
    ['listDrives', [], undefined],
    ['listDrives', [1], /no arguments/],
    ['getDrive', ['/org/x'], undefined],
    ['getDrive', [], /1 argument/],
    ['getDrive', [''], /non-empty string/],
    ['getDrive', [{}], /non-empty string/],
    ['eraseDrive', [{ driveId: 'd', confirmed, label: 'BOOTKEY' }], undefined],
    ['eraseDrive', [{ driveId: 'd', confirmed, label: 'bootkey' }], /label/],
    ['eraseDrive', [{ driveId: 'd', confirmed, label: 'TWELVE_CHARS' }], /label/],
    ['eraseDrive', [{ driveId: 'd', confirmed: { ...confirmed, device: 'sdb' }, label: 'A' }], /\/dev path/],
    ['eraseDrive', [{ driveId: 'd', confirmed: { ...confirmed, size: -1 }, label: 'A' }], /integers/],
    ['eraseDrive', [{ driveId: 'd', label: 'A' }], /confirmed/],
    ['eraseDrive', [null], /object/],
    ['inspectImage', ['/var/tmp/a.iso'], undefined],
    ['inspectImage', ['a.iso'], /absolute path/],
    ['inspectImage', ['/tmp/../etc/shadow'], /\.\. segments/],
    ['inspectImage', ['/tmp/a\0b'], /NUL/],
    ['inspectImage', [['/tmp/a.iso']], /absolute path/],
    ['copyEfi', [{ driveId: 'd', source: '/x.img', replace: false, jobId: 'job-1' }], undefined],
    ['planCopyEfi', [{ driveId: 'd', source: '/x.img', replace: 'yes', jobId: 'job-1' }], /replace/],
    ['copyEfi', [{ driveId: 'd', source: 'x.img', replace: false, jobId: 'job-1' }], /source must be an absolute path/],
    ['copyEfi', [{ driveId: 'd', source: '/x.img', replace: false, jobId: 'job 1; rm -rf /' }], /job id/],
    ['undoEfi', ['d'], undefined],
    ['addIsos', [{ driveId: 'd', files: ['/a.iso', '/b.iso'], jobId: 'j' }], undefined],
    ['addIsos', [{ driveId: 'd', files: [], jobId: 'j' }], /1 to 64/],
    ['addIsos', [{ driveId: 'd', files: ['-rf'], jobId: 'j' }], /absolute path/],
    ['removeIsos', ['d', ['a.iso']], undefined],
    ['removeIsos', ['d', ['../a.iso']], /must not contain/],
    ['removeIsos', ['d'], /2 argument/],
    ['setIsoMenu', ['d', { timeoutSeconds: 5, defaultName: 'a.iso', titles: { 'a.iso': 'Debian' } }], undefined],
    ['setIsoMenu', ['d', { timeoutSeconds: 1.5 }], /timeoutSeconds/],
    ['setIsoMenu', ['d', { titles: { 'a.iso': 'x\ny' } }], /control characters/],
    ['setIsoMenu', ['d', { theme: 'dark' }], /unknown menu setting/],
    ['setIsoMenu', ['d', { order: ['b.iso', 'a.iso'] }], undefined],
    ['setIsoMenu', ['d', { order: ['../etc/passwd'] }], /order/],
    ['setIsoMenu', ['d', { order: 'a.iso' }], /order/],
    ['droppedFilePaths', [['a.iso']], undefined],
    ['droppedFilePaths', [['/etc/passwd']], /must not contain/],
    ['prepareMultiIso', ['d'], undefined],
    ['prepareMultiIso', ['d', 'job-2'], undefined],
    ['prepareMultiIso', ['d', 'job 2'], /job id/],
    ['prepareMultiIso', ['d', 'j', 'x'], /1 or 2 arguments/],
    ['cancelJob', ['job-2'], undefined],
    ['cancelJob', [''], /job id/],
    ['keySummary', ['d'], undefined],
    ['listPersistence', ['d'], undefined],
    ['persistenceStatus', ['d', '/LiveOS/overlay-A-1'], undefined],
    ['persistenceStatus', ['d', 'overlay-A-1'], /key path must be an absolute path/],
    ['resetPersistence', ['d', '/LiveOS/../etc/passwd'], /\.\. segments/],
    ['recoverPersistence', ['d'], /2 argument/],
    ['deletePersistence', ['d', ['/LiveOS/home.img', '/isos/overlay-F-1']], undefined],
    ['deletePersistence', ['d', []], /1 to 16/],
    ['deletePersistence', ['d', ['home.img']], /key path/],
    ['growPersistence', ['d', '/LiveOS/home.img', 512 * 1024 * 1024], undefined],
    ['growPersistence', ['d', '/LiveOS/home.img', -1], /size must be a whole number/],
    ['growPersistence', ['d', '/LiveOS/home.img', 1.5], /size must be a whole number/],
    ['createPersistence', [{ driveId: 'd', type: 'overlayfs', size: 1 << 30, homeSize: 1 << 29 }], undefined],
    ['createPersistence', [{ driveId: 'd', type: 'dm', size: 1 << 30, image: 'Fedora.iso' }], undefined],
    ['createPersistence', [{ driveId: 'd', type: 'btrfs', size: 1 << 30 }], /type must be dm or overlayfs/],
    ['createPersistence', [{ driveId: 'd', type: 'dm', size: 2 ** 41 }], /size must be/],
    ['createPersistence', [{ driveId: 'd', type: 'dm', size: 1 << 30, homeSize: 0 }], /homeSize must be/],
    ['createPersistence', [{ driveId: 'd', type: 'dm', size: 1 << 30, image: '../x.iso' }], /must not contain/],
    ['createPersistence', [{ driveId: 'd', type: 'dm', size: 1 << 30, homeSize: 1 << 29, homePassphrase: 'correct horse' }], undefined],
    ['createPersistence', [{ driveId: 'd', type: 'dm', size: 1 << 30, homeSize: 1 << 29, homePassphrase: [1, 2] }], /homePassphrase must be a string/],
    ['createPersistence', [{ driveId: 'd', type: 'dm', size: 1 << 30, homeSize: 1 << 29, homePassphrase: 'x'.repeat(4097) }], /at most 4096/],
    ['createPersistence', [{ driveId: 'd', type: 'dm', size: 1 << 30, homePassphrase: 'correct horse' }], /give homeSize too/],
    ['createPersistence', [{ driveId: 'd', type: 'dm', size: 1 << 30, passphrase: 'x' }], /unknown field passphrase/],
    ['mergePersistence', [{ driveId: 'd', file: '/LiveOS/overlay-A-1', jobId: 'm-1' }], undefined],
    ['mergePersistence', [{ driveId: 'd', file: '/LiveOS/overlay-A-1' }], /job id/],
  ];
  for (const [method, args, problem] of cases) {
    const result = VALIDATE_ARGS[method](args);
    if (problem) assert.match(result ?? '', problem, `${method} ${JSON.stringify(args)}`);
    else assert.equal(result, undefined, `${method} ${JSON.stringify(args)}`);
  }
});

test('parseWireCall checks the envelope', () => {
  assert.deepEqual(parseWireCall('{"id":3,"method":"listDrives","args":[]}'), { id: 3, method: 'listDrives', args: [] });
  assert.equal(parseWireCall('not json'), 'not JSON');
  assert.match(String(parseWireCall('{"id":"3","method":"listDrives","args":[]}')), /id/);
  assert.match(String(parseWireCall('{"id":3,"method":"listDrives","args":{}}')), /args/);
});

test('apiOver forwards each method by name and only known events', async () => {
  const calls: [string, unknown[]][] = [];
  const api = apiOver({
    call: async (method, args) => {
      calls.push([method, args]);
      return { ok: true, value: null };
    },
    subscribe: () => () => undefined,
  });
  await api.getDrive('x');
  await api.listDrives();
  assert.deepEqual(calls, [['getDrive', ['x']], ['listDrives', []]]);
  assert.throws(() => api.on('nope' as 'drivesChanged', () => undefined), /unknown event/);
});

test('the dispatcher answers bad calls with INVALID_ARGUMENT and runs nothing', async () => {
  const disks = new MemoryDiskProvider([key]);
  const dispatcher = dispatcherOver(disks);
  const expectInvalid = (result: ApiResult<unknown>) => assert.equal(!result.ok && result.error.code, 'INVALID_ARGUMENT');
  expectInvalid(await dispatcher.call('getDrive', [42]));
  expectInvalid(await dispatcher.call('eraseDrive', [{ driveId: 'x' }]));
  expectInvalid(await dispatcher.call('dropTables', []));
  expectInvalid(await dispatcher.call('listDrives', 'not an array'));
  assert.deepEqual(disks.writes, []);
});

test('the dispatcher maps drives to DTOs and errors to envelopes', async () => {
  const disks = new MemoryDiskProvider([key]);
  const dispatcher = dispatcherOver(disks);
  const listed = await dispatcher.call('listDrives', []);
  assert.ok(listed.ok);
  const [drive] = listed.value as { id: string; device: string; partitionTable: string; eligible: boolean }[];
  assert.equal(drive?.device, '/dev/sdb');
  assert.equal(drive?.partitionTable, 'mbr');
  assert.equal(drive?.eligible, true);
  const gone = await dispatcher.call('getDrive', ['/no/such/drive']);
  assert.deepEqual(gone, { ok: false, error: { code: 'DEVICE_GONE', message: 'That drive is no longer connected.', details: { id: '/no/such/drive' } } });
  const info = await dispatcher.call('getAppInfo', []);
  assert.deepEqual(info, { ok: true, value: { version: '1.2.3', host: 'web', features: { copyEfi: false, multiIso: false, persistence: false } } });
});

test('erase refuses a confirmation that names another drive, and writes nothing', async () => {
  const disks = new MemoryDiskProvider([key, { ...key, name: 'sdc', serial: 'S2' }]);
  const dispatcher = dispatcherOver(disks);
  const [sdb, sdc] = disks.snapshot().drives;
  const confirmed = { device: sdc!.disk.device, serial: sdc!.serial, size: sdc!.size, deviceNumber: sdc!.disk.deviceNumber };
  const mixed = await dispatcher.call('eraseDrive', [{ driveId: sdb!.id, confirmed, label: 'X' }]);
  assert.equal(!mixed.ok && mixed.error.code, 'TARGET_CHANGED');
  const stale = await dispatcher.call('eraseDrive', [{ driveId: sdc!.id, confirmed: { ...confirmed, serial: 'OTHER' }, label: 'X' }]);
  assert.equal(!stale.ok && stale.error.code, 'TARGET_CHANGED');
  assert.deepEqual(disks.writes, []);
});

test('unexpected exceptions become INTERNAL; BootkeyError details keep only plain values', async () => {
  const disks = new MemoryDiskProvider([key]);
  const drives = new DriveService(disks);
  drives.list = async () => {
    throw new BootkeyError('IO_ERROR', 'read failed', { device: '/dev/sdb', nested: { no: 1 } });
  };
  const failing = new ApiDispatcher({ version: '1', host: 'web', disks, drives });
  assert.deepEqual(await failing.call('listDrives', []), {
    ok: false,
    error: { code: 'IO_ERROR', message: 'read failed', details: { device: '/dev/sdb' } },
  });
  drives.list = async () => {
    throw new TypeError('boom');
  };
  const internal = await failing.call('listDrives', []);
  assert.equal(!internal.ok && internal.error.code, 'INTERNAL');
});
