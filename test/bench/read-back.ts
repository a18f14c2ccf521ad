// The durable writer's verification read, timed as the multi-ISO benches set it against dd iflag=direct.
import { readFile } from 'node:fs/promises';
import { performance } from 'node:perf_hooks';
import { alignedBuffer, BlockChecks, checksFromMedium, READ_CHUNK } from '../../main/adapters/fs/durable-writer.js';

/** The durable writer's verification read of `copy`: direct reads from the disk, checked as they arrive. */
export async function readBack(copy: string, iso: string): Promise<number> {
  const expected = new BlockChecks();
  expected.update(await readFile(iso));
  expected.end();
  const buffer = alignedBuffer(2 * READ_CHUNK);
  const started = performance.now();
  const read = await checksFromMedium(copy, buffer);
  const seconds = (performance.now() - started) / 1000;
  if (read.readBack !== 'medium') throw new Error('no direct reads here');
  if (read.blocks.join() !== expected.blocks.join()) throw new Error('the copy read back differs from the ISO');
  return seconds;
}

