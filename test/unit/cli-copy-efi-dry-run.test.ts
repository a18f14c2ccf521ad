// `bootkey copy-efi --dry-run` on a folder key: the plan on stdout (every file with its action and size; the
// files are those mtools lists in the image's ESP), nothing written; with a conflict it says so, refuses, exits 2.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { fixture, MEMTEST_USB } from '../fixtures/index.js';
import { bootkeyInProcess as bootkey } from '../harness/cli-in-process.js';
import { tierSuite } from '../harness/tier.js';
import { snapshotDirectory, withTempDir } from '../harness/tree-snapshot.js';

/** The files of the image's EFI partition as mtools lists them, upper-cased: '/EFI/BOOT/BOOTX64.EFI'. */
function espFiles(image: string, offset: number): string[] {
  const listing = execFileSync('mdir', ['-i', `${image}@@${offset}`, '-/', '-b', '::/'], { encoding: 'utf8' });
  return listing.split('\n').map((l) => l.trim()).filter((l) => l && !l.endsWith('/')).map((l) => l.replace(/^::/, '').toUpperCase());
}

tierSuite('tools', 'bootkey copy-efi --dry-run', () => {
  test('the plan on stdout lists what the image’s ESP holds; the key is untouched', async () => {
    const image = await fixture('memtest-usb-img');
    await withTempDir(async (key) => {
      mkdirSync(join(key, 'Documents'));
      writeFileSync(join(key, 'Documents', 'notes.txt'), 'mine\n');
      const before = await snapshotDirectory(key, true);
      const { code, stdout, stderr } = await bootkey('copy-efi', image, '--to', key, '--dry-run');
      assert.equal(code, 0, stderr);
      assert.match(stdout, new RegExp(`^Target: ${key}, `));
      const listed = [...stdout.matchAll(/^ {2}add +(\S+) {2}\d/gm)].map((m) => m[1]!.toUpperCase());
      const esp = espFiles(image, MEMTEST_USB.espOffset);
      assert.ok(esp.length > 0);
      assert.deepEqual(listed.sort(), esp.sort());
      assert.match(stderr, /dry run: nothing was written/);
      assert.deepEqual(await snapshotDirectory(key, true), before);
    });
  });

  test('a loader of the user’s own: the plan shows the conflict, refuses, exits 2, writes nothing; --json says the same', async () => {
    const image = await fixture('memtest-usb-img');
    await withTempDir(async (key) => {
      mkdirSync(join(key, 'EFI', 'BOOT'), { recursive: true });
      writeFileSync(join(key, 'EFI', 'BOOT', 'BOOTX64.EFI'), 'the user’s own loader\n');
      const before = await snapshotDirectory(key, true);
      const text = await bootkey('copy-efi', image, '--to', key, '--dry-run');
      assert.equal(text.code, 2, text.stderr);
      assert.match(text.stdout, /conflict: \/EFI\/BOOT\/BOOTX64\.EFI is yours/i);
      assert.match(text.stdout, /refused: /);
      assert.match(text.stderr, /would be refused/);
      const json = await bootkey('copy-efi', image, '--to', key, '--dry-run', '--json');
      assert.equal(json.code, 2);
      const events = json.stdout.trim().split('\n').map((l) => JSON.parse(l) as { event: string; problems?: { code: string }[]; written?: boolean });
      assert.equal(events[0]?.event, 'plan');
      assert.equal(events[0]?.problems?.[0]?.code, 'CONFLICT');
      assert.deepEqual(events.at(-1), { ...events.at(-1), event: 'done', written: false });
      assert.deepEqual(await snapshotDirectory(key, true), before);
    });
  });
});
