import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BootkeyError } from '../../core/errors.js';
import { checkPassphrase, encryptedHomeFilesystemBytes, LUKS_RESERVED_BYTES } from '../../core/persistence/encrypted-home.js';
import { readLuksHeader } from '../../core/persistence/luks-header.js';
import { MIN_EXT4_BYTES } from '../../core/persistence/persistence-plan.js';
import type { LuksHomeMaker } from '../../ports/luks-home.js';
import { e2fsprogs } from './e2fsprogs.js';
import { hostPersistenceFiles } from './host-persistence-files.js';
import { runTool } from '../run-tool.js';

const PACKAGE = 'cryptsetup-bin';

/**
 * An encrypted home.img without root and without device-mapper, as the live system expects it: Fedora's livesys
 * (livesys-scripts' livesys-main) loop-attaches /LiveOS/home.img, and when blkid says `crypto_LUKS` it runs
 * `plymouth ask-for-password --command="cryptsetup luksOpen <loop> EncHome"` and mounts /dev/mapper/EncHome on
 * /home without naming a filesystem type. livecd-iso-to-disk's --encrypted-home makes the same thing as root
 * (luksFormat on a loop device, mkfs.ext4 in the opened mapping).
 *
 * Here, as the user: mkfs.ext4 on the file (a filesystem 32 MiB smaller than the file), then cryptsetup's
 * offline encryption, `reencrypt --encrypt --reduce-device-size 32M`, which moves the filesystem up by 16 MiB,
 * writes a LUKS2 header in front and encrypts the data in user space through the kernel's crypto API. Checked
 * on Debian 12 (cryptsetup 2.6.1) as `nobody` on a file: no dm-crypt, no loop device, no helper verb needed.
 * `--disable-locks`: cryptsetup's lock folder (/run/cryptsetup) is root's, and the file is new and ours alone
 * (made with O_EXCL a moment before), so there is nothing to lock against. The passphrase goes to stdin with
 * `--key-file=-` (its exact bytes, as the boot prompt hands over what was typed), never into argv.
 * cryptsetup writes the new header first to a temporary file (`LUKS2-temp-<uuid>.new`) in its working folder:
 * it runs in a private temporary folder, never the key (a pulled key keeps no stray header) nor wherever the
 * app happened to start (read-only, or not the user's).
 */
export const luksHomeMaker: LuksHomeMaker = {
  async check(size, passphrase) {
    checkPassphrase(passphrase);
    encryptedHomeFilesystemBytes(size, MIN_EXT4_BYTES);
    const { exitCode, output } = await runTool('cryptsetup', ['--version'], PACKAGE);
    if (exitCode !== 0) throw new BootkeyError('MISSING_TOOL', `cryptsetup does not run: ${output.slice(-300)}`);
  },

  async make(path, size, { label, passphrase }) {
    checkPassphrase(passphrase);
    const filesystemBytes = encryptedHomeFilesystemBytes(size, MIN_EXT4_BYTES);
    if (await stat(path).then(() => true, () => false)) throw new BootkeyError('CONFLICT', `${path} already exists`, { path });
    const work = await mkdtemp(join(tmpdir(), 'bootkey-luks-'));
    try {
      await e2fsprogs.make(path, filesystemBytes, { label, directories: [] });
      await hostPersistenceFiles.extend(path, size);
      const key = ['--disable-locks', '--key-file=-'];
      const encrypt = await runTool('cryptsetup', ['reencrypt', '--encrypt', '--type', 'luks2', '--batch-mode', ...key,
        '--reduce-device-size', `${LUKS_RESERVED_BYTES / 1024}K`, path], PACKAGE, passphrase, undefined, work);
      if (encrypt.exitCode !== 0) {
        throw new BootkeyError('IO_ERROR', `cryptsetup could not encrypt ${path} (status ${encrypt.exitCode}): ${encrypt.output.slice(-500)}`);
      }
      // Proof before returning: the passphrase opens a keyslot, and the header says the encryption finished.
      const test = await runTool('cryptsetup', ['open', '--test-passphrase', ...key, path], PACKAGE, passphrase);
      if (test.exitCode !== 0) throw new BootkeyError('IO_ERROR', `the new ${path} does not open with its passphrase (cryptsetup status ${test.exitCode})`);
      const source = await hostPersistenceFiles.open(path);
      const header = await readLuksHeader(source).finally(() => source.close());
      if (!header || header.version !== 2 || header.unfinished || header.dataBytes < filesystemBytes) {
        throw new BootkeyError('IO_ERROR', `the new ${path} is not a finished LUKS2 container holding ${filesystemBytes} bytes`);
      }
      await hostPersistenceFiles.sync(path);
    } catch (error) {
      // Nothing half made stays on the key (a file that appeared meanwhile is not ours: mkfs refused it).
      if (!(error instanceof BootkeyError && error.code === 'CONFLICT')) await hostPersistenceFiles.remove(path).catch(() => undefined);
      throw error;
    } finally {
      await rm(work, { recursive: true, force: true });
    }
  },
};
