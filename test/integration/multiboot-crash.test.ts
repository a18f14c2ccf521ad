// Crash safety of the multi-ISO library: `add` and menu regeneration are killed with SIGKILL at random moments
// (until 20 runs were cut off, at most 40). After every kill the key must still boot to a menu — grub.cfg passes
// grub-script-check and every ISO it names is complete on the key — and a re-run repairs the state (no temporary
// files left, every ISO verified against its .sha256). The key is a host folder here (the service's real file and GRUB adapters; a
// fake udisks), so kills are cheap. On a real FAT key, inside/multiboot-keys.ts kills `bootkey multiboot add`
// mid-copy in UML (multiboot.test.ts checks the old menu, fsck and the repair) and test/boot/multiboot.test.ts
// boots that key under OVMF to its menu and the installer's kernel.
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import { defaultSettings, serializeSettings } from '../../main/core/multiboot/multiboot-settings.js';
import { fixture } from '../fixtures/index.js';
import { random } from '../harness/mutations.js';
import { tierSuite } from '../harness/tier.js';
import { folderService } from './inside/multiboot-crash-child.js';

const exec = promisify(execFile);
/** Runs that must be cut off by the kill; a run that finishes first also counts as safe, up to MAX_RUNS in all. */
const KILLS = 20;
const MAX_RUNS = 40;
const CHILD = join(import.meta.dirname, 'inside', 'multiboot-crash-child.ts');

async function sha256(path: string): Promise<string> {
  return createHash('sha256').update(await readFile(path)).digest('hex');
}

/** Runs the child; kills it after `killAfterMs` (undefined: let it finish). Resolves with how it ended. */
function child(args: string[], killAfterMs?: number): Promise<{ killed: boolean; code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, ['--import', 'tsx', CHILD, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    p.stderr.setEncoding('utf8').on('data', (c: string) => { stderr += c; });
    const timer = killAfterMs === undefined ? undefined : setTimeout(() => p.kill('SIGKILL'), killAfterMs);
    p.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ killed: signal === 'SIGKILL', code, stderr });
    });
  });
}

tierSuite('tools', 'multi-ISO library survives kills during add and menu regeneration', () => {
  let dir: string;
  let isos: string[];
  const seed = Number(process.env.BOOTKEY_SEED ?? Date.now() % 2 ** 31);
  // Seeded so a failing run can be repeated with BOOTKEY_SEED.
  const next = random(seed);

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'bootkey-mb-crash-'));
    isos = [await fixture('installer-iso'), await fixture('memtest-iso')];
  });
  after(() => rm(dir, { recursive: true, force: true }));

  /** The "boots to a menu" check without firmware: syntax, and every ISO the menu names is whole. */
  async function bootsToMenu(key: string): Promise<number> {
    const cfg = join(key, 'boot/grub/grub.cfg');
    await exec('grub-script-check', [cfg]);
    const text = await readFile(cfg, 'utf8');
    const named = [...text.matchAll(/^\s*set iso_path='\/isos\/([^']+)'$/gm)].map((m) => m[1] as string);
    for (const name of named) {
      const source = isos.find((i) => basename(i) === name) as string;
      assert.ok(source, `the menu names ${name}, which was never added`);
      assert.equal((await stat(join(key, 'isos', name))).size, (await stat(source)).size, `${name} is not whole`);
    }
    return named.length;
  }

  test(`${KILLS} random kills (seed ${seed}): always a menu; a re-run repairs`, async (t) => {
    // How long an undisturbed add takes on this machine, to spread the kills over it.
    const timing = join(dir, 'timing');
    await prepare(timing);
    const started = performance.now();
    const full = await child([timing, 'add', ...isos]);
    assert.equal(full.code, 0, full.stderr);
    let addMs = performance.now() - started;
    const menuStarted = performance.now();
    assert.equal((await child([timing, 'menu', '5'])).code, 0);
    let menuMs = performance.now() - menuStarted;
    t.diagnostic(`undisturbed add: ${addMs.toFixed(0)} ms, menu: ${menuMs.toFixed(0)} ms`);

    const outcomes: string[] = [];
    const killed = () => outcomes.filter((o) => o.endsWith('killed')).length;
    for (let run = 0; run < MAX_RUNS && killed() < KILLS; run += 1) {
      const key = join(dir, `run-${run}`);
      await prepare(key);
      const menuRun = run % 4 === 3;
      if (menuRun) assert.equal((await child([key, 'add', ...isos])).code, 0);
      // Within 90 % of the undisturbed time, so that nearly every run is really cut off.
      const killAt = next() * 0.9 * (menuRun ? menuMs : addMs);
      const runStarted = performance.now();
      const ended = await child(menuRun ? [key, 'menu', String(run)] : [key, 'add', ...isos], killAt);
      // Another test file loading the machine makes run times vary: a run that beat its kill sets a shorter span.
      if (!ended.killed && menuRun) menuMs = Math.min(menuMs, performance.now() - runStarted);
      if (!ended.killed && !menuRun) addMs = Math.min(addMs, performance.now() - runStarted);
      outcomes.push(`${menuRun ? 'menu' : 'add'}@${killAt.toFixed(0)}ms:${ended.killed ? 'killed' : `exit ${ended.code}`}`);
      await bootsToMenu(key);
      // Repair: the same add again finishes what was cut off (or says each ISO is there), then menu cleans up.
      const again = await child([key, 'add', ...isos]);
      const repaired = again.code === 0 || /already on the key/.test(again.stderr);
      assert.ok(repaired, `re-run after ${outcomes.at(-1)}: ${again.stderr}`);
      if (again.code !== 0) for (const iso of isos) await child([key, 'add', iso]);
      await folderService(key).menu(key);
      assert.equal(await bootsToMenu(key), 2, `after repair of ${outcomes.at(-1)}`);
      const left = (await readdir(join(key, 'isos'))).filter((n) => n.endsWith('.bootkey-tmp'));
      assert.deepEqual(left, [], `temporary files left after ${outcomes.at(-1)}`);
      for (const iso of isos) {
        const recorded = (await readFile(join(key, 'isos', `${basename(iso)}.sha256`), 'utf8')).split(' ')[0];
        assert.equal(recorded, await sha256(iso));
      }
      await rm(key, { recursive: true, force: true });
    }
    t.diagnostic(outcomes.join(' '));
    assert.ok(killed() >= KILLS, `only ${killed()} of ${outcomes.length} runs were killed`);
  });

  /** A key folder after `init`: settings and an (empty) menu, as the service leaves them. */
  async function prepare(key: string): Promise<void> {
    await mkdir(join(key, '.bootkey'), { recursive: true });
    await mkdir(join(key, 'boot/grub'), { recursive: true });
    await writeFile(join(key, '.bootkey/multiboot.json'), serializeSettings(defaultSettings()));
    await folderService(key).menu(key);
  }
});
