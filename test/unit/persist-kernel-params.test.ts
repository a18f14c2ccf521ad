import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { BootkeyError } from '../../main/core/errors.js';
import { generateGrubMenu, type MenuInspection } from '../../main/core/grub/grub-menu.js';
import {
  emptyManifest, PERSISTENCE_KIND, persistenceFiles, withOperation, withoutPersistenceFile, withRewrittenFile, type ManifestOperation,
} from '../../main/core/key-manifest.js';
import {
  editLiveEntries, editParamString, overlayParams, withOverlayParams, withoutOverlayParams,
} from '../../main/core/persistence/overlay-kernel-params.js';
import { tierSuite } from '../harness/tier.js';

/**
 * The overlay's kernel parameters in a key's boot entries: which entries get them (extracted LiveOS only, never
 * an iso-scan entry), what else on the line and in the file stays byte for byte, idempotence, and removal.
 * grub-script-check (tools tier) accepts every file these tests produce.
 */

const UUID = '1A2B-3C4D';
const PATH = `/LiveOS/overlay-LIVE-${UUID}`;

/** A grub.cfg as Fedora's live media carry it, with a user's own entry, a comment, a Bootkey multi-ISO entry, tabs and a CRLF line. */
const FEDORA_CFG = [
  'set default="1"',
  'function load_video {',
  '\tinsmod all_video',
  '}',
  '# linux /images/pxeboot/vmlinuz root=live:CDLABEL=X rd.live.image (a comment, not an entry)',
  "menuentry 'Start Fedora-Workstation-Live 42' --class fedora --class gnu-linux {",
  '\tlinux ($root)/boot/x86_64/loader/linux root=live:CDLABEL=Fedora-WS-Live-42 rd.live.image rd.live.overlay.readonly  quiet rhgb',
  '\tinitrd ($root)/boot/x86_64/loader/initrd',
  '}',
  "menuentry 'Test this media & start Fedora' {",
  '\tlinuxefi /images/pxeboot/vmlinuz rd.live.image root=live:CDLABEL=Fedora-WS-Live-42 rd.live.check quiet\r',
  '}',
  "menuentry 'My own kernel' {",
  '\tlinux /vmlinuz root=/dev/sda2 ro',
  '}',
  "menuentry 'Fedora ISO' {",
  '\tlinux (loop)/images/pxeboot/vmlinuz "root=live:CDLABEL=${isolabel}" rd.live.image "iso-scan/filename=${iso_path}"',
  '}',
  '',
].join('\n');

const lines = (text: string) => text.split('\n');
const add = (params: string[]) => (words: string[]) => withOverlayParams(words, params);
const remove = (path: string) => (words: string[]) => withoutOverlayParams(words, path);

/** Grub.cfg files the tests made, checked by grub-script-check at the end. */
const made: string[] = [FEDORA_CFG];

describe('overlay kernel parameters', () => {
  test('dm: only rd.live.overlay with the key UUID and path; overlayfs adds its switch', () => {
    assert.deepEqual(overlayParams(UUID, PATH, 'dm'), [`rd.live.overlay=UUID=${UUID}:${PATH}`]);
    assert.deepEqual(overlayParams(UUID, PATH, 'overlayfs'), [`rd.live.overlay=UUID=${UUID}:${PATH}`, 'rd.live.overlay.overlayfs']);
  });

  test('paths the kernel or dracut would split, and non-UUIDs, are refused', () => {
    for (const [uuid, path] of [[UUID, '/LiveOS/overlay-MY KEY-1'], [UUID, '/LiveOS/a:b'], [UUID, "/LiveOS/it's"], [UUID, 'LiveOS/x'], ['a b', PATH]]) {
      assert.throws(() => overlayParams(uuid as string, path as string, 'dm'), (e: unknown) => e instanceof BootkeyError && e.code === 'INVALID_ARGUMENT', `${uuid} ${path}`);
    }
  });

  test('adding replaces every overlay switch (old and dracut-ng names, readonly, reset) and is idempotent', () => {
    const params = overlayParams(UUID, PATH, 'overlayfs');
    const words = ['root=live:UUID=X', 'rd.live.image', 'rd.live.overlay=LABEL=OTHER:/old', 'rd.overlay.readonly', 'rd.live.overlay.reset=1', 'quiet'];
    const once = withOverlayParams(words, params);
    assert.deepEqual(once, ['root=live:UUID=X', 'rd.live.image', 'quiet', ...params]);
    assert.deepEqual(withOverlayParams(once, params), once);
  });

  test('removing takes out only the overlay at that path (any case), with the OverlayFS switch that went with it', () => {
    const words = ['rd.live.image', `rd.live.overlay=UUID=${UUID}:${PATH.toUpperCase()}`, 'rd.live.overlay.overlayfs', 'quiet'];
    assert.deepEqual(withoutOverlayParams(words, PATH), ['rd.live.image', 'quiet']);
    const other = ['rd.live.image', 'rd.live.overlay=UUID=X:/LiveOS/other', 'rd.live.overlay.overlayfs'];
    assert.deepEqual(withoutOverlayParams(other, PATH), other);
  });

  test('a parameter string (a library ISO\'s extra parameters) keeps the user\'s words', () => {
    const params = overlayParams(UUID, '/isos/overlay-Fedora-2025-04-08-12-00-00-00', 'overlayfs');
    const added = editParamString(' console=ttyS0,115200n8  nomodeset ', add(params));
    assert.equal(added, `console=ttyS0,115200n8 nomodeset ${params.join(' ')}`);
    assert.equal(editParamString(added, add(params)), added);
    assert.equal(editParamString(added, remove('/isos/overlay-Fedora-2025-04-08-12-00-00-00')), 'console=ttyS0,115200n8 nomodeset');
  });
});

describe('grub.cfg entries of an extracted LiveOS', () => {
  const params = overlayParams(UUID, PATH, 'overlayfs');

  test('only the LiveOS kernel lines change; every other line is byte for byte the same', () => {
    const result = editLiveEntries(FEDORA_CFG, add(params));
    made.push(result.text);
    assert.deepEqual([result.entries, result.changed], [2, 2]);
    const before = lines(FEDORA_CFG);
    const after = lines(result.text);
    assert.equal(after.length, before.length);
    const changed = after.map((l, i) => (l === before[i] ? -1 : i)).filter((i) => i >= 0);
    assert.deepEqual(changed.map((i) => before[i]?.trim().split(/\s+/)[0]), ['linux', 'linuxefi']);
    // The parameters follow the live root word; the blank pair and the tab stay; readonly is gone; the CR stays.
    assert.equal(after[changed[0]!], `\tlinux ($root)/boot/x86_64/loader/linux root=live:CDLABEL=Fedora-WS-Live-42 ${params.join(' ')} rd.live.image  quiet rhgb`);
    assert.equal(after[changed[1]!], `\tlinuxefi /images/pxeboot/vmlinuz rd.live.image ${params.join(' ')} root=live:CDLABEL=Fedora-WS-Live-42 rd.live.check quiet\r`);
  });

  test('idempotent: a second run changes nothing', () => {
    const once = editLiveEntries(FEDORA_CFG, add(params)).text;
    const twice = editLiveEntries(once, add(params));
    assert.equal(twice.text, once);
    assert.deepEqual([twice.entries, twice.changed], [2, 0]);
  });

  test('another type replaces the parameters in place; removal gives back the file minus readonly', () => {
    const overlayfs = editLiveEntries(FEDORA_CFG, add(params)).text;
    const dm = editLiveEntries(overlayfs, add(overlayParams(UUID, PATH, 'dm'))).text;
    made.push(dm);
    assert.doesNotMatch(dm, /rd\.live\.overlay\.overlayfs/);
    assert.equal(dm.match(/rd\.live\.overlay=UUID=/g)?.length, 2);
    const removed = editLiveEntries(dm, remove(PATH));
    assert.equal(removed.changed, 2);
    assert.equal(removed.text, FEDORA_CFG.replace(' rd.live.overlay.readonly', ''));
    assert.equal(editLiveEntries(FEDORA_CFG.replace(' rd.live.overlay.readonly', ''), remove(PATH)).changed, 0);
  });

  test('a word GRUB would expand is single-quoted; a file with no LiveOS entry is left alone', () => {
    const special = overlayParams(UUID, '/LiveOS/overlay-A$B;C-1', 'dm');
    const text = editLiveEntries(FEDORA_CFG, add(special)).text;
    made.push(text);
    assert.match(text, /root=live:CDLABEL=Fedora-WS-Live-42 'rd\.live\.overlay=UUID=1A2B-3C4D:\/LiveOS\/overlay-A\$B;C-1' rd\.live\.image/);
    assert.equal(editLiveEntries(text, remove('/LiveOS/overlay-A$B;C-1')).text, FEDORA_CFG.replace(' rd.live.overlay.readonly', ''));
    const plain = "menuentry 'x' {\n  linux /vmlinuz root=/dev/sda1\n}\n";
    assert.deepEqual(editLiveEntries(plain, add(params)), { text: plain, entries: 0, changed: 0 });
  });

  test('a multi-ISO menu with the overlay in an ISO\'s extra parameters', () => {
    const isoParams = overlayParams(UUID, '/isos/overlay-Fedora-WS-Live-42-2025-04-08-12-00-00-00', 'overlayfs');
    const inspection: MenuInspection = {
      format: 'iso9660', label: 'Fedora-WS-Live-42', family: 'fedora-live', loopbackCfg: null, efiLoaders: [], partitionScheme: 'none',
      recipe: { kernel: '/images/pxeboot/vmlinuz', initrd: ['/images/pxeboot/initrd.img'], params: 'root=live:CDLABEL=${isolabel} rd.live.image iso-scan/filename=${iso_path}' },
    } as MenuInspection;
    const menu = generateGrubMenu([{ name: 'fedora.iso', inspection, extraParams: editParamString('quiet', add(isoParams)) }], { timeoutSeconds: 5 });
    made.push(menu.text);
    assert.match(menu.text, new RegExp(`'quiet' '${isoParams[0]}' '${isoParams[1]}'`.replaceAll('.', '\\.')));
    // An extracted-LiveOS edit of the same file leaves the ISO's iso-scan entry alone.
    assert.equal(editLiveEntries(menu.text, add(params)).entries, 0);
  });
});

describe('persistence files in the key manifest', () => {
  const op = (id: string, kind: string, paths: string[], sha256: string | null = null): ManifestOperation => ({
    id, kind, source: 's', startedAt: '2026-01-01T00:00:00.000Z', state: 'complete',
    added: paths.map((path) => ({ path, size: 1, sha256 })), replaced: [], createdDirectories: [], temporaries: [],
  });
  const manifest = [op('c', 'copy-efi', ['/EFI/BOOT/grub.cfg', '/LiveOS/overlay-X'], 'aa'), op('p', PERSISTENCE_KIND, ['/LiveOS/overlay-X', '/LiveOS/home.img'])]
    .reduce(withOperation, emptyManifest());

  test('the summary lists what persistence operations made', () => {
    assert.deepEqual(persistenceFiles(manifest).map((f) => f.path), ['/LiveOS/overlay-X', '/LiveOS/home.img']);
  });

  test('delete drops the record (any case); an operation left empty goes; other kinds are untouched', () => {
    const one = withoutPersistenceFile(manifest, '/liveos/OVERLAY-x');
    assert.deepEqual(persistenceFiles(one).map((f) => f.path), ['/LiveOS/home.img']);
    assert.deepEqual(one.operations[0], manifest.operations[0]);
    const none = withoutPersistenceFile(one, '/LiveOS/home.img');
    assert.deepEqual(none.operations.map((o) => o.id), ['c']);
  });

  test('a rewritten grub.cfg gets its new size and hash where a verified copy recorded it', () => {
    const next = withRewrittenFile(manifest, '/efi/boot/GRUB.CFG', { size: 99, sha256: 'bb' });
    assert.deepEqual(next.operations[0]?.added[0], { path: '/EFI/BOOT/grub.cfg', size: 99, sha256: 'bb' });
    assert.deepEqual(withRewrittenFile(manifest, '/LiveOS/home.img', { size: 2, sha256: 'cc' }), manifest);
  });
});

tierSuite('tools', 'grub.cfg files with overlay parameters against grub-script-check', () => {
  const dir = mkdtempSync(join(tmpdir(), 'bootkey-kernel-params-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const check = (text: string, name: string) => {
    const file = join(dir, name);
    writeFileSync(file, text);
    return promisify(execFile)('grub-script-check', [file]);
  };

  test('the checker is real: it rejects an unterminated quote', async () => {
    await assert.rejects(check("menuentry 'x' {\n  linux 'rd.live.overlay=UUID=1:/a\n}\n", 'broken.cfg'));
  });

  test('grub-script-check accepts every file these tests made', async () => {
    assert.ok(made.length >= 5, `only ${made.length} files`);
    for (const [i, text] of made.entries()) await check(text, `cfg-${i}.cfg`);
  });
});
