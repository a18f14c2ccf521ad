import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { FileByteSource } from '../../main/adapters/fs/file-byte-source.js';
import { luksHomeMaker } from '../../main/adapters/persistence/luks-home-maker.js';
import { BootkeyError, ParseError } from '../../main/core/errors.js';
import {
  checkPassphrase, encryptedHomeFilesystemBytes, LUKS_RESERVED_BYTES, passphraseFromText,
} from '../../main/core/persistence/encrypted-home.js';
import { readLuksHeader } from '../../main/core/persistence/luks-header.js';
import { run } from '../fixtures/command.js';
import { MemoryByteSource } from '../harness/memory-byte-source.js';
import { tierSuite } from '../harness/tier.js';

/**
 * Encrypted home.img: the passphrase and size rules, the LUKS header reader against cryptsetup's own luksDump,
 * and the maker (mkfs.ext4 + cryptsetup's offline encryption on a plain file) checked by cryptsetup and e2fsck.
 */
const bytes = (text: string) => new TextEncoder().encode(text);
const code = (error: unknown) => (error instanceof BootkeyError ? error.code : String(error));

describe('encrypted home.img rules', () => {
  test('one final line break of a passphrase file is not part of the passphrase', () => {
    assert.deepEqual(passphraseFromText(bytes('correct horse\n')), bytes('correct horse'));
    assert.deepEqual(passphraseFromText(bytes('correct horse\r\n')), bytes('correct horse'));
    assert.deepEqual(passphraseFromText(bytes('correct horse')), bytes('correct horse'));
    assert.deepEqual(passphraseFromText(bytes('pässwört ünïcode')), bytes('pässwört ünïcode'));
  });

  test('what could not be typed at the boot prompt is refused with the reason', () => {
    for (const [text, why] of [['', /too short/], ['short\n', /too short/], ['two\nlines here', /line break/], ['tab\there12', /control/],
      ['x'.repeat(513), /too long/], ['ends with two\n\n', /line break/]] as const) {
      assert.throws(() => passphraseFromText(bytes(text)), (e: unknown) => code(e) === 'INVALID_ARGUMENT' && why.test((e as Error).message), JSON.stringify(text));
    }
    assert.throws(() => checkPassphrase(new Uint8Array([0x61, 0x62, 0x63, 0x64, 0x65, 0x66, 0x67, 0xff])), /not UTF-8/);
    assert.doesNotThrow(() => checkPassphrase(bytes('x'.repeat(512))));
  });

  test('the filesystem inside leaves the encryption its 32 MiB; too small a file is refused', () => {
    assert.equal(encryptedHomeFilesystemBytes(128 << 20, 16 << 20), (128 << 20) - LUKS_RESERVED_BYTES);
    assert.throws(() => encryptedHomeFilesystemBytes(40 << 20, 16 << 20), (e: unknown) => code(e) === 'INVALID_ARGUMENT');
  });

  test('the header reader: not LUKS is undefined; damaged metadata is a ParseError', async () => {
    assert.equal(await readLuksHeader(new MemoryByteSource(new Uint8Array(8192))), undefined);
    const image = new Uint8Array(65536);
    image.set([0x4c, 0x55, 0x4b, 0x53, 0xba, 0xbe, 0, 2]);
    image[8 + 6] = 0x40; // hdr_size 16384, big-endian
    image.set(bytes('{"segments": not json'), 4096);
    await assert.rejects(readLuksHeader(new MemoryByteSource(image)), (e: unknown) => e instanceof ParseError && /not JSON/.test(e.message));
    image.fill(0, 4096);
    image.set(bytes('{"segments":{}}'), 4096);
    await assert.rejects(readLuksHeader(new MemoryByteSource(image)), /no data segment/);
    image.fill(0, 4096);
    image.set(bytes('{"segments":{"0":{"type":"crypt","offset":"16384","size":"65536","encryption":"aes-xts-plain64"}}}'), 4096);
    await assert.rejects(readLuksHeader(new MemoryByteSource(image)), (e: unknown) => e instanceof ParseError && /ends past the file's 65536 bytes/.test(e.message));
    image[7] = 3;
    await assert.rejects(readLuksHeader(new MemoryByteSource(image)), /version 3/);
  });
});

async function header(path: string) {
  const source = await FileByteSource.open(path);
  try {
    return await readLuksHeader(source);
  } finally {
    await source.close();
  }
}

/** cryptsetup's exit status for a passphrase on stdin, as the boot prompt hands it over. */
function opens(path: string, passphrase: string): number | null {
  return spawnSync('cryptsetup', ['open', '--test-passphrase', '--disable-locks', '--key-file=-', path], { input: passphrase }).status;
}

tierSuite('tools', 'encrypted home.img against cryptsetup', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'bootkey-luks-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  test('the maker: a finished LUKS2 container that opens with the passphrase only; luksDump agrees with our reader', async () => {
    const path = join(dir, 'home.img');
    const size = 64 << 20;
    await luksHomeMaker.make(path, size, { label: 'home', passphrase: bytes('correct horse battery') });
    const ours = await header(path);
    assert.ok(ours);
    const json = JSON.parse(await run('cryptsetup', ['luksDump', '--dump-json-metadata', path]));
    const segment = json.segments['0'];
    assert.deepEqual(Object.keys(json.segments), ['0'], 'one crypt segment: the encryption finished');
    assert.equal(ours.version, 2);
    assert.equal(ours.unfinished, false);
    assert.equal(ours.uuid, (await run('cryptsetup', ['luksUUID', path])).trim());
    assert.equal(ours.dataOffset, Number(segment.offset));
    assert.equal(ours.cipher, segment.encryption);
    assert.equal(ours.keyslots, Object.keys(json.keyslots).length);
    assert.equal(ours.dataBytes, size - Number(segment.offset));
    assert.equal((await run('blkid', ['-p', '-s', 'TYPE', '-o', 'value', path])).trim(), 'crypto_LUKS');
    assert.equal(opens(path, 'correct horse battery'), 0);
    assert.equal(opens(path, 'correct horse batter'), 2, 'a wrong passphrase is refused');
  });

  test('LUKS1 (livecd-iso-to-disk with an older cryptsetup) and an encryption left unfinished', async () => {
    const one = join(dir, 'luks1.img');
    await run('truncate', ['-s', '24M', one]);
    await run('cryptsetup', ['luksFormat', '--type', 'luks1', '--batch-mode', '--disable-locks', '--pbkdf-force-iterations', '1000', '--key-file=-', one],
      { input: 'luks one passphrase' });
    const dump = await run('cryptsetup', ['luksDump', one]);
    const h1 = await header(one);
    assert.equal(h1?.version, 1);
    assert.equal(h1?.dataOffset, Number(/^Payload offset:\s+(\d+)/m.exec(dump)?.[1]) * 512);
    assert.equal(h1?.cipher, `${/^Cipher name:\s+(\S+)/m.exec(dump)?.[1]}-${/^Cipher mode:\s+(\S+)/m.exec(dump)?.[1]}`);
    assert.equal(h1?.uuid, /^UUID:\s+(\S+)/m.exec(dump)?.[1]);
    assert.equal(h1?.keyslots, 1);

    // --init-only writes the header of an encryption and stops: what a pulled key leaves behind.
    const half = join(dir, 'half.img');
    await run('truncate', ['-s', '64M', half]);
    await run('cryptsetup', ['reencrypt', '--encrypt', '--init-only', '--type', 'luks2', '--batch-mode', '--disable-locks',
      '--pbkdf', 'pbkdf2', '--pbkdf-force-iterations', '1000', '--key-file=-', '--reduce-device-size', '32M', half], { input: 'half done passphrase' });
    const json = JSON.parse(await run('cryptsetup', ['luksDump', '--dump-json-metadata', half]));
    assert.ok(JSON.stringify(json.config.requirements).includes('online-reencrypt'));
    assert.equal((await header(half))?.unfinished, true);
  });

  test('bad input leaves nothing: a refused passphrase, a file too small, an existing file untouched', async () => {
    const path = join(dir, 'refused.img');
    await assert.rejects(luksHomeMaker.make(path, 64 << 20, { label: 'home', passphrase: bytes('short') }), (e: unknown) => code(e) === 'INVALID_ARGUMENT');
    await assert.rejects(luksHomeMaker.make(path, 40 << 20, { label: 'home', passphrase: bytes('long enough') }), (e: unknown) => code(e) === 'INVALID_ARGUMENT');
    assert.ok(!(await readdir(dir)).includes('refused.img'));
    const existing = join(dir, 'existing.img');
    await writeFile(existing, 'the user\'s own file');
    await assert.rejects(luksHomeMaker.make(existing, 64 << 20, { label: 'home', passphrase: bytes('long enough') }), (e: unknown) => code(e) === 'CONFLICT');
    assert.equal(await readFile(existing, 'utf8'), 'the user\'s own file');
  });
});
