/** The UI's one table from error codes to words: what happened and what the user can do next. */
import type { ErrorCode } from '../preload/contract.js';

export interface ErrorText {
  title: string;
  next: string;
}

export const ERROR_TEXT: Record<ErrorCode, ErrorText> = {
  MALFORMED_IMAGE: { title: 'The image file is damaged', next: 'Download it again and check its checksum.' },
  UNSUPPORTED_IMAGE: { title: 'Bootkey cannot use this kind of image', next: 'Choose an ISO or a disk image with UEFI boot files.' },
  NOT_FOUND: { title: 'A file was not found', next: 'Check that the file still exists and choose it again.' },
  NOT_EFI_BOOTABLE: { title: 'This image cannot start a UEFI computer', next: 'Choose an image that has UEFI boot files.' },
  NOT_ENOUGH_SPACE: { title: 'There is not enough free space on the key', next: 'Delete files from the key or use a larger key.' },
  FILE_TOO_LARGE: { title: 'A file is too large for the key’s filesystem', next: 'FAT32 holds files up to 4 GiB; use a smaller image.' },
  CONFLICT: { title: 'Something with that name is already on the key', next: 'Rename or remove it first, then try again.' },
  TARGET_CHANGED: { title: 'The key changed since you chose it', next: 'Choose the key again and check its name and size.' },
  TARGET_REFUSED: { title: 'Bootkey will not write to this drive', next: 'Choose a removable USB key instead.' },
  DRIVE_BUSY: { title: 'The key is in use', next: 'Close files and programs that use the key, then try again.' },
  NOT_MOUNTED: { title: 'The key’s filesystem is not mounted', next: 'Unplug the key, plug it in again, and retry.' },
  AUTH_CANCELLED: { title: 'The password dialog was cancelled', next: 'Nothing was changed. Try again when you are ready.' },
  AUTH_NO_AGENT: { title: 'No password dialog could be shown', next: 'Log in to a desktop session with a polkit agent, then retry.' },
  AUTH_DENIED: { title: 'You are not allowed to do this', next: 'Ask an administrator, or use an account that may manage drives.' },
  DEVICE_GONE: { title: 'The key was removed', next: 'Plug it in again and choose it.' },
  IO_ERROR: { title: 'The key could not be read or written', next: 'Try another USB port; the key may be failing.' },
  TIMEOUT: { title: 'The system did not answer in time', next: 'Try again; if it keeps happening, unplug and replug the key.' },
  CANCELLED: { title: 'Cancelled', next: 'Nothing more was changed.' },
  MISSING_TOOL: { title: 'A system tool Bootkey needs is missing', next: 'Install the package named in the details.' },
  INVALID_ARGUMENT: { title: 'Bootkey received a request it does not accept', next: 'This is a bug in Bootkey; please report it.' },
  INTERNAL: { title: 'Something went wrong inside Bootkey', next: 'Try again; if it keeps happening, please report it.' },
};
