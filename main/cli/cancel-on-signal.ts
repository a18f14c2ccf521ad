import type { CliIo } from './command.js';

const SIGNALS = ['SIGINT', 'SIGTERM'] as const;
/** The shell's convention for a process ended by SIGINT. */
const EXIT_INTERRUPTED = 130;

/**
 * Runs `work` with a signal that Ctrl-C (SIGINT) or SIGTERM aborts, so a long write stops cleanly — the
 * service removes what it wrote and throws CANCELLED — instead of the process dying mid-write. A second
 * signal exits at once (what the first stop had not removed yet is found again by name: undo-efi, or the next
 * multiboot run).
 */
export async function cancelOnSignal<T>(io: CliIo, work: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const controller = new AbortController();
  const onSignal = (name: NodeJS.Signals) => {
    if (controller.signal.aborted) {
      io.stderr.write(`\nbootkey: ${name} again: exiting without finishing the clean-up\n`);
      process.exit(EXIT_INTERRUPTED);
    }
    io.stderr.write(`\nbootkey: ${name}: stopping and removing what was written (again to exit at once)…\n`);
    controller.abort(name);
  };
  for (const name of SIGNALS) process.on(name, onSignal);
  try {
    return await work(controller.signal);
  } finally {
    for (const name of SIGNALS) process.off(name, onSignal);
  }
}
