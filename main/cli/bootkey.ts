import { sizeThreadPool } from '../adapters/thread-pool.js';
import { BootkeyError, ParseError } from '../core/errors.js';
import { EXIT_BAD_INPUT, EXIT_FAILED, EXIT_OK, type CliIo } from './command.js';
import { COMMANDS } from './commands/index.js';
import { CLI_ERRORS } from './error-text.js';

const HELP = `bootkey — make USB boot keys without destroying what is already on them

Usage: bootkey COMMAND [ARGS] [--json]

Commands:
${COMMANDS.map((c) => `  ${c.name.padEnd(12)} ${c.summary}`).join('\n')}

Run 'bootkey COMMAND --help' for a command's options.
Exit codes: 0 done, 2 bad input (image, target or arguments), 1 anything else failed.
`;

export async function main(argv: string[], io: CliIo): Promise<number> {
  const [name, ...args] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    io.stdout.write(HELP);
    return name === undefined ? EXIT_BAD_INPUT : EXIT_OK;
  }
  const command = COMMANDS.find((c) => c.name === name);
  if (!command) {
    io.stderr.write(`bootkey: unknown command '${name}' (see bootkey --help)\n`);
    return EXIT_BAD_INPUT;
  }
  if (args.includes('--help') || args.includes('-h')) {
    io.stdout.write(command.usage.endsWith('\n') ? command.usage : `${command.usage}\n`);
    return EXIT_OK;
  }
  try {
    return await command.run(args, io);
  } catch (error) {
    return reportError(error, args.includes('--json'), io);
  }
}

/** One line on stderr (`bootkey: what is wrong (offset N)`), or a JSON error object on stdout with --json. */
export function reportError(error: unknown, json: boolean, io: CliIo, subject?: string): number {
  if (!(error instanceof BootkeyError)) {
    const message = error instanceof Error ? error.message : String(error);
    if (json) io.stdout.write(`${JSON.stringify({ error: { code: 'INTERNAL', message } })}\n`);
    else io.stderr.write(`bootkey: internal error: ${message}\n`);
    return EXIT_FAILED;
  }
  const { exit, hint } = CLI_ERRORS[error.code];
  if (json) {
    io.stdout.write(`${JSON.stringify({ error: { code: error.code, message: error.message, ...error.details } })}\n`);
  } else {
    const where = error instanceof ParseError ? ` (offset ${error.offset})` : '';
    const prefix = subject ? `${subject}: ` : '';
    io.stderr.write(`bootkey: ${prefix}${error.message}${where}${hint ? ` — ${hint}` : ''}\n`);
  }
  return exit;
}

if (require.main === module) {
  sizeThreadPool();
  main(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr }).then((code) => {
    process.exitCode = code;
  });
}
