import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { BootkeyError } from '../../main/core/errors.js';
import {
  backupPathOf, emptyManifest, filesAddedByBootkey, parseManifest, planUndo, serializeManifest, survivingManifest,
  temporaryPathOf, withOperation, type ManifestOperation,
} from '../../main/core/key-manifest.js';

function op(id: string, extra: Partial<ManifestOperation> = {}): ManifestOperation {
  return { id, kind: 'copy-efi', source: 'x.iso', startedAt: '2024-01-01T00:00:00Z', state: 'complete', added: [],
    replaced: [], createdDirectories: [], temporaries: [], ...extra };
}

describe('key manifest', () => {
  test('round trip, and damage is a typed error', () => {
    const m = withOperation(emptyManifest(), op('a', { added: [{ path: '/EFI/BOOT/BOOTX64.EFI', size: 3, sha256: 'ab' }] }));
    assert.deepEqual(parseManifest(new TextDecoder().decode(serializeManifest(m))), m);
    for (const bad of ['nope', '{}', '{"version":1,"operations":[{"id":"x"}]}',
      JSON.stringify(withOperation(emptyManifest(), op('b', { added: [{ path: '/../etc', size: 1, sha256: null }] })))]) {
      assert.throws(() => parseManifest(bad), (e: unknown) => e instanceof BootkeyError && e.code === 'MALFORMED_IMAGE');
    }
  });

  test('what survived a pull: the manifest, else the journal; the journal adds the running operation', () => {
    const text = (m: ReturnType<typeof emptyManifest>) => new TextDecoder().decode(serializeManifest(m));
    const earlier = withOperation(emptyManifest(), op('a'));
    const running = withOperation(earlier, op('b', { state: 'writing', added: [{ path: '/x', size: 1, sha256: null }] }));
    assert.deepEqual(survivingManifest(undefined, undefined), emptyManifest());
    assert.deepEqual(survivingManifest(text(running), undefined), running);
    // An empty or garbled manifest (vfat entry without its clusters) beside a whole journal.
    assert.deepEqual(survivingManifest('', text(running)), running);
    assert.deepEqual(survivingManifest('\0\0garbage', text(running)), running);
    // The journal was written first, the manifest not yet replaced: the running operation comes from the journal.
    assert.deepEqual(survivingManifest(text(earlier), text(running)).operations.map((o) => [o.id, o.state]),
      [['a', 'complete'], ['b', 'writing']]);
    // The manifest says complete, the journal was not removed yet: the manifest wins.
    const done = withOperation(earlier, op('b'));
    assert.deepEqual(survivingManifest(text(done), text(running)), done);
    assert.throws(() => survivingManifest('nope', 'nope either'), (e: unknown) => e instanceof BootkeyError && e.code === 'MALFORMED_IMAGE');
    assert.throws(() => survivingManifest('nope', undefined), (e: unknown) => e instanceof BootkeyError && e.code === 'MALFORMED_IMAGE');
  });

  test('withOperation replaces by id; added files are matched without case', () => {
    let m = withOperation(emptyManifest(), op('a', { state: 'writing' }));
    m = withOperation(m, op('a', { added: [{ path: '/EFI/boot/x.efi', size: 1, sha256: null }] }));
    assert.equal(m.operations.length, 1);
    assert.ok(filesAddedByBootkey(m).has('/efi/boot/x.efi'));
  });

  test('undo: newest first, temporaries, files, restores, then directories deepest first', () => {
    const backup = backupPathOf('b', '/EFI/BOOT/BOOTX64.EFI');
    assert.equal(backup, '/.bootkey/backup/b/EFI/BOOT/BOOTX64.EFI');
    assert.equal(temporaryPathOf('/EFI/BOOT/BOOTX64.EFI'), '/EFI/BOOT/.BOOTX64.EFI.bootkey-tmp');
    const m = withOperation(withOperation(emptyManifest(),
      op('a', { added: [{ path: '/boot/grub/grub.cfg', size: 1, sha256: 'aa' }], createdDirectories: ['/boot', '/boot/grub'] })),
    op('b', { added: [{ path: '/EFI/BOOT/BOOTX64.EFI', size: 1, sha256: 'bb' }],
      replaced: [{ path: '/EFI/BOOT/BOOTX64.EFI', backup, size: 9 }],
      createdDirectories: ['/.bootkey/backup', '/.bootkey/backup/b', '/.bootkey/backup/b/EFI', '/.bootkey/backup/b/EFI/BOOT'],
      temporaries: ['/EFI/BOOT/.BOOTX64.EFI.bootkey-tmp'] }));
    assert.deepEqual(planUndo(m), [
      { kind: 'remove-temporary', path: '/EFI/BOOT/.BOOTX64.EFI.bootkey-tmp' },
      { kind: 'restore', path: '/EFI/BOOT/BOOTX64.EFI', backup },
      { kind: 'remove-file', path: '/boot/grub/grub.cfg', sha256: 'aa' },
      { kind: 'remove-directory', path: '/.bootkey/backup/b/EFI/BOOT' },
      { kind: 'remove-directory', path: '/.bootkey/backup/b/EFI' },
      { kind: 'remove-directory', path: '/.bootkey/backup/b' },
      { kind: 'remove-directory', path: '/boot/grub' },
      { kind: 'remove-directory', path: '/.bootkey/backup' },
      { kind: 'remove-directory', path: '/boot' },
    ]);
  });
});
