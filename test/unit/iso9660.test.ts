// The ISO 9660 reader on small hand-built images: the edge cases real tools rarely write and hostile ones do.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ParseError } from '../../main/core/errors.js';
import { walkTree } from '../../main/core/filesystem-tree.js';
import { openIsoImage } from '../../main/core/iso9660/iso-image.js';
import { MemoryByteSource } from '../harness/memory-byte-source.js';

const SECTOR = 2048;
const ROOT = 20;

function both32(value: number): number[] {
  return [value & 0xff, (value >>> 8) & 0xff, (value >>> 16) & 0xff, value >>> 24, value >>> 24, (value >>> 16) & 0xff, (value >>> 8) & 0xff, value & 0xff];
}

const ascii = (text: string) => [...text].map((c) => c.charCodeAt(0));

interface RecordSpec {
  name: string | number[];
  extent: number;
  size: number;
  flags?: number;
  su?: number[];
}

/** One directory record (ECMA-119 9.1), with an optional system use area. */
function record({ name, extent, size, flags = 0, su = [] }: RecordSpec): number[] {
  const id = typeof name === 'string' ? ascii(name) : name;
  const pad = id.length % 2 === 0 ? [0] : [];
  const length = 33 + id.length + pad.length + su.length;
  return [length, 0, ...both32(extent), ...both32(size), 126, 1, 2, 3, 4, 5, 0, flags, 0, 0, 1, 0, 0, 1, id.length, ...id, ...pad, ...su];
}

/** A directory's records ('.' and '..' first), sector-padded the way ECMA-119 requires. */
function directory(self: number, parent: number, entries: RecordSpec[], dotSu: number[] = []): number[] {
  const records = [record({ name: [0], extent: self, size: SECTOR, flags: 2, su: dotSu }), record({ name: [1], extent: parent, size: SECTOR, flags: 2 }), ...entries.map(record)];
  const out: number[] = [];
  for (const r of records) {
    if ((out.length % SECTOR) + r.length > SECTOR) while (out.length % SECTOR) out.push(0);
    out.push(...r);
  }
  return out;
}

interface IsoSpec {
  root: number[];
  blocks?: Record<number, number[]>;
  modified?: string;
  created?: string;
  applicationUse?: string;
  sectors?: number;
}

function iso({ root, blocks = {}, modified = '0000000000000000', created = '2024010203040506', applicationUse = '', sectors = 64 }: IsoSpec): Uint8Array {
  const image = new Uint8Array(sectors * SECTOR);
  const pvd = 16 * SECTOR;
  image.set([1, ...ascii('CD001'), 1], pvd);
  image.set(ascii('TEST_LABEL'.padEnd(32)), pvd + 40);
  image.set(both32(sectors), pvd + 80);
  image.set([0x00, 0x08, 0x08, 0x00], pvd + 128);
  image.set(record({ name: [0], extent: ROOT, size: Math.ceil(root.length / SECTOR) * SECTOR, flags: 2 }), pvd + 156);
  image.set(ascii(created), pvd + 813);
  image.set(ascii(modified), pvd + 830);
  image.set(ascii(applicationUse), pvd + 883);
  image.set([255, ...ascii('CD001'), 1], 17 * SECTOR);
  image.set(root, ROOT * SECTOR);
  for (const [block, bytes] of Object.entries(blocks)) image.set(bytes, Number(block) * SECTOR);
  return image;
}

async function rejectsWith(work: Promise<unknown>, message: RegExp, offset?: number): Promise<void> {
  await assert.rejects(work, (error: unknown) => {
    assert.ok(error instanceof ParseError, `expected a ParseError, got ${String(error)}`);
    assert.match(error.message, message);
    if (offset !== undefined) assert.equal(error.offset, offset);
    return true;
  });
}

const SP = [...ascii('SP'), 7, 1, 0xbe, 0xef, 0];
const nm = (name: string, flags = 0) => [...ascii('NM'), 5 + name.length, 1, flags, ...ascii(name)];
const px = (mode: number) => [...ascii('PX'), 36, 1, ...both32(mode), ...both32(1), ...both32(0), ...both32(0)];
const ce = (block: number, offset: number, length: number) => [...ascii('CE'), 28, 1, ...both32(block), ...both32(offset), ...both32(length)];

describe('ISO 9660 reader on hand-built images', () => {
  test('a multi-extent file is its extents in order, under one name', async () => {
    const root = directory(ROOT, ROOT, [
      { name: 'BIG.BIN;1', extent: 30, size: SECTOR, flags: 0x80 },
      { name: 'BIG.BIN;1', extent: 40, size: 100 },
      { name: 'NOEXT.;1', extent: 41, size: 3 },
    ]);
    const image = iso({ root, blocks: { 30: Array(SECTOR).fill(0x61), 40: Array(100).fill(0x62), 41: ascii('xyz') } });
    const { tree } = await openIsoImage(new MemoryByteSource(image));
    assert.deepEqual((await tree.list('/')).map((e) => [e.name, e.size]), [['BIG.BIN', SECTOR + 100], ['NOEXT', 3]]);
    assert.deepEqual(await tree.extents('/BIG.BIN'), [{ offset: 30 * SECTOR, length: SECTOR }, { offset: 40 * SECTOR, length: 100 }]);
    const data = await tree.readFile('/BIG.BIN');
    assert.equal(data[SECTOR - 1], 0x61);
    assert.equal(data[SECTOR], 0x62);
  });

  test('a multi-extent chain that never ends is a ParseError', async () => {
    const root = directory(ROOT, ROOT, [{ name: 'A.BIN;1', extent: 30, size: SECTOR, flags: 0x80 }, { name: 'B.BIN;1', extent: 31, size: 1 }]);
    const { tree } = await openIsoImage(new MemoryByteSource(iso({ root })));
    await rejectsWith(tree.list('/'), /multi-extent/);
  });

  test('a directory that contains its own ancestor is refused, not walked forever', async () => {
    const root = directory(ROOT, ROOT, [{ name: 'LOOP', extent: 21, size: SECTOR, flags: 2 }]);
    const loop = directory(21, ROOT, [{ name: 'BACK', extent: ROOT, size: SECTOR, flags: 2 }]);
    const { tree } = await openIsoImage(new MemoryByteSource(iso({ root, blocks: { 21: loop } })));
    const walk = async () => {
      for await (const _ of walkTree(tree)) void _;
    };
    await rejectsWith(walk(), /directory cycle/);
  });

  test('a truncated volume descriptor is a ParseError at its offset', async () => {
    const image = iso({ root: directory(ROOT, ROOT, []) }).subarray(0, 16 * SECTOR + 100);
    await rejectsWith(openIsoImage(new MemoryByteSource(image)), /beyond the end/, 16 * SECTOR);
  });

  test('both-endian copies that disagree are a ParseError at the field', async () => {
    const image = iso({ root: directory(ROOT, ROOT, []) });
    image[16 * SECTOR + 80 + 7] = 0x99; // big-endian copy of the volume space size
    await rejectsWith(openIsoImage(new MemoryByteSource(image)), /both-endian/, 16 * SECTOR + 80);
  });

  test('no CD001 at sector 16 is UNSUPPORTED_IMAGE', async () => {
    await assert.rejects(openIsoImage(new MemoryByteSource(new Uint8Array(40 * SECTOR))), { code: 'UNSUPPORTED_IMAGE' });
  });

  test('a record that crosses a sector boundary is refused; zero padding to the next sector is not', async () => {
    const entries = Array.from({ length: 60 }, (_, i) => ({ name: `F${String(i).padStart(2, '0')}.TXT;1`, extent: 41, size: 3 }));
    const good = directory(ROOT, ROOT, entries);
    const { tree } = await openIsoImage(new MemoryByteSource(iso({ root: good, blocks: { 41: ascii('xyz') } })));
    assert.equal((await tree.list('/')).length, 60);
    // '.' and '..' (68 bytes) and 49 records of 40 bytes end 20 bytes short of the sector; the next one crosses it.
    const crossing = [...good.slice(0, 68)];
    for (let i = 0; i < 49; i++) crossing.push(...record({ name: 'X.TXT;1', extent: 41, size: 3 }));
    crossing.push(...record({ name: 'LONGNAME.TXT;1', extent: 41, size: 3 }));
    const image = iso({ root: crossing, blocks: { 41: ascii('xyz') } });
    const broken = await openIsoImage(new MemoryByteSource(image));
    await rejectsWith(broken.tree.list('/'), /crosses a sector boundary/, ROOT * SECTOR + SECTOR - 20);
  });

  test('Rock Ridge: continued NM names, PX modes, multi-component SL links with root and continued components', async () => {
    const link = [...ascii('SL'), 5 + 2 + 0 + 2 + 3 + 2 + 1 + 2 + 1, 1, 0, 0x08, 0, 0, 3, ...ascii('usr'), 0x01, 1, ...ascii('b'), 0, 1, ...ascii('n')];
    const root = directory(ROOT, ROOT, [
      { name: 'LONG.TXT;1', extent: 41, size: 3, su: [...nm('a-lo', 1), ...nm('ng-name.txt'), ...px(0o100640)] },
      { name: 'LINK.;1', extent: 0, size: 0, su: [...nm('link'), ...px(0o120777), ...link] },
      { name: 'UP.;1', extent: 0, size: 0, su: [...nm('up'), ...px(0o120777), ...ascii('SL'), 9, 1, 0, 0x04, 0, 0x02, 0] },
    ], SP);
    const image = await openIsoImage(new MemoryByteSource(iso({ root, blocks: { 41: ascii('xyz') } })));
    assert.equal(image.rockRidge, true);
    const entries = await image.tree.list('/');
    assert.deepEqual(entries.map((e) => [e.name, e.kind, e.mode?.toString(8), e.linkTarget]), [
      ['a-long-name.txt', 'file', '640', undefined],
      ['link', 'symlink', '777', '/usr/bn'],
      ['up', 'symlink', '777', '../.'],
    ]);
  });

  test('Rock Ridge CE areas are followed, and a CE loop is a ParseError', async () => {
    const area = [...nm('from-continuation.txt')];
    const root = directory(ROOT, ROOT, [{ name: 'CE.TXT;1', extent: 41, size: 3, su: ce(42, 16, area.length) }], SP);
    const followed = await openIsoImage(new MemoryByteSource(iso({ root, blocks: { 41: ascii('xyz'), 42: [...Array(16).fill(0), ...area] } })));
    assert.deepEqual((await followed.tree.list('/')).map((e) => e.name), ['from-continuation.txt']);

    const loopRoot = directory(ROOT, ROOT, [{ name: 'CE.TXT;1', extent: 41, size: 3, su: ce(42, 0, 28) }], SP);
    const looped = await openIsoImage(new MemoryByteSource(iso({ root: loopRoot, blocks: { 42: ce(42, 0, 28) } })));
    await rejectsWith(looped.tree.list('/'), /loop/);
  });

  test('Rock Ridge CL/RE: a relocated directory shows at its placeholder, not in rr_moved', async () => {
    const root = directory(ROOT, ROOT, [
      { name: 'DEEP.;1', extent: 0, size: 0, su: [...nm('deep'), ...ascii('CL'), 12, 1, ...both32(22)] },
      { name: 'RR_MOVED', extent: 21, size: SECTOR, flags: 2, su: nm('rr_moved') },
    ], SP);
    const moved = directory(21, ROOT, [{ name: 'DEEP', extent: 22, size: SECTOR, flags: 2, su: [...nm('deep'), ...ascii('RE'), 4, 1] }]);
    const deep = directory(22, 21, [{ name: 'IN.TXT;1', extent: 41, size: 3, su: nm('inside.txt') }]);
    const { tree } = await openIsoImage(new MemoryByteSource(iso({ root, blocks: { 21: moved, 22: deep, 41: ascii('xyz') } })));
    const paths: string[] = [];
    for await (const entry of walkTree(tree)) paths.push(`${entry.kind} ${entry.path}`);
    assert.deepEqual(paths, ['directory /deep', 'file /deep/inside.txt', 'directory /rr_moved']);
    assert.equal(new TextDecoder().decode(await tree.readFile('/deep/inside.txt')), 'xyz');
  });

  test('UUID from the modification date, else the creation date; Fedora implanted MD5 detected', async () => {
    const root = directory(ROOT, ROOT, []);
    const created = await openIsoImage(new MemoryByteSource(iso({ root, created: '2024010203040506' })));
    assert.equal(created.uuid, '2024-01-02-03-04-05-06');
    assert.equal(created.label, 'TEST_LABEL');
    assert.equal(created.implantedMd5, false);
    const modified = await openIsoImage(new MemoryByteSource(iso({ root, modified: '2025123123595999', applicationUse: 'ISO MD5SUM = 0123;SKIPSECTORS = 15;' })));
    assert.equal(modified.uuid, '2025-12-31-23-59-59-99');
    assert.equal(modified.implantedMd5, true);
  });

  test('a forged directory size is refused before anything that large is read', async () => {
    const root = directory(ROOT, ROOT, [{ name: 'HUGE', extent: 21, size: 0x7fff_0000, flags: 2 }]);
    const source = new MemoryByteSource(iso({ root }));
    const { tree } = await openIsoImage(source);
    await rejectsWith(tree.list('/HUGE'), /implausibly large/);
    assert.ok(source.bytesRead < 64 * 1024);
  });

  test('missing paths are NOT_FOUND, files are not directories', async () => {
    const root = directory(ROOT, ROOT, [{ name: 'A.TXT;1', extent: 41, size: 3 }]);
    const { tree } = await openIsoImage(new MemoryByteSource(iso({ root, blocks: { 41: ascii('xyz') } })));
    assert.equal(await tree.stat('/nope'), undefined);
    await assert.rejects(tree.list('/nope'), { code: 'NOT_FOUND' });
    await assert.rejects(tree.list('/A.TXT'), { code: 'NOT_FOUND' });
    await assert.rejects(tree.readFile('/A.TXT', 2), { code: 'FILE_TOO_LARGE' });
  });
});
