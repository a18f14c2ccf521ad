import { mkdir, mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BootkeyError } from '../../core/errors.js';
import type { Ext4CheckResult, Ext4Tools } from '../../ports/persistence-files.js';
import { hostPersistenceFiles } from './host-persistence-files.js';
import { mustSucceed, runTool } from '../run-tool.js';

const PACKAGE = 'e2fsprogs';

/** mkfs.ext4 / e2fsck / resize2fs on image files: they need no root and no loop device. */
export const e2fsprogs: Ext4Tools = {
  async make(path, size, { label, directories }) {
    if (await stat(path).then(() => true, () => false)) throw new BootkeyError('CONFLICT', `${path} already exists`, { path });
    const tree = await mkdtemp(join(tmpdir(), 'bootkey-ext4-'));
    try {
      for (const dir of directories) await mkdir(join(tree, dir));
      await hostPersistenceFiles.createZeroed(path, size);
      await mustSucceed('mkfs.ext4', ['-q', '-F', '-L', label, '-E', 'root_owner=0:0', '-d', tree, path], PACKAGE);
    } finally {
      await rm(tree, { recursive: true, force: true });
    }
  },
  async check(path, repair): Promise<Ext4CheckResult> {
    const result = await runTool('e2fsck', ['-f', repair ? '-y' : '-n', path], PACKAGE);
    if (result.exitCode >= 8 || result.exitCode < 0) throw new BootkeyError('IO_ERROR', `e2fsck could not check ${path}: ${result.output.slice(-500)}`);
    return { exitCode: result.exitCode, output: result.output };
  },
  async resize(path, size) {
    await hostPersistenceFiles.extend(path, size);
    await mustSucceed('resize2fs', [path, `${Math.floor(size / 1024)}K`], PACKAGE);
  },
};
