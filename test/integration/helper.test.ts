import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { run } from '../fixtures/command.js';
import { tierSuite } from '../harness/tier.js';
import { runInUml, type UmlResult } from '../harness/uml/index.js';

/**
 * The privileged helper (compiled here with -Wall -Wextra -Werror), its runner adapter and the drives service
 * against hundreds of randomised bad requests in UML, then the one valid request: GRUB's BIOS boot code onto the
 * confirmed key. test/integration/inside/drives-safety.ts does the work inside; this file judges.
 */
tierSuite('uml', 'privileged helper and write safety (UML)', () => {
  let dir: string;
  let uml: UmlResult;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  let r: any;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'bootkey-helper-'));
    const helper = join(dir, 'bootkey-helper');
    await run('cc', ['-O2', '-Wall', '-Wextra', '-Werror', '-o', helper, 'resources/helper/bootkey-helper.c']);
    const disk = join(dir, 'system.img');
    await writeFile(disk, '');
    await truncate(disk, 32 * 1024 * 1024);
    uml = await runInUml({
      command: ['node', '--import', 'tsx', 'test/integration/inside/drives-safety.ts'],
      keys: [{ sizeMb: 64 }, { sizeMb: 64 }, { sizeMb: 64 }],
      disks: [{ file: disk }],
      env: { BOOTKEY_HELPER: helper, ...(process.env.BOOTKEY_SEED ? { BOOTKEY_SEED: process.env.BOOTKEY_SEED } : {}) },
      timeoutMs: 1_000_000,
      outDir: dir, // hostfs-mounted inside, so the helper built here is visible there (UML's /tmp is its own)
    });
    r = JSON.parse(await readFile(join(uml.outDir, 'drives-safety.json'), 'utf8').catch(() => '{}'));
    console.log(`UML boot ${uml.bootMs} ms; seed ${r.seed}; grub-install ${r.install?.installMs} ms`);
  });

  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  test('the run finished', () => {
    assert.equal(r.fatal, undefined, r.fatal);
    assert.equal(uml.exitCode, 0, `${uml.stderr.slice(-3000)}\n${uml.setupError ?? ''}`);
  });

  test('setup: sdb holds /home and sdc is swap, as udisks reports them', () => {
    assert.deepEqual(r.setup.sdbMounts, [['/home']]);
    assert.equal(r.setup.sdcSwap, true);
  });

  test('≥ 200 bad helper requests: every one refused with a named error and exit status', () => {
    const named = { USAGE: 64, REFUSED: 65, CHANGED: 66 } as Record<string, number>;
    assert.ok(r.helperRuns.length >= 200);
    for (const run of r.helperRuns) {
      assert.ok(run.code in named, `${JSON.stringify(run.args)} → ${run.code}`);
      assert.equal(run.status, named[run.code], JSON.stringify(run));
    }
    // the protected disks are refused for what they are, not by luck
    const reasons = (device: string) => new Set(r.helperRuns.filter((x: { args: string[] }) => x.args[1] === device)
      .map((x: { code: string }) => x.code));
    assert.ok(reasons('/dev/sdb').has('REFUSED'));
    assert.ok(reasons('/dev/ubda').has('REFUSED'));
  });

  test('the runner adapter maps the helper\'s refusals to our codes', () => {
    for (const run of r.runnerRuns) {
      assert.ok(['TARGET_REFUSED', 'TARGET_CHANGED', 'INVALID_ARGUMENT'].includes(run.code), JSON.stringify(run));
    }
  });

  test('the drives service refuses wrong, swapped and protected targets before writing', () => {
    assert.ok(r.serviceRuns.length >= 100);
    for (const run of r.serviceRuns) {
      assert.ok(['TARGET_CHANGED', 'TARGET_REFUSED'].includes(run.code), JSON.stringify(run));
    }
  });

  test('0 bytes written: every device hashes the same before and after the bad requests', () => {
    assert.deepEqual(r.hashes.after, r.hashes.before);
  });

  test('the valid request installs GRUB BIOS boot code and core.img, and keeps the partition table', () => {
    const i = r.install;
    assert.deepEqual(i.check.map((e: { event: string }) => e.event), ['checked', 'done']);
    assert.deepEqual(i.install.map((e: { event: string }) => e.event), ['checked', 'running', 'done']);
    assert.equal(i.bootCodeChanged, true);
    assert.equal(i.mbrHasGrub, true);
    assert.equal(i.tableKept, true);
    assert.equal(i.gapWasEmpty, true);
    assert.equal(i.gapUsed, true);
    assert.ok(i.coreImg > 0);
    assert.equal(i.sfdisk.partitiontable.partitions.length, 1);
  });
});
