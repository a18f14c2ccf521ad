import type { Command } from '../command.js';
import { copyEfiCommand, undoEfiCommand } from './copy-efi.js';
import { drivesCommand } from './drives.js';
import { extractCommand } from './extract.js';
import { inspectCommand } from './inspect.js';
import { listCommand } from './list.js';
import { multibootCommand } from './multiboot.js';
import { persistCommand } from './persist.js';

/** Every `bootkey` subcommand, in the order `--help` lists them. */
export const COMMANDS: Command[] = [inspectCommand, listCommand, extractCommand, drivesCommand, copyEfiCommand, undoEfiCommand, multibootCommand, persistCommand];
