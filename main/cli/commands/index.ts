import type { Command } from '../command.js';

/** Every `bootkey` subcommand, in the order `--help` lists them. */
export const COMMANDS: Command[] = [];
