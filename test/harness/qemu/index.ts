// Boots a raw disk image as a USB stick under real firmware (OVMF for UEFI, SeaBIOS for BIOS) in QEMU with
// software emulation, and lets a test read and type on the serial console. See TESTING.md, tier 3.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { accessSync, constants, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SerialText } from './serial-text.js';

export type Firmware = 'uefi' | 'bios';

export interface QemuBootOptions {
  /** Raw disk image, attached as a removable USB stick on an xHCI controller. */
  image: string;
  /** uefi = OVMF on a q35 machine; bios = SeaBIOS on the default pc machine. */
  firmware: Firmware;
  /** Guest memory; default 512 (a Debian installer kernel + initrd wants 1024). */
  memMb?: number;
  /** Default true: the guest's writes go to a throw-away overlay, never to the image. */
  snapshot?: boolean;
  /** Names the transcript artifact; default `<firmware>-<time>`. */
  name?: string;
  /**
   * Pause between typed keys; default 50 ms under BIOS, 10 ms under UEFI. SeaBIOS's serial console moves received
   * bytes into the 15-key BIOS keyboard buffer on each timer tick and drops what does not fit, so keys typed
   * faster than the guest reads them (a busy guest, a loaded host) are lost. OVMF buffers 256 keys.
   */
  typingDelayMs?: number;
  /** More QEMU arguments, appended last (a second disk, a different CPU …). */
  extraArgs?: string[];
}

export interface QemuSession {
  /**
   * Waits for the pattern in the serial text (control sequences removed, see serial-text.ts) after the end of the
   * previous match, so `waitFor('menu'); send('\r'); waitFor('menu')` waits for the menu to come back. Resolves
   * with the matched text; rejects quoting the transcript tail on timeout or when QEMU exits first.
   */
  waitFor(pattern: string | RegExp, timeoutMs: number): Promise<string>;
  /**
   * Types into the serial console ("\r" for Enter, "\x1b[B" for arrow down), one key per typingDelayMs; returns at
   * once, and later calls queue behind earlier ones. Throws once QEMU is gone.
   */
  send(text: string): void;
  /** Everything the serial port printed so far, raw (with control sequences). */
  transcript(): string;
  /** The serial output with control sequences and carriage returns removed: what waitFor matches against. */
  text(): string;
  /** Always kills QEMU and waits until it is reaped; idempotent. */
  close(): Promise<void>;
  /** QEMU's process id, for tests that check nothing is left behind. */
  readonly pid: number;
}

const OVMF = '/usr/share/ovmf/OVMF.fd';
/** Where withBoot saves transcripts of failed tests (test-artifacts/ is gitignored). */
export const ARTIFACTS = fileURLToPath(new URL('../../../test-artifacts/qemu/', import.meta.url));
const TAIL_CHARS = 2000;
/** One key: an escape sequence (arrow, function key) goes in one piece so the guest does not see a lone ESC. */
const KEYS = /\x1b(?:\[[0-9;]*[@-~]|O.)|[\s\S]/gu;

/** How each session was started and how it ended, for the artifact header. */
const artifactDetails = new WeakMap<QemuSession, () => string>();

/** QEMUs still running, killed when this process exits however the tests end. */
const running = new Set<ChildProcessWithoutNullStreams>();
process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

/** Commas separate QEMU sub-options; a comma inside a value is written twice. */
function optionValue(value: string): string {
  return value.replace(/,/g, ',,');
}

function qemuArgs(options: QemuBootOptions): string[] {
  const firmware = options.firmware === 'uefi' ? ['-machine', 'q35', '-bios', OVMF] : ['-machine', 'pc'];
  const snapshot = (options.snapshot ?? true) ? 'on' : 'off';
  return [
    '-accel', 'tcg',
    ...firmware,
    '-m', String(options.memMb ?? 512),
    // -nographic, unlike -display none, also makes SeaBIOS copy the VGA text screen to the serial port, so BIOS
    // boot loaders that print only to the screen (GRUB without a serial terminal, isolinux) show in the transcript.
    '-nographic',
    '-serial', 'stdio',
    '-monitor', 'none',
    '-parallel', 'none',
    // Without a network card OVMF skips a minute of PXE attempts.
    '-net', 'none',
    '-no-reboot',
    '-drive', `file=${optionValue(options.image)},format=raw,if=none,id=stick,snapshot=${snapshot}`,
    '-device', 'qemu-xhci,id=xhci',
    '-device', 'usb-storage,bus=xhci.0,drive=stick,removable=on',
    ...(options.extraArgs ?? []),
  ];
}

function describePattern(pattern: string | RegExp): string {
  return typeof pattern === 'string' ? JSON.stringify(pattern) : String(pattern);
}

function tail(text: string): string {
  return text.length > TAIL_CHARS ? `…${text.slice(-TAIL_CHARS)}` : text;
}

interface Waiter {
  find(text: string): { index: number; match: string } | undefined;
  resolve(match: string): void;
  reject(error: Error): void;
}

export async function bootImage(options: QemuBootOptions): Promise<QemuSession> {
  accessSync(options.image, constants.R_OK);
  const args = qemuArgs(options);
  // The kernel kills QEMU with SIGKILL if this process dies without running its exit handlers (SIGKILL, crash).
  const child = spawn('setpriv', ['--pdeathsig', 'KILL', '--', 'qemu-system-x86_64', ...args], {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  await new Promise<void>((resolve, reject) => {
    child.once('spawn', resolve);
    child.once('error', reject);
  });
  running.add(child);

  let raw = '';
  let stderr = '';
  let cursor = 0;
  let exitStatus: string | undefined;
  const serial = new SerialText();
  const waiters = new Set<Waiter>();
  const exited = new Promise<void>((resolve) => child.once('close', () => resolve()));

  const check = (): void => {
    for (const waiter of waiters) {
      const found = waiter.find(serial.text().slice(cursor));
      if (!found) continue;
      cursor += found.index + found.match.length;
      waiters.delete(waiter);
      waiter.resolve(found.match);
    }
  };

  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (chunk: string) => {
    raw += chunk;
    serial.push(chunk);
    check();
  });
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (chunk: string) => {
    stderr += chunk;
  });
  // Writing to a QEMU that just died raises EPIPE on stdin; the exit itself is what the session reports.
  child.stdin.on('error', () => undefined);
  child.once('close', (code, signal) => {
    running.delete(child);
    exitStatus = signal ? `killed by ${signal}` : `exit code ${code}`;
    const error = new Error(`QEMU ${exitStatus}${stderr ? `; stderr: ${stderr.trim()}` : ''}`);
    for (const waiter of waiters) waiter.reject(error);
    waiters.clear();
  });

  const failure = (what: string): Error =>
    new Error(`${what} (${options.firmware}, ${options.image})\n--- serial text, last ${TAIL_CHARS} characters ---\n` +
      tail(serial.text()));

  const keys: string[] = [];
  const typingDelayMs = options.typingDelayMs ?? (options.firmware === 'bios' ? 50 : 10);
  let typingTimer: ReturnType<typeof setTimeout> | undefined;
  const typeNext = (): void => {
    typingTimer = undefined;
    const key = keys.shift();
    if (key === undefined || exitStatus !== undefined) return;
    child.stdin.write(key);
    if (keys.length) typingTimer = setTimeout(typeNext, typingDelayMs);
  };

  let closing: Promise<void> | undefined;
  const session: QemuSession = {
    pid: child.pid ?? -1,
    waitFor(pattern, timeoutMs) {
      return new Promise<string>((resolve, reject) => {
        // A copy without g/y: a stateful lastIndex would skip matches between calls.
        const regex =
          typeof pattern === 'string' ? undefined : new RegExp(pattern.source, pattern.flags.replace(/[gy]/g, ''));
        const timer = setTimeout(() => {
          waiters.delete(waiter);
          reject(failure(`waitFor(${describePattern(pattern)}) timed out after ${timeoutMs} ms`));
        }, timeoutMs);
        const waiter: Waiter = {
          find(text) {
            if (regex) {
              const match = regex.exec(text);
              return match ? { index: match.index, match: match[0] } : undefined;
            }
            const index = text.indexOf(pattern as string);
            return index < 0 ? undefined : { index, match: pattern as string };
          },
          resolve(match) {
            clearTimeout(timer);
            resolve(match);
          },
          reject(error) {
            clearTimeout(timer);
            reject(failure(`waitFor(${describePattern(pattern)}) failed: ${error.message}`));
          },
        };
        waiters.add(waiter);
        check();
        if (waiters.has(waiter) && exitStatus !== undefined) {
          waiters.delete(waiter);
          waiter.reject(new Error(`QEMU had already ended (${exitStatus})`));
        }
      });
    },
    send(text) {
      if (exitStatus !== undefined || closing) {
        throw new Error(`cannot type into QEMU: it has ended (${exitStatus ?? 'closed'})`);
      }
      keys.push(...(text.match(KEYS) ?? []));
      if (!typingTimer) typeNext();
    },
    transcript: () => raw,
    text: () => serial.text(),
    close() {
      closing ??= (async () => {
        clearTimeout(typingTimer);
        if (exitStatus === undefined) child.kill('SIGKILL');
        await exited;
      })();
      return closing;
    },
  };
  artifactDetails.set(session, () => [`qemu-system-x86_64 ${args.join(' ')}`, `status: ${exitStatus ?? 'running'}`,
    `stderr: ${stderr.trim()}`].join('\n'));
  return session;
}

function artifactName(options: QemuBootOptions): string {
  const name = options.name ?? `${options.firmware}-${new Date().toISOString()}`;
  return name.replace(/[^A-Za-z0-9._-]+/g, '-');
}

/** Saves `<name>.log` (header + plain serial text) and `<name>.raw.log` (with control sequences); returns the first. */
export function saveTranscript(session: QemuSession, name: string): string {
  mkdirSync(ARTIFACTS, { recursive: true });
  const path = join(ARTIFACTS, `${name}.log`);
  writeFileSync(path, `${artifactDetails.get(session)?.() ?? ''}\n--- serial text ---\n${session.text()}`);
  writeFileSync(join(ARTIFACTS, `${name}.raw.log`), session.transcript());
  return path;
}

/**
 * Runs body with a session and always closes it; on failure saves the transcript to test-artifacts/qemu/<name>.log
 * and rethrows.
 */
export async function withBoot<T>(options: QemuBootOptions, body: (s: QemuSession) => Promise<T>): Promise<T> {
  const session = await bootImage(options);
  try {
    return await body(session);
  } catch (error) {
    await session.close();
    const path = saveTranscript(session, artifactName(options));
    console.error(`QEMU transcript saved to ${path}`);
    throw error;
  } finally {
    await session.close();
  }
}

/**
 * QEMU processes that are children of this process, still running or not yet reaped: a test asserts this is
 * empty after its sessions closed.
 */
export function ownQemuProcesses(): number[] {
  return readdirSync('/proc').filter((entry) => /^\d+$/.test(entry)).flatMap((entry) => {
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      // Fields after the parenthesised command name: state, ppid, …
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      // comm, not cmdline: a zombie has an empty cmdline. setpriv becomes QEMU by exec, so count it too.
      const comm = readFileSync(`/proc/${entry}/comm`, 'utf8');
      return ppid === process.pid && /^(qemu-system|setpriv)/.test(comm) ? [Number(entry)] : [];
    } catch {
      return []; // the process ended while we looked
    }
  });
}
