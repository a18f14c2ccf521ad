// Runs inside UML as root (see persist-luks-home.test.ts). A FAT key (a loop-mounted vfat image, owned by
// `nobody` as udisks mounts a key for its user) gets the LiveOS fixture; `bootkey persist create --home SIZE
// --home-passphrase-file FILE` runs as `nobody` — no root, no device-mapper — after two refused attempts that
// must leave the key as it was. Then, as root, home.img is unlocked as Fedora's livesys does it (losetup, blkid
// TYPE crypto_LUKS, `cryptsetup luksOpen <loop> EncHome` reading the typed passphrase from stdin), checked
// with e2fsck -fn, mounted without a type, written, closed, opened again and read back. Writes a JSON report.
import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, chownSync, copyFileSync, mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { bootkey, run, tryRun } from './inside-commands.js';

const [squashfs] = process.argv.slice(2) as [string];
const out = process.env.BOOTKEY_OUT ?? '/tmp';
const report: Record<string, unknown> = {};
const NOBODY = 65534;

/** `bootkey ARGS --json` as nobody (the user the desktop app runs as). */
const bootkeyAsUser = (args: string[]) => bootkey(args, { uid: NOBODY });

/** A tool fed `input` on stdin (never a shell): exit code and output. */
function withInput(cmd: string, args: string[], input: string): { code: number; out: string } {
  const r = spawnSync(cmd, args, { input, encoding: 'utf8' });
  return { code: r.status ?? -1, out: `${r.stdout}${r.stderr}`.trim() };
}

/** Every file under a folder with its size and hash: "nothing changed" is this, equal before and after. */
function tree(dir: string): Record<string, string> {
  const found: Record<string, string> = {};
  const walk = (d: string) => {
    for (const name of readdirSync(d)) {
      const path = join(d, name);
      if (statSync(path).isDirectory()) walk(path);
      else found[path.slice(dir.length)] = createHash('sha256').update(readFileSync(path)).digest('hex');
    }
  };
  walk(dir);
  return found;
}

for (const module of ['loop', 'vfat', 'ext4', 'dm-mod', 'dm-crypt', 'xts', 'af_alg', 'algif_skcipher']) tryRun('modprobe', [module]);
const key = '/run/key';
const home = '/run/home';
const uuid = 'LUKS-0001';
const homeImg = `${key}/LiveOS/home.img`;
const passphrase = `bootkey ${randomBytes(9).toString('base64')}`;
let loop = '';

try {
  run('truncate', ['-s', '256M', '/run/key.img']);
  run('mkfs.vfat', ['-n', 'LIVEKEY', '/run/key.img']);
  mkdirSync(key, { recursive: true });
  mkdirSync(home, { recursive: true });
  run('mount', ['-t', 'vfat', '-o', `loop,uid=${NOBODY},gid=${NOBODY},umask=022`, '/run/key.img', key]);
  mkdirSync(`${key}/LiveOS`);
  copyFileSync(squashfs, `${key}/LiveOS/squashfs.img`);

  // The passphrase file as a user keeps it: theirs, readable only by them, with the line break an editor adds.
  writeFileSync('/run/pass', `${passphrase}\n`, { mode: 0o600 });
  chownSync('/run/pass', NOBODY, NOBODY);
  writeFileSync('/run/short', 'short\n', { mode: 0o600 });
  chownSync('/run/short', NOBODY, NOBODY);
  writeFileSync('/run/unreadable', `${passphrase}\n`);
  chmodSync('/run/unreadable', 0o600); // root's: nobody cannot read it

  const create = (file: string, extra: string[] = []) => bootkeyAsUser(['persist', 'create', key, '--size', '32M', '--home', '96M',
    '--home-passphrase-file', file, '--label', 'LIVE', '--uuid', uuid, ...extra]);
  const before = tree(key);
  report.refusedShort = create('/run/short');
  report.refusedUnreadable = create('/run/unreadable');
  report.refusedTooSmall = bootkeyAsUser(['persist', 'create', key, '--size', '32M', '--home', '40M', '--home-passphrase-file', '/run/pass', '--label', 'LIVE', '--uuid', uuid]);
  report.unchangedAfterRefusals = JSON.stringify(tree(key)) === JSON.stringify(before);

  const started = Date.now();
  report.create = create('/run/pass');
  report.createMs = Date.now() - started;
  // cryptsetup's temporary header went into a private folder that is gone now; the key holds only what was asked.
  report.leftoverTemp = readdirSync('/tmp').filter((n) => n.startsWith('bootkey-luks-') || n.startsWith('LUKS2-temp'));
  report.keyFiles = Object.keys(tree(key)).sort();
  report.status = bootkeyAsUser(['persist', 'status', key, 'home.img', '--label', 'LIVE', '--uuid', uuid]).json;
  report.list = bootkeyAsUser(['persist', 'list', key, '--label', 'LIVE', '--uuid', uuid]).json;
  report.fileBytes = statSync(homeImg).size;
  report.luksDump = JSON.parse(run('cryptsetup', ['luksDump', '--dump-json-metadata', homeImg]));
  report.luksUuid = run('cryptsetup', ['luksUUID', homeImg]);

  // As livesys-main does it at boot.
  loop = run('losetup', ['-f', '--show', homeImg]);
  report.blkidType = run('blkid', ['-s', 'TYPE', '-o', 'value', loop]);
  report.wrongOpen = withInput('cryptsetup', ['luksOpen', loop, 'EncHomeWrong'], `${passphrase}x`);
  report.wrongMapped = tryRun('dmsetup', ['info', 'EncHomeWrong']).code === 0;
  report.open = withInput('cryptsetup', ['luksOpen', loop, 'EncHome'], passphrase);
  report.mappedBytes = Number(run('blockdev', ['--getsize64', '/dev/mapper/EncHome']));
  report.fsck = tryRun('e2fsck', ['-fn', '/dev/mapper/EncHome']);
  report.dumpe2fs = run('dumpe2fs', ['-h', '/dev/mapper/EncHome']);
  run('mount', ['/dev/mapper/EncHome', home]);
  report.mountType = run('findmnt', ['-n', '-o', 'FSTYPE', home]);
  const data = randomBytes(3_000_000);
  mkdirSync(`${home}/liveuser`);
  writeFileSync(`${home}/liveuser/kept.bin`, data);
  report.writtenSha = createHash('sha256').update(data).digest('hex');
  run('umount', [home]);
  run('cryptsetup', ['close', 'EncHome']);

  // The next boot: opened again, checked again, the file is there.
  report.reopen = withInput('cryptsetup', ['luksOpen', loop, 'EncHome'], passphrase);
  report.fsckAfter = tryRun('e2fsck', ['-fn', '/dev/mapper/EncHome']);
  run('mount', ['-o', 'ro', '/dev/mapper/EncHome', home]);
  report.readSha = createHash('sha256').update(readFileSync(`${home}/liveuser/kept.bin`)).digest('hex');
  run('umount', [home]);
  run('cryptsetup', ['close', 'EncHome']);
  run('losetup', ['-d', loop]);
  loop = '';
  // The ciphertext on the key never shows the plaintext.
  report.plaintextOnKey = readFileSync(homeImg).includes(data.subarray(0, 4096));
} catch (error) {
  report.fatal = error instanceof Error ? `${error.message}\n${error.stack}` : String(error);
} finally {
  tryRun('umount', [home]);
  tryRun('cryptsetup', ['close', 'EncHome']);
  if (loop) tryRun('losetup', ['-d', loop]);
  tryRun('umount', [key]);
  writeFileSync(`${out}/persist-luks-home.json`, JSON.stringify(report, null, 2));
}
