import { spawn } from 'node:child_process';
import { access, constants } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import { BootkeyError, type ErrorCode } from '../../core/errors.js';
import type { HelperEvent, HelperRequest, PrivilegedRunner } from '../../ports/privileged-runner.js';

/** Where packages install the helper; the polkit policy pins this path. */
export const HELPER_PATH = '/usr/libexec/bootkey/bootkey-helper';

/** The helper's named failures (its `code` and exit status) → our codes. */
const HELPER_CODES: Record<string, { exit: number; code: ErrorCode }> = {
  USAGE: { exit: 64, code: 'INVALID_ARGUMENT' },
  REFUSED: { exit: 65, code: 'TARGET_REFUSED' },
  CHANGED: { exit: 66, code: 'TARGET_CHANGED' },
  TOOL_FAILED: { exit: 67, code: 'IO_ERROR' },
  MISSING_TOOL: { exit: 68, code: 'MISSING_TOOL' },
  INTERNAL: { exit: 69, code: 'INTERNAL' },
};
/** pkexec's own exit statuses. */
const PKEXEC_DISMISSED = 126;
const PKEXEC_NOT_AUTHORISED = 127;

export interface HelperRunnerOptions {
  helperPath?: string;
  /**
   * Run the helper directly instead of through pkexec: only for tests that already run as root with no polkit
   * agent. The helper's own checks run the same way.
   */
  direct?: boolean;
}

/** The helper's argv for a request; nothing here is ever joined into a shell string. */
export function helperArgs(request: HelperRequest): string[] {
  if (request.verb === 'dm-status') return ['dm-status', request.name];
  const { device, serial, size } = request.target;
  const target = [device, serial, String(size)];
  return request.verb === 'check' ? ['check', ...target] : ['install-grub-bios', ...target, request.mountPoint];
}

/** Runs resources/helper/bootkey-helper through `pkexec --disable-internal-agent` (or directly in tests). */
export class HelperRunner implements PrivilegedRunner {
  private readonly helperPath: string;
  private readonly direct: boolean;

  constructor(options: HelperRunnerOptions = {}) {
    this.helperPath = options.helperPath ?? HELPER_PATH;
    this.direct = options.direct ?? false;
  }

  async run(request: HelperRequest, onEvent?: (event: HelperEvent) => void): Promise<HelperEvent[]> {
    try {
      await access(this.helperPath, constants.X_OK);
    } catch {
      throw new BootkeyError('MISSING_TOOL',
        `Bootkey's helper is not installed at ${this.helperPath} (it comes with the deb and rpm packages, not the AppImage)`);
    }
    const args = helperArgs(request);
    const [program, argv] = this.direct
      ? [this.helperPath, args]
      : ['pkexec', ['--disable-internal-agent', this.helperPath, ...args]];
    const child = spawn(program, argv, { stdio: ['ignore', 'pipe', 'pipe'], shell: false });
    const events: HelperEvent[] = [];
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      stderr = (stderr + chunk).slice(-8192);
    });
    const lines = createInterface({ input: child.stdout });
    lines.on('line', (line) => {
      let event: HelperEvent;
      try {
        event = JSON.parse(line) as HelperEvent;
      } catch {
        return; // not ours: pkexec or the tool said something on stdout
      }
      events.push(event);
      onEvent?.(event);
    });
    const status = await new Promise<number | null>((resolve, reject) => {
      child.once('error', (error: NodeJS.ErrnoException) =>
        reject(error.code === 'ENOENT'
          ? new BootkeyError('MISSING_TOOL', 'pkexec is not installed (package policykit-1 or polkit)')
          : error));
      child.once('close', (code) => resolve(code));
    });
    if (status === 0) return events;
    throw this.failure(status, events, stderr);
  }

  private failure(status: number | null, events: HelperEvent[], stderr: string): BootkeyError {
    const error = events.find((e) => e.event === 'error');
    const named = error && HELPER_CODES[String(error.code)];
    if (named) return new BootkeyError(named.code, String(error.message), { helperCode: error.code, exitCode: status });
    if (!this.direct && status === PKEXEC_DISMISSED) {
      return new BootkeyError('AUTH_CANCELLED', 'the password dialog was dismissed');
    }
    if (!this.direct && status === PKEXEC_NOT_AUTHORISED && events.length === 0) {
      // pkexec has no error names, only its words on stderr
      return /no authentication agent/i.test(stderr)
        ? new BootkeyError('AUTH_NO_AGENT', 'no polkit agent is running to ask for the password')
        : new BootkeyError('AUTH_DENIED', 'not authorised to run the helper');
    }
    return new BootkeyError('INTERNAL', `the helper stopped with status ${status}: ${stderr.trim().slice(-500)}`);
  }
}
