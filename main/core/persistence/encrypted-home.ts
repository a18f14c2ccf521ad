import { BootkeyError } from '../errors.js';

/**
 * An encrypted home.img: its passphrase and its size, checked before anything is written to the key. The live system
 * unlocks home.img at boot by asking for it at a prompt (livesys: `plymouth ask-for-password --command=
 * "cryptsetup luksOpen <loop> EncHome"`), and cryptsetup uses the typed bytes as they are. So the stored key
 * must be exactly what can be typed there: no line breaks or other control characters, and not empty.
 */

/**
 * The part of an encrypted home.img that holds no filesystem: cryptsetup's offline encryption
 * (`reencrypt --encrypt --reduce-device-size`) needs this much free at the end of the file; half becomes the
 * LUKS2 header (16 MiB by default), half stays unused after the filesystem. Twice the header is what
 * cryptsetup's manual recommends for encryption.
 */
export const LUKS_RESERVED_BYTES = 32 * 1024 * 1024;

/** The ext4 filesystem inside an encrypted home.img of `bytes` (a whole number of 4 KiB); refused when too small. */
export function encryptedHomeFilesystemBytes(bytes: number, minimumFilesystemBytes: number): number {
  const inside = bytes - LUKS_RESERVED_BYTES;
  if (inside < minimumFilesystemBytes) {
    throw new BootkeyError('INVALID_ARGUMENT', `an encrypted home.img needs at least ${minimumFilesystemBytes + LUKS_RESERVED_BYTES} bytes (${LUKS_RESERVED_BYTES} of them for encryption)`);
  }
  return inside;
}

/** Shortest accepted passphrase, in bytes (cryptsetup itself accepts anything). */
export const MIN_PASSPHRASE_BYTES = 8;
/** cryptsetup's limit for a passphrase typed at a prompt (its key files may be longer, a prompt is not). */
export const MAX_PASSPHRASE_BYTES = 512;

/**
 * Takes a passphrase file's or stdin's bytes: one final line break (what an editor or `echo` adds) is not part
 * of it. Anything else that could not be typed at the boot prompt is refused with the reason.
 */
export function passphraseFromText(bytes: Uint8Array): Uint8Array {
  let end = bytes.length;
  if (end > 0 && bytes[end - 1] === 0x0a) end--;
  if (end > 0 && bytes[end - 1] === 0x0d) end--;
  const passphrase = bytes.subarray(0, end);
  checkPassphrase(passphrase);
  return passphrase;
}

export function checkPassphrase(passphrase: Uint8Array): void {
  if (passphrase.length < MIN_PASSPHRASE_BYTES) {
    throw new BootkeyError('INVALID_ARGUMENT', `the home.img passphrase is too short: at least ${MIN_PASSPHRASE_BYTES} characters`);
  }
  if (passphrase.length > MAX_PASSPHRASE_BYTES) {
    throw new BootkeyError('INVALID_ARGUMENT', `the home.img passphrase is too long: at most ${MAX_PASSPHRASE_BYTES} bytes can be typed at the boot prompt`);
  }
  const control = passphrase.findIndex((b) => b < 0x20 || b === 0x7f);
  if (control >= 0) {
    throw new BootkeyError('INVALID_ARGUMENT', `the home.img passphrase holds a line break or control character (byte ${control + 1}): it could not be typed at the boot prompt`);
  }
  try {
    new TextDecoder('utf-8', { fatal: true }).decode(passphrase);
  } catch {
    throw new BootkeyError('INVALID_ARGUMENT', 'the home.img passphrase is not UTF-8 text: it could not be typed at the boot prompt');
  }
}
