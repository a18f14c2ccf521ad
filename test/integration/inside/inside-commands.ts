// Shared by the scripts that run inside UML: running system tools and the bootkey CLI, argv only, never a shell.
import { execFileSync, spawnSync } from 'node:child_process';

/** Runs a tool and returns its trimmed stdout; throws when it fails. */
export function run(cmd: string, args: string[]): string {
  return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 64 << 20 }).trim();
}

/** Runs a tool that may fail: its exit code and its output (stdout then stderr). */
export function tryRun(cmd: string, args: string[]): { code: number; out: string } {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  return { code: r.status ?? -1, out: `${r.stdout}${r.stderr}`.trim() };
}

/**
 * Runs `bootkey ARGS --json` from the checkout, as root or, with `uid`, as that user (setpriv, HOME=/tmp: how the
 * desktop app runs); `json` is the parsed stdout, or the raw text when it is not JSON.
 */
export function bootkey(args: string[], options: { uid?: number } = {}): { code: number; json: unknown; stderr: string } {
  const command = ['node', '--import', 'tsx', 'test/integration/inside/bootkey-cli.ts', ...args, '--json'];
  const asUser = options.uid === undefined ? [] : ['setpriv', `--reuid=${options.uid}`, `--regid=${options.uid}`, '--clear-groups', '--'];
  const argv = [...asUser, ...command];
  const r = spawnSync(argv[0]!, argv.slice(1), {
    encoding: 'utf8', env: options.uid === undefined ? process.env : { ...process.env, HOME: '/tmp' },
  });
  let json: unknown;
  try {
    json = JSON.parse(r.stdout);
  } catch {
    json = r.stdout;
  }
  return { code: r.status ?? -1, json, stderr: r.stderr };
}
