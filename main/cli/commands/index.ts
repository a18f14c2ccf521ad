import type { Command } from '../command.js';
import { drivesCommand } from './drives.js';

/** Every `bootkey` subcommand, in the order `--help` lists them. */
export const COMMANDS: Command[] = [drivesCommand];
