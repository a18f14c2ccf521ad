import type { Writable } from 'node:stream';

/** Where a command writes: stdout for results, stderr for progress and errors. */
export interface CliIo {
  stdout: Writable;
  stderr: Writable;
}

/** One `bootkey` subcommand. `run` returns the exit code; expected failures are thrown as BootkeyError. */
export interface Command {
  name: string;
  /** One line for `bootkey --help`. */
  summary: string;
  /** Full usage text for `bootkey NAME --help`. */
  usage: string;
  run(args: string[], io: CliIo): Promise<number>;
}

export const EXIT_OK = 0;
/** Bad input (an image, a target, arguments): the user can fix it. */
export const EXIT_BAD_INPUT = 2;
/** Anything else that failed (I/O, a refused password, a pulled key). */
export const EXIT_FAILED = 1;
