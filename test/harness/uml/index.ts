// Runs a command as root inside User-Mode Linux: a real 6.1 kernel booted with this machine's root filesystem
// read-only as its root (TESTING.md), with removable scsi_debug keys, optional ubd disks, and system D-Bus,
// udevd and udisksd running. init.sh is PID 1 inside; this side prepares its control folder, boots, watches
// the console, enforces the time limit and removes every process and temporary file of the run.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { xstatePreload } from './xstate-preload.js';

/** A scsi_debug removable disk (sda, sdb, …; removable=1). */
export interface UmlKey {
  sizeMb: number;
}

/** A ubd file-backed disk (ubda, ubdb, …; not removable). */
export interface UmlDisk {
  file: string;
}

export interface UmlRunOptions {
  /** argv run inside as root; cwd = project root; never through a shell string. */
  command: string[];
  /** scsi_debug disks attached before the command runs. scsi_debug gives every key the same size. */
  keys?: UmlKey[];
  /** ubd disks, at most 16. */
  disks?: UmlDisk[];
  /** default 1024; must leave room for the keys, which live in this memory. */
  memMb?: number;
  /** whole run, default 120000; on timeout UML is killed, result says so. */
  timeoutMs?: number;
  /** extra environment for the command. */
  env?: Record<string, string>;
  /** default true: dbus + udevd + udisksd started and ready before command. */
  udisks?: boolean;
  /** An existing host folder to use as the out folder; by default a new temporary one. Not removed either way. */
  outDir?: string;
}

export interface UmlResult {
  /** the command's exit code (or -1 on timeout/crash). */
  exitCode: number;
  timedOut: boolean;
  /** the command's own output, separate from the kernel console. */
  stdout: string;
  stderr: string;
  /** UML kernel/init console transcript. */
  console: string;
  /** host folder the command could write into (BOOTKEY_OUT inside); the caller removes it. */
  outDir: string;
  /** time from spawn to "udisks ready" (to "devices ready" with udisks: false); -1 when never ready. */
  bootMs: number;
  /** UML's instance id; its host processes carry `umid=<umid>` on their command line. */
  umid: string;
  /** Why init gave up before running the command, when it did. */
  setupError?: string;
}

const projectRoot = resolve(import.meta.dirname, '..', '..', '..');
const initScript = join(import.meta.dirname, 'init.sh');
const readyLine = /^bootkey-uml: (udisks|devices) ready\b/m;
const maxDisks = 16;
/** Room the guest needs besides the keys' RAM stores: kernel, udisksd, node. */
const reservedMb = 384;

/** Host paths go onto the kernel command line and into hostfs mount options: no blanks, commas or colons. */
function checkPath(what: string, path: string): void {
  if (!path.startsWith('/') || /[\s,:]/.test(path)) {
    throw new Error(`runInUml: ${what} must be an absolute path without blanks, commas or colons: ${path}`);
  }
}

function checkOptions(options: UmlRunOptions): { keyMb: number; memMb: number } {
  if (options.command.length === 0) throw new Error('runInUml: empty command');
  const sizes = new Set((options.keys ?? []).map((key) => key.sizeMb));
  if (sizes.size > 1) throw new Error(`runInUml: scsi_debug gives every key one size; got ${[...sizes].join(', ')} MB`);
  const keyMb = [...sizes][0] ?? 0;
  if (sizes.size && (!Number.isInteger(keyMb) || keyMb < 1)) throw new Error(`runInUml: bad key size ${keyMb}`);
  const memMb = options.memMb ?? 1024;
  const keysMb = keyMb * (options.keys?.length ?? 0);
  if (!Number.isInteger(memMb) || memMb < keysMb + reservedMb) {
    throw new Error(`runInUml: memMb ${memMb} too small for ${keysMb} MB of keys (needs ${keysMb + reservedMb})`);
  }
  if ((options.disks?.length ?? 0) > maxDisks) throw new Error(`runInUml: at most ${maxDisks} ubd disks`);
  for (const name of Object.keys(options.env ?? {})) {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) throw new Error(`runInUml: bad environment name ${name}`);
  }
  return { keyMb, memMb };
}

/** The host processes of UML instance `umid` (the main one and its clones share its command line). */
export async function umlProcessIds(umid: string): Promise<number[]> {
  const marker = `\0umid=${umid}\0`;
  const pids: number[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const cmdline = await readFile(`/proc/${entry}/cmdline`, 'latin1').catch(() => '');
    if (`\0${cmdline}`.includes(marker)) pids.push(Number(entry));
  }
  return pids;
}

/**
 * Process groups of the runs under way: they go with this process when it exits (uncaught error) or is stopped by
 * a signal (the test runner's SIGTERM, Ctrl-C). A SIGKILL leaves no handler to run: pdeathsig covers UML's main
 * process then (see the spawn).
 */
const liveGroups = new Map<number, string>();
process.on('exit', () => liveGroups.forEach((_, group) => killGroup(group)));
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.once(signal, () => {
    liveGroups.forEach((runDir, group) => {
      killGroup(group);
      rmSync(runDir, { recursive: true, force: true });
    });
    // Die of the same signal, as the default action would have.
    process.kill(process.pid, signal);
  });
}

function killGroup(group: number): void {
  try {
    process.kill(-group, 'SIGKILL');
  } catch {
    // already gone
  }
}

function kill(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error;
  }
}

/** Kills whatever is left of the instance and waits until none of its processes runs any more. */
async function reap(umid: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const left = await umlProcessIds(umid);
    if (left.length === 0) return;
    if (Date.now() > deadline) throw new Error(`UML ${umid}: processes ${left.join(', ')} survived SIGKILL`);
    left.forEach(kill);
    await sleep(50);
  }
}

async function readOptional(path: string): Promise<string | undefined> {
  return readFile(path, 'utf8').catch(() => undefined);
}

async function checkDisk(disk: UmlDisk): Promise<string> {
  const file = resolve(disk.file);
  checkPath('ubd disk file', file);
  if (!(await stat(file)).isFile()) throw new Error(`ubd disk is not a file: ${file}`);
  return file;
}

export async function runInUml(options: UmlRunOptions): Promise<UmlResult> {
  const { keyMb, memMb } = checkOptions(options);
  const disks = await Promise.all((options.disks ?? []).map(checkDisk));
  const preload = await xstatePreload();
  const runDir = await mkdtemp(join(tmpdir(), 'bootkey-uml-'));
  const outDir = options.outDir ? resolve(options.outDir) : await mkdtemp(join(tmpdir(), 'bootkey-uml-out-'));
  const umid = `bootkey-${randomBytes(6).toString('hex')}`;
  try {
    const ctl = join(runDir, 'ctl');
    const umlDir = join(runDir, 'uml');
    for (const [what, path] of [['project', projectRoot], ['out folder', outDir], ['run folder', runDir]] as const) {
      checkPath(what, path);
    }
    checkPath('init script', initScript);
    await mkdir(ctl);
    await mkdir(umlDir);
    const settings = { project: projectRoot, out: outDir, keys: options.keys?.length ?? 0, key_mb: keyMb,
      udisks: options.udisks === false ? 0 : 1 };
    await writeFile(join(ctl, 'settings'), Object.entries(settings).map(([k, v]) => `${k}=${v}\n`).join(''));
    await writeFile(join(ctl, 'argv'), options.command.map((arg) => `${arg}\0`).join(''));
    await writeFile(join(ctl, 'env'), Object.entries(options.env ?? {}).map(([k, v]) => `${k}=${v}\0`).join(''));

    const args = [
      `mem=${memMb}M`, 'root=/dev/root', 'rootfstype=hostfs', 'rootflags=/', 'ro', `init=${initScript}`,
      'con=null', 'con0=null,fd:1', 'ssl=null', `umid=${umid}`, `uml_dir=${umlDir}`,
      ...disks.map((file, index) => `ubd${index}=${file}`),
      `BOOTKEY_UML_CTL=${ctl}`,
    ];
    const preloads = [preload, process.env.LD_PRELOAD].filter(Boolean).join(' ');
    const started = Date.now();
    // Its own process group, so a timeout can take UML and every host process it cloned in one signal.
    const child = spawn('setpriv', ['--pdeathsig', 'KILL', '--', 'linux.uml', ...args], {
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, LD_PRELOAD: preloads },
    });
    let transcript = '';
    let bootMs = -1;
    const onConsole = (chunk: string) => {
      transcript += chunk.replaceAll('\r', '');
      if (bootMs < 0 && readyLine.test(transcript)) bootMs = Date.now() - started;
    };
    child.stdout.setEncoding('utf8').on('data', onConsole);
    child.stderr.setEncoding('utf8').on('data', onConsole);
    const group = child.pid;
    if (group !== undefined) liveGroups.set(group, runDir);
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      if (group !== undefined) killGroup(group);
    }, options.timeoutMs ?? 120_000);
    await new Promise<void>((done, fail) => {
      child.once('error', fail);
      child.once('close', () => done());
    }).finally(() => {
      clearTimeout(timer);
      if (group !== undefined) liveGroups.delete(group);
    });
    await reap(umid);

    const status = timedOut ? undefined : await readOptional(join(ctl, 'status'));
    return {
      exitCode: status === undefined ? -1 : Number.parseInt(status, 10),
      timedOut,
      stdout: (await readOptional(join(ctl, 'stdout'))) ?? '',
      stderr: (await readOptional(join(ctl, 'stderr'))) ?? '',
      console: transcript,
      outDir,
      bootMs,
      umid,
      ...(await readOptional(join(ctl, 'setup-error')).then((e) => (e ? { setupError: e.trim() } : {}))),
    };
  } catch (error) {
    await reap(umid);
    if (!options.outDir) await rm(outDir, { recursive: true, force: true });
    throw error;
  } finally {
    await rm(runDir, { recursive: true, force: true });
  }
}
