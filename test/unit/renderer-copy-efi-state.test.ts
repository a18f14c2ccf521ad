import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { CopyEfiPlanDto, ImageInfoDto, JobProgressDto } from '../../preload/contract.js';
import { initialCopyEfiState, isBusy, reduceCopyEfi, type CopyEfiState } from '../../renderer/copy-efi-state.js';

const image: ImageInfoDto = { path: '/v/a.iso', name: 'a.iso', size: 1e6, format: 'iso9660', label: 'A', family: 'debian-installer', bios: true, uefi: true, warnings: [] };
const plan: CopyEfiPlanDto = { source: '/v/a.iso', targetRoot: '/media/u/K', targetFsType: 'vfat', loaderSource: 'the ISO tree', files: [],
  bytes: 0, requiredBytes: 0, freeBytes: 1e9, conflicts: [], problems: [], warnings: [] };
const progress = (jobId: string, bytesDone: number): JobProgressDto =>
  ({ jobId, phase: 'Copying UEFI boot files', file: '/EFI/BOOT/BOOTX64.EFI', bytesDone, bytesTotal: 100, rate: 10, etaSeconds: 1 });

test('copy-EFI panel: only the running job’s progress moves the bar; a failure returns to the chooser with the error', () => {
  let state: CopyEfiState = reduceCopyEfi(initialCopyEfiState, { type: 'planned', image, plan, replace: false });
  assert.equal(reduceCopyEfi(state, { type: 'progress', progress: progress('job-1', 5) }), state, 'no job runs yet');
  state = reduceCopyEfi(state, { type: 'running', image, jobId: 'job-1' });
  assert.equal(isBusy(state), true);
  state = reduceCopyEfi(state, { type: 'progress', progress: progress('job-1', 40) });
  state = reduceCopyEfi(state, { type: 'progress', progress: progress('other', 90) });
  assert.equal(state.step.kind === 'running' && state.step.progress?.bytesDone, 40);
  assert.equal(reduceCopyEfi(state, { type: 'cancel' }), state, 'a running copy is not dropped from view');
  state = reduceCopyEfi(state, { type: 'failed', error: { code: 'DEVICE_GONE', message: 'pulled' } });
  assert.deepEqual(state, { step: { kind: 'idle' }, error: { code: 'DEVICE_GONE', message: 'pulled' } });
  state = reduceCopyEfi(state, { type: 'working', what: 'Looking inside b.iso…' });
  assert.equal(state.error, null, 'a new attempt clears the old error');
});
