import { execFile, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { promisify } from 'node:util';

/** SHA-256 of a stream of chunks; `update` may ask the caller to wait (a pipe that is full). */
export interface Sha256Stream {
  update(chunk: Uint8Array): Promise<void> | undefined;
  digest(): Promise<string>;
  /** Drops the work (after a failure or a cancel). */
  abort(): void;
}

/**
 * Files from this size on are hashed by an `openssl dgst` child process: on another core, and with the CPU's
 * SHA extensions — Node's bundled OpenSSL hashes at about 0.4–0.6 GB/s on the machines we measured, the
 * system's `openssl` at about 1.3 GB/s, faster than a key takes the bytes. Below it, starting a process costs
 * more than it saves.
 */
export const CHILD_HASH_MIN_BYTES = 8 * 1024 * 1024;

let openssl: Promise<boolean> | undefined;

/** Whether the system has an `openssl` that speaks `dgst -sha256` (checked once). */
function opensslAvailable(): Promise<boolean> {
  openssl ??= promisify(execFile)('openssl', ['dgst', '-sha256', '-r', '/dev/null'])
    .then(({ stdout }) => stdout.startsWith('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855'), () => false);
  return openssl;
}

/** A hash for `size` bytes: in an openssl child when it is large and openssl is there, else in this process. */
export async function sha256Stream(size: number): Promise<Sha256Stream> {
  return size >= CHILD_HASH_MIN_BYTES && (await opensslAvailable()) ? childSha256() : inProcessSha256();
}

function inProcessSha256(): Sha256Stream {
  const hash = createHash('sha256');
  return {
    update(chunk) {
      hash.update(chunk);
      return undefined;
    },
    digest: async () => hash.digest('hex'),
    abort: () => undefined,
  };
}

function childSha256(): Sha256Stream {
  const child = spawn('openssl', ['dgst', '-sha256', '-r'], { stdio: ['pipe', 'pipe', 'ignore'] });
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (text: string) => { out += text; });
  const exited = new Promise<number | null>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', resolve);
  });
  exited.catch(() => undefined);
  // EPIPE after an abort is expected; any other failure shows as a missing digest.
  child.stdin.on('error', () => undefined);
  return {
    update(chunk) {
      if (child.stdin.write(chunk)) return undefined;
      // A child that died never drains.
      return Promise.race([once(child.stdin, 'drain').then(() => undefined),
        exited.then((code) => { throw new Error(`openssl dgst ended early (exit ${code})`); })]);
    },
    async digest() {
      child.stdin.end();
      const code = await exited;
      const hex = /^[0-9a-f]{64}\b/.exec(out)?.[0];
      if (code !== 0 || !hex) throw new Error(`openssl dgst failed (exit ${code}): ${out.trim()}`);
      return hex;
    },
    abort() {
      child.kill();
    },
  };
}
