// The durable writer on the host's filesystem: bytes and hash as sha256sum sees them, progress that only ever
// reports flushed bytes, no file under the final name unless complete and verified, conflicts refused.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { hostDurableWriter } from '../../main/adapters/fs/durable-writer.js';
import { BootkeyError } from '../../main/core/errors.js';

async function* chunksOf(bytes: Uint8Array, size: number): AsyncGenerator<Uint8Array> {
  for (let at = 0; at < bytes.length; at += size) yield bytes.subarray(at, at + size);
}

describe('durable writer', () => {
  test('writes, hashes like sha256sum, reports durable bytes in windows, leaves no temporary', async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'bootkey-dw-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const data = randomBytes(5 * 1024 * 1024 + 123);
    const reports: number[] = [];
    const path = join(dir, 'out.bin');
    const result = await hostDurableWriter(1024 * 1024).write(path, chunksOf(data, 300_000),
      { size: data.length, onDurable: (b) => reports.push(b) });
    const sha = execFileSync('sha256sum', [path], { encoding: 'utf8' }).split(' ')[0];
    assert.equal(result.sha256, sha);
    assert.deepEqual(await readFile(path), data);
    assert.ok(reports.length >= 5, `reports: ${reports.join(',')}`);
    assert.deepEqual([...reports].sort((a, b) => a - b), reports, 'progress never goes back');
    assert.equal(reports.at(-1), data.length);
    for (let i = 0; i + 1 < reports.length; i += 1) assert.ok(reports[i + 1]! - reports[i]! <= 1024 * 1024 + 300_000);
    assert.deepEqual(await readdir(dir), ['out.bin']);
  });

  test('a short source or a wrong expected hash leaves nothing under either name', async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'bootkey-dw-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const writer = hostDurableWriter();
    await assert.rejects(writer.write(join(dir, 'a'), chunksOf(new Uint8Array(10), 4), { size: 11 }),
      (e: unknown) => e instanceof BootkeyError && e.code === 'IO_ERROR');
    await assert.rejects(writer.write(join(dir, 'b'), chunksOf(new Uint8Array(10), 4), { size: 10, expectedSha256: '00' }),
      (e: unknown) => e instanceof BootkeyError && e.code === 'IO_ERROR');
    assert.deepEqual(await readdir(dir), []);
  });

  test('an existing file is a CONFLICT unless replace; replaceAtomically swaps whole contents', async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'bootkey-dw-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const path = join(dir, 'cfg');
    await writeFile(path, 'user');
    const writer = hostDurableWriter();
    await assert.rejects(writer.write(path, chunksOf(new Uint8Array(3), 3), { size: 3 }),
      (e: unknown) => e instanceof BootkeyError && e.code === 'CONFLICT');
    assert.equal(await readFile(path, 'utf8'), 'user');
    await writer.replaceAtomically(path, new TextEncoder().encode('new contents'));
    assert.equal(await readFile(path, 'utf8'), 'new contents');
    assert.deepEqual(await readdir(dir), ['cfg']);
  });
});
