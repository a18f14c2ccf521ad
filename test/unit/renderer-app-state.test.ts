import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { DriveDto } from '../../preload/contract.js';
import { initialState, reduce, selectedDrive } from '../../renderer/app-state.js';
import { segments } from '../../renderer/PartitionBar.js';

const MiB = 1024 * 1024;

function drive(id: string, extra: Partial<DriveDto> = {}): DriveDto {
  return {
    id, kind: 'disk', device: `/dev/${id}`, deviceNumber: 1, vendor: 'V', model: id, serial: 's', size: 100 * MiB,
    connection: 'usb', partitionTable: 'mbr', partitions: [], eligible: true, refusals: [], warnings: [], ...extra,
  };
}

test('a removed selected drive clears the selection and the open dialog, and says so', () => {
  let state = reduce(initialState, { type: 'drives', drives: [drive('sdb'), drive('sdc')] });
  state = reduce(state, { type: 'select', id: 'sdc' });
  state = reduce(state, { type: 'askErase', label: 'KEY' });
  assert.equal(state.confirming?.drive.id, 'sdc');
  state = reduce(state, { type: 'drives', drives: [drive('sdb')] });
  assert.equal(state.selectedId, null);
  assert.equal(state.confirming, null);
  assert.deepEqual(state.notice, { kind: 'info', text: 'V sdc was removed.' });
});

test('a list update keeps the selection when the drive is still there', () => {
  let state = reduce(initialState, { type: 'drives', drives: [drive('sdb')] });
  state = reduce(state, { type: 'select', id: 'sdb' });
  state = reduce(state, { type: 'drives', drives: [drive('sdb', { size: 200 * MiB })] });
  assert.equal(selectedDrive(state)?.size, 200 * MiB);
});

test('the dialog asks about the drive as it was when opened; cancel and failure leave no dialog', () => {
  let state = reduce(initialState, { type: 'drives', drives: [drive('sdb')] });
  state = reduce(reduce(state, { type: 'select', id: 'sdb' }), { type: 'askErase', label: 'A' });
  assert.equal(reduce(state, { type: 'cancelErase' }).confirming, null);
  state = reduce(state, { type: 'eraseStarted' });
  assert.equal(state.busy, true);
  state = reduce(state, { type: 'failed', error: { code: 'DRIVE_BUSY', message: 'busy' } });
  assert.equal(state.busy, false);
  assert.equal(state.notice?.kind, 'error');
});

test('partition bar segments: partitions in disk order, gaps over 1 MiB shown, alignment gaps hidden', () => {
  const part = (number: number, offset: number, size: number) =>
    ({ number, device: `/dev/sdb${number}`, offset, size, fsType: 'vfat', label: null, used: null, mountPoint: null });
  const d = drive('sdb', { partitions: [part(1, MiB, 10 * MiB), part(2, 20 * MiB, 10 * MiB)] });
  assert.deepEqual(
    segments(d).map((s) => (s.kind === 'free' ? `free ${s.size / MiB}` : `p${s.partition.number}`)),
    ['p1', 'free 9', 'p2', 'free 70'],
  );
});
