// Hostile input: mutated copies of real fixtures (bit flips and overlong values in the metadata, truncation) must
// end in a result or a typed error — never another exception, a hang or a runaway allocation.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FileByteSource } from '../../main/adapters/fs/file-byte-source.js';
import { readBootCatalog } from '../../main/core/el-torito/boot-catalog.js';
import { BootkeyError } from '../../main/core/errors.js';
import { walkTree, type FileSystemTree } from '../../main/core/filesystem-tree.js';
import { openIsoImage } from '../../main/core/iso9660/iso-image.js';
import { openUdfImage } from '../../main/core/udf/udf-tree.js';
import type { ByteSource } from '../../main/ports/byte-source.js';
import { fixture, type FixtureName } from '../fixtures/index.js';
import { tierSuite } from '../harness/tier.js';

const CASES_PER_FIXTURE = 400;
/** Metadata lives in the first sectors of these small images (UDF's from the anchor at 512 KiB on); mutating file data proves nothing. */
const METADATA_BYTES = 160 * 1024;
const UDF_METADATA_BYTES = 700 * 1024;

/** Deterministic pseudo-random numbers (xorshift32), so a failing case can be replayed by its number. */
function random(seed: number): () => number {
  let x = seed || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 2 ** 32;
  };
}

/** The image as read through a patch of changed bytes, and perhaps cut short. */
function mutated(base: ByteSource, patch: Map<number, number>, size: number): ByteSource {
  return {
    size,
    async read(offset, length) {
      const bytes = await base.read(offset, Math.max(0, Math.min(length, size - offset)));
      for (let i = 0; i < bytes.length; i++) {
        const value = patch.get(offset + i);
        if (value !== undefined) bytes[i] = value;
      }
      return bytes;
    },
  };
}

async function exercise(tree: FileSystemTree): Promise<void> {
  let files = 0;
  for await (const entry of walkTree(tree)) {
    if (entry.kind === 'file' && files++ < 8) await tree.readFile(entry.path, 1 << 20).catch((e: unknown) => {
      if (!(e instanceof BootkeyError)) throw e;
    });
  }
}

tierSuite('tools', 'mutated images end in a result or a typed error', () => {
  const targets: FixtureName[] = ['rockridge-iso', 'joliet-iso', 'memtest-iso', 'bios-only-iso', 'udf-image'];
  for (const name of targets) {
    test(`${name}: ${CASES_PER_FIXTURE} mutations`, async () => {
      const file = await FileByteSource.open(await fixture(name));
      const outcomes = { ok: 0, typed: 0 };
      try {
        for (let n = 0; n < CASES_PER_FIXTURE; n++) {
          const next = random(n * 7919 + name.length);
          const patch = new Map<number, number>();
          const span = Math.min(name === 'udf-image' ? UDF_METADATA_BYTES : METADATA_BYTES, file.size);
          const flips = 1 + Math.floor(next() * 8);
          for (let i = 0; i < flips; i++) {
            const at = 16 * 2048 + Math.floor(next() * (span - 16 * 2048));
            // half bit flips, half bytes forced to extremes (overlong lengths, huge counts)
            const original = (await file.read(at, 1))[0] ?? 0;
            patch.set(at, next() < 0.5 ? original ^ (1 << Math.floor(next() * 8)) : next() < 0.5 ? 0xff : 0);
          }
          const size = next() < 0.1 ? Math.floor(next() * file.size) : file.size;
          const source = mutated(file, patch, size);
          const started = Date.now();
          try {
            if (name === 'udf-image') {
              await exercise((await openUdfImage(source)).tree);
            } else {
              const image = await openIsoImage(source);
              await readBootCatalog(source, image.descriptors.bootRecords);
              await exercise(image.tree);
            }
            outcomes.ok++;
          } catch (error) {
            if (!(error instanceof BootkeyError)) assert.fail(`case ${n}: ${error instanceof Error ? error.stack : String(error)}`);
            outcomes.typed++;
          }
          assert.ok(Date.now() - started < 1000, `case ${n} took ${Date.now() - started} ms`);
        }
      } finally {
        await file.close();
      }
      assert.ok(outcomes.typed > 0 && outcomes.ok > 0, `both outcomes occur: ${JSON.stringify(outcomes)}`);
    });
  }
});
