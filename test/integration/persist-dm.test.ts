import assert from 'node:assert/strict';
import { readFile, rm } from 'node:fs/promises';
import { after, before, test } from 'node:test';
import { fixture } from '../fixtures/index.js';
import { tierSuite } from '../harness/tier.js';
import { runInUml, type UmlResult } from '../harness/uml/index.js';

/**
 * Device-mapper LiveOS overlays made by `bootkey persist create`, used by the real kernel's dm-snapshot the
 * way dracut activates them, and measured offline by `bootkey persist status --file`: the kernel's
 * `dmsetup status` is the judge of every number. test/integration/inside/persist-dm.ts does the work inside.
 */

interface Usage {
  type: string;
  state: string;
  valid: boolean;
  allocatedSectors: number;
  totalSectors: number;
  metadataSectors: number;
  exceptions: number;
  areas: number;
}
interface Step {
  step: string;
  kernel?: string;
  ours?: Usage;
  mounted?: { kernel: string; ours: Usage };
  unmounted?: { kernel: string; ours: Usage };
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  [key: string]: any;
}

/** Our numbers in `dmsetup status` form. */
const asStatus = (u: Usage | undefined) => (u ? `${u.allocatedSectors}/${u.totalSectors} ${u.metadataSectors}` : 'missing');

tierSuite('uml', 'LiveOS dm-snapshot overlays: offline status equals the kernel (UML)', () => {
  let uml: UmlResult;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  let r: any;
  const step = (name: string): Step => {
    const found = (r.steps as Step[]).find((s) => s.step === name);
    assert.ok(found, `step ${name} missing; fatal: ${r.fatal}`);
    return found;
  };

  before(async () => {
    const squashfs = await fixture('liveos-squashfs');
    uml = await runInUml({
      command: ['node', '--import', 'tsx', 'test/integration/inside/persist-dm.ts', squashfs],
      udisks: false,
      timeoutMs: 1_000_000,
    });
    r = JSON.parse(await readFile(`${uml.outDir}/persist-dm.json`, 'utf8').catch(() => '{"steps":[]}'));
  });

  after(async () => {
    if (uml) await rm(uml.outDir, { recursive: true, force: true });
  });

  test('the run finished', () => {
    assert.equal(r.fatal, undefined, r.fatal);
    assert.equal(uml.exitCode, 0, `${uml.stderr.slice(-3000)}\n${uml.setupError ?? ''}`);
  });

  test('a new overlay (zeroed header) reads as the kernel shows it once active', () => {
    const created = step('created').ours;
    assert.equal(created?.state, 'new');
    assert.equal(asStatus(created), step('fresh-active').kernel);
    assert.equal(asStatus(step('fresh-after').ours), step('fresh-active').kernel);
    assert.equal(step('fresh-after').ours?.state, 'valid');
  });

  test('after each session of writes, offline numbers equal dmsetup status (frozen while mounted, and unmounted)', () => {
    for (const session of ['small', 'large']) {
      const s = step(`session-${session}`);
      assert.match(s.unmounted?.kernel ?? '', /^\d+\/\d+ \d+$/);
      assert.equal(asStatus(s.mounted?.ours), s.mounted?.kernel, `${session}, mounted`);
      assert.equal(asStatus(s.unmounted?.ours), s.unmounted?.kernel, `${session}, unmounted`);
      assert.equal(asStatus(step(`session-${session}-removed`).ours), s.unmounted?.kernel, `${session}, removed`);
    }
  });

  test('the second session spans several metadata areas (256 exceptions each for 4 KiB chunks)', () => {
    const large = step('session-large-removed').ours;
    assert.ok((large?.areas ?? 0) >= 3, JSON.stringify(large));
    assert.ok((large?.exceptions ?? 0) > 512, JSON.stringify(large));
  });

  test('what was written comes back through the snapshot byte for byte', () => {
    assert.ok(Object.keys(r.readBack ?? {}).length >= 9);
    for (const [path, same] of Object.entries(r.readBack)) assert.equal(same, true, path);
  });

  test('grow: the kernel sees the larger store with the same exceptions; reset: a new store, the origin as it was', () => {
    const grown = step('grown');
    assert.equal(grown.grow.code, 0, grown.grow.stderr);
    assert.equal(grown.ours?.totalSectors, 40 * 2048);
    assert.equal(grown.ours?.exceptions, step('session-large-removed').ours?.exceptions);
    assert.equal(asStatus(grown.ours), grown.kernel);
    const reset = step('reset');
    assert.equal(reset.reset, 0);
    assert.equal(reset.ours?.state, 'new');
    assert.equal(asStatus(reset.ours), reset.kernel);
    assert.equal(reset.home, '');
  });

  test('past capacity with PO: the kernel says Overflow, we say overflow (still valid); reactivated, the numbers agree', () => {
    const overflow = step('overflow');
    assert.equal(overflow.kernel, 'Overflow');
    assert.notEqual(r.overflowWrite, 0, 'writing past capacity must fail');
    assert.equal(overflow.ours?.state, 'overflow');
    assert.equal(overflow.ours?.valid, true);
    assert.equal(step('overflow-removed').ours?.state, 'overflow');
    const again = step('overflow-reactivated');
    assert.equal(asStatus(again.ours), again.kernel);
  });

  test('past capacity without O: the kernel invalidates the store, we read valid = false', () => {
    const invalid = step('invalid');
    assert.equal(invalid.kernel, 'Invalid');
    assert.equal(invalid.ours?.valid, false);
    assert.equal(invalid.ours?.state, 'invalid');
    assert.equal(step('invalid-reactivated').kernel, 'Invalid');
  });

  test('recover: header saved, valid flag set; the kernel takes the store with our numbers and it mounts', () => {
    const s = step('recovered');
    assert.equal(s.recover.code, 0, s.recover.stderr);
    assert.equal(s.backupBytes, 4096);
    assert.equal(s.recover.json.before.valid, false);
    assert.equal(s.recover.json.after.valid, true);
    assert.match(s.kernel ?? '', /^\d+\/\d+ \d+$/);
    assert.equal(asStatus(s.ours), s.kernel);
    assert.ok(s.fsck.code < 8, `e2fsck could not run: ${s.fsck.out}`);
    // Our offline check (e2fsck -f -n on a scratch copy of what the overlay shows) agrees with e2fsck -f -n on the kernel's snapshot.
    const check = s.recover.json.overlayCheck;
    assert.equal(check?.check?.exitCode, s.fsck.code, JSON.stringify(check));
    assert.equal(check.verdict === 'clean', s.fsck.code === 0, JSON.stringify(check));
    assert.equal(s.mount, 0);
    assert.match(s.etc, /os-release/);
  });
});
