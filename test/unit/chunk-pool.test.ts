// Chunk buffers reused between the reader and the durable writer: the pool hands out and takes back only its own
// buffers; the source streams read into them; the writer gives every chunk back once, only after writing it, so a
// buffer refilled at once after its release never changes what was written, its hash or its read-back.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { hostDurableWriter } from '../../main/adapters/fs/durable-writer.js';
import { BootkeyError } from '../../main/core/errors.js';
import { ChunkPool, sourceChunks } from '../../main/core/tree-file-chunks.js';
import { MemoryByteSource } from '../harness/memory-byte-source.js';

async function collect(chunks: AsyncIterable<Uint8Array>): Promise<Uint8Array[]> {
  const all: Uint8Array[] = [];
  for await (const chunk of chunks) all.push(chunk);
  return all;
}

describe('chunk pool', () => {
  test('a buffer given back is handed out again; a foreign one or one given twice is not kept', () => {
    const pool = new ChunkPool(16);
    const a = pool.take(16);
    assert.equal(a.length, 16);
    pool.give(a.subarray(0, 3));
    pool.give(a);
    assert.equal(pool.take(8).buffer, a.buffer);
    assert.notEqual(pool.take(8).buffer, a.buffer, 'given twice, it was handed out twice');
    const foreign = new Uint8Array(16);
    pool.give(foreign);
    assert.notEqual(pool.take(16).buffer, foreign.buffer);
  });

  test('sourceChunks: the bytes of the range, every chunk a view of a pooled buffer, the short last one too', async () => {
    const bytes = new Uint8Array(randomBytes(100)); // not a Buffer: its slice() would be a view
    const pool = new ChunkPool(32);
    const chunks = await collect(sourceChunks(new MemoryByteSource(bytes), 10, 80, pool));
    assert.deepEqual(new Uint8Array(Buffer.concat(chunks)), bytes.subarray(10, 90));
    assert.deepEqual(chunks.map((c) => c.length), [32, 32, 16]);
    assert.deepEqual(chunks.map((c) => c.buffer.byteLength), [32, 32, 32]);
    pool.give(chunks[2] as Uint8Array);
    assert.equal(pool.take(32).buffer, (chunks[2] as Uint8Array).buffer, 'the short chunk goes back to the pool');
  });

  test('sourceChunks: a source that ends early is an IO_ERROR naming the byte', async () => {
    await assert.rejects(collect(sourceChunks(new MemoryByteSource(new Uint8Array(50)), 0, 64, new ChunkPool(32))),
      (error: unknown) => error instanceof BootkeyError && error.code === 'IO_ERROR' && /byte 50\b/.test(error.message));
  });

  test('the writer releases each chunk once, after writing it; refilling it then leaves the file and its verification intact', async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'bootkey-pool-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const data = new Uint8Array(randomBytes(3 * 1024 * 1024 + 77));
    const pool = new ChunkPool(256 * 1024);
    const released: Uint8Array[] = [];
    const handed: Uint8Array[] = [];
    async function* tracked(): AsyncGenerator<Uint8Array> {
      for await (const chunk of sourceChunks(new MemoryByteSource(data), 0, data.length, pool)) {
        handed.push(chunk);
        yield chunk;
      }
    }
    const path = join(dir, 'out.bin');
    const result = await hostDurableWriter(512 * 1024).write(path, tracked(), {
      size: data.length,
      release: (chunk) => {
        released.push(chunk);
        pool.give(chunk);
        chunk.fill(0xee); // what a reader refilling the buffer at once would do
      },
    });
    assert.equal(released.length, handed.length);
    assert.equal(new Set(released).size, handed.length);
    assert.ok(handed.every((c) => released.includes(c)));
    assert.ok(pool.take(1).buffer.byteLength === 256 * 1024, 'the pool got its buffers back');
    assert.deepEqual(new Uint8Array(await readFile(path)), data);
    // the hash is of the bytes as written, not of the refilled buffers
    assert.equal(result.sha256, createHash('sha256').update(data).digest('hex'));
  });
});
