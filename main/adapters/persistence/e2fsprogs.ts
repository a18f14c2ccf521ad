import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BootkeyError } from '../../core/errors.js';
import type { Ext4CheckResult, Ext4Tools } from '../../ports/persistence-files.js';
import { hostPersistenceFiles } from './host-persistence-files.js';

/** e2fsprogs can take minutes on a large image; never wait forever. */
const TOOL_TIMEOUT_MS = 30 * 60_000;

function runTool(program: string, args: string[]): Promise<{ exitCode: number; output: string }> {
  return new Promise((resolve, reject) => {
    execFile(program, args, { timeout: TOOL_TIMEOUT_MS, maxBuffer: 16 << 20, env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', LC_ALL: 'C' } },
      (error, stdout, stderr) => {
        const code = (error as NodeJS.ErrnoException | null)?.code;
        if (code === 'ENOENT') {
          reject(new BootkeyError('MISSING_TOOL', `${program} is not installed (package e2fsprogs)`));
          return;
        }
        const exitCode = error ? (typeof (error as { code?: unknown }).code === 'number' ? (error as { code: number }).code : -1) : 0;
        resolve({ exitCode, output: `${stdout}${stderr}`.trim() });
      });
  });
}

async function mustSucceed(program: string, args: string[]): Promise<void> {
  const { exitCode, output } = await runTool(program, args);
  if (exitCode !== 0) throw new BootkeyError('IO_ERROR', `${program} failed (status ${exitCode}): ${output.slice(-500)}`);
}

/** mkfs.ext4 / e2fsck / resize2fs on image files: they need no root and no loop device. */
export const e2fsprogs: Ext4Tools = {
  async make(path, size, { label, directories }) {
    if (await stat(path).then(() => true, () => false)) throw new BootkeyError('CONFLICT', `${path} already exists`, { path });
    const tree = await mkdtemp(join(tmpdir(), 'bootkey-ext4-'));
    try {
      for (const dir of directories) await mkdir(join(tree, dir));
      await hostPersistenceFiles.createZeroed(path, size);
      await mustSucceed('mkfs.ext4', ['-q', '-F', '-L', label, '-E', 'root_owner=0:0', '-d', tree, path]);
    } finally {
      await rm(tree, { recursive: true, force: true });
    }
  },
  async check(path, repair): Promise<Ext4CheckResult> {
    const result = await runTool('e2fsck', ['-f', repair ? '-y' : '-n', path]);
    if (result.exitCode >= 8 || result.exitCode < 0) throw new BootkeyError('IO_ERROR', `e2fsck could not check ${path}: ${result.output.slice(-500)}`);
    return result;
  },
  async resize(path, size) {
    await hostPersistenceFiles.extend(path, size);
    await mustSucceed('resize2fs', [path, `${Math.floor(size / 1024)}K`]);
  },
};
