// Hostile input: mutated copies of every kind of fixture go through the whole inspection and a walk of every tree
// in them (default, each partition, each El Torito image). Every case must end in a result or a typed error
// within 1 s, without any single read over 64 MiB or heap growth over 64 MiB, and without another exception.
//
// Replay one case: BOOTKEY_FUZZ_CASE=<fixture>:<index> npm test -- test/unit/image-fuzz.test.ts
// (prints its mutations and outcome). BOOTKEY_FUZZ_TRACE=1 prints each case before it runs (for a hang).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FileByteSource } from '../../main/adapters/fs/file-byte-source.js';
import { BootkeyError } from '../../main/core/errors.js';
import { walkTree, type FileSystemTree } from '../../main/core/filesystem-tree.js';
import { inspectImage } from '../../main/core/inspect/inspect-image.js';
import { openImage, selectTree, type OpenedImage, type TreeSelector } from '../../main/core/inspect/open-image.js';
import type { ByteSource } from '../../main/ports/byte-source.js';
import { fixture, type FixtureName } from '../fixtures/index.js';
import {
  CachedSource, RecordingSource, caseSeed, cpuMs, mapImage, mutateCase, patchedSource, type ImageMap,
} from '../harness/mutations.js';
import { tierSuite } from '../harness/tier.js';

const MAX_READ = 64 * 1024 * 1024;
const MAX_GROWTH = 64 * 1024 * 1024;
/** CPU time a case may take (cpuMs), not wall time. */
const CASE_MS = 1000;
/** Files of each tree whose extents and contents are read, and how much of each. */
const FILES_READ = 4;
const READ_CAP = 256 * 1024;

/** Cases per fixture, weighted by how varied the fixture's structures are (22,000 in all, ≥ 20,000 asked). */
const PLAN: [FixtureName, number][] = [
  ['plain-iso', 2000],
  ['joliet-iso', 2000],
  ['rockridge-iso', 1500],
  ['bios-only-iso', 2000],
  ['memtest-iso', 2500],
  // ~600 GRUB files walked per case: the slowest fixture per case
  ['installer-iso', 500],
  ['multiextent-iso', 2000],
  ['udf-image', 3000],
  ['udf-201-empty', 1500],
  ['memtest-usb-img', 2500],
  ['user-key', 2500],
];

const replay = process.env.BOOTKEY_FUZZ_CASE?.split(':');

/** Thrown into a reader by the watched source when a case breaks a limit; it is never a BootkeyError. */
class LimitBroken extends Error {}

/** The source a case reads: records the largest request, the time, and the heap, and stops a case that overruns. */
class WatchedSource implements ByteSource {
  maxRead = 0;
  reads = 0;
  peakGrowth = 0;
  violation: string | undefined;
  private readonly deadline: number;
  private readonly baseline: number;

  constructor(private readonly inner: ByteSource, private readonly cache: CachedSource) {
    this.deadline = cpuMs() + CASE_MS;
    this.baseline = this.memory();
  }

  get size(): number {
    return this.inner.size;
  }

  read(offset: number, length: number): Promise<Uint8Array> {
    this.maxRead = Math.max(this.maxRead, length);
    if (length > MAX_READ) this.fail(`a read of ${length} bytes at ${offset}`);
    if (++this.reads % 64 === 0) this.check();
    if (cpuMs() > this.deadline) this.fail(`still reading after ${CASE_MS} ms of CPU (${this.reads} reads)`);
    return this.inner.read(offset, length);
  }

  /** Heap and array buffers now, less what the shared block cache holds. */
  private memory(): number {
    const usage = process.memoryUsage();
    return usage.heapUsed + usage.arrayBuffers - this.cache.cachedBytes;
  }

  check(): void {
    this.peakGrowth = Math.max(this.peakGrowth, this.memory() - this.baseline);
    if (this.peakGrowth > MAX_GROWTH) this.fail(`heap grew by ${Math.round(this.peakGrowth / 1048576)} MiB`);
  }

  private fail(problem: string): never {
    this.violation ??= problem;
    throw new LimitBroken(problem);
  }
}

/** Runs `work`; a typed error is an acceptable end, counted; anything else propagates. */
async function attempt<T>(typed: { count: number }, work: () => Promise<T>): Promise<T | undefined> {
  try {
    return await work();
  } catch (error) {
    if (error instanceof BootkeyError) {
      if (replay) console.log(`typed: ${error.message}`);
      typed.count++;
      return undefined;
    }
    throw error;
  }
}

async function walk(tree: FileSystemTree, typed: { count: number }): Promise<void> {
  let files = 0;
  for await (const entry of walkTree(tree)) {
    if (entry.kind !== 'file' || files++ >= FILES_READ) continue;
    await attempt(typed, () => tree.extents(entry.path));
    if (entry.size <= READ_CAP) await attempt(typed, () => tree.readFile(entry.path, READ_CAP));
  }
}

/**
 * Everything a user can ask of an image: inspect it, then walk the trees in it: those that opened on the
 * pristine image, and any partition or El Torito entry the mutation made. Says whether every step gave a result
 * (no typed error in inspection or in a tree that opened on the pristine image). Without `pristine` (on the
 * pristine image itself) every tree is tried.
 */
async function exercise(source: ByteSource, pristine?: Pristine): Promise<Pristine & { clean: boolean }> {
  const typed = { count: 0 };
  await attempt(typed, () => inspectImage(source));
  const image: OpenedImage | undefined = await attempt(typed, () => openImage(source));
  if (!image) return { clean: false, tried: [], opened: [] };
  const key = (s: TreeSelector) => JSON.stringify(s);
  const found: TreeSelector[] = [
    {},
    ...image.table.partitions.slice(0, 4).map((p) => ({ partition: p.number })),
    ...(image.catalog?.entries.slice(0, 4) ?? []).map((e) => ({ elTorito: e.number })),
  ];
  const known = pristine?.opened ?? found;
  const extra = found.filter((s) => !(pristine?.tried ?? found).some((k) => key(k) === key(s)));
  const opened: TreeSelector[] = [];
  for (const selector of known) {
    await attempt(typed, async () => {
      await walk(await selectTree(image, selector), typed);
      opened.push(selector);
    });
  }
  const clean = typed.count === 0;
  for (const selector of extra) await attempt(typed, async () => walk(await selectTree(image, selector), typed));
  return { clean, tried: found, opened };
}

/** The trees of the pristine image: every one tried, and those that opened. */
interface Pristine {
  tried: TreeSelector[];
  opened: TreeSelector[];
}

interface Target {
  name: FixtureName;
  base: CachedSource;
  map: ImageMap;
  pristine: Pristine;
  close: () => Promise<void>;
}

async function prepare(name: FixtureName): Promise<Target> {
  const file = await FileByteSource.open(await fixture(name));
  const base = new CachedSource(file);
  const recorder = new RecordingSource(base);
  const { tried, opened } = await exercise(recorder);
  return { name, base, map: await mapImage(base, recorder), pristine: { tried, opened }, close: () => file.close() };
}

interface CaseReport {
  outcome: 'result' | 'typed';
  ms: number;
  maxRead: number;
  growth: number;
}

async function runCase(target: Target, index: number): Promise<CaseReport> {
  const seed = caseSeed(target.name, index);
  const mutation = await mutateCase(target.map, target.base, seed);
  const label = `${target.name} case ${index} (seed ${seed}; ${mutation.steps.join(', ')})`;
  if (process.env.BOOTKEY_FUZZ_TRACE) console.log(label);
  const source = new WatchedSource(patchedSource(target.base, mutation.patches, mutation.size), target.base);
  const started = cpuMs();
  let clean: boolean;
  try {
    ({ clean } = await exercise(source, target.pristine));
  } catch (error) {
    if (source.violation) assert.fail(`${label}: ${source.violation}`);
    assert.fail(`${label}: untyped ${error instanceof Error ? error.stack : String(error)}`);
  }
  source.check();
  const ms = cpuMs() - started;
  // A limit broken inside a reader that swallows errors still fails the case.
  if (source.violation) assert.fail(`${label}: ${source.violation}`);
  assert.ok(ms < CASE_MS, `${label}: took ${Math.round(ms)} ms of CPU`);
  return { outcome: clean ? 'result' : 'typed', ms, maxRead: source.maxRead, growth: source.peakGrowth };
}

tierSuite('tools', 'fuzzed images end in a result or a typed error', () => {
  for (const [name, cases] of PLAN) {
    if (replay && replay[0] !== name) continue;
    test(`${name}: ${replay ? `case ${replay[1]}` : `${cases} mutated cases`}`, { timeout: 300_000 }, async () => {
      const target = await prepare(name);
      try {
        assert.ok(target.map.metadata.length > 0 && target.map.fields.length > 0, `${name}: the map found structures to mutate`);
        assert.ok(target.pristine.opened.length > 0, `${name}: a tree opens on the pristine image`);
        if (replay) {
          console.log(await runCase(target, Number(replay[1])));
          return;
        }
        const outcomes = { result: 0, typed: 0 };
        let slowest = 0;
        let maxRead = 0;
        for (let index = 0; index < cases; index++) {
          const report = await runCase(target, index);
          outcomes[report.outcome]++;
          slowest = Math.max(slowest, report.ms);
          maxRead = Math.max(maxRead, report.maxRead);
        }
        console.log(`${name}: ${JSON.stringify(outcomes)}, ${target.map.fields.length} fields, ${target.map.rewires.length} rewires, `
          + `slowest case ${Math.round(slowest)} ms of CPU, largest read ${maxRead} bytes`);
        assert.ok(outcomes.result > 0 && outcomes.typed > 0, `${name}: both outcomes occur: ${JSON.stringify(outcomes)}`);
      } finally {
        await target.close();
      }
    });
  }
});
