// `npm run bench:multiboot`: adding a ≥ 1 GiB ISO to a key folder with the multiboot service versus `cp` + `sync`
// on the same filesystem (goal ≤ 1.05; the whole add, and the moment its every byte was durable), the verification read versus `dd iflag=direct bs=4M` of the same bytes
// (goal ≤ 1.10), and menu regeneration for 20 ISOs (goal ≤ 1 s). The key is a folder on this machine's disk
// (its kernel has no vfat); a benchmark prints numbers and fails only when something does not work.
import { execFile } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { promisify } from 'node:util';
import { alignedBuffer, hashFromMedium, READ_CHUNK, SYNC_WINDOW } from '../../main/adapters/fs/durable-writer.js';
import { hashFile } from '../../main/adapters/fs/file-hash.js';
import { defaultSettings, serializeSettings } from '../../main/core/multiboot/multiboot-settings.js';
import { fixture } from '../fixtures/index.js';
import { folderService } from '../integration/inside/multiboot-crash-child.js';
import { benchIso } from './bench-iso.js';

const run = promisify(execFile);
const ROUNDS = 3;

async function timed(work: () => Promise<unknown>): Promise<number> {
  const started = performance.now();
  await work();
  return (performance.now() - started) / 1000;
}

const median = (v: number[]) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)] as number;

/** The durable writer's verification read of `copy`: direct reads from the disk, hashed as they arrive. */
async function readBack(copy: string, iso: string): Promise<number> {
  const expected = (await hashFile(iso)).sha256;
  const buffer = alignedBuffer(2 * READ_CHUNK);
  let hashed: Awaited<ReturnType<typeof hashFromMedium>> | undefined;
  const seconds = await timed(async () => {
    hashed = await hashFromMedium(copy, buffer);
  });
  if (hashed?.readBack !== 'medium') throw new Error('no direct reads here');
  if (hashed.sha256 !== expected) throw new Error('the copy read back differs from the ISO');
  return seconds;
}

async function newKey(root: string, name: string): Promise<string> {
  const key = join(root, name);
  await mkdir(join(key, '.bootkey'), { recursive: true });
  await mkdir(join(key, 'boot/grub'), { recursive: true });
  await writeFile(join(key, '.bootkey/multiboot.json'), serializeSettings(defaultSettings()));
  return key;
}

async function main(): Promise<void> {
  const iso = await benchIso();
  const root = await mkdtemp(join(process.env.BOOTKEY_CACHE ?? '/var/tmp/bootkey-cache', 'bench-multiboot-'));
  try {
    const ours: number[] = [];
    const oursDurable: number[] = [];
    const cp: number[] = [];
    for (let i = 0; i < ROUNDS; i += 1) {
      const key = await newKey(root, `ours-${i}`);
      await run('sync');
      const started = performance.now();
      let durableAt = NaN;
      ours.push(await timed(() => folderService(key, SYNC_WINDOW).add(key, [iso], (p) => {
        if (p.phase.startsWith('copying') && p.total > 0 && p.done === p.total) durableAt = performance.now();
      })));
      oursDurable.push((durableAt - started) / 1000);
      const plain = join(root, `cp-${i}`);
      await mkdir(plain);
      await run('sync');
      cp.push(await timed(async () => {
        await run('cp', [iso, plain]);
        await run('sync');
      }));
      await rm(key, { recursive: true, force: true });
      await rm(plain, { recursive: true, force: true });
    }
    // The verification read: the durable writer's read-back of the copy versus dd iflag=direct of the same file.
    const copy = join(root, 'copy.iso');
    await copyFile(iso, copy);
    await run('sync');
    // Alternating, as the add rounds are: this machine is shared and its load changes from minute to minute.
    const reads: number[] = [];
    const dd: number[] = [];
    for (let i = 0; i < ROUNDS; i += 1) {
      reads.push(await readBack(copy, iso));
      dd.push(await timed(() => run('dd', [`if=${copy}`, 'of=/dev/null', 'bs=4M', 'iflag=direct', 'status=none'])));
    }
    const verify = median(reads);
    // Menu regeneration with 20 ISOs on the key.
    const key = await newKey(root, 'menu');
    await mkdir(join(key, 'isos'));
    const small = [await fixture('installer-iso'), await fixture('memtest-iso')];
    for (let i = 0; i < 20; i += 1) {
      const source = small[i % 2] as string;
      await copyFile(source, join(key, 'isos', `${i}-${basename(source)}`));
    }
    const service = folderService(key);
    const menu: number[] = [];
    for (let i = 0; i < 5; i += 1) menu.push(await timed(() => service.menu(key)));

    const line = (what: string, a: number, b: number, goal: number) =>
      console.log(`${what}: ${a.toFixed(2)} s vs ${b.toFixed(2)} s, ratio ${(a / b).toFixed(2)} (goal ≤ ${goal})`);
    console.log(`ISO: ${iso}`);
    line('add (durable, verified) vs cp + sync', median(ours), median(cp), 1.05);
    // When the copy's last window was flushed: the copy's time-to-durable. The read-back, the rename, the
    // .sha256 and the menu come after.
    line('  of which: every byte durable vs cp + sync', median(oursDurable), median(cp), 1.05);
    line('verification read vs dd iflag=direct bs=4M', verify, median(dd), 1.1);
    console.log(`menu regeneration for 20 ISOs: ${median(menu).toFixed(3)} s (goal ≤ 1 s)`);
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
