// Runs inside UML as root (npm run bench:copy-efi-fat): a scsi_debug key with one FAT32 partition, mounted by
// udisks as a user's key is (vfat with `flush`), gets the same ~520 MiB tree from `cp -r` + `sync` and from
// `bootkey copy-efi ISO --to MOUNTPOINT --json` (the built command in its own process, as a user runs it), alternating, the key
// emptied in between (rm -rf and sync after cp, undo-efi after Bootkey). Prints one JSON line of seconds.
import { execFileSync, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';

const [iso, tree, roundsArg] = process.argv.slice(2) as [string, string, string];
const rounds = Number(roundsArg);
/** The command as installed: the bundle `npm run build` makes (what the bench script builds first). */
const CLI = 'dist/cli/bootkey.cjs';

function run(command: string, args: string[]): string {
  return execFileSync(command, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

function mountPoint(): string {
  const line = readFileSync('/proc/mounts', 'utf8').split('\n').find((l) => l.startsWith('/dev/sda1 '));
  if (!line) throw new Error('the key is not mounted');
  return (line.split(' ')[1] as string).replace(/\\040/g, ' ');
}

/** Both read their source from this guest's page cache, not through hostfs. */
function warm(): void {
  run('sh', ['-c', 'cat "$1" > /dev/null; find "$2" -type f -exec cat {} + > /dev/null', 'sh', iso, tree]);
}

function cpRound(key: string): number {
  warm();
  const started = performance.now();
  run('cp', ['-r', `${tree}/.`, key]);
  run('sync', []);
  const seconds = (performance.now() - started) / 1000;
  run('sh', ['-c', 'rm -rf "$1"/* && sync', 'sh', key]);
  return seconds;
}

/** The whole command's time, and when its progress said every byte was durable. */
async function bootkeyRound(key: string): Promise<{ whole: number; durable: number }> {
  warm();
  const started = performance.now();
  let durable = NaN;
  const child = spawn('node', [CLI, 'copy-efi', iso, '--to', key, '--json'],
    { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  let pending = '';
  child.stderr.setEncoding('utf8').on('data', (text: string) => { stderr += text; });
  child.stdout.setEncoding('utf8').on('data', (text: string) => {
    pending += text;
    for (let end = pending.indexOf('\n'); end >= 0; end = pending.indexOf('\n')) {
      const event = JSON.parse(pending.slice(0, end)) as { event?: string; phase?: string; bytesDone?: number; bytesTotal?: number };
      pending = pending.slice(end + 1);
      if (event.event === 'progress' && event.phase?.startsWith('copy') && event.bytesDone === event.bytesTotal) durable = performance.now();
    }
  });
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  const whole = (performance.now() - started) / 1000;
  if (code !== 0) throw new Error(`bootkey copy-efi exited ${code}: ${stderr.slice(-500)}`);
  run('node', [CLI, 'undo-efi', '--from', key]);
  run('sync', []);
  return { whole, durable: (durable - started) / 1000 };
}

async function main(): Promise<void> {
  run('sh', ['-c', 'printf "label: dos\\nstart=2048, type=c\\n" | sfdisk -q /dev/sda']);
  run('udevadm', ['settle', '--timeout=30']);
  run('mkfs.vfat', ['-F', '32', '-n', 'BENCH', '/dev/sda1']);
  run('udevadm', ['settle', '--timeout=30']);
  run('udisksctl', ['mount', '-b', '/dev/sda1']);
  const key = mountPoint();
  const options = readFileSync('/proc/mounts', 'utf8').split('\n').find((l) => l.startsWith('/dev/sda1 '))?.split(' ')[3] ?? '';
  const result = { mountOptions: options, cp: [] as number[], whole: [] as number[], durable: [] as number[] };
  for (let round = 0; round < rounds; round++) {
    for (const who of round % 2 === 0 ? ['bootkey', 'cp'] : ['cp', 'bootkey']) {
      if (who === 'cp') result.cp.push(cpRound(key));
      else {
        const { whole, durable } = await bootkeyRound(key);
        result.whole.push(whole);
        result.durable.push(durable);
      }
    }
  }
  run('udisksctl', ['unmount', '-b', '/dev/sda1']);
  console.log(JSON.stringify(result));
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
