// Runs inside UML (test/integration/drives.test.ts) with two scsi_debug keys (sda, sdb) and one ubd disk, as
// root, against the real udisksd. Every check records what it saw into $BOOTKEY_OUT/drives-client.json; the
// host-side test asserts on it. Independent tools (sfdisk, blkid) give the expected values.
import { randomBytes } from 'node:crypto';
import { readFile, writeFile, truncate, rm } from 'node:fs/promises';
import { join } from 'node:path';
import dbus from 'dbus-next';
import { UdisksClient, UDISKS_MATCH_RULE } from '../../../main/adapters/udisks/udisks-client.js';
import { identityOf } from '../../../main/core/drive-identity.js';
import type { DiskSnapshot, Drive } from '../../../main/ports/disk-provider.js';
import { DriveService } from '../../../main/services/drives.js';
import { run } from '../../fixtures/command.js';

const out = process.env.BOOTKEY_OUT!;
const results: Record<string, unknown> = {};
const bus = dbus.systemBus({ negotiateUnixFd: true });
const client = new UdisksClient({ bus, debounceMs: 100 });
const service = new DriveService(client);

async function step(name: string, work: () => Promise<unknown>): Promise<void> {
  const started = Date.now();
  try {
    results[name] = { ok: true, ms: Date.now() - started, value: await work() };
  } catch (error) {
    results[name] = { ok: false, ms: Date.now() - started, error: String((error as Error)?.stack ?? error) };
  }
  results[name] = { ...(results[name] as object), ms: Date.now() - started };
}

function driveOf(snapshot: DiskSnapshot, device: string): Drive {
  const drive = snapshot.drives.find((d) => d.disk.device === device);
  if (!drive) throw new Error(`${device} not in snapshot: ${snapshot.drives.map((d) => d.disk.device).join(', ')}`);
  return drive;
}

/** Resolves with the first snapshot (from change events) that satisfies `test`, or rejects after `ms`. */
function waitForChange(test: (s: DiskSnapshot) => boolean, ms: number): Promise<number> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      off();
      reject(new Error(`no matching change within ${ms} ms`));
    }, ms);
    const off = client.onChange((s) => {
      if (!test(s)) return;
      clearTimeout(timer);
      off();
      resolve(Date.now() - started);
    });
  });
}

/** Whether the drive is gone (now, or by a change event within `ms`): udisks removes objects asynchronously, and under load (a CI run) a detached loop took over 5 s. */
async function goneWithin(id: string, ms: number): Promise<boolean> {
  const gone = (s: DiskSnapshot) => !s.drives.some((d) => d.id === id);
  const later = waitForChange(gone, ms).then(() => true, () => false);
  return gone(await client.refresh()) || later;
}

/**
 * The snapshot once `ready` holds (udisks applies udev's probe results after its calls return), or the last one.
 * With `device`: if it is not ready halfway, udev probes that device again once. On a slow machine udev can probe
 * a new GPT disk while only its protective MBR is written ('PMBR'), and nothing else makes it look again.
 */
async function settledSnapshot(ready: (s: DiskSnapshot) => boolean, ms = 20_000, device?: string): Promise<DiskSnapshot> {
  const deadline = Date.now() + ms;
  let reprobeAt = device ? Date.now() + ms / 2 : Infinity;
  for (;;) {
    const now = await client.refresh();
    if (ready(now) || Date.now() > deadline) return now;
    if (Date.now() > reprobeAt) {
      reprobeAt = Infinity;
      await run('udevadm', ['trigger', '--action=change', device as string]);
      await run('udevadm', ['settle']);
    }
    await new Promise((done) => setTimeout(done, 200));
  }
}

async function matchRules(): Promise<number> {
  const reply = await bus.call(new dbus.Message({
    destination: 'org.freedesktop.DBus', path: '/org/freedesktop/DBus', interface: 'org.freedesktop.DBus.Debug.Stats',
    member: 'GetConnectionStats', signature: 's', body: [(bus as unknown as { name: string }).name],
  }));
  return Number((reply!.body[0] as Record<string, { value: number }>).MatchRules!.value);
}

/** Mount, write random bytes, unmount, mount again, read back: the bytes must survive. */
async function roundTrip(partition: string): Promise<{ mountPoint: string; same: boolean }> {
  const data = randomBytes(256 * 1024);
  const first = await client.mount(partition);
  await writeFile(join(first, 'bootkey-test.bin'), data, { flush: true });
  await client.unmount(partition);
  const mountPoint = await client.mount(partition);
  const back = await readFile(join(mountPoint, 'bootkey-test.bin'));
  await client.unmount(partition);
  return { mountPoint, same: back.equals(data) };
}

async function main(): Promise<void> {
  await run('modprobe', ['loop']);
  await step('start', async () => {
    await client.start();
    return { fdPassing: client.fdPassing(), rule: UDISKS_MATCH_RULE };
  });

  await step('matchRules', async () => {
    const before = await matchRules();
    for (let i = 0; i < 1000; i++) client.onChange(() => undefined)();
    const afterListeners = await matchRules();
    for (let i = 0; i < 1000; i++) {
      await client.stop();
      await client.start();
    }
    const afterRestarts = await matchRules();
    // The same counter must see dbus-next's own per-.on() rules grow, or it proves nothing.
    const proxy = await bus.getProxyObject('org.freedesktop.UDisks2', '/org/freedesktop/UDisks2');
    const manager = proxy.getInterface('org.freedesktop.DBus.ObjectManager');
    const noop = () => undefined;
    for (let i = 0; i < 3; i++) {
      manager.on('InterfacesAdded', noop);
      manager.off('InterfacesAdded', noop);
      proxy.getInterface('org.freedesktop.DBus.Properties').on('PropertiesChanged', noop);
    }
    const afterProxy = await matchRules();
    return { before, afterListeners, afterRestarts, afterProxy };
  });

  const cli = (args: string[]) => run('node', ['--import', 'tsx', 'main/cli/bootkey.ts', 'drives', ...args]);
  await step('cliJson', async () => JSON.parse(await cli(['--json'])));
  await step('cliAll', async () => JSON.parse(await cli(['--json', '--all'])));
  await step('cliText', async () => cli(['--all']));

  await step('mbrFat', async () => {
    const key = driveOf(await client.refresh(), '/dev/sda');
    const path = await service.prepareKey(identityOf(key), { table: 'dos', filesystem: 'vfat', label: 'BOOTKEY' });
    await run('udevadm', ['settle']);
    const snapshot = await client.refresh();
    const part = driveOf(snapshot, '/dev/sda').partitions.find((p) => p.objectPath === path)!;
    const trip = await roundTrip(path);
    return {
      part, trip,
      sfdisk: JSON.parse(await run('sfdisk', ['--json', '/dev/sda'])),
      blkid: (await run('blkid', ['-p', '-o', 'export', part.device])).trim(),
    };
  });

  // FAT32 needs ≥ 512 MiB: an image file (sparse, 1 GiB) that Bootkey attaches as its own target.
  const bigImage = '/tmp/bootkey-fat32.img';
  await step('fat32Image', async () => {
    await writeFile(bigImage, '');
    await truncate(bigImage, 1024 * 1024 * 1024);
    const loop = await service.attachImageTarget(bigImage);
    // udisks fills in the loop's size and read-only flag from udev's change event, after LoopSetup returns
    const drive = (await settledSnapshot((s) => {
      const d = s.drives.find((x) => x.id === loop);
      return d?.size === 1024 * 1024 * 1024 && d.disk.readOnly === false;
    })).drives.find((d) => d.id === loop)!;
    const verdict = (await service.list({ all: true })).find((l) => l.drive.id === loop);
    const path = await service.prepareKey(identityOf(drive), { table: 'dos', filesystem: 'vfat', label: 'BIGKEY' });
    const part = driveOf(await client.refresh(), drive.disk.device).partitions.find((p) => p.objectPath === path)!;
    const trip = await roundTrip(path);
    const blkid = (await run('blkid', ['-p', '-o', 'export', part.device])).trim();
    await service.detachImageTarget(loop);
    const gone = await goneWithin(loop, 15_000);
    return { eligible: verdict?.eligible, reasons: verdict?.reasons, part, trip, blkid, gone };
  });

  await step('gptExfatExt4', async () => {
    const key = driveOf(await client.refresh(), '/dev/sdb');
    await client.createPartitionTable(key.disk.objectPath, 'gpt');
    const half = Math.floor(key.size / 2 / 1048576) * 1048576;
    const a = await client.createPartition(key.disk.objectPath, { offset: 1048576, size: half - 1048576,
      type: 'ebd0a0a2-b9e5-4433-87c0-68b6b72699c7', name: 'data', format: { type: 'exfat', label: 'EXDATA' } });
    const b = await client.createPartition(key.disk.objectPath, { offset: half, size: 0,
      type: '0fc63daf-8483-4772-8e79-3d69d8477de4', bootable: true, format: { type: 'ext4', label: 'first' } });
    await client.setLabel(b, 'persistence');
    await run('udevadm', ['settle']); // udisks updates properties from udev events after the calls return
    const drive = driveOf(await settledSnapshot((s) => {
      const d = driveOf(s, '/dev/sdb');
      return d.disk.partitionTable === 'gpt' && d.partitions.filter((p) => p.idLabel === 'EXDATA' || p.idLabel === 'persistence').length === 2;
    }, 30_000, '/dev/sdb'), '/dev/sdb');
    return {
      partitions: drive.partitions.filter((p) => p.objectPath === a || p.objectPath === b),
      table: drive.disk.partitionTable,
      sfdisk: JSON.parse(await run('sfdisk', ['--json', '/dev/sdb'])),
      blkid: await Promise.all(drive.partitions.map((p) => run('blkid', ['-p', '-o', 'export', p.device]))),
    };
  });

  await step('loopImage', async () => {
    const image = '/tmp/bootkey-parts.img';
    await writeFile(image, '');
    await truncate(image, 32 * 1024 * 1024);
    await run('sfdisk', ['-q', image], { input: 'label: gpt\n,12M,U\n,+,L\n' });
    const loop = await client.attachImage(image, { readOnly: true });
    const drive = (await settledSnapshot((s) => {
      const d = s.drives.find((x) => x.id === loop);
      return d?.disk.readOnly === true && d.disk.partitionTable === 'gpt' && d.partitions.length === 2;
    })).drives.find((d) => d.id === loop)!;
    const verdict = (await service.list({ all: true })).find((l) => l.drive.id === loop);
    const expected = JSON.parse(await run('sfdisk', ['--json', image]));
    await client.detachImage(loop);
    const gone = await goneWithin(loop, 15_000);
    await rm(image);
    return { drive, expected, gone, eligible: verdict?.eligible, reasons: verdict?.reasons };
  });

  await step('unmountAll', async () => {
    const key = driveOf(await client.refresh(), '/dev/sdb');
    // UML's kernel has no exfat module: mount what it can
    for (const part of key.partitions.filter((p) => p.idType === 'ext4')) await client.mount(part.objectPath);
    const mountedBefore = driveOf(await client.refresh(), '/dev/sdb').partitions.flatMap((p) => p.mountPoints);
    await client.unmountAll(key.id);
    const mountedAfter = driveOf(await client.refresh(), '/dev/sdb').partitions.flatMap((p) => p.mountPoints);
    const mountinfo = await readFile('/proc/self/mountinfo', 'utf8');
    return { mountedBefore, mountedAfter, stillInMountinfo: mountedBefore.filter((m) => mountinfo.includes(` ${m} `)) };
  });

  await step('hotplug', async () => {
    const keys = (s: DiskSnapshot) => s.drives.filter((d) => d.kind === 'disk' && d.removable);
    const count = keys(client.snapshot()).length;
    // Times from the moment the kernel has the device (the add_host write returns after the SCSI scan) to
    // our change event; `writeMs` is the scan itself, which UML makes slow.
    const plugTimes: { writeMs: number; eventMs: number }[] = [];
    const plug = async (how: '1' | '-1', test: (s: DiskSnapshot) => boolean) => {
      const changed = waitForChange(test, 10_000);
      const started = Date.now();
      await writeFile('/sys/bus/pseudo/drivers/scsi_debug/add_host', how);
      const written = Date.now();
      await changed;
      plugTimes.push({ writeMs: written - started, eventMs: Date.now() - written });
      return Date.now() - written;
    };
    const addedMs = await plug('1', (s) => keys(s).length > count);
    const newcomer = keys(client.snapshot()).find((d) => !['/dev/sda', '/dev/sdb'].includes(d.disk.device))!;
    const confirmed = identityOf(newcomer);
    const removedMs = await plug('-1', (s) => keys(s).length === count);
    // Another key in the same place. scsi_debug reuses the host number, so name and serial repeat: make the
    // stand-in a different size (virtual_gb), as another key would be. The write must not happen.
    await writeFile('/sys/bus/pseudo/drivers/scsi_debug/virtual_gb', '1');
    await plug('1', (s) => keys(s).length > count);
    const replacement = keys(await client.refresh()).find((d) => !['/dev/sda', '/dev/sdb'].includes(d.disk.device))!;
    const swapped = await service.prepareKey(confirmed, { table: 'dos', filesystem: 'vfat', label: 'NO' })
      .then(() => 'WRITTEN', (error: { code?: string }) => error.code);
    await plug('-1', (s) => keys(s).length === count);
    await writeFile('/sys/bus/pseudo/drivers/scsi_debug/virtual_gb', '0');
    return { addedMs, removedMs, plugTimes, confirmed, replacement: identityOf(replacement), swapped };
  });

  await step('powerOff', async () => {
    // scsi_debug cannot power off (CanPowerOff false): the call must fail with a code, not hang.
    const key = driveOf(await client.refresh(), '/dev/sda');
    try {
      await client.powerOff(key.id);
      return { canPowerOff: key.canPowerOff, code: null };
    } catch (error) {
      return { canPowerOff: key.canPowerOff, code: (error as { code?: string }).code };
    }
  });

  await client.stop();
  bus.disconnect();
  await rm(bigImage, { force: true });
  await writeFile(join(out, 'drives-client.json'), JSON.stringify(results, null, 1));
}

main().catch(async (error) => {
  await writeFile(join(out, 'drives-client.json'), JSON.stringify({ ...results, fatal: String(error?.stack) }));
  process.exit(1);
});
