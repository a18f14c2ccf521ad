import assert from 'node:assert/strict';
import { readFile, rm, truncate, writeFile } from 'node:fs/promises';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { tierSuite } from '../harness/tier.js';
import { runInUml, type UmlResult } from '../harness/uml/index.js';

/**
 * The udisks client, the drives service and `bootkey drives` against a real udisksd in UML: two scsi_debug
 * keys and one ubd disk, one boot (test/integration/inside/drives-client.ts records, this file judges).
 */
type Step = { ok: boolean; ms: number; value?: any; error?: string }; // eslint-disable-line @typescript-eslint/no-explicit-any

tierSuite('uml', 'drives through udisks (UML)', () => {
  let dir: string;
  let uml: UmlResult;
  let steps: Record<string, Step>;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'bootkey-drives-'));
    const disk = join(dir, 'system.img');
    await writeFile(disk, '');
    await truncate(disk, 64 * 1024 * 1024);
    uml = await runInUml({
      command: ['node', '--import', 'tsx', 'test/integration/inside/drives-client.ts'],
      keys: [{ sizeMb: 64 }, { sizeMb: 64 }],
      disks: [{ file: disk }],
      timeoutMs: 1_000_000,
    });
    const recorded = await readFile(join(uml.outDir, 'drives-client.json'), 'utf8').catch(() => '{}');
    steps = JSON.parse(recorded);
    console.log(`UML boot ${uml.bootMs} ms; steps: ${Object.entries(steps).map(([k, v]) => `${k} ${v.ms} ms`).join(', ')}`);
  });

  after(async () => {
    if (uml) await rm(uml.outDir, { recursive: true, force: true });
    await rm(dir, { recursive: true, force: true });
  });

  function value(name: string) {
    const step = steps[name];
    assert.ok(step, `step ${name} did not run: ${uml.stderr.slice(-2000)} ${uml.setupError ?? ''}`);
    assert.ok(step.ok, `${name}: ${step.error}`);
    return step.value;
  }

  test('the run finished', () => {
    assert.equal(uml.exitCode, 0, `${uml.stderr.slice(-3000)}\n${uml.setupError ?? ''}`);
  });

  test('fd passing negotiated (usocket), so LoopSetup gets a real file descriptor', () => {
    assert.equal(value('start').fdPassing, true);
  });

  test('bootkey drives --json lists exactly the two keys', () => {
    const { drives } = value('cliJson');
    assert.deepEqual(drives.map((d: { device: string }) => d.device), ['/dev/sda', '/dev/sdb']);
    assert.ok(drives.every((d: { eligible: boolean; model: string }) => d.eligible && d.model === 'scsi_debug'));
  });

  test('bootkey drives --all adds the ubd disk, refused with its reasons in words', () => {
    const { drives } = value('cliAll');
    const ubd = drives.find((d: { device: string }) => d.device === '/dev/ubda');
    assert.equal(ubd?.eligible, false);
    assert.ok(ubd.reasons.some((r: string) => /internal disk/.test(r)), ubd.reasons);
    assert.ok(ubd.reasons.some((r: string) => /system disk/.test(r)), ubd.reasons);
    assert.match(value('cliText'), /\/dev\/ubda[^\n]*\n\s+refused: it is an internal disk/);
  });

  test('MBR table + bootable FAT partition: sfdisk and blkid agree; write, unmount, re-mount, read back', () => {
    const { part, trip, sfdisk, blkid } = value('mbrFat');
    assert.equal(sfdisk.partitiontable.label, 'dos');
    const [entry] = sfdisk.partitiontable.partitions;
    assert.equal(entry.node, part.device);
    assert.equal(entry.start * 512, part.partition.offset);
    assert.equal(entry.size * 512, part.size);
    assert.equal(entry.type, 'c');
    assert.equal(entry.bootable, true);
    assert.equal(part.partition.bootable, true);
    assert.match(blkid, /^TYPE=vfat$/m);
    assert.match(blkid, new RegExp(`^LABEL=${part.idLabel}$`, 'm'));
    assert.equal(part.idLabel, 'BOOTKEY');
    assert.equal(trip.same, true);
  });

  test('FAT32 on a 1 GiB image file that Bootkey attached as a target: eligible, round trip, detached after', () => {
    const v = value('fat32Image');
    assert.equal(v.eligible, true, v.reasons?.join('; '));
    assert.match(v.blkid, /^VERSION=FAT32$/m);
    assert.equal(v.part.idVersion, 'FAT32');
    assert.equal(v.part.idLabel, 'BIGKEY');
    assert.equal(v.trip.same, true);
    assert.equal(v.gone, true);
  });

  test('GPT with exFAT and ext4 partitions, label changed afterwards', () => {
    const v = value('gptExfatExt4');
    const seen = JSON.stringify({ partitions: v.partitions, sfdisk: v.sfdisk });
    assert.equal(v.table, 'gpt', seen);
    assert.equal(v.sfdisk.partitiontable.label, 'gpt', seen);
    const types = v.partitions.map((p: { idType: string; idLabel: string }) => `${p.idType}:${p.idLabel}`);
    assert.deepEqual(types, ['exfat:EXDATA', 'ext4:persistence']);
    assert.ok(v.blkid.some((b: string) => /TYPE=ext4/.test(b) && /LABEL=persistence/.test(b)));
    assert.ok(v.blkid.some((b: string) => /TYPE=exfat/.test(b) && /LABEL=EXDATA/.test(b)));
    assert.equal(v.partitions[1].partition.bootable, true, seen);
    // sfdisk names GPT attribute bit 2 LegacyBIOSBootable
    assert.match(v.sfdisk.partitiontable.partitions[1].attrs ?? '', /LegacyBIOSBootable/, seen);
  });

  test('loop-attach an image file read-only: its partitions as sfdisk sees them; detached afterwards', () => {
    const { drive, expected, gone, eligible, reasons } = value('loopImage');
    assert.equal(drive.kind, 'loop');
    assert.equal(eligible, false); // attached, but not by Bootkey as a target
    assert.match(reasons.join(), /Bootkey did not attach/);
    assert.equal(drive.disk.readOnly, true);
    assert.equal(drive.disk.partitionTable, 'gpt');
    const want = expected.partitiontable.partitions.map((p: { start: number; size: number }) => [p.start * 512, p.size * 512]);
    assert.deepEqual(drive.partitions.map((p: { partition: { offset: number; size: number } }) =>
      [p.partition.offset, p.partition.size]), want);
    assert.equal(gone, true);
  });

  test('hotplug: a new key and its removal each raise a change event within 2 s', () => {
    const { addedMs, removedMs, plugTimes } = value('hotplug');
    console.log(`hotplug (add_host write, then event): ${JSON.stringify(plugTimes)}`);
    assert.ok(addedMs < 2000, `added after ${addedMs} ms`);
    assert.ok(removedMs < 2000, `removed after ${removedMs} ms`);
  });

  test('a key swapped for another in the same place between confirmation and write: TARGET_CHANGED', () => {
    const { confirmed, replacement, swapped } = value('hotplug');
    assert.equal(replacement.device, confirmed.device);
    assert.notEqual(replacement.size, confirmed.size);
    assert.equal(swapped, 'TARGET_CHANGED');
  });

  test('unmount everything on a drive', () => {
    const { mountedBefore, mountedAfter, stillInMountinfo } = value('unmountAll');
    assert.equal(mountedBefore.length, 1);
    assert.deepEqual(mountedAfter, []);
    assert.deepEqual(stillInMountinfo, []);
  });

  test('match rules stay constant over 1,000 listener and 1,000 start/stop cycles (bus statistics)', () => {
    const { before: b, afterListeners, afterRestarts, afterProxy } = value('matchRules');
    assert.equal(afterListeners, b);
    assert.equal(afterRestarts, b);
    // the counter is real: dbus-next's own proxy .on() adds rules that are never removed
    assert.ok(afterProxy > afterRestarts, `proxy listeners left ${afterProxy} rules`);
  });

  test('a call udisks refuses comes back as one of our codes, not a hang', () => {
    const { canPowerOff, code } = value('powerOff');
    assert.equal(canPowerOff, false);
    assert.ok(typeof code === 'string' && code.length > 0);
  });
});
