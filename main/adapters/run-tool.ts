import { execFile } from 'node:child_process';
import { BootkeyError } from '../core/errors.js';

/** Host tools shared by the adapters (e2fsprogs, squashfs-tools, filefrag, cryptsetup) can take minutes on a large image; never wait forever. */
export const TOOL_TIMEOUT_MS = 30 * 60_000;
/** A clean environment: no user PATH or locale changes what runs or what it prints. */
export const TOOL_ENV = { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', LC_ALL: 'C' };

/**
 * Runs a tool without a shell; its exit status and output (stdout then stderr). MISSING_TOOL names the package.
 * `input` goes to its stdin (a secret travels this way, never in argv or the environment). An aborted `signal`
 * kills the tool and rejects with CANCELLED. `cwd`: for a tool that writes temporary files where it runs.
 */
export function runTool(program: string, args: string[], packageName: string, input?: Uint8Array,
  signal?: AbortSignal, cwd?: string): Promise<{ exitCode: number; output: string; stdout: string }> {
  return execTool(program, args, packageName, 'utf8', input, signal, cwd).then(({ exitCode, stdout, stderr }) => ({ exitCode, output: `${stdout}${stderr}`.trim(), stdout }));
}

/** runTool for a tool whose stdout is bytes (a decompressor): stdout as bytes, stderr as text. */
export function runToolBytes(program: string, args: string[], packageName: string, input: Uint8Array): Promise<{ exitCode: number; stdout: Uint8Array; stderr: string }> {
  return execTool(program, args, packageName, 'buffer', input).then(({ exitCode, stdout, stderr }) => ({ exitCode, stdout: new Uint8Array(stdout), stderr: stderr.toString() }));
}

function execTool<E extends 'utf8' | 'buffer'>(program: string, args: string[], packageName: string, encoding: E, input?: Uint8Array,
  signal?: AbortSignal, cwd?: string): Promise<{ exitCode: number; stdout: E extends 'buffer' ? Buffer : string; stderr: E extends 'buffer' ? Buffer : string }> {
  type Out = E extends 'buffer' ? Buffer : string;
  return new Promise((resolve, reject) => {
    const options = { encoding, timeout: TOOL_TIMEOUT_MS, maxBuffer: 16 << 20, env: TOOL_ENV, ...(signal ? { signal } : {}), ...(cwd ? { cwd } : {}) };
    const child = execFile(program, args, options, (error, stdout, stderr) => {
      const code = (error as NodeJS.ErrnoException | null)?.code;
      if (code === 'ENOENT') {
        reject(new BootkeyError('MISSING_TOOL', `${program} is not installed (package ${packageName})`));
        return;
      }
      if (code === 'ABORT_ERR') {
        reject(new BootkeyError('CANCELLED', `${program} was stopped: cancelled`));
        return;
      }
      const exitCode = error ? (typeof (error as { code?: unknown }).code === 'number' ? (error as { code: number }).code : -1) : 0;
      resolve({ exitCode, stdout: stdout as Out, stderr: stderr as Out });
    });
    // A tool that exits before reading all of it closes the pipe: its exit status tells, not EPIPE.
    if (input) child.stdin?.on('error', () => undefined).end(input);
  });
}

/** runTool, with any status but 0 an IO_ERROR carrying the end of the output. */
export async function mustSucceed(program: string, args: string[], packageName: string, signal?: AbortSignal): Promise<string> {
  const { exitCode, output, stdout } = await runTool(program, args, packageName, undefined, signal);
  if (exitCode !== 0) throw new BootkeyError('IO_ERROR', `${program} failed (status ${exitCode}): ${output.slice(-500)}`);
  return stdout;
}
