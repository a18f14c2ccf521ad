// Runs inside UML as root (npm run bench:multiboot-fat): a scsi_debug key with one FAT32 partition, mounted by
// udisks as a user's key is (vfat with `flush`) and set up as a multi-ISO key (settings and folders, as init
// leaves them without its BIOS part), gets the ≥ 1 GiB bench ISO from `cp` + `sync` and from `bootkey
// multiboot add MOUNTPOINT ISO --json` (the built command in its own process), alternating, the key emptied in between; then the
// durable writer's verification read of a copy on the key against `dd iflag=direct bs=4M`. One JSON line of seconds.
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { defaultSettings, serializeSettings } from '../../../main/core/multiboot/multiboot-settings.js';
import { readBack } from '../read-back.js';

const [iso, roundsArg] = process.argv.slice(2) as [string, string];
const rounds = Number(roundsArg);
/** The command as installed: the bundle `npm run build` makes (what the bench script builds first). */
const cli = ['dist/cli/bootkey.cjs'];

function run(command: string, args: string[]): string {
  return execFileSync(command, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

function mountLine(): string[] {
  const line = readFileSync('/proc/mounts', 'utf8').split('\n').find((l) => l.startsWith('/dev/sda1 '));
  if (!line) throw new Error('the key is not mounted');
  return line.split(' ');
}

function timed(work: () => void): number {
  const started = performance.now();
  work();
  return (performance.now() - started) / 1000;
}

/** The whole command's time, and when its progress said every byte of the ISO was durable. */
async function addRound(key: string): Promise<{ whole: number; durable: number }> {
  const started = performance.now();
  let durable = NaN;
  const child = spawn('node', [...cli, 'multiboot', 'add', key, iso, '--json'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  let pending = '';
  child.stderr.setEncoding('utf8').on('data', (text: string) => { stderr += text; });
  child.stdout.setEncoding('utf8').on('data', (text: string) => {
    pending += text;
    for (let end = pending.indexOf('\n'); end >= 0; end = pending.indexOf('\n')) {
      const event = JSON.parse(pending.slice(0, end)) as { event?: string; phase?: string; bytesDone?: number; bytesTotal?: number };
      pending = pending.slice(end + 1);
      if (event.event === 'progress' && event.phase?.startsWith('copying') && event.bytesDone === event.bytesTotal) durable = performance.now();
    }
  });
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  const whole = (performance.now() - started) / 1000;
  if (code !== 0) throw new Error(`bootkey multiboot add exited ${code}: ${stderr.slice(-500)}`);
  run('node', [...cli, 'multiboot', 'remove', key, basename(iso)]);
  run('sync', []);
  return { whole, durable: (durable - started) / 1000 };
}

async function main(): Promise<void> {
  run('sh', ['-c', 'printf "label: dos\\nstart=2048, type=c\\n" | sfdisk -q /dev/sda']);
  run('udevadm', ['settle', '--timeout=30']);
  run('mkfs.vfat', ['-F', '32', '-n', 'BENCH', '/dev/sda1']);
  run('udevadm', ['settle', '--timeout=30']);
  run('udisksctl', ['mount', '-b', '/dev/sda1']);
  const [, mountPoint, , options] = mountLine() as [string, string, string, string];
  const key = mountPoint.replace(/\\040/g, ' ');
  mkdirSync(join(key, '.bootkey'), { recursive: true });
  mkdirSync(join(key, 'boot/grub'), { recursive: true });
  writeFileSync(join(key, '.bootkey/multiboot.json'), serializeSettings(defaultSettings()));
  run('sync', []);
  // Both read the ISO from this guest's page cache, not through hostfs.
  run('sh', ['-c', 'cat "$1" > /dev/null', 'sh', iso]);
  const result = { mountOptions: options, cp: [] as number[], whole: [] as number[], durable: [] as number[], reads: [] as number[], dd: [] as number[] };
  for (let round = 0; round < rounds; round++) {
    for (const who of round % 2 === 0 ? ['bootkey', 'cp'] : ['cp', 'bootkey']) {
      if (who === 'cp') {
        result.cp.push(timed(() => {
          run('cp', [iso, join(key, 'cp.iso')]);
          run('sync', []);
        }));
        run('sh', ['-c', 'rm "$1" && sync', 'sh', join(key, 'cp.iso')]);
      } else {
        const { whole, durable } = await addRound(key);
        result.whole.push(whole);
        result.durable.push(durable);
      }
    }
  }
  const copy = join(key, 'copy.iso');
  run('cp', [iso, copy]);
  run('sync', []);
  for (let round = 0; round < rounds; round++) {
    result.reads.push(await readBack(copy, iso));
    result.dd.push(timed(() => run('dd', [`if=${copy}`, 'of=/dev/null', 'bs=4M', 'iflag=direct', 'status=none'])));
  }
  run('udisksctl', ['unmount', '-b', '/dev/sda1']);
  console.log(JSON.stringify(result));
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
