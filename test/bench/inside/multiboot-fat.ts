// Runs inside UML as root (npm run bench:multiboot-fat): a scsi_debug key with one FAT32 partition, mounted by
// udisks as a user's key is (vfat with `flush`) and set up as a multi-ISO key (settings and folders, as init
// leaves them without its BIOS part), gets the ≥ 1 GiB bench ISO from `cp` + `sync` and from `bootkey
// multiboot add MOUNTPOINT ISO --json` (the built command in its own process), alternating, the key emptied in between; then the
// durable writer's verification read of a copy on the key against `dd iflag=direct bs=4M`. One JSON line of seconds.
import { mkdirSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { defaultSettings, serializeSettings } from '../../../main/core/multiboot/multiboot-settings.js';
import { readBack } from '../read-back.js';
import { CLI, mountFatKey, readCommands, run, timed, timedCommand, writeCommands } from './fat-key.js';

const [iso, roundsArg] = process.argv.slice(2) as [string, string];
const rounds = Number(roundsArg);

/** The command's time, its time to durable and the key's write commands; then the ISO removed again. */
async function addRound(key: string): Promise<{ whole: number; durable: number; copyStart: number; writes: number }> {
  const before = writeCommands();
  const times = await timedCommand(['multiboot', 'add', key, iso], 'copying');
  const writes = writeCommands() - before;
  run('node', [CLI, 'multiboot', 'remove', key, basename(iso)]);
  run('sync', []);
  return { ...times, writes };
}

async function main(): Promise<void> {
  const { key, options, device } = mountFatKey();
  mkdirSync(join(key, '.bootkey'), { recursive: true });
  mkdirSync(join(key, 'boot/grub'), { recursive: true });
  writeFileSync(join(key, '.bootkey/multiboot.json'), serializeSettings(defaultSettings()));
  run('sync', []);
  // Both read the ISO from this guest's page cache, not through hostfs.
  run('sh', ['-c', 'cat "$1" > /dev/null', 'sh', iso]);
  const processStart = timed(() => run('node', [CLI, '--help']));
  const result = { mountOptions: options, device, processStart, cp: [] as number[], whole: [] as number[], durable: [] as number[], copyStart: [] as number[], reads: [] as number[], dd: [] as number[],
    cpWrites: [] as number[], writes: [] as number[], readCommands: [] as number[], ddCommands: [] as number[] };
  for (let round = 0; round < rounds; round++) {
    for (const who of round % 2 === 0 ? ['bootkey', 'cp'] : ['cp', 'bootkey']) {
      if (who === 'cp') {
        const before = writeCommands();
        result.cp.push(timed(() => {
          run('cp', [iso, join(key, 'cp.iso')]);
          run('sync', []);
        }));
        result.cpWrites.push(writeCommands() - before);
        run('sh', ['-c', 'rm "$1" && sync', 'sh', join(key, 'cp.iso')]);
      } else {
        const { whole, durable, copyStart, writes } = await addRound(key);
        result.whole.push(whole);
        result.durable.push(durable);
        result.copyStart.push(copyStart);
        result.writes.push(writes);
      }
    }
  }
  const copy = join(key, 'copy.iso');
  run('cp', [iso, copy]);
  run('sync', []);
  for (let round = 0; round < rounds; round++) {
    let before = readCommands();
    result.reads.push(await readBack(copy, iso));
    result.readCommands.push(readCommands() - before);
    before = readCommands();
    result.dd.push(timed(() => run('dd', [`if=${copy}`, 'of=/dev/null', 'bs=4M', 'iflag=direct', 'status=none'])));
    result.ddCommands.push(readCommands() - before);
  }
  run('udisksctl', ['unmount', '-b', '/dev/sda1']);
  console.log(JSON.stringify(result));
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
