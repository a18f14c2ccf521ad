import type { ErrorCode } from '../core/errors.js';
import { EXIT_BAD_INPUT, EXIT_FAILED } from './command.js';

/** What the command line adds to an error's own message: what the user can do next, and the exit code. */
export const CLI_ERRORS: Record<ErrorCode, { hint?: string; exit: number }> = {
  MALFORMED_IMAGE: { exit: EXIT_BAD_INPUT, hint: 'the file is damaged or not a disk image; download it again' },
  UNSUPPORTED_IMAGE: { exit: EXIT_BAD_INPUT },
  NOT_FOUND: { exit: EXIT_BAD_INPUT },
  NOT_EFI_BOOTABLE: { exit: EXIT_BAD_INPUT, hint: 'this image has no UEFI boot files to copy' },
  NOT_ENOUGH_SPACE: { exit: EXIT_BAD_INPUT, hint: 'free some space on the key or use a larger one' },
  FILE_TOO_LARGE: { exit: EXIT_BAD_INPUT },
  CONFLICT: { exit: EXIT_BAD_INPUT },
  TARGET_CHANGED: { exit: EXIT_FAILED, hint: 'the device changed since you chose it; choose it again' },
  TARGET_REFUSED: { exit: EXIT_BAD_INPUT },
  DRIVE_BUSY: { exit: EXIT_FAILED, hint: 'close programs using the key and try again' },
  NOT_MOUNTED: { exit: EXIT_FAILED },
  AUTH_CANCELLED: { exit: EXIT_FAILED, hint: 'the password dialog was cancelled; nothing was changed' },
  AUTH_NO_AGENT: { exit: EXIT_FAILED, hint: 'no polkit agent is running to ask for your password' },
  AUTH_DENIED: { exit: EXIT_FAILED },
  DEVICE_GONE: { exit: EXIT_FAILED, hint: 'the key was removed; plug it in again' },
  IO_ERROR: { exit: EXIT_FAILED },
  TIMEOUT: { exit: EXIT_FAILED },
  CANCELLED: { exit: EXIT_FAILED },
  MISSING_TOOL: { exit: EXIT_FAILED, hint: 'install the package named above' },
  INVALID_ARGUMENT: { exit: EXIT_BAD_INPUT, hint: 'see bootkey --help' },
  INTERNAL: { exit: EXIT_FAILED },
};
