import assert from 'node:assert/strict';
import { readFile, rm } from 'node:fs/promises';
import { after, before, test } from 'node:test';
import { fixture } from '../fixtures/index.js';
import { tierSuite } from '../harness/tier.js';
import { runInUml, type UmlResult } from '../harness/uml/index.js';

/**
 * Encrypted home.img: made by `bootkey persist create --home-passphrase-file` as an unprivileged user on a FAT
 * key, unlocked by a real kernel's dm-crypt the way Fedora's livesys does at boot, checked, written and read
 * back; a wrong passphrase and bad input refused. test/integration/inside/persist-luks-home.ts does the work.
 */
const field = (text: string, name: string) => Number(new RegExp(`^${name}:\\s+(\\d+)$`, 'm').exec(text)?.[1]);
const MiB = 2 ** 20;

tierSuite('uml', 'LiveOS encrypted home.img (UML)', () => {
  let uml: UmlResult;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  let r: any;

  before(async () => {
    const squashfs = await fixture('liveos-squashfs');
    uml = await runInUml({
      command: ['node', '--import', 'tsx', 'test/integration/inside/persist-luks-home.ts', squashfs],
      udisks: false,
      // cryptsetup sizes Argon2's memory from the machine's: room for it beside the 256 MiB key in RAM.
      memMb: 1536,
      timeoutMs: 1_000_000,
    });
    r = JSON.parse(await readFile(`${uml.outDir}/persist-luks-home.json`, 'utf8').catch(() => '{}'));
  });

  after(async () => {
    if (uml) await rm(uml.outDir, { recursive: true, force: true });
  });

  test('the run finished; create ran as an unprivileged user', () => {
    assert.equal(r.fatal, undefined, r.fatal);
    assert.equal(uml.exitCode, 0, `${uml.stderr.slice(-3000)}\n${uml.setupError ?? ''}`);
    assert.equal(r.create.code, 0, `${r.create.stderr} ${JSON.stringify(r.create.json)}`);
    assert.deepEqual(r.leftoverTemp, [], 'no temporary header left behind');
    assert.deepEqual(r.keyFiles, ['/.bootkey/manifest.json', '/LiveOS/home.img', '/LiveOS/overlay-LIVE-LUKS-0001', '/LiveOS/squashfs.img']);
    console.log(`encrypted home.img of 96 MiB made in ${r.createMs} ms (UML, Argon2 benchmark included)`);
  });

  test('bad input is refused with a clear error and leaves the key as it was', () => {
    assert.equal(r.refusedShort.code, 2);
    assert.equal(r.refusedShort.json.error.code, 'INVALID_ARGUMENT');
    assert.match(r.refusedShort.json.error.message, /too short/);
    assert.equal(r.refusedUnreadable.code, 2);
    assert.match(r.refusedUnreadable.json.error.message, /cannot read the passphrase file \/run\/unreadable: EACCES/);
    assert.equal(r.refusedTooSmall.code, 2);
    assert.match(r.refusedTooSmall.json.error.message, /at least \d+ bytes/);
    assert.equal(r.unchangedAfterRefusals, true, 'every file on the key is byte-identical after the refusals');
  });

  test('livesys finds crypto_LUKS and unlocks it with the typed passphrase only', () => {
    assert.equal(r.blkidType, 'crypto_LUKS');
    assert.equal(r.wrongOpen.code, 2, r.wrongOpen.out);
    assert.equal(r.wrongMapped, false, 'no mapping for a wrong passphrase');
    assert.equal(r.open.code, 0, r.open.out);
    assert.equal(r.reopen.code, 0, r.reopen.out);
  });

  test('inside: a clean ext4 labelled home, mounted without a type, holds what was written after a close and reopen', () => {
    assert.equal(r.fsck.code, 0, r.fsck.out);
    assert.equal(r.fsckAfter.code, 0, r.fsckAfter.out);
    assert.equal(r.mountType, 'ext4');
    assert.match(r.dumpe2fs, /^Filesystem volume name:\s+home$/m);
    assert.equal(field(r.dumpe2fs, 'Block count') * field(r.dumpe2fs, 'Block size'), 96 * MiB - 32 * MiB);
    assert.equal(r.readSha, r.writtenSha);
    assert.equal(r.plaintextOnKey, false);
  });

  test('status reports the LUKS container as cryptsetup and the kernel see it, and no usage while locked', () => {
    const s = r.status;
    const segment = r.luksDump.segments['0'];
    assert.equal(r.fileBytes, 96 * MiB);
    assert.equal(s.name, 'home.img');
    assert.equal(s.role, 'home');
    assert.equal(s.usage, undefined, 'no usage numbers invented for a locked container');
    assert.match(s.problem, /cannot be read while it is locked/);
    assert.equal(s.luks.version, 2);
    assert.equal(s.luks.unfinished, false);
    assert.equal(s.luks.uuid, r.luksUuid);
    assert.equal(s.luks.cipher, segment.encryption);
    assert.equal(s.luks.dataOffset, Number(segment.offset));
    assert.equal(s.luks.dataBytes, r.mappedBytes, 'the opened device is as large as we say');
    const listed = r.list.flatMap((i: { files: { name: string }[] }) => i.files).find((f: { name: string }) => f.name === 'home.img');
    assert.deepEqual(listed.luks, s.luks);
  });
});
