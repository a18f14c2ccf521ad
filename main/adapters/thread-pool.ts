/**
 * libuv's thread pool runs every asynchronous file operation. A file written on a vfat key mounted with `flush`
 * (udisks' default) sleeps 100 ms in close(2) on one of its threads: with the default four, copy-efi of a tree
 * of 300 small files onto such a key spent most of its time closing them (31 s, against 15 s with 32 threads
 * and `cp -r` + `sync`'s 35 s, in UML: npm run bench:copy-efi-fat). Idle threads cost little.
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
