/**
 * Copy-EFI and the multi-ISO key through the UI, in Debian's Chromium over the web test host, writing to a real
 * folder: the key is a temporary directory pre-filled with user files and listed by the in-memory DiskProvider as
 * the mounted FAT partition of a USB key (no kernel here mounts FAT for a browser test; key-target resolves a
 * mounted folder without udisks). The services, their host adapters (durable writer, GRUB builder, image files),
 * the dispatcher, the WebSocket host and the React UI are real. The same services on a real FAT key under a real
 * kernel are proven by the UML tests of copy-efi and multiboot.
 *
 * GRUB's BIOS boot code goes to a real key's device through the privileged helper; the key's device here is the
 * fake provider's, so the test's runner records that request (identity included) instead: the helper itself is
 * proven on a scsi_debug key in the UML tests.
 *
 * Dropped files: the page cannot know a dropped file's path, so the host is started with a drop folder holding
 * the fixtures under their names, and the test drops File objects of those names (real `drop` events).
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, symlinkSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { Page } from 'playwright-core';
import type { JobProgressDto } from '../../preload/contract.js';
import type { HelperRequest } from '../../main/ports/privileged-runner.js';
import { ERROR_TEXT } from '../../renderer/error-text.js';
import { fixture } from '../fixtures/index.js';
import { MemoryDiskProvider } from '../harness/memory-disk-provider.js';
import { tierSuite } from '../harness/tier.js';
import { axe as axeCheck, closeSession, keyDispatcher, openSession, sha256, shot as shoot, treeState, userKeys, type BrowserSession } from './browser-session.js';

const GB = 1e9;
const MB = 1e6;

/** A key as a user has it: documents, photos, a nested folder, a file in EFI/ of their own. */
function fillUserFiles(dir: string, bytes: (n: number) => Uint8Array): void {
  mkdirSync(join(dir, 'Documents', 'Taxes 2025'), { recursive: true });
  mkdirSync(join(dir, 'Photos'), { recursive: true });
  mkdirSync(join(dir, 'EFI', 'Tools'), { recursive: true });
  writeFileSync(join(dir, 'README.txt'), 'my key\n');
  writeFileSync(join(dir, 'Documents', 'notes.odt'), bytes(70_000));
  writeFileSync(join(dir, 'Documents', 'Taxes 2025', 'return.pdf'), bytes(250_000));
  writeFileSync(join(dir, 'Photos', 'IMG_0001.JPG'), bytes(1_300_000));
  writeFileSync(join(dir, 'EFI', 'Tools', 'shell.efi'), bytes(9_000));
}

tierSuite('browser', 'copy-EFI and the multi-ISO key in Chromium, on a folder key', () => {
  let work: string;
  let keyDir: string;
  let tinyDir: string;
  let usedDir: string;
  let disks: MemoryDiskProvider;
  let session: BrowserSession | undefined;
  let page: Page;
  const progress: JobProgressDto[] = [];
  const helperRequests: HelperRequest[] = [];
  let memtestUsb: string;
  let installerIso: string;
  let memtestIso: string;

  const shot = (name: string) => shoot(page, name);
  const axe = (screen: string) => axeCheck(page, screen);

  /** Real drag-and-drop events carrying File objects of these names onto the element. */
  const drop = (selector: string, names: string[]) =>
    page.locator(selector).first().evaluate((element, fileNames) => {
      const data = new DataTransfer();
      for (const name of fileNames) data.items.add(new File([new Uint8Array(16)], name, { type: 'application/octet-stream' }));
      for (const type of ['dragenter', 'dragover', 'drop']) {
        element.dispatchEvent(new DragEvent(type, { dataTransfer: data, bubbles: true, cancelable: true }));
      }
    }, names);

  const selectKey = async (model: string) => {
    await page.getByRole('button', { name: new RegExp(model) }).click();
    await page.getByRole('heading', { name: `Bootkey Test ${model}` }).waitFor();
  };

  before(async () => {
    [memtestUsb, installerIso, memtestIso] = await Promise.all([fixture('memtest-usb-img'), fixture('installer-iso'), fixture('memtest-iso')]);
    work = mkdtempSync(join(tmpdir(), 'bootkey-key-actions-'));
    [keyDir, tinyDir, usedDir] = userKeys(work, ['key', 'tiny', 'used'], fillUserFiles);
    const dropDir = join(work, 'drop');
    mkdirSync(dropDir);
    mkdirSync(join(usedDir, 'EFI', 'BOOT'));
    writeFileSync(join(usedDir, 'EFI', 'BOOT', 'BOOTX64.EFI'), 'the user’s own boot loader\n');
    symlinkSync(memtestUsb, join(dropDir, 'memtest86-usb.img'));
    symlinkSync(installerIso, join(dropDir, 'debian-installer.iso'));
    symlinkSync(memtestIso, join(dropDir, 'memtest86plus.iso'));
    // A large ISO that copies long enough to be cancelled: the installer ISO with a sparse tail, 1.5 GB in all.
    copyFileSync(installerIso, join(dropDir, 'large-installer.iso'));
    truncateSync(join(dropDir, 'large-installer.iso'), 1.5 * GB);
    disks = new MemoryDiskProvider([
      { name: 'sdb', vendor: 'Bootkey Test', model: 'Roomy', serial: 'R1', size: 4 * GB, table: 'dos',
        partitions: [{ size: 2 * GB, fsType: 'vfat', label: 'MYKEY', mountPoint: keyDir, used: 20 * MB }] },
      { name: 'sdc', vendor: 'Bootkey Test', model: 'Full', serial: 'F1', size: 128 * MB, table: 'dos',
        partitions: [{ size: 64 * MB, fsType: 'vfat', label: 'FULL', mountPoint: tinyDir, used: 64 * MB - 300_000 }] },
      { name: 'sdd', vendor: 'Bootkey Test', model: 'Used', serial: 'U1', size: 2 * GB, table: 'dos',
        partitions: [{ size: 1 * GB, fsType: 'vfat', label: 'USED', mountPoint: usedDir, used: 10 * MB }] },
    ]);
    const dispatcher = keyDispatcher(disks, {
      run: async (request) => {
        helperRequests.push(request);
        return [];
      },
    }, { dropFolder: dropDir });
    dispatcher.subscribe((event, payload) => {
      if (event === 'jobProgress') progress.push(payload as JobProgressDto);
    });
    session = await openSession({ dispatcher, work });
    ({ page } = session);
  });

  after(() => closeSession(session, work));

  test('copy-EFI from a dropped disk image: plan, confirm, verified result; undo restores the exact file set', async () => {
    const before = treeState(keyDir);
    await selectKey('Roomy');
    const panel = page.getByRole('region', { name: /Make bootable from an ISO or image/ });
    await drop('section:has(#copy-efi-title) .drop-zone', ['memtest86-usb.img']);
    const confirm = panel.getByRole('button', { name: /^Copy \d+ files?$/ });
    await confirm.waitFor();
    const planText = (await panel.textContent()) ?? '';
    assert.match(planText, /memtest86-usb\.img \(gpt, memtest/);
    await panel.getByText('Files it will write').click();
    assert.ok(await panel.getByText('/EFI/BOOT/BOOTX64.EFI').isVisible());
    assert.deepEqual(treeState(keyDir), before, 'the plan wrote nothing');
    await shot('copy-efi-plan');
    await axe('copy-EFI plan');

    await confirm.click();
    await panel.getByText(/^Done: the key now starts memtest86-usb\.img/).waitFor({ timeout: 60_000 });
    const verified = /Verified: (\d+) files?/.exec((await panel.textContent()) ?? '');
    assert.ok(verified, 'result says what was verified');
    // every file of the user's is byte-identical; BOOTX64.EFI equals the image's, as mtools reads it
    const afterCopy = treeState(keyDir);
    for (const [path, hash] of before) assert.equal(afterCopy.get(path), hash, path);
    const table = JSON.parse(execFileSync('sfdisk', ['--json', memtestUsb], { encoding: 'utf8' })) as { partitiontable: { sectorsize?: number; partitions: { start: number; type: string }[] } };
    const esp = table.partitiontable.partitions.find((p) => /C12A7328/i.test(p.type))!;
    const loader = execFileSync('mcopy', ['-n', '-i', `${memtestUsb}@@${esp.start * (table.partitiontable.sectorsize ?? 512)}`, '::/EFI/BOOT/BOOTX64.EFI', '-']);
    assert.equal(afterCopy.get('EFI/BOOT/BOOTX64.EFI'), sha256(loader));
    const added = [...afterCopy.keys()].filter((p) => !before.has(p) && afterCopy.get(p) !== 'dir' && !p.startsWith('.bootkey'));
    assert.equal(added.length, Number(verified[1]));
    const copyEvents = progress.filter((p) => p.phase === 'Copying UEFI boot files');
    assert.ok(copyEvents.length > 0, 'progress events');
    assert.equal(copyEvents.at(-1)!.bytesDone, copyEvents.at(-1)!.bytesTotal);
    assert.ok(copyEvents.every((p, i) => i === 0 || p.bytesDone >= copyEvents[i - 1]!.bytesDone));
    // then every byte read back from the key, its own phase
    const checkEvents = progress.filter((p) => p.phase === 'Checking the copied files (read back from the key)');
    assert.ok(checkEvents.length > 0 && progress.indexOf(checkEvents[0]!) > progress.indexOf(copyEvents.at(-1)!), 'read-back after the copy');
    assert.equal(checkEvents.at(-1)!.bytesDone, copyEvents.at(-1)!.bytesTotal);
    await shot('copy-efi-done');
    await axe('copy-EFI result');

    await panel.getByRole('button', { name: 'Undo: remove the boot files Bootkey added' }).click();
    await panel.getByText(/^Undone: removed \d+ files?/).waitFor();
    assert.deepEqual(treeState(keyDir), before, 'undo gives back exactly the key as it was');
    await shot('copy-efi-undone');
  });

  test('copy-EFI onto a key with its own BOOTX64.EFI: refused until the user says replace; kept as a backup; undo gives it back', async () => {
    const before = treeState(usedDir);
    await selectKey('Used');
    const panel = page.getByRole('region', { name: /Make bootable from an ISO or image/ });
    await drop('section:has(#copy-efi-title) .drop-zone', ['memtest86-usb.img']);
    const alert = panel.getByRole('alert');
    await alert.waitFor({ timeout: 30_000 });
    assert.ok(((await alert.textContent()) ?? '').includes(ERROR_TEXT.CONFLICT.title));
    assert.equal(await panel.getByRole('button', { name: /^Copy \d+ files?$/ }).count(), 0);
    const replace = panel.getByLabel(/^Replace 1 file of mine \(\/EFI\/BOOT\/BOOTX64\.EFI\)/);
    await shot('copy-efi-conflict');
    await axe('copy-EFI conflict');
    await replace.focus();
    await page.keyboard.press('Space');
    const confirm = panel.getByRole('button', { name: /^Copy \d+ files?$/ });
    await confirm.waitFor();
    assert.equal(await replace.isChecked(), true);
    assert.deepEqual(treeState(usedDir), before, 'planning wrote nothing');
    await confirm.click();
    await panel.getByText(/^Done: the key now starts/).waitFor({ timeout: 60_000 });
    const during = treeState(usedDir);
    const theirs = before.get('EFI/BOOT/BOOTX64.EFI')!;
    assert.notEqual(during.get('EFI/BOOT/BOOTX64.EFI'), theirs);
    assert.ok([...during].some(([path, hash]) => path.startsWith('.bootkey/') && hash === theirs), 'their loader kept under /.bootkey');
    for (const [path, hash] of before) if (path !== 'EFI/BOOT/BOOTX64.EFI') assert.equal(during.get(path), hash, path);
    await panel.getByRole('button', { name: 'Undo: remove the boot files Bootkey added' }).click();
    await panel.getByText(/^Undone: removed \d+ files?.*, restored 1 of yours/).waitFor();
    assert.deepEqual(treeState(usedDir), before, 'undo gives back exactly the key as it was');
  });

  test('an image that does not fit: the plan shows the mapped message, offers no copy, writes nothing', async () => {
    const before = treeState(tinyDir);
    await selectKey('Full');
    const panel = page.getByRole('region', { name: /Make bootable from an ISO or image/ });
    // the chooser is reached by keyboard (Shift+Tab from Undo) and shows a focus ring; the host maps the chosen name
    // to its drop folder
    await panel.getByRole('button', { name: 'Undo: remove the boot files Bootkey added' }).focus();
    await page.keyboard.press('Shift+Tab');
    assert.equal(await page.evaluate(() => (document.activeElement as HTMLInputElement | null)?.type), 'file');
    const ring = await panel.locator('.drop-zone .button').evaluate((label) => getComputedStyle(label).outlineStyle);
    assert.equal(ring, 'solid');
    // (opening the native dialog with Space is Chromium's own behaviour and proved flaky headless: choose the file directly)
    await panel.getByLabel('Choose an image…').setInputFiles({ name: 'memtest86-usb.img', mimeType: 'application/octet-stream', buffer: Buffer.alloc(16) });
    const alert = panel.getByRole('alert');
    await alert.waitFor({ timeout: 30_000 });
    const text = (await alert.textContent()) ?? '';
    assert.ok(text.includes(ERROR_TEXT.NOT_ENOUGH_SPACE.title), text);
    assert.ok(text.includes(ERROR_TEXT.NOT_ENOUGH_SPACE.next), text);
    assert.equal(await panel.getByRole('button', { name: /^Copy \d+ files?$/ }).count(), 0, 'no way to start a copy that cannot fit');
    assert.deepEqual(treeState(tinyDir), before);
    await shot('copy-efi-no-space');
    await axe('copy-EFI refused');
    await panel.getByRole('button', { name: 'Cancel' }).click();
  });

  test('multi-ISO: prepare keeps the files; two ISOs dropped on the key view reach a verified library; remove', async () => {
    const before = treeState(keyDir);
    await selectKey('Roomy');
    const panel = page.getByRole('region', { name: 'Multi-ISO key' });
    await panel.getByRole('button', { name: 'Prepare as a multi-ISO key (keeps your files)' }).click();
    await panel.getByText(/^Prepared: UEFI|went wrong|not found|missing/i).first().waitFor({ timeout: 120_000 });
    assert.match((await panel.textContent()) ?? '', /Prepared: UEFI and BIOS/);
    const sdb = disks.snapshot().drives.find((d) => d.disk.device === '/dev/sdb')!;
    assert.deepEqual(helperRequests, [{ verb: 'install-grub-bios', target: { device: '/dev/sdb', serial: sdb.serial, size: sdb.size }, mountPoint: keyDir }]);
    for (const [path, hash] of before) assert.equal(treeState(keyDir).get(path), hash, path);
    assert.ok(treeState(keyDir).get('EFI/BOOT/BOOTX64.EFI'), 'GRUB for UEFI beside the user files');
    progress.length = 0;
    // what the progress display showed, whenever it changed
    await page.evaluate(() => {
      const seen: string[] = [];
      (window as unknown as { progressSeen: string[] }).progressSeen = seen;
      new MutationObserver(() => {
        for (const element of Array.from(document.querySelectorAll('.job-progress'))) seen.push(element.textContent ?? '');
      }).observe(document.body, { subtree: true, childList: true, characterData: true });
    });
    await drop('article.key-view h2', ['debian-installer.iso', 'memtest86plus.iso']);
    await page.locator('.job-progress', { hasText: '%' }).waitFor({ timeout: 30_000 }).then(() => shot('multi-iso-progress'), () => undefined);
    const rows = panel.locator('table.iso-library tbody tr');
    await panel.getByText(/^Added debian-installer\.iso and memtest86plus\.iso/).waitFor({ timeout: 180_000 });
    const listed = await rows.allTextContents();
    assert.equal(listed.length, 2, listed.join('\n'));
    for (const row of listed) assert.match(row, /yes \(SHA-256 matches\)/);
    // independent check of each copy against the fixture it came from
    for (const [name, source] of [['debian-installer.iso', installerIso], ['memtest86plus.iso', memtestIso]] as const) {
      const hash = sha256(readFileSync(source));
      assert.equal(sha256(readFileSync(join(keyDir, 'isos', name))), hash, name);
      assert.equal(readFileSync(join(keyDir, 'isos', `${name}.sha256`), 'utf8'), `${hash}  ${name}\n`);
      const events = progress.filter((p) => p.file === name);
      assert.ok(events.length > 0, `progress for ${name}`);
      assert.equal(events.at(-1)!.bytesDone, readFileSync(source).length);
    }
    const seen = await page.evaluate(() => (window as unknown as { progressSeen: string[] }).progressSeen);
    // Each ISO's progress is shown; a rate only once a phase ran 0.5 s or finished, and a fast machine may copy a
    // whole ISO between two renders (React shows the last event), so the rate's display is checked once per job
    // and each ISO's rate on the events the dispatcher sent.
    for (const name of ['debian-installer.iso', 'memtest86plus.iso']) {
      assert.ok(seen.some((text) => text.includes(`copying ${name}`) && /\d+% · [\d.]+ [kMG]?B of [\d.]+ [kMG]?B on the key · /.test(text)),
        `progress shown for ${name}: ${seen.slice(-3).join(' | ')}`);
      const last = progress.filter((p) => p.file === name).at(-1)!;
      assert.ok(last.rate > 0 && last.etaSeconds === 0, `${name} ends with the rate it achieved: ${JSON.stringify(last)}`);
    }
    assert.ok(seen.some((text) => /(copying|verifying) \S+\.iso\d+% · [\d.]+ [kMG]?B of [\d.]+ [kMG]?B on the key · [\d.]+ [kMG]?B\/s · \d+ (s|min|h)\b.* left/.test(text)),
      `a rate and the time left shown: ${seen.slice(-3).join(' | ')}`);
    const after = treeState(keyDir);
    for (const [path, hash] of before) assert.equal(after.get(path), hash, path);
    await shot('multi-iso-library');
    await axe('multi-ISO library');

    // menu settings: a title, the default entry and the timeout reach grub.cfg, which GRUB's own checker accepts
    await panel.getByLabel('Title for debian-installer.iso').fill('My Debian installer');
    await panel.getByLabel('Starts by default').selectOption('debian-installer.iso');
    await panel.getByLabel(/^Seconds before it starts/).fill('3');
    await panel.getByRole('button', { name: 'Save menu' }).click();
    await panel.getByText('The boot menu was saved.').waitFor();
    const cfgPath = join(keyDir, 'boot', 'grub', 'grub.cfg');
    const cfg = readFileSync(cfgPath, 'utf8');
    const id = /menuentry 'My Debian installer' --id (\S+) \{/.exec(cfg)?.[1];
    assert.ok(id, cfg);
    assert.match(cfg, new RegExp(`^set default=${id}$`, 'm'));
    assert.match(cfg, /^set timeout=3$/m);
    execFileSync('grub-script-check', [cfgPath]);
    assert.equal(await panel.getByLabel('Title for debian-installer.iso').inputValue(), 'My Debian installer');

    // order: memtest's entry moved above the installer's, by keyboard; grub.cfg and the form follow
    const entryTitles = (text: string) => [...text.matchAll(/menuentry '([^']*)'/g)].map((m) => m[1]);
    assert.deepEqual(entryTitles(cfg).indexOf('My Debian installer'), 0, 'by name, the installer comes first');
    await panel.getByRole('button', { name: 'Move memtest86plus.iso up' }).focus();
    await page.keyboard.press('Enter');
    await panel.getByRole('button', { name: 'Save menu' }).click();
    await panel.getByText('The boot menu was saved.').waitFor();
    const reordered = readFileSync(cfgPath, 'utf8');
    assert.equal(entryTitles(reordered).indexOf('My Debian installer'), entryTitles(reordered).length - 1, reordered);
    const newId = /menuentry 'My Debian installer' --id (\S+) \{/.exec(reordered)?.[1];
    assert.match(reordered, new RegExp(`^set default=${newId}$`, 'm'), 'the default entry is still the installer');
    execFileSync('grub-script-check', [cfgPath]);
    assert.deepEqual(JSON.parse(readFileSync(join(keyDir, '.bootkey', 'multiboot.json'), 'utf8')).order,
      ['memtest86plus.iso', 'debian-installer.iso']);
    const labels = await panel.getByLabel(/^Title for /).evaluateAll((inputs) => inputs.map((i) => i.id));
    assert.equal(labels.length, 2);
    assert.equal(await panel.locator('.menu-entry input').first().inputValue(), entryTitles(reordered)[0]);

    await panel.getByRole('button', { name: 'Remove memtest86plus.iso' }).click();
    await panel.getByText('Removed memtest86plus.iso.').waitFor();
    assert.equal(await rows.count(), 1);
    assert.deepEqual(readdirSync(join(keyDir, 'isos')).filter((n) => n.startsWith('memtest')), []);
  });

  test('cancel: a large ISO being added is cancelled from the progress view (by keyboard); the key is as it was, the UI says Cancelled', async () => {
    await selectKey('Roomy');
    const panel = page.getByRole('region', { name: 'Multi-ISO key' });
    const before = treeState(keyDir);
    progress.length = 0;
    await drop('article.key-view h2', ['large-installer.iso']);
    const cancel = panel.locator('.job-progress').getByRole('button', { name: 'Cancel' });
    await panel.locator('.job-progress', { hasText: /\d+% · / }).waitFor({ timeout: 30_000 });
    await shot('multi-iso-cancel-progress');
    await axe('progress view with Cancel');
    await cancel.focus();
    await page.keyboard.press('Enter');
    const notice = panel.getByRole('status').filter({ hasText: 'Cancelled' });
    await notice.waitFor({ timeout: 60_000 });
    assert.ok(((await notice.textContent()) ?? '').includes(ERROR_TEXT.CANCELLED.next));
    const copied = progress.filter((p) => p.file === 'large-installer.iso').at(-1);
    assert.ok(copied && copied.bytesDone < copied.bytesTotal, `cancelled part-way (${copied?.bytesDone} of ${copied?.bytesTotal})`);
    assert.deepEqual(treeState(keyDir), before, 'the key is back to what it was');
    assert.equal(await panel.locator('.job-progress').count(), 0);
    await shot('multi-iso-cancelled');
  });

  test('a file dropped outside the key view (on the drive list) starts nothing', async () => {
    const before = treeState(keyDir);
    await drop('nav.drives', ['debian-installer.iso']);
    await page.getByRole('heading', { name: 'Bootkey Test Roomy' }).waitFor();
    assert.equal(await page.locator('.job-progress').count(), 0);
    assert.deepEqual(treeState(keyDir), before);
  });

  test('the new screens at 200% zoom: nothing scrolls sideways', async () => {
    await page.setViewportSize({ width: 550, height: 400 });
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    assert.ok(overflow <= 0, `${overflow}px sideways`);
    await shot('multi-iso-zoom200');
    await page.setViewportSize({ width: 1100, height: 800 });
  });

  test('multi-ISO on a full key: the ISO dropped is refused with the mapped message and nothing is written', async () => {
    await selectKey('Full');
    const panel = page.getByRole('region', { name: 'Multi-ISO key' });
    await panel.getByRole('button', { name: 'Prepare as a multi-ISO key (keeps your files)' }).click();
    await panel.getByText(/^Prepared: UEFI/).waitFor({ timeout: 120_000 });
    const before = treeState(tinyDir);
    await drop('article.key-view h2', ['debian-installer.iso']);
    const alert = panel.getByRole('alert');
    await alert.waitFor({ timeout: 30_000 });
    const text = (await alert.textContent()) ?? '';
    assert.ok(text.includes(ERROR_TEXT.NOT_ENOUGH_SPACE.title), text);
    assert.ok(text.includes(ERROR_TEXT.NOT_ENOUGH_SPACE.next), text);
    assert.deepEqual(treeState(tinyDir), before, 'nothing written');
    await shot('multi-iso-no-space');
    await axe('multi-ISO refused');
  });
});
