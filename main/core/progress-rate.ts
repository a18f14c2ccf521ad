/** Less measured time than this gives no rate yet (a front end says it is measuring): one window is no trend. */
export const MIN_RATE_MS = 500;

export interface RateEstimate {
  /** Durable bytes per second; 0 while there is nothing to measure yet. */
  rate: number;
  /** Whole seconds left at that rate; 0 without a rate. */
  etaSeconds: number;
}

/**
 * Rate and time left of a job's durable bytes, for every front end (the app's job progress, the CLI's line).
 * Measured from a phase's first report, not from when the job began: inspection, planning and earlier phases
 * (whose byte counts start again at 0, as each ISO of an add does) must not dilute it. A new phase, or bytes
 * going backwards, starts a new measurement.
 */
export function progressRate(): (phase: string, done: number, total: number, nowMs: number) => RateEstimate {
  let current: string | undefined;
  let startedMs = 0;
  let startBytes = 0;
  let lastBytes = 0;
  return (phase, done, total, nowMs) => {
    if (phase !== current || done < lastBytes) {
      current = phase;
      startedMs = nowMs;
      startBytes = done;
    }
    lastBytes = done;
    const ms = nowMs - startedMs;
    if (ms < MIN_RATE_MS || done <= startBytes) return { rate: 0, etaSeconds: 0 };
    const rate = (done - startBytes) / (ms / 1000);
    return { rate: Math.round(rate), etaSeconds: Math.ceil(Math.max(0, total - done) / rate) };
  };
}
