// `npm run bench:inspect`: how much `inspect` reads and how long it takes on a ≥ 1 GiB ISO, and `extract` of a
// ~590 MiB tree against xorriso's on the same disk. A benchmark, not a test: it prints numbers and goals and
// fails only when something does not work. Ratios are meaningful; absolute times depend on the machine.
import { spawn } from 'node:child_process';
import { createReadStream } from 'node:fs';
import { lstat, mkdtemp, readdir, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { FileByteSource } from '../../main/adapters/fs/file-byte-source.js';
import { extractTree } from '../../main/adapters/fs/tree-extractor.js';
import { inspectImage } from '../../main/core/inspect/inspect-image.js';
import { openImage, selectTree } from '../../main/core/inspect/open-image.js';
import type { ByteSource } from '../../main/ports/byte-source.js';
import { EXTRACT_DIR, benchIso } from './bench-iso.js';

const INSPECT_RUNS = 9;
const CLI_RUNS = 5;
const EXTRACT_ROUNDS = 7;
const CLI = join(__dirname, '..', '..', 'dist', 'cli', 'bootkey.cjs');
const MiB = 1 << 20;

/** Counts what a reader asks for. */
class CountingSource implements ByteSource {
  bytes = 0;
  reads = 0;
  constructor(private readonly inner: ByteSource) {}
  get size(): number {
    return this.inner.size;
  }
  read(offset: number, length: number): Promise<Uint8Array> {
    this.reads++;
    this.bytes += Math.max(0, Math.min(length, this.size - offset));
    return this.inner.read(offset, length);
  }
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

const ms = (value: number) => `${value.toFixed(1)} ms`;

/** Runs a command to its end; resolves with wall milliseconds, rejects with its stderr when it fails. */
function timed(command: string, args: string[]): Promise<number> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(command, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    const err: Buffer[] = [];
    child.stderr.on('data', (chunk: Buffer) => err.push(chunk));
    child.on('error', reject);
    child.on('close', (code) => {
      const took = performance.now() - started;
      if (code === 0) resolve(took);
      else reject(new Error(`${command} ${args.join(' ')}: exit ${code}\n${Buffer.concat(err).toString().slice(-2000)}`));
    });
  });
}

/** Reads the whole file once so both extractors start from the same warm page cache. */
function warm(path: string): Promise<void> {
  return new Promise((resolve, reject) => {
    createReadStream(path, { highWaterMark: 4 * MiB }).on('data', () => {}).on('end', resolve).on('error', reject);
  });
}

/** Files and bytes under a folder, to check both extractors wrote the same tree. */
async function census(dir: string): Promise<{ files: number; bytes: number }> {
  let files = 0;
  let bytes = 0;
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (!entry.isFile()) continue;
    files++;
    bytes += (await lstat(join(entry.parentPath, entry.name))).size;
  }
  return { files, bytes };
}

async function benchInspect(iso: string): Promise<void> {
  const times: number[] = [];
  let counted: CountingSource | undefined;
  for (let run = 0; run < INSPECT_RUNS; run++) {
    const file = await FileByteSource.open(iso);
    counted = new CountingSource(file);
    const started = performance.now();
    await inspectImage(counted);
    times.push(performance.now() - started);
    await file.close();
  }
  const read = counted!;
  console.log(`inspect, in process: ${(read.bytes / MiB).toFixed(2)} MiB read in ${read.reads} reads (goal ≤ 2 MiB); `
    + `median ${ms(median(times))} of ${INSPECT_RUNS} (first ${ms(times[0]!)}, goal ≤ 100 ms)`);

  const startup: number[] = [];
  const cli: number[] = [];
  for (let run = 0; run < CLI_RUNS; run++) {
    startup.push(await timed(process.execPath, ['-e', '']));
    cli.push(await timed(process.execPath, [CLI, 'inspect', iso, '--json']));
  }
  console.log(`inspect, CLI wall time: median ${ms(median(cli))} of ${CLI_RUNS} (node's own start-up alone: ${ms(median(startup))})`);
}

async function benchExtract(iso: string): Promise<void> {
  const scratch = await mkdtemp(join(dirname(iso), 'extract-'));
  try {
    await warm(iso);
    const tools = {
      bootkey: (dest: string) => timed(process.execPath, [CLI, 'extract', iso, EXTRACT_DIR, dest]),
      xorriso: (dest: string) => timed('xorriso', ['-osirrox', 'on', '-indev', iso, '-extract', EXTRACT_DIR, dest]),
      // The app's way: the same extractor in a process that is already running (no Node start-up).
      inProcess: async (dest: string) => {
        const started = performance.now();
        const file = await FileByteSource.open(iso);
        try {
          await extractTree(await selectTree(await openImage(file), {}), EXTRACT_DIR, dest);
        } finally {
          await file.close();
        }
        return performance.now() - started;
      },
    };
    type Tool = keyof typeof tools;
    const times: Record<Tool, number[]> = { bootkey: [], xorriso: [], inProcess: [] };
    for (let round = 0; round < EXTRACT_ROUNDS; round++) {
      // Rotate who goes first, so none always meets another's dirty pages being written back.
      const names = Object.keys(tools) as Tool[];
      const order = names.map((_, i) => names[(i + round) % names.length]!);
      for (const tool of order) {
        const dest = join(scratch, tool);
        await timed('sync', []);
        times[tool].push(await tools[tool](dest));
        if (round === 0) console.log(`  ${tool} wrote ${JSON.stringify(await census(dest))}`);
        await rm(dest, { recursive: true, force: true });
      }
      console.log(`  round ${round + 1}: ${names.map((t) => `${t} ${ms(times[t][round]!)}`).join(', ')}`);
    }
    const theirs = median(times.xorriso);
    console.log(`extract ${EXTRACT_DIR}, medians of ${EXTRACT_ROUNDS}: xorriso ${ms(theirs)}; `
      + `bootkey CLI ${ms(median(times.bootkey))}, ratio ${(median(times.bootkey) / theirs).toFixed(2)}; `
      + `bootkey in process ${ms(median(times.inProcess))}, ratio ${(median(times.inProcess) / theirs).toFixed(2)} (goal ≤ 1.0).`);
    console.log('  All from a warm page cache (the ISO was read once first; dropping caches is not possible here); '
      + 'sync between runs, not timed. Load from other processes on the machine shows as spread between rounds.');
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const iso = await benchIso();
  console.log(`${iso}: ${((await lstat(iso)).size / MiB).toFixed(0)} MiB`);
  await benchInspect(iso);
  await benchExtract(iso);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
