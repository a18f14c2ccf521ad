import { BootkeyError } from './errors.js';

/** Throws BootkeyError 'CANCELLED' once `signal` has been aborted (a Cancel button, Ctrl-C). */
export function throwIfCancelled(signal: AbortSignal | undefined, what = 'cancelled'): void {
  if (signal?.aborted) throw new BootkeyError('CANCELLED', what);
}

export function isCancellation(error: unknown): boolean {
  return error instanceof BootkeyError && error.code === 'CANCELLED';
}
