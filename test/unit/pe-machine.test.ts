import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { peMachine, PE_HEADER_PROBE } from '../../main/core/pe/pe-machine.js';
import { tierSuite } from '../harness/tier.js';

function pe(machine: number): Uint8Array {
  const at = 0x80;
  const bytes = new Uint8Array(512);
  const view = new DataView(bytes.buffer);
  bytes.set([0x4d, 0x5a]);
  view.setUint32(0x3c, at, true);
  view.setUint32(at, 0x50450000, false);
  view.setUint16(at + 4, machine, true);
  return bytes;
}

test('the COFF machine field names the UEFI architecture', () => {
  assert.equal(peMachine(pe(0x8664)), 'x64');
  assert.equal(peMachine(pe(0x014c)), 'ia32');
  assert.equal(peMachine(pe(0xaa64)), 'aa64');
});

test('not PE, truncated, or an unknown machine gives undefined, never an exception', () => {
  assert.equal(peMachine(new Uint8Array(10)), undefined);
  const pointsOutside = pe(0x8664);
  new DataView(pointsOutside.buffer).setUint32(0x3c, 0x7fff_fff0, true);
  assert.equal(peMachine(pointsOutside), undefined);
  assert.equal(peMachine(pe(0x1234)), undefined);
  const wrongSignature = pe(0x8664);
  wrongSignature[0x81] = 0;
  assert.equal(peMachine(wrongSignature), undefined);
});

tierSuite('qemu', 'a real EFI image', () => {
  test('an image grub-mkimage builds for x86_64-efi reads as x64', () => {
    const dir = mkdtempSync(join(tmpdir(), 'bootkey-pe-'));
    try {
      const image = join(dir, 'grubx64.efi');
      execFileSync('grub-mkimage', ['-O', 'x86_64-efi', '-p', '/boot/grub', '-o', image, 'normal']);
      assert.equal(peMachine(readFileSync(image).subarray(0, PE_HEADER_PROBE)), 'x64');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
