// Runs inside UML (test/integration/helper.test.ts) with three scsi_debug keys and one ubd disk. sda is the
// confirmed target; sdb holds /home, sdc is active swap, ubda is the internal "system" disk. Hundreds of
// randomised bad requests go to the helper (directly and through the runner adapter) and to the drives service;
// every device is hashed before and after. Then the one valid request installs GRUB's BIOS boot code on sda.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { open, readFile, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import dbus from 'dbus-next';
import { HelperRunner } from '../../../main/adapters/helper/helper-runner.js';
import { UdisksClient } from '../../../main/adapters/udisks/udisks-client.js';
import { identityOf, type DriveIdentity } from '../../../main/core/drive-identity.js';
import { BootkeyError } from '../../../main/core/errors.js';
import type { ConfirmedDevice, HelperRequest } from '../../../main/ports/privileged-runner.js';
import { DriveService } from '../../../main/services/drives.js';
import { run } from '../../fixtures/command.js';

const out = process.env.BOOTKEY_OUT!;
const helper = process.env.BOOTKEY_HELPER!;
const seed = Number(process.env.BOOTKEY_SEED ?? Date.now() % 2 ** 31);
const results: Record<string, unknown> = { seed };

/** mulberry32: a small seeded generator so a failing run can be repeated with BOOTKEY_SEED. */
function random(): number {
  let t = (results.state as number | undefined) ?? seed;
  t = (t + 0x6d2b79f5) | 0;
  results.state = t;
  let r = Math.imul(t ^ (t >>> 15), 1 | t);
  r = (r + Math.imul(r ^ (r >>> 7), 61 | r)) ^ r;
  return ((r ^ (r >>> 14)) >>> 0) / 4294967296;
}
const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;

async function sha256(device: string): Promise<string> {
  const hash = createHash('sha256');
  const handle = await open(device, 'r');
  try {
    for await (const chunk of handle.createReadStream()) hash.update(chunk as Buffer);
  } finally {
    await handle.close().catch(() => undefined);
  }
  return hash.digest('hex');
}

async function readBytes(device: string, offset: number, length: number): Promise<Buffer> {
  const handle = await open(device, 'r');
  try {
    const buffer = Buffer.alloc(length);
    await handle.read(buffer, 0, length, offset);
    return buffer;
  } finally {
    await handle.close();
  }
}

async function main(): Promise<void> {
  const bus = dbus.systemBus({ negotiateUnixFd: true });
  const client = new UdisksClient({ bus });
  const service = new DriveService(client);
  await client.start();
  let snapshot = await client.refresh();
  const find = (device: string) => snapshot.drives.find((d) => d.disk.device === device)!;

  // The target: an MBR key with a FAT partition, mounted where udisks mounts it.
  const sda = find('/dev/sda');
  const part = await service.prepareKey(identityOf(sda), { table: 'dos', filesystem: 'vfat', label: 'KEY' });
  const mountPoint = await client.mount(part);
  // sdb holds /home, sdc is swap: keys the policy and the helper must refuse.
  const sdb = find('/dev/sdb').disk.objectPath;
  await client.createPartitionTable(sdb, 'dos');
  const sdbPart = await client.createPartition(sdb, { offset: 1048576, size: 0, type: '0x83',
    format: { type: 'ext4', label: 'home' } });
  await run('mount', ['/dev/sdb1', '/home']);
  await run('mkswap', ['/dev/sdc']);
  await run('swapon', ['/dev/sdc']);
  await run('udevadm', ['settle']);
  snapshot = await client.refresh();
  results.setup = { part, mountPoint, sdbPart, sdbMounts: find('/dev/sdb').partitions.map((p) => p.mountPoints),
    sdcSwap: find('/dev/sdc').disk.swapActive };

  const devices = ['/dev/sda', '/dev/sdb', '/dev/sdc', '/dev/ubda'];
  const confirmed = (device: string): ConfirmedDevice => {
    const id = identityOf(find(device));
    return { device: id.device, serial: id.serial, size: id.size };
  };
  const good = confirmed('/dev/sda');
  const before = Object.fromEntries(await Promise.all(devices.map(async (d) => [d, await sha256(d)] as const)));

  // Path tricks the helper must see through.
  await symlink('/dev/sda', '/tmp/sda-link');
  const sdaStat = spawnSync('stat', ['-c', '%t %T', '/dev/sda'], { encoding: 'utf8' }).stdout.trim().split(' ');
  await run('mknod', ['/dev/bootkeyfake', 'b', String(parseInt(sdaStat[0]!, 16)), String(parseInt(sdaStat[1]!, 16))]);

  const badDevices = ['/dev/sdb', '/dev/sdc', '/dev/ubda', '/dev/sda1', '/dev/sdb1', '/dev/../dev/sda', '/dev/sda/',
    '/tmp/sda-link', '/dev/bootkeyfake', '/dev/null', '/dev/zero', '/dev/loop0', '/dev/nonexistent', '', 'sda',
    '/dev/SDA', `/dev/${'a'.repeat(300)}`, '/dev/sda;reboot', '/dev/sda\nx', '-rf'];
  const serials = (device: ConfirmedDevice) => [device.serial, '', 'x', `${device.serial} `, '4000', '2000', '$(id)', 'ü'];
  const sizes = (device: ConfirmedDevice) => [String(device.size), String(device.size + 512), String(device.size - 512),
    '0', '-1', '1e9', 'abc', '99999999999999999999', ` ${device.size}`];
  const mountPoints = ['/', '/home', '/tmp', `${mountPoint}/..`, `${mountPoint}/`, '/media', 'relative', mountPoint,
    '/media/root', '/proc'];

  // 1. The helper, directly: 240 randomised requests, none valid.
  const helperRuns: { args: string[]; status: number | null; code?: string }[] = [];
  while (helperRuns.length < 240) {
    const kind = pick(['device', 'identity', 'mount', 'verb', 'protected'] as const);
    let device = good.device;
    let serial = good.serial;
    let size = String(good.size);
    let mount = mountPoint;
    let verb = pick(['check', 'install-grub-bios']);
    if (kind === 'device') device = pick(badDevices);
    if (kind === 'identity') {
      serial = pick(serials(good));
      size = pick(sizes(good));
    }
    if (kind === 'mount') mount = pick(mountPoints);
    if (kind === 'verb') verb = pick(['', 'install', 'check;', 'INSTALL-GRUB-BIOS', 'install-grub-bios ', '--help', 'exec']);
    if (kind === 'protected') {
      const other = confirmed(pick(['/dev/sdb', '/dev/sdc', '/dev/ubda']));
      ({ device, serial } = other);
      size = String(other.size);
      mount = pick(['/home', mountPoint]);
    }
    const args = verb === 'check' ? [verb, device, serial, size] : [verb, device, serial, size, mount];
    if (random() < 0.05) args.push('extra'); // wrong arity
    const valid = device === good.device && serial === good.serial && size === String(good.size) &&
      (verb === 'check' ? args.length === 4 : verb === 'install-grub-bios' && mount === mountPoint && args.length === 5);
    if (valid) continue;
    const result = spawnSync(helper, args, { encoding: 'utf8', env: {} });
    const error = result.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l)).find((e) => e.event === 'error');
    helperRuns.push({ args, status: result.status, code: error?.code });
  }
  results.helperRuns = helperRuns;

  // 2. The runner adapter (direct: already root), so its exit-code mapping is exercised too.
  const runner = new HelperRunner({ helperPath: helper, direct: true });
  const runnerRuns: { request: HelperRequest; code?: string }[] = [];
  for (let i = 0; i < 30; i++) {
    const target = pick([
      { ...good, serial: 'wrong' }, { ...good, size: good.size + 512 }, confirmed('/dev/sdb'), confirmed('/dev/sdc'),
      confirmed('/dev/ubda'), { ...good, device: '/dev/sda1' }, { ...good, device: '/dev/../sda' },
    ]);
    const request: HelperRequest = random() < 0.5 ? { verb: 'check', target }
      : { verb: 'install-grub-bios', target, mountPoint: pick(mountPoints) };
    try {
      await runner.run(request);
      runnerRuns.push({ request });
    } catch (error) {
      runnerRuns.push({ request, code: (error as BootkeyError).code });
    }
  }
  results.runnerRuns = runnerRuns;

  // 3. The drives service: prepareKey (which erases) with identities that are wrong or point at protected disks.
  const serviceRuns: { identity: DriveIdentity; code?: string }[] = [];
  const goodIdentity = identityOf(find('/dev/sda'));
  for (let i = 0; i < 120; i++) {
    const base = identityOf(find(pick(devices)));
    const identity: DriveIdentity = pick([
      { ...goodIdentity, serial: pick(['', 'x', '4000', `${goodIdentity.serial}0`]) },
      { ...goodIdentity, size: goodIdentity.size + pick([-512, 512, 1]) },
      { ...goodIdentity, deviceNumber: goodIdentity.deviceNumber + pick([1, 16, -1]) },
      { ...goodIdentity, device: pick(['/dev/sda1', '/dev/sdd', '/dev/../dev/sda', '']) },
      base.device === goodIdentity.device ? { ...goodIdentity, serial: 'swapped' } : base,
    ]);
    try {
      await service.prepareKey(identity, { table: pick(['dos', 'gpt'] as const), filesystem: pick(['vfat', 'ext4', 'exfat'] as const), label: 'X' });
      serviceRuns.push({ identity });
    } catch (error) {
      serviceRuns.push({ identity, code: (error as BootkeyError).code });
    }
  }
  results.serviceRuns = serviceRuns;

  const afterHashes = Object.fromEntries(await Promise.all(devices.map(async (d) => [d, await sha256(d)] as const)));
  results.hashes = { before, after: afterHashes };

  // 4. The one valid request: GRUB's BIOS boot code onto sda, through the runner.
  const mbrBefore = await readBytes('/dev/sda', 0, 512);
  const gapBefore = await readBytes('/dev/sda', 512, 1048576 - 512);
  const check = await runner.run({ verb: 'check', target: good });
  const started = Date.now();
  const install = await runner.run({ verb: 'install-grub-bios', target: good, mountPoint });
  const installMs = Date.now() - started;
  const mbrAfter = await readBytes('/dev/sda', 0, 512);
  const gapAfter = await readBytes('/dev/sda', 512, 1048576 - 512);
  results.install = {
    check, install, installMs,
    bootCodeChanged: !mbrBefore.subarray(0, 440).equals(mbrAfter.subarray(0, 440)),
    tableKept: mbrBefore.subarray(440, 512).equals(mbrAfter.subarray(440, 512)),
    mbrHasGrub: mbrAfter.subarray(0, 440).includes('GRUB'),
    gapWasEmpty: gapBefore.every((b) => b === 0),
    gapUsed: gapAfter.some((b) => b !== 0),
    coreImg: await readFile(join(mountPoint, 'boot/grub/i386-pc/core.img')).then((b) => b.length, () => 0),
    sfdisk: JSON.parse(await run('sfdisk', ['--json', '/dev/sda'])),
  };
  await client.stop();
  bus.disconnect();
}

main()
  .then(() => writeFile(join(out, 'drives-safety.json'), JSON.stringify(results)))
  .catch(async (error) => {
    await writeFile(join(out, 'drives-safety.json'), JSON.stringify({ ...results, fatal: String(error?.stack ?? error) }));
    process.exit(1);
  });
