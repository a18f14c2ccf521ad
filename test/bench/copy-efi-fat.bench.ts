// `npm run bench:copy-efi-fat`: bench:copy-efi's tree (~520 MiB, 330 files) onto a FAT32 key as users have it —
// a kernel's vfat mounted by udisks (with `flush`, which makes every close of a written file sleep 100 ms) on
// a block device (scsi_debug in UML) — by `cp -r` + `sync` and by the `bootkey copy-efi` command, alternating.
// Prints the ratios of the whole command and of its time to every byte durable against cp + sync. The key lives
// in the guest's memory, so the device is fast and UML's system calls are slow: a measure of the filesystem
// path, not of a USB stick's speed; `-- --usb-pace` paces the key like one (inside/fat-key.ts). A benchmark,
// not a test: it fails only when something does not work.
import { join } from 'node:path';
import { runInUml } from '../harness/uml/index.js';
import { benchSource } from './copy-efi-source.js';
import { fatBenchEnv } from './fat-bench-env.js';
import { report } from './report.js';

const ROUNDS = 3;

async function main(): Promise<void> {
  const source = await benchSource();
  const result = await runInUml({
    command: ['node', '--import', 'tsx', 'test/bench/inside/copy-efi-fat.ts', join(source, 'source.iso'), join(source, 'tree'), String(ROUNDS)],
    // FAT32 needs ≥ 512 MiB through mkfs.vfat's defaults; the sources stay in the guest's page cache beside the key.
    keys: [{ sizeMb: 700 }],
    memMb: 2600,
    timeoutMs: 1_800_000,
    // UV_THREADPOOL_SIZE=4 npm run bench:copy-efi-fat shows the command with libuv's default pool.
    env: fatBenchEnv(),
  });
  const line = result.stdout.trim().split('\n').at(-1) ?? '';
  if (result.exitCode !== 0 || !line.startsWith('{')) {
    throw new Error(`the bench inside UML failed (exit ${result.exitCode}):\n${result.stderr.slice(-2000)}\n${result.console.slice(-2000)}`);
  }
  const { mountOptions, device, cp, whole, durable } = JSON.parse(line) as { mountOptions: string; device: string; cp: number[]; whole: number[]; durable: number[] };
  console.log(`key: FAT32 on scsi_debug in UML (${device}), mounted by udisks (${mountOptions}); libuv pool: ${process.env.UV_THREADPOOL_SIZE ?? 'bootkey\'s'}`);
  report('bootkey copy-efi, whole command (process start, plan, copy, read back, renames, manifest) vs cp -r + sync', whole, cp, 1.05);
  report('  of which the copy: every byte durable vs cp -r + sync', durable, cp, 1.05);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
