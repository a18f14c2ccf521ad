/**
 * libuv's thread pool runs every asynchronous file operation. A file written on a vfat key mounted with `flush`
 * (udisks' default) sleeps 100 ms in close(2) on one of its threads, so the durable writer closes many at once:
 * copy-efi of a 330-file tree onto such a key took 29.5 s with libuv's four threads and 25.1 s with 32 (the
 * command run from sources in npm run bench:copy-efi-fat; cp -r + sync: 38 s). Idle threads cost little.
 */
const POOL_THREADS = 32;

/** Entry points call this before anything starts asynchronous I/O: libuv reads the size once, when the pool starts. */
export function sizeThreadPool(): void {
  process.env.UV_THREADPOOL_SIZE ??= String(POOL_THREADS);
}

/** The pool's threads: the size set before it started (sizeThreadPool, or the user's environment), else libuv's 4. */
export function threadPoolSize(): number {
  const size = Number(process.env.UV_THREADPOOL_SIZE);
  // libuv takes 1…1024 and ignores anything else.
  return Number.isInteger(size) && size >= 1 ? Math.min(size, 1024) : 4;
}
