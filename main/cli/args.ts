import { parseArgs, type ParseArgsConfig } from 'node:util';
import { BootkeyError } from '../core/errors.js';
import type { TreeSelector } from '../core/inspect/open-image.js';

type Options = NonNullable<ParseArgsConfig['options']>;

export interface ParsedArgs {
  values: Record<string, string | boolean | (string | boolean)[] | undefined>;
  positionals: string[];
}

/** node:util parseArgs, strict, with its errors turned into INVALID_ARGUMENT with the command's usage. */
export function parseCommandArgs(args: string[], options: Options, usage: string): ParsedArgs {
  try {
    return parseArgs({ args, options, allowPositionals: true, strict: true });
  } catch (error) {
    throw new BootkeyError('INVALID_ARGUMENT', `${(error as Error).message}\n${usage}`);
  }
}

/** A positive whole number option such as --partition N. */
export function wholeNumber(value: string | undefined, name: string): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value)) throw new BootkeyError('INVALID_ARGUMENT', `--${name} takes a whole number, not '${value}'`);
  return Number(value);
}

export function requirePositionals(positionals: string[], count: number, max: number, usage: string): void {
  if (positionals.length < count || positionals.length > max) {
    throw new BootkeyError('INVALID_ARGUMENT', `expected ${count === max ? count : `${count} to ${max}`} arguments\n${usage}`);
  }
}

/** --partition N and --el-torito N: which part of an image `ls` and `extract` read. */
export const SELECTOR_OPTIONS = { partition: { type: 'string' }, 'el-torito': { type: 'string' } } as const;

export function treeSelector(values: ParsedArgs['values']): TreeSelector {
  const partition = wholeNumber(values.partition as string | undefined, 'partition');
  const elTorito = wholeNumber(values['el-torito'] as string | undefined, 'el-torito');
  if (partition !== undefined && elTorito !== undefined) {
    throw new BootkeyError('INVALID_ARGUMENT', 'choose either --partition or --el-torito, not both');
  }
  return { partition, elTorito };
}
