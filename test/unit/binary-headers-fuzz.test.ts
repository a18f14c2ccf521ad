// Hostile input for the header parsers of files found on a user's key: a dm-snapshot COW store (a LiveOS
// overlay), an ext4 overlay or home.img, a LUKS home.img, and an .efi loader's PE header. Each case is a real
// valid input (built here the kernel's way, or made by mkfs.ext4 / cryptsetup) seen through seeded mutations
// (test/harness/mutations.ts: bit flips, extreme bytes and words, known fields set to edge values, rewired
// structures, truncation), sometimes claiming a huge sparse size; LUKS2's JSON gets structural changes too.
// Every case ends in a result that keeps the invariants below, or a typed error, within the CPU and read budgets.
//
// Replay one case: BOOTKEY_FUZZ_CASE=<target>:<index> npm test -- test/unit/binary-headers-fuzz.test.ts
import assert from 'node:assert/strict';
import { mkdtemp, open, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { ParseError } from '../../main/core/errors.js';
import { DM_SNAPSHOT_MAGIC, dmStatusText, readDmSnapshot, SECTOR_BYTES, type DmException, type DmSnapshotUsage } from '../../main/core/persistence/dm-snapshot.js';
import { readLuksHeader } from '../../main/core/persistence/luks-header.js';
import { readOverlayUsage } from '../../main/core/persistence/overlay-status.js';
import { peMachine, PE_HEADER_PROBE, REMOVABLE_LOADER } from '../../main/core/pe/pe-machine.js';
import { run } from '../fixtures/command.js';
import { below, BudgetSource, fuzzTest, jsonText, mutateJson, pick, sparseSource, type Json } from '../harness/fuzz-run.js';
import { MemoryByteSource } from '../harness/memory-byte-source.js';
import { encodeField, mutateCase, patchedSource, random, type Field, type ImageMap, type Patch, type Random, type Rewire } from '../harness/mutations.js';
import { tierSuite } from '../harness/tier.js';

/** A pristine input and what is known of its structure. */
interface Target {
  name: string;
  bytes: Uint8Array;
  /** The file's size; `bytes` may be only its head (the rest reads as zeros). */
  size: number;
  map: ImageMap;
}

function imageMap(size: number, metadata: [number, number][], fields: Field[], rewires: Rewire[]): ImageMap {
  return { size, metadata, fields, rewires, udfTags: [], gptHeaders: [] };
}

/** Sizes a file on a key may claim beyond its bytes: a large sparse overlay, and the largest offsets JavaScript holds. */
const HUGE_SIZES = [2 ** 32 + 512, 2 ** 40, 2 ** 53 - 1];

/**
 * A case over `target`: mutateCase's changes to the pristine bytes, then (sometimes) a huge claimed size,
 * read through a budget. `extra` makes format-specific patches first (mutateCase's win over them).
 */
async function mutated(target: Target, seed: number, budget: number, extra: (next: Random) => { patches: Patch[]; steps: string[] } = () => ({ patches: [], steps: [] })) {
  const next = random(seed ^ 0x5bd1e995);
  const first = extra(next);
  // A structural change alone most of the time: bit flips on top would mostly just break what it built.
  const m = first.steps.length === 0 || next() < 0.4 ? await mutateCase(target.map, new MemoryByteSource(target.bytes), seed)
    : { patches: [], size: target.size, steps: [] };
  let size = Math.min(m.size, target.size);
  const steps = [target.name, ...first.steps, ...m.steps];
  if (next() < 0.08) {
    size = pick(next, HUGE_SIZES);
    steps.push(`claims ${size} bytes`);
  }
  const source = new BudgetSource(patchedSource(sparseSource(target.bytes, size), [...first.patches, ...m.patches], size), budget);
  return { source, size, steps };
}

const isCount = (n: number) => Number.isSafeInteger(n) && n >= 0;

// ---- dm-snapshot COW stores, laid out as drivers/md/dm-snap-persistent.c writes them ----

interface DmStore extends Target {
  chunkSectors: number;
  exceptions: number;
  /** The next free chunk the kernel would report, from the layout built. */
  nextFree: number;
}

function dmStore(name: string, chunks: number, count: number, { chunkSectors = 8, valid = 1, initialised = true } = {}): DmStore {
  const chunkBytes = chunkSectors * SECTOR_BYTES;
  const perArea = chunkBytes / 16;
  const stride = perArea + 1;
  const size = chunks * chunkBytes;
  const bytes = new Uint8Array(size);
  const view = new DataView(bytes.buffer);
  const fields: Field[] = [];
  const rewires: Rewire[] = [];
  const le = (at: number, width: 4 | 8, what: string) => fields.push({ at, width, endian: 'le', what });
  if (initialised) {
    view.setUint32(0, DM_SNAPSHOT_MAGIC, true);
    view.setUint32(4, valid, true);
    view.setUint32(8, 1, true);
    view.setUint32(12, chunkSectors, true);
  }
  le(0, 4, 'magic');
  le(4, 4, 'valid flag');
  le(8, 4, 'version');
  le(12, 4, 'chunk sectors');
  const pairAt = (i: number) => (1 + stride * Math.floor(i / perArea)) * chunkBytes + (i % perArea) * 16;
  let nextFree = 2;
  for (let i = 0; i < count; i++) {
    view.setBigUint64(pairAt(i), BigInt(1000 + 3 * i), true);
    view.setBigUint64(pairAt(i) + 8, BigInt(nextFree), true);
    nextFree += 1;
    if (nextFree % stride === 1) nextFree += 1;
  }
  // The first and last few pairs and the terminating one: every field of a table, without thousands of them.
  for (const i of new Set([0, 1, 2, count - 2, count - 1, count].filter((i) => i >= 0 && pairAt(i) + 16 <= size))) {
    le(pairAt(i), 8, `exception ${i} old chunk`);
    le(pairAt(i) + 8, 8, `exception ${i} new chunk`);
  }
  const totalChunks = chunks;
  const newChunk = (i: number, value: number, what: string) => {
    if (pairAt(i) + 16 <= size) rewires.push({ what, patches: encodeField({ at: pairAt(i) + 8, width: 8, endian: 'le', what: '' }, value) });
  };
  newChunk(0, 1, 'exception 0 in the metadata chunk of area 0');
  newChunk(0, 1 + stride, 'exception 0 in the metadata chunk of area 1');
  newChunk(Math.max(0, count - 1), totalChunks - 1, 'last exception in the last chunk');
  newChunk(Math.max(0, count - 1), totalChunks, 'last exception one past the end');
  if (pairAt(0) + 16 <= size) {
    rewires.push({ what: 'exception 0 new chunk above 2^53', patches: [{ offset: pairAt(0) + 8, bytes: Uint8Array.of(0, 0, 0, 0, 0, 0, 0x20, 0) }] });
  }
  // Areas full of exceptions (all pointing at chunk 2) as far as the file goes: the walk must read each once and stop.
  const fullArea = new Uint8Array(chunkBytes);
  for (let at = 0; at < chunkBytes; at += 16) fullArea[at + 8] = 2;
  const areas: Patch[] = [];
  for (let location = 1; (location + 1) * chunkBytes <= size; location += stride) areas.push({ offset: location * chunkBytes, bytes: fullArea });
  rewires.push({ what: 'area 0 full', patches: areas.slice(0, 1) }, { what: 'every area full', patches: areas });
  const metadata: [number, number][] = [[0, 16]];
  for (let area = 0; area <= Math.floor(count / perArea) + 1; area++) {
    const at = (1 + stride * area) * chunkBytes;
    if (at < size) metadata.push([at, Math.min(size, at + Math.min(chunkBytes, (count - area * perArea + 1) * 16 + 64))]);
  }
  return { name, bytes, size, map: imageMap(size, metadata, fields, rewires), chunkSectors, exceptions: count, nextFree };
}

const DM_STORES = [
  dmStore('new store', 64, 0, { initialised: false }),
  dmStore('10 exceptions', 600, 10),
  dmStore('one full area', 600, 256),
  dmStore('two areas', 700, 300),
  dmStore('invalid', 300, 5, { valid: 0 }),
  dmStore('nearly full', 13, 10),
  dmStore('8 KiB chunks', 1200, 600, { chunkSectors: 16 }),
  dmStore('512 B chunks', 200, 70, { chunkSectors: 1 }),
];

/** What a dm usage must satisfy, whatever the bytes were. */
function checkDmUsage(u: DmSnapshotUsage, size: number, seen: DmException[] | undefined): string {
  for (const key of ['chunkSectors', 'exceptions', 'allocatedSectors', 'totalSectors', 'metadataSectors', 'areas', 'usedBytes', 'capacityBytes'] as const) {
    assert.ok(isCount(u[key]), `${key} ${u[key]} is a count`);
  }
  assert.ok(Number.isFinite(u.percentUsed) && u.percentUsed >= 0, `percent ${u.percentUsed}`);
  assert.equal(u.totalSectors, Math.floor(size / SECTOR_BYTES));
  assert.equal(u.valid, u.state !== 'invalid');
  assert.match(dmStatusText(u), u.valid ? /^\d+\/\d+ \d+$/ : /^Invalid$/);
  if (u.state === 'new') assert.equal(u.exceptions, 0);
  // A store said to be usable has room for the next chunk: the kernel could write to it.
  if (u.state === 'new' || u.state === 'valid') {
    assert.ok(u.allocatedSectors + u.chunkSectors <= u.totalSectors, `${u.state} store with ${u.allocatedSectors}/${u.totalSectors} sectors has room for a chunk`);
    assert.ok(u.percentUsed <= 100, `percent ${u.percentUsed}`);
  }
  if (seen) {
    assert.equal(seen.length, u.exceptions);
    const stride = (u.chunkSectors * SECTOR_BYTES) / 16 + 1;
    const totalChunks = Math.floor(u.totalSectors / u.chunkSectors);
    for (const e of seen) {
      assert.ok(isCount(e.oldChunk) && isCount(e.newChunk), `exception ${JSON.stringify(e)}`);
      assert.ok(e.newChunk >= 2 && e.newChunk < totalChunks && (e.newChunk - 1) % stride !== 0, `exception data chunk ${e.newChunk} of ${totalChunks}`);
    }
  }
  return u.state;
}

// ---- PE heads of .efi loaders ----

function peHead(name: string, length: number, peAt: number, machine: number): Target {
  const bytes = new Uint8Array(length);
  const view = new DataView(bytes.buffer);
  bytes.set([0x4d, 0x5a]);
  view.setUint32(0x3c, peAt, true);
  view.setUint32(peAt, 0x50450000, false);
  view.setUint16(peAt + 4, machine, true);
  view.setUint16(peAt + 6, 3, true); // sections
  view.setUint16(peAt + 20, 0xf0, true); // optional header size
  view.setUint16(peAt + 24, 0x20b, true); // PE32+
  const fields: Field[] = [
    { at: 0, width: 2, endian: 'le', what: 'MZ' },
    { at: 0x3c, width: 4, endian: 'le', what: 'PE header offset' },
    { at: peAt, width: 4, endian: 'be', what: 'PE signature' },
    { at: peAt + 4, width: 2, endian: 'le', what: 'machine' },
  ];
  const offsetTo = (value: number, what: string): Rewire => ({ what, patches: encodeField(fields[1]!, value) });
  const rewires = [offsetTo(length - 6, 'PE header at the last 6 bytes'), offsetTo(length - 5, 'PE header 5 bytes before the end'),
    offsetTo(length - 3, 'PE header 3 bytes before the end'), offsetTo(0x3c, 'PE header offset pointing at itself'),
    offsetTo(0xffff_fffa, 'PE header offset 2^32 - 6')];
  return { name, bytes, size: length, map: imageMap(length, [[0, 0x40], [peAt, peAt + 26]], fields, rewires) };
}

const PE_HEADS = [
  peHead('x64 loader', 4096, 0x80, 0x8664),
  peHead('ia32 loader', 4096, 0xe8, 0x014c),
  peHead('aa64 loader near the probe end', 4096, 4096 - 32, 0xaa64),
  peHead('small riscv64 file', 200, 0x40, 0x5064),
];

describe('fuzzed dm-snapshot stores and PE heads end in a result or a typed error', () => {
  test('the pristine stores read as they were built', async () => {
    for (const store of DM_STORES) {
      const seen: DmException[] = [];
      const u = await readDmSnapshot(new MemoryByteSource(store.bytes), (e) => seen.push(e));
      checkDmUsage(u, store.size, seen);
      assert.equal(u.exceptions, store.exceptions, store.name);
      assert.equal(u.allocatedSectors, store.nextFree * store.chunkSectors, store.name);
    }
  });

  test('regression: a zeroed file with no room for the header, area 0 and one chunk is overflow, not a new store', async () => {
    // Fuzz case "new store, truncated to 4107" (seed 2022631665): 'new' with 16/8 sectors, 200 % used.
    for (const [chunks, state] of [[1, 'overflow'], [2, 'overflow'], [3, 'new']] as const) {
      const u = await readDmSnapshot(new MemoryByteSource(new Uint8Array(chunks * 4096)));
      assert.equal(u.state, state, `${chunks} chunks`);
    }
  });

  test('regression: LUKS2 metadata whose segment is null is a ParseError, not a TypeError', async () => {
    // Fuzz case "luks2 unfinished, $.segments.0 = null" (luks-header seed 1130760683).
    const image = new Uint8Array(65536);
    image.set([0x4c, 0x55, 0x4b, 0x53, 0xba, 0xbe, 0, 2]);
    image[8 + 6] = 0x40; // header size 16384, big-endian
    image.set(new TextEncoder().encode('{"segments":{"0":null}}'), 4096);
    await assert.rejects(readLuksHeader(new MemoryByteSource(image)), (e: unknown) => e instanceof ParseError && /segment 0/.test(e.message));
  });

  fuzzTest('dm-snapshot', 4000, async (seed) => {
    const store = pick(random(seed), DM_STORES);
    // Each metadata area once, the header once, plus a zeroed area past the real bytes.
    const chunkBytes = store.chunkSectors * SECTOR_BYTES;
    const { source, size, steps } = await mutated(store, seed, store.bytes.length + 2 * 1024 * 1024 + 2 * chunkBytes);
    return {
      steps,
      exercise: async () => {
        const seen: DmException[] = [];
        const state = checkDmUsage(await readDmSnapshot(source, (e) => seen.push(e)), size, seen);
        const overlay = await readOverlayUsage(source);
        if (overlay.type === 'dm-snapshot') checkDmUsage(overlay, size, undefined);
        return state;
      },
    };
  });

  fuzzTest('pe-machine', 3000, async (seed) => {
    const head = pick(random(seed), PE_HEADS);
    const { source, steps } = await mutated(head, seed, PE_HEADER_PROBE);
    return {
      steps,
      exercise: async () => {
        const bytes = await source.read(0, PE_HEADER_PROBE);
        const arch = peMachine(bytes);
        if (arch === undefined) return 'not PE';
        assert.ok(Object.hasOwn(REMOVABLE_LOADER, arch), `arch ${arch}`);
        assert.deepEqual([bytes[0], bytes[1]], [0x4d, 0x5a]);
        // The same bytes at an odd place in a larger buffer, and followed by more bytes, say the same.
        const shifted = new Uint8Array(bytes.length + 107);
        shifted.set(bytes, 7);
        assert.equal(peMachine(shifted.subarray(7, 7 + bytes.length)), arch);
        assert.equal(peMachine(shifted.subarray(7)), arch);
        return arch;
      },
    };
  });
});

// ---- ext4 overlays and home.img made by mkfs.ext4, LUKS home.img made by cryptsetup ----

/** The head of a file (what the parsers can read of it) as a target. */
async function head(path: string, name: string, bytes: number): Promise<{ name: string; bytes: Uint8Array; size: number }> {
  const file = await open(path);
  try {
    const size = (await file.stat()).size;
    const buffer = new Uint8Array(Math.min(size, bytes));
    await file.read(buffer, 0, buffer.length, 0);
    return { name, bytes: buffer, size };
  } finally {
    await file.close();
  }
}

const SB = 1024;

function ext4Target(image: { name: string; bytes: Uint8Array; size: number }): Target {
  const f = (at: number, width: 2 | 4, what: string): Field => ({ at: SB + at, width, endian: 'le', what });
  const fields = [f(0, 4, 'inodes'), f(4, 4, 'blocks lo'), f(8, 4, 'reserved lo'), f(12, 4, 'free lo'), f(16, 4, 'free inodes'),
    f(24, 4, 'log block size'), f(56, 2, 'magic'), f(58, 2, 'state'), f(96, 4, 'incompat features'), f(0x150, 4, 'blocks hi'),
    f(0x154, 4, 'reserved hi'), f(0x158, 4, 'free hi')];
  const rewires: Rewire[] = [
    { what: '64bit with huge high words', patches: [{ offset: SB + 96, bytes: Uint8Array.of(0xc2, 0x02, 0, 0) },
      ...[0x150, 0x154, 0x158].map((at) => ({ offset: SB + at, bytes: Uint8Array.of(0xff, 0xff, 0xff, 0xff) }))] },
    { what: 'label without a NUL, not UTF-8', patches: [{ offset: SB + 120, bytes: new Uint8Array(16).fill(0xc3) }] },
    { what: 'free blocks one more than blocks',
      patches: encodeField(fields[3]!, new DataView(image.bytes.buffer, image.bytes.byteOffset).getUint32(SB + 4, true) + 1) },
  ];
  return { ...image, map: imageMap(image.size, [[SB, 2 * SB]], fields, rewires) };
}

/** LUKS binary header fields (big-endian) of both versions. */
function luksFields(version: 1 | 2): Field[] {
  const f = (at: number, width: 2 | 4 | 8, what: string): Field => ({ at, width, endian: 'be', what });
  if (version === 2) return [f(6, 2, 'version'), f(8, 8, 'header size'), f(16, 8, 'sequence id'), f(256, 8, 'header offset')];
  return [f(6, 2, 'version'), f(104, 4, 'payload offset'), f(108, 4, 'key bytes'),
    ...Array.from({ length: 8 }, (_, slot) => f(208 + slot * 48, 4, `keyslot ${slot} state`))];
}

interface LuksTarget extends Target {
  json?: Json;
  /** Bytes of the JSON area that held text (cleared before a mutated document is written). */
  jsonBytes: number;
}

function luksTarget(image: { name: string; bytes: Uint8Array; size: number }): LuksTarget {
  const version = image.bytes[7] === 2 ? 2 : 1;
  let json: Json | undefined;
  let jsonBytes = 0;
  if (version === 2) {
    const area = image.bytes.subarray(4096, 4096 + 12288);
    jsonBytes = area.indexOf(0);
    json = JSON.parse(new TextDecoder().decode(area.subarray(0, jsonBytes))) as Json;
  }
  const metadata: [number, number][] = version === 2 ? [[0, 512], [4096, 4096 + jsonBytes]] : [[0, 592]];
  return { ...image, json, jsonBytes, map: imageMap(image.size, metadata, luksFields(version), []) };
}

/** Values LUKS2 metadata holds as strings: byte counts, `dynamic`, segment types and requirements. */
const LUKS_STRINGS = ['dynamic', '0', '-1', '4096', '16777216', '18446744073709551615', '9007199254740993', '1e3', ' 12', '0x10',
  'crypt', 'linear', 'online-reencrypt-v2', 'aes-xts-plain64', ''];

tierSuite('tools', 'fuzzed ext4 superblocks and LUKS headers end in a result or a typed error', () => {
  let dir: string | undefined;
  let built: Promise<{ ext4: Target[]; luks: LuksTarget[] }> | undefined;
  const targets = () => {
    built ??= (async () => {
      dir = await mkdtemp(join(tmpdir(), 'bootkey-header-fuzz-'));
      const ext4: Target[] = [];
      for (const [name, args] of [['1k', ['-b', '1024']], ['4k', ['-b', '4096', '-O', '^64bit']], ['64bit', ['-b', '4096', '-O', '64bit', '-L', 'home']]] as const) {
        const path = join(dir, `${name}.img`);
        await run('mkfs.ext4', ['-q', ...args, path, '16M']);
        ext4.push(ext4Target(await head(path, `ext4 ${name}`, 4 * SB)));
      }
      const format = ['--batch-mode', '--disable-locks', '--pbkdf', 'pbkdf2', '--pbkdf-force-iterations', '1000', '--key-file=-'];
      const luks: LuksTarget[] = [];
      for (const [name, args] of [
        ['luks1', ['luksFormat', '--type', 'luks1', ...format]],
        ['luks2', ['luksFormat', '--type', 'luks2', '--label', 'home', ...format]],
        ['luks2 unfinished', ['reencrypt', '--encrypt', '--init-only', '--type', 'luks2', '--reduce-device-size', '8M', ...format]],
      ] as const) {
        const path = join(dir, `${name.replace(' ', '-')}.img`);
        await run('truncate', ['-s', '24M', path]);
        await run('cryptsetup', [...args, path], { input: 'fuzzing passphrase' });
        luks.push(luksTarget(await head(path, name, 4096 + (4 << 20))));
      }
      return { ext4, luks };
    })();
    return built;
  };
  after(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  test('the pristine images read as what made them', async () => {
    const { ext4, luks } = await targets();
    for (const target of ext4) assert.equal((await readOverlayUsage(sparseSource(target.bytes, target.size))).type, 'overlayfs-ext4', target.name);
    for (const target of luks) {
      const h = await readLuksHeader(sparseSource(target.bytes, target.size));
      assert.equal(h?.version, target.name.startsWith('luks1') ? 1 : 2, target.name);
      assert.equal(h?.unfinished, target.name.endsWith('unfinished'), target.name);
    }
  });

  test('regression: an ext4 filesystem larger than its file is a ParseError', async () => {
    // Fuzz case "ext4 4k, 64bit with huge high words" (ext4-superblock seed 549904495): 7.6e22 bytes of capacity.
    const [first] = (await targets()).ext4;
    assert.ok(first);
    await assert.rejects(readOverlayUsage(sparseSource(first.bytes, first.size - 4096)), (e: unknown) => e instanceof ParseError && /larger than its file/.test(e.message));
  });

  test('a LUKS file cut before its data starts is a ParseError, not a container of no bytes', async () => {
    for (const target of (await targets()).luks) {
      const whole = await readLuksHeader(sparseSource(target.bytes, target.size));
      assert.ok(whole, target.name);
      await assert.rejects(readLuksHeader(sparseSource(target.bytes, whole.dataOffset - 4096)),
        (e: unknown) => e instanceof ParseError && /ends past the file's/.test(e.message), target.name);
      // A 'dynamic' segment (every one cryptsetup made here) is the rest of the file, however long.
      assert.equal((await readLuksHeader(sparseSource(target.bytes, target.size - 512)))?.dataBytes, whole.dataBytes - 512, target.name);
    }
  });

  fuzzTest('ext4-superblock', 2500, async (seed) => {
    const target = pick(random(seed), (await targets()).ext4);
    const { source, size, steps } = await mutated(target, seed, 4 * SB);
    return {
      steps,
      exercise: async () => {
        const u = await readOverlayUsage(source);
        if (u.type === 'dm-snapshot') return `dm ${checkDmUsage(u, size, undefined)}`;
        assert.ok(u.usedBytes >= 0 && u.usedBytes <= u.capacityBytes, `used ${u.usedBytes} of ${u.capacityBytes}`);
        // The kernel refuses to mount a filesystem larger than its device ("block count exceeds size of device").
        assert.ok(u.capacityBytes <= size, `capacity ${u.capacityBytes} in a file of ${size} bytes`);
        assert.ok(u.freeBlocks <= u.blocksCount);
        assert.ok(u.percentUsed >= 0 && u.percentUsed <= 100, `percent ${u.percentUsed}`);
        assert.ok([1024, 2048, 4096, 8192, 16384, 32768, 65536].includes(u.blockSize), `block size ${u.blockSize}`);
        assert.match(u.uuid, /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
        assert.ok(typeof u.label === 'string' && !u.label.includes('\0'));
        return u.valid ? 'ext4' : 'ext4 with errors';
      },
    };
  });

  fuzzTest('luks-header', 3000, async (seed) => {
    const target = pick(random(seed), (await targets()).luks);
    const { source, size, steps } = await mutated(target, seed, 2 * 4096 + (4 << 20), (next) => {
      const { json } = target;
      if (json === undefined || next() < 0.4) return { patches: [], steps: [] };
      let value = json;
      const changes: string[] = [];
      for (let i = 0, n = 1 + below(next, 3); i < n; i++) {
        const change = mutateJson(value, next, LUKS_STRINGS);
        value = change.value;
        changes.push(change.step);
      }
      const text = new TextEncoder().encode(jsonText(value, 5000));
      const bytes = new Uint8Array(Math.max(text.length, target.jsonBytes));
      bytes.set(text);
      return { patches: [{ offset: 4096, bytes }], steps: changes };
    });
    return {
      steps,
      exercise: async () => {
        const h = await readLuksHeader(source);
        const magic = [...(await source.read(0, 6))];
        if (h === undefined) {
          assert.notDeepEqual(magic, [0x4c, 0x55, 0x4b, 0x53, 0xba, 0xbe], 'LUKS magic yet no header');
          return 'not LUKS';
        }
        assert.deepEqual(magic, [0x4c, 0x55, 0x4b, 0x53, 0xba, 0xbe]);
        assert.ok(h.version === 1 || h.version === 2);
        assert.ok(isCount(h.dataOffset) && isCount(h.dataBytes), `data ${h.dataOffset} +${h.dataBytes}`);
        assert.ok(isCount(h.keyslots) && (h.version === 2 || h.keyslots <= 8), `keyslots ${h.keyslots}`);
        assert.ok(h.dataOffset + h.dataBytes <= size, `data ${h.dataOffset} +${h.dataBytes} past the file's ${size} bytes`);
        for (const text of [h.uuid, h.label, h.cipher]) assert.equal(typeof text, 'string');
        return `luks${h.version}${h.unfinished ? ' unfinished' : ''}`;
      },
    };
  });
});
