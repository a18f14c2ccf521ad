// Shared by the FAT benches inside UML: the key made and mounted as a user's is, and the built command timed.
import { execFileSync, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';

/** The command as installed: the bundle `npm run build` makes (what the bench scripts build first). */
export const CLI = 'dist/cli/bootkey.cjs';

export function run(command: string, args: string[]): string {
  return execFileSync(command, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

/**
 * With BENCH_USB_PACE set, the key takes one command at a time (usb-storage's queue depth), of at most 120 KiB
 * (its usual max_sectors), each answered after 1.5 ms: ~80 MB/s, and a small write (a FAT sector) costs a whole
 * command, as on a stick. Otherwise scsi_debug answers at once, many commands in flight.
 */
const USB_PACE = 'echo 1 > /sys/block/sda/device/queue_depth && echo 120 > /sys/block/sda/queue/max_sectors_kb '
  + '&& echo 1500000 > /sys/bus/pseudo/drivers/scsi_debug/ndelay';

/** /dev/sda gets one FAT32 partition, mounted by udisks (vfat with `flush`): its mount point, options and pace. */
export function mountFatKey(): { key: string; options: string; device: string } {
  const paced = Boolean(process.env.BENCH_USB_PACE);
  if (paced) run('sh', ['-c', USB_PACE]);
  run('sh', ['-c', 'printf "label: dos\\nstart=2048, type=c\\n" | sfdisk -q /dev/sda']);
  run('udevadm', ['settle', '--timeout=30']);
  run('mkfs.vfat', ['-F', '32', '-n', 'BENCH', '/dev/sda1']);
  run('udevadm', ['settle', '--timeout=30']);
  run('udisksctl', ['mount', '-b', '/dev/sda1']);
  const line = readFileSync('/proc/mounts', 'utf8').split('\n').find((l) => l.startsWith('/dev/sda1 '));
  if (!line) throw new Error('the key is not mounted');
  const [, mountPoint, , options] = line.split(' ') as [string, string, string, string];
  const device = paced ? 'paced like a USB stick: one command at a time, ≤ 120 KiB, 1.5 ms each' : 'unpaced, in memory';
  return { key: mountPoint.replace(/\\040/g, ' '), options, device };
}

/** Write commands the key has completed so far (/sys/block/sda/stat): small FAT or directory writes show as extra commands. */
export function writeCommands(): number {
  return diskStat(4);
}

/** Read commands the key has completed so far: a read's last command may be short. */
export function readCommands(): number {
  return diskStat(0);
}

/** Seconds a synchronous piece of work takes. */
export function timed(work: () => void): number {
  const started = performance.now();
  work();
  return (performance.now() - started) / 1000;
}

function diskStat(field: number): number {
  return Number(readFileSync('/sys/block/sda/stat', 'utf8').trim().split(/\s+/)[field]);
}

/**
 * `bootkey ARGS --json` in its own process: the whole command's seconds, the seconds until its progress in a
 * phase starting with `phase` reported every byte (durable), and until that phase's first report (`copyStart`:
 * process start, finding the key, inspecting the source).
 */
export async function timedCommand(args: string[], phase: string): Promise<{ whole: number; durable: number; copyStart: number }> {
  const started = performance.now();
  let durable = NaN;
  let copyStart = NaN;
  const child = spawn('node', [CLI, ...args, '--json'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  let pending = '';
  child.stderr.setEncoding('utf8').on('data', (text: string) => { stderr += text; });
  child.stdout.setEncoding('utf8').on('data', (text: string) => {
    pending += text;
    for (let end = pending.indexOf('\n'); end >= 0; end = pending.indexOf('\n')) {
      const event = JSON.parse(pending.slice(0, end)) as { event?: string; phase?: string; bytesDone?: number; bytesTotal?: number };
      pending = pending.slice(end + 1);
      if (event.event === 'progress' && event.phase?.startsWith(phase) && Number.isNaN(copyStart)) copyStart = performance.now();
      if (event.event === 'progress' && event.phase?.startsWith(phase) && event.bytesDone === event.bytesTotal) durable = performance.now();
    }
  });
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  if (code !== 0) throw new Error(`bootkey ${args[0]} exited ${code}: ${stderr.slice(-500)}`);
  const seconds = (at: number) => (at - started) / 1000;
  return { whole: seconds(performance.now()), durable: seconds(durable), copyStart: seconds(copyStart) };
}
