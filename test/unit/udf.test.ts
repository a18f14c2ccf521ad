// The UDF reader on a small hand-built volume: both file entry kinds, all allocation kinds, and hostile links.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ParseError } from '../../main/core/errors.js';
import { walkTree } from '../../main/core/filesystem-tree.js';
import { decodeCs0 } from '../../main/core/udf/udf-descriptors.js';
import { openUdfImage } from '../../main/core/udf/udf-tree.js';
import { MemoryByteSource } from '../harness/memory-byte-source.js';

const BS = 2048;
const PART = 64; // first sector of the partition
const META_FILE = 3; // metadata file entry, physical partition block
const META_DATA = 40; // where the metadata file's data starts, physical partition block
const ascii = (text: string) => [...text].map((c) => c.charCodeAt(0));
const le16 = (v: number) => [v & 0xff, (v >> 8) & 0xff];
const le32 = (v: number) => [...le16(v & 0xffff), ...le16(v >>> 16)];
const le64 = (v: number) => [...le32(v % 2 ** 32), ...le32(Math.floor(v / 2 ** 32))];

/** Writes a descriptor at `sector` with a valid tag (id, location) over `body` (which starts after the tag). */
function put(image: Uint8Array, sector: number, id: number, location: number, body: [number, number[]][]): void {
  const at = sector * BS;
  for (const [offset, bytes] of body) image.set(bytes, at + offset);
  image.set([...le16(id), ...le16(2), 0, 0, 0, 0, 0, 0, 0, 0, ...le32(location)], at);
  let sum = 0;
  for (let i = 0; i < 16; i++) if (i !== 4) sum = (sum + (image[at + i] ?? 0)) & 0xff;
  image[at + 4] = sum;
}

const cs0 = (name: string) => (/^[\x00-\xff]*$/.test(name) ? [8, ...ascii(name)] : [16, ...[...name].flatMap((c) => [c.charCodeAt(0) >> 8, c.charCodeAt(0) & 0xff])]);
const longAd = (length: number, block: number, partition = 0) => [...le32(length), ...le32(block), ...le16(partition), 0, 0, 0, 0, 0, 0];

/** A file identifier descriptor (tag 257) as bytes, padded to 4. */
function fid(name: string, icbBlock: number, characteristics = 0, partition = 0): number[] {
  const id = name === '' ? [] : cs0(name);
  const body = [...le16(1), characteristics, id.length, ...longAd(BS, icbBlock, partition), ...le16(0), ...id];
  const out = [...le16(257), ...le16(2), 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, ...body];
  while (out.length % 4) out.push(0);
  let sum = 0;
  for (let i = 0; i < 16; i++) if (i !== 4) sum = (sum + (out[i] ?? 0)) & 0xff;
  out[4] = sum;
  return out;
}

interface FileEntry {
  type: number;
  size: number;
  /** 0 short_ad, 1 long_ad, 3 embedded */
  adType: number;
  ads: number[];
  extended?: boolean;
  permissions?: number;
}

function fileEntry(image: Uint8Array, block: number, { type, size, adType, ads, extended = false, permissions = (6 << 10) | (4 << 5) /* owner rw, group r */ }: FileEntry, sector = PART + block): void {
  const adLengthAt = extended ? 212 : 172;
  put(image, sector, extended ? 266 : 261, block, [
    [16, [0, 0, 0, 0, ...le16(4), 0, 0, ...le16(1), 0, type]],
    [34, le16(adType)],
    [44, le32(permissions)],
    [56, le64(size)],
    [adLengthAt, le32(ads.length)],
    [adLengthAt + 4, ads],
  ]);
}

/** A UDF 1.02 volume: VRS, anchor, sequence (PVD, PD, LVD, TD), file set at block 0, root directory at block 1. */
function volume(rootFids: number[], build: (image: Uint8Array) => void = () => {}, metadata = false): Uint8Array {
  const image = new Uint8Array(300 * BS);
  for (const [i, id] of ['BEA01', 'NSR02', 'TEA01'].entries()) image.set([0, ...ascii(id), 1], (16 + i) * BS);
  put(image, 256, 2, 256, [[16, [...le32(4 * BS), ...le32(32), ...le32(4 * BS), ...le32(40)]]]);
  for (const base of [32, 40]) {
    const dstring = (text: string, size: number) => {
      const field = Array(size).fill(0);
      const bytes = cs0(text);
      field.splice(0, bytes.length, ...bytes);
      field[size - 1] = bytes.length;
      return field;
    };
    put(image, base, 1, base, [[24, dstring('PVD_ID', 32)]]);
    put(image, base + 1, 5, base + 1, [[22, le16(0)], [188, [...le32(PART), ...le32(200)]]]);
    const maps: [number, number[]][] = metadata
      ? [[248, longAd(BS, 0, 1)], [264, [...le32(70), ...le32(2)]], [440, [1, 6, ...le16(1), ...le16(0)]],
        [446, [2, 64, 0, 0, 0, ...ascii('*UDF Metadata Partition')]], [446 + 36, [...le16(1), ...le16(0), ...le32(META_FILE)]]]
      : [[248, longAd(BS, 0)], [264, [...le32(6), ...le32(1)]], [440, [1, 6, ...le16(1), ...le16(0)]]];
    put(image, base + 2, 6, base + 2, [[84, dstring('Hand Built', 128)], [212, le32(BS)], ...maps]);
    put(image, base + 3, 8, base + 3, []);
  }
  // With a metadata partition, its blocks 0, 1, 2 … are the metadata file's data at physical block META_DATA on.
  const home = metadata ? META_DATA : 0;
  if (metadata) fileEntry(image, META_FILE, { type: 250, size: 16 * BS, adType: 0, ads: [...le32(16 * BS), ...le32(META_DATA)] });
  put(image, PART + home, 256, 0, [[400, longAd(BS, 1, metadata ? 1 : 0)]]);
  const dir = [...fid('', 1, 0x0a, metadata ? 1 : 0), ...rootFids];
  fileEntry(image, 1, { type: 4, size: dir.length, adType: 0, ads: [...le32(dir.length), ...le32(2)] }, PART + home + 1);
  image.set(dir, (PART + home + 2) * BS);
  build(image);
  return image;
}

async function rejectsParse(work: Promise<unknown>, message: RegExp): Promise<void> {
  await assert.rejects(work, (error: unknown) => error instanceof ParseError && message.test(error.message));
}

describe('UDF reader on a hand-built volume', () => {
  test('file entries and extended file entries; embedded, short and long allocation; 8- and 16-bit names', async () => {
    const fids = [...fid('embedded.txt', 10), ...fid('Ελληνικά.bin', 11), ...fid('sub', 12, 0x02)];
    const image = volume(fids, (img) => {
      fileEntry(img, 10, { type: 5, size: 5, adType: 3, ads: ascii('hello') });
      fileEntry(img, 11, { type: 5, size: 3000, adType: 1, extended: true, ads: [...longAd(2048, 20), ...longAd(952, 30)] });
      img.fill(0x41, (PART + 20) * BS, (PART + 21) * BS);
      img.fill(0x42, (PART + 30) * BS, (PART + 31) * BS);
      const sub = [...fid('', 1, 0x0a), ...fid('link', 13)];
      fileEntry(img, 12, { type: 4, size: sub.length, adType: 0, ads: [...le32(sub.length), ...le32(14)] });
      img.set(sub, (PART + 14) * BS);
      // symlink path components: root, then 'etc', then 'os-release'
      const path = [1, 0, 0, 0, 5, 4, 0, 0, ...cs0('etc'), 5, 11, 0, 0, ...cs0('os-release')];
      fileEntry(img, 13, { type: 12, size: path.length, adType: 3, ads: path });
    });
    const { tree, label, volume: v } = await openUdfImage(new MemoryByteSource(image));
    assert.equal(label, 'Hand Built');
    assert.equal(v.volumeId, 'PVD_ID');
    const entries: string[] = [];
    for await (const e of walkTree(tree)) entries.push(`${e.kind} ${e.path} ${e.size} ${e.mode?.toString(8)} ${e.linkTarget ?? ''}`.trim());
    assert.deepEqual(entries, [
      'file /embedded.txt 5 640',
      'file /Ελληνικά.bin 3000 640',
      'directory /sub 0 640',
      'symlink /sub/link 0 640 /etc/os-release',
    ]);
    assert.equal(new TextDecoder().decode(await tree.readFile('/embedded.txt')), 'hello');
    const data = await tree.readFile('/Ελληνικά.bin');
    assert.equal(data.length, 3000);
    assert.equal(data[2047], 0x41);
    assert.equal(data[2048], 0x42);
  });

  test('UDF 2.50 metadata partition: file set, directories and ICBs through the metadata file', async () => {
    const image = volume(fid('meta.txt', 3, 0, 1), (img) => {
      // metadata block 3 is physical block META_DATA + 3; its data is in the physical partition (long_ad, ref 0)
      fileEntry(img, 3, { type: 5, size: 4, adType: 1, ads: longAd(4, 60, 0) }, PART + META_DATA + 3);
      img.set(ascii('meta'), (PART + 60) * BS);
    }, true);
    const { tree, volume: v } = await openUdfImage(new MemoryByteSource(image));
    assert.equal(v.metadataMaps.length, 1);
    assert.deepEqual((await tree.list('/')).map((e) => [e.name, e.size]), [['meta.txt', 4]]);
    assert.equal(new TextDecoder().decode(await tree.readFile('/meta.txt')), 'meta');
  });

  test('a subdirectory whose ICB is the root is a directory cycle', async () => {
    const image = volume(fid('again', 1, 0x02));
    const { tree } = await openUdfImage(new MemoryByteSource(image));
    await rejectsParse(tree.list('/again'), /directory cycle/);
  });

  test('allocation extent descriptors that point back at themselves are a loop', async () => {
    const image = volume(fid('looped', 10), (img) => {
      fileEntry(img, 10, { type: 5, size: 100_000, adType: 0, ads: [...le32((3 << 30) | BS), ...le32(11)] });
      put(img, PART + 11, 258, 11, [[20, le32(8)], [24, [...le32((3 << 30) | BS), ...le32(11)]]]);
    });
    const { tree } = await openUdfImage(new MemoryByteSource(image));
    await rejectsParse(tree.list('/'), /loop/);
  });

  test('a bad tag checksum or a tag at the wrong location is a ParseError', async () => {
    const badSum = volume(fid('x', 10), (img) => {
      fileEntry(img, 10, { type: 5, size: 1, adType: 3, ads: [0x78] });
      img[(PART + 10) * BS + 4] = (img[(PART + 10) * BS + 4] ?? 0) ^ 0xff;
    });
    await rejectsParse((await openUdfImage(new MemoryByteSource(badSum))).tree.list('/'), /checksum/);
    const wrongPlace = volume(fid('x', 15), (img) => {
      fileEntry(img, 10, { type: 5, size: 1, adType: 3, ads: [0x78] });
      img.copyWithin((PART + 15) * BS, (PART + 10) * BS, (PART + 11) * BS);
    });
    await rejectsParse((await openUdfImage(new MemoryByteSource(wrongPlace))).tree.list('/'), /says it is at block 10/);
  });

  test('an image cut before its anchor has no anchor; no NSR descriptor is UNSUPPORTED_IMAGE', async () => {
    await rejectsParse(openUdfImage(new MemoryByteSource(volume([]).subarray(0, 200 * BS))), /anchor/);
    await assert.rejects(openUdfImage(new MemoryByteSource(new Uint8Array(300 * BS))), { code: 'UNSUPPORTED_IMAGE' });
  });

  test('a damaged main volume descriptor sequence falls back to the reserve copy', async () => {
    const image = volume([]);
    image[34 * BS + 4] = (image[34 * BS + 4] ?? 0) ^ 0xff; // main LVD checksum
    const { label } = await openUdfImage(new MemoryByteSource(image));
    assert.equal(label, 'Hand Built');
  });

  test('OSTA compressed unicode: 8-bit and 16-bit forms, unknown compression refused', () => {
    assert.equal(decodeCs0(Uint8Array.from([8, 0x41, 0xe9]), 0), 'Aé');
    assert.equal(decodeCs0(Uint8Array.from([16, 0x03, 0xa9, 0x00, 0x41]), 0), 'ΩA');
    assert.throws(() => decodeCs0(Uint8Array.from([7, 0x41]), 5), ParseError);
  });
});
