import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { bytesToPath, mapSnapshot, type ManagedObjects } from '../../main/adapters/udisks/snapshot-mapping.js';

/**
 * GetManagedObjects dumps recorded from udisksd 2.9.4 in UML with `busctl --json=short call
 * org.freedesktop.UDisks2 /org/freedesktop/UDisks2 org.freedesktop.DBus.ObjectManager GetManagedObjects`
 * (recipe: test/integration/inside/drives-record-dumps.sh). Values are turned into what dbus-next delivers:
 * 64-bit integers as BigInt, byte arrays as Buffer.
 */
type Typed = { type: string; data: unknown };
const data = join(import.meta.dirname, 'data', 'udisks');

function asDbusNext(type: string, value: unknown): unknown {
  if (type === 't' || type === 'x') return BigInt(value as number);
  if (type === 'ay') return Buffer.from(value as number[]);
  if (type === 'aay') return (value as number[][]).map((v) => Buffer.from(v));
  return value;
}

function load(name: string): { raw: Record<string, Record<string, Record<string, Typed>>>; objects: ManagedObjects } {
  const raw = JSON.parse(readFileSync(join(data, name), 'utf8')).data[0];
  const objects: ManagedObjects = {};
  for (const [path, ifaces] of Object.entries(raw as Record<string, Record<string, Record<string, Typed>>>)) {
    objects[path] = {};
    for (const [iface, props] of Object.entries(ifaces)) {
      objects[path][iface] = Object.fromEntries(Object.entries(props).map(([k, v]) => [k, asDbusNext(v.type, v.data)]));
    }
  }
  return { raw, objects };
}

const BLOCK = 'org.freedesktop.UDisks2.Block';
const DRIVE = 'org.freedesktop.UDisks2.Drive';

describe('udisks snapshot mapping', () => {
  test('byte-array paths lose their trailing NUL', () => {
    assert.equal(bytesToPath(Buffer.from('/dev/sda\0')), '/dev/sda');
    assert.equal(bytesToPath([47, 100, 0, 0]), '/d');
    assert.equal(bytesToPath(undefined), '');
  });

  for (const name of ['two-keys-and-ubd.json', 'key-partitioned-mounted.json', 'loop-attached.json']) {
    test(`${name}: every drive with a block appears once with its whole disk, numbers not BigInt`, () => {
      const { raw, objects } = load(name);
      const snapshot = mapSnapshot(objects);
      const isPartition = (i: Record<string, unknown>) => 'org.freedesktop.UDisks2.Partition' in i;
      const drivesWithDisk = Object.keys(raw).filter((p) => raw[p]![DRIVE] &&
        Object.values(raw).some((i) => i[BLOCK]?.Drive?.data === p && !isPartition(i)));
      const usedLoops = Object.values(raw).filter((i) => i['org.freedesktop.UDisks2.Loop'] && !isPartition(i) &&
        (i['org.freedesktop.UDisks2.Loop'].BackingFile?.data as number[]).length > 1);
      assert.equal(snapshot.drives.length, drivesWithDisk.length + usedLoops.length);
      for (const drive of snapshot.drives) {
        const block = raw[drive.disk.objectPath]?.[BLOCK];
        assert.ok(block, drive.disk.objectPath);
        assert.equal(drive.disk.device, String.fromCharCode(...(block.Device!.data as number[]).slice(0, -1)));
        assert.equal(drive.disk.size, block.Size!.data);
        assert.equal(drive.disk.deviceNumber, block.DeviceNumber!.data);
        assert.equal(typeof drive.size, 'number');
        if (drive.kind === 'disk') assert.equal(drive.serial, raw[drive.id]?.[DRIVE]?.Serial?.data);
        // partitions are exactly the blocks whose Partition.Table is this disk, in number order
        const expected = Object.entries(raw)
          .filter(([, i]) => i['org.freedesktop.UDisks2.Partition']?.Table?.data === drive.disk.objectPath)
          .map(([p, i]) => [p, i['org.freedesktop.UDisks2.Partition']!.Number!.data as number] as const)
          .sort((a, b) => a[1] - b[1])
          .map(([p]) => p);
        assert.deepEqual(drive.partitions.map((p) => p.objectPath), expected);
      }
    });
  }

  test('two keys and a ubd disk: keys removable, the ubd disk a system disk', () => {
    const { drives } = mapSnapshot(load('two-keys-and-ubd.json').objects);
    const keys = drives.filter((d) => d.removable);
    assert.deepEqual(keys.map((d) => d.disk.device), ['/dev/sda', '/dev/sdb']);
    assert.ok(keys.every((k) => k.model === 'scsi_debug' && !k.disk.hintSystem && k.partitions.length === 0));
    const ubd = drives.find((d) => d.disk.device === '/dev/ubda');
    assert.equal(ubd?.removable, false);
    assert.equal(ubd?.disk.hintSystem, true);
  });

  test('partitioned and mounted key: table type, partition fields, filesystem and mount point', () => {
    const { raw, objects } = load('key-partitioned-mounted.json');
    const sda = mapSnapshot(objects).drives.find((d) => d.disk.device === '/dev/sda');
    assert.equal(sda?.disk.partitionTable, raw[sda!.disk.objectPath]?.['org.freedesktop.UDisks2.PartitionTable']?.Type?.data);
    const part = sda?.partitions[0];
    const rawPart = raw[part!.objectPath]!;
    assert.equal(part?.device, '/dev/sda1');
    assert.equal(part?.idType, rawPart[BLOCK]!.IdType!.data);
    assert.equal(part?.idLabel, rawPart[BLOCK]!.IdLabel!.data);
    assert.equal(part?.partition?.offset, rawPart['org.freedesktop.UDisks2.Partition']!.Offset!.data);
    assert.equal(part?.partition?.type, rawPart['org.freedesktop.UDisks2.Partition']!.Type!.data);
    const mounts = (rawPart['org.freedesktop.UDisks2.Filesystem']!.MountPoints!.data as number[][])
      .map((m) => String.fromCharCode(...m.slice(0, -1)));
    assert.ok(mounts.length > 0);
    assert.deepEqual(part?.mountPoints, mounts);
  });

  test('an attached image is a loop drive with its backing file and partitions', () => {
    const { raw, objects } = load('loop-attached.json');
    const loops = mapSnapshot(objects).drives.filter((d) => d.kind === 'loop');
    assert.equal(loops.length, 1);
    const rawLoop = raw[loops[0]!.id]!['org.freedesktop.UDisks2.Loop']!;
    assert.equal(loops[0]!.loop?.backingFile, String.fromCharCode(...(rawLoop.BackingFile!.data as number[]).slice(0, -1)));
    assert.equal(loops[0]!.partitions.length, 2);
  });

  test('mounts and swap of an unlocked volume count for the partition holding it', () => {
    const objects: ManagedObjects = {
      '/org/freedesktop/UDisks2/drives/d': { [DRIVE]: { Size: 10n, Removable: false } },
      '/org/freedesktop/UDisks2/block_devices/sda': { [BLOCK]: { Device: Buffer.from('/dev/sda\0'), Drive: '/org/freedesktop/UDisks2/drives/d', CryptoBackingDevice: '/' } },
      '/org/freedesktop/UDisks2/block_devices/sda2': {
        [BLOCK]: { Device: Buffer.from('/dev/sda2\0'), Drive: '/org/freedesktop/UDisks2/drives/d', CryptoBackingDevice: '/' },
        'org.freedesktop.UDisks2.Partition': { Number: 2, Table: '/org/freedesktop/UDisks2/block_devices/sda' },
      },
      '/org/freedesktop/UDisks2/block_devices/dm_2d0': {
        [BLOCK]: { Device: Buffer.from('/dev/dm-0\0'), Drive: '/', CryptoBackingDevice: '/org/freedesktop/UDisks2/block_devices/sda2' },
        'org.freedesktop.UDisks2.Filesystem': { MountPoints: [Buffer.from('/\0')] },
        'org.freedesktop.UDisks2.Swapspace': { Active: true },
      },
    };
    const [drive] = mapSnapshot(objects).drives;
    assert.deepEqual(drive?.partitions[0]?.mountPoints, ['/']);
    assert.equal(drive?.partitions[0]?.swapActive, true);
  });
});
