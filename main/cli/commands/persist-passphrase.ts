import { open } from 'node:fs/promises';
import { BootkeyError } from '../../core/errors.js';
import { MAX_PASSPHRASE_BYTES, checkPassphrase, passphraseFromText } from '../../core/persistence/encrypted-home.js';
import type { CliIo } from '../command.js';

/**
 * The encrypted home.img's passphrase for `--home-passphrase-file FILE|-`: never an argument of its own (argv is
 * readable by every user of the machine through /proc). `-` reads stdin: on a terminal it asks twice without
 * echo; otherwise it takes stdin's text. A file or stdin ends at one line break; nothing past the longest
 * passphrase is read (a mistaken /dev/zero or a huge file is refused, not loaded).
 */
export async function readHomePassphrase(spec: string, io: CliIo): Promise<Uint8Array> {
  if (spec === '-' && process.stdin.isTTY) {
    const first = await promptHidden('Passphrase for the encrypted home.img (asked at every boot): ', io);
    checkPassphrase(first);
    const again = await promptHidden('The same passphrase again: ', io);
    if (Buffer.compare(first, again) !== 0) throw new BootkeyError('INVALID_ARGUMENT', 'the two passphrases differ: nothing was written');
    return first;
  }
  const bytes = spec === '-' ? await readLimited(process.stdin, 'stdin') : await readFileLimited(spec);
  return passphraseFromText(bytes);
}

/** A passphrase, its line break and one more byte: enough to tell "too long" without reading on. */
const READ_LIMIT = MAX_PASSPHRASE_BYTES + 3;

async function readFileLimited(path: string): Promise<Uint8Array> {
  let handle;
  try {
    handle = await open(path, 'r');
  } catch (error) {
    throw new BootkeyError('INVALID_ARGUMENT', `cannot read the passphrase file ${path}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
  }
  try {
    const buffer = Buffer.alloc(READ_LIMIT);
    let length = 0;
    for (;;) {
      const { bytesRead } = await handle.read(buffer, length, READ_LIMIT - length, null);
      if (bytesRead === 0 || (length += bytesRead) >= READ_LIMIT) break;
    }
    return buffer.subarray(0, length);
  } catch (error) {
    throw new BootkeyError('INVALID_ARGUMENT', `cannot read the passphrase file ${path}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
  } finally {
    await handle.close();
  }
}

async function readLimited(stream: NodeJS.ReadableStream, what: string): Promise<Uint8Array> {
  const chunks: Buffer[] = [];
  let length = 0;
  for await (const chunk of stream) {
    chunks.push(Buffer.from(chunk as Buffer));
    length += (chunk as Buffer).length;
    if (length >= READ_LIMIT) break;
  }
  if (length === 0) throw new BootkeyError('INVALID_ARGUMENT', `no passphrase on ${what}`);
  return Buffer.concat(chunks).subarray(0, READ_LIMIT);
}

/** One line from the terminal without echo; Backspace removes a whole UTF-8 character, Ctrl-C cancels. */
function promptHidden(question: string, io: CliIo): Promise<Uint8Array> {
  const stdin = process.stdin;
  io.stderr.write(question);
  const typed: number[] = [];
  return new Promise<Uint8Array>((resolve, reject) => {
    const finish = (error?: BootkeyError) => {
      stdin.off('data', onData);
      stdin.off('end', onEnd);
      stdin.setRawMode(false);
      stdin.pause();
      io.stderr.write('\n');
      if (error) reject(error);
      else resolve(Uint8Array.from(typed));
    };
    const onEnd = () => finish(new BootkeyError('INVALID_ARGUMENT', 'no passphrase was typed'));
    const onData = (chunk: Buffer) => {
      for (const byte of chunk) {
        if (byte === 0x0d || byte === 0x0a) return finish();
        if (byte === 0x03 || byte === 0x04) return finish(new BootkeyError('CANCELLED', 'cancelled: nothing was written'));
        if (byte === 0x7f || byte === 0x08) {
          while (typed.length && ((typed.at(-1) ?? 0) & 0xc0) === 0x80) typed.pop();
          typed.pop();
        } else {
          typed.push(byte);
        }
      }
      return undefined;
    };
    stdin.setRawMode(true);
    stdin.on('data', onData);
    stdin.on('end', onEnd);
    stdin.resume();
  });
}
