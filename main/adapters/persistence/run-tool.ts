import { execFile } from 'node:child_process';
import { BootkeyError } from '../../core/errors.js';

/** e2fsprogs and squashfs-tools can take minutes on a large image; never wait forever. */
export const TOOL_TIMEOUT_MS = 30 * 60_000;
/** A clean environment: no user PATH or locale changes what runs or what it prints. */
export const TOOL_ENV = { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', LC_ALL: 'C' };

/** Runs a tool without a shell; its exit status and output (stdout then stderr). MISSING_TOOL names the package. */
export function runTool(program: string, args: string[], packageName: string): Promise<{ exitCode: number; output: string; stdout: string }> {
  return new Promise((resolve, reject) => {
    execFile(program, args, { timeout: TOOL_TIMEOUT_MS, maxBuffer: 16 << 20, env: TOOL_ENV }, (error, stdout, stderr) => {
      const code = (error as NodeJS.ErrnoException | null)?.code;
      if (code === 'ENOENT') {
        reject(new BootkeyError('MISSING_TOOL', `${program} is not installed (package ${packageName})`));
        return;
      }
      const exitCode = error ? (typeof (error as { code?: unknown }).code === 'number' ? (error as { code: number }).code : -1) : 0;
      resolve({ exitCode, output: `${stdout}${stderr}`.trim(), stdout });
    });
  });
}

/** runTool, with any status but 0 an IO_ERROR carrying the end of the output. */
export async function mustSucceed(program: string, args: string[], packageName: string): Promise<string> {
  const { exitCode, output, stdout } = await runTool(program, args, packageName);
  if (exitCode !== 0) throw new BootkeyError('IO_ERROR', `${program} failed (status ${exitCode}): ${output.slice(-500)}`);
  return stdout;
}
