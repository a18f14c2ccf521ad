// The UML harness on a real kernel: udisks inside tells a removable key from a fixed disk, makes an MBR table
// and a FAT32 partition on the key, mounts it, and the data is really there; the harness passes argv, env,
// output and exit codes through intact, enforces time limits, and leaves no process or temporary file behind.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { access, mkdtemp, readdir, readFile, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { tierSuite } from '../harness/tier.js';
import { runInUml, umlProcessIds, type UmlResult } from '../harness/uml/index.js';

const MiB = 1024 * 1024;
/** udisks 2.9 formats vfat with plain mkfs.vfat, which picks FAT32 only from 512 MiB on. */
const keyMb = 600;

interface DriveReport {
  device: string;
  hintSystem: boolean;
  removable: boolean;
  mediaRemovable: boolean;
  vendor: string;
  model: string;
  size: number;
}

interface SmokeReport {
  drives: DriveReport[];
  formatted: { partition: string; tableType: string; partitionType: string; idType: string; idVersion: string;
    idLabel: string };
  mount: { mountPoint: string; fstypeWhileMounted: string; mountedAfterUnmount: boolean; content: string;
    readBack: string };
  independent: { blkid: string; mtype: string; fsck: string;
    sfdisk: { partitiontable: { label: string; partitions: { node: string; start: number; type: string }[] } } };
}

/** The run's temporary folder, from the path UML itself printed for its control socket. */
function runDirOf(result: UmlResult): string {
  const match = /mconsole \(version 2\) initialized on (\S+)\/uml\/[^/\s]+\/mconsole/.exec(result.console);
  assert.ok(match, `no mconsole line in the console:\n${result.console.slice(0, 3000)}`);
  return match[1]!;
}

async function assertCleanedUp(result: UmlResult): Promise<void> {
  assert.deepEqual(await umlProcessIds(result.umid), [], 'a linux.uml process of this run is still alive');
  await assert.rejects(access(runDirOf(result)), { code: 'ENOENT' }, 'the run folder was not removed');
}

/** The UML run whose main process is a child of `parent`: its umid and run folder, from its command line. */
async function umlRunOf(parent: number): Promise<{ umid: string; runDir: string } | undefined> {
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = await readFile(`/proc/${entry}/stat`, 'latin1').catch(() => '');
    if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) !== parent) continue;
    const argv = (await readFile(`/proc/${entry}/cmdline`, 'latin1').catch(() => '')).split('\0');
    const umid = argv.find((a) => a.startsWith('umid='))?.slice(5);
    const umlDir = argv.find((a) => a.startsWith('uml_dir='))?.slice(8);
    if (umid && umlDir) return { umid, runDir: umlDir.slice(0, umlDir.lastIndexOf('/')) };
  }
  return undefined;
}

function blkidField(blkid: string, name: string): string | undefined {
  return blkid.split('\n').find((line) => line.startsWith(`${name}=`))?.slice(name.length + 1);
}

tierSuite('uml', 'UML harness', () => {
  test('udisks: removable key, fixed ubd disk; MBR + FAT32 on the key, mount, write, read back, unmount', async (t) => {
    const work = await mkdtemp(join(tmpdir(), 'bootkey-uml-smoke-'));
    t.after(() => rm(work, { recursive: true, force: true }));
    const fixedDisk = join(work, 'fixed.img');
    await writeFile(fixedDisk, '');
    await truncate(fixedDisk, 64 * MiB); // sparse

    const started = Date.now();
    const result = await runInUml({
      command: ['node', '--import', 'tsx', 'test/integration/inside/uml-smoke-udisks.ts'],
      keys: [{ sizeMb: keyMb }],
      disks: [{ file: fixedDisk }],
      timeoutMs: 600_000,
    });
    t.after(() => rm(result.outDir, { recursive: true, force: true }));
    t.diagnostic(`UML boot to udisks ready: ${result.bootMs} ms; whole run: ${Date.now() - started} ms`);
    const context = `stderr:\n${result.stderr}\nconsole (end):\n${result.console.slice(-4000)}`;
    assert.equal(result.timedOut, false, context);
    assert.equal(result.exitCode, 0, context);
    assert.ok(result.bootMs > 0, `never saw "udisks ready"\n${context}`);
    const report = JSON.parse(result.stdout) as SmokeReport;

    const key = report.drives.find((drive) => drive.device === 'sda');
    const fixed = report.drives.find((drive) => drive.device === 'ubda');
    assert.ok(key && fixed, `drives seen: ${JSON.stringify(report.drives)}`);
    assert.deepEqual(
      { removable: key.removable, mediaRemovable: key.mediaRemovable, hintSystem: key.hintSystem, model: key.model,
        size: key.size },
      { removable: true, mediaRemovable: true, hintSystem: false, model: 'scsi_debug', size: keyMb * MiB },
    );
    assert.deepEqual(
      { removable: fixed.removable, hintSystem: fixed.hintSystem, size: fixed.size },
      { removable: false, hintSystem: true, size: 64 * MiB },
    );

    // What udisks says it made…
    assert.deepEqual(report.formatted, { partition: '/dev/sda1', tableType: 'dos', partitionType: '0x0c',
      idType: 'vfat', idVersion: 'FAT32', idLabel: 'BOOTKEY' });
    // …and what independent tools read from the disk afterwards.
    const { blkid, sfdisk, mtype, fsck } = report.independent;
    assert.equal(blkidField(blkid, 'TYPE'), 'vfat');
    assert.equal(blkidField(blkid, 'VERSION'), 'FAT32');
    assert.equal(blkidField(blkid, 'LABEL'), 'BOOTKEY');
    assert.equal(sfdisk.partitiontable.label, 'dos');
    assert.equal(sfdisk.partitiontable.partitions.length, 1);
    assert.equal(sfdisk.partitiontable.partitions[0]?.type, 'c');
    assert.match(fsck, /\/dev\/sda1: \d+ files/);

    const { mount } = report;
    assert.match(mount.mountPoint, /^\/media\//);
    assert.equal(mount.fstypeWhileMounted, 'vfat');
    assert.equal(mount.readBack, mount.content);
    assert.equal(mount.mountedAfterUnmount, false);
    assert.equal(mtype, mount.content, 'mtools read something else from the unmounted partition');

    await assertCleanedUp(result);
  });

  test('argv, environment, exit code, stdout, stderr and the out folder pass through intact', async (t) => {
    const script = 'printf "%s|" "$@"; echo "to stderr" >&2; printf "%s" "$ODD" > "$BOOTKEY_OUT/odd.txt"; exit 7';
    const odd = `spaces, 'quotes', "double", $(not run) and \\ backslash`;
    const result = await runInUml({
      command: ['bash', '-c', script, 'bash', 'a b', "c'd", '$(echo injected)', ''],
      env: { ODD: odd },
      udisks: false,
      timeoutMs: 120_000,
    });
    t.after(() => rm(result.outDir, { recursive: true, force: true }));
    t.diagnostic(`UML boot without udisks: ${result.bootMs} ms`);
    assert.equal(result.exitCode, 7, result.console.slice(-3000));
    assert.equal(result.stdout, `a b|c'd|$(echo injected)||`);
    assert.equal(result.stderr, 'to stderr\n');
    assert.equal(await readFile(join(result.outDir, 'odd.txt'), 'utf8'), odd);
    assert.doesNotMatch(result.console, /to stderr/, 'the command output leaked into the console');
    await assertCleanedUp(result);
  });

  test('two keys are two removable drives with stores of their own', async (t) => {
    // Direct I/O, so each read comes from the key's store and not from the page cache.
    const script = `set -e
      for dev in sda sdb; do
        printf '%-512s' "written to $dev" | dd of=/dev/$dev bs=512 count=1 oflag=direct status=none
      done
      for dev in sda sdb; do
        data=$(dd if=/dev/$dev bs=512 count=1 iflag=direct status=none | tr -d ' ')
        echo "$dev $(cat /sys/block/$dev/removable) $data"
      done
      udisksctl status`;
    const result = await runInUml({ command: ['bash', '-c', script], keys: [{ sizeMb: 32 }, { sizeMb: 32 }] });
    t.after(() => rm(result.outDir, { recursive: true, force: true }));
    t.diagnostic(`UML boot to udisks ready with two keys: ${result.bootMs} ms`);
    assert.equal(result.exitCode, 0, `${result.stderr}\n${result.console.slice(-3000)}`);
    const lines = result.stdout.split('\n');
    assert.deepEqual(lines.slice(0, 2), ['sda 1 writtentosda', 'sdb 1 writtentosdb']);
    for (const dev of ['sda', 'sdb']) {
      assert.ok(lines.some((line) => line.includes('scsi_debug') && line.trim().endsWith(dev)), result.stdout);
    }
    await assertCleanedUp(result);
  });

  test('a test process stopped by SIGTERM (the runner giving up) takes its UML and run folder with it', async () => {
    const harness = new URL('../harness/uml/index.ts', import.meta.url).pathname;
    const child = spawn(process.execPath, ['--import', 'tsx', '-e',
      `require(${JSON.stringify(harness)}).runInUml({ command: ['sleep', '600'], udisks: false, timeoutMs: 300_000 });`],
    { stdio: 'ignore' });
    const exited = new Promise<NodeJS.Signals | null>((done) => child.once('exit', (_code, signal) => done(signal)));
    // UML's main process is the child's own child (setpriv execs it); its command line names the run.
    let found: { umid: string; runDir: string } | undefined;
    for (let waited = 0; !found && waited < 60_000; waited += 250) {
      await sleep(250);
      found = await umlRunOf(child.pid!);
    }
    assert.ok(found, 'the child never started UML');
    await sleep(2000);
    child.kill('SIGTERM');
    assert.equal(await exited, 'SIGTERM', 'the child did not die of the signal');
    for (let waited = 0; (await umlProcessIds(found.umid)).length > 0 && waited < 10_000; waited += 250) await sleep(250);
    assert.deepEqual(await umlProcessIds(found.umid), [], 'a linux.uml process of the stopped run is still alive');
    await assert.rejects(access(found.runDir), { code: 'ENOENT' }, 'the run folder was not removed');
  });

  test('a run over its time limit is killed, reported, and leaves no process or temporary file', async (t) => {
    const result = await runInUml({ command: ['sleep', '600'], keys: [{ sizeMb: 16 }], udisks: false,
      timeoutMs: 20_000 });
    t.after(() => rm(result.outDir, { recursive: true, force: true }));
    assert.equal(result.timedOut, true);
    assert.equal(result.exitCode, -1);
    // The command was running, with its host processes, when the limit struck.
    assert.match(result.console, /^bootkey-uml: devices ready/m);
    assert.doesNotMatch(result.console, /bootkey-uml: command exited/);
    await assertCleanedUp(result);
  });
});
