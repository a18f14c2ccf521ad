// Runs inside UML as root (see helper-dm-status.test.ts): the helper's read-only dm-status verb against real
// device-mapper devices (dracut's live-rw name, a bootkey- one, and one outside both families), the valid
// requests compared with `dmsetup status`, then hundreds of random bad requests. Writes a JSON report.
import { execFileSync, spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { HelperRunner } from '../../../main/adapters/helper/helper-runner.js';

const helper = process.env.BOOTKEY_HELPER as string;
const out = process.env.BOOTKEY_OUT ?? '/tmp';
const report: Record<string, unknown> = {};
const run = (cmd: string, args: string[]) => execFileSync(cmd, args, { encoding: 'utf8' }).trim();

let seed = Number(process.env.BOOTKEY_SEED ?? Date.now() % 2 ** 31);
report.seed = seed;
/** Park–Miller: a failing run can be repeated with BOOTKEY_SEED. */
function random(): number {
  seed = (seed * 48271) % 2147483647;
  return seed / 2147483647;
}
const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)] as T;
function randomText(length: number, alphabet: string): string {
  return Array.from({ length }, () => pick([...alphabet])).join('');
}

/** Bad NAME arguments: wrong family, bad characters, empty or too long, paths, options, and a live- name not present. */
function badName(): string {
  const printable = Array.from({ length: 94 }, (_, i) => String.fromCharCode(33 + i)).join('');
  switch (Math.floor(random() * 9)) {
    case 0: return pick(['other-dev', 'rw', 'LIVE-rw', 'Live-rw', 'livex-rw', 'bootkeyx', '', ' live-rw', 'live_rw']);
    case 1: return `live-${randomText(1 + Math.floor(random() * 10), 'ABCDEFGHIJ_./ $;&|`\'"\\*?')}`;
    case 2: return `bootkey-${randomText(1 + Math.floor(random() * 20), printable)}x/`;
    case 3: return pick(['live-', 'bootkey-']);
    case 4: return `live-${randomText(49 + Math.floor(random() * 200), 'abc123-')}`;
    case 5: return pick(['../live-rw', '/dev/mapper/live-rw', '--table', '-h', 'live-rw\n', 'live-rw ', 'live-rw\t', 'live-rw;ls']);
    case 6: return `live-${randomText(1 + Math.floor(random() * 40), 'abcdefghijklmnopqrstuvwxyz0123456789-')}`.replace(/^live-rw$/, 'live-rx');
    case 7: return randomText(1 + Math.floor(random() * 30), printable);
    default: return `live-rw${pick(['\u00e9', 'Ä', '\u202e', '%00', '*'])}`;
  }
}

async function main(): Promise<void> {
  run('modprobe', ['dm-mod']);
  for (const [name, sectors] of [['live-rw', 2048], ['bootkey-probe', 4096], ['other-dev', 1024]] as const) {
    run('dmsetup', ['create', '--noudevsync', name, '--table', `0 ${sectors} zero`]);
  }
  const direct = (args: string[]) => {
    const r = spawnSync(helper, args, { encoding: 'utf8' });
    const events = r.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);
    return { args, status: r.status, events };
  };
  report.valid = ['live-rw', 'bootkey-probe'].map((name) => ({ name, kernel: run('dmsetup', ['status', name]), helper: direct(['dm-status', name]) }));
  const runner = new HelperRunner({ helperPath: helper, direct: true });
  report.runner = await runner.run({ verb: 'dm-status', name: 'live-rw' });
  report.runnerBad = await runner.run({ verb: 'dm-status', name: 'other-dev' }).then(() => 'accepted', (e: { code?: string }) => e.code);

  const bad: unknown[] = [];
  while (bad.length < 300) {
    const args = random() < 0.1 ? pick([['dm-status'], ['dm-status', 'live-rw', 'extra'], ['dm-status', 'live-rw', '']]) : ['dm-status', badName()];
    if (args[1] !== undefined && args[1].includes('\0')) continue;
    bad.push(direct(args));
  }
  report.bad = bad;
  // Nothing changed: the three devices are still there with their tables.
  report.tablesAfter = run('dmsetup', ['table']).split('\n').map((l) => l.trim()).sort();
}

main().catch((error: unknown) => {
  report.fatal = error instanceof Error ? `${error.message}\n${error.stack}` : String(error);
}).finally(() => {
  for (const name of ['live-rw', 'bootkey-probe', 'other-dev']) spawnSync('dmsetup', ['remove', '--noudevsync', name]);
  writeFileSync(`${out}/helper-dm-status.json`, JSON.stringify(report, null, 2));
});
