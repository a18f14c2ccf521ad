import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { run } from '../fixtures/command.js';
import { tierSuite } from '../harness/tier.js';
import { runInUml, type UmlResult } from '../harness/uml/index.js';

/**
 * The helper's read-only `dm-status NAME` verb (compiled here with -Wall -Wextra -Werror) in UML with real
 * device-mapper devices: live-/bootkey- devices report exactly `dmsetup status`; 300 random bad requests are
 * refused with a named code and exit status and report no status. test/integration/inside/helper-dm-status.ts.
 */
tierSuite('uml', 'privileged helper dm-status (UML, real device-mapper)', () => {
  let dir: string;
  let uml: UmlResult;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  let r: any;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'bootkey-helper-dm-'));
    const helper = join(dir, 'bootkey-helper');
    await run('cc', ['-O2', '-Wall', '-Wextra', '-Werror', '-o', helper, 'resources/helper/bootkey-helper.c']);
    uml = await runInUml({
      command: ['node', '--import', 'tsx', 'test/integration/inside/helper-dm-status.ts'],
      udisks: false,
      env: { BOOTKEY_HELPER: helper, ...(process.env.BOOTKEY_SEED ? { BOOTKEY_SEED: process.env.BOOTKEY_SEED } : {}) },
      timeoutMs: 800_000,
      outDir: dir, // hostfs-mounted inside, so the helper built here is visible there
    });
    r = JSON.parse(await readFile(join(uml.outDir, 'helper-dm-status.json'), 'utf8').catch(() => '{}'));
  });

  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  test('the run finished', () => {
    assert.equal(r.fatal, undefined, r.fatal);
    assert.equal(uml.exitCode, 0, `${uml.stderr.slice(-3000)}\n${uml.setupError ?? ''}`);
  });

  test('live-rw and bootkey-probe: the helper reports exactly what dmsetup status prints', () => {
    for (const v of r.valid) {
      assert.equal(v.helper.status, 0, JSON.stringify(v));
      const event = v.helper.events.find((e: { event: string }) => e.event === 'dm-status');
      assert.equal(event?.status, v.kernel, v.name);
      assert.match(event.status, /^0 \d+ zero$/);
    }
    assert.equal(r.runner.find((e: { event: string }) => e.event === 'dm-status')?.status, r.valid[0].kernel);
    assert.equal(r.runnerBad, 'INVALID_ARGUMENT');
  });

  test(`300 random bad requests: each refused with a named code and status, none reports a status (seed in report)`, () => {
    const named = { USAGE: 64, REFUSED: 65 } as Record<string, number>;
    assert.equal(r.bad.length, 300);
    for (const b of r.bad) {
      const error = b.events.find((e: { event: string }) => e.event === 'error');
      assert.ok(error && error.code in named, `seed ${r.seed}: ${JSON.stringify(b)}`);
      assert.equal(b.status, named[error.code], JSON.stringify(b));
      assert.equal(b.events.some((e: { event: string }) => e.event === 'dm-status'), false, JSON.stringify(b));
    }
    // Both kinds occur: malformed names and well-formed live- names with no such device.
    assert.ok(r.bad.some((b: { status: number }) => b.status === 64));
    assert.ok(r.bad.some((b: { status: number }) => b.status === 65));
  });

  test('read only: the devices and their tables are as they were', () => {
    assert.deepEqual(r.tablesAfter, ['bootkey-probe: 0 4096 zero', 'live-rw: 0 2048 zero', 'other-dev: 0 1024 zero']);
  });
});
