// `npm run bench:multiboot-fat`: bench:multiboot's ≥ 1 GiB ISO added to a FAT32 key as users have it — a kernel's
// vfat mounted by udisks (with `flush`) on a block device (scsi_debug in UML) — by `cp` + `sync` and by the
// `bootkey multiboot add` command, alternating; then the verification read of a copy on the key against
// `dd iflag=direct bs=4M`. The key lives in the guest's memory, so the device is fast and UML's system calls
// are slow: a measure of the filesystem path, not of a USB stick's speed; `-- --usb-pace` paces the key like one
// (inside/fat-key.ts). The command's time to durable is printed from its process start and, apart, from the
// copy's first byte: starting Node in UML takes seconds (its page faults and system calls each go through the host).
// A benchmark, not a test.
import { runInUml } from '../harness/uml/index.js';
import { benchIso } from './bench-iso.js';
import { fatBenchEnv } from './fat-bench-env.js';
import { report } from './report.js';

const ROUNDS = 3;

async function main(): Promise<void> {
  const iso = await benchIso();
  const result = await runInUml({
    command: ['node', '--import', 'tsx', 'test/bench/inside/multiboot-fat.ts', iso, String(ROUNDS)],
    // Room for the ISO twice (the add's copy and cp's, or the read's copy) on FAT32; the ISO stays in the guest's page cache.
    keys: [{ sizeMb: 2600 }],
    memMb: 4600,
    timeoutMs: 2_400_000,
    env: fatBenchEnv(),
  });
  const line = result.stdout.trim().split('\n').at(-1) ?? '';
  if (result.exitCode !== 0 || !line.startsWith('{')) {
    throw new Error(`the bench inside UML failed (exit ${result.exitCode}):\n${result.stderr.slice(-2000)}\n${result.console.slice(-2000)}`);
  }
  const r = JSON.parse(line) as { mountOptions: string; device: string; cp: number[]; whole: number[]; durable: number[]; copyStart: number[]; processStart: number; reads: number[]; dd: number[];
    cpWrites: number[]; writes: number[]; readCommands: number[]; ddCommands: number[] };
  console.log(`key: FAT32 on scsi_debug in UML (${r.device}), mounted by udisks (${r.mountOptions}); ISO ${iso}`);
  report('bootkey multiboot add, whole command (process start, inspect, copy, read back, .sha256, menu) vs cp + sync', r.whole, r.cp, 1.05);
  report('  every byte durable, from process start, vs cp + sync', r.durable, r.cp, 1.05);
  report('  the copy alone, from its first byte to every byte durable, vs cp + sync', r.durable.map((d, i) => d - (r.copyStart[i] as number)), r.cp, 1.05);
  console.log(`  before the copy (process start, the key found, the ISO inspected): ${r.copyStart.map((s) => s.toFixed(2)).join(' ')} s; `
    + `\`bootkey --help\` alone: ${r.processStart.toFixed(2)} s`);
  report('verification read vs dd iflag=direct bs=4M', r.reads, r.dd, 1.1);
  // Steadier than the seconds on this shared machine: what the device was asked to do.
  console.log(`write commands to the key: bootkey multiboot add ${r.writes.join(' ')}, cp + sync ${r.cpWrites.join(' ')}`);
  console.log(`read commands: the verification read ${r.readCommands.join(' ')}, dd ${r.ddCommands.join(' ')}`);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
