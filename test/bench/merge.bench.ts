// `npm run bench:merge`: merging a dm overlay into a new squashfs.img, ours (the persistence service: rootfs.img
// extracted, the overlay's exceptions copied on, e2fsck, the new image made of the old one's compressed blocks
// and the changed blocks compressed by mksquashfs, verified) against the seed's method (a dm
// mirror of the snapshot onto a sparse file, e2fsck, mksquashfs) on copies of the same overlay in the same UML
// run, rounds alternating. Goal: ours ≤ 0.85 × mirror's. A LiveOS image bigger than the test fixture (1 GiB
// rootfs.img holding ~240 MiB, half compressible text, half random) is built into the cache on first use.
// A benchmark prints numbers and fails only when something does not work.
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cached } from '../fixtures/cache';
import { FIXED_EPOCH, run } from '../fixtures/command';
import { cacheDir } from '../fixtures/index';
import { writeTree, type TreeEntry } from '../fixtures/tree';
import { runInUml } from '../harness/uml/index';

const MiB = 1 << 20;
const ROUNDS = Number(process.env.BOOTKEY_BENCH_ROUNDS ?? 3);
/** Data written through the snapshot before the merge. */
const WRITE_MB = Number(process.env.BOOTKEY_BENCH_WRITE_MB ?? 64);

function benchRootTree(): TreeEntry[] {
  const entries: TreeEntry[] = [{ kind: 'dir', path: 'home' }, { kind: 'text', path: 'etc/hostname', text: 'bench\n' }];
  for (let i = 0; i < 40; i++) {
    entries.push({ kind: 'file', path: `usr/lib/blob${i}.bin`, size: 3 * MiB + i * 4099 });
    const lines = Array.from({ length: 3 * MiB / 64 }, (_, n) => `line ${n} of text file ${i}: some words repeat ${n % 97}\n`);
    entries.push({ kind: 'text', path: `usr/share/doc/text${i}.txt`, text: lines.join('') });
  }
  return entries;
}

function benchSquashfs(): Promise<string> {
  return cached(join(cacheDir(), 'bench', 'bench-liveos-squashfs.v1.img'), async (partial, work) => {
    await writeTree(join(work, 'root'), benchRootTree());
    await mkdir(join(work, 'squash', 'LiveOS'), { recursive: true });
    const rootfs = join(work, 'squash', 'LiveOS', 'rootfs.img');
    await run('mkfs.ext4', ['-q', '-F', '-b', '4096', '-L', 'Anaconda', '-E', 'root_owner=0:0,lazy_itable_init=0,lazy_journal_init=0',
      '-d', join(work, 'root'), rootfs, '1024M'], { env: { E2FSPROGS_FAKE_TIME: String(FIXED_EPOCH) }, timeoutMs: 600_000 });
    await run('mksquashfs', [join(work, 'squash'), partial, '-noappend', '-all-root', '-no-progress', '-quiet'], { timeoutMs: 600_000 });
  });
}

interface Round {
  mirror: { seconds: number; steps: Record<string, number> };
  ours: { seconds: number; steps: Record<string, number>; copies: number; writtenBytes: number };
}

async function main(): Promise<void> {
  const squashfs = await benchSquashfs();
  // The work happens on an ext4 disk (a ubd file here), as a merge would on a hard drive.
  const dir = await mkdtemp(join(tmpdir(), 'bootkey-bench-merge-'));
  const disk = join(dir, 'work.img');
  await run('mkfs.ext4', ['-q', '-F', disk, '8G']);
  const uml = await runInUml({
    command: ['node', '--import', 'tsx', 'test/integration/inside/persist-merge.ts', squashfs, String(ROUNDS), String(WRITE_MB), '/dev/ubda'],
    udisks: false,
    disks: [{ file: disk }],
    memMb: 1024,
    timeoutMs: 1_800_000,
  });
  try {
    const r = JSON.parse(await readFile(`${uml.outDir}/persist-merge.json`, 'utf8').catch(() => '{}'));
    if (r.fatal || uml.exitCode !== 0 || r.merge?.code !== 0) {
      throw new Error(`merge bench failed (exit ${uml.exitCode}${uml.timedOut ? ', timed out' : ''}): ${r.fatal ?? r.merge?.stderr ?? ''}\n`
        + `${JSON.stringify(r.timings ?? [])}\n${uml.stderr.slice(-2000)}\n${uml.console.slice(-1500)}\n${uml.setupError ?? ''}`);
    }
    const rounds = r.timings as Round[];
    console.log(`LiveOS merge: ${r.overlayStatus.exceptions} changed 4 KiB chunks (${WRITE_MB} MiB written) over a `
      + `${(r.merge.json.rootfsBytes / MiB).toFixed(0)} MiB rootfs.img, ${r.merge.json.compression}; UML, work on an ext4 ubd disk`);
    const { rebuild } = r.merge.json;
    console.log(`ours builds the new image ${rebuild.method === 'reused-blocks' ? `from ${rebuild.reusedBlocks} reused compressed blocks and ${rebuild.changedBlocks} compressed again`
      : `with mksquashfs (${rebuild.why})`}`);
    for (const [i, round] of rounds.entries()) {
      console.log(`  round ${i + 1}: mirror ${round.mirror.seconds.toFixed(2)} s ${JSON.stringify(round.mirror.steps)}`);
      console.log(`           ours   ${round.ours.seconds.toFixed(2)} s ${JSON.stringify(round.ours.steps)} (${round.ours.copies} copies)`);
    }
    const median = (v: number[]) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)] as number;
    // Each step's median over the rounds: where the time goes, side by side.
    const stepMedians = (steps: Record<string, number>[]) => Object.fromEntries(Object.keys(steps[0] ?? {})
      .map((step) => [step, median(steps.map((s) => s[step] ?? 0))]));
    console.log(`median ms per step: mirror ${JSON.stringify(stepMedians(rounds.map((x) => x.mirror.steps)))}`);
    console.log(`                    ours   ${JSON.stringify(stepMedians(rounds.map((x) => x.ours.steps)))}`);
    const mirror = median(rounds.map((x) => x.mirror.seconds));
    const ours = median(rounds.map((x) => x.ours.seconds));
    const ratio = ours / mirror;
    console.log(`median: mirror ${mirror.toFixed(2)} s, ours ${ours.toFixed(2)} s, ratio ${ratio.toFixed(3)} (goal ≤ 0.85) ${ratio <= 0.85 ? 'met' : 'NOT met'}`);
  } finally {
    await rm(uml.outDir, { recursive: true, force: true });
    await rm(dir, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
