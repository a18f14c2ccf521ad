// planGrubInstall on exFAT: BIOS GRUB reads exFAT itself, but UEFI firmware reads only FAT (test/boot/multiboot.test.ts
// shows OVMF finding no filesystem on the exFAT key), so the plan says so in a warning.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { planGrubInstall, type KeyLayoutInput } from '../../main/core/multiboot/key-layout.js';

const key = (fsType: string): KeyLayoutInput => ({
  partitionTable: 'dos', filesystemDevice: '/dev/sdb1', filesystemType: fsType,
  partitions: [{ number: 1, offset: 1 << 20, type: fsType === 'exfat' ? '0x07' : '0x0c', idType: fsType, device: '/dev/sdb1' }],
});

test('an exFAT key gets BIOS GRUB and a warning that UEFI firmware will not read it; a FAT key no warning', () => {
  const exfat = planGrubInstall(key('exfat'));
  assert.equal(exfat.bios, true);
  assert.equal(exfat.uefi, false, 'UEFI firmware is not expected to start it');
  assert.equal(planGrubInstall(key('vfat')).uefi, true);
  assert.equal(exfat.warnings.filter((w) => /UEFI firmware reads only FAT/.test(w)).length, 1);
  assert.deepEqual(planGrubInstall(key('vfat')).warnings, []);
  // The warning comes along with the layout's own (here: GPT, so no BIOS).
  const gpt = planGrubInstall({ ...key('exfat'), partitionTable: 'gpt' });
  assert.equal(gpt.bios, false);
  assert.equal(gpt.warnings.length, 2);
});
