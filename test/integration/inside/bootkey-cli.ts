// `bootkey` from the sources, for commands run as their own process inside UML (no build step needed).
import { sizeThreadPool } from '../../../main/adapters/thread-pool.js';
import { main } from '../../../main/cli/bootkey.js';

sizeThreadPool();
main(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr }).then((code) => {
  process.exitCode = code;
});
