/**
 * The UI in Debian's Chromium against the web test host, which speaks the same contract as the preload.
 * The drives come from the in-memory DiskProvider (a test fake: no kernel here gives a hot-pluggable USB key to a
 * browser test); the drives service, the policy, the dispatcher, the WebSocket host and the React UI are real.
 * The udisks adapter behind the same port is tested against udisksd in the UML tier.
 */
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { BrowserContext, Page } from 'playwright-core';
import { assessDrive } from '../../main/core/drive-policy.js';
import { ApiDispatcher } from '../../main/ipc/api-dispatcher.js';
import type { WebHost } from '../../main/web/web-host.js';
import { DriveService } from '../../main/services/drives.js';
import { ERROR_TEXT } from '../../renderer/error-text.js';
import { tierSuite } from '../harness/tier.js';
import { fakeDrive, MemoryDiskProvider, type FakeDriveSpec } from '../harness/memory-disk-provider.js';
import { axe as axeCheck, closeSession, openSession, shot as shoot, type BrowserSession } from './browser-session.js';

const GB = 1e9;
const MB = 1e6;

const key: FakeDriveSpec = {
  name: 'sdb',
  vendor: 'SanDisk',
  model: 'Cruzer Blade',
  serial: '4C530001',
  size: 16 * GB,
  table: 'dos',
  partitions: [
    { size: 8 * GB, fsType: 'vfat', label: 'DATA', mountPoint: '/media/user/DATA', used: 2.5 * GB },
    { size: 4 * GB, fsType: 'ext4', label: 'backup' },
  ],
};
const internal: FakeDriveSpec = {
  name: 'nvme0n1',
  vendor: '',
  model: 'Samsung SSD 980',
  serial: 'S64DNX0R',
  size: 500 * GB,
  bus: '',
  removable: false,
  hintSystem: true,
  table: 'gpt',
  partitions: [
    { size: 512 * MB, fsType: 'vfat', label: 'EFI', mountPoint: '/boot/efi', used: 30 * MB },
    { size: 499 * GB, fsType: 'ext4', mountPoint: '/', used: 120 * GB },
  ],
};
const second: FakeDriveSpec = { name: 'sdc', vendor: 'Kingston', model: 'DataTraveler 3.0', serial: 'K0002', size: 32 * GB };

function get(url: string, headers: Record<string, string> = {}): Promise<{ status: number; headers: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { headers }, (res) => {
      res.resume();
      resolve({ status: res.statusCode ?? 0, headers: res.headers });
    });
    req.on('upgrade', (res, socket) => {
      socket.destroy();
      resolve({ status: res.statusCode ?? 0, headers: res.headers });
    });
    req.on('error', reject);
    req.end();
  });
}

const upgradeHeaders = (origin: string) => ({
  Connection: 'Upgrade',
  Upgrade: 'websocket',
  'Sec-WebSocket-Version': '13',
  'Sec-WebSocket-Key': 'dGhlIHNhbXBsZSBub25jZQ==',
  Origin: origin,
});

tierSuite('browser', 'the UI in Chromium over the web host', () => {
  let disks: MemoryDiskProvider;
  let host: WebHost;
  let context: BrowserContext;
  let page: Page;
  let session: BrowserSession | undefined;
  let work: string;

  const shot = (name: string, fullPage = true) => shoot(page, name, fullPage);
  const axe = (screen: string) => axeCheck(page, screen);

  const driveButton = (name: string) => page.getByRole('button', { name: new RegExp(name) });

  before(async () => {
    disks = new MemoryDiskProvider([key, internal]);
    const dispatcher = new ApiDispatcher({ version: 'test', host: 'web', disks, drives: new DriveService(disks) });
    work = mkdtempSync(join(tmpdir(), 'bootkey-chromium-'));
    session = await openSession({ dispatcher, work, viewport: { width: 1100, height: 760 } });
    ({ host, context, page } = session);
  });

  after(() => closeSession(session, work));

  test('lists the drives; a refused drive is greyed with the policy’s reasons in words', async () => {
    await driveButton('SanDisk Cruzer Blade').waitFor();
    const refused = driveButton('Samsung SSD 980');
    assert.match((await refused.getAttribute('class')) ?? '', /refused/);
    const text = (await refused.textContent()) ?? '';
    const reasons = assessDrive(fakeDrive(internal)).reasons;
    assert.ok(reasons.length > 0);
    for (const reason of reasons) assert.ok(text.includes(reason), `${reason} in ${text}`);
    await shot('drive-list');
    await axe('drive list');
  });

  test('a key attached and detached during the test appears and disappears', async () => {
    disks.attach(second);
    await driveButton('Kingston DataTraveler').waitFor();
    await driveButton('Kingston DataTraveler').click();
    await page.getByRole('heading', { name: 'Kingston DataTraveler 3.0' }).waitFor();
    disks.detach('sdc');
    await driveButton('Kingston DataTraveler').waitFor({ state: 'detached' });
    await page.getByRole('status').getByText('Kingston DataTraveler 3.0 was removed.').waitFor();
    await shot('drive-removed');
  });

  test('the key view shows every partition with size, filesystem, label and usage', async () => {
    await driveButton('SanDisk Cruzer Blade').click();
    await page.getByRole('heading', { name: 'SanDisk Cruzer Blade' }).waitFor();
    const rows = await page.locator('table.partitions tbody tr').allTextContents();
    assert.equal(rows.length, 3); // two partitions and the unallocated end
    assert.match(rows[0]!, /^18\.0 GBvfatDATA2\.5 GB used \/ 5\.5 GB free$/);
    assert.match(rows[1]!, /^24\.0 GBext4backupnot mounted$/);
    assert.match(rows[2]!, /^Unallocated4\.0 GB/);
    // drawn to scale: each block's width is its share of the drive
    const bar = await page.locator('.partition-bar').boundingBox();
    const first = await page.locator('.segment.partition').first().boundingBox();
    assert.ok(bar && first);
    assert.ok(Math.abs(first.width / bar.width - 0.5) < 0.02, `${first.width} of ${bar.width}`);
    for (const feature of ['Make bootable from an ISO or image — keeps your files', 'Multi-ISO key']) {
      const item = page.locator('.action.unavailable', { hasText: feature });
      assert.match((await item.textContent()) ?? '', /Not available in this build\./);
    }
    await shot('key-view');
    await axe('key view');
  });

  test('a refused drive shows why and offers no destructive action', async () => {
    await driveButton('Samsung SSD 980').click();
    await page.getByText('Bootkey will not write to this drive:').waitFor();
    assert.equal(await page.getByRole('button', { name: /Erase/ }).count(), 0);
    await shot('refused-drive');
    await axe('refused drive');
  });

  test('the destructive dialog names the drive and its partitions; Cancel and Escape write nothing', async () => {
    await driveButton('SanDisk Cruzer Blade').click();
    await page.getByRole('button', { name: 'Erase…' }).click();
    const dialog = page.getByRole('dialog', { name: 'Erase SanDisk Cruzer Blade?' });
    await dialog.waitFor();
    const text = (await dialog.textContent()) ?? '';
    for (const fact of ['SanDisk', 'Cruzer Blade', '16 GB', (16 * GB).toLocaleString('en'), '/dev/sdb', 'Partition 1 “DATA”', 'Partition 2 “backup”']) {
      assert.ok(text.includes(fact), `${fact} in ${text}`);
    }
    // the safe choice has the focus
    assert.equal(await page.evaluate(() => document.activeElement?.textContent), 'Cancel');
    await shot('erase-dialog', false);
    await axe('erase dialog');
    await dialog.getByRole('button', { name: 'Cancel' }).click();
    await dialog.waitFor({ state: 'detached' });
    await page.getByRole('button', { name: 'Erase…' }).click();
    await dialog.waitFor();
    await page.keyboard.press('Escape');
    await dialog.waitFor({ state: 'detached' });
    assert.deepEqual(disks.writes, []);
  });

  test('an injected failure shows the mapped message and what to do', async () => {
    disks.failNext('DRIVE_BUSY', 'Device /dev/sdb1 is busy');
    await page.getByRole('button', { name: 'Erase…' }).click();
    await page.getByRole('dialog').getByRole('button', { name: /^Erase / }).click();
    const alert = page.getByRole('alert');
    await alert.waitFor();
    const text = (await alert.textContent()) ?? '';
    assert.ok(text.includes(ERROR_TEXT.DRIVE_BUSY.title), text);
    assert.ok(text.includes(ERROR_TEXT.DRIVE_BUSY.next), text);
    assert.ok(text.includes('Device /dev/sdb1 is busy'), text);
    assert.deepEqual(disks.writes, []);
    await shot('error-notice');
    await axe('error notice');
  });

  test('keyboard only: choose the key, erase it after confirming, see the result', async () => {
    await page.getByRole('button', { name: 'Dismiss' }).click();
    await driveButton('SanDisk Cruzer Blade').focus();
    await page.keyboard.press('Enter');
    await page.getByLabel('New label').focus();
    await page.keyboard.press('Control+A');
    await page.keyboard.type('tools');
    assert.equal(await page.getByLabel('New label').inputValue(), 'TOOLS');
    await page.keyboard.press('Enter');
    await page.getByRole('dialog').waitFor();
    await page.keyboard.press('Tab'); // Cancel → Erase
    await page.keyboard.press('Enter');
    await page.getByRole('status').getByText('now has one empty FAT32 partition').waitFor();
    const drive = disks.snapshot().drives.find((d) => d.disk.device === '/dev/sdb')!;
    assert.deepEqual(disks.writes, [
      `unmountAll ${drive.id}`,
      `createPartitionTable ${drive.disk.objectPath} dos`,
      `createPartition ${drive.disk.objectPath} 0x0c`,
    ]);
    const rows = await page.locator('table.partitions tbody tr').allTextContents();
    assert.match(rows[0]!, /^1.*vfatTOOLS/);
    await shot('erase-done');
  });

  test('readable at 200% zoom: nothing scrolls sideways', async () => {
    await page.setViewportSize({ width: 550, height: 380 }); // 1100×760 at 200%
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    assert.ok(overflow <= 0, `${overflow}px sideways`);
    await shot('key-view-zoom200');
    await page.setViewportSize({ width: 1100, height: 760 });
  });

  test('security: no Node, no API object on the page, CSP refuses injected scripts', async () => {
    const probe = await page.evaluate(async () => {
      const w = window as unknown as Record<string, unknown>;
      const violations: string[] = [];
      document.addEventListener('securitypolicyviolation', (e) => violations.push(e.violatedDirective));
      const injected = document.createElement('script');
      injected.textContent = 'window.__injected = true';
      document.head.append(injected);
      // a string timer is compiled by the page itself (code evaluated here through DevTools is exempt from CSP)
      (setTimeout as unknown as (code: string, ms: number) => void)('window.__evalRan = true', 0);
      await new Promise((resolve) => setTimeout(resolve, 100));
      return {
        violations,
        evalRan: w.__evalRan === true,
        require: typeof w.require,
        process: typeof w.process,
        bootkey: typeof w.bootkey,
        injected: w.__injected === true,
        globals: Object.keys(window),
      };
    });
    assert.deepEqual(
      { require: probe.require, process: probe.process, bootkey: probe.bootkey, injected: probe.injected, evalRan: probe.evalRan },
      { require: 'undefined', process: 'undefined', bootkey: 'undefined', injected: false, evalRan: false },
    );
    // once per policy (the header and index.html's meta tag), for the script element and for the string timer
    assert.deepEqual([...new Set(probe.violations)].sort(), ['script-src', 'script-src-elem']);
    // nothing of ours leaks onto window (compared with a script-free document of the same origin: the stylesheet)
    const blank = await context.newPage();
    await blank.goto(new URL('app.css', host.url).href);
    const blankGlobals = new Set(await blank.evaluate(() => Object.keys(window)));
    await blank.close();
    assert.deepEqual(probe.globals.filter((g) => !blankGlobals.has(g) && g !== 'axe'), []);
  });

  test('security: a WebSocket call with bad arguments gets a validation error; an unknown method closes the socket', async () => {
    const result = await page.evaluate(
      () =>
        new Promise<{ reply: unknown; closeCode: number }>((resolve) => {
          const url = new URL('ws', location.href);
          url.protocol = 'ws:';
          const socket = new WebSocket(url);
          let reply: unknown;
          socket.onopen = () => socket.send(JSON.stringify({ id: 7, method: 'getDrive', args: [42] }));
          socket.onmessage = (event) => {
            const message = JSON.parse(event.data as string) as { kind: string };
            if (message.kind !== 'reply') return;
            reply = message;
            socket.send(JSON.stringify({ id: 8, method: 'constructor', args: [] }));
          };
          socket.onclose = (event) => resolve({ reply, closeCode: event.code });
        }),
    );
    assert.deepEqual(result.reply, {
      kind: 'reply',
      id: 7,
      result: { ok: false, error: { code: 'INVALID_ARGUMENT', message: 'Invalid request: getDrive: a drive id must be a non-empty string.' } },
    });
    assert.equal(result.closeCode, 1008);
  });

  test('security: the host answers only with the token, the right Host and Origin, and sends its CSP', async () => {
    const base = new URL(host.url);
    const withToken = await get(new URL('index.html', host.url).href);
    assert.equal(withToken.status, 200);
    assert.match(String(withToken.headers['content-security-policy']), /default-src 'self'; script-src 'self'.*frame-ancestors 'none'/);
    assert.doesNotMatch(String(withToken.headers['content-security-policy']), /unsafe-(inline|eval)/);
    assert.equal((await get(`${base.origin}/index.html`)).status, 403);
    assert.equal((await get(`${base.origin}/${'x'.repeat(host.token.length)}/index.html`)).status, 403);
    assert.equal((await get(new URL('index.html', host.url).href, { Host: `localhost:${base.port}` })).status, 403);
    assert.equal((await get(new URL('../../../etc/passwd', host.url).href)).status, 403); // the URL drops the token
    assert.equal((await get(`${host.url}..%2f..%2fpackage.json`)).status, 404);
    assert.equal((await get(`${base.origin}/ws`, upgradeHeaders(base.origin))).status, 403);
    assert.equal((await get(new URL('ws', host.url).href, upgradeHeaders('http://evil.example'))).status, 403);
    assert.equal((await get(new URL('ws', host.url).href, upgradeHeaders(base.origin))).status, 101);
  });
});
