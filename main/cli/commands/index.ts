import type { Command } from '../command.js';
import { drivesCommand } from './drives.js';
import { extractCommand } from './extract.js';
import { inspectCommand } from './inspect.js';
import { listCommand } from './list.js';

/** Every `bootkey` subcommand, in the order `--help` lists them. */
export const COMMANDS: Command[] = [inspectCommand, listCommand, extractCommand, drivesCommand];
