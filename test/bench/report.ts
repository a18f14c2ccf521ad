// What the copy benchmarks print for a measured pair of tools: every run, the best and the median.
/**
 * Prints each run (seconds), and the ratio of the best runs and of the medians. The best counts most here: on
 * this project's VMs the same copy takes 0.9 s or 2.2 s from one run to the next (page cache written into memory
 * the guest had freed and reported to the host costs ~10 µs per 4 KiB page), more often for copies through a
 * user buffer (ours, dd) than for cp's in-kernel one; a median mixes the two kinds.
 */
export function report(what: string, ours: number[], theirs: number[], goal: number): void {
  const sorted = (v: number[]) => [...v].sort((a, b) => a - b);
  const median = (v: number[]) => {
    const s = sorted(v);
    return ((s[Math.floor((s.length - 1) / 2)] as number) + (s[Math.ceil((s.length - 1) / 2)] as number)) / 2;
  };
  const best = (sorted(ours)[0] as number) / (sorted(theirs)[0] as number);
  const runs = (v: number[]) => v.map((x) => x.toFixed(2)).join(' ');
  console.log(`${what}: best ${Math.min(...ours).toFixed(2)} s vs ${Math.min(...theirs).toFixed(2)} s, ratio ${best.toFixed(2)} `
    + `(goal ≤ ${goal}) ${best <= goal ? 'met' : 'NOT met'}; median ratio ${(median(ours) / median(theirs)).toFixed(2)} `
    + `[runs: ${runs(ours)} | ${runs(theirs)}]`);
}
