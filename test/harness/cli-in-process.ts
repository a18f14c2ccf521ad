import { Writable } from 'node:stream';
import { main } from '../../main/cli/bootkey.js';

/** Runs the real `bootkey` CLI in this process and collects its exit code and what it printed. */
export async function bootkeyInProcess(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const sink = (into: string[]) => new Writable({ write(chunk, _enc, done) { into.push(String(chunk)); done(); } });
  const code = await main(args, { stdout: sink(out), stderr: sink(err) });
  return { code, stdout: out.join(''), stderr: err.join('') };
}
