// Tier 3 smoke: GRUB keys built here boot from a USB-attached image under real firmware, and the QEMU harness
// keeps its promises (timeouts quote the transcript, failures leave an artifact, QEMU never outlives a test).
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { afterEach, before, after, test } from 'node:test';
import { promisify } from 'node:util';
import { tierSuite } from '../harness/tier.js';
import { makeGrubBiosKey, makeGrubEfiKey, type GrubKey } from '../harness/qemu/grub-keys.js';
import { ARTIFACTS, bootImage, ownQemuProcesses, withBoot, type QemuSession } from '../harness/qemu/index.js';

const run = promisify(execFile);
const BOOT_TIMEOUT_MS = 60_000;

/**
 * A config whose echo prints `<first>-<second>` only when GRUB really runs it: the config text holds the two
 * halves apart, so neither the file's bytes nor an echo of typed input can fake the match.
 */
function echoToken(): { first: string; second: string; expected: string; cfg: string } {
  const first = `BK${randomBytes(6).toString('hex')}`;
  const second = randomBytes(6).toString('hex');
  return { first, second, expected: `${first}-${second}`, cfg: `set first=${first}\necho "\${first}-${second}"\n` };
}

function seconds(sinceMs: number): string {
  return ((performance.now() - sinceMs) / 1000).toFixed(1);
}

/** Reads a file from the key's FAT partition with mtools, independently of GRUB and QEMU. */
async function readFromKey(key: GrubKey, path: string): Promise<string> {
  return (await run('mtype', ['-i', `${key.image}@@${key.partitionOffset}`, `::/${path}`])).stdout;
}

/** Whether a QEMU process still runs (a zombie has already died; a reused pid is not QEMU). */
function qemuRunning(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.includes('(qemu-system') && stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

tierSuite('qemu', 'QEMU boot harness with GRUB keys under real firmware', () => {
  let dir: string;
  const pids: number[] = [];
  const track = (session: QemuSession): QemuSession => {
    pids.push(session.pid);
    return session;
  };

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'bootkey-qemu-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));
  afterEach(() => {
    assert.deepEqual(ownQemuProcesses(), [], 'a QEMU of ours is still running');
    for (const pid of pids.splice(0)) assert.equal(existsSync(`/proc/${pid}`), false, `QEMU ${pid} is still there`);
  });

  test('UEFI: grub-mkstandalone as EFI/BOOT/BOOTX64.EFI on a GPT key boots under OVMF; typing works', async (t) => {
    const token = echoToken();
    const key = await makeGrubEfiKey(dir, token.cfg);
    const started = performance.now();
    await withBoot({ image: key.image, firmware: 'uefi', name: 'smoke-uefi' }, async (session) => {
      track(session);
      // OVMF names the device it boots: the loader must come from the USB stick.
      await session.waitFor(/BdsDxe: starting Boot\d+ "UEFI QEMU QEMU USB HARDDRIVE/, BOOT_TIMEOUT_MS);
      await session.waitFor(token.expected, BOOT_TIMEOUT_MS);
      t.diagnostic(`UEFI (OVMF): GRUB's echo after ${seconds(started)} s`);
      // OVMF's console also reads the serial line: typing at GRUB's prompt works.
      const typed = echoToken();
      await session.waitFor('grub>', BOOT_TIMEOUT_MS);
      session.send(`set first=${typed.first}\r`);
      session.send(`echo "\${first}-${typed.second}"\r`);
      await session.waitFor(typed.expected, BOOT_TIMEOUT_MS);
    });
  });

  test('BIOS: GRUB installed in the MBR and gap of a key boots under SeaBIOS, config read from FAT', async (t) => {
    const token = echoToken();
    // No `serial`/`terminal_output serial` here: SeaBIOS's serial console must carry GRUB's screen output.
    const key = await makeGrubBiosKey(dir, token.cfg);
    const started = performance.now();
    await withBoot({ image: key.image, firmware: 'bios', name: 'smoke-bios' }, async (session) => {
      track(session);
      await session.waitFor('Booting from Hard Disk', BOOT_TIMEOUT_MS);
      await session.waitFor(token.expected, BOOT_TIMEOUT_MS);
      t.diagnostic(`BIOS (SeaBIOS): GRUB's echo after ${seconds(started)} s`);
    });
  });

  test("send types at the GRUB prompt through SeaBIOS's serial console", async () => {
    const token = echoToken();
    // Keys typed on the serial line reach GRUB as keyboard input. (A GRUB `terminal_input serial console` would
    // lose keys here: GRUB's serial driver and SeaBIOS's serial console both read the same UART.)
    const key = await makeGrubBiosKey(dir, 'echo ready\n');
    await withBoot({ image: key.image, firmware: 'bios', name: 'smoke-send' }, async (session) => {
      track(session);
      await session.waitFor('grub>', BOOT_TIMEOUT_MS);
      session.send(`set first=${token.first}\r`);
      session.send(`echo "\${first}-${token.second}"\r`);
      await session.waitFor(token.expected, BOOT_TIMEOUT_MS);
    });
  });

  test('a waitFor timeout quotes the transcript, and withBoot saves it and kills QEMU', async () => {
    const token = echoToken();
    const key = await makeGrubBiosKey(dir, token.cfg);
    const name = `smoke-timeout-${token.first}`;
    await assert.rejects(
      withBoot({ image: key.image, firmware: 'bios', name }, async (session) => {
        track(session);
        await session.waitFor(token.expected, BOOT_TIMEOUT_MS);
        await session.waitFor(/never printed/, 1500);
      }),
      (error: Error) => {
        assert.match(error.message, /waitFor\(\/never printed\/\) timed out after 1500 ms/);
        assert.ok(error.message.includes(token.expected), 'the error quotes the transcript tail');
        return true;
      },
    );
    try {
      const log = readFileSync(join(ARTIFACTS, `${name}.log`), 'utf8');
      assert.match(log, /^qemu-system-x86_64 .*-no-reboot/);
      assert.ok(log.includes(token.expected));
      assert.ok(readFileSync(join(ARTIFACTS, `${name}.raw.log`), 'utf8').includes('\x1b['), 'raw keeps escapes');
      assert.ok(!log.includes('\x1b'), 'the plain log has no escape sequences');
    } finally {
      rmSync(join(ARTIFACTS, `${name}.log`), { force: true });
      rmSync(join(ARTIFACTS, `${name}.raw.log`), { force: true });
    }
  });

  test('waitFor fails as soon as QEMU exits, not at its timeout', async () => {
    const token = echoToken();
    // -no-reboot turns the guest's reboot into QEMU's exit. SeaBIOS sends screen output to the serial line on its
    // timer tick, so without the pause the last characters before the reboot are lost.
    const key = await makeGrubBiosKey(dir, `${token.cfg}sleep 1\nreboot\n`);
    const session = track(await bootImage({ image: key.image, firmware: 'bios' }));
    try {
      await session.waitFor(token.expected, BOOT_TIMEOUT_MS);
      const started = performance.now();
      await assert.rejects(session.waitFor(/never printed/, BOOT_TIMEOUT_MS), /QEMU exit code 0/);
      assert.ok(performance.now() - started < BOOT_TIMEOUT_MS / 2, 'rejected on exit, not on timeout');
      assert.throws(() => session.send('\r'), /has ended/);
    } finally {
      await session.close();
    }
  });

  test('snapshot (the default) keeps the guest from writing the image; snapshot: false lets it', async () => {
    const token = echoToken();
    const env = join(dir, 'grubenv');
    await run('grub-editenv', [env, 'create']);
    const key = await makeGrubBiosKey(dir, `set saved=${token.first}\nsave_env saved\n${token.cfg}`,
      { 'boot/grub/grubenv': env });
    const boot = (snapshot: boolean) =>
      withBoot({ image: key.image, firmware: 'bios', snapshot, name: `smoke-snapshot-${snapshot}` }, async (s) => {
        track(s);
        await s.waitFor(token.expected, BOOT_TIMEOUT_MS);
      });
    await boot(true);
    assert.ok(!(await readFromKey(key, 'boot/grub/grubenv')).includes(token.first), 'the image changed');
    await boot(false);
    assert.ok((await readFromKey(key, 'boot/grub/grubenv')).includes(`saved=${token.first}`), 'GRUB did not write');
  });

  test('QEMU dies with the process that started it, even one killed by SIGKILL', async () => {
    const key = await makeGrubBiosKey(dir, 'echo ready\n');
    const harness = fileURLToPath(new URL('../harness/qemu/index.ts', import.meta.url));
    const options = JSON.stringify({ image: key.image, firmware: 'bios' });
    const boot = `require(${JSON.stringify(harness)}).bootImage(${options})` +
      '.then((s) => { console.log(s.pid); setInterval(() => {}, 1000); });';
    const starter = spawn(process.execPath, ['--import', 'tsx', '-e', boot], {
      cwd: fileURLToPath(new URL('../..', import.meta.url)),
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    try {
      const [line] = (await once(starter.stdout, 'data')) as [Buffer];
      const pid = Number(String(line).trim());
      // The pid is setpriv's until it execs QEMU, which a loaded machine can delay past the spawn.
      for (let waited = 0; !qemuRunning(pid) && waited < 10_000; waited += 100) await sleep(100);
      assert.ok(qemuRunning(pid), `QEMU ${pid} should be running`);
      starter.kill('SIGKILL');
      await once(starter, 'close');
      for (let waited = 0; qemuRunning(pid) && waited < 5000; waited += 100) await sleep(100);
      assert.equal(qemuRunning(pid), false, `QEMU ${pid} outlived the process that started it`);
    } finally {
      starter.kill('SIGKILL');
    }
  });
});
