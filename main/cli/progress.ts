import { formatBytes } from '../core/drive-policy.js';
import { progressRate } from '../core/progress-rate.js';
import type { CliIo } from './command.js';

/** How often progress is printed at most: often enough to look alive, rarely enough to cost nothing. */
const INTERVAL_MS = 250;

/**
 * Progress on stderr as one rewritten line (phase, bytes, rate, time left), or with --json one event per line
 * on stdout, so scripts can follow long work.
 */
export function progressPrinter(io: CliIo, json: boolean) {
  const rateOf = progressRate();
  let last = 0;
  let shown = false;
  return {
    update(phase: string, done: number, total: number, force = false) {
      const now = Date.now();
      if (!force && now - last < INTERVAL_MS) return;
      last = now;
      const { rate, etaSeconds } = rateOf(phase, done, total, now);
      if (json) {
        io.stdout.write(`${JSON.stringify({ event: 'progress', phase, bytesDone: done, bytesTotal: total, rate, etaSeconds })}\n`);
      } else {
        const percent = total > 0 ? Math.floor((done / total) * 100) : 100;
        const speed = rate > 0 ? `${formatBytes(rate)}/s, ${etaSeconds} s left` : 'measuring the speed';
        io.stderr.write(`\r${phase}: ${percent}% ${formatBytes(done)} of ${formatBytes(total)}, ${speed}   `);
        shown = true;
      }
    },
    done() {
      if (shown) io.stderr.write('\n');
    },
  };
}
