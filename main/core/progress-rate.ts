/** Less measured time than this gives no rate yet (a front end says it is measuring): one window is no trend. A phase
 * that has finished gives the rate it achieved anyway. */
export const MIN_RATE_MS = 500;

export interface RateEstimate {
  /** Durable bytes per second; 0 while there is nothing to measure yet. */
  rate: number;
  /** Whole seconds left at that rate; 0 without a rate. */
  etaSeconds: number;
}

/**
 * Rate and time left of a job's durable bytes, for every front end (the app's job progress, the CLI's line).
 * Each phase is measured from its own first report, not from when the job began: inspection, planning and other
 * phases (whose byte counts start at 0, as each ISO of an add does) must not dilute it. Phases may interleave (an
 * ISO's last window becomes durable after the next ISO has started); bytes going backwards start a phase anew.
 */
export function progressRate(): (phase: string, done: number, total: number, nowMs: number) => RateEstimate {
  const phases = new Map<string, { startedMs: number; startBytes: number; lastBytes: number }>();
  return (phase, done, total, nowMs) => {
    let measured = phases.get(phase);
    if (!measured || done < measured.lastBytes) {
      measured = { startedMs: nowMs, startBytes: done, lastBytes: done };
      phases.set(phase, measured);
    }
    measured.lastBytes = done;
    const ms = nowMs - measured.startedMs;
    // A phase that is done shows the rate it achieved, however short it was.
    if (done <= measured.startBytes || ms <= 0 || (ms < MIN_RATE_MS && done < total)) return { rate: 0, etaSeconds: 0 };
    const rate = (done - measured.startBytes) / (ms / 1000);
    return { rate: Math.round(rate), etaSeconds: Math.ceil(Math.max(0, total - done) / rate) };
  };
}
