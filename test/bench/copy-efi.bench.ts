// `npm run bench:copy-efi`: Bootkey's copy-efi service against `cp -r` + `sync` copying the same ~520 MiB tree
// (330 files) to the same folder on this host's disk, alternating, from a warm page cache. Prints the ratio of
// time-to-durable (goal ≤ 1.05; Bootkey's time includes reading every byte back from the disk, which cp + sync
// never does, so it is also set against cp + sync + a checked re-read from the disk, the same guarantee) and how far reported progress is from durable bytes (goal ≤ 64 MiB), measured two
// ways: bytes handed to the writer but not yet reported (the lag), and reported bytes beyond what the disk's own
// counter (/sys/dev/block/…/stat, sectors written) shows arrived (over-reporting, must stay ≤ 0 plus noise).
// A benchmark, not a test: it fails only when something does not work.
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { mkdir, rm, stat, statfs } from 'node:fs/promises';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { hostDurableWriter } from '../../main/adapters/fs/durable-writer.js';
import { hostImageFiles } from '../../main/adapters/fs/image-files.js';
import { hostKeyFiles } from '../../main/adapters/fs/key-files.js';
import { hostGrubBuilder } from '../../main/adapters/grub/host-grub-builder.js';
import type { DurableWriter } from '../../main/ports/durable-writer.js';
import { CopyEfiService } from '../../main/services/copy-efi.js';
import type { KeyTarget } from '../../main/services/key-target.js';
import { cacheDir } from '../fixtures/index';
import { benchSource } from './copy-efi-source.js';
import { report } from './report.js';

const MiB = 1 << 20;
const ROUNDS = 4;

/** Sectors written to the block device holding `path` (the whole disk's counter, so other writers count too). */
async function sectorsWritten(path: string): Promise<() => number> {
  const { dev } = await stat(path);
  const id = `${Math.floor(dev / 256) & 0xfff}:${(dev & 0xff) | ((dev >> 12) & 0xfff00)}`;
  const file = `/sys/dev/block/${id}/stat`;
  return () => Number(readFileSync(file, 'utf8').trim().split(/\s+/)[6]);
}

interface Measure {
  reported: number;
  handed: number;
  maxLag: number;
  maxOver: number;
}

/** The host writer, counting the bytes handed to it (through `write` and batches) so the lag behind reported progress can be seen. */
function countingWriter(inner: DurableWriter, m: Measure): DurableWriter {
  function counted(data: AsyncIterable<Uint8Array>): AsyncIterable<Uint8Array> {
    return (async function* () {
      for await (const chunk of data) {
        m.handed += chunk.length;
        m.maxLag = Math.max(m.maxLag, m.handed - m.reported);
        yield chunk;
      }
    })();
  }
  return {
    ...inner,
    write: (path, data, options) => inner.write(path, counted(data), options),
    batch(options) {
      const batch = inner.batch(options);
      return {
        add: (path, data, options) => batch.add(path, counted(data), options),
        commit: (beforeRename) => batch.commit(beforeRename),
        discard: () => batch.discard(),
      };
    },
  };
}

async function folderTarget(root: string): Promise<KeyTarget> {
  const fs = await statfs(root);
  return { root, fsType: 'ext4', freeBytes: fs.bavail * fs.bsize, uuid: null, label: '', device: null, kind: 'folder',
    recheck: async () => undefined, present: async () => true, release: async () => undefined };
}

async function bootkeyRun(iso: string, target: string, sectors: () => number): Promise<{ ms: number; durableMs: number; bytes: number; m: Measure }> {
  const m: Measure = { reported: 0, handed: 0, maxLag: 0, maxOver: -Infinity };
  const service = new CopyEfiService({
    images: hostImageFiles, files: hostKeyFiles, writer: countingWriter(hostDurableWriter(), m), grub: hostGrubBuilder,
    openTarget: () => folderTarget(target), newId: () => 'bench', now: () => new Date(),
  });
  const start0 = sectors();
  const started = performance.now();
  let durableAt = NaN;
  const result = await service.copy({ source: iso, target, replace: false, dryRun: false }, (event) => {
    if (event.event !== 'progress' || event.phase !== 'copy') return;
    if (event.bytesDone === event.bytesTotal) durableAt = performance.now();
    m.reported = event.bytesDone;
    m.maxOver = Math.max(m.maxOver, event.bytesDone - (sectors() - start0) * 512);
  });
  return { ms: performance.now() - started, durableMs: durableAt - started, bytes: result.plan.bytes, m };
}

/**
 * `cp -r` + `sync`, then what it takes the same tools to give Bootkey's guarantee (every byte read back from the
 * disk and checked): the page cache dropped (not timed), `sha256sum -c` of the copy against the source's sums.
 */
function cpRun(tree: string, target: string, sums: string): { ms: number; verifiedMs: number } {
  const started = performance.now();
  execFileSync('cp', ['-r', `${tree}/.`, target]);
  execFileSync('sync');
  const ms = performance.now() - started;
  dropCaches(); // untimed: it evicts the whole machine's cache, far more than the copy
  const checking = performance.now();
  execFileSync('sha256sum', ['--quiet', '--strict', '-c', sums], { cwd: target });
  return { ms, verifiedMs: ms + performance.now() - checking };
}

/** Empties the page cache (root only; the bench's host runs as root), so the re-read comes from the disk. */
function dropCaches(): void {
  writeFileSync('/proc/sys/vm/drop_caches', '3');
}

function duBytes(path: string): number {
  return Number(execFileSync('du', ['-sb', '--exclude=.bootkey', path], { encoding: 'utf8' }).split('\t')[0]);
}

async function main(): Promise<void> {
  const source = await benchSource();
  const iso = join(source, 'source.iso');
  const tree = join(source, 'tree');
  const target = join(cacheDir(), 'bench', 'copy-efi-target');
  const sectors = await sectorsWritten(cacheDir());
  console.log(`source: ${iso} (${(duBytes(tree) / MiB).toFixed(0)} MiB tree); target folder ${target}`);
  const sums = join(source, '..', 'copy-efi-source.sha256');
  writeFileSync(sums, execFileSync('sh', ['-c', 'find . -type f -print0 | sort -z | xargs -0 sha256sum'], { cwd: tree }));
  const fresh = async () => {
    await rm(target, { recursive: true, force: true });
    await mkdir(target, { recursive: true });
    execFileSync('sync');
    // Both read from a warm cache: the comparison is about writing.
    spawnSync('cat', [iso], { stdio: ['ignore', 'ignore', 'ignore'] });
    spawnSync('sh', ['-c', `find '${tree}' -type f -exec cat {} + > /dev/null`]);
  };
  const bk: number[] = [];
  const bkDurable: number[] = [];
  const cp: number[] = [];
  const cpVerified: number[] = [];
  let maxLag = 0;
  let maxOver = -Infinity;
  for (let round = 0; round < ROUNDS; round++) {
    for (const who of round % 2 === 0 ? ['bootkey', 'cp'] : ['cp', 'bootkey']) {
      await fresh();
      if (who === 'cp') {
        const { ms, verifiedMs } = cpRun(tree, target, sums);
        cp.push(ms);
        cpVerified.push(verifiedMs);
        console.log(`round ${round + 1} cp -r + sync: ${(ms / 1000).toFixed(2)} s (${(duBytes(target) / MiB).toFixed(0)} MiB); `
          + `+ drop caches + sha256sum -c: ${(verifiedMs / 1000).toFixed(2)} s`);
      } else {
        const { ms, durableMs, bytes, m } = await bootkeyRun(iso, target, sectors);
        bk.push(ms);
        bkDurable.push(durableMs);
        maxLag = Math.max(maxLag, m.maxLag);
        maxOver = Math.max(maxOver, m.maxOver);
        console.log(`round ${round + 1} bootkey copy-efi: ${(ms / 1000).toFixed(2)} s, every byte durable at ${(durableMs / 1000).toFixed(2)} s (${(bytes / MiB).toFixed(0)} MiB; `
          + `lag ≤ ${(m.maxLag / MiB).toFixed(1)} MiB, over-report ≤ ${(m.maxOver / MiB).toFixed(1)} MiB)`);
      }
    }
  }
  await rm(target, { recursive: true, force: true });
  const seconds = (v: number[]) => v.map((ms) => ms / 1000);
  report('whole copy-efi (durable, read back, renamed) vs cp -r + sync', seconds(bk), seconds(cp), 1.05);
  // When the last window was flushed: the copy's time-to-durable. The read-back of every file, the renames and
  // their flush, and the manifest come after.
  report('  of which the copy: every byte durable vs cp -r + sync', seconds(bkDurable), seconds(cp), 1.05);
  report('the same guarantee with the standard tools: whole copy-efi vs cp -r + sync + drop caches + sha256sum -c',
    seconds(bk), seconds(cpVerified), 1.05);
  console.log(`largest gap, bytes handed to the writer not yet reported durable: ${(maxLag / MiB).toFixed(1)} MiB (goal ≤ 64 MiB) ${maxLag <= 64 * MiB ? 'met' : 'NOT met'}`);
  console.log(`largest over-report, progress beyond the disk's sectors-written counter: ${(maxOver / MiB).toFixed(1)} MiB (≤ 0: progress never ran ahead of the disk)`);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
