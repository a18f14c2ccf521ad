import type { CliIo } from './command.js';

const SIGNALS = ['SIGINT', 'SIGTERM'] as const;

/**
 * Runs `work` with a signal that Ctrl-C (SIGINT) or SIGTERM aborts, so a long write stops cleanly — the
 * service removes what it wrote and throws CANCELLED — instead of the process dying mid-write. A second
 * signal while it cleans up only repeats that it is doing so.
 */
export async function cancelOnSignal<T>(io: CliIo, work: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const controller = new AbortController();
  const onSignal = (name: string) => {
    io.stderr.write(controller.signal.aborted
      ? '\nbootkey: still removing what was written; the key is left as before in a moment\n'
      : `\nbootkey: ${name}: stopping and removing what was written…\n`);
    controller.abort(name);
  };
  for (const name of SIGNALS) process.on(name, onSignal);
  try {
    return await work(controller.signal);
  } finally {
    for (const name of SIGNALS) process.off(name, onSignal);
  }
}
