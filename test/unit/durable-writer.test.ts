// The durable writer on the host's filesystem: bytes and hash as sha256sum sees them, progress that only ever
// reports flushed bytes, no file under the final name unless complete and verified, conflicts refused.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { crc32 } from 'node:zlib';
import { mkdir, mkdtemp, readdir, readFile, rm, statfs, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { describe, test } from 'node:test';
import { BlockChecks, hostDurableWriter, sliceFor, Syncer, type WindowLimits } from '../../main/adapters/fs/durable-writer.js';
import { BootkeyError } from '../../main/core/errors.js';

async function* chunksOf(bytes: Uint8Array, size: number): AsyncGenerator<Uint8Array> {
  for (let at = 0; at < bytes.length; at += size) yield bytes.subarray(at, at + size);
}

describe('durable writer', () => {
  test('block checks: one CRC-32 per MiB, the last block shorter, the same however the bytes arrive', () => {
    const MiB = 1024 * 1024;
    const data = randomBytes(3 * MiB + 5);
    const expected = [0, 1, 2, 3].map((i) => crc32(data.subarray(i * MiB, Math.min(data.length, (i + 1) * MiB))));
    for (const split of [data.length, MiB, 4096, 700_001, 1]) {
      const checks = new BlockChecks();
      for (let at = 0; at < data.length; at += split === 1 ? 1 + (at % 3_000_017) : split) {
        checks.update(data.subarray(at, at + (split === 1 ? 1 + (at % 3_000_017) : split)));
      }
      checks.end();
      assert.deepEqual(checks.blocks, expected, `pieces of ${split}`);
    }
    const empty = new BlockChecks();
    empty.end();
    assert.deepEqual(empty.blocks, []);
    const exact = new BlockChecks();
    exact.update(data.subarray(0, MiB));
    exact.end();
    assert.deepEqual(exact.blocks, [expected[0]], 'a whole last block is not followed by an empty one');
  });

  test('read-back slices: whole commands of the device (usb-storage\'s 120 KiB: 480 KiB), else 512 KiB', () => {
    const KiB = 1024;
    assert.equal(sliceFor(120), 480 * KiB);
    assert.equal(sliceFor(60), 480 * KiB);
    assert.equal(sliceFor(124), 496 * KiB);
    for (const max of [128, 256, 512, 1280, 32767]) assert.equal(sliceFor(max), 512 * KiB, `${max} KiB`);
    // Not whole pages (O_DIRECT wants 4 KiB multiples), nothing or nonsense: the default.
    for (const max of [126, 2, 0, Number.NaN]) assert.equal(sliceFor(max), 512 * KiB, `${max} KiB`);
  });

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

  test('a short source leaves nothing under either name', async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'bootkey-dw-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const writer = hostDurableWriter();
    await assert.rejects(writer.write(join(dir, 'a'), chunksOf(new Uint8Array(10), 4), { size: 11 }),
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

describe('durable writer: windows, batches, cancellation', () => {
  test('progress trails the bytes handed over by at most two windows and a chunk, and ends at the size', async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'bootkey-dw-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const window = 1024 * 1024;
    const chunk = 256 * 1024;
    const data = randomBytes(9 * window + 77);
    let handed = 0;
    let reported = 0;
    let largestGap = 0;
    async function* counted(): AsyncGenerator<Uint8Array> {
      for await (const c of chunksOf(data, chunk)) {
        handed += c.length;
        largestGap = Math.max(largestGap, handed - reported);
        yield c;
      }
    }
    const result = await hostDurableWriter(window).write(join(dir, 'f'), counted(), { size: data.length, onDurable: (b) => { reported = b; } });
    assert.equal(reported, data.length);
    assert.equal(result.sha256, createHash('sha256').update(data).digest('hex'));
    assert.ok(largestGap <= 2 * window + chunk, `gap ${largestGap}`);
  });

  test('longer windows: the first at the minimum, then a fast source flushes at the maximum, a slow one after the seconds', async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'bootkey-dw-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const KiB = 1024;
    const data = randomBytes(4096 * KiB);
    async function* paced(pause: number): AsyncGenerator<Uint8Array> {
      for await (const c of chunksOf(data, 64 * KiB)) {
        if (pause) await new Promise((resolve) => setTimeout(resolve, pause));
        yield c;
      }
    }
    const steps = async (name: string, pause: number, seconds: number, filesystems?: Pick<WindowLimits, 'filesystems' | 'syncfs'>) => {
      const reports = [0];
      const result = await hostDurableWriter(128 * KiB, { seconds, max: 1024 * KiB, ...filesystems }).write(join(dir, name), paced(pause),
        { size: data.length, onDurable: (b) => reports.push(b) });
      assert.equal(result.sha256, createHash('sha256').update(data).digest('hex'));
      assert.equal(reports.at(-1), data.length);
      return reports.slice(1).map((r, i) => r - (reports[i] as number));
    };
    // No pause: the first window ends at the minimum, every other but the last at the maximum (minimum-sized
    // windows would make 32 steps).
    const fast = await steps('fast', 0, 60);
    assert.deepEqual(fast, [128 * KiB, 1024 * KiB, 1024 * KiB, 1024 * KiB, 896 * KiB], `fast: ${fast}`);
    // Limited to filesystems: this one's type (statfs) takes them, any other keeps the minimum; flushed by
    // syncfs where named so (vfat's way), the same windows.
    const here = (await statfs(dir)).type;
    assert.equal((await steps('named', 0, 60, { filesystems: [here] })).length, 5);
    assert.deepEqual(await steps('by syncfs', 0, 60, { filesystems: [here], syncfs: [here] }), fast);
    assert.deepEqual(await steps('elsewhere', 0, 60, { filesystems: [here + 1], syncfs: [here] }), Array(32).fill(128 * KiB));
    // 64 KiB every 40 ms, windows of 0.1 s: each ends at the minimum or a chunk or two past it, far below the maximum.
    const slow = await steps('slow', 40, 0.1);
    assert.ok(slow.length >= 8 && slow.every((step) => step <= 512 * KiB), `slow: ${slow}`);
  });

  test('a batch renames nothing before every file is flushed and verified; beforeRename runs then; results in order', async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'bootkey-dw-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const files = Array.from({ length: 30 }, (_, i) => ({ name: `f${i}`, data: randomBytes(1000 + i * 40_000) }));
    const batch = hostDurableWriter(256 * 1024).batch();
    const durable = new Map<string, number>();
    for (const f of files) {
      await batch.add(join(dir, f.name), chunksOf(f.data, 64 * 1024), { size: f.data.length, onDurable: (b) => durable.set(f.name, b) });
    }
    assert.deepEqual((await readdir(dir)).filter((n) => !n.endsWith('.bootkey-tmp')), [], 'nothing under a final name yet');
    let namesBeforeRename: string[] = [];
    const results = await batch.commit(async () => {
      namesBeforeRename = await readdir(dir);
      for (const f of files) assert.equal(durable.get(f.name), f.data.length, `${f.name} flushed before the renames`);
    });
    assert.equal(namesBeforeRename.length, files.length);
    assert.ok(namesBeforeRename.every((n) => n.endsWith('.bootkey-tmp')));
    assert.deepEqual(results.map((r) => r.sha256), files.map((f) => createHash('sha256').update(f.data).digest('hex')));
    assert.deepEqual((await readdir(dir)).sort(), files.map((f) => f.name).sort());
    for (const f of files) assert.deepEqual(await readFile(join(dir, f.name)), f.data);
  });

  test('adds running at once: results in the order of the calls, every window flushed before the renames', async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'bootkey-dw-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    // Sizes around the window, and sources that wait at random: windows end in the middle of other files' writes.
    const files = Array.from({ length: 40 }, (_, i) => ({ name: `f${i}`, data: randomBytes(3000 + ((i * 7919) % 60) * 1000) }));
    async function* slow(bytes: Uint8Array): AsyncGenerator<Uint8Array> {
      for await (const c of chunksOf(bytes, 8 * 1024)) {
        await new Promise((resolve) => setTimeout(resolve, Math.random() * 3));
        yield c;
      }
    }
    const batch = hostDurableWriter(32 * 1024).batch();
    const durable = new Map<string, number>();
    await Promise.all(files.map((f) => batch.add(join(dir, f.name), slow(f.data), { size: f.data.length, onDurable: (b) => durable.set(f.name, b) })));
    const results = await batch.commit(async () => {
      for (const f of files) assert.equal(durable.get(f.name), f.data.length, `${f.name} flushed before the renames`);
    });
    assert.deepEqual(results.map((r) => r.sha256), files.map((f) => createHash('sha256').update(f.data).digest('hex')));
    for (const f of files) assert.deepEqual(await readFile(join(dir, f.name)), f.data);
  });

  test('a batch of many files in a folder whose name holds a newline: flushed and renamed like any other', async (t) => {
    const dir = join(await mkdtemp(join(tmpdir(), 'bootkey-dw-')), 'new\nline');
    t.after(() => rm(dirname(dir), { recursive: true, force: true }));
    await mkdir(dir);
    const files = Array.from({ length: 12 }, (_, i) => ({ name: `f${i}`, data: randomBytes(5000 + i) }));
    const batch = hostDurableWriter(16 * 1024).batch();
    for (const f of files) await batch.add(join(dir, f.name), chunksOf(f.data, 4096), { size: f.data.length });
    const results = await batch.commit();
    assert.equal(results.length, files.length);
    for (const f of files) assert.deepEqual(await readFile(join(dir, f.name)), f.data);
  });

  test('the syncer: a failed flush is an IO_ERROR in sync\'s words; the same shell serves the next call; after close a new one starts', async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'bootkey-dw-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const syncer = new Syncer();
    t.after(() => syncer.close());
    await syncer.syncFilesystems([{ dir, device: 1 }]);
    await assert.rejects(syncer.syncFilesystems([{ dir: join(dir, 'gone'), device: 2 }, { dir, device: 1 }]),
      (e: unknown) => e instanceof BootkeyError && e.code === 'IO_ERROR' && e.message.startsWith(`${join(dir, 'gone')}: flushing to the medium failed: `)
        && /No such file/.test(e.message));
    await syncer.syncFilesystems([{ dir, device: 1 }]);
    syncer.close();
    await syncer.syncFilesystems([{ dir, device: 1 }]);
  });

  test('a write cancelled midway stops within one chunk, removes its temporary and throws CANCELLED', async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'bootkey-dw-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const controller = new AbortController();
    let yieldedAfterAbort = 0;
    async function* source(): AsyncGenerator<Uint8Array> {
      for (let i = 0; i < 100; i += 1) {
        if (controller.signal.aborted) yieldedAfterAbort += 1;
        if (i === 10) controller.abort();
        yield randomBytes(128 * 1024);
      }
    }
    await assert.rejects(hostDurableWriter(512 * 1024).write(join(dir, 'big'), source(), { size: 100 * 128 * 1024, signal: controller.signal }),
      (e: unknown) => e instanceof BootkeyError && e.code === 'CANCELLED');
    assert.ok(yieldedAfterAbort <= 1, `${yieldedAfterAbort} chunks taken after the abort`);
    assert.deepEqual(await readdir(dir), []);
  });

  test('a cancelled batch removes every temporary and renames nothing; a signal aborted before commit stops it', async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'bootkey-dw-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    await writeFile(join(dir, 'user.txt'), 'mine');
    const controller = new AbortController();
    const batch = hostDurableWriter(64 * 1024).batch({ signal: controller.signal });
    for (let i = 0; i < 5; i += 1) await batch.add(join(dir, `f${i}`), chunksOf(randomBytes(100_000), 30_000), { size: 100_000 });
    controller.abort();
    let renamedAnything = false;
    await assert.rejects(batch.commit(async () => { renamedAnything = true; }),
      (e: unknown) => e instanceof BootkeyError && e.code === 'CANCELLED');
    await batch.discard();
    assert.equal(renamedAnything, false);
    assert.deepEqual(await readdir(dir), ['user.txt']);
  });
});
