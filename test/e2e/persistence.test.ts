/**
 * LiveOS persistence and the key's summary through the UI, in Debian's Chromium over the web test host, writing to
 * real folders: each key is a temporary directory listed by the in-memory DiskProvider as the mounted FAT
 * partition of a USB key (label and UUID given, as blkid would report them), one holding the LiveOS fixture
 * (squashfs.img with an ext4 rootfs.img inside, test/fixtures/liveos.ts). The persistence, copy-EFI and
 * multi-ISO services, their host adapters (mkfs.ext4, e2fsck, resize2fs, unsquashfs, mksquashfs), the dispatcher,
 * the WebSocket host and the React UI are real; e2fsprogs' dumpe2fs/debugfs and unsquashfs check the results.
 *
 * Recover and merge run here on a device-mapper store written byte by byte (header, one exception, its data
 * chunk), which needs no kernel; the kernel's side (dracut's live-rw snapshot over a store Bootkey made, grew,
 * reset, recovered and merged, and dmsetup status equal to our reading) is proven in UML by
 * test/integration/persist-dm.test.ts, persist-merge.test.ts and persist-overlayfs.test.ts.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { Locator, Page } from 'playwright-core';
import { formatBytes } from '../../preload/byte-size.js';
import { fixture } from '../fixtures/index.js';
import { MemoryDiskProvider } from '../harness/memory-disk-provider.js';
import { tierSuite } from '../harness/tier.js';
import { axe, closeSession, keyDispatcher, openSession, shot, treeState, userKeys, type BrowserSession } from './browser-session.js';

const GB = 1e9;
const MB = 1e6;
const MiB = 1024 * 1024;
const OVERLAY = 'overlay-LIVE-1234-ABCD';
/** A second overlay, for another label: the device-mapper store this test writes itself. */
const DM_OVERLAY = 'overlay-OLDLIVE-0000-0001';
/** The overlay dracut looks for on the third key, which gets an encrypted home.img. */
const CRYPT_OVERLAY = 'overlay-CRYPT-9ABC-DEF0';

/** Used blocks as dumpe2fs reads the superblock, as a percentage with two decimals. */
function ext4Percent(image: string): number {
  const text = execFileSync('dumpe2fs', ['-h', image], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  const field = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+)$`, 'm').exec(text)?.[1]);
  const count = field('Block count');
  return Math.round(((count - field('Free blocks')) / count) * 10_000) / 100;
}

const debugfs = (image: string, request: string, write = false) =>
  execFileSync('debugfs', [...(write ? ['-w'] : []), '-R', request, image], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });

function userFiles(dir: string, bytes: (n: number) => Uint8Array): void {
  mkdirSync(join(dir, 'Documents'), { recursive: true });
  writeFileSync(join(dir, 'README.txt'), 'my key\n');
  writeFileSync(join(dir, 'Documents', 'notes.odt'), bytes(90_000));
}

tierSuite('browser', 'LiveOS persistence and the key summary in Chromium, on folder keys', () => {
  let work: string;
  let liveDir: string;
  let libraryDir: string;
  let cryptDir: string;
  let rootfs: string;
  let session: BrowserSession | undefined;
  let page: Page;

  const selectKey = async (model: string) => {
    await page.getByRole('button', { name: new RegExp(`Bootkey Test ${model}`) }).click();
    await page.getByRole('heading', { name: `Bootkey Test ${model}` }).waitFor();
  };
  /** Chooses another key and this one again: its panels read the key afresh. */
  const reselect = async (model: string) => {
    await selectKey(model === 'Live' ? 'Library' : 'Live');
    await selectKey(model);
  };
  const panel = () => page.getByRole('region', { name: 'Live system persistence' });
  const fileItem = (name: string) =>
    panel().locator('li.persistence-file').filter({ has: page.locator('.notice-title > .file-name').getByText(name, { exact: true }) });
  /** The dialog's Cancel closes it and leaves the live key as it was (`before`, its state when the dialog opened). */
  const cancelWritesNothing = async (dialog: Locator, before: Map<string, string>) => {
    await dialog.getByRole('button', { name: 'Cancel' }).click();
    await dialog.waitFor({ state: 'detached' });
    assert.deepEqual(treeState(liveDir), before, 'Cancel wrote nothing');
  };

  before(async () => {
    const [squashfs, memtestUsb, memtestIso] = await Promise.all([fixture('liveos-squashfs'), fixture('memtest-usb-img'), fixture('memtest-iso')]);
    rootfs = await fixture('liveos-rootfs');
    work = mkdtempSync(join(tmpdir(), 'bootkey-persistence-ui-'));
    [liveDir, libraryDir, cryptDir] = userKeys(work, ['live', 'library', 'crypt'], userFiles);
    const dropDir = join(work, 'drop');
    mkdirSync(dropDir);
    for (const dir of [liveDir, cryptDir]) {
      mkdirSync(join(dir, 'LiveOS'));
      copyFileSync(squashfs, join(dir, 'LiveOS', 'squashfs.img'));
    }
    symlinkSync(memtestUsb, join(dropDir, 'memtest86-usb.img'));
    symlinkSync(memtestIso, join(dropDir, 'memtest86plus.iso'));
    const disks = new MemoryDiskProvider([
      { name: 'sdb', vendor: 'Bootkey Test', model: 'Live', serial: 'L1', size: 8 * GB, table: 'dos',
        partitions: [{ size: 4 * GB, fsType: 'vfat', label: 'LIVE', uuid: '1234-ABCD', mountPoint: liveDir, used: 100 * MB }] },
      { name: 'sdc', vendor: 'Bootkey Test', model: 'Library', serial: 'B1', size: 8 * GB, table: 'dos',
        partitions: [{ size: 4 * GB, fsType: 'vfat', label: 'LIBRARY', uuid: '5678-EF01', mountPoint: libraryDir, used: 50 * MB }] },
      { name: 'sdd', vendor: 'Bootkey Test', model: 'Crypt', serial: 'C1', size: 8 * GB, table: 'dos',
        partitions: [{ size: 4 * GB, fsType: 'vfat', label: 'CRYPT', uuid: '9ABC-DEF0', mountPoint: cryptDir, used: 10 * MB }] },
    ]);
    // GRUB's BIOS boot code would go to a real device through the helper: recorded here (proven in UML).
    const dispatcher = keyDispatcher(disks, { run: async () => [] }, { dropFolder: dropDir, mergeWorkDir: work });
    session = await openSession({ dispatcher, work });
    ({ page } = session);
  });

  after(() => closeSession(session, work));

  test('a key without a LiveOS folder says so; on the live key an OverlayFS overlay and home.img are created, with usage as dumpe2fs reads it', async () => {
    await selectKey('Library');
    await panel().getByText('There is no LiveOS folder on this key').waitFor();
    await selectKey('Live');
    await panel().getByText('No overlay or home.img yet').waitFor();
    assert.match((await panel().textContent()) ?? '', /\/LiveOS holds squashfs\.img\./);
    await shot(page, 'persistence-empty');
    await axe(page, 'persistence, nothing yet');

    const before = treeState(liveDir);
    await panel().getByLabel(/^Overlay size in MiB/).fill('64');
    await panel().getByLabel('Also a home.img for /home').check();
    await panel().getByLabel('home.img size in MiB').fill('32');
    await axe(page, 'create form with home.img');
    await panel().getByRole('button', { name: 'Create' }).click();
    await panel().getByText(`Created ${OVERLAY} and home.img.`).waitFor({ timeout: 60_000 });

    const overlay = join(liveDir, 'LiveOS', OVERLAY);
    const home = join(liveDir, 'LiveOS', 'home.img');
    assert.equal(statSync(overlay).size, 64 * MiB);
    assert.equal(statSync(home).size, 32 * MiB);
    assert.match(debugfs(overlay, 'ls -p /'), /\/overlayfs\/[\s\S]*\/ovlwork\//);
    const afterCreate = treeState(liveDir);
    for (const [path, hash] of before) assert.equal(afterCreate.get(path), hash, path);
    for (const [name, image] of [[OVERLAY, overlay], ['home.img', home]] as const) {
      const text = (await fileItem(name).textContent()) ?? '';
      assert.ok(text.includes(`${ext4Percent(image)}% used`), `${name}: ${text}`);
      assert.ok(text.includes(`of ${formatBytes(statSync(image).size)} · Valid`), text);
    }
    assert.match((await fileItem(OVERLAY).textContent()) ?? '', /the overlay this key starts with/);
    assert.equal(await panel().getByRole('button', { name: 'Create' }).count(), 0, 'dracut’s overlay exists: nothing more to create');
    await shot(page, 'persistence-created');
    await axe(page, 'persistence with an overlay and home.img');
  });

  test('an encrypted home.img: a confirmation that differs, or a passphrase the boot prompt cannot take, writes nothing; created, home.img is LUKS and opens with that passphrase', async () => {
    const passphrase = 'correct horse battery staple';
    const home = join(cryptDir, 'LiveOS', 'home.img');
    await selectKey('Crypt');
    await panel().getByText('No overlay or home.img yet').waitFor();
    const before = treeState(cryptDir);
    await panel().getByLabel(/^Overlay size in MiB/).fill('64');
    await panel().getByLabel('Also a home.img for /home').check();
    await panel().getByLabel('home.img size in MiB').fill('64');
    await panel().getByLabel('Encrypt home.img with a passphrase').check();
    const first = panel().getByLabel('Passphrase for home.img');
    const again = panel().getByLabel('The same passphrase again');
    assert.deepEqual([await first.getAttribute('type'), await again.getAttribute('type')], ['password', 'password']);
    assert.match((await panel().locator('form').textContent()) ?? '', /asks for this passphrase at every start[\s\S]*cannot be recovered/);
    const create = panel().getByRole('button', { name: 'Create' });

    await first.fill(passphrase);
    await again.fill(`${passphrase}!`);
    await panel().getByText('The two passphrases differ: type the same one twice.').waitFor();
    assert.equal(await again.getAttribute('aria-invalid'), 'true');
    assert.ok(await create.isDisabled(), 'Create waits for the same passphrase twice');
    await again.press('Enter');
    await shot(page, 'persistence-create-encrypted-mismatch');
    await axe(page, 'create form, encrypted home.img, passphrases differ');
    assert.deepEqual(treeState(cryptDir), before, 'differing passphrases wrote nothing');

    // Bootkey's own passphrase rules (encrypted-home), not the form's: the refusal comes back in words.
    await first.fill('short');
    await again.fill('short');
    await create.click();
    await panel().getByText(/passphrase is too short: at least 8 characters/).waitFor({ timeout: 30_000 });
    assert.deepEqual(treeState(cryptDir), before, 'a refused passphrase wrote nothing');

    await first.fill(passphrase);
    await again.fill(passphrase);
    await panel().getByText('Both the same.').waitFor();
    await shot(page, 'persistence-create-encrypted');
    await axe(page, 'create form, encrypted home.img');
    await create.click();
    await panel().getByText(`Created ${CRYPT_OVERLAY} and home.img.`).waitFor({ timeout: 240_000 });

    assert.equal(statSync(home).size, 64 * MiB);
    assert.equal(execFileSync('blkid', ['-p', '-o', 'value', '-s', 'TYPE', home], { encoding: 'utf8' }).trim(), 'crypto_LUKS');
    const dump = execFileSync('cryptsetup', ['luksDump', home], { encoding: 'utf8' });
    const cipher = /^\s*cipher:\s*(\S+)/m.exec(dump)?.[1];
    assert.ok(cipher, dump);
    const opens = (secret: string) => {
      try {
        execFileSync('cryptsetup', ['open', '--test-passphrase', '--disable-locks', '--key-file=-', home], { input: secret, stdio: ['pipe', 'ignore', 'ignore'] });
        return true;
      } catch {
        return false;
      }
    };
    assert.equal(opens(passphrase), true, 'the passphrase given opens it');
    assert.equal(opens(`${passphrase}!`), false, 'another does not');
    const item = fileItem('home.img');
    const text = (await item.textContent()) ?? '';
    assert.ok(text.includes(`Encrypted (LUKS2, ${cipher})`), text);
    assert.ok(text.includes(`${formatBytes(statSync(home).size)} on the key`), text);
    assert.match(text, /asks for its passphrase at every start/);
    assert.equal(await item.getByRole('button', { name: 'Reset home.img…' }).count(), 0, 'an encrypted home.img is deleted, not reset');
    assert.ok(!(await page.content()).includes(passphrase), 'the passphrase is nowhere in the page');
    const summary = page.getByRole('region', { name: 'What Bootkey put on this key' });
    await summary.getByText(`/LiveOS/home.img — ${formatBytes(statSync(home).size)}, encrypted`).waitFor();
    await shot(page, 'persistence-encrypted-home');
    await axe(page, 'persistence with an encrypted home.img');
    const after = treeState(cryptDir);
    for (const [path, hash] of before) if (!path.startsWith('.bootkey')) assert.equal(after.get(path), hash, path);
  });

  test('grow: the overlay holds the new size, its files kept (e2fsck and resize2fs on the file)', async () => {
    const overlay = join(liveDir, 'LiveOS', OVERLAY);
    await selectKey('Live');
    await fileItem(OVERLAY).getByRole('button', { name: `Grow ${OVERLAY}…` }).click();
    const size = fileItem(OVERLAY).getByLabel(/^New size of/);
    assert.equal(await page.evaluate(() => document.activeElement?.tagName), 'INPUT', 'the size field has the focus');
    await shot(page, 'persistence-grow-form');
    await axe(page, 'grow form');
    await size.fill('96');
    await page.keyboard.press('Enter');
    await panel().getByText(`${OVERLAY} now holds ${formatBytes(96 * MiB)}.`).waitFor({ timeout: 60_000 });
    assert.equal(statSync(overlay).size, 96 * MiB);
    assert.match(debugfs(overlay, 'ls -p /'), /\/overlayfs\/[\s\S]*\/ovlwork\//);
    assert.ok(((await fileItem(OVERLAY).textContent()) ?? '').includes(`${ext4Percent(overlay)}% used`));
  });

  test('reset asks first, naming the file and what is lost; Cancel and Escape write nothing; confirmed, the overlay is empty', async () => {
    const overlay = join(liveDir, 'LiveOS', OVERLAY);
    // what a live system would have kept in it: a file in the upper tree
    const kept = join(work, 'kept.bin');
    writeFileSync(kept, new Uint8Array(3 * MiB).fill(7));
    debugfs(overlay, `write ${kept} overlayfs/kept.bin`, true);
    await reselect('Live');
    await fileItem(OVERLAY).getByText(`${ext4Percent(overlay)}% used`).waitFor();

    const before = treeState(liveDir);
    const open = () => fileItem(OVERLAY).getByRole('button', { name: `Reset ${OVERLAY}…` }).click();
    const dialog = page.getByRole('dialog', { name: `Reset ${OVERLAY}?` });
    await open();
    await dialog.waitFor();
    const text = (await dialog.textContent()) ?? '';
    for (const words of [`/LiveOS/${OVERLAY}`, 'installed programs', 'Lost for good']) assert.ok(text.includes(words), `${words} in ${text}`);
    assert.equal(await page.evaluate(() => document.activeElement?.textContent), 'Cancel', 'the safe choice has the focus');
    await shot(page, 'persistence-reset-dialog', false);
    await axe(page, 'reset dialog');
    await cancelWritesNothing(dialog, before);
    await open();
    await dialog.waitFor();
    await page.keyboard.press('Escape');
    await dialog.waitFor({ state: 'detached' });
    assert.deepEqual(treeState(liveDir), before, 'Escape wrote nothing');

    await open();
    await dialog.getByRole('button', { name: /^Reset and lose/ }).click();
    await panel().getByText(`${OVERLAY} was reset: it is empty now.`).waitFor({ timeout: 60_000 });
    assert.doesNotMatch(debugfs(overlay, 'ls -p /overlayfs'), /kept\.bin/);
    assert.equal(statSync(overlay).size, 96 * MiB, 'the file keeps its size');
    assert.ok(((await fileItem(OVERLAY).textContent()) ?? '').includes(`${ext4Percent(overlay)}% used`));
    const after = treeState(liveDir);
    for (const [path, hash] of before) if (path !== `LiveOS/${OVERLAY}`) assert.equal(after.get(path), hash, path);
  });

  test('an overlay marked Invalid: recover saves its header first and marks it valid; merged, squashfs.img holds its change', async () => {
    // A device-mapper store as the kernel leaves it (header, metadata area 0, data chunks), then invalidated:
    // one exception, the 4 KiB chunk holding /etc/hostname, with a changed hostname of the same length.
    const block = Number(debugfs(rootfs, 'blocks /etc/hostname').trim());
    const original = readFileSync(rootfs).subarray(block * 4096, block * 4096 + 4096);
    const changed = Buffer.from(original);
    const hostname = 'merged-via-ui!\n';
    assert.equal(hostname.length, 'localhost-live\n'.length);
    changed.write(hostname, 0, 'latin1');
    const store = Buffer.alloc(8 * MiB);
    store.writeUInt32LE(0x70416e53, 0); // SnAp
    store.writeUInt32LE(0, 4); // invalid
    store.writeUInt32LE(1, 8);
    store.writeUInt32LE(8, 12); // 8 sectors a chunk
    store.writeBigUInt64LE(BigInt(block), 4096);
    store.writeBigUInt64LE(2n, 4096 + 8);
    changed.copy(store, 2 * 4096);
    const dm = join(liveDir, 'LiveOS', DM_OVERLAY);
    writeFileSync(dm, store);
    await reselect('Live');
    const item = fileItem(DM_OVERLAY);
    await item.getByText('Invalid: the live system will not use it').waitFor();
    assert.match((await item.textContent()) ?? '', /What to do: recover it/);

    const before = treeState(liveDir);
    await item.getByRole('button', { name: `Recover ${DM_OVERLAY}…` }).click();
    const dialog = page.getByRole('dialog', { name: `Recover ${DM_OVERLAY}?` });
    await dialog.waitFor();
    assert.match((await dialog.textContent()) ?? '', /header .* is saved beside it as \/LiveOS\/overlay-OLDLIVE-0000-0001\.header-DATE\.bak/);
    await shot(page, 'persistence-recover-dialog', false);
    await axe(page, 'recover dialog');
    await dialog.getByRole('button', { name: 'Cancel' }).click();
    assert.deepEqual(treeState(liveDir), before, 'Cancel wrote nothing');
    await item.getByRole('button', { name: `Recover ${DM_OVERLAY}…` }).click();
    await dialog.getByRole('button', { name: 'Save the header and recover' }).click();
    const done = panel().getByText(/^overlay-OLDLIVE-0000-0001 is valid again\. Its old header is saved as \/LiveOS\/(\S+)\./);
    await done.waitFor({ timeout: 60_000 });
    const backup = /saved as \/LiveOS\/(\S+?)\.\s/.exec((await done.textContent()) ?? '')?.[1];
    // The filesystem the overlay shows, checked on a scratch copy: one changed hostname leaves it clean.
    assert.match((await done.textContent()) ?? '', /Its filesystem checks clean\./);
    assert.ok(backup, 'the backup is named');
    assert.deepEqual(readFileSync(join(liveDir, 'LiveOS', backup)), store.subarray(0, 4096), 'the header as it was');
    assert.equal(readFileSync(dm)[4], 1, 'marked valid');
    assert.match((await item.textContent()) ?? '', /· Valid · 1 block changed/);
    assert.equal(await fileItem(backup).count(), 0, 'the header backup is not listed as an overlay');
    await shot(page, 'persistence-recovered');
    await axe(page, 'recovered overlay, merge offered');

    await item.getByRole('button', { name: `Merge into the live image: ${DM_OVERLAY}…` }).click();
    const merge = page.getByRole('dialog', { name: `Merge ${DM_OVERLAY} into the live image?` });
    await merge.waitFor();
    await shot(page, 'persistence-merge-dialog', false);
    await axe(page, 'merge dialog');
    // Every title the progress view shows while the merge runs (it may be over before a screenshot could be taken).
    await page.evaluate(() => {
      const seen: string[] = [];
      (window as unknown as { mergeTitles: string[] }).mergeTitles = seen;
      new MutationObserver(() => {
        const title = document.querySelector('.job-progress .notice-title')?.textContent;
        if (title && seen.at(-1) !== title) seen.push(title);
      }).observe(document.body, { subtree: true, childList: true, characterData: true });
    });
    await merge.getByRole('button', { name: 'Merge' }).click();
    await page.locator('.job-progress').getByText(/^Step \d of 7: /).waitFor({ timeout: 10_000 }).then(() => shot(page, 'persistence-merging'), () => undefined);
    await panel().getByText(/^Merged 1 block changed into \/LiveOS\/squashfs\.img/).waitFor({ timeout: 180_000 });
    const titles = await page.evaluate(() => (window as unknown as { mergeTitles: string[] }).mergeTitles);
    const steps = titles.filter((t) => !t.endsWith('starting…')).map((t) => Number(/^Step (\d) of 7: /.exec(t)?.[1]));
    assert.ok(steps.length > 0 && steps.every((n, i) => n >= 1 && n <= 7 && (i === 0 || n > steps[i - 1]!)), `steps in order: ${titles.join(' | ')}`);
    const extracted = join(work, 'merged-rootfs.img');
    execFileSync('sh', ['-c', 'unsquashfs -cat "$1" LiveOS/rootfs.img > "$2"', 'sh', join(liveDir, 'LiveOS', 'squashfs.img'), extracted]);
    assert.equal(debugfs(extracted, 'cat /etc/hostname'), hostname, 'the new squashfs.img holds the overlay’s change');
    assert.equal(debugfs(extracted, 'cat /etc/os-release'), debugfs(rootfs, 'cat /etc/os-release'), 'the rest as it was');
    execFileSync('e2fsck', ['-f', '-n', extracted], { stdio: 'ignore' }); // throws unless clean
    await item.getByText('New: nothing kept yet').waitFor();
    await shot(page, 'persistence-merged');
  });

  test('delete asks first; Cancel writes nothing; confirmed, only that file leaves the key', async () => {
    await selectKey('Live');
    const before = treeState(liveDir);
    const open = () => fileItem(DM_OVERLAY).getByRole('button', { name: `Delete ${DM_OVERLAY}…` }).click();
    const dialog = page.getByRole('dialog', { name: `Delete ${DM_OVERLAY}?` });
    await open();
    await dialog.waitFor();
    assert.match((await dialog.textContent()) ?? '', new RegExp(`removes /LiveOS/${DM_OVERLAY} from the key \\(${formatBytes(8 * MiB).replace('.', '\\.')} freed\\)`));
    await shot(page, 'persistence-delete-dialog', false);
    await axe(page, 'delete dialog');
    await cancelWritesNothing(dialog, before);
    await open();
    await dialog.getByRole('button', { name: `Delete ${DM_OVERLAY}` }).click();
    await panel().getByText(`Deleted /LiveOS/${DM_OVERLAY}.`).waitFor({ timeout: 60_000 });
    const after = treeState(liveDir);
    assert.deepEqual([...before.keys()].filter((p) => !after.has(p)), [`LiveOS/${DM_OVERLAY}`]);
    for (const [path, hash] of after) if (!path.startsWith('.bootkey')) assert.equal(hash, before.get(path), path);
    assert.equal(await fileItem(DM_OVERLAY).count(), 0);
  });

  test('the persistence screen at 200% zoom: nothing scrolls sideways', async () => {
    await selectKey('Live');
    await fileItem(OVERLAY).waitFor();
    await page.setViewportSize({ width: 550, height: 400 });
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    assert.ok(overflow <= 0, `${overflow}px sideways`);
    await shot(page, 'persistence-zoom200');
    await page.setViewportSize({ width: 1100, height: 800 });
  });

  test('what Bootkey put on the key: copied EFI files with their source and undo, persistence files, with sizes', async () => {
    await selectKey('Live');
    const summary = page.getByRole('region', { name: 'What Bootkey put on this key' });
    const beforeCopy = treeState(liveDir);
    await page.locator('section:has(#copy-efi-title) .drop-zone').first().evaluate((element) => {
      const data = new DataTransfer();
      data.items.add(new File([new Uint8Array(16)], 'memtest86-usb.img'));
      for (const type of ['dragenter', 'dragover', 'drop']) element.dispatchEvent(new DragEvent(type, { dataTransfer: data, bubbles: true, cancelable: true }));
    });
    const copy = page.getByRole('region', { name: /Make bootable from an ISO or image/ }).getByRole('button', { name: /^Copy \d+ files?$/ });
    await copy.waitFor({ timeout: 30_000 });
    await copy.click();
    const group = summary.locator('.summary-group', { hasText: 'UEFI boot files copied from an image' });
    await group.waitFor({ timeout: 60_000 });

    // the key's own manifest, read independently, against what the summary shows
    const manifest = JSON.parse(readFileSync(join(liveDir, '.bootkey', 'manifest.json'), 'utf8')) as
      { operations: { kind: string; source: string; added: { path: string; size: number }[] }[] };
    const copies = manifest.operations.filter((o) => o.kind === 'copy-efi');
    const [op] = copies;
    assert.ok(op && copies.length === 1, JSON.stringify(manifest.operations.map((o) => o.kind)));
    const bytes = op.added.reduce((sum, f) => sum + f.size, 0);
    const groupText = (await group.textContent()) ?? '';
    const files = `${op.added.length} ${op.added.length === 1 ? 'file' : 'files'}`;
    assert.ok(groupText.includes(`From ${op.source}: ${files}, ${formatBytes(bytes)}`), groupText);
    assert.match(op.source, /memtest86-usb\.img$/);
    await group.getByText('Files', { exact: true }).click();
    for (const f of op.added) {
      assert.equal(statSync(join(liveDir, f.path)).size, f.size, f.path);
      assert.ok(groupText.includes(`${f.path} — ${formatBytes(f.size)}`), f.path);
    }
    const persistence = (await summary.locator('.summary-group', { hasText: 'Live system persistence' }).textContent()) ?? '';
    for (const name of [OVERLAY, 'home.img']) {
      assert.ok(persistence.includes(`/LiveOS/${name} — ${formatBytes(statSync(join(liveDir, 'LiveOS', name)).size)}`), `${name} in ${persistence}`);
    }
    await shot(page, 'key-summary');
    await axe(page, 'key summary');

    await group.getByRole('button', { name: 'Undo: remove these boot files' }).click();
    await summary.getByText(/^Removed \d+ files? Bootkey copied\./).waitFor({ timeout: 30_000 });
    await group.waitFor({ state: 'detached' });
    const afterUndo = treeState(liveDir);
    const persistenceFiles = [...beforeCopy.keys()].filter((p) => p.startsWith('LiveOS/'));
    assert.deepEqual(persistenceFiles.filter((p) => afterUndo.get(p) !== beforeCopy.get(p)), [],
      'undoing the copied boot files leaves the persistence files as they were');
    assert.deepEqual([...afterUndo].sort(), [...beforeCopy].sort(), 'undo from the summary gives back the key as it was');
  });

  test('what Bootkey put on the key: the ISO library with its size', async () => {
    const summary = page.getByRole('region', { name: 'What Bootkey put on this key' });
    await selectKey('Library');
    const multi = page.getByRole('region', { name: 'Multi-ISO key' });
    await multi.getByRole('button', { name: 'Prepare as a multi-ISO key (keeps your files)' }).click();
    await multi.getByText(/^Prepared: UEFI/).waitFor({ timeout: 120_000 });
    await multi.getByLabel('Choose ISO files…').setInputFiles({ name: 'memtest86plus.iso', mimeType: 'application/octet-stream', buffer: Buffer.alloc(16) });
    await multi.getByText(/^Added memtest86plus\.iso/).waitFor({ timeout: 120_000 });
    const library = summary.locator('.summary-group', { hasText: 'ISO library' });
    const size = statSync(join(libraryDir, 'isos', 'memtest86plus.iso')).size;
    await library.getByText(`memtest86plus.iso — ${formatBytes(size)}`).waitFor();
    assert.match((await library.textContent()) ?? '', new RegExp(`ISO library \\(/isos\\), ${formatBytes(size).replace('.', '\\.')}`));
    await shot(page, 'key-summary-library');
  });
});
