// Hostile input, extraction: mutated images copied out through the host adapter (`bootkey extract`'s path) end in
// a summary or a typed error within 1 s, and write nothing beside the destination. Same mutators and seeds as
// image-fuzz.test.ts; replay one case with BOOTKEY_FUZZ_CASE=extract-<fixture>:<index>.
import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { FileByteSource } from '../../main/adapters/fs/file-byte-source.js';
import { hostImageFiles } from '../../main/adapters/fs/image-files.js';
import { sliceByteSource } from '../../main/core/byte-source-reads.js';
import { BootkeyError } from '../../main/core/errors.js';
import { walkTree } from '../../main/core/filesystem-tree.js';
import { openImage, selectTree, type TreeSelector } from '../../main/core/inspect/open-image.js';
import type { ByteSource } from '../../main/ports/byte-source.js';
import { fixture, type FixtureName } from '../fixtures/index.js';
import { CachedSource, RecordingSource, caseSeed, cpuMs, mapImage, mutateCase, patchedSource } from '../harness/mutations.js';
import { tierSuite } from '../harness/tier.js';

/** CPU time a case may take (cpuMs), not wall time. */
const CASE_MS = 1000;

/** What is extracted from each fixture: its tree, an ESP partition, the UEFI El Torito image. */
const TARGETS: { name: FixtureName; selector: TreeSelector; cases: number }[] = [
  { name: 'rockridge-iso', selector: {}, cases: 150 },
  { name: 'udf-image', selector: {}, cases: 150 },
  { name: 'memtest-usb-img', selector: { partition: 1 }, cases: 150 },
  { name: 'memtest-iso', selector: { elTorito: 2 }, cases: 150 },
];

const replay = process.env.BOOTKEY_FUZZ_CASE?.split(':');

async function extract(source: ByteSource, selector: TreeSelector, dest: string): Promise<void> {
  const tree = await selectTree(await openImage(source), selector);
  await hostImageFiles.extract(tree, '/', dest);
}

tierSuite('tools', 'extracting fuzzed images ends in a summary or a typed error', () => {
  test('a slice reads into a buffer only inside its window', async () => {
    const bytes = Uint8Array.from({ length: 100 }, (_, i) => i);
    const whole: ByteSource = {
      size: bytes.length,
      read: async (offset, length) => bytes.slice(offset, offset + length),
      readInto: async (offset, target) => {
        const part = bytes.subarray(offset, offset + target.length);
        target.set(part);
        return part.length;
      },
    };
    const slice = sliceByteSource(whole, 10, 20);
    const target = new Uint8Array(16).fill(0xee);
    assert.equal(await slice.readInto?.(12, target), 8);
    assert.deepEqual([...target.subarray(0, 9)], [22, 23, 24, 25, 26, 27, 28, 29, 0xee]);
    assert.equal(await slice.readInto?.(25, target), 0);
  });

  for (const { name, selector, cases } of TARGETS) {
    if (replay && replay[0] !== `extract-${name}`) continue;
    test(`${name} ${JSON.stringify(selector)}: ${replay ? `case ${replay[1]}` : `${cases} mutated extractions`}`, { timeout: 300_000 }, async () => {
      const file = await FileByteSource.open(await fixture(name));
      const base = new CachedSource(file);
      const work = await mkdtemp(join(tmpdir(), 'bootkey-extract-fuzz-'));
      try {
        // The metadata of the extracted tree, recorded from a walk of the pristine image (not the file data).
        const recorder = new RecordingSource(base);
        const pristine = await selectTree(await openImage(recorder), selector);
        for await (const entry of walkTree(pristine)) if (entry.kind === 'file') await pristine.extents(entry.path);
        const map = await mapImage(base, recorder);
        await extract(base, selector, join(work, 'pristine'));

        const outcomes = { summary: 0, typed: 0 };
        const first = replay ? Number(replay[1]) : 0;
        for (let index = first; index < (replay ? first + 1 : cases); index++) {
          const seed = caseSeed(`extract-${name}`, index);
          const mutation = await mutateCase(map, base, seed);
          const label = `extract-${name} case ${index} (seed ${seed}; ${mutation.steps.join(', ')})`;
          const parent = join(work, String(index));
          const started = cpuMs();
          try {
            await extract(patchedSource(base, mutation.patches, mutation.size), selector, join(parent, 'out'));
            outcomes.summary++;
          } catch (error) {
            if (!(error instanceof BootkeyError)) assert.fail(`${label}: untyped ${error instanceof Error ? error.stack : String(error)}`);
            if (replay) console.log(`typed: ${error.message}`);
            outcomes.typed++;
          }
          const ms = cpuMs() - started;
          assert.ok(ms < CASE_MS, `${label}: took ${Math.round(ms)} ms of CPU`);
          const beside = (await readdir(parent).catch(() => [])).filter((n) => n !== 'out');
          assert.deepEqual(beside, [], `${label}: wrote beside the destination`);
          await rm(parent, { recursive: true, force: true });
        }
        console.log(`extract-${name}: ${JSON.stringify(outcomes)}`);
        if (!replay) assert.ok(outcomes.summary > 0 && outcomes.typed > 0, `both outcomes occur: ${JSON.stringify(outcomes)}`);
      } finally {
        await rm(work, { recursive: true, force: true });
        await file.close();
      }
    });
  }
});
