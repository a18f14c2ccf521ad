// Runs inside UML as root (npm run bench:copy-efi-fat): a scsi_debug key with one FAT32 partition, mounted by
// udisks as a user's key is (vfat with `flush`), gets the same ~520 MiB tree from `cp -r` + `sync` and from
// `bootkey copy-efi ISO --to MOUNTPOINT --json` (the built command in its own process, as a user runs it), alternating, the key
// emptied in between (rm -rf and sync after cp, undo-efi after Bootkey). Prints one JSON line of seconds.
import { CLI, mountFatKey, run, timed, timedCommand } from './fat-key.js';

const [iso, tree, roundsArg] = process.argv.slice(2) as [string, string, string];
const rounds = Number(roundsArg);
/** Both read their source from this guest's page cache, not through hostfs. */
function warm(): void {
  run('sh', ['-c', 'cat "$1" > /dev/null; find "$2" -type f -exec cat {} + > /dev/null', 'sh', iso, tree]);
}

function cpRound(key: string): number {
  warm();
  const seconds = timed(() => {
    run('cp', ['-r', `${tree}/.`, key]);
    run('sync', []);
  });
  run('sh', ['-c', 'rm -rf "$1"/* && sync', 'sh', key]);
  return seconds;
}

/** The command's time and its time to durable; then the key emptied by undo-efi. */
async function bootkeyRound(key: string): Promise<{ whole: number; durable: number }> {
  warm();
  const times = await timedCommand(['copy-efi', iso, '--to', key], 'copy');
  run('node', [CLI, 'undo-efi', '--from', key]);
  run('sync', []);
  return times;
}

async function main(): Promise<void> {
  const { key, options, device } = mountFatKey();
  const result = { mountOptions: options, device, cp: [] as number[], whole: [] as number[], durable: [] as number[] };
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
