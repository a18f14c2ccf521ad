import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { hostDurableWriter } from '../../main/adapters/fs/durable-writer.js';
import { hostKeyFiles } from '../../main/adapters/fs/key-files.js';
import { e2fsprogs } from '../../main/adapters/persistence/e2fsprogs.js';
import { hostPersistenceFiles } from '../../main/adapters/persistence/host-persistence-files.js';
import { squashfsTools } from '../../main/adapters/persistence/squashfs-tools.js';
import { BootkeyError } from '../../main/core/errors.js';
import { checkPassphrase } from '../../main/core/persistence/encrypted-home.js';
import type { LuksHomeMaker } from '../../main/ports/luks-home.js';
import { PersistenceService, type CreateRequest } from '../../main/services/persistence.js';
import { run } from '../fixtures/command.js';
import { tierSuite } from '../harness/tier.js';

/**
 * The persistence service's encrypted home.img path on a folder key: everything about the passphrase is checked
 * before the first byte (no overlay, no manifest on a refusal), the maker is called with the exact passphrase
 * bytes, and a LUKS home.img afterwards is listed as such, never reset or grown as if it were ext4. The maker
 * here is a quick LUKS2 luksFormat (PBKDF2, few iterations): the real one is proven in UML.
 */
const bytes = (text: string) => new TextEncoder().encode(text);
const code = (e: unknown) => (e instanceof BootkeyError ? e.code : String(e));

tierSuite('tools', 'persistence service: encrypted home.img', () => {
  let base: string;
  before(() => {
    base = mkdtempSync(join(tmpdir(), 'bootkey-luks-service-'));
  });
  after(() => rmSync(base, { recursive: true, force: true }));

  function keyWith(name: string, luks?: LuksHomeMaker) {
    const key = join(base, name);
    mkdirSync(join(key, 'LiveOS'), { recursive: true });
    writeFileSync(join(key, 'LiveOS', 'squashfs.img'), 'stand-in: create only checks that it is there');
    const service = new PersistenceService({
      files: hostPersistenceFiles, ext4: e2fsprogs, squashfs: squashfsTools, now: () => new Date(),
      keyFiles: hostKeyFiles, writer: hostDurableWriter(), ...(luks ? { luks } : {}),
      openTarget: async () => ({
        root: key, fsType: 'vfat', freeBytes: 1 << 30, uuid: 'KEY-0001', label: 'LIVE',
        recheck: async () => undefined, release: async () => undefined,
      }),
    });
    const untouched = () => assert.deepEqual(readdirSync(key, { recursive: true }).sort(), ['LiveOS', join('LiveOS', 'squashfs.img')]);
    return { key, service, untouched };
  }

  const calls: { path: string; size: number; passphrase: string }[] = [];
  const quickMaker: LuksHomeMaker = {
    async check(_size, passphrase) {
      checkPassphrase(passphrase);
    },
    async make(path, size, { passphrase }) {
      calls.push({ path, size, passphrase: new TextDecoder().decode(passphrase) });
      await run('truncate', ['-s', String(size), path]);
      await run('cryptsetup', ['luksFormat', '--type', 'luks2', '--batch-mode', '--disable-locks', '--pbkdf', 'pbkdf2',
        '--pbkdf-force-iterations', '1000', '--key-file=-', path], { input: new TextDecoder().decode(passphrase) });
    },
  };
  const request = (extra: Partial<CreateRequest>): CreateRequest => ({ type: 'overlayfs', size: 32 << 20, ...extra });

  test('refused before the first byte: a bad passphrase, a passphrase without a home.img, no maker', async () => {
    const { key, service, untouched } = keyWith('refused', quickMaker);
    await assert.rejects(service.create(key, request({ homeSize: 64 << 20, homePassphrase: bytes('short') })), (e: unknown) => code(e) === 'INVALID_ARGUMENT');
    untouched();
    await assert.rejects(service.create(key, request({ homePassphrase: bytes('long enough passphrase') })), /give its size too/);
    untouched();
    const bare = keyWith('no-maker');
    await assert.rejects(bare.service.create(bare.key, request({ homeSize: 64 << 20, homePassphrase: bytes('long enough passphrase') })), (e: unknown) => code(e) === 'INTERNAL');
    bare.untouched();
    assert.equal(calls.length, 0);
  });

  test('made with the exact passphrase; listed as LUKS without usage; reset and grow refuse it; delete removes it', async () => {
    const { key, service } = keyWith('made', quickMaker);
    const made = await service.create(key, request({ homeSize: 64 << 20, homePassphrase: bytes('pässwörd with spaces') }));
    assert.deepEqual(calls, [{ path: join(key, 'LiveOS', 'home.img'), size: 64 << 20, passphrase: 'pässwörd with spaces' }]);
    const home = made.find((f) => f.name === 'home.img');
    assert.equal(home?.luks?.version, 2);
    assert.equal(home?.usage, undefined);
    const status = await service.status(key, {}, 'home.img');
    assert.equal(status.luks?.dataBytes, (64 << 20) - (status.luks?.dataOffset ?? 0));
    await assert.rejects(service.usageOf(join(key, 'LiveOS', 'home.img')), (e: unknown) => code(e) === 'UNSUPPORTED_IMAGE' && /LUKS/.test((e as Error).message));
    await assert.rejects(service.reset(key, {}, 'home.img'), /is encrypted: delete it/);
    await assert.rejects(service.grow(key, 128 << 20, {}, 'home.img'), /locked/);
    const removed = await service.delete(key, ['home.img']);
    assert.deepEqual(removed.removed, ['/LiveOS/home.img']);
    assert.ok(!readdirSync(join(key, 'LiveOS')).includes('home.img'));
  });
});
