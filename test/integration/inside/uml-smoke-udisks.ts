// Runs inside UML (uml-smoke.test.ts): asks udisks about the key and the ubd disk over the system bus, makes
// an MBR table and a FAT32 partition on the key through udisks, mounts it through udisks, writes and reads a
// file, unmounts, then lets independent tools (blkid, sfdisk, mtools, fsck.fat) look at the result. Prints
// one JSON object on stdout for the host to check.
import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { run } from './inside-commands.js';

const udisks = 'org.freedesktop.UDisks2';
const blockPath = (device: string) => `/org/freedesktop/UDisks2/block_devices/${device}`;

/** gdbus gives up after D-Bus's default 25 s; formatting 600 MB in UML on a loaded host can take longer. */
function call(objectPath: string, method: string, ...args: string[]): string {
  return run('gdbus', ['call', '--system', '--timeout', '180', '--dest', udisks, '--object-path', objectPath, '--method', method, ...args]);
}

/** One property, from gdbus's GVariant text: `(<true>,)`, `(<'text'>,)`, `(<objectpath '/x'>,)`, `(<uint64 5>,)`. */
function property(objectPath: string, iface: string, name: string): string | boolean | number {
  const text = call(objectPath, 'org.freedesktop.DBus.Properties.Get', `${udisks}.${iface}`, name);
  const value = /^\(<(.*)>,\)$/s.exec(text)?.[1];
  if (value === undefined) throw new Error(`unexpected gdbus reply for ${name}: ${text}`);
  if (value === 'true' || value === 'false') return value === 'true';
  const quoted = /^(?:objectpath )?'(.*)'$/s.exec(value);
  if (quoted) return quoted[1]!;
  const number = /^(?:u?int\d+ )?(\d+)$/.exec(value);
  if (number) return Number(number[1]);
  throw new Error(`cannot read gdbus value ${value}`);
}

/** The filesystem type /proc/self/mounts gives for `device`. */
function fstypeOf(mounts: string, device: string): string | undefined {
  return mounts.split('\n').find((line) => line.startsWith(`${device} `))?.split(' ')[2];
}

function describeDrive(device: string) {
  const drive = String(property(blockPath(device), 'Block', 'Drive'));
  return {
    device,
    drive,
    hintSystem: property(blockPath(device), 'Block', 'HintSystem'),
    removable: property(drive, 'Drive', 'Removable'),
    mediaRemovable: property(drive, 'Drive', 'MediaRemovable'),
    vendor: property(drive, 'Drive', 'Vendor'),
    model: property(drive, 'Drive', 'Model'),
    size: property(drive, 'Drive', 'Size'),
  };
}

const devices = readdirSync('/sys/block').filter((name) => /^(sd|ubd)[a-z]$/.test(name));
const drives = devices.map(describeDrive);
const key = devices.find((name) => name.startsWith('sd'));
if (!key) throw new Error(`no key among ${devices.join(', ')}`);

call(blockPath(key), `${udisks}.Block.Format`, 'dos', '{}');
const created = call(blockPath(key), `${udisks}.PartitionTable.CreatePartitionAndFormat`,
  '0', '0', '0x0c', '', '{}', 'vfat', "{'label': <'BOOTKEY'>}");
const partition = /objectpath '([^']+)'/.exec(created)?.[1];
if (!partition) throw new Error(`no partition in ${created}`);
const partitionDevice = `/dev/${partition.split('/').pop()}`;
const formatted = {
  partition: partitionDevice,
  tableType: property(blockPath(key), 'PartitionTable', 'Type'),
  partitionType: property(partition, 'Partition', 'Type'),
  idType: property(partition, 'Block', 'IdType'),
  idVersion: property(partition, 'Block', 'IdVersion'),
  idLabel: property(partition, 'Block', 'IdLabel'),
};

const mounted = run('udisksctl', ['mount', '--no-user-interaction', '-b', partitionDevice]);
const mountPoint = /^Mounted \S+ at (.+?)\.?$/.exec(mounted)?.[1];
if (!mountPoint) throw new Error(`cannot read mount point from: ${mounted}`);
const mountsWhileMounted = readFileSync('/proc/self/mounts', 'utf8');
const content = `written inside UML at ${new Date().toISOString()}\n`;
writeFileSync(`${mountPoint}/hello.txt`, content);
const readBack = readFileSync(`${mountPoint}/hello.txt`, 'utf8');
run('udisksctl', ['unmount', '--no-user-interaction', '-b', partitionDevice]);
const mountsAfter = readFileSync('/proc/self/mounts', 'utf8');

process.stdout.write(JSON.stringify({
  drives,
  formatted,
  mount: {
    mountPoint,
    fstypeWhileMounted: fstypeOf(mountsWhileMounted, partitionDevice),
    mountedAfterUnmount: mountsAfter.includes(`${partitionDevice} `),
    content,
    readBack,
  },
  independent: {
    blkid: run('blkid', ['-p', '-o', 'export', partitionDevice]),
    sfdisk: JSON.parse(run('sfdisk', ['--json', `/dev/${key}`])),
    mtype: execFileSync('mtype', ['-i', partitionDevice, '::/hello.txt'], {
      encoding: 'utf8', env: { ...process.env, MTOOLS_SKIP_CHECK: '1' } }),
    fsck: run('fsck.fat', ['-n', partitionDevice]),
  },
}));
