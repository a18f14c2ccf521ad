import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { assessDrive, formatBytes, LARGE_DRIVE_BYTES } from '../../main/core/drive-policy.js';
import { confirmIdentity, identityOf } from '../../main/core/drive-identity.js';
import { BootkeyError } from '../../main/core/errors.js';
import type { Drive, Volume } from '../../main/ports/disk-provider.js';

function volume(device: string, over: Partial<Volume> = {}): Volume {
  return {
    objectPath: `/org/freedesktop/UDisks2/block_devices/${device}`, device: `/dev/${device}`, deviceNumber: 2048,
    size: 8e9, readOnly: false, hintSystem: false, idUsage: '', idType: '', idVersion: '', idLabel: '', idUuid: '',
    mountPoints: [], swapActive: false, ...over,
  };
}

function key(over: Partial<Drive> = {}, partitions: Volume[] = []): Drive {
  return {
    id: '/org/freedesktop/UDisks2/drives/Key', kind: 'disk', vendor: 'SanDisk', model: 'Cruzer', serial: 'S1',
    size: 8e9, removable: true, mediaRemovable: true, connectionBus: 'usb', canPowerOff: true, ejectable: true,
    disk: volume('sdb', { deviceNumber: 2064 }), partitions, ...over,
  };
}

describe('drive policy', () => {
  test('a USB key is eligible with no reasons', () => {
    const verdict = assessDrive(key());
    assert.equal(verdict.eligible, true);
    assert.deepEqual(verdict.reasons, []);
  });

  test('a USB disk without removable flags is eligible by its bus; an internal disk is refused', () => {
    assert.equal(assessDrive(key({ removable: false, mediaRemovable: false })).eligible, true);
    assert.equal(assessDrive(key({ removable: false, mediaRemovable: false, connectionBus: 'mmc' })).eligible, true);
    const internal = assessDrive(key({ removable: false, mediaRemovable: false, connectionBus: '' }));
    assert.equal(internal.eligible, false);
    assert.match(internal.reasons.join(), /internal disk/);
  });

  test('every refusal reason is reported, in words', () => {
    const verdict = assessDrive(
      key({ disk: volume('sdb', { hintSystem: true, readOnly: true }) }, [
        volume('sdb1', { mountPoints: ['/boot/efi'], deviceNumber: 2065 }),
        volume('sdb2', { mountPoints: ['/'], deviceNumber: 2066 }),
        volume('sdb3', { swapActive: true }),
      ]),
      { sourceDeviceNumbers: [2066], requiredBytes: 16e9 },
    );
    assert.equal(verdict.eligible, false);
    assert.deepEqual(verdict.reasons, [
      'the system marks it as a system disk',
      'it is read-only (check its write-protect switch)',
      'it holds the running system (mounted at /boot/efi, /)',
      'it holds active swap space',
      'it holds the image you are copying from',
      'it is too small (8.0 GB; 16 GB needed)',
    ]);
  });

  for (const mount of ['/', '/boot', '/boot/efi', '/home']) {
    test(`a mounted ${mount} refuses the drive; a mount under /media does not`, () => {
      assert.equal(assessDrive(key({}, [volume('sdb1', { mountPoints: [mount] })])).eligible, false);
      assert.equal(assessDrive(key({}, [volume('sdb1', { mountPoints: [`/media/u/KEY${mount}`] })])).eligible, true);
    });
  }

  test('a drive larger than 128 GB is allowed with a warning', () => {
    const verdict = assessDrive(key({ size: LARGE_DRIVE_BYTES + 1 }));
    assert.equal(verdict.eligible, true);
    assert.equal(verdict.warnings.length, 1);
    assert.equal(assessDrive(key({ size: LARGE_DRIVE_BYTES })).warnings.length, 0);
  });

  test('a loop device is a target only when Bootkey attached it', () => {
    const loop = key({ id: '/org/freedesktop/UDisks2/block_devices/loop0', kind: 'loop', removable: false,
      mediaRemovable: false, connectionBus: '', disk: volume('loop0') });
    assert.match(assessDrive(loop).reasons.join(), /Bootkey did not attach/);
    assert.equal(assessDrive(loop, { attachedByBootkey: [loop.id] }).eligible, true);
  });

  test('an empty card reader is refused', () => {
    assert.match(assessDrive(key({ size: 0 })).reasons.join(), /no medium/);
  });

  test('formatBytes uses decimal units', () => {
    assert.equal(formatBytes(999), '999 B');
    assert.equal(formatBytes(8e9), '8.0 GB');
    assert.equal(formatBytes(128e9), '128 GB');
  });
});

describe('drive identity', () => {
  const confirmed = identityOf(key());

  test('the same drive passes', () => {
    assert.equal(confirmIdentity(confirmed, { drives: [key()] }).id, key().id);
  });

  for (const [what, drive] of [
    ['serial', key({ serial: 'OTHER' })],
    ['size', key({ size: 16e9 })],
    ['deviceNumber', key({ disk: volume('sdb', { deviceNumber: 2080 }) })],
  ] as const) {
    test(`a different ${what} behind the same name is TARGET_CHANGED`, () => {
      assert.throws(() => confirmIdentity(confirmed, { drives: [drive] }),
        (e: unknown) => e instanceof BootkeyError && e.code === 'TARGET_CHANGED' &&
          (e.details?.changed as string[]).includes(what));
    });
  }

  test('a drive that is gone is TARGET_CHANGED', () => {
    assert.throws(() => confirmIdentity(confirmed, { drives: [] }),
      (e: unknown) => e instanceof BootkeyError && e.code === 'TARGET_CHANGED');
  });
});
