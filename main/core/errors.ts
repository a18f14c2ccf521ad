/**
 * The closed set of error codes every layer speaks is part of the contract and lives in preload/error-codes.ts
 * (the renderer may import only the contract). Adapters translate foreign errors (D-Bus error names, errno,
 * helper exit codes) into these at the boundary; front ends map them to words in one table each.
 */
import type { ErrorCode } from '../../preload/error-codes.js';

export { ERROR_CODES, type ErrorCode } from '../../preload/error-codes.js';

/** An expected failure with a code from the closed set; `message` is already in words for a person. */
export class BootkeyError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details?: Record<string, unknown>,
  ) {
    super(message);
    this.name = 'BootkeyError';
  }
}

/** Malformed input found by a parser, with the byte offset where the problem is. */
export class ParseError extends BootkeyError {
  constructor(
    message: string,
    readonly offset: number,
    code: 'MALFORMED_IMAGE' | 'UNSUPPORTED_IMAGE' = 'MALFORMED_IMAGE',
  ) {
    super(code, message, { offset });
    this.name = 'ParseError';
  }
}

export type Result<T, E = BootkeyError> = { ok: true; value: T } | { ok: false; error: E };

/** Runs a parser and turns its ParseErrors into a Result; anything else is a programmer error and rethrown. */
export async function parseResult<T>(work: () => Promise<T>): Promise<Result<T, ParseError>> {
  try {
    return { ok: true, value: await work() };
  } catch (error) {
    if (error instanceof ParseError) return { ok: false, error };
    throw error;
  }
}
