/**
 * The closed set of error codes every layer speaks. It lives beside the contract because it is part of it: the
 * renderer may import only preload/contract (and what it re-exports), and main/core/errors.ts imports this list
 * from here, so there is one list and no import from preload into main. Pure data: no imports.
 */
export const ERROR_CODES = [
  'MALFORMED_IMAGE',
  'UNSUPPORTED_IMAGE',
  'NOT_FOUND',
  'NOT_EFI_BOOTABLE',
  'NOT_ENOUGH_SPACE',
  'FILE_TOO_LARGE',
  'CONFLICT',
  'TARGET_CHANGED',
  'TARGET_REFUSED',
  'DRIVE_BUSY',
  'NOT_MOUNTED',
  'AUTH_CANCELLED',
  'AUTH_NO_AGENT',
  'AUTH_DENIED',
  'DEVICE_GONE',
  'IO_ERROR',
  'TIMEOUT',
  'CANCELLED',
  'MISSING_TOOL',
  'INVALID_ARGUMENT',
  'INTERNAL',
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];
