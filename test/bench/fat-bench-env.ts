// What the FAT benches pass into UML from their command line: `--usb-pace` (a key that takes one command at a
// time at about a USB stick's speed, see inside/fat-key.ts) and UV_THREADPOOL_SIZE (the command's libuv pool,
// bootkey's own by default).
export function fatBenchEnv(): Record<string, string> {
  return {
    ...(process.argv.includes('--usb-pace') && { BENCH_USB_PACE: '1' }),
    ...(process.env.UV_THREADPOOL_SIZE && { UV_THREADPOOL_SIZE: process.env.UV_THREADPOOL_SIZE }),
  };
}
